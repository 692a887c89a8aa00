//! The real Kubernetes control plane for the `realkube_*` tests: started once per
//! test binary by `tests/realkube/run.sh` (etcd, kube-apiserver, the controller
//! manager, the scheduler, fakelet's nodes) and stopped by that script's watchdog
//! when the binary exits. Where it cannot be built or started, each test prints
//! SKIPPED with the reason and returns, unless `REALKUBE_REQUIRED=1` (set by
//! test.sh once the build succeeded), where that is a failure.
#![allow(dead_code)]

pub mod compare;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running control plane.
pub struct RealKube {
    pub env: BTreeMap<String, String>,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub audit_log: PathBuf,
    pub version: String,
    script: PathBuf,
    run: PathBuf,
}

static SHARED: OnceLock<Result<RealKube, String>> = OnceLock::new();

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realkube/run.sh")
}

/// This binary's name without cargo's hash, to name its own run directory.
fn binary_name() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe.file_stem().and_then(|s| s.to_str()).unwrap_or("realkube");
    stem.rsplit_once('-').map_or(stem, |(name, _)| name).to_string()
}

fn start() -> Result<RealKube, String> {
    if Command::new("go").arg("version").output().is_err() {
        return Err(
            "Go is not installed; the real control plane is built from Go modules (see docs/testing.md)".into(),
        );
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let run = target.join("realkube").join(format!("run-{}", binary_name()));
    let began = Instant::now();
    let out = Command::new(script())
        .args(["start", "--owner", &std::process::id().to_string()])
        .env("REALKUBE_RUN", &run)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(25).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "tests/realkube/run.sh start failed ({}):\n{}",
            out.status,
            tail.join("\n")
        ));
    }
    let env: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let get = |k: &str| env.get(k).cloned().ok_or(format!("run.sh start did not say {k}"));
    eprintln!(
        "realkube: {} up in {:.1} s for {}",
        get("REALKUBE_VERSION")?,
        began.elapsed().as_secs_f64(),
        binary_name()
    );
    Ok(RealKube {
        kubeconfig: get("REALKUBE_KUBECONFIG")?.into(),
        kubectl: get("REALKUBE_KUBECTL")?.into(),
        audit_log: get("REALKUBE_AUDIT_LOG")?.into(),
        version: get("REALKUBE_VERSION")?,
        script: script(),
        run,
        env,
    })
}

