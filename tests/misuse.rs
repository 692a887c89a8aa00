//! The binary under misuse and at its most talkative: a broken kubeconfig is one
//! clear sentence naming the file; an oversized scenario is refused before it is
//! read; a written plan and the log are the owner's only (0600); and with
//! `UPSHIFT_LOG=trace` the log holds no AWS access key id, secret or signature.

mod common;

use std::path::Path;
use std::process::Output;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn watch_with(kubeconfig: &Path, log: &Path) -> Output {
    common::bin::upshift()
        .arg("--log-file")
        .arg(log)
        .args(["watch", "--headless", "--until-synced", "--kubeconfig"])
        .arg(kubeconfig)
        .output()
        .unwrap()
}

#[test]
fn a_broken_kubeconfig_is_one_sentence_naming_the_file_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // not YAML at all
    let bad = dir.path().join("broken-kubeconfig");
    std::fs::write(&bad, "apiVersion: v1\nclusters: [oops\n").unwrap();
    let out = watch_with(&bad, &log);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    let shown = bad.display().to_string();
    assert_eq!(err.matches(&shown).count(), 1, "the file named once: {err}");
    assert!(err.contains("--kubeconfig"), "says what to do: {err}");
    assert!(!err.contains("Status {"), "{err}");
    assert!(
        !err.contains("Caused by"),
        "the cause is said once, in the sentence: {err}"
    );

    // a context whose cluster is missing
    let half = dir.path().join("half-kubeconfig");
    std::fs::write(
        &half,
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: prod\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: prod\n  context:\n    cluster: nowhere\n    user: nobody\nusers: []\n",
    )
    .unwrap();
    let out = watch_with(&half, &log);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.matches(&half.display().to_string()).count(), 1, "{err}");
    assert!(err.contains("\"prod\""), "names the context: {err}");
    assert_eq!(err.matches("nowhere").count(), 1, "names what is missing, once: {err}");
    assert!(err.contains("--context"), "says what to do: {err}");
    assert!(!err.contains("Caused by"), "{err}");

    // a file that is not there
    let gone = dir.path().join("no-such-kubeconfig");
    let out = watch_with(&gone, &log);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches(&gone.display().to_string()).count(), 1, "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}

#[test]
fn a_scenario_over_its_cap_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    // a sparse file: nothing to read would fit the cap
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(upshift::sim::scenario::MAX_SCENARIO_BYTES + 1).unwrap();
    let out = common::bin::upshift()
        .args(["sim", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("huge.yaml"), "names the file: {err}");
    assert!(err.contains("16 MiB"), "names the cap: {err}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_and_the_log_are_private_and_trace_logs_hold_no_aws_secret() {
    use std::os::unix::fs::PermissionsExt;
    let sim = common::start("demo").await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    let plan = dir.path().join("plan.yaml");
    // a plan file already there, readable by all: rewritten for its owner only
    std::fs::write(&plan, "old").unwrap();
    std::fs::set_permissions(&plan, std::fs::Permissions::from_mode(0o644)).unwrap();
    let log = dir.path().join("trace.log");
    let key_id = "AKIAUPSHIFTTEST00001";
    let secret = "upshift-test-secret-never-logged";
    let (aws_url, region, cluster) = (sim.aws_url(), sim.aws_region(), sim.cluster_name().to_string());
    let (kc2, log2, plan2) = (kc.clone(), log.clone(), plan.clone());
    let out = tokio::task::spawn_blocking(move || {
        common::bin::upshift()
            .arg("--log-file")
            .arg(&log2)
            .args(["plan", "--context", "viewer", "--target", "1.35", "--cluster", &cluster])
            .args(["--environment", "pre-production", "-o"])
            .arg(&plan2)
            .arg("--kubeconfig")
            .arg(&kc2)
            .env("UPSHIFT_LOG", "trace")
            .env("AWS_ENDPOINT_URL", aws_url)
            .env("AWS_REGION", region)
            .env("AWS_ACCESS_KEY_ID", key_id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&plan), 0o600, "the plan is its owner's only");
    assert_eq!(mode(&log), 0o600, "the log is its owner's only");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("DescribeCluster") || logged.contains("eks"),
        "the trace log saw the AWS requests: {} bytes",
        logged.len()
    );
    assert!(logged.contains("[redacted]"), "something was hidden");
    assert!(!logged.contains(key_id), "the access key id is in the log");
    assert!(!logged.contains(secret), "the secret is in the log");
    for line in logged.lines().filter(|l| l.contains("Signature=")) {
        let after = &line[line.find("Signature=").unwrap() + "Signature=".len()..];
        assert!(after.starts_with("[redacted]"), "a signature is in the log: {line}");
    }
}
