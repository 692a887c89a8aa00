//! Lifecycle hooks and the simulated aws-node-termination-handler on the virtual
//! clock: an instance held in `Terminating:Wait` keeps its node and pods until its
//! action completes or times out; heartbeats move the timeout, never past the
//! global one; the handler drains through the eviction API's rules and completes
//! the action; pods that die with their node without an eviction are counted.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, Patch, PatchParams};
use upshift::cloud::{AwsOptions, sdk_config};
use upshift::sim::scenario::Scenario;
use upshift::sim::world::lifecycle::{HookResult, Outcome};
use upshift::sim::world::{InstanceState, World};
use upshift::sim::{SimConfig, Simulator};

/// One self-managed group `batch` of 3 nodes running `web` (3 replicas) and
/// `ledger` (1 replica, a budget that allows no disruption), plus `extra` YAML.
fn scenario(hooks: &str, handler: &str) -> Scenario {
    let yaml = format!(
        r#"
name: hooks
seed: 5
cluster: {{name: hooks, version: "1.30"}}
nodeGroups:
  - name: batch
    kind: self-managed
    instanceType: m5.xlarge
    size: 3
    bootSeconds: 60
{hooks}
workloads:
  - name: aws-node
    namespace: kube-system
    kind: DaemonSet
    image: amazon-k8s-cni:v1.18.3-eksbuild.1
    tolerateAll: true
  - name: web
    kind: Deployment
    replicas: 3
    image: nginx:1.27
  - name: ledger
    kind: Deployment
    replicas: 1
    image: ledger:2
    pdb: {{minAvailable: 1}}
{handler}
"#
    );
    Scenario::from_yaml(&yaml, "test").expect("the test scenario parses")
}

const HOOK: &str = "    lifecycleHooks:\n      - {name: drain, heartbeatTimeout: 300, defaultResult: ABANDON}";
const NTH: &str = "terminationHandler: {mode: queue-processor}";

async fn start(s: Scenario) -> Simulator {
    Simulator::start(SimConfig::new(s)).await.expect("simulator starts")
}

async fn asg(sim: &Simulator) -> aws_sdk_autoscaling::Client {
    let conf = sdk_config(&AwsOptions::local(&sim.aws_url(), &sim.aws_region())).await;
    aws_sdk_autoscaling::Client::new(&conf)
}

fn instances(w: &World) -> Vec<(String, String)> {
    w.groups[0]
        .instances
        .iter()
        .filter(|i| i.state == InstanceState::InService)
        .map(|i| (i.id.clone(), i.node_name.clone()))
        .collect()
}

async fn state(c: &aws_sdk_autoscaling::Client, id: &str) -> String {
    let r = c
        .describe_auto_scaling_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    r.auto_scaling_instances()
        .first()
        .and_then(|i| i.lifecycle_state())
        .unwrap_or("gone")
        .to_string()
}

fn node_ready(w: &World, node: &str) -> Option<bool> {
    let n = w.nodes.get(node)?;
    let ready = n
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    Some(ready)
}

fn pods_on(w: &World, node: &str) -> usize {
    w.idx.pods_by_node.get(node).map(|s| s.len()).unwrap_or(0)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test]
