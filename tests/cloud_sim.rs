//! upshift's cloud client (the AWS SDKs behind `upshift::cloud`) against the
//! simulator's AWS endpoint: every operation, its effect on the simulated cluster,
//! and AWS's errors as the SDKs parse them.

mod common;

use std::time::Duration;

use upshift::cloud::{
    AwsCloud, Cloud, CloudError, CloudRead, MetricQuery, RefreshPrefs, ResolveConflicts, UpdateScope,
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

fn minute() -> Duration {
    Duration::from_secs(60)
}

async fn upgrade_control_plane(sim: &Simulator, c: &AwsCloud) {
    let u = c.update_cluster_version(CLUSTER, "1.35").await.unwrap();
    until(sim, minute(), 40, "the control plane update", || async {
        c.describe_update(CLUSTER, &u.id, &UpdateScope::Cluster)
            .await
            .unwrap()
            .succeeded()
    })
    .await;
}

#[tokio::test]
async fn the_control_plane_updates_one_minor_at_a_time_in_virtual_minutes() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let info = c.describe_cluster(CLUSTER).await.unwrap();
    assert_eq!(info.version, "1.34");
    assert_eq!(info.status, "ACTIVE");
    assert_eq!(
        info.endpoint,
        sim.url(),
        "the cluster's endpoint is the simulated API server"
    );

    // a missing cluster names the region searched
    let err = c.describe_cluster("nope").await.unwrap_err();
    assert!(matches!(err, CloudError::ClusterNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("eu-west-1"), "{err}");

    // two minors ahead is InvalidParameterException
    let err = c.update_cluster_version(CLUSTER, "1.36").await.unwrap_err();
    assert!(
        matches!(&err, CloudError::Invalid { code, .. } if code == "InvalidParameterException"),
        "{err:?}"
    );

    let u = c.update_cluster_version(CLUSTER, "1.35").await.unwrap();
    assert!(u.in_progress());
    assert_eq!(u.kind, "VersionUpdate");
    assert_eq!(u.param("Version"), Some("1.35"));
    assert_eq!(c.describe_cluster(CLUSTER).await.unwrap().status, "UPDATING");

    // a second update while one runs is ResourceInUseException
    let err = c.update_cluster_version(CLUSTER, "1.35").await.unwrap_err();
    assert!(matches!(err, CloudError::InUse { .. }), "{err:?}");

    assert_eq!(
        c.list_updates(CLUSTER, &UpdateScope::Cluster).await.unwrap(),
        vec![u.id.clone()]
    );
    sim.advance(Duration::from_secs(5 * 60));
    let still = c.describe_update(CLUSTER, &u.id, &UpdateScope::Cluster).await.unwrap();
    assert!(still.in_progress(), "five virtual minutes are not enough");

    let kube = sim.client("viewer").await.unwrap();
    assert!(kube.apiserver_version().await.unwrap().git_version.starts_with("v1.34"));
    sim.advance(Duration::from_secs(10 * 60));
    let done = c.describe_update(CLUSTER, &u.id, &UpdateScope::Cluster).await.unwrap();
    assert!(done.succeeded(), "{done:?}");
    let info = c.describe_cluster(CLUSTER).await.unwrap();
    assert_eq!((info.version.as_str(), info.status.as_str()), ("1.35", "ACTIVE"));
    assert!(kube.apiserver_version().await.unwrap().git_version.starts_with("v1.35"));

    // an unknown update id
    let err = c
        .describe_update(CLUSTER, "00000000-0000-0000-0000-000000000000", &UpdateScope::Cluster)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn add_on_updates_roll_their_workloads_to_a_compatible_version() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let mut names = c.list_addons(CLUSTER).await.unwrap();
    names.sort();
    assert_eq!(names, ["coredns", "kube-proxy", "vpc-cni"]);
    let kp = c.describe_addon(CLUSTER, "kube-proxy").await.unwrap();
    assert_eq!(
        (kp.version.as_str(), kp.status.as_str()),
        ("v1.34.6-eksbuild.13", "ACTIVE")
    );

    let v35 = c.addon_versions("kube-proxy", "1.35").await.unwrap();
    assert_eq!(v35.default.as_deref(), Some("v1.35.3-eksbuild.13"));
    let cni = c.addon_versions("vpc-cni", "1.34").await.unwrap();
    assert!(cni.versions.contains(&"v1.21.1-eksbuild.3".to_string()), "{cni:?}");
    assert_eq!(cni.default.as_deref(), Some("v1.20.4-eksbuild.1"));

    // kube-proxy for 1.35 does not run on a 1.34 control plane
    let err = c
        .update_addon(CLUSTER, "kube-proxy", "v1.35.3-eksbuild.13", None)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Invalid { .. }), "{err:?}");
    let err = c.describe_addon(CLUSTER, "metrics-server").await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");

    let u = c
        .update_addon(
            CLUSTER,
            "vpc-cni",
            "v1.21.1-eksbuild.3",
            Some(ResolveConflicts::Overwrite),
        )
        .await
        .unwrap();
    assert_eq!(u.kind, "AddonUpdate");
    assert_eq!(c.describe_addon(CLUSTER, "vpc-cni").await.unwrap().status, "UPDATING");
    let err = c
        .update_addon(CLUSTER, "vpc-cni", "v1.21.1-eksbuild.3", None)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::InUse { .. }), "{err:?}");
    let scope = UpdateScope::Addon("vpc-cni".into());
    assert_eq!(c.list_updates(CLUSTER, &scope).await.unwrap(), vec![u.id.clone()]);
    until(&sim, Duration::from_secs(10), 200, "the aws-node rollout", || async {
        c.describe_update(CLUSTER, &u.id, &scope).await.unwrap().succeeded()
    })
    .await;
    let w = sim.world();
    let w = w.lock();
    let ds = w.daemonsets.get("kube-system/aws-node").unwrap();
    let image = ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap();
    assert!(image.ends_with("amazon-k8s-cni:v1.21.1-eksbuild.3"), "{image}");
    let on_new = w
        .pods
        .in_namespace("kube-system")
        .filter(|(k, _)| k.starts_with("kube-system/aws-node-"))
        .all(|(_, p)| {
            p.spec.as_ref().unwrap().containers[0]
                .image
                .as_deref()
                .unwrap()
                .ends_with("v1.21.1-eksbuild.3")
        });
    assert!(on_new, "every aws-node pod runs the new image");
}

