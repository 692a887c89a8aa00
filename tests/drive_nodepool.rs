//! Karpenter NodePools through a driven upgrade, against the simulator at 300 virtual
//! seconds a second: drift held while the control plane moves (no node replaced),
//! then released wave by wave with a gate between waves (red here: a DaemonSet's
//! image cannot be pulled on 1.31 nodes, and the lead overrides it); a PodDisruptionBudget holding a
//! drifted node named at the NodePool's gate; the budgets published for a person to
//! undo by hand, and restored exactly on abort and at the end; a pinned AMI waiting
//! at the first wave until its EC2NodeClass changes; and `upshift drive --headless`
//! killed with SIGKILL mid-wave, resumed with no budget left open.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use upshift::model::RolloutState;
use upshift::model::journal::{GateId, StepId, What};
use upshift::model::rollout::{Command, GateView, Phase, Published};
use upshift::rollout::drive::DriveHandle;
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{Plan, Step};
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

/// Two NodePools on 1.30: `general` (3 nodes, al2023@latest: drifts once the control
/// plane moves) and `critical` (2 nodes, an AMI pinned by id: does not drift).
/// `{extra}` adds workloads, `{faults}` faults.
const SCENARIO: &str = r#"
name: nodepools
description: two Karpenter NodePools to upgrade
seed: 18
cluster: {name: np, region: eu-west-1, version: "1.30"}
nodeGroups:
  - name: system
    kind: managed
    instanceType: m5.large
    size: 2
    taints:
      - {key: CriticalAddonsOnly, value: "true", effect: NoSchedule}
karpenter:
  version: "1.8.2"
  nodeGroup: system
  bootSeconds: 60
  ec2NodeClasses:
    - {name: default, ami: al2023@latest}
    - {name: pinned, amiId: {kubernetesVersion: "1.30", release: v20251108}}
  nodePools:
    - name: general
      nodeClass: default
      nodes: 3
      instanceType: m5.large
      requirements:
        - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}
      budgets:
        - nodes: "10%"
        - {nodes: "0", reasons: [Underutilized]}
    - name: critical
      nodeClass: pinned
      nodes: 2
      instanceType: m5.large
      requirements:
        - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}
      budgets:
        - nodes: "1"
workloads:
  - name: coredns
    namespace: kube-system
    kind: Deployment
    component: dns
    replicas: 2
    image: 602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/coredns:v1.11.1-eksbuild.9
    requests: {cpu: 100m, memory: 70Mi}
    nodeGroup: system
    tolerations:
      - {key: CriticalAddonsOnly, operator: Exists}
    pdb: {maxUnavailable: 1}
  - {name: web, namespace: shop, kind: Deployment, replicas: 6, image: "shop/web:4.2.0", requests: {cpu: 250m, memory: 256Mi}, nodePool: general, pdb: {maxUnavailable: 1}}
  - {name: checkout, namespace: payments, kind: Deployment, replicas: 2, image: "payments/checkout:5.5.0", requests: {cpu: 250m, memory: 256Mi}, nodePool: critical}
{extra}
{faults}
"#;

const GENERAL_BUDGETS: &str = r#"[{"nodes":"10%"},{"nodes":"0","reasons":["Underutilized"]}]"#;
const CRITICAL_BUDGETS: &str = r#"[{"nodes":"1"}]"#;

fn scenario(extra: &str, faults: &str) -> String {
    SCENARIO.replace("{extra}", extra).replace("{faults}", faults)
}

/// The simulator at `speed` virtual seconds a second. Karpenter acts on its own
/// between two of the drive's turns: the drive in-process polls every 100 ms (30
/// virtual seconds at 300), `upshift drive` every 500 ms, so the binary runs on a
/// slower world, where a disruption (a node booted, another drained) spans turns.
async fn start_at(yaml: &str, speed: f64) -> Simulator {
    let scenario = Scenario::from_yaml(yaml, "nodepool test scenario").unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = SimConfig::new(scenario);
    cfg.speed = speed;
    cfg.bookmark_interval = Duration::from_millis(300);
    Simulator::start(cfg).await.expect("simulator starts")
}

/// The plan upshift proposes, keeping the drift hold, the control plane and the
/// NodePool steps `pools`.
async fn plan(sim: &Simulator, pools: &[&str]) -> Plan {
    common::drive::plan_for(sim, "np", None, |s| match s {
        Step::DriftHold { .. } | Step::ControlPlane => true,
        Step::Nodepool(p) => pools.contains(&p.name.as_str()),
        _ => false,
    })
    .await
}