async fn a_termination_hook_holds_the_instance_and_its_heartbeat_timeout_applies_the_default() {
    let sim = start(scenario(HOOK, "")).await;
    let c = asg(&sim).await;
    let (id, node) = instances(&sim.world().lock())[0].clone();
    let before = pods_on(&sim.world().lock(), &node);
    assert!(before > 1, "the node runs pods");
    c.terminate_instance_in_auto_scaling_group()
        .instance_id(&id)
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .unwrap();
    assert_eq!(state(&c, &id).await, "Terminating:Wait");
    sim.advance(secs(200));
    {
        let w = sim.world();
        let w = w.lock();
        assert_eq!(
            node_ready(&w, &node),
            Some(true),
            "the node runs on while the instance waits"
        );
        assert_eq!(pods_on(&w, &node), before, "its pods stay");
        assert_eq!(
            w.groups[0]
                .instances
                .iter()
                .filter(|i| i.state != InstanceState::Terminating)
                .count(),
            3,
            "a replacement launched: the waiting instance is out of the group's capacity"
        );
    }
    // a heartbeat at 200 s moves the timeout to 500 s
    c.record_lifecycle_action_heartbeat()
        .auto_scaling_group_name("batch")
        .lifecycle_hook_name("drain")
        .instance_id(&id)
        .send()
        .await
        .unwrap();
    sim.advance(secs(250));
    assert_eq!(
        state(&c, &id).await,
        "Terminating:Wait",
        "the heartbeat moved the timeout on"
    );
    sim.advance(secs(60));
    assert_eq!(
        state(&c, &id).await,
        "Terminating:Proceed",
        "the timeout ran out at 500 s"
    );
    {
        let w = sim.world();
        let w = w.lock();
        assert_eq!(node_ready(&w, &node), Some(false));
        let ended = &w.aws.lifecycle.ended;
        assert_eq!(
            ended.last().map(|e| (&e.0, &e.2)),
            Some((&id, &Outcome::TimedOut(HookResult::Abandon)))
        );
    }
    sim.advance(secs(60));
    assert_eq!(state(&c, &id).await, "gone");
    let w = sim.world();
    let w = w.lock();
    assert!(w.nodes.get(&node).is_none());
    let lost = &w.aws.lifecycle.pods_lost;
    // every pod but the DaemonSet's died with the node
    assert_eq!(lost.count as usize, before - 1, "{:?}", lost.recent);
    assert!(
        lost.recent.iter().all(|p| p.ends_with(&format!("on {node}"))),
        "{:?}",
        lost.recent
    );
}

#[tokio::test]
async fn heartbeats_never_carry_an_action_past_its_global_timeout() {
    let hook = "    lifecycleHooks:\n      - {name: drain, heartbeatTimeout: 30, defaultResult: CONTINUE}";
    let sim = start(scenario(hook, "")).await;
    let c = asg(&sim).await;
    let (id, _) = instances(&sim.world().lock())[0].clone();
    c.terminate_instance_in_auto_scaling_group()
        .instance_id(&id)
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .unwrap();
    let hook = c
        .describe_lifecycle_hooks()
        .auto_scaling_group_name("batch")
        .send()
        .await
        .unwrap();
    assert_eq!(
        hook.lifecycle_hooks()[0].global_timeout(),
        Some(3000),
        "100 × the heartbeat timeout"
    );
    // a heartbeat every 20 s keeps it waiting, until 3,000 s have passed
    let mut waited = 0;
    while state(&c, &id).await == "Terminating:Wait" {
        assert!(waited <= 3000, "still waiting after {waited} s");
        c.record_lifecycle_action_heartbeat()
            .auto_scaling_group_name("batch")
            .lifecycle_hook_name("drain")
            .instance_id(&id)
            .send()
            .await
            .unwrap();
        sim.advance(secs(20));
        waited += 20;
    }
    assert!((2980..=3000).contains(&waited), "proceeded after {waited} s");
    let w = sim.world();
    let w = w.lock();
    assert_eq!(
        w.aws.lifecycle.ended.last().map(|e| e.2.clone()),
        Some(Outcome::TimedOut(HookResult::Continue))
    );
}

