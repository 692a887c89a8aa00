//! The RBAC manifests in docs/rbac/ judged by the real authorizer: the viewer seat's
//! own commands (`upshift watch`, `upshift plan`) are allowed every request they
//! make, and every write the viewer seat tries is refused with 403; the lead may
//! create and apply the rollout ConfigMap and Lease by their names, and nothing else
//! in kube-system (the API server checks `create` with the name when a server-side
//! apply creates an object, as the manifests' comments say).

mod realkube_support;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, EvictParams, Patch, PatchParams, PostParams};
use realkube_support::{SHOP, get_or_skip, items, key, shop_settled};
use serde_json::json;

fn code(r: Result<impl Sized, kube::Error>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("not an API answer: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_seat_reads_what_it_needs_and_every_write_is_refused() {
    let Some(k) = get_or_skip("the_viewer_seat_reads_what_it_needs_and_every_write_is_refused") else {
        return;
    };
    k.apply(SHOP).await;
    shop_settled(k).await;

    // the viewer's commands: the cockpit and the plan, each allowed all it asks
    let next = format!("1.{}", k.minor() + 1);
    for args in [
        vec!["watch", "--headless", "--until-synced"],
        vec!["plan", "--target", next.as_str()],
    ] {
        let mut cmd = k.upshift(&format!("rbac-{}", args[0]));
        cmd.args(&args)
            .args(["--context", "viewer", "--kubeconfig"])
            .arg(&k.kubeconfig);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "upshift {args:?} as viewer:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let reads = k.audit_of("viewer");
    assert!(reads.len() > 6, "{reads:#?}");
    let refused: Vec<_> = reads.iter().filter(|a| a.refused()).collect();
    assert!(refused.is_empty(), "docs/rbac/upshift-viewer.yaml lacks: {refused:#?}");
    assert!(reads.iter().all(|a| !a.mutating()));

    // every write a cockpit could make, tried from the viewer's seat
    let viewer = k.client("viewer").await;
    let node = items(k, "nodes").await.iter().map(key).next().unwrap();
    let pod = items(k, "pods")
        .await
        .iter()
        .map(key)
        .find(|p| p.starts_with("shop/web-"))
        .unwrap();
    let (ns, pod_name) = pod.split_once('/').unwrap();
    let tries = [
        code(
            Api::<Node>::all(viewer.clone())
                .patch(
                    &node,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"unschedulable": true}})),
                )
                .await,
        ),
        code(
            Api::<Pod>::namespaced(viewer.clone(), ns)
                .evict(pod_name, &EvictParams::default())
                .await,
        ),
        code(
            Api::<Pod>::namespaced(viewer.clone(), ns)
                .delete(pod_name, &Default::default())
                .await,
        ),
        code(
            Api::<Lease>::namespaced(viewer.clone(), "kube-system")
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(json!({"metadata": {"name": "upshift-rollout"}})).unwrap(),
                )
                .await,
        ),
        code(
            Api::<ConfigMap>::namespaced(viewer.clone(), "kube-system")
                .patch(
                    "upshift-rollout",
                    &PatchParams::apply("upshift").force(),
                    &Patch::Apply(
                        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "upshift-rollout"}}),
                    ),
                )
                .await,
        ),
    ];
    assert_eq!(
        tries, [403; 5],
        "node patch, eviction, pod delete, lease create, ConfigMap apply"
    );
    // kubectl cordon (v1.37.2) prints the refusal but exits 0: its words are the test
    let out = k.kubectl("viewer", &["cordon", &node]).await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is forbidden: User \"viewer\" cannot patch resource \"nodes\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let writes: Vec<_> = k.audit_of("viewer").into_iter().filter(|a| a.mutating()).collect();
    assert_eq!(writes.len(), 6, "{writes:#?}");
    assert!(writes.iter().all(|a| a.code == 403), "{writes:#?}");
    // nothing changed
    let n = Api::<Node>::all(k.client("admin").await).get(&node).await.unwrap();
    assert_eq!(n.spec.and_then(|s| s.unschedulable), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_writes_its_two_objects_by_name_and_nothing_else_in_kube_system() {
    let Some(k) = get_or_skip("the_lead_writes_its_two_objects_by_name_and_nothing_else_in_kube_system") else {
        return;
    };
    let lead = k.client("lead").await;
    let cms = Api::<ConfigMap>::namespaced(lead.clone(), "kube-system");
    let apply =
        |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}});
    let pp = PatchParams::apply("upshift").force();
    // the rollout ConfigMap is created by the apply itself
    assert_eq!(
        code(
            cms.patch("upshift-rollout", &pp, &Patch::Apply(apply("upshift-rollout")))
                .await
        ),
        200
    );
    // any other name is refused: creating through a PATCH is authorized as create of that name
    assert_eq!(
        code(cms.patch("aws-auth", &pp, &Patch::Apply(apply("aws-auth"))).await),
        403
    );
    assert_eq!(
        code(
            cms.create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap()
            )
            .await
        ),
        403
    );
    // a Lease of any name can be created (a POST is authorized before the name is
    // known), but only upshift-rollout can be read, renewed or deleted
    let leases = Api::<Lease>::namespaced(lead.clone(), "kube-system");
    let lease = |name: &str| serde_json::from_value::<Lease>(json!({"metadata": {"name": name}})).unwrap();
    assert_eq!(
        code(leases.create(&PostParams::default(), &lease("upshift-rollout")).await),
        200
    );
    assert_eq!(code(leases.get("upshift-rollout").await), 200);
    assert_eq!(
        code(leases.create(&PostParams::default(), &lease("elsewhere")).await),
        200
    );
    assert_eq!(code(leases.get("elsewhere").await), 403);
    assert_eq!(code(leases.delete("elsewhere", &Default::default()).await), 403);
    assert_eq!(code(leases.delete("upshift-rollout", &Default::default()).await), 200);
    // elsewhere the lead lists ConfigMaps (the research role, for Helm records) but
    // neither reads one by name nor writes any
    let default = Api::<ConfigMap>::namespaced(lead.clone(), "default");
    assert_eq!(code(default.list(&Default::default()).await), 200);
    assert_eq!(code(default.get("kube-root-ca.crt").await), 403);
    let audit = k.audit_of("lead");
    let refused: Vec<(String, String, u16)> = audit
        .iter()
        .filter(|a| a.code == 403)
        .map(|a| (a.verb.clone(), a.name.clone(), a.code))
        .collect();
    assert_eq!(refused.len(), 5, "{refused:?}");
}
