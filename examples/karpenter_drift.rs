//! How fast the simulator moves a Karpenter drift: builds a cluster of N Karpenter
//! nodes (default 200, six pods of 500m each in Deployments of 12; `cargo run --release --example karpenter_drift -- 1000`),
//! updates the control plane, and lets drift replace every node under the NodePool's
//! budget; prints the virtual time the rollout took and the real time the simulator
//! spent, for the build and per virtual hour.

use std::time::{Duration, Instant};

use upshift::sim::clock::Clock;
use upshift::sim::scenario::Scenario;
use upshift::sim::world::{self, eks};

fn scenario(nodes: u32, budget: &str) -> String {
    format!(
        r#"name: drift
cluster: {{name: drift, version: "1.30"}}
nodeGroups:
  - {{name: system, kind: managed, instanceType: m5.xlarge, size: 2, taints: [{{key: CriticalAddonsOnly, value: "true", effect: NoSchedule}}]}}
karpenter:
  version: "1.8.2"
  ec2NodeClasses:
    - {{name: default, ami: al2023@latest}}
  nodePools:
    - name: apps
      nodeClass: default
      nodes: {nodes}
      instanceType: m5.xlarge
      requirements: [{{key: node.kubernetes.io/instance-type, operator: In, values: [m5.xlarge]}}]
      budgets: [{{nodes: "{budget}"}}]
workloads:
  - {{name: aws-node, namespace: kube-system, kind: DaemonSet, image: "cni:1", requests: {{cpu: 25m, memory: 64Mi}}, tolerateAll: true}}
  - {{name: kube-proxy, namespace: kube-system, kind: DaemonSet, image: "proxy:1", requests: {{cpu: 100m, memory: 64Mi}}, tolerateAll: true}}
  - {{name: web, kind: Deployment, copies: {copies}, replicas: 12, image: "web:1", requests: {{cpu: 500m, memory: 512Mi}}, nodePool: apps}}
"#,
        copies = (nodes / 2).max(1)
    )
}

fn main() {
    let nodes: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let budget = std::env::args().nth(2).unwrap_or_else(|| "10%".into());
    let s = Scenario::from_yaml(&scenario(nodes, &budget), "drift").expect("the scenario is valid");
    let clock = Clock::starting_at("2026-12-07T08:00:00Z".parse().expect("a time"), 1.0);
    let t = Instant::now();
    let mut w = world::build(&s, clock).expect("the world builds");
    println!(
        "built {nodes} Karpenter nodes, {} pods in {:.2} s",
        w.pods.len(),
        t.elapsed().as_secs_f64()
    );
    let start = w.now;
    eks::update_cluster_version(&mut w, "1.31").expect("the update starts");
    let t = Instant::now();
    let mut minutes = 0;
    // by uid: a later NodeClaim may get a name an earlier one had
    let uid = |c: &upshift::sim::world::karpenter::NodeClaim| c.metadata.uid.clone().unwrap_or_default();
    let original: std::collections::HashSet<String> = w.karpenter.nodeclaims.items().values().map(|c| uid(c)).collect();
    let (mut last_left, mut since) = (usize::MAX, 0);
    loop {
        w.clock.advance(Duration::from_secs(60));
        w.tick();
        minutes += 1;
        let left: Vec<_> = w
            .karpenter
            .nodeclaims
            .items()
            .values()
            .filter(|c| original.contains(&uid(c)))
            .cloned()
            .collect();
        if left.len() != last_left {
            (last_left, since) = (left.len(), minutes);
        }
        let stuck = minutes - since >= 120;
        if left.is_empty() || stuck {
            let elapsed = t.elapsed().as_secs_f64();
            let rolled = w.now.duration_since(start).as_mins() - if stuck { 120 } else { 0 };
            println!(
                "budget {budget}: {} of {nodes} nodes replaced {rolled} virtual minutes after UpdateClusterVersion; {elapsed:.2} s of real time, {:.3} s per virtual hour; {} NodeClaims now",
                nodes as usize - left.len(),
                elapsed / (f64::from(minutes) / 60.0),
                w.karpenter.nodeclaims.len()
            );
            for c in left {
                let k = c.metadata.name.clone().unwrap_or_default();
                let conds: Vec<String> = c
                    .status
                    .as_ref()
                    .and_then(|s| s["conditions"].as_array())
                    .into_iter()
                    .flatten()
                    .map(|x| {
                        format!(
                            "{}={}({})",
                            x["type"].as_str().unwrap_or(""),
                            x["status"].as_str().unwrap_or(""),
                            x["reason"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                println!(
                    "  left: {k} deleting={} {}",
                    c.metadata.deletion_timestamp.is_some(),
                    conds.join(" ")
                );
            }
            break;
        }
    }
}