fn karpenter(client: &kube::Client, kind: &str, plural: &str, group: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::all_with(client.clone(), &ar)
}

/// A NodePool's `spec.disruption.budgets`.
async fn budgets(client: &kube::Client, pool: &str) -> Value {
    let p = karpenter(client, "NodePool", "nodepools", "karpenter.sh")
        .get(pool)
        .await
        .unwrap();
    p.data
        .pointer("/spec/disruption/budgets")
        .cloned()
        .unwrap_or(Value::Null)
}

async fn start(yaml: &str) -> Simulator {
    start_at(yaml, 300.0).await
}

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

/// A NodePool's nodes: name → kubelet version.
async fn pool_nodes(client: &kube::Client, pool: &str) -> Vec<(String, String)> {
    let lp = ListParams::default().labels(&format!("karpenter.sh/nodepool={pool}"));
    let mut out: Vec<(String, String)> = Api::<Node>::all(client.clone())
        .list(&lp)
        .await
        .unwrap()
        .items
        .iter()
        .map(|n| {
            (
                n.metadata.name.clone().unwrap(),
                n.status
                    .as_ref()
                    .unwrap()
                    .node_info
                    .as_ref()
                    .unwrap()
                    .kubelet_version
                    .clone(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The rollout as published to kube-system/upshift-rollout.
async fn published(client: &kube::Client) -> Option<Published> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), "kube-system")
        .get_opt("upshift-rollout")
        .await
        .unwrap()?;
    Published::from_config_map(&cm)
}

/// Leads until `f` holds: proceeds at passable gates, overrides each red gate once
/// (after a moment: it may be settling) unless `hold_red` says to wait at it.
/// Returns the state that satisfied `f`; red gates overridden go to `overridden`.
async fn lead(
    h: &mut DriveHandle,
    what: &str,
    secs: u64,
    overridden: &mut Vec<GateView>,
    hold_red: impl Fn(&GateView) -> bool,
    f: impl Fn(&RolloutState) -> bool,
) -> RolloutState {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = h.state.borrow_and_update().clone();
        if f(&s) {
            return s;
        }
        match &s.phase {
            Phase::Gate => {
                let g = s.gate.clone().unwrap();
                let judged = g.criteria.iter().all(|c| !c.detail.starts_with("not judged"));
                if g.passable {
                    h.commands.send(Command::Proceed).unwrap();
                } else if judged
                    && g.criteria.iter().any(|c| !c.ok)
                    && !hold_red(&g)
                    && !overridden.iter().any(|o| o.id == g.id)
                {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let now = h.state.borrow().clone();
                    if let Some(n) = now
                        .gate
                        .as_ref()
                        .filter(|n| now.phase == Phase::Gate && n.id == g.id && !n.passable)
                        .filter(|n| n.criteria.iter().any(|c| !c.ok))
                    {
                        h.commands
                            .send(Command::Override {
                                reason: "test: known".into(),
                            })
                            .unwrap();
                        overridden.push(n.clone());
                    }
                }
            }
            Phase::Running | Phase::Starting => {}
            other => panic!(
                "waiting for {what}, the drive stopped at {other:?} in {:?}",
                s.current_step()
            ),
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}: {s:?}");
        let _ = tokio::time::timeout(Duration::from_millis(200), h.state.changed()).await;
    }
}

fn step_state(s: &RolloutState, id: &StepId) -> Option<upshift::model::journal::StepState> {
    s.steps.iter().find(|v| v.id == *id).map(|v| v.state)
}

fn never(_: &GateView) -> bool {
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_held_while_the_control_plane_moves_then_released_in_waves_behind_a_red_gate() {
    // an agent on every node, and general's nodes nearly full: each drifted node needs
    // a replacement, which the agent's image fails on
    let extra = "  - {name: agent, namespace: monitoring, kind: DaemonSet, image: \"monitoring/agent:1.0\", requests: {cpu: 10m, memory: 32Mi}, tolerateAll: true}\n  - {name: batch, namespace: shop, kind: Deployment, replicas: 9, image: \"shop/batch:1.0\", requests: {cpu: 400m, memory: 256Mi}, nodePool: general}";
    let sim = start(&scenario(
        extra,
        "faults:\n  - {workload: monitoring/agent, kind: ImagePullBackOff, onKubeletVersion: \"1.31\"}",
    ))
    .await;
    let client = sim.client("lead").await.unwrap();
    let before = pool_nodes(&client, "general").await;
    assert_eq!(before.len(), 3);
    let mut p = plan(&sim, &["general"]).await;
    // ten virtual minutes: the cockpit's view of the failing pod on a new node reaches
    // the gate before it settles
    p.gates.settle_seconds = 600;
    assert!(
        matches!(&p.steps[0], Step::DriftHold { nodepools } if nodepools.contains(&"general".to_string())),
        "{:?}",
        p.steps
    );
    let dir = tempfile::tempdir().unwrap();
    let mut h = common::drive::start(&sim, p, &dir.path().join("journal.jsonl")).await;
    let mut overridden = Vec::new();

    // the control plane moved; Karpenter sees the drift but replaces nothing
    lead(&mut h, "the control plane on 1.31", 120, &mut overridden, never, |s| {
        step_state(s, &StepId::ControlPlane) == Some(upshift::model::journal::StepState::Done)
    })
    .await;
    let held = budgets(&client, "general").await;
    let mut want = parse(GENERAL_BUDGETS);
    want.as_array_mut()
        .unwrap()
        .push(json!({"nodes": "0", "reasons": ["Drifted"]}));
    assert_eq!(held, want, "drift held by a budget of 0 after those found");
    // a few virtual minutes more at the NodePool's gate: still nothing replaced
    tokio::time::sleep(Duration::from_secs(2)).await;
    let drifted = common::eventually(&sim, Duration::ZERO, 200, "general's nodes drifted", || {
        let client = client.clone();
        async move {
            let claims = karpenter(&client, "NodeClaim", "nodeclaims", "karpenter.sh")
                .list(&ListParams::default().labels("karpenter.sh/nodepool=general"))
                .await
                .unwrap()
                .items;
            let n = claims
                .iter()
                .filter(|c| {
                    c.data["status"]["conditions"]
                        .as_array()
                        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Drifted" && c["status"] == "True"))
                })
                .count();
            (n == 3).then_some(n)
        }
    })
    .await;
    assert_eq!(drifted, 3);
    assert_eq!(
        pool_nodes(&client, "general").await,
        before,
        "no node replaced while drift was held"
    );

    // released wave by wave; the gate before wave 2 is red (the agent's image on 1.31)
    lead(&mut h, "the rollout's end", 240, &mut overridden, never, |s| {
        s.phase == Phase::Done
    })
    .await;
    // the drive's last word, after it put back what the other NodePools' hold changed
    let end = h.task.await.unwrap().unwrap();
    let gate2 = GateId::batch(StepId::Nodepool("general".into()), 2);
    let red = overridden
        .iter()
        .find(|g| g.id == gate2)
        .unwrap_or_else(|| panic!("no red gate before wave 2: {overridden:?}"));
    assert!(red.title.contains("wave 2 of 3"), "{}", red.title);
    assert!(
        red.criteria
            .iter()
            .any(|c| c.name == "pod errors above baseline" && !c.ok),
        "{red:?}"
    );
    let after = pool_nodes(&client, "general").await;
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|(_, v)| v.starts_with("v1.31")), "{after:?}");
    assert!(after.iter().all(|n| !before.contains(n)));
    // restored exactly as found, both NodePools the hold held
    assert_eq!(budgets(&client, "general").await, parse(GENERAL_BUDGETS));
    assert_eq!(budgets(&client, "critical").await, parse(CRITICAL_BUDGETS));
    assert!(end.budgets_to_restore.is_empty(), "{:?}", end.budgets_to_restore);
    // three waves opened and closed, one node each
    let j = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let ok = |action: &str| {
        j.entries()
            .iter()
            .filter(|e| matches!(&e.what, What::Result { action: a, ok: true, step, .. } if a == action && *step == StepId::Nodepool("general".into())))
            .count()
    };
    assert_eq!((ok("open-wave"), ok("close-wave")), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_holding_a_drifted_node_is_named_at_the_gate_and_abort_restores_every_budget() {
    let ledger = "  - {name: ledger, namespace: payments, kind: Deployment, replicas: 2, image: \"payments/ledger:12.0.4\", requests: {cpu: 250m, memory: 512Mi}, nodePool: general, pdb: {minAvailable: 2}}";
    let sim = start(&scenario(ledger, "")).await;
    let client = sim.client("lead").await.unwrap();
    let p = plan(&sim, &["general"]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut h = common::drive::start(&sim, p, &dir.path().join("journal.jsonl")).await;
    let mut overridden = Vec::new();
    let held_at_gate = |g: &GateView| g.criteria.iter().any(|c| c.name == "drifted nodes held");
    let s = lead(
        &mut h,
        "the NodePool's gate naming the ledger",
        180,
        &mut overridden,
        held_at_gate,
        |s| {
            s.phase == Phase::Gate
                && s.gate.as_ref().is_some_and(|g| {
                    g.criteria
                        .iter()
                        .any(|c| c.name == "drifted nodes held" && !c.ok && c.detail.contains("payments/ledger"))
                })
        },
    )
    .await;
    let c = s
        .gate
        .unwrap()
        .criteria
        .into_iter()
        .find(|c| c.name == "drifted nodes held")
        .unwrap();
    assert!(
        c.detail.contains("pod payments/ledger-") && c.detail.contains("held by PodDisruptionBudget payments/ledger"),
        "{}",
        c.detail
    );
    assert!(c.items.iter().all(|i| i.item.starts_with("node ")), "{:?}", c.items);

    // the budgets to put back are published, with the command that does it
    let pubd = common::eventually(&sim, Duration::ZERO, 100, "the budgets published", || {
        let client = client.clone();
        async move {
            published(&client)
                .await
                .filter(|p| p.state.budgets_to_restore.len() == 2)
        }
    })
    .await;
    let general = pubd
        .state
        .budgets_to_restore
        .iter()
        .find(|b| b.nodepool == "general")
        .unwrap();
    assert_eq!(parse(&general.budgets), parse(GENERAL_BUDGETS));
    assert!(
        general
            .undo
            .starts_with("kubectl patch nodepools.karpenter.sh general --type merge -p '"),
        "{}",
        general.undo
    );

    // abort: every budget as found
    h.commands.send(Command::Abort).unwrap();
    common::drive::until(&mut h, "aborted", 60, |s| matches!(s.phase, Phase::Aborted { .. })).await;
    assert_eq!(budgets(&client, "general").await, parse(GENERAL_BUDGETS));
    assert_eq!(budgets(&client, "critical").await, parse(CRITICAL_BUDGETS));
    common::eventually(
        &sim,
        Duration::ZERO,
        100,
        "nothing left to restore in the ConfigMap",
        || {
            let client = client.clone();
            async move {
                published(&client)
                    .await
                    .filter(|p| p.state.budgets_to_restore.is_empty())
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_ami_waits_at_the_first_wave_until_its_class_changes() {
    let sim = start(&scenario("", "")).await;
    let client = sim.client("lead").await.unwrap();
    let before = pool_nodes(&client, "critical").await;
    let p = plan(&sim, &["critical"]).await;
    assert!(
        p.steps
            .iter()
            .any(|s| matches!(s, Step::Nodepool(n) if n.pinned_node_class.as_deref() == Some("pinned"))),
        "{:?}",
        p.steps
    );
    let dir = tempfile::tempdir().unwrap();
    let mut h = common::drive::start(&sim, p, &dir.path().join("journal.jsonl")).await;
    let mut overridden = Vec::new();
    let gate1 = GateId::batch(StepId::Nodepool("critical".into()), 1);
    let pinned_red = |g: &GateView| g.criteria.iter().any(|c| c.name == "pinned AMI" && !c.ok);
    let s = lead(&mut h, "the pinned AMI's gate", 180, &mut overridden, pinned_red, |s| {
        s.phase == Phase::Gate && s.gate.as_ref().is_some_and(|g| g.id == gate1 && pinned_red(g))
    })
    .await;
    let c = s
        .gate
        .unwrap()
        .criteria
        .into_iter()
        .find(|c| c.name == "pinned AMI")
        .unwrap();
    assert!(c.detail.contains("EC2NodeClass pinned still selects"), "{}", c.detail);
    // it waits: nothing replaced while the lead has not answered
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        h.state.borrow().gate.as_ref().map(|g| g.id.clone()),
        Some(gate1.clone())
    );
    assert_eq!(pool_nodes(&client, "critical").await, before);

    // the lead moves the class to the alias: the gate turns green, the waves run
    karpenter(&client, "EC2NodeClass", "ec2nodeclasses", "karpenter.k8s.aws")
        .patch(
            "pinned",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"amiSelectorTerms": [{"alias": "al2023@latest"}]}})),
        )
        .await
        .unwrap();
    lead(&mut h, "the rollout's end", 240, &mut overridden, pinned_red, |s| {
        s.phase == Phase::Done
    })
    .await;
    // the drive's end, after it put back what the hold changed on the other NodePool
    h.task.await.unwrap().unwrap();
    assert!(
        overridden.iter().all(|g| g.id != gate1),
        "the pinned gate passed green, not overridden"
    );
    // replaced (Karpenter launches for the pods that need it: one node may take both)
    let after = pool_nodes(&client, "critical").await;
    assert!(
        !after.is_empty() && after.iter().all(|n| !before.contains(n)),
        "{after:?}"
    );
    assert!(after.iter().all(|(_, v)| v.starts_with("v1.31")), "{after:?}");
    assert_eq!(budgets(&client, "critical").await, parse(CRITICAL_BUDGETS));
    assert_eq!(budgets(&client, "general").await, parse(GENERAL_BUDGETS));
}

fn journal_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("journal.jsonl")).unwrap_or_default()
}

