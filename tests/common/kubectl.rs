//! kubectl against the simulator: where it is installed, and a runner with the
//! simulator's kubeconfig in a temporary directory of its own.

use std::path::PathBuf;
use std::process::{Command, Output};

use upshift::sim::Simulator;

/// Where kubectl is, if installed.
pub fn kubectl_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

/// kubectl's path; where it is not installed, says SKIPPED (so the test can return).
pub fn kubectl_or_skip() -> Option<PathBuf> {
    let found = kubectl_path();
    if found.is_none() {
        eprintln!("SKIPPED: kubectl is not installed on this machine; the kubectl tests need it");
    }
    found
}

pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(bin: PathBuf, sim: &Simulator) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        Kubectl {
            bin,
            kubeconfig,
            _dir: dir,
        }
    }

    /// Runs kubectl off the async runtime (the simulator serves on it meanwhile).
    pub async fn run(&self, args: &[&str]) -> Output {
        let bin = self.bin.clone();
        let kc = self.kubeconfig.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let cache = self._dir.path().join("cache");
        tokio::task::spawn_blocking(move || {
            Command::new(bin)
                .arg("--kubeconfig")
                .arg(kc)
                .arg("--cache-dir")
                .arg(cache)
                .args(&args)
                .output()
                .expect("kubectl runs")
        })
        .await
        .unwrap()
    }

    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "kubectl {args:?} failed:\n{stdout}\n{stderr}");
        stdout
    }
}
