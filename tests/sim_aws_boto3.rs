//! The simulated AWS through boto3, a third-party SDK: one Python script per service
//! (tests/boto3/) runs every operation the simulator serves, CloudWatch in all three
//! of its protocols, with nothing but the environment file the simulator writes
//! (`upshift-sim.aws.env`, sourced as written; no other AWS setting, no ~/.aws).
//! Prints SKIPPED when boto3 cannot be imported (`python3 -m pip install boto3`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use upshift::sim::Simulator;

/// The Python interpreter that has boto3, resolved once with the caller's
/// environment (a pyenv shim needs its HOME, which the scripts do not get).
fn python_with_boto3() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import sys, boto3; print(sys.executable)"])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("SKIPPED: boto3 cannot be imported (python3 -m pip install boto3); the boto3 tests need it");
        return None;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Runs `tests/boto3/<script>` with the simulator's env file sourced and nothing
/// else of AWS in its environment; returns its output, failing the test if it fails.
async fn run(sim: &Simulator, python: &Path, script: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("upshift-sim.aws.env");
    sim.write_aws_env(&env_file).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).unwrap();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/boto3");
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"set -e; . "$1"; shift; exec "$@""#)
        .arg("boto3")
        .arg(&env_file)
        .arg(python)
        .arg(scripts.join(script))
        .arg("--sim")
        .arg(sim.url())
        .arg("--ca")
        .arg(&ca)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(&scripts);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("bash runs"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "{script} failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    drop(dir);
    eprintln!("{stdout}");
    stdout
}

#[tokio::test]
async fn the_env_file_has_every_setting_boto3_needs() {
    let sim = common::start("demo").await;
    let env = sim.aws_env();
    for key in [
        "AWS_ENDPOINT_URL=",
        "AWS_REGION=eu-west-1",
        "AWS_DEFAULT_REGION=eu-west-1",
        "AWS_ACCESS_KEY_ID=",
        "AWS_SECRET_ACCESS_KEY=",
        "AWS_EC2_METADATA_DISABLED=true",
    ] {
        assert!(env.contains(&format!("export {key}")), "{key} missing from:\n{env}");
    }
}

#[tokio::test]
async fn boto3_runs_every_cloudwatch_operation_in_json_query_and_cbor() {
    let Some(python) = python_with_boto3() else { return };
    let sim = common::start("demo").await;
    let out = run(&sim, &python, "cloudwatch.py").await;
    for protocol in ["json", "query", "cbor"] {
        assert!(out.contains(&format!("cloudwatch over {protocol}: ok")), "{out}");
    }
    let counts = sim.aws_request_counts();
    // three protocols, each operation at least once per protocol
    for op in [
        "PutMetricData",
        "GetMetricData",
        "GetMetricStatistics",
        "ListMetrics",
        "DescribeAlarms",
        "PutMetricAlarm",
        "SetAlarmState",
        "DeleteAlarms",
    ] {
        assert!(counts.get(op).copied().unwrap_or(0) >= 3, "{op}: {counts:?}");
    }
}

#[tokio::test]
async fn boto3_runs_every_auto_scaling_operation_and_lifecycle_hook() {
    let Some(python) = python_with_boto3() else { return };
    let sim = common::start("demo").await;
    let out = run(&sim, &python, "autoscaling.py").await;
    assert!(out.contains("autoscaling: "), "{out}");
}

#[tokio::test]
async fn boto3_runs_every_eks_operation() {
    let Some(python) = python_with_boto3() else { return };
    let sim = common::start("demo").await;
    let out = run(&sim, &python, "eks.py").await;
    assert!(out.contains("eks: "), "{out}");
}

#[tokio::test]
async fn boto3_sees_each_protocols_fault_shape() {
    let Some(python) = python_with_boto3() else { return };
    let sim = common::start("demo").await;
    let out = run(&sim, &python, "faults.py").await;
    assert!(out.contains("faults: "), "{out}");
    let injected = sim.aws_faults_injected();
    for op in ["ListClusters", "DescribeLifecycleHookTypes", "ListMetrics"] {
        let i = injected.get(op).copied().unwrap_or_default();
        assert!(i.throttled >= 1 && i.server_errors >= 1, "{op}: {injected:?}");
    }
}
