//! upshift's cloud client making, reconfiguring and deleting EKS managed node groups
//! against the simulator: `describe_nodegroup` gives what a copy needs, the copy is
//! created with it, `update_nodegroup_config` changes `updateConfig` and scaling, and
//! `delete_nodegroup` drains and removes a group; AWS's errors arrive typed.

mod common;

use std::time::Duration;

use upshift::cloud::{
    AwsCloud, Cloud, CloudError, CloudRead, MaxUnavailable, NewNodegroup, NodegroupChange, TaintInfo, UpdateScope,
};
use upshift::sim::Simulator;

const CLUSTER: &str = "demo";

/// Advances virtual time by `step` until `check` holds, or fails after `tries`.
async fn until<F, Fut>(sim: &Simulator, step: Duration, tries: usize, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..tries {
        if check().await {
            return;
        }
        sim.advance(step);
        tokio::task::yield_now().await;
    }
    panic!("gave up waiting for: {what}");
}

async fn status(c: &AwsCloud, ng: &str) -> String {
    match c.describe_nodegroup(CLUSTER, ng).await {
        Ok(n) => n.status,
        Err(CloudError::NotFound { .. }) => "gone".into(),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn a_copy_of_a_managed_group_is_created_reconfigured_and_deleted() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;

    // what a copy needs, as EKS describes the group
    let apps = c.describe_nodegroup(CLUSTER, "apps").await.unwrap();
    let cfg = &apps.config;
    assert_eq!(apps.labels.get("role").map(String::as_str), Some("apps"));
    assert!(!cfg.subnets.is_empty(), "{cfg:?}");
    assert!(
        cfg.node_role.as_deref().is_some_and(|r| r.starts_with("arn:aws:iam::")),
        "{cfg:?}"
    );
    assert_eq!(cfg.ami_type.as_deref(), Some("AL2023_x86_64_STANDARD"));
    assert_eq!(cfg.capacity_type.as_deref(), Some("ON_DEMAND"));
    assert_eq!(cfg.update_config, Some(MaxUnavailable::Count(1)));
    assert_eq!(apps.instance_types, ["m5.xlarge"]);

    let mut config = cfg.clone();
    config.taints.push(TaintInfo {
        key: "dedicated".into(),
        value: Some("apps".into()),
        effect: "NO_SCHEDULE".into(),
    });
    config.update_config = Some(MaxUnavailable::Percentage(50));
    let copy = NewNodegroup {
        name: "apps-copy".into(),
        version: Some("1.34".into()),
        min: 1,
        max: 4,
        desired: 2,
        instance_types: apps.instance_types.clone(),
        labels: apps.labels.clone(),
        config,
    };
    let made = c.create_nodegroup(CLUSTER, &copy).await.unwrap();
    assert_eq!((made.name.as_str(), made.status.as_str()), ("apps-copy", "CREATING"));
    let err = c.create_nodegroup(CLUSTER, &copy).await.unwrap_err();
    assert!(matches!(err, CloudError::InUse { .. }), "{err:?}");
    until(&sim, Duration::from_secs(15), 40, "the copy to be ACTIVE", || async {
        status(&c, "apps-copy").await == "ACTIVE"
    })
    .await;
    let got = c.describe_nodegroup(CLUSTER, "apps-copy").await.unwrap();
    assert_eq!(got.version, "1.34");
    assert_eq!((got.min, got.max, got.desired), (1, 4, 2));
    assert_eq!(got.labels, apps.labels);
    assert_eq!(got.config.subnets, cfg.subnets);
    assert_eq!(got.config.taints, copy.config.taints);
    assert_eq!(got.config.update_config, Some(MaxUnavailable::Percentage(50)));
    assert_eq!(
        common::Inspect::nodes_labelled(&sim, "eks.amazonaws.com/nodegroup", "apps-copy").len(),
        2
    );

    // updateConfig and scaling through UpdateNodegroupConfig
    let change = NodegroupChange {
        scaling: Some((1, 4, 3)),
        update_config: Some(MaxUnavailable::Count(2)),
    };
    let u = c.update_nodegroup_config(CLUSTER, "apps-copy", &change).await.unwrap();
    assert_eq!(u.kind, "ConfigUpdate");
    assert_eq!(u.param("MaxUnavailable"), Some("2"));
    let scope = UpdateScope::Nodegroup("apps-copy".into());
    until(&sim, Duration::from_secs(15), 10, "the config update", || async {
        c.describe_update(CLUSTER, &u.id, &scope).await.unwrap().succeeded()
    })
    .await;
    let got = c.describe_nodegroup(CLUSTER, "apps-copy").await.unwrap();
    assert_eq!(got.config.update_config, Some(MaxUnavailable::Count(2)));
    assert_eq!(got.desired, 3);
    let bad = NodegroupChange {
        scaling: None,
        update_config: Some(MaxUnavailable::Count(0)),
    };
    let err = c.update_nodegroup_config(CLUSTER, "apps-copy", &bad).await.unwrap_err();
    assert!(matches!(err, CloudError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("maxUnavailable"), "{err}");

    // deleted: DELETING, then gone
    let gone = c.delete_nodegroup(CLUSTER, "apps-copy").await.unwrap();
    assert_eq!(gone.name, "apps-copy");
    assert_eq!(status(&c, "apps-copy").await, "DELETING");
    let err = c.delete_nodegroup(CLUSTER, "apps-copy").await.unwrap_err();
    assert!(matches!(err, CloudError::InUse { .. }), "{err:?}");
    until(&sim, Duration::from_secs(30), 40, "the copy to be deleted", || async {
        status(&c, "apps-copy").await == "gone"
    })
    .await;
    let err = c.delete_nodegroup(CLUSTER, "apps-copy").await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");
    let err = c
        .update_nodegroup_config(CLUSTER, "apps-copy", &change)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");
    let mut names = c.list_nodegroups(CLUSTER).await.unwrap();
    names.sort();
    assert_eq!(names, ["apps", "system"]);
    // a group without a node role is refused, naming the field
    let mut no_role = copy.clone();
    no_role.name = "apps-norole".into();
    no_role.config.node_role = None;
    let err = c.create_nodegroup(CLUSTER, &no_role).await.unwrap_err();
    assert!(err.to_string().contains("nodeRole"), "{err}");
}