/// Runs an instance refresh of `batch` to its end; returns the pods lost.
async fn refresh(sim: &Simulator) -> (u64, Vec<String>) {
    let c = asg(sim).await;
    c.start_instance_refresh()
        .auto_scaling_group_name("batch")
        .preferences(
            aws_sdk_autoscaling::types::RefreshPreferences::builder()
                .min_healthy_percentage(66)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for _ in 0..400 {
        let r = c
            .describe_instance_refreshes()
            .auto_scaling_group_name("batch")
            .send()
            .await
            .unwrap();
        let status = r.instance_refreshes()[0].status().map(|s| s.as_str().to_string());
        if status.as_deref() == Some("Successful") {
            // let the last terminated instances finish going
            sim.advance(secs(120));
            return sim.pods_lost();
        }
        sim.advance(secs(10));
        tokio::task::yield_now().await;
    }
    panic!("the instance refresh did not finish");
}

#[tokio::test]
async fn an_instance_refresh_drained_by_the_handler_through_a_hook_loses_no_pod() {
    let sim = start(scenario(
        "    lifecycleHooks:\n      - {name: nth, heartbeatTimeout: 600, defaultResult: CONTINUE}",
        NTH,
    ))
    .await;
    // the ledger's budget allows no disruption: give it a second replica so drains pass
    let client = sim.client("lead").await.unwrap();
    Api::<Deployment>::namespaced(client, "default")
        .patch(
            "ledger",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    sim.advance(secs(30));
    let old: Vec<String> = instances(&sim.world().lock()).into_iter().map(|i| i.0).collect();
    let (lost, recent) = refresh(&sim).await;
    assert_eq!(lost, 0, "pods died with their node: {recent:?}");
    let w = sim.world();
    let w = w.lock();
    let ids: Vec<&str> = w.groups[0].instances.iter().map(|i| i.id.as_str()).collect();
    assert!(
        old.iter().all(|o| !ids.contains(&o.as_str())),
        "every old instance was replaced"
    );
    let stats = &w.aws.nth.stats;
    assert_eq!(
        stats.completed, 3,
        "the handler completed one action per instance: {stats:?}"
    );
    assert!(stats.evictions >= 3, "{stats:?}");
}

#[tokio::test]
async fn an_instance_refresh_without_hook_or_handler_loses_the_pods_of_each_node() {
    let sim = start(scenario("", "")).await;
    let nodes: Vec<String> = instances(&sim.world().lock()).into_iter().map(|i| i.1).collect();
    let (lost, recent) = refresh(&sim).await;
    assert!(lost >= 4, "web and ledger pods die with their nodes: {lost} {recent:?}");
    assert_eq!(lost as usize, recent.len());
    assert!(
        recent
            .iter()
            .all(|p| nodes.iter().any(|n| p.ends_with(&format!("on {n}")))),
        "{recent:?}"
    );
}

#[tokio::test]
async fn the_handler_retries_a_refused_eviction_and_completes_once_the_budget_allows() {
    let sim = start(scenario(HOOK, NTH)).await;
    let c = asg(&sim).await;
    let (id, node) = {
        let w = sim.world();
        let w = w.lock();
        let ledger = w
            .pods
            .items()
            .iter()
            .find(|(k, _)| k.starts_with("default/ledger-"))
            .and_then(|(_, p)| p.spec.as_ref()?.node_name.clone())
            .expect("ledger runs");
        instances(&w).into_iter().find(|(_, n)| *n == ledger).unwrap()
    };
    c.terminate_instance_in_auto_scaling_group()
        .instance_id(&id)
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .unwrap();
    sim.advance(secs(60));
    {
        let w = sim.world();
        let w = w.lock();
        assert_eq!(
            w.nodes.get(&node).and_then(|n| n.spec.as_ref()?.unschedulable),
            Some(true),
            "the handler cordoned the node"
        );
        let d = &w.aws.nth.draining[&id];
        assert!(
            d.last_refusal.as_deref().is_some_and(|r| r.contains("ledger")),
            "{:?}",
            d.last_refusal
        );
        assert!(
            w.aws.nth.stats.refused >= 5,
            "refusals are retried: {:?}",
            w.aws.nth.stats
        );
        let left: Vec<&String> = w.idx.pods_by_node[&node].iter().collect();
        assert!(left.iter().any(|k| k.starts_with("default/ledger-")), "{left:?}");
    }
    assert_eq!(state(&c, &id).await, "Terminating:Wait");
    // the budget is relaxed: the next pass evicts the ledger and completes the action
    let client = sim.client("lead").await.unwrap();
    Api::<PodDisruptionBudget>::namespaced(client, "default")
        .patch(
            "ledger",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"minAvailable": 0}})),
        )
        .await
        .unwrap();
    sim.advance(secs(30));
    assert_eq!(state(&c, &id).await, "Terminating:Proceed");
    sim.advance(secs(60));
    let (lost, recent) = sim.pods_lost();
    assert_eq!(lost, 0, "{recent:?}");
    let w = sim.world();
    let w = w.lock();
    assert_eq!(
        w.aws.lifecycle.ended.last().map(|e| e.2.clone()),
        Some(Outcome::Completed(HookResult::Continue))
    );
}