#[tokio::test]
async fn a_forced_managed_node_group_update_surges_drains_and_replaces_every_node() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let mut groups = c.list_nodegroups(CLUSTER).await.unwrap();
    groups.sort();
    assert_eq!(
        groups,
        ["apps", "system"],
        "the self-managed group is not an EKS node group"
    );
    let ng = c.describe_nodegroup(CLUSTER, "system").await.unwrap();
    assert_eq!(
        (ng.version.as_str(), ng.status.as_str(), ng.desired),
        ("1.34", "ACTIVE", 3)
    );
    assert_eq!(ng.auto_scaling_groups.len(), 1);
    let err = c.describe_nodegroup(CLUSTER, "batch").await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");

    // not newer than the control plane
    let err = c
        .update_nodegroup_version(CLUSTER, "system", Some("1.35"), false)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Invalid { .. }), "{err:?}");
    upgrade_control_plane(&sim, &c).await;

    // forced: the ledger's budget (minAvailable 2 of 2) would block the drain
    let u = c.update_nodegroup_version(CLUSTER, "system", None, true).await.unwrap();
    assert_eq!(u.param("Version"), Some("1.35"));
    assert_eq!(
        c.describe_nodegroup(CLUSTER, "system").await.unwrap().status,
        "UPDATING"
    );
    let err = c
        .update_nodegroup_version(CLUSTER, "system", None, false)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::InUse { .. }), "{err:?}");
    let scope = UpdateScope::Nodegroup("system".into());
    until(
        &sim,
        Duration::from_secs(15),
        400,
        "the system node group update",
        || async {
            let u = c.describe_update(CLUSTER, &u.id, &scope).await.unwrap();
            assert!(!u.errors.iter().any(|e| !e.code.is_empty()), "{u:?}");
            u.succeeded()
        },
    )
    .await;
    let ng = c.describe_nodegroup(CLUSTER, "system").await.unwrap();
    assert_eq!((ng.version.as_str(), ng.status.as_str()), ("1.35", "ACTIVE"));
    // the surge is gone again and every node left runs the new kubelet
    until(&sim, Duration::from_secs(15), 20, "the surge nodes to go", || async {
        let nodes = common::Inspect::nodes_labelled(&sim, "eks.amazonaws.com/nodegroup", "system");
        nodes.len() == 3
            && nodes.iter().all(|n| {
                n.status
                    .as_ref()
                    .unwrap()
                    .node_info
                    .as_ref()
                    .unwrap()
                    .kubelet_version
                    .starts_with("v1.35")
            })
    })
    .await;
}

