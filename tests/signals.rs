//! SIGTERM, SIGINT and SIGHUP to `upshift watch` and to the `drive` cockpit in a real
//! terminal (tmux): the terminal is restored (alternate screen left, cursor shown,
//! echo and canonical mode back, as `stty -a` shows), the exit code is the shell's
//! for the signal, and the drive journals that it was stopped by the signal.
//! Skipped, saying so, where tmux is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use upshift::cloud::CloudRead;
use upshift::model::journal::What;
use upshift::rollout::journal::Journal;
use upshift::rollout::plan::{self, Environment, ProposeOptions, Step, Strategy};
use upshift::sim::Simulator;

/// A tmux server of the test's own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str) -> Option<Tmux> {
        let socket = format!("upshift-signals-{}-{name}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "40",
            ])
            .arg("bash --norc --noprofile")
            .status()
            .ok()?
            .success();
        ok.then_some(Tmux { socket })
    }

    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn format(&self, f: &str) -> String {
        self.cmd(&["display", "-p", f])
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `command` (its environment included) in a fresh tmux pane, sends `sig` once
/// it shows its alternate screen, and checks the terminal afterwards. Returns the
/// exit code the shell saw.
fn signal_in_tmux(dir: &Path, name: &str, command: &str, sig: &str) -> i32 {
    let Some(tmux) = Tmux::start(name) else {
        panic!("tmux did not start");
    };
    let pid = dir.join(format!("{name}.pid"));
    let after = dir.join(format!("{name}.after"));
    let script = dir.join(format!("{name}.sh"));
    std::fs::write(
        &script,
        format!(
            "stty -a > {before}\nbash -c 'echo $$ > {pid}; exec {command}'\necho \"exit=$?\" > {after}.tmp\nstty -a >> {after}.tmp\nmv {after}.tmp {after}\n",
            before = dir.join(format!("{name}.before")).display(),
            pid = pid.display(),
            after = after.display(),
        ),
    )
    .unwrap();
    tmux.cmd(&["send-keys", &format!("bash {}", script.display()), "Enter"]);
    wait_for("the cockpit's alternate screen", Duration::from_secs(60), || {
        tmux.format("#{alternate_on}") == "1"
    });
    // a moment for the first frames, then the signal
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(tmux.format("#{cursor_flag}"), "0", "the cockpit hides the cursor");
    let pid = std::fs::read_to_string(&pid).unwrap().trim().to_string();
    assert!(
        Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_for("the shell after the cockpit", Duration::from_secs(30), || {
        after.exists()
    });
    let text = std::fs::read_to_string(&after).unwrap();
    let before = std::fs::read_to_string(dir.join(format!("{name}.before"))).unwrap();
    // the terminal is as it was: the same settings, echo and canonical mode on
    let settings = |t: &str| {
        t.lines()
            .skip_while(|l| !l.starts_with("speed"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        settings(&text),
        settings(&before),
        "{sig}: stty differs after the cockpit"
    );
    assert!(text.contains(" echo ") && text.contains(" icanon"), "{text}");
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "0",
        "{sig}: still in the alternate screen"
    );
    assert_eq!(tmux.format("#{cursor_flag}"), "1", "{sig}: the cursor is hidden");
    text.lines()
        .find_map(|l| l.strip_prefix("exit="))
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(-1)
}

fn tmux_or_skip() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("tmux not found: the signal tests need it; skipped");
    }
    found
}

fn env(sim: &Simulator) -> String {
    format!(
        "env USER=ana AWS_ENDPOINT_URL={} AWS_REGION={} AWS_ACCESS_KEY_ID=upshift-sim AWS_SECRET_ACCESS_KEY=upshift-sim AWS_EC2_METADATA_DISABLED=true TERM=xterm-256color",
        sim.aws_url(),
        sim.aws_region()
    )
}

const SIGNALS: [(&str, i32); 3] = [("TERM", 143), ("INT", 130), ("HUP", 129)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_restores_the_terminal_on_every_signal() {
    if !tmux_or_skip() {
        return;
    }
    let sim = common::start("demo").await;
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
    let command = format!(
        "{} {} watch --kubeconfig {} --context lead --log-file {}",
        env(&sim),
        env!("CARGO_BIN_EXE_upshift"),
        dir.path().join("kubeconfig").display(),
        dir.path().join("upshift.log").display()
    );
    let d: PathBuf = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        for (sig, code) in SIGNALS {
            let got = signal_in_tmux(&d, &format!("watch-{sig}"), &command, sig);
            assert_eq!(got, code, "watch after SIG{sig}");
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drive_cockpit_restores_the_terminal_and_journals_the_signal() {
    if !tmux_or_skip() {
        return;
    }
    let sim = common::start("demo").await;
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
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
    std::fs::write(dir.path().join("plan.yaml"), p.to_yaml(Some(&live))).unwrap();
    let journal = dir.path().join("journal.jsonl");
    let command = format!(
        "{} {} drive {} --kubeconfig {} --context lead --journal {} --log-file {}",
        env(&sim),
        env!("CARGO_BIN_EXE_upshift"),
        dir.path().join("plan.yaml").display(),
        dir.path().join("kubeconfig").display(),
        journal.display(),
        dir.path().join("upshift.log").display()
    );
    let d: PathBuf = dir.path().to_path_buf();
    let j = journal.clone();
    tokio::task::spawn_blocking(move || {
        for (sig, code) in SIGNALS {
            let got = signal_in_tmux(&d, &format!("drive-{sig}"), &command, sig);
            assert_eq!(got, code, "drive after SIG{sig}");
            let stopped = Journal::open(&j)
                .unwrap()
                .entries()
                .iter()
                .filter(|e| {
                    matches!(&e.what, What::Event { reason, message, .. }
                    if reason == "DriveStopped" && message.contains(&format!("stopped by signal SIG{sig}")))
                })
                .count();
            assert_eq!(stopped, 1, "the drive journals SIG{sig} once");
        }
    })
    .await
    .unwrap();
}
