//! The `upshift` binary as a user runs it: help, scenario checks with errors that
//! name the line and field, and `sim serve` serving kubectl until interrupted.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child if the test fails before it exits.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn help_teaches_the_commands() {
    let out = common::bin::upshift().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for word in ["demo", "sim", "upshift demo"] {
        assert!(text.contains(word), "--help mentions {word}:\n{text}");
    }
    let out = common::bin::upshift()
        .args(["sim", "serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["--scenario", "--speed", "--kubeconfig", "--port", "viewer", "Examples"] {
        assert!(text.contains(word), "sim serve --help mentions {word}:\n{text}");
    }
}

#[test]
fn scenarios_are_listed_and_checked() {
    let out = common::bin::upshift().args(["sim", "scenarios"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("demo") && text.contains("large"), "{text}");
    let out = common::bin::upshift().args(["sim", "check", "demo"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is valid"));
}

#[test]
fn a_bad_scenario_file_is_refused_naming_the_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "name: bad\ndescription: a typo\ncluster:\n  name: bad\n  version: \"1.30\"\nnodeGroups:\n  - name: apps\n    kind: managed\n    instanceType: m5.large\n    size: three\nworkloads: []\n",
    )
    .unwrap();
    let out = common::bin::upshift()
        .args(["sim", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml"), "names the file: {err}");
    assert!(err.contains(":10:"), "names the line: {err}");
    assert!(err.contains("nodeGroups[0].size"), "names the field: {err}");

    let out = common::bin::upshift()
        .args(["sim", "serve", "--scenario", "no-such-scenario"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("demo") && err.contains("large"),
        "lists the built-ins: {err}"
    );
}

#[test]
fn sim_serve_writes_a_kubeconfig_and_serves_until_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kc");
    let counts = dir.path().join("counts.json");
    let child = common::bin::upshift()
        .args(["sim", "serve", "--port", "0", "--speed", "5", "--kubeconfig"])
        .arg(&kc)
        .arg("--counts-file")
        .arg(&counts)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("API server") {
            url = rest.split_whitespace().next().map(str::to_string);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    let url = url.expect("prints where it listens");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let text = std::fs::read_to_string(&kc).unwrap();
    assert!(text.contains(&url) && text.contains("name: viewer") && text.contains("current-context: lead"));
    if let Some(kubectl) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())
    }) {
        let out = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["get", "nodes", "-o", "name"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 12);
    } else {
        eprintln!("SKIPPED the kubectl part: kubectl is not installed");
    }
    // Ctrl-C: prints counts, writes the counts file, removes the kubeconfig
    let pid = child.0.id();
    Command::new("kill").arg("-INT").arg(pid.to_string()).status().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "exits cleanly on Ctrl-C");
    assert!(rest.iter().any(|l| l.contains("Requests served")), "{rest:?}");
    assert!(!kc.exists(), "the kubeconfig is removed on exit");
    let counts: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&counts).unwrap()).unwrap();
    assert!(counts.is_object());
}

#[test]
fn sim_serve_says_it_replaces_a_kubeconfig_and_cleans_up_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kc");
    std::fs::write(&kc, "someone's kubeconfig").unwrap();
    let child = common::bin::upshift()
        .args(["sim", "serve", "--port", "0", "--speed", "5", "--kubeconfig"])
        .arg(&kc)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        if line.unwrap().trim().starts_with("API server") {
            break;
        }
    }
    let aws_env = dir.path().join("kc.aws.env");
    assert!(kc.exists() && aws_env.exists());
    let pid = child.0.id();
    Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    let _: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.0.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(out.success(), "exits cleanly on SIGTERM: {stderr}");
    assert!(stderr.contains("exists and is replaced"), "{stderr}");
    assert!(!kc.exists() && !aws_env.exists(), "SIGTERM removes what it wrote");
}

#[test]
fn scenarios_line_up_and_the_readme_and_help_say_what_there_is() {
    let out = common::bin::upshift().args(["sim", "scenarios"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
    assert!(rows.len() >= 4, "{text}");
    // every description starts in one column
    let column = |l: &str| l.find("EKS").unwrap_or(0);
    assert!(rows.iter().all(|l| column(l) == column(rows[0])), "{text}");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for row in &rows {
        let name = row.split_whitespace().next().unwrap();
        assert!(
            readme.contains(&format!("`{name}`")),
            "the README lists scenario {name}"
        );
    }
    let help = common::bin::upshift()
        .args(["sim", "serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("restricted"), "{help}");
}

#[tokio::test]
async fn sim_serve_help_names_every_context_its_kubeconfig_holds() {
    let sim = common::start("demo").await;
    let kc: serde_json::Value = serde_norway::from_str(&sim.kubeconfig()).unwrap();
    let contexts: Vec<String> = kc["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    let help = common::bin::upshift()
        .args(["sim", "serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).replace('\n', " ");
    let count = ["none", "one", "two", "three", "four", "five"][contexts.len()];
    assert!(help.contains(&format!("{count} contexts")), "{contexts:?}: {help}");
    for c in &contexts {
        assert!(help.contains(&format!("`{c}`")), "{c} is not named: {help}");
    }
}

#[test]
fn an_error_on_a_pipe_has_no_colour_codes() {
    let out = common::bin::upshift()
        .args(["drive", "/nonexistent/upshift-plan.yaml"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("upshift-plan.yaml"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no escape codes when stderr is not a terminal: {stderr:?}"
    );
}

/// `upshift plan` for an EKS cluster with no AWS credentials anywhere: no profile, no
/// keys, empty configuration files, instance metadata off, the AWS endpoint an
/// unreachable loopback port.
async fn plan_without_credentials(kubeconfig: &std::path::Path, home: &std::path::Path, debug: bool) -> (bool, String) {
    let empty = home.join("empty");
    std::fs::write(&empty, "").unwrap();
    let mut cmd = common::bin::upshift();
    cmd.args(["plan", "--target", "1.35", "--cluster", "demo", "--region", "eu-west-1"])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--context", "lead"])
        .env("RUST_BACKTRACE", "1")
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for var in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "UPSHIFT_LOG",
    ] {
        cmd.env_remove(var);
    }
    if debug {
        cmd.arg("--debug");
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_aws_credentials_read_as_one_sentence_and_debug_shows_the_rest() {
    let sim = common::start("demo").await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();

    let (ok, stderr) = plan_without_credentials(&kubeconfig, dir.path(), false).await;
    assert!(!ok, "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, even with RUST_BACKTRACE=1: {stderr}");
    for needle in [
        "no AWS credentials",
        "AWS_PROFILE",
        "aws sso login",
        "AWS_ACCESS_KEY_ID",
        "--debug",
    ] {
        assert!(stderr.contains(needle), "{needle:?} in {stderr:?}");
    }
    for noise in [
        "Location:",
        "Backtrace",
        "backtrace",
        "ProfileFile",
        "provider",
        "dispatch failure",
    ] {
        assert!(!stderr.contains(noise), "{noise:?} in {stderr:?}");
    }
    assert!(!stderr.contains('\u{1b}'), "no colour codes on a pipe: {stderr:?}");

    // --debug shows what the SDK tried, still without colour on a pipe
    let (ok, full) = plan_without_credentials(&kubeconfig, dir.path(), true).await;
    assert!(!ok, "{full}");
    assert!(full.lines().count() > 1 && full.len() > stderr.len(), "{full}");
    assert!(full.to_lowercase().contains("credential"), "{full}");
    assert!(!full.contains('\u{1b}'), "no colour codes on a pipe: {full:?}");
}