#[tokio::test]
async fn a_drain_blocked_by_a_budget_fails_with_pod_eviction_failure_after_15_minutes() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    upgrade_control_plane(&sim, &c).await;
    // payments/ledger runs 2 pods under a minAvailable: 2 budget, on the apps group
    let u = c.update_nodegroup_version(CLUSTER, "apps", None, false).await.unwrap();
    let scope = UpdateScope::Nodegroup("apps".into());
    until(
        &sim,
        Duration::from_secs(30),
        400,
        "the apps update to fail",
        || async {
            let now = c.describe_update(CLUSTER, &u.id, &scope).await.unwrap();
            assert_ne!(now.status, "Successful", "{now:?}");
            now.status == "Failed"
        },
    )
    .await;
    let last = c.describe_update(CLUSTER, &u.id, &scope).await.unwrap();
    assert_eq!(last.errors.len(), 1, "{last:?}");
    assert_eq!(last.errors[0].code, "PodEvictionFailure");
    assert!(last.errors[0].message.contains("apps"), "{last:?}");
    let ng = c.describe_nodegroup(CLUSTER, "apps").await.unwrap();
    assert_eq!((ng.version.as_str(), ng.status.as_str()), ("1.34", "ACTIVE"));
}

#[tokio::test]
async fn instance_refreshes_respect_min_healthy_and_stop_at_checkpoints() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let all = c.describe_groups(&[]).await.unwrap();
    assert_eq!(all.len(), 3);
    let batch = c.describe_groups(&["batch".to_string()]).await.unwrap();
    let g = &batch[0];
    assert_eq!((g.name.as_str(), g.desired, g.instances.len()), ("batch", 3, 3));
    assert!(g.instances.iter().all(|i| i.lifecycle_state == "InService"));
    assert_eq!(
        g.tags.get("alpha.eksctl.io/nodegroup-name").map(String::as_str),
        Some("batch")
    );

    let err = c.cancel_instance_refresh("batch").await.unwrap_err();
    assert!(
        matches!(&err, CloudError::Invalid { code, .. } if code == "ActiveInstanceRefreshNotFound"),
        "{err:?}"
    );
    let err = c
        .start_instance_refresh("nope", &RefreshPrefs::default())
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Invalid { .. }), "{err:?}");

    upgrade_control_plane(&sim, &c).await;
    let prefs = RefreshPrefs {
        min_healthy_percentage: Some(66),
        instance_warmup: Some(30),
        checkpoint_percentages: vec![33, 100],
        checkpoint_delay: Some(600),
        ..Default::default()
    };
    let id = c.start_instance_refresh("batch", &prefs).await.unwrap();
    let err = c.start_instance_refresh("batch", &prefs).await.unwrap_err();
    assert!(matches!(err, CloudError::InUse { .. }), "{err:?}");
    // one instance at a time (66% of 3 must stay healthy), then the 33% checkpoint
    until(&sim, Duration::from_secs(10), 100, "the first checkpoint", || async {
        let r = &c.describe_instance_refreshes("batch").await.unwrap()[0];
        assert_eq!(r.id, id);
        r.status_reason.as_deref().unwrap_or_default().contains("Checkpoint")
    })
    .await;
    let r = &c.describe_instance_refreshes("batch").await.unwrap()[0];
    assert_eq!(
        (r.status.as_str(), r.percentage_complete, r.instances_to_update),
        ("InProgress", 33, 2)
    );
    sim.advance(Duration::from_secs(300));
    let r = &c.describe_instance_refreshes("batch").await.unwrap()[0];
    assert_eq!(r.percentage_complete, 33, "still waiting at the checkpoint: {r:?}");
    until(&sim, Duration::from_secs(10), 300, "the refresh to finish", || async {
        c.describe_instance_refreshes("batch").await.unwrap()[0].status == "Successful"
    })
    .await;
    let g = &c.describe_groups(&["batch".to_string()]).await.unwrap()[0];
    let in_service: Vec<_> = g
        .instances
        .iter()
        .filter(|i| i.lifecycle_state == "InService")
        .collect();
    assert_eq!(in_service.len(), 3);
    assert!(
        in_service
            .iter()
            .all(|i| i.launch_template_version.as_deref() == Some("35")),
        "{g:?}"
    );

    // a refresh can be cancelled
    c.start_instance_refresh("batch", &RefreshPrefs::default())
        .await
        .unwrap();
    c.cancel_instance_refresh("batch").await.unwrap();
    until(&sim, Duration::from_secs(10), 100, "the cancel", || async {
        c.describe_instance_refreshes("batch").await.unwrap()[0].status == "Cancelled"
    })
    .await;
}

