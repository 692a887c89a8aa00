//! The comparison of the simulator with kube-apiserver (tests/realkube_compare*.rs):
//! both sides, each with a namespace of the same name, and what a comparison needs
//! to observe them the same way.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use upshift::sim::scenario::Scenario;
use upshift::sim::{SimConfig, Simulator};

use super::{RealKube, get_or_skip};

/// One side of the comparison.
pub struct Side<'a> {
    pub name: &'static str,
    /// an identity that may write anything the interaction needs
    pub admin: kube::Client,
    /// the read-only seat
    pub viewer: kube::Client,
    pub peer: Peer<'a>,
    /// the real side, whose kubectl both sides are read with
    pub real: &'static RealKube,
}

pub enum Peer<'a> {
    Sim(&'a Simulator),
    Real(&'a RealKube),
}

impl Side<'_> {
    pub fn compact(&self) {
        match self.peer {
            Peer::Sim(s) => s.compact(),
            Peer::Real(k) => {
                k.compact();
            }
        }
    }

    /// kubectl (the pinned release's, for both sides) against this side as its admin.
    pub async fn kubectl(&self, args: &[&str]) -> String {
        match self.peer {
            Peer::Real(k) => k.kubectl_ok("admin", args).await,
            Peer::Sim(s) => {
                let k = self.real;
                let kc = k
                    .kubeconfig
                    .with_file_name(format!("sim-{}.kubeconfig", s.addr().port()));
                s.write_kubeconfig(&kc).unwrap();
                let out = std::process::Command::new(&k.kubectl)
                    .arg("--kubeconfig")
                    .arg(&kc)
                    .arg("--context")
                    .arg("lead")
                    .args(args)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "kubectl {args:?} on the simulator: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).to_string()
            }
        }
    }
}

/// Both sides, each with namespace `ns` made; None (SKIPPED) without the real one.
pub async fn sides<'a>(test: &str, sim: &'a Option<Simulator>, ns: &str) -> Option<Vec<Side<'a>>> {
    let k = get_or_skip(test)?;
    let sim = sim.as_ref().expect("a simulator");
    let sides = vec![
        Side {
            name: "simulator",
            admin: sim.client("lead").await.unwrap(),
            viewer: sim.client("viewer").await.unwrap(),
            peer: Peer::Sim(sim),
            real: k,
        },
        Side {
            name: "kube-apiserver",
            admin: k.client("admin").await,
            viewer: k.client("viewer").await,
            peer: Peer::Real(k),
            real: k,
        },
    ];
    for s in &sides {
        let nss: Api<Namespace> = Api::all(s.admin.clone());
        nss.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: namespace {ns}: {e}", s.name));
    }
    Some(sides)
}

/// The simulator's side: the `demo` scenario at real-time speed, on a free port.
pub async fn sim() -> Option<Simulator> {
    let mut cfg = SimConfig::new(Scenario::load("demo").expect("built-in scenario loads"));
    cfg.bookmark_interval = Duration::from_millis(300);
    Some(Simulator::start(cfg).await.expect("simulator starts"))
}

/// The Status of a refusal, as JSON (what a client branches on and shows).
pub fn status(e: kube::Error) -> Value {
    match e {
        kube::Error::Api(s) => serde_json::to_value(&*s).unwrap(),
        other => json!({"not an API answer": other.to_string()}),
    }
}

pub fn outcome<T>(r: Result<T, kube::Error>, ok: impl FnOnce(T) -> Value) -> Value {
    match r {
        Ok(v) => json!({"ok": ok(v)}),
        Err(e) => json!({"refused": status(e)}),
    }
}

/// A refusal's code and reason only: for the refusals whose wording the simulator
/// need not copy (docs/simulator.md, "Held to kube-apiserver").
pub fn gist(v: Value) -> Value {
    match v.get("refused") {
        Some(st) => json!({"refused": {"code": st["code"], "reason": st["reason"]}}),
        None => v,
    }
}