/// Runs `upshift drive --headless` as a lead would (proceed at settled gates,
/// override a red one once) until it prints `done`, or until `kill` holds of the
/// journal: then SIGKILL. Returns whether it finished.
fn run_once(dir: &Path, sim: &Simulator, kill: Option<fn(&str) -> bool>, deadline: Instant) -> bool {
    let mut child = common::bin::spawn_drive(dir, sim);
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut overridden = String::new();
    let mut lines = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "the rollout did not finish:\n{}",
            lines.join("\n")
        );
        if let Some(kill) = kill
            && kill(&journal_text(dir))
        {
            child.kill().expect("SIGKILL");
            child.wait().unwrap();
            return false;
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                lines.push(line.clone());
                if line.starts_with("done") {
                    drop(stdin);
                    child.wait().unwrap();
                    return true;
                }
                assert!(!line.starts_with("step failed"), "a step failed: {line}");
                if line.starts_with("at gate") && line.contains("green, settled") {
                    let _ = writeln!(stdin, "proceed");
                } else if line.starts_with("at gate") && line.contains(" red: ") && !line.contains("cluster view") {
                    let gate = line.split(" red: ").next().unwrap_or_default().to_string();
                    if gate != overridden {
                        let _ = writeln!(stdin, "override test: known");
                        overridden = gate;
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                panic!("upshift drive exited early: {status}\n{}", lines.join("\n"));
            }
        }
    }
}

