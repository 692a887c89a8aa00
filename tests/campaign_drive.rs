//! `upshift campaign drive FILE --headless` as a lead runs it against the campaign
//! rehearsal (three simulated clusters on one clock): stages in order, a soak and a
//! problem left open that block production until the clock passes and the file
//! accepts it, a window that refuses a start (or lets it start with a journaled
//! reason), a stop at a safe point as a window closes and its resume in the next, a
//! handover from one operator to another, and a kill in the middle of production
//! resumed by the same command without a repeat or a gap.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use upshift::model::journal::{Decision, Entry, StepId, StepState, What};
use upshift::rollout::journal::Journal;
use upshift::sim::campaign::{CampaignScenario, SimCampaign};

/// The rehearsal running, its kubeconfig and AWS configuration in a temporary
/// directory where the campaign file, its plans and journals go too.
struct Rehearsal {
    sim: SimCampaign,
    dir: tempfile::TempDir,
}

impl Rehearsal {
    async fn start(speed: f64) -> Rehearsal {
        let spec = CampaignScenario::load("rehearsal").expect("the built-in campaign scenario loads");
        let sim = SimCampaign::start(&spec, speed).await.expect("every cluster starts");
        let dir = tempfile::tempdir().unwrap();
        sim.write_files(&dir.path().join("upshift-sim.kubeconfig")).unwrap();
        Rehearsal { sim, dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The clusters' clock now plus `mins` minutes, as RFC 3339 in UTC.
    fn at(&self, mins: i64) -> String {
        (self.sim.clock().now() + jiff::SignedDuration::from_mins(mins)).to_string()
    }

    /// Moves every cluster's clock on by `mins` minutes.
    fn advance(&self, mins: u64) {
        self.sim.clock().advance(Duration::from_secs(mins * 60));
    }
}

/// A campaign file `campaign.yaml` in `dir`: `extra` at the top (windows), staging-eu
/// soaking 30m in pre-production, and `production` (with `accept`) after it.
fn write_campaign(dir: &Path, extra: &str, staging: &str, accept: &str) {
    let cluster =
        |n: &str| format!("      - {{name: {n}, kubeconfig: upshift-sim.kubeconfig, aws: {{profile: {n}}}}}\n");
    let text = format!(
        "name: rehearsal\ntarget: \"1.35\"\n{extra}stages:\n  - name: pre-production\n    soak: 30m\n{staging}    clusters:\n{}  - name: production\n{accept}    clusters:\n{}{}",
        cluster("staging-eu"),
        cluster("prod-eu"),
        cluster("prod-us"),
    );
    std::fs::write(dir.join("campaign.yaml"), text).unwrap();
}

/// `upshift campaign drive DIR/campaign.yaml --headless` as `user`, with the
/// rehearsal's AWS profiles and nothing of the test's own environment.
fn campaign_drive(dir: &Path, user: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_upshift"));
    cmd.args(["campaign", "drive"])
        .arg(dir.join("campaign.yaml"))
        .arg("--headless")
        .arg("--log-file")
        .arg(dir.join("upshift.log"))
        .args(extra)
        .current_dir(dir)
        .env("AWS_CONFIG_FILE", dir.join("upshift-sim.aws.config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("USER", user)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// How a run of the campaign drive ended.
#[derive(Debug)]
struct Run {
    /// Its exit code (None: killed).
    code: Option<i32>,
    stdout: Vec<String>,
    stderr: String,
}

/// A refused run: exit code and stderr.
fn refused(dir: &Path, user: &str, extra: &[&str]) -> (Option<i32>, String) {
    let out = campaign_drive(dir, user, extra).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
}

/// The lead's answer to a state line: `proceed` when green and settled, one
/// override per red gate, the cluster's name when production asks for it.
fn lead(line: &str, cluster: &str, overridden: &mut String) -> Option<String> {
    if line.starts_with("confirm cluster") {
        return Some(format!("confirm {cluster}"));
    }
    if line.starts_with("at gate") && line.contains("green, settled") {
        return Some("proceed".into());
    }
    if line.starts_with("at gate") && line.contains(" red: ") && !line.contains("cluster view") {
        let gate = line.split(" red: ").next().unwrap_or_default().to_string();
        if gate != *overridden {
            *overridden = gate;
            return Some("override test: known red".into());
        }
    }
    None
}

/// Runs the campaign drive as `user`, answering stdout's state lines with `answer`
/// until it exits, or kills it with SIGKILL once `kill` says so.
fn drive(
    dir: &Path,
    user: &str,
    extra: &[&str],
    mut answer: impl FnMut(&str) -> Option<String>,
    kill: impl Fn() -> bool,
    secs: u64,
) -> Run {
    let mut child = campaign_drive(dir, user, extra).spawn().expect("upshift starts");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut all = String::new();
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&l);
            all.push('\n');
        }
        all
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut lines = Vec::new();
    let code = loop {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the campaign drive did not end in {secs}s: {lines:#?}");
        }
        if kill() {
            child.kill().expect("SIGKILL");
            child.wait().unwrap();
            break None;
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                if let Some(a) = answer(&line) {
                    let _ = writeln!(stdin, "{a}");
                }
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                drop(stdin);
                break child.wait().unwrap().code();
            }
        }
    };
    Run {
        code,
        stdout: lines,
        stderr: err.join().unwrap(),
    }
}

/// The lead's drive of `cluster` to its end.
fn drive_as_lead(dir: &Path, user: &str, extra: &[&str], cluster: &str) -> Run {
    let mut overridden = String::new();
    drive(dir, user, extra, |l| lead(l, cluster, &mut overridden), || false, 240)
}

/// The journal's entries that read back (a line half written is left out).
fn entries_so_far(path: &Path) -> Vec<Entry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn journal(dir: &Path, cluster: &str) -> PathBuf {
    dir.join(format!("{cluster}.journal.jsonl"))
}

fn entries(path: &Path) -> Vec<Entry> {
    Journal::open(path)
        .expect("the journal reads back whole")
        .entries()
        .to_vec()
}

fn decisions(path: &Path, d: Decision) -> Vec<Entry> {
    entries(path)
        .into_iter()
        .filter(|e| matches!(&e.what, What::Decision { decision, .. } if *decision == d))
        .collect()
}

/// The steps the journal has marked done, up to entry `upto`.
fn steps_done(entries: &[Entry], upto: u64) -> Vec<StepId> {
    entries
        .iter()
        .filter(|e| e.seq <= upto)
        .filter_map(|e| match &e.what {
            What::Step {
                step,
                state: StepState::Done,
            } => Some(step.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_go_in_order_after_the_soak_and_the_accepted_problem_and_a_kill_resumes_production() {
    let r = Rehearsal::start(300.0).await;
    let dir = r.path();
    write_campaign(&dir, "", "", "");
    // production is listed second: staging-eu is driven first, and only it
    let d = dir.clone();
    let first = tokio::task::spawn_blocking(move || drive_as_lead(&d, "ana", &[], "staging-eu"))
        .await
        .unwrap();
    assert_eq!(first.code, Some(0), "{first:#?}");
    assert!(
        first
            .stderr
            .contains("campaign rehearsal: starting cluster staging-eu (stage pre-production)"),
        "{}",
        first.stderr
    );
    assert!(
        first
            .stdout
            .iter()
            .any(|l| l.starts_with("verdict: done with 2 open problems")),
        "{first:#?}"
    );
    assert!(journal(&dir, "staging-eu").exists());
    assert!(!journal(&dir, "prod-eu").exists() && !journal(&dir, "prod-us").exists());

    // production waits for the soak, and names when it ends, and the open problem
    let (code, stderr) = refused(&dir, "ana", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("stage production may not start"), "{stderr}");
    assert!(
        stderr.contains("stage pre-production soaks 30m after its last cluster finished: production may start at "),
        "{stderr}"
    );
    assert!(!journal(&dir, "prod-eu").exists());

    // past the soak, the problem still blocks it, named, with how to accept it
    r.advance(31);
    let (code, stderr) = refused(&dir, "ana", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains("soaks"), "{stderr}");
    assert!(
        stderr.contains("cluster staging-eu finished with an open problem: Deployment shop/recommendations")
            && stderr.contains("stage production's `accept:`"),
        "{stderr}"
    );
    assert!(!journal(&dir, "prod-eu").exists());

    // accepted in the file: prod-eu starts; killed in the middle of a node group
    write_campaign(
        &dir,
        "",
        "",
        "    accept: [{cluster: staging-eu, reason: \"recommendations 3.0 crash-loops on 1.35; 3.1 fixes it\", by: ana}]\n",
    );
    let prod_eu = journal(&dir, "prod-eu");
    let d = dir.clone();
    let j = prod_eu.clone();
    // once the control plane is done the clock slows down, so that the node group's
    // update is surely under way when the kill comes
    let clock = r.sim.clock().clone();
    let killed = tokio::task::spawn_blocking(move || {
        let mut overridden = String::new();
        drive(
            &d,
            "ana",
            &[],
            |l| lead(l, "prod-eu", &mut overridden),
            || {
                let so_far = entries_so_far(&j);
                if so_far.iter().any(|e| {
                    matches!(
                        &e.what,
                        What::Step {
                            step: StepId::ControlPlane,
                            state: StepState::Done
                        }
                    )
                }) {
                    clock.set_speed(20.0);
                }
                so_far.iter().any(|e| {
                    matches!(
                        &e.what,
                        What::Step {
                            step: StepId::Nodegroup(_),
                            state: StepState::Running
                        }
                    )
                })
            },
            240,
        )
    })
    .await
    .unwrap();
    r.sim.clock().set_speed(300.0);
    assert_eq!(killed.code, None, "{killed:#?}");
    assert!(
        killed
            .stderr
            .contains("campaign rehearsal: starting cluster prod-eu (stage production)"),
        "{}",
        killed.stderr
    );
    assert!(
        killed.stdout.iter().any(|l| l.starts_with("confirm cluster")),
        "production asks for the cluster's name: {killed:#?}"
    );
    let before = entries(&prod_eu);
    let last = before.last().unwrap().seq;
    let done_before = steps_done(&before, last);
    let running_at_kill = before
        .iter()
        .rev()
        .find_map(|e| match &e.what {
            What::Step {
                step,
                state: StepState::Running,
            } => Some(step.clone()),
            _ => None,
        })
        .unwrap();
    assert!(matches!(running_at_kill, StepId::Nodegroup(_)), "{running_at_kill:?}");
    assert!(
        !done_before.contains(&running_at_kill),
        "killed after {running_at_kill:?} was done"
    );

    // the same command resumes prod-eu (not prod-us) at that step, to its end
    let d = dir.clone();
    let resumed = tokio::task::spawn_blocking(move || drive_as_lead(&d, "ana", &[], "prod-eu"))
        .await
        .unwrap();
    assert_eq!(resumed.code, Some(0), "{resumed:#?}");
    assert!(
        resumed
            .stderr
            .contains("campaign rehearsal: resuming cluster prod-eu (stage production)"),
        "{}",
        resumed.stderr
    );
    assert!(!journal(&dir, "prod-us").exists());
    common::journal::assert_no_repeats(&prod_eu);
    let after = entries(&prod_eu);
    let rerun: Vec<&StepId> = after
        .iter()
        .filter(|e| e.seq > last)
        .filter_map(|e| match &e.what {
            What::Step {
                step,
                state: StepState::Running,
            } => Some(step),
            _ => None,
        })
        .filter(|s| done_before.contains(s))
        .collect();
    assert!(rerun.is_empty(), "steps done before the kill ran again: {rerun:?}");
    let first_step_after = after.iter().filter(|e| e.seq > last).find_map(|e| match &e.what {
        What::Step { step, .. } => Some(step.clone()),
        _ => None,
    });
    assert_eq!(first_step_after, Some(running_at_kill), "{after:#?}");
    assert!(resumed.stdout.iter().any(|l| l.starts_with("done")), "{resumed:#?}");
    let updates = r
        .sim
        .member("prod-eu")
        .unwrap()
        .aws_request_counts()
        .get("UpdateClusterVersion")
        .copied()
        .unwrap_or(0);
    assert_eq!(updates, 1, "prod-eu's control plane update was sent {updates} times");
    r.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_its_window_a_stage_is_refused_or_started_with_a_reason_and_handed_over() {
    let r = Rehearsal::start(300.0).await;
    let dir = r.path();
    // the window opens in 6h of the clusters' time (72s of the test's at this speed)
    let windows = format!("windows:\n  - {{name: night, start: {}, duration: 2h}}\n", r.at(6 * 60));
    write_campaign(&dir, &windows, "", "");
    let staging = journal(&dir, "staging-eu");

    let (code, stderr) = refused(&dir, "ana", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("no window of stage pre-production is open for cluster staging-eu; the next, night, opens"),
        "{stderr}"
    );
    assert!(stderr.contains("--outside-window REASON"), "{stderr}");
    assert!(!staging.exists());

    // started outside it by the lead's word; at the first gate, handed over to bo
    let reason = "CHG-7: the platform team agreed to start before the window";
    let d = dir.clone();
    let first = tokio::task::spawn_blocking(move || {
        let mut handed = false;
        drive(
            &d,
            "ana",
            &["--outside-window", reason],
            |l| {
                let at_gate = l.starts_with("at gate") && !l.contains("cluster view");
                (at_gate && !std::mem::replace(&mut handed, true)).then(|| "handover bo".to_string())
            },
            || false,
            120,
        )
    })
    .await
    .unwrap();
    assert_eq!(first.code, Some(0), "{first:#?}");
    assert!(
        first
            .stderr
            .contains("campaign rehearsal: starting cluster staging-eu (stage pre-production)"),
        "{}",
        first.stderr
    );
    assert!(
        first.stdout.last().is_some_and(|l| l.contains("handed over to bo")),
        "{first:#?}"
    );
    let outside = decisions(&staging, Decision::OutsideWindow);
    assert_eq!(outside.len(), 1, "{outside:?}");
    assert!(
        matches!(&outside[0].what, What::Decision { reason: Some(r), .. } if r == reason),
        "{outside:?}"
    );
    let host = upshift::rollout::journal::host_name();
    let handovers = decisions(&staging, Decision::Handover);
    assert_eq!(handovers.len(), 1, "{handovers:?}");
    assert_eq!(handovers[0].who, format!("ana@{host}"));
    assert!(
        matches!(&handovers[0].what, What::Decision { target: Some(t), .. } if t == "bo"),
        "{handovers:?}"
    );

    // cy is refused, naming bo; bo resumes the same cluster and drives it to its end
    let (code, stderr) = refused(&dir, "cy", &["--outside-window", reason]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("only bo may drive"), "{stderr}");
    let d = dir.clone();
    let last =
        tokio::task::spawn_blocking(move || drive_as_lead(&d, "bo", &["--outside-window", reason], "staging-eu"))
            .await
            .unwrap();
    assert_eq!(last.code, Some(0), "{last:#?}");
    assert!(
        last.stderr
            .contains("campaign rehearsal: resuming cluster staging-eu (stage pre-production)"),
        "{}",
        last.stderr
    );
    assert!(last.stdout.iter().any(|l| l.starts_with("done")), "{last:#?}");
    assert!(!journal(&dir, "prod-eu").exists());

    // the report names both drivers and the handover
    let out = common::bin::upshift()
        .args(["report", "--format", "text"])
        .arg(&staging)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("ana@{host} handed the drive to bo")), "{text}");
    assert!(text.contains(&format!("driven by bo@{host}")), "{text}");
    assert!(
        text.contains(&format!("ana@{host}")) && text.contains("outside"),
        "{text}"
    );
    r.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_closing_too_soon_stops_at_a_safe_point_and_the_next_window_resumes() {
    // slow enough that the window's minutes hold while the test looks
    let r = Rehearsal::start(10.0).await;
    let dir = r.path();
    let windows = format!(
        "windows:\n  - {{name: evening, start: {}, duration: 30m}}\n  - {{name: night, start: {}, duration: 4h}}\n",
        r.at(-10),
        r.at(3 * 60)
    );
    write_campaign(&dir, &windows, "", "");
    let staging = journal(&dir, "staging-eu");
    let d = dir.clone();
    let stopped = tokio::task::spawn_blocking(move || {
        let mut overridden = String::new();
        let mut asked = false;
        drive(
            &d,
            "ana",
            &[],
            |l| {
                if l.starts_with("at gate")
                    && l.contains(" red: ")
                    && l.contains("maintenance window: window evening closes in")
                {
                    return (!std::mem::replace(&mut asked, true)).then(|| "stop-at-safe-point".to_string());
                }
                lead(l, "staging-eu", &mut overridden)
            },
            || false,
            180,
        )
    })
    .await
    .unwrap();
    assert_eq!(stopped.code, Some(0), "{stopped:#?}");
    assert!(
        stopped.stderr.contains("starting cluster staging-eu") && stopped.stderr.contains("window evening"),
        "{}",
        stopped.stderr
    );
    assert!(
        stopped.stdout.iter().any(|l| l.contains("control plane expected 25m")),
        "{stopped:#?}"
    );
    assert!(
        stopped
            .stdout
            .last()
            .is_some_and(|l| l.contains("stopped at a safe point")),
        "{stopped:#?}"
    );
    let stops = decisions(&staging, Decision::StopAtSafePoint);
    assert_eq!(stops.len(), 1, "{stops:?}");
    let member = r.sim.member("staging-eu").unwrap();
    let cordoned = member
        .world()
        .lock()
        .nodes
        .items()
        .values()
        .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true))
        .count();
    assert_eq!(cordoned, 0, "a node was left cordoned");
    assert_eq!(member.aws_request_counts().get("UpdateClusterVersion"), None);
    let before = entries(&staging);
    let last = before.last().unwrap().seq;
    let done_before = steps_done(&before, last);
    assert_eq!(done_before, [StepId::Preflight]);

    // in the next window the same command resumes staging-eu with no red window
    r.advance(3 * 60 + 5);
    r.sim.clock().set_speed(300.0);
    let d = dir.clone();
    let resumed = tokio::task::spawn_blocking(move || drive_as_lead(&d, "ana", &[], "staging-eu"))
        .await
        .unwrap();
    assert_eq!(resumed.code, Some(0), "{resumed:#?}");
    assert!(
        resumed
            .stderr
            .contains("campaign rehearsal: resuming cluster staging-eu (stage pre-production)")
            && resumed.stderr.contains("window night"),
        "{}",
        resumed.stderr
    );
    assert!(
        !resumed.stdout.iter().any(|l| l.contains("maintenance window:")),
        "{resumed:#?}"
    );
    assert!(resumed.stdout.iter().any(|l| l.starts_with("done")), "{resumed:#?}");
    // at the gate it stopped at: the preflight done before is not run again
    let first_gate = resumed.stdout.iter().find(|l| l.starts_with("at gate")).unwrap();
    assert!(first_gate.contains("gate before control plane"), "{resumed:#?}");
    common::journal::assert_no_repeats(&staging);
    let rerun = entries(&staging)
        .into_iter()
        .filter(|e| e.seq > last)
        .any(|e| matches!(&e.what, What::Step { step, state: StepState::Running } if done_before.contains(step)));
    assert!(!rerun, "a step done before the stop ran again");
    r.sim.shutdown().await;
}
