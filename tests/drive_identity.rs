//! Whose rollout a journal records, and one driver per journal: a drive refuses a
//! journal written for another cluster or plan (exit 2, naming what differs, the
//! journal untouched), adopts a journal written before headers existed (its header
//! written before the drive's first own entry), and a second
//! drive of the same operator on the same journal is refused while the first runs,
//! leaving no empty journal behind when refused.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use upshift::cloud::CloudRead;
use upshift::model::journal::What;
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{self, Environment, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

fn drive(dir: &Path, sim: &Simulator, journal: &str, user: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_upshift"));
    cmd.arg("drive")
        .arg(dir.join("plan.yaml"))
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .arg("--context")
        .arg("lead")
        .arg("--journal")
        .arg(dir.join(journal))
        .arg("--headless")
        .arg("--log-file")
        .arg(dir.join("upshift.log"))
        .env("USER", user)
        .env("AWS_ENDPOINT_URL", sim.aws_url())
        .env("AWS_REGION", sim.aws_region())
        .env("AWS_ACCESS_KEY_ID", "upshift-sim")
        .env("AWS_SECRET_ACCESS_KEY", "upshift-sim")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    cmd
}

/// Runs a drive that is expected to be refused at once: its output, stdin closed.
fn refused(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("upshift starts");
    wait_output(child, Duration::from_secs(60))
}

fn wait_output(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("upshift drive did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// The demo at speed, a kubeconfig and a plan (control plane only) in `dir`.
async fn setup(dir: &Path) -> Simulator {
    let sim = common::start_at("demo", 60.0).await;
    sim.write_kubeconfig(&dir.join("kubeconfig")).unwrap();
    let client = sim.client("lead").await.unwrap();
    let cloud = common::cloud::aws(&sim).await;
    let live = plan::discover(
        &upshift::cluster::ClusterReader::new(client),
        "demo",
        Some((&cloud as &dyn CloudRead, "demo")),
        "1.35",
    )
    .await
    .unwrap();
    let mut p = plan::propose(
        &live,
        &ProposeOptions {
            target: "1.35".into(),
            environment: Environment::PreProduction,
            context: Some("lead".into()),
            region: Some(sim.aws_region()),
            batch_size: 1,
            self_managed: Strategy::Replace,
            managed: None,
        },
    );
    p.steps.retain(|s| matches!(s, Step::ControlPlane));
    std::fs::write(dir.join("plan.yaml"), p.to_yaml(Some(&live))).unwrap();
    sim
}

const OTHER_CLUSTER: &str = concat!(
    r#"{"seq":1,"at":"2025-06-15T15:06:40Z","who":"ana@laptop","type":"header","cluster":"arn:aws:eks:eu-west-1:111122223333:cluster/tiny","plan":"sha256:00","target":"1.31"}"#,
    "\n",
    r#"{"seq":2,"at":"2025-06-15T15:06:41Z","who":"ana@laptop","type":"step","step":"control-plane","state":"done"}"#,
    "\n"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_of_another_cluster_is_refused_with_exit_2_naming_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let sim = setup(dir.path()).await;
    std::fs::write(dir.path().join("tiny.jsonl"), OTHER_CLUSTER).unwrap();
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || refused(drive(&d, &sim, "tiny.jsonl", "ana")))
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cluster/tiny") && err.contains("cluster/demo"), "{err}");
    assert!(err.contains("plan digest") && err.contains("--journal"), "{err}");
    // nothing was written to it
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tiny.jsonl")).unwrap(),
        OTHER_CLUSTER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_without_a_header_is_adopted_with_a_warning_and_gets_one() {
    let dir = tempfile::tempdir().unwrap();
    let sim = setup(dir.path()).await;
    // the control plane's gate passed and its step running: the drive goes on at once
    let old = concat!(
        r#"{"seq":1,"at":"2025-06-15T15:06:40Z","who":"ana@laptop","type":"decision","step":"gate/control-plane","decision":"proceed"}"#,
        "\n",
        r#"{"seq":2,"at":"2025-06-15T15:06:41Z","who":"ana@laptop","type":"step","step":"control-plane","state":"running"}"#,
        "\n"
    );
    let path = dir.path().join("old.jsonl");
    std::fs::write(&path, old).unwrap();
    let d = dir.path().to_path_buf();
    let mut cmd = drive(&d, &sim, "old.jsonl", "ana");
    // the drive runs on: stop it once it wrote, the header and its id first
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let p = path.clone();
    let journal = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut text = String::new();
        while !text.contains(r#""type":"drive""#) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            text = std::fs::read_to_string(&p).unwrap();
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(text.contains(r#""type":"drive""#), "no drive entry: {text}");
        text
    })
    .await
    .unwrap();
    let j = Journal::open(&path).unwrap();
    let h = j.header().expect("a header was added");
    assert!(h.cluster.ends_with("cluster/demo"), "{h:?}");
    assert_eq!(h.target, "1.35");
    assert!(h.plan.starts_with("sha256:") && h.plan.len() == 7 + 64, "{h:?}");
    assert!(h.kube_system_uid.is_some(), "{h:?}");
    assert!(journal.starts_with(old), "{journal}");
    assert!(
        j.entries().iter().any(
            |e| matches!(&e.what, What::Event { reason, message, .. } if reason == "JournalAdopted" && message.contains("no header"))
        ),
        "{journal}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_drive_of_the_same_operator_is_refused_and_leaves_no_journal_behind() {
    let dir = tempfile::tempdir().unwrap();
    let sim = setup(dir.path()).await;
    let d = dir.path().to_path_buf();
    let path = d.join("journal.jsonl");
    let mut first = drive(&d, &sim, "journal.jsonl", "alice");
    first.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut first = first.spawn().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains(r#""type":"drive""#)
        {
            assert!(Instant::now() < deadline, "the first drive did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        // the same operator, the same journal: refused by the journal's lock
        let same = refused(drive(&d, &sim, "journal.jsonl", "alice"));
        // the same operator, another journal: refused by the lease, and no journal is left
        let other = refused(drive(&d, &sim, "second.jsonl", "alice"));
        let after = std::fs::read_to_string(&path).unwrap().lines().count();
        let _ = first.kill();
        let _ = first.wait();
        (same, other, lines, after, d.join("second.jsonl").exists())
    })
    .await
    .unwrap();
    let (same, other, lines, after, second_exists) = out;
    let err = String::from_utf8_lossy(&same.stderr);
    assert_eq!(same.status.code(), Some(2), "{err}");
    assert!(
        err.contains("held by another drive") && err.contains("take over"),
        "{err}"
    );
    let err = String::from_utf8_lossy(&other.stderr);
    assert_eq!(other.status.code(), Some(2), "{err}");
    assert!(err.contains("alice@") && err.contains("another drive"), "{err}");
    assert!(!second_exists, "a refused drive left a journal behind");
    // the refused drives wrote nothing to the running drive's journal
    assert!(after >= lines);
    let j = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
    let drives = j
        .entries()
        .iter()
        .filter(|e| matches!(e.what, What::Drive { .. }))
        .count();
    assert_eq!(drives, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_user_the_identity_comes_from_the_system_and_the_cluster_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let sim = setup(dir.path()).await;
    let d = dir.path().to_path_buf();
    let path = d.join("journal.jsonl");
    let mut cmd = drive(&d, &sim, "journal.jsonl", "unused");
    cmd.env_remove("USER")
        .env_remove("USERNAME")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let p = path.clone();
    let out = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(&p)
            .unwrap_or_default()
            .contains(r#""type":"drive""#)
        {
            assert!(Instant::now() < deadline, "the drive did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("$USER is not set") && err.contains("SelfSubjectReview"),
        "{err}"
    );
    let j = Journal::open(&path).unwrap();
    let who = &j.entries()[0].who;
    assert!(!who.starts_with("someone@"), "{who}");
    // the simulator's context `lead` is the user `lead`
    assert!(who.contains("(kube lead)"), "{who}");
}