#[tokio::test]
async fn instances_terminate_and_groups_take_protection_tags_and_record_activities() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let names = vec!["batch".to_string()];
    let g = &c.describe_groups(&names).await.unwrap()[0];
    let ids: Vec<String> = g.instances.iter().map(|i| i.id.clone()).collect();

    c.set_instance_protection("batch", &ids[..1], true).await.unwrap();
    let g = &c.describe_groups(&names).await.unwrap()[0];
    assert!(
        g.instances
            .iter()
            .find(|i| i.id == ids[0])
            .unwrap()
            .protected_from_scale_in
    );
    let err = c
        .set_instance_protection("batch", &["i-0000000000000000".to_string()], true)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Invalid { .. }), "{err:?}");

    c.tag_group("batch", &[("upshift/rollout".into(), "demo-1.35".into())])
        .await
        .unwrap();
    let g = &c.describe_groups(&names).await.unwrap()[0];
    assert_eq!(g.tags.get("upshift/rollout").map(String::as_str), Some("demo-1.35"));
    c.untag_group("batch", &["upshift/rollout".to_string()]).await.unwrap();
    let g = &c.describe_groups(&names).await.unwrap()[0];
    assert!(!g.tags.contains_key("upshift/rollout"));

    let a = c.terminate_instance(&ids[1], false).await.unwrap();
    assert_eq!(a.group, "batch");
    assert!(a.description.contains(&ids[1]), "{a:?}");
    let g = &c.describe_groups(&names).await.unwrap()[0];
    let state = |g: &upshift::cloud::GroupInfo, id: &str| {
        g.instances
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.lifecycle_state.clone())
    };
    assert_eq!(state(g, &ids[1]).as_deref(), Some("Terminating"));
    assert_eq!(g.desired, 3);
    until(&sim, Duration::from_secs(10), 60, "the replacement", || async {
        let g = &c.describe_groups(&names).await.unwrap()[0];
        state(g, &ids[1]).is_none() && g.instances.iter().filter(|i| i.lifecycle_state == "InService").count() == 3
    })
    .await;
    // shrinking below the group's minimum is refused, as AWS does
    let err = c.terminate_instance(&ids[2], true).await.unwrap_err();
    assert!(err.to_string().contains("min size"), "{err}");
    assert_eq!(c.describe_groups(&names).await.unwrap()[0].desired, 3);
    c.terminate_instance(&ids[2], false).await.unwrap();
    let acts = c.scaling_activities("batch", 10).await.unwrap();
    assert_eq!(acts.len(), 2);
    assert!(acts[0].description.contains(&ids[2]), "newest first: {acts:?}");
    let err = c.terminate_instance("i-0000000000000000", false).await.unwrap_err();
    assert!(matches!(err, CloudError::Invalid { .. }), "{err:?}");
}

