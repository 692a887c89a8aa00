//! The simulator held to the real thing, writes: evictions against budgets and their
//! Status bodies, server-side apply and merge patches, conflicts on stale
//! resourceVersions and preconditions, and the refusals clients see — each run
//! against upshift's simulator and against kube-apiserver (tests/realkube), compared
//! as in realkube_compare.rs, differences listed in docs/simulator.md.

mod realkube_support;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, EvictParams, Patch, PatchParams, PostParams, Preconditions};
use realkube_support::compare::{Peer, cm, gist, outcome, pdb_computed, pod_ready, same, sides, sim};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_refusals_and_their_status_bodies() {
    let sim = sim().await;
    let Some(sides) = sides("eviction_refusals_and_their_status_bodies", &sim, "cmp-evict").await else {
        return;
    };
    let ns = "cmp-evict";
    let mut seen = Vec::new();
    for s in &sides {
        let pods: Api<Pod> = Api::namespaced(s.admin.clone(), ns);
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(s.admin.clone(), ns);
        for (name, app) in [("solo", "solo"), ("pair", "pair"), ("free", "free")] {
            let pod = json!({
                "metadata": {"name": name, "labels": {"app": app}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": "app:1"}]},
            });
            pods.create(&PostParams::default(), &serde_json::from_value(pod).unwrap())
                .await
                .unwrap();
        }
        let pdb = |name: &str, app: &str, min: i32| {
            serde_json::from_value::<PodDisruptionBudget>(json!({
                "metadata": {"name": name},
                "spec": {"minAvailable": min, "selector": {"matchLabels": {"app": app}}},
            }))
            .unwrap()
        };
        // the pods Ready before the budgets exist: the disruption controller keeps
        // only one of a pod's two budgets current as the pod changes
        for pod in ["solo", "pair", "free"] {
            pod_ready(s, ns, pod).await;
        }
        for (name, app, min) in [
            ("solo", "solo", 1),
            ("pair-a", "pair", 0),
            ("pair-b", "pair", 0),
            ("free", "free", 0),
        ] {
            pdbs.create(&PostParams::default(), &pdb(name, app, min)).await.unwrap();
        }
        for name in ["solo", "pair-a", "pair-b", "free"] {
            pdb_computed(s, ns, name, 1).await;
        }
        let mut r = serde_json::Map::new();
        for pod in ["solo", "pair", "ghost", "free"] {
            let got = pods.evict(pod, &EvictParams::default()).await;
            r.insert(
                pod.into(),
                outcome(got, |st| json!({"status": st.status, "code": st.code})),
            );
        }
        let solo = pdbs.get("solo").await.unwrap().status.unwrap();
        r.insert(
            "solo's budget".into(),
            json!({"disruptionsAllowed": solo.disruptions_allowed, "currentHealthy": solo.current_healthy, "desiredHealthy": solo.desired_healthy, "expectedPods": solo.expected_pods}),
        );
        // the evicted pod is terminating, with the grace period it asked for
        let free = pods.get_opt("free").await.unwrap();
        r.insert(
            "free after eviction".into(),
            json!(free.map(|p| (
                p.metadata.deletion_timestamp.is_some(),
                p.metadata.deletion_grace_period_seconds
            ))),
        );
        seen.push((s.name, Value::Object(r)));
    }
    same("evictions against budgets", &seen);
}

fn managed(cm: &ConfigMap) -> Vec<Value> {
    let mut v: Vec<Value> = cm
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| {
            json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "fieldsType": m.fields_type,
                "fields": m.fields_v1.as_ref().map(|f| f.0.clone()),
                "subresource": m.subresource,
            })
        })
        .collect();
    v.sort_by_key(|m| m.to_string());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_and_merge_patches() {
    let sim = sim().await;
    let Some(sides) = sides("server_side_apply_and_merge_patches", &sim, "cmp-ssa").await else {
        return;
    };
    let mut seen = Vec::new();
    for s in &sides {
        let api: Api<ConfigMap> = Api::namespaced(s.admin.clone(), "cmp-ssa");
        let doc =
            |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": data});
        // compared: the objects' data; the simulator keeps no managedFields and
        // detects no apply conflicts (docs/simulator.md), checked on the real side below
        let view = |c: ConfigMap| json!(c.data);
        let mut r = serde_json::Map::new();
        let mut real = serde_json::Map::new();
        let got = api
            .patch(
                "ssa",
                &PatchParams::apply("alpha"),
                &Patch::Apply(doc(json!({"a": "1", "b": "2"}))),
            )
            .await;
        if let Ok(c) = &got {
            real.insert("1".into(), json!(managed(c)));
        }
        r.insert("1 alpha creates by applying".into(), outcome(got, view));
        let got = api
            .patch(
                "ssa",
                &PatchParams::apply("beta"),
                &Patch::Apply(doc(json!({"a": "9"}))),
            )
            .await;
        real.insert("2".into(), outcome(got, |_| json!(null)));
        let got = api
            .patch(
                "ssa",
                &PatchParams::apply("beta").force(),
                &Patch::Apply(doc(json!({"a": "9"}))),
            )
            .await;
        if let Ok(c) = &got {
            real.insert("3".into(), json!(managed(c)));
        }
        r.insert("3 beta forces".into(), outcome(got, view));
        let got = api
            .patch("ssa", &PatchParams::apply("alpha"), &Patch::Apply(doc(json!({}))))
            .await;
        real.insert("4".into(), outcome(got, view));
        // from here both sides start from the same data again
        api.patch(
            "ssa",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "9", "b": null}})),
        )
        .await
        .unwrap();
        let got = api
            .patch(
                "ssa",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"a": null, "c": "3"}})),
            )
            .await;
        r.insert("5 merge patch".into(), outcome(got, |c: ConfigMap| json!(c.data)));
        let got = api
            .patch(
                "ssa",
                &PatchParams::default(),
                &Patch::Strategic(json!({"metadata": {"labels": {"l": "x"}}})),
            )
            .await;
        r.insert(
            "6 strategic merge patch".into(),
            outcome(got, |c: ConfigMap| json!(c.metadata.labels)),
        );
        // (kube's own json_patch version, by inference)
        let jp = serde_json::from_value(json!([{"op": "test", "path": "/data/c", "value": "nope"}])).unwrap();
        let got = api.patch("ssa", &PatchParams::default(), &Patch::<()>::Json(jp)).await;
        r.insert(
            "7 a JSON patch whose test fails".into(),
            gist(outcome(got, |_| json!(null))),
        );
        let got = api
            .patch(
                "missing",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"a": "1"}})),
            )
            .await;
        r.insert(
            "8 merge patch of a missing object".into(),
            outcome(got, |_| json!(null)),
        );
        let got = api
            .patch(
                "ssa",
                &PatchParams::apply("gamma"),
                &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ssa"}})),
            )
            .await;
        r.insert(
            "9 apply with the wrong kind".into(),
            gist(outcome(got, |_| json!(null))),
        );
        if let Peer::Real(_) = s.peer {
            // the real thing: field managers own what they applied; a second manager
            // is refused a field another owns unless it forces; a manager that stops
            // applying a field it alone owned removes it
            let fields = |m: &Value, who: &str| {
                m.as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["manager"] == who)
                    .map(|e| e["fields"].clone())
            };
            assert_eq!(
                fields(&real["1"], "alpha"),
                Some(json!({"f:data": {"f:a": {}, "f:b": {}}}))
            );
            let conflict = &real["2"]["refused"];
            assert_eq!(conflict["code"], 409, "{conflict}");
            assert_eq!(
                conflict["message"],
                "Apply failed with 1 conflict: conflict with \"alpha\": .data.a"
            );
            assert_eq!(
                conflict["details"]["causes"],
                json!([{"reason": "FieldManagerConflict", "message": "conflict with \"alpha\"", "field": ".data.a"}])
            );
            assert_eq!(fields(&real["3"], "beta"), Some(json!({"f:data": {"f:a": {}}})));
            assert_eq!(fields(&real["3"], "alpha"), Some(json!({"f:data": {"f:b": {}}})));
            assert_eq!(real["4"], json!({"ok": {"a": "9"}}));
        }
        seen.push((s.name, Value::Object(r)));
    }
    same("server-side apply and merge patches", &seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_and_other_refusals() {
    let sim = sim().await;
    let Some(sides) = sides("conflicts_and_other_refusals", &sim, "cmp-conflict").await else {
        return;
    };
    let mut seen = Vec::new();
    for s in &sides {
        let api: Api<ConfigMap> = Api::namespaced(s.admin.clone(), "cmp-conflict");
        let mut r = serde_json::Map::new();
        let c1 = api
            .create(&PostParams::default(), &cm("c", json!({}), json!({"v": "1"})))
            .await
            .unwrap();
        let mut stale = c1.clone();
        api.patch("c", &PatchParams::default(), &Patch::Merge(json!({"data": {"v": "2"}})))
            .await
            .unwrap();
        stale.data = Some([("v".to_string(), "3".to_string())].into());
        let got = api.replace("c", &PostParams::default(), &stale).await;
        r.insert(
            "update with a stale resourceVersion".into(),
            outcome(got, |_| json!(null)),
        );
        let got = api.create(&PostParams::default(), &cm("c", json!({}), json!({}))).await;
        r.insert("create what exists".into(), outcome(got, |_| json!(null)));
        let got = api.get("nothing").await;
        r.insert("get what does not exist".into(), outcome(got, |_| json!(null)));
        let now_rv = api
            .get("c")
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap_or_default();
        let got = api
            .delete(
                "c",
                &DeleteParams {
                    preconditions: Some(Preconditions {
                        resource_version: Some("1".into()),
                        uid: None,
                    }),
                    ..Default::default()
                },
            )
            .await;
        let got = outcome(got, |_| json!(null))
            .to_string()
            .replace(&format!("({now_rv})"), "(RV)");
        r.insert(
            "delete with a stale precondition".into(),
            serde_json::from_str(&got).unwrap(),
        );
        let got = api
            .delete(
                "c",
                &DeleteParams {
                    preconditions: Some(Preconditions {
                        resource_version: None,
                        uid: Some("0b0b0b0b-0000-4000-8000-000000000000".into()),
                    }),
                    ..Default::default()
                },
            )
            .await;
        // the object's own UID differs on each side
        let uid = c1.metadata.uid.clone().unwrap_or_default();
        let got = serde_json::from_str(&outcome(got, |_| json!(null)).to_string().replace(&uid, "UID")).unwrap();
        r.insert("delete with another UID as precondition".into(), got);
        let mut unconditional = stale.clone();
        unconditional.metadata.resource_version = None;
        let got = api.replace("c", &PostParams::default(), &unconditional).await;
        r.insert(
            "update without a resourceVersion".into(),
            outcome(got, |c| json!(c.data)),
        );
        let got = api
            .create(&PostParams::default(), &cm("Bad_Name", json!({}), json!({})))
            .await;
        r.insert("create with an invalid name".into(), outcome(got, |_| json!(null)));
        let big = "x".repeat(1024 * 1024 + 1);
        let got = api
            .create(&PostParams::default(), &cm("big", json!({}), json!({"k": big})))
            .await;
        r.insert("create a ConfigMap over 1 MiB".into(), outcome(got, |_| json!(null)));
        // the read-only seat's write
        let viewer: Api<ConfigMap> = Api::namespaced(s.viewer.clone(), "cmp-conflict");
        let got = viewer
            .create(&PostParams::default(), &cm("v", json!({}), json!({})))
            .await;
        r.insert("the viewer creates".into(), outcome(got, |_| json!(null)));
        let got = Api::<Pod>::namespaced(s.viewer.clone(), "cmp-conflict")
            .evict("anything", &EvictParams::default())
            .await;
        r.insert("the viewer evicts".into(), outcome(got, |_| json!(null)));
        seen.push((s.name, Value::Object(r)));
    }
    same("conflicts and refusals", &seen);
}