/// Asserts both sides observed the same, printing both in full when not.
pub fn same(what: &str, seen: &[(&str, Value)]) {
    let (a, b) = (&seen[0], &seen[1]);
    assert!(
        a.1 == b.1,
        "{what}: the simulator and kube-apiserver differ\n{}: {}\n{}: {}",
        a.0,
        serde_json::to_string_pretty(&a.1).unwrap(),
        b.0,
        serde_json::to_string_pretty(&b.1).unwrap()
    );
}

pub fn cm(name: &str, labels: Value, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": data})).unwrap()
}

pub fn names<K: kube::Resource>(items: &[K]) -> Vec<String> {
    items
        .iter()
        .map(|o| o.meta().name.clone().unwrap_or_default())
        .collect()
}

/// Seven ConfigMaps labelled set=cmp, tier a (odd) or b (even), and cm-7 unlabelled by tier.
pub async fn seven(s: &Side<'_>, ns: &str) -> Api<ConfigMap> {
    let api: Api<ConfigMap> = Api::namespaced(s.admin.clone(), ns);
    for i in 1..=7 {
        let labels = match i {
            7 => json!({"set": "cmp"}),
            i if i % 2 == 1 => json!({"set": "cmp", "tier": "a"}),
            _ => json!({"set": "cmp", "tier": "b"}),
        };
        api.create(
            &PostParams::default(),
            &cm(&format!("cm-{i}"), labels, json!({"i": i.to_string()})),
        )
        .await
        .unwrap();
    }
    api
}

/// Events of a watch until it ends (its timeout) or `max` arrived, as (type, name).
pub async fn watch_events<K>(api: &Api<K>, wp: &WatchParams, rv: &str, max: usize) -> Vec<Value>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut out = Vec::new();
    let stream = match api.watch(wp, rv).await {
        Ok(s) => s,
        Err(e) => return vec![json!({"refused": status(e)})],
    };
    let mut stream = stream.boxed();
    while out.len() < max {
        let next = tokio::time::timeout(Duration::from_secs(15), stream.try_next()).await;
        let ev = match next {
            Ok(Ok(Some(ev))) => ev,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                out.push(json!({"stream error": e.to_string()}));
                break;
            }
            Err(_) => {
                out.push(json!("no event for 15 s"));
                break;
            }
        };
        out.push(match ev {
            WatchEvent::Added(o) => json!(["ADDED", o.meta().name]),
            WatchEvent::Modified(o) => json!(["MODIFIED", o.meta().name]),
            WatchEvent::Deleted(o) => json!(["DELETED", o.meta().name]),
            WatchEvent::Bookmark(b) => json!([
                "BOOKMARK",
                b.types.kind,
                b.metadata.annotations.get("k8s.io/initial-events-end")
            ]),
            WatchEvent::Error(s) => json!(["ERROR", s.code, s.reason]),
        });
    }
    out
}

/// Waits until pod `ns/name` is Ready on this side.
pub async fn pod_ready(s: &Side<'_>, ns: &str, name: &str) {
    let pods: Api<Pod> = Api::namespaced(s.admin.clone(), ns);
    for _ in 0..300 {
        let ready = pods.get(name).await.ok().and_then(|p| p.status).is_some_and(|st| {
            st.conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
        if ready {
            return;
        }
        if let Peer::Sim(sim) = s.peer {
            sim.advance(Duration::from_secs(1));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{}: pod {ns}/{name} never Ready", s.name);
}

pub async fn pdb_computed(s: &Side<'_>, ns: &str, name: &str, healthy: i32) {
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(s.admin.clone(), ns);
    for _ in 0..300 {
        if let Ok(p) = pdbs.get(name).await
            && let Some(st) = &p.status
            && st.observed_generation == p.metadata.generation
            && st.current_healthy == healthy
        {
            return;
        }
        if let Peer::Sim(sim) = s.peer {
            sim.advance(Duration::from_secs(1));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{}: budget {ns}/{name} never saw {healthy} healthy pods", s.name);
}