#[tokio::test]
async fn metrics_follow_the_cluster_and_alarms_fire_when_a_service_has_no_ready_pods() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    sim.advance(Duration::from_secs(5 * 60));
    let asg = c.describe_nodegroup(CLUSTER, "apps").await.unwrap().auto_scaling_groups[0].clone();
    let q = |id: &str, ns: &str, metric: &str, dims: &[(&str, &str)], stat: &str| MetricQuery {
        id: id.into(),
        namespace: ns.into(),
        metric: metric.into(),
        dimensions: dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        stat: stat.into(),
        period: 60,
    };
    let queries = vec![
        q(
            "inservice",
            "AWS/AutoScaling",
            "GroupInServiceInstances",
            &[("AutoScalingGroupName", &asg)],
            "Minimum",
        ),
        q(
            "nodes",
            "ContainerInsights",
            "cluster_node_count",
            &[("ClusterName", CLUSTER)],
            "Maximum",
        ),
        q(
            "pods",
            "ContainerInsights",
            "cluster_number_of_running_pods",
            &[("ClusterName", CLUSTER)],
            "Maximum",
        ),
    ];
    let now = jiff::Timestamp::from_second(common::Inspect::now(&sim).as_second() + 1).unwrap();
    let start = now - jiff::SignedDuration::from_hours(1);
    let series = c.metric_data(&queries, start, now).await.unwrap();
    assert_eq!(series.len(), 3);
    assert!(series[0].points.len() >= 5, "{:?}", series[0]);
    assert!(series[0].points.iter().all(|(_, v)| *v == 6.0), "{:?}", series[0]);
    assert!(series[1].points.iter().all(|(_, v)| *v == 12.0), "{:?}", series[1]);
    assert!(series[2].points.last().unwrap().1 > 100.0, "{:?}", series[2]);
    assert!(series[0].points.windows(2).all(|w| w[0].0 < w[1].0), "oldest first");

    // a custom metric goes in and comes back
    let custom = q("errs", "Upshift/Rollout", "PodErrors", &[("Cluster", CLUSTER)], "Sum");
    c.put_metric(&custom, 7.0).await.unwrap();
    let now = jiff::Timestamp::from_second(common::Inspect::now(&sim).as_second() + 60).unwrap();
    let got = c.metric_data(std::slice::from_ref(&custom), start, now).await.unwrap();
    assert_eq!(got[0].points.iter().map(|(_, v)| *v).sum::<f64>(), 7.0, "{got:?}");

    let alarms = c.describe_alarms(Some("shop-cart")).await.unwrap();
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0].state, "OK", "{alarms:?}");
    // shop/cart is recreated onto an image that never pulls: no pod is ready
    {
        let w = sim.world();
        let mut w = w.lock();
        let mut d = (**w.deployments.get("shop/cart").unwrap()).clone();
        let spec = d.spec.as_mut().unwrap();
        spec.strategy = Some(k8s_openapi::api::apps::v1::DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        spec.template
            .metadata
            .get_or_insert_with(Default::default)
            .annotations
            .get_or_insert_with(Default::default)
            .insert("sim.upshift.dev/fault".into(), "ImagePullBackOff".into());
        d.metadata.generation = Some(d.metadata.generation.unwrap_or(1) + 1);
        w.put(d);
        w.reconcile();
    }
    until(&sim, minute(), 10, "the cart alarm", || async {
        c.describe_alarms(Some("shop-cart")).await.unwrap()[0].state == "ALARM"
    })
    .await;
    let others = c.describe_alarms(Some("shop-web")).await.unwrap();
    assert_eq!(others[0].state, "OK", "{others:?}");
    let tg = c.describe_alarms(Some("shop-cart")).await.unwrap().remove(0);
    assert_eq!(tg.metric, "HTTPCode_Target_5XX_Count");
    assert!(c.describe_alarms(None).await.unwrap().len() > 10);
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_and_reported_when_it_persists() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    sim.throttle_aws(2);
    assert_eq!(c.describe_cluster(CLUSTER).await.unwrap().version, "1.34");
    assert_eq!(
        sim.aws_request_counts()["DescribeCluster"],
        3,
        "two throttled, one served"
    );
    sim.throttle_aws(1);
    assert_eq!(
        c.describe_groups(&[]).await.unwrap().len(),
        3,
        "Auto Scaling retries too"
    );
    sim.throttle_aws(1);
    assert!(c.describe_alarms(None).await.is_ok(), "CloudWatch retries too");

    sim.throttle_aws(100);
    let err = c.list_nodegroups(CLUSTER).await.unwrap_err();
    assert!(matches!(err, CloudError::Throttled { .. }), "{err:?}");
    assert!(err.is_transient());
    let err = c.describe_instance_refreshes("batch").await.unwrap_err();
    assert!(matches!(err, CloudError::Throttled { .. }), "{err:?}");
    sim.throttle_aws(0);
}