#[tokio::test]
async fn the_handler_in_imds_mode_is_a_daemonset_that_ignores_lifecycle_hooks() {
    let sim = start(scenario(HOOK, "terminationHandler: {mode: imds}")).await;
    let client = sim.client("viewer").await.unwrap();
    let ds: Api<k8s_openapi::api::apps::v1::DaemonSet> = Api::namespaced(client.clone(), "kube-system");
    let nth = ds.get("aws-node-termination-handler").await.unwrap();
    let c0 = &nth.spec.unwrap().template.spec.unwrap().containers[0];
    assert!(
        c0.image
            .as_deref()
            .unwrap()
            .starts_with("public.ecr.aws/aws-ec2/aws-node-termination-handler:")
    );
    let env = |k: &str| {
        c0.env
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.name == k)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(env("ENABLE_SQS_TERMINATION_DRAINING").as_deref(), Some("false"));
    let c = asg(&sim).await;
    let (id, _) = instances(&sim.world().lock())[0].clone();
    c.terminate_instance_in_auto_scaling_group()
        .instance_id(&id)
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .unwrap();
    sim.advance(secs(290));
    assert_eq!(
        state(&c, &id).await,
        "Terminating:Wait",
        "nothing drains or completes it"
    );
    assert_eq!(sim.world().lock().aws.nth.stats.evictions, 0);
    sim.advance(secs(120));
    assert!(
        sim.pods_lost().0 > 0,
        "the hook timed out and the pods died with the node"
    );
}

#[tokio::test]
async fn the_queue_processor_is_a_deployment_a_preflight_can_recognise() {
    let sim = start(scenario(HOOK, NTH)).await;
    let client = sim.client("viewer").await.unwrap();
    let d = Api::<Deployment>::namespaced(client, "kube-system")
        .get("aws-node-termination-handler")
        .await
        .unwrap();
    let c0 = &d.spec.unwrap().template.spec.unwrap().containers[0];
    let env: Vec<(String, String)> = c0
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect();
    assert!(
        env.contains(&("ENABLE_SQS_TERMINATION_DRAINING".into(), "true".into())),
        "{env:?}"
    );
    assert!(
        env.iter().any(|(k, v)| k == "QUEUE_URL" && v.contains("sqs.")),
        "{env:?}"
    );
    sim.advance(secs(30));
    let w = sim.world();
    let w = w.lock();
    assert!(
        w.pods
            .items()
            .keys()
            .any(|k| k.starts_with("kube-system/aws-node-termination-handler-")),
        "its pod runs"
    );
}

