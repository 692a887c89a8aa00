//! AWS fault rates from a scenario: seeded (the same seed refuses the same
//! requests), by operation, counted, and shaped as the protocol's throttling error;
//! and the scenario's AWS fields refused with the field named when wrong.

use aws_smithy_types::retry::RetryConfig;
use upshift::cloud::{AwsOptions, sdk_config};
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

fn scenario(faults: &str) -> Scenario {
    let yaml = format!(
        r#"
name: faults
seed: 11
cluster: {{name: faults, version: "1.31"}}
nodeGroups:
  - {{name: batch, kind: self-managed, instanceType: m5.large, size: 2}}
{faults}
"#
    );
    Scenario::from_yaml(&yaml, "faults.yaml").unwrap_or_else(|e| panic!("{e}"))
}

/// Which of `n` DescribeAutoScalingGroups calls (no retries) were throttled.
async fn outcomes(sim: &Simulator, n: usize) -> Vec<bool> {
    let conf = sdk_config(&AwsOptions::local(&sim.aws_url(), &sim.aws_region())).await;
    let conf = aws_sdk_autoscaling::config::Builder::from(&conf)
        .retry_config(RetryConfig::disabled())
        .build();
    let c = aws_sdk_autoscaling::Client::from_conf(conf);
    let mut out = Vec::new();
    for _ in 0..n {
        match c.describe_auto_scaling_groups().send().await {
            Ok(_) => out.push(false),
            Err(e) => {
                let code = e.into_service_error().meta().code().map(str::to_string);
                assert_eq!(code.as_deref(), Some("Throttling"));
                out.push(true);
            }
        }
    }
    out
}

const RULES: &str = "awsFaults:\n  seed: 9\n  rules:\n    - {operation: DescribeAutoScalingGroups, throttle: 0.5}";

#[tokio::test]
async fn a_scenarios_fault_rates_are_seeded_by_operation_and_counted() {
    let a = Simulator::start(SimConfig::new(scenario(RULES))).await.unwrap();
    let b = Simulator::start(SimConfig::new(scenario(RULES))).await.unwrap();
    let (ra, rb) = (outcomes(&a, 40).await, outcomes(&b, 40).await);
    assert_eq!(ra, rb, "the same seed refuses the same requests");
    let refused = ra.iter().filter(|x| **x).count();
    assert!((10..=30).contains(&refused), "about half refused: {refused} of 40");
    let injected = a.aws_faults_injected();
    assert_eq!(injected["DescribeAutoScalingGroups"].throttled as usize, refused);
    assert_eq!(injected["DescribeAutoScalingGroups"].server_errors, 0);
    assert_eq!(a.aws_request_counts()["DescribeAutoScalingGroups"], 40);

    // another seed, another sequence; no rule, no fault
    let c = Simulator::start(SimConfig::new(scenario(&RULES.replace("seed: 9", "seed: 10"))))
        .await
        .unwrap();
    assert_ne!(outcomes(&c, 40).await, ra);
    let d = Simulator::start(SimConfig::new(scenario(""))).await.unwrap();
    assert!(outcomes(&d, 20).await.iter().all(|x| !x));
    assert!(d.aws_faults_injected().is_empty());
}

#[test]
fn wrong_aws_fields_are_refused_with_the_field_named() {
    let err = |extra: &str, group_extra: &str| {
        let yaml = format!(
            "name: x\ncluster: {{name: x, version: \"1.31\"}}\nnodeGroups:\n  - name: batch\n    kind: self-managed\n    instanceType: m5.large\n    size: 2\n{group_extra}{extra}\n"
        );
        Scenario::from_yaml(&yaml, "x.yaml").unwrap_err().to_string()
    };
    let e = err("awsFaults: {rules: [{operation: GetMetricData, throttle: 1.5}]}", "");
    assert!(e.contains("awsFaults.rules[0].throttle") && e.contains("1.5"), "{e}");
    let e = err("", "    lifecycleHooks: [{name: drain, heartbeatTimeout: 10}]\n");
    assert!(
        e.contains("nodeGroups[0].lifecycleHooks[0].heartbeatTimeout") && e.contains("30 to 7200"),
        "{e}"
    );
    let e = err("terminationHandler: {mode: queue-processor, nodeGroups: [apps]}", "");
    assert!(
        e.contains("terminationHandler.nodeGroups[0]") && e.contains("apps"),
        "{e}"
    );
    let e = err("terminationHandler: {mode: sqs}", "");
    assert!(e.contains("terminationHandler") && e.contains("queue-processor"), "{e}");
    let e = err("", "    lifecycleHooks: [{name: drain, defaultResult: MAYBE}]\n");
    assert!(e.contains("defaultResult") || e.contains("lifecycleHooks"), "{e}");
}
