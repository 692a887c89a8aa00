//! `upshift watch --headless --until-synced` against servers it cannot use: refused
//! credentials, a closed port and an untrusted certificate are each an error that
//! says what is wrong (the certificate problem named), with a non-zero exit after a
//! bounded wait, and no line claims a view that could not list.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn watch(kubeconfig: &Path, log: &Path) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_upshift"))
        .args([
            "watch",
            "--headless",
            "--until-synced",
            "--context",
            "lead",
            "--kubeconfig",
        ])
        .arg(kubeconfig)
        .arg("--log-file")
        .arg(log)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let limit = Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("watch --until-synced did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

fn replace_line(kubeconfig: &str, key: &str, value: &str, nth: usize) -> String {
    let mut seen = 0;
    kubeconfig
        .lines()
        .map(|l| {
            if l.trim_start().starts_with(key) {
                seen += 1;
                if seen == nth {
                    let indent = &l[..l.len() - l.trim_start().len()];
                    return format!("{indent}{key} {value}");
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn check(out: &Output, took: Duration, says: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "exit 0: {stdout} {err}");
    for s in says {
        assert!(err.contains(s), "{s:?} not in: {err}");
    }
    assert!(!stdout.contains("\"synced\":true"), "{stdout}");
    assert!(!err.contains("Status {"), "{err}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_an_error_not_an_empty_synced_view() {
    let sim = common::start("demo").await;
    let dir = tempfile::tempdir().unwrap();
    let text = replace_line(&sim.kubeconfig(), "token:", "not-a-token", 1);
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, text).unwrap();
    let log = dir.path().join("upshift.log");
    let (out, took) = tokio::task::spawn_blocking(move || watch(&path, &log)).await.unwrap();
    check(&out, took, &["did not accept these credentials", "401"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_an_error_after_a_bounded_wait() {
    let sim = common::start("demo").await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("https://127.0.0.1:{port}");
    let text = replace_line(&sim.kubeconfig(), "server:", &url, 1);
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, text).unwrap();
    let log = dir.path().join("upshift.log");
    let (out, took) = tokio::task::spawn_blocking(move || watch(&path, &log)).await.unwrap();
    check(&out, took, &["cannot reach the API server", &url]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_named() {
    let sim = common::start("demo").await;
    let other = common::start("demo").await;
    let dir = tempfile::tempdir().unwrap();
    let other_ca = other
        .kubeconfig()
        .lines()
        .find_map(|l| {
            l.trim_start()
                .strip_prefix("certificate-authority-data:")
                .map(|v| v.trim().to_string())
        })
        .unwrap();
    let text = replace_line(&sim.kubeconfig(), "certificate-authority-data:", &other_ca, 1);
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, text).unwrap();
    let log = dir.path().join("upshift.log");
    let (out, took) = tokio::task::spawn_blocking(move || watch(&path, &log)).await.unwrap();
    check(
        &out,
        took,
        &["certificate", "does not trust", "certificate-authority-data"],
    );
}