#[tokio::test]
async fn an_instance_refresh_waits_for_its_batch_to_leave_the_hook() {
    let sim = start(scenario(HOOK, "")).await;
    let c = asg(&sim).await;
    c.start_instance_refresh()
        .auto_scaling_group_name("batch")
        .preferences(
            aws_sdk_autoscaling::types::RefreshPreferences::builder()
                .min_healthy_percentage(66)
                .build(),
        )
        .send()
        .await
        .unwrap();
    sim.advance(secs(10));
    let waiting: Vec<String> = {
        let w = sim.world();
        let w = w.lock();
        w.aws.lifecycle.actions.iter().map(|a| a.instance.clone()).collect()
    };
    assert_eq!(waiting.len(), 1, "one instance per batch");
    // the replacement is long Ready, but the batch is not done while its instance waits
    sim.advance(secs(250));
    let r = c
        .describe_instance_refreshes()
        .auto_scaling_group_name("batch")
        .send()
        .await
        .unwrap();
    let r = &r.instance_refreshes()[0];
    assert_eq!(r.instances_to_update(), Some(3), "{r:?}");
    assert_eq!(state(&c, &waiting[0]).await, "Terminating:Wait");
    assert_eq!(sim.world().lock().aws.lifecycle.actions.len(), 1, "no second batch yet");
    // the hook times out at 300 s: the instance goes, and the next batch starts
    sim.advance(secs(120));
    let next: Vec<String> = sim
        .world()
        .lock()
        .aws
        .lifecycle
        .actions
        .iter()
        .map(|a| a.instance.clone())
        .collect();
    assert_eq!(next.len(), 1);
    assert_ne!(next[0], waiting[0]);
}

/// Terminates one instance with replacement; returns the replacement's id.
async fn replace_one(sim: &Simulator, c: &aws_sdk_autoscaling::Client) -> String {
    let before: Vec<String> = sim.world().lock().groups[0]
        .instances
        .iter()
        .map(|i| i.id.clone())
        .collect();
    c.terminate_instance_in_auto_scaling_group()
        .instance_id(&before[0])
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .unwrap();
    sim.advance(secs(1));
    let w = sim.world();
    let w = w.lock();
    w.groups[0]
        .instances
        .iter()
        .find(|i| !before.contains(&i.id))
        .map(|i| i.id.clone())
        .expect("a replacement launched")
}

#[tokio::test]
async fn a_launching_hook_holds_the_new_instance_in_pending_wait_until_it_is_completed() {
    let hook = "    lifecycleHooks:\n      - {name: warm, transition: launching, heartbeatTimeout: 600}";
    let sim = start(scenario(hook, "")).await;
    let c = asg(&sim).await;
    assert!(
        sim.world().lock().groups[0]
            .instances
            .iter()
            .all(|i| i.state == InstanceState::InService),
        "the group's first instances are in service"
    );
    let new = replace_one(&sim, &c).await;
    assert_eq!(state(&c, &new).await, "Pending:Wait");
    sim.advance(secs(90));
    let node = {
        let w = sim.world();
        let w = w.lock();
        let i = w.groups[0].instances.iter().find(|i| i.id == new).unwrap().clone();
        assert_eq!(
            node_ready(&w, &i.node_name),
            Some(true),
            "its node registered meanwhile"
        );
        i.node_name
    };
    assert_eq!(
        state(&c, &new).await,
        "Pending:Wait",
        "not in service while the hook holds it"
    );
    c.complete_lifecycle_action()
        .auto_scaling_group_name("batch")
        .lifecycle_hook_name("warm")
        .instance_id(&new)
        .lifecycle_action_result("CONTINUE")
        .send()
        .await
        .unwrap();
    assert_eq!(state(&c, &new).await, "InService");
    assert_eq!(node_ready(&sim.world().lock(), &node), Some(true));
}

#[tokio::test]
async fn a_launch_abandoned_by_its_hooks_timeout_is_terminated_and_launched_again() {
    let hook = "    lifecycleHooks:\n      - {name: warm, transition: launching, heartbeatTimeout: 60}";
    let sim = start(scenario(hook, "")).await;
    let c = asg(&sim).await;
    let new = replace_one(&sim, &c).await;
    sim.advance(secs(70));
    assert_eq!(
        state(&c, &new).await,
        "Terminating",
        "ABANDON, AWS's default, terminates it"
    );
    let w = sim.world();
    let w = w.lock();
    let pending: Vec<&str> = w.groups[0]
        .instances
        .iter()
        .filter(|i| i.state == InstanceState::Pending)
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(pending.len(), 1, "another launched: {pending:?}");
    assert_ne!(pending[0], new);
    assert_eq!(w.aws.lifecycle.actions.len(), 1, "and waits on the hook in turn");
}