/// The control plane this test binary shares, or None after printing why it is skipped.
pub fn get_or_skip(test: &str) -> Option<&'static RealKube> {
    match SHARED.get_or_init(start) {
        Ok(k) => Some(k),
        Err(why) => {
            if std::env::var("REALKUBE_REQUIRED").as_deref() == Ok("1") {
                panic!("{test}: the real control plane is required here (REALKUBE_REQUIRED=1) but: {why}");
            }
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// One request as the API server's audit log recorded it (stage ResponseComplete).
#[derive(Clone, Debug)]
pub struct Audited {
    pub user: String,
    pub verb: String,
    pub uri: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub code: u16,
    pub user_agent: String,
}

impl Audited {
    /// Whether authentication or RBAC refused it (401 or 403). A request the client
    /// gave up on (its process exited mid-list, say) is audited as a 500 and is no
    /// refusal.
    pub fn refused(&self) -> bool {
        matches!(self.code, 401 | 403)
    }

    pub fn mutating(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }
}

impl RealKube {
    /// A client for context `lead`, `viewer`, `research` or `admin`. Like the
    /// simulator's, it does not retry 429s: a refused eviction must be seen at once.
    pub async fn client(&self, context: &str) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("the run's kubeconfig reads");
        let opts = kube::config::KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .expect("the run's kubeconfig has the context");
        config.default_retry = false;
        kube::Client::try_from(config).expect("a client")
    }

    /// Runs the pinned release's kubectl as `context`, off the async runtime.
    pub async fn kubectl(&self, context: &str, args: &[&str]) -> Output {
        self.kubectl_stdin(context, args, None).await
    }

    pub async fn kubectl_stdin(&self, context: &str, args: &[&str], stdin: Option<String>) -> Output {
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--context")
            .arg(context)
            .arg("--cache-dir")
            .arg(self.run.join("kubectl-cache"))
            .args(args);
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            match stdin {
                None => cmd.output().expect("kubectl runs"),
                Some(input) => {
                    cmd.stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped());
                    let mut child = cmd.spawn().expect("kubectl runs");
                    child
                        .stdin
                        .take()
                        .expect("stdin")
                        .write_all(input.as_bytes())
                        .expect("kubectl reads stdin");
                    child.wait_with_output().expect("kubectl ends")
                }
            }
        })
        .await
        .expect("kubectl's thread")
    }

    /// kubectl as `context`; fails the test unless it succeeds. Returns stdout.
    pub async fn kubectl_ok(&self, context: &str, args: &[&str]) -> String {
        let out = self.kubectl(context, args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "kubectl --context {context} {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// `kubectl apply --server-side -f -` as admin of a YAML document: one PATCH per
    /// object, so tests applying the same fixtures side by side do not race to create.
    pub async fn apply(&self, yaml: &str) -> String {
        let out = self
            .kubectl_stdin(
                "admin",
                &["apply", "--server-side", "--force-conflicts", "-f", "-"],
                Some(yaml.to_string()),
            )
            .await;
        assert!(
            out.status.success(),
            "kubectl apply failed:\n{}\n{yaml}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Every completed request in the audit log so far. The API server writes a
    /// request's entry as the request ends, which may be just after its client has
    /// the answer: a moment is given for the last ones to land.
    pub fn audit(&self) -> Vec<Audited> {
        std::thread::sleep(Duration::from_millis(300));
        let text = std::fs::read_to_string(&self.audit_log).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["stage"] == "ResponseComplete" || v["stage"] == "Panic")
            .map(|v| {
                let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
                Audited {
                    user: s("/user/username"),
                    verb: s("/verb"),
                    uri: s("/requestURI"),
                    resource: s("/objectRef/resource"),
                    subresource: s("/objectRef/subresource"),
                    namespace: s("/objectRef/namespace"),
                    name: s("/objectRef/name"),
                    code: v.pointer("/responseStatus/code").and_then(Value::as_u64).unwrap_or(0) as u16,
                    user_agent: s("/userAgent"),
                }
            })
            .collect()
    }

    /// The audit log's requests by `user`.
    pub fn audit_of(&self, user: &str) -> Vec<Audited> {
        self.audit().into_iter().filter(|a| a.user == user).collect()
    }

    /// Compacts etcd up to its current revision; returns that revision.
    pub fn compact(&self) -> u64 {
        let out = Command::new(&self.script)
            .arg("compact")
            .env("REALKUBE_RUN", &self.run)
            .output()
            .expect("run.sh compact runs");
        assert!(
            out.status.success(),
            "run.sh compact: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a revision")
    }

    /// The `upshift` binary, as a user runs it against this cluster.
    pub fn upshift(&self, log_name: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_upshift"));
        c.arg("--log-file").arg(self.run.join(format!("{log_name}.log")));
        c.env("AWS_EC2_METADATA_DISABLED", "true");
        c
    }
}

/// Polls `check` every 200 ms until it returns Some; fails the test after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up after {secs} s waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A namespace of its own for one test, made as admin.
pub async fn namespace(k: &RealKube, name: &str) -> String {
    k.kubectl_ok("admin", &["create", "namespace", name]).await;
    name.to_string()
}

/// An EKS-like cluster's workloads, applied with kubectl as admin: the critical
/// components in kube-system (CoreDNS with its budget, the VPC CNI and kube-proxy
/// DaemonSets) and a shop whose `web` budget allows one disruption and whose
/// `ledger` budget allows none (the disruption controller computes both).
pub const SHOP: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 2
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {name: coredns, image: 602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/coredns:v1.11.4-eksbuild.2}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: coredns, namespace: kube-system}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: aws-node, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: aws-node}}
  template:
    metadata: {labels: {k8s-app: aws-node}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations: [{operator: Exists}]
      containers:
        - {name: aws-node, image: 602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v1.19.2-eksbuild.1}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-proxy, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: kube-proxy}}
  template:
    metadata: {labels: {k8s-app: kube-proxy}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations: [{operator: Exists}]
      containers:
        - {name: kube-proxy, image: 602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.36.3-minimal-eksbuild.2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {name: web, image: nginx:1.27, resources: {requests: {cpu: 100m, memory: 64Mi}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: ledger}}
  template:
    metadata: {labels: {app: ledger}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {name: ledger, image: postgres:16, resources: {requests: {cpu: 250m, memory: 256Mi}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: ledger, namespace: shop}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: ledger}}
"#;

/// `kubectl get KIND -A -o json`'s items, as admin.
pub async fn items(k: &RealKube, kind: &str) -> Vec<Value> {
    let out = k.kubectl_ok("admin", &["get", kind, "-A", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&out).expect("kubectl's JSON");
    v["items"].as_array().cloned().unwrap_or_default()
}

/// namespace/name (or name) of a listed object.
pub fn key(o: &Value) -> String {
    let name = o["metadata"]["name"].as_str().unwrap_or("");
    match o["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// Waits until every pod of the shop and the components is Running and Ready and
/// every budget has been computed by the disruption controller.
pub async fn shop_settled(k: &RealKube) {
    eventually(90, "the shop's pods Ready and its budgets computed", || async {
        let pods = items(k, "pods").await;
        let ready = |p: &Value| {
            p["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        };
        let shop: Vec<&Value> = pods
            .iter()
            .filter(|p| {
                let l = &p["metadata"]["labels"];
                ["web", "ledger"].contains(&l["app"].as_str().unwrap_or(""))
                    || ["kube-dns", "aws-node", "kube-proxy"].contains(&l["k8s-app"].as_str().unwrap_or(""))
            })
            .collect();
        let pdbs = items(k, "pdb").await;
        let computed = pdbs.len() >= 3
            && pdbs
                .iter()
                .all(|b| b["status"]["observedGeneration"] == b["metadata"]["generation"]);
        // 2 coredns + 3 web + 2 ledger + 6 of each DaemonSet
        (shop.len() >= 19 && shop.iter().all(|p| ready(p)) && computed).then_some(())
    })
    .await;
}

/// Registers `n` nodes of a node group of the test's own (fakelet keeps them Ready):
/// tainted so that only pods tolerating `upshift.test/group=GROUP` land there, which
/// keeps tests running side by side apart. Returns their names.
pub async fn add_nodes(k: &RealKube, group: &str, n: usize) -> Vec<String> {
    let mut names = Vec::new();
    let mut yaml = String::new();
    for i in 1..=n {
        let name = format!("{group}-{i}.ec2.internal");
        let zone = ["us-east-1a", "us-east-1b", "us-east-1c"][(i - 1) % 3];
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n    kubernetes.io/os: linux\n    eks.amazonaws.com/nodegroup: {group}\n    topology.kubernetes.io/zone: {zone}\n    node.kubernetes.io/instance-type: m5.xlarge\n    upshift.test/kubelet-version: v1.{}.3-eks-5e0fdde\nspec:\n  taints: [{{key: upshift.test/group, value: {group}, effect: NoSchedule}}]\n",
            k.minor() - 1
        ));
        names.push(name);
    }
    k.apply(&yaml).await;
    let want = names.clone();
    eventually(60, "the group's nodes Ready", || async {
        let nodes = items(k, "nodes").await;
        let ready = nodes
            .iter()
            .filter(|n| want.contains(&key(n)))
            .filter(|n| {
                n["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
            })
            .count();
        (ready == want.len()).then_some(())
    })
    .await;
    names
}

/// A Deployment pinned to a test's node group (`add_nodes`), with `extra` YAML
/// spliced into its pod spec (indented by six spaces).
pub fn pinned_deployment(ns: &str, name: &str, group: &str, replicas: u32, extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      nodeSelector: {{eks.amazonaws.com/nodegroup: {group}}}\n      tolerations: [{{key: upshift.test/group, value: {group}, effect: NoSchedule}}]\n      containers: [{{name: {name}, image: {name}:1.0, resources: {{requests: {{cpu: 100m}}}}}}]\n{extra}"
    )
}

/// The pods bound to `node`, as namespace/name.
pub async fn pods_on(k: &RealKube, node: &str) -> Vec<String> {
    items(k, "pods")
        .await
        .iter()
        .filter(|p| p["spec"]["nodeName"] == node)
        .map(key)
        .collect()
}

impl RealKube {
    /// The pinned release's minor, e.g. 37.
    pub fn minor(&self) -> u32 {
        self.version
            .trim_start_matches("v1.")
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .expect("a v1.MINOR.PATCH version")
    }
}