#[tokio::test]
async fn upgrade_insights_name_what_blocks_the_next_minor() {
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let list = c.list_insights(CLUSTER).await.unwrap();
    assert_eq!(list.len(), 3);
    assert!(
        list.iter()
            .all(|i| i.kubernetes_version == "1.35" && i.category == "UPGRADE_READINESS")
    );
    let addons = list.iter().find(|i| i.name.contains("add-on")).unwrap();
    // kube-proxy v1.34 runs on a 1.35 control plane (three minors of skew allowed) and
    // CoreDNS moves after it: as in EKS, nothing blocks the upgrade
    assert_eq!(addons.status, "PASSING");
    let detail = c.describe_insight(CLUSTER, &addons.id).await.unwrap();
    assert!(detail.resources.is_empty(), "{detail:?}");
    assert!(detail.recommendation.is_some());
    let skew = list.iter().find(|i| i.name.contains("skew")).unwrap();
    assert_eq!(skew.status, "PASSING");
    let err = c.describe_insight(CLUSTER, "nope").await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn the_aws_env_file_points_tools_at_the_simulator() {
    let sim = common::start("demo").await;
    let env = sim.aws_env();
    assert!(
        env.contains(&format!("export AWS_ENDPOINT_URL={}", sim.aws_url())),
        "{env}"
    );
    assert!(env.contains("AWS_REGION=eu-west-1"), "{env}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aws.env");
    sim.write_aws_env(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), env);
}

#[tokio::test]
async fn the_support_calendar_a_cockpit_shows_is_eks_published_one() {
    use upshift::model::support::Policy;
    use upshift::units::Minor;
    let sim = common::start("demo").await;
    let c = common::cloud::aws(&sim).await;
    let cal = upshift::preflight::support::read_calendar(&c, CLUSTER, &["1.34".into(), "1.35".into()])
        .await
        .unwrap();
    let on = c.describe_cluster(CLUSTER).await.unwrap().version;
    assert_eq!(cal.cluster_minor, Minor::parse(&on));
    // a new cluster's policy is EXTENDED unless it was set otherwise
    assert_eq!(cal.policy, Policy::Extended);
    let day = |d: &str| Some(format!("{d}T00:00:00Z").parse::<upshift::units::Timestamp>().unwrap());
    let of = |m: &str| {
        cal.of(Minor::parse(m).unwrap())
            .cloned()
            .unwrap_or_else(|| panic!("{m} in {cal:?}"))
    };
    // EKS's calendar ("Understand the Kubernetes version lifecycle on EKS")
    assert_eq!(
        (of("1.34").end_of_standard, of("1.34").end_of_extended),
        (day("2026-12-02"), day("2027-12-02"))
    );
    assert_eq!(
        (of("1.35").end_of_standard, of("1.35").end_of_extended),
        (day("2027-03-27"), day("2028-03-27"))
    );
    // the cluster's own minor and the next are asked for too
    let on = Minor::parse(&on).unwrap();
    assert!(cal.of(on).is_some() && cal.of(on.next()).is_some(), "{cal:?}");
}
