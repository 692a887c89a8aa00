//! Actions in doubt (journaled, then the process killed before their answer was)
//! are resolved from the real state when a drive starts: each gets a result entry,
//! "resolved on resume: …", done when its effect is there and not done when it is
//! not, and the steps then take none of them twice.

mod common;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use upshift::cloud::Cloud;
use upshift::model::journal::{StepId, What};
use upshift::rollout::plan::Step;
use upshift::rollout::steps::doubt::{self, RESOLVED};

use common::steps::{Rig, WHO};

fn journal_action(rig: &mut Rig, step: StepId, action: &str, target: &str) {
    let at = rig.now();
    let what = What::Action {
        step,
        action: action.into(),
        target: target.into(),
    };
    rig.journal.append(WHO, at, what).expect("the action is journaled");
}

/// The result journaled for (action, target): (ok, detail).
fn result_of(rig: &Rig, action: &str, target: &str) -> (bool, String) {
    rig.journal
        .entries()
        .iter()
        .find_map(|e| match &e.what {
            What::Result {
                action: a,
                target: t,
                ok,
                detail,
                ..
            } if a == action && t == target => Some((*ok, detail.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no result for {action} {target}: {:?}", rig.journal.entries()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_action_in_doubt_gets_the_result_the_real_state_shows() {
    let mut rig = Rig::new(common::start("demo").await).await;
    let client = rig.client.clone();
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default().labels("role=batch"))
        .await
        .unwrap();
    let cordoned = nodes.items[0].metadata.name.clone().unwrap();
    let left_alone = nodes.items[1].metadata.name.clone().unwrap();
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={left_alone}")))
        .await
        .unwrap();
    let pod = pods
        .items
        .iter()
        .find(|p| p.metadata.namespace.as_deref() != Some("kube-system"))
        .expect("a workload pod on the node");
    let pod_key = format!(
        "{}/{}",
        pod.metadata.namespace.clone().unwrap(),
        pod.metadata.name.clone().unwrap()
    );

    // sent, answer lost: the control plane update and a cordon
    journal_action(&mut rig, StepId::ControlPlane, "update-cluster-version", "1.35");
    rig.cloud.update_cluster_version("demo", "1.35").await.unwrap();
    let batch = StepId::Nodegroup("batch".into());
    journal_action(&mut rig, batch.clone(), "cordon", &cordoned);
    Api::<Node>::all(client.clone())
        .patch(
            &cordoned,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    // killed before sending: an add-on update, a node group update, a cordon, an eviction
    journal_action(
        &mut rig,
        StepId::Addon("coredns".into()),
        "update-addon",
        "v9.9.9-eksbuild.1",
    );
    journal_action(
        &mut rig,
        StepId::Nodegroup("apps".into()),
        "update-nodegroup-version",
        "1.35",
    );
    journal_action(&mut rig, batch.clone(), "cordon", &left_alone);
    journal_action(&mut rig, batch.clone(), "evict", &pod_key);
    rig.reopen();
    assert_eq!(rig.journal.in_doubt().len(), 6);

    let lines = doubt::resolve(&mut rig.step_ctx()).await.unwrap();
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert!(rig.journal.in_doubt().is_empty(), "{:?}", rig.journal.in_doubt());
    let expect = [
        ("update-cluster-version", "1.35", true, "InProgress"),
        ("cordon", cordoned.as_str(), true, "cordoned"),
        (
            "update-addon",
            "v9.9.9-eksbuild.1",
            false,
            "no update to v9.9.9-eksbuild.1",
        ),
        ("update-nodegroup-version", "1.35", false, "no update to 1.35"),
        ("cordon", left_alone.as_str(), false, "still schedulable"),
        ("evict", pod_key.as_str(), false, "still runs on node"),
    ];
    for (action, target, ok, says) in expect {
        let (got, detail) = result_of(&rig, action, target);
        assert_eq!(got, ok, "{action} {target}: {detail}");
        assert!(detail.starts_with(RESOLVED), "{detail}");
        assert!(detail.contains(says), "{action} {target}: {detail}");
    }

    // the control plane step follows the update it finds instead of sending another
    let (p, _) = rig.call(&Step::ControlPlane).await;
    assert!(!p.unwrap().is_done());
    assert_eq!(common::cloud::count(&rig.sim, "UpdateClusterVersion"), 1);
    // and a second start finds nothing left to resolve
    rig.reopen();
    let before = rig.journal.entries().len();
    assert!(doubt::resolve(&mut rig.step_ctx()).await.unwrap().is_empty());
    assert_eq!(rig.journal.entries().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eviction_that_went_through_and_a_pod_gone_are_done() {
    let mut rig = Rig::new(common::start("demo").await).await;
    let client = rig.client.clone();
    let node = Api::<Node>::all(client.clone())
        .list(&ListParams::default().labels("role=batch"))
        .await
        .unwrap()
        .items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .unwrap();
    let pod = pods
        .items
        .iter()
        .find(|p| p.metadata.namespace.as_deref() != Some("kube-system"))
        .expect("a workload pod on the node")
        .clone();
    let ns = pod.metadata.namespace.clone().unwrap();
    let name = pod.metadata.name.clone().unwrap();
    let key = format!("{ns}/{name}");
    let batch = StepId::Nodegroup("batch".into());
    journal_action(&mut rig, batch.clone(), "evict", &key);
    Api::<Pod>::namespaced(client.clone(), &ns)
        .evict(&name, &Default::default())
        .await
        .unwrap();
    journal_action(&mut rig, batch.clone(), "delete-pod", "default/no-such-pod");
    rig.reopen();
    doubt::resolve(&mut rig.step_ctx()).await.unwrap();
    assert!(rig.journal.in_doubt().is_empty());
    let (ok, detail) = result_of(&rig, "evict", &key);
    assert!(ok, "{detail}");
    let (ok, detail) = result_of(&rig, "delete-pod", "default/no-such-pod");
    assert!(ok && detail.contains("gone"), "{detail}");
}