/// The second wave's budget being opened (its action journaled; the first wave's
/// action and result come before it).
fn in_wave_2(t: &str) -> bool {
    t.matches("\"action\":\"open-wave\"").count() >= 3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_wave_the_drive_resumes_and_leaves_no_budget_open() {
    let sim = start_at(&scenario("", ""), 30.0).await;
    let client = sim.client("lead").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
    let mut p = plan(&sim, &["general"]).await;
    // the binary's gates settle on the wall clock
    p.gates.settle_seconds = 3;
    std::fs::write(dir.path().join("plan.yaml"), p.to_yaml(None)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let path = dir.path().to_path_buf();
    let sim = std::sync::Arc::new(sim);
    let s2 = sim.clone();
    let killed = tokio::task::spawn_blocking(move || {
        let first = run_once(&path, &s2, Some(in_wave_2), deadline);
        // killed with wave 2's budget open: the Drifted budget is 1 now
        let second = run_once(&path, &s2, None, deadline);
        (first, second)
    })
    .await
    .unwrap();
    assert_eq!(killed, (false, true), "killed once, then finished");
    assert_eq!(budgets(&client, "general").await, parse(GENERAL_BUDGETS));
    assert_eq!(budgets(&client, "critical").await, parse(CRITICAL_BUDGETS));
    let after = pool_nodes(&client, "general").await;
    assert!(after.iter().all(|(_, v)| v.starts_with("v1.31")), "{after:?}");
    // each wave opened once and closed once, the killed one included
    let j = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    for (i, e) in j.entries().iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
    }
    let waves = j
        .entries()
        .iter()
        .filter(|e| matches!(&e.what, What::Event { reason, .. } if reason == "DriftWaveOpened"))
        .count();
    let ok = |action: &str| {
        j.entries()
            .iter()
            .filter(|e| matches!(&e.what, What::Result { action: a, ok: true, .. } if a == action))
            .count()
    };
    assert_eq!(waves, 3);
    assert_eq!(
        (ok("open-wave"), ok("close-wave"), ok("restore-budgets")),
        (3, 3, 1),
        "only general is held: the plan file has its step alone"
    );
    assert!(j.in_doubt().is_empty(), "an action left in doubt");
}
