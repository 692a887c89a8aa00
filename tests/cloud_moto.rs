//! upshift's cloud client against moto, an AWS emulator no one here wrote, on
//! loopback: proof that our requests are well-formed for what moto implements (EKS
//! clusters and node groups; Auto Scaling groups, instances, protection, tags and
//! lifecycle hooks).
//! moto's server does not speak the CBOR protocol of aws-sdk-cloudwatch, so CloudWatch
//! is covered by tests/cloud_sim.rs only. Prints SKIPPED when moto is not installed
//! (`pip install 'moto[server]'`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use upshift::cloud::{AwsCloud, AwsOptions, Cloud, CloudError, CloudRead, sdk_config};

const REGION: &str = "us-east-1";

/// A moto server on a free loopback port; killed when dropped.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import moto.server, flask"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

async fn start_moto() -> Option<Moto> {
    if !moto_installed() {
        eprintln!("SKIPPED: moto is not installed (pip install 'moto[server]'); the moto tests need it");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let t0 = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "moto did not start listening on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(moto)
}

#[tokio::test]
async fn the_cloud_client_speaks_to_moto() {
    let Some(moto) = start_moto().await else { return };
    let opts = AwsOptions::local(&moto.url, REGION);
    // what moto needs to exist first, made with the SDKs directly
    let conf = sdk_config(&opts).await;
    let eks = aws_sdk_eks::Client::new(&conf);
    eks.create_cluster()
        .name("rehearsal")
        .version("1.30")
        .role_arn("arn:aws:iam::123456789012:role/eks")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-1")
                .subnet_ids("subnet-2")
                .build(),
        )
        .send()
        .await
        .expect("moto creates the cluster");
    eks.create_nodegroup()
        .cluster_name("rehearsal")
        .nodegroup_name("apps")
        .node_role("arn:aws:iam::123456789012:role/node")
        .subnets("subnet-1")
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .min_size(2)
                .max_size(4)
                .desired_size(3)
                .build(),
        )
        .instance_types("m5.large")
        .send()
        .await
        .expect("moto creates the node group");
    let asg = aws_sdk_autoscaling::Client::new(&conf);
    asg.create_launch_configuration()
        .launch_configuration_name("nodes")
        .image_id("ami-12345678")
        .instance_type("m5.large")
        .send()
        .await
        .expect("moto creates the launch configuration");
    asg.create_auto_scaling_group()
        .auto_scaling_group_name("batch")
        .launch_configuration_name("nodes")
        .min_size(1)
        .max_size(4)
        .desired_capacity(3)
        .availability_zones("us-east-1a")
        .send()
        .await
        .expect("moto creates the group");
    let c = AwsCloud::connect(&opts).await.unwrap();

    // EKS
    let info = c.describe_cluster("rehearsal").await.unwrap();
    assert_eq!((info.name.as_str(), info.version.as_str()), ("rehearsal", "1.30"));
    assert!(!info.arn.is_empty());
    let err = c.describe_cluster("nope").await.unwrap_err();
    assert!(matches!(err, CloudError::ClusterNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(REGION), "{err}");
    assert_eq!(c.list_nodegroups("rehearsal").await.unwrap(), ["apps"]);
    let ng = c.describe_nodegroup("rehearsal", "apps").await.unwrap();
    assert_eq!((ng.name.as_str(), ng.desired, ng.min, ng.max), ("apps", 3, 2, 4));
    assert_eq!(ng.instance_types, ["m5.large"]);
    let err = c.describe_nodegroup("rehearsal", "nope").await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");

    // Auto Scaling
    let names = vec!["batch".to_string()];
    let groups = c.describe_groups(&names).await.unwrap();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!((g.desired, g.instances.len()), (3, 3));
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
    c.tag_group("batch", &[("upshift/rollout".into(), "r1".into())])
        .await
        .unwrap();
    let g = &c.describe_groups(&names).await.unwrap()[0];
    assert_eq!(g.tags.get("upshift/rollout").map(String::as_str), Some("r1"));
    let a = c.terminate_instance(&ids[1], true).await.unwrap();
    assert!(!a.id.is_empty(), "{a:?}");
    assert_eq!(c.describe_groups(&names).await.unwrap()[0].desired, 2);
    // moto records no activities for it; the request must still be well-formed
    c.scaling_activities("batch", 20).await.unwrap();
    c.untag_group("batch", &["upshift/rollout".to_string()]).await.unwrap();
    let g = &c.describe_groups(&names).await.unwrap()[0];
    assert!(!g.tags.contains_key("upshift/rollout"));
    // lifecycle hooks: the termination hook upshift puts for `drainer: upshift`
    let hook = upshift::cloud::HookSpec {
        name: "upshift-drain".into(),
        heartbeat_timeout: 1800,
        default_result: upshift::cloud::HookResult::Continue,
    };
    c.put_lifecycle_hook("batch", &hook).await.unwrap();
    let hooks = c.describe_lifecycle_hooks("batch").await.unwrap();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let h = &hooks[0];
    assert!(h.terminating(), "{h:?}");
    assert_eq!(
        (
            h.name.as_str(),
            h.group.as_str(),
            h.heartbeat_timeout,
            h.default_result.as_str()
        ),
        ("upshift-drain", "batch", 1800, "CONTINUE")
    );
    let seen = c.describe_asg_instances(&ids).await.unwrap();
    assert!(
        seen.iter()
            .any(|i| i.id == ids[0] && i.group == "batch" && !i.lifecycle_state.is_empty()),
        "{seen:?}"
    );
    c.delete_lifecycle_hook("batch", "upshift-drain").await.unwrap();
    assert!(c.describe_lifecycle_hooks("batch").await.unwrap().is_empty());

    // CloudWatch is not tried: aws-sdk-cloudwatch speaks only Smithy RPCv2 CBOR,
    // which moto's server (5.2.5) does not route or parse; tests/cloud_sim.rs covers it.

    // moto does not implement EKS updates: the client reports it, it does not panic
    assert!(c.update_cluster_version("rehearsal", "1.31").await.is_err());
}

#[tokio::test]
async fn node_groups_are_copied_reconfigured_and_deleted_on_moto() {
    use upshift::cloud::{MaxUnavailable, NewNodegroup, NodegroupChange, TaintInfo};
    let Some(moto) = start_moto().await else { return };
    let opts = AwsOptions::local(&moto.url, REGION);
    let conf = sdk_config(&opts).await;
    aws_sdk_eks::Client::new(&conf)
        .create_cluster()
        .name("blue")
        .version("1.30")
        .role_arn("arn:aws:iam::123456789012:role/eks")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-1")
                .build(),
        )
        .send()
        .await
        .expect("moto creates the cluster");
    let c = AwsCloud::connect(&opts).await.unwrap();
    let mut group = NewNodegroup {
        name: "apps".into(),
        version: Some("1.30".into()),
        min: 1,
        max: 4,
        desired: 3,
        instance_types: vec!["m5.large".into()],
        labels: [("role".to_string(), "apps".to_string())].into(),
        ..Default::default()
    };
    group.config.subnets = vec!["subnet-1".into(), "subnet-2".into()];
    group.config.node_role = Some("arn:aws:iam::123456789012:role/node".into());
    group.config.capacity_type = Some("ON_DEMAND".into());
    group.config.taints = vec![TaintInfo {
        key: "dedicated".into(),
        value: Some("apps".into()),
        effect: "NO_SCHEDULE".into(),
    }];
    group.config.update_config = Some(MaxUnavailable::Count(2));
    let made = c.create_nodegroup("blue", &group).await.unwrap();
    assert_eq!(made.name, "apps");
    // the copy of what moto describes is what was asked for
    let got = c.describe_nodegroup("blue", "apps").await.unwrap();
    assert_eq!((got.min, got.max, got.desired), (1, 4, 3));
    assert_eq!(got.labels, group.labels);
    assert_eq!(got.config.subnets, group.config.subnets);
    assert_eq!(got.config.taints, group.config.taints);
    assert_eq!(got.config.node_role, group.config.node_role);
    // moto (5.2) reads no updateConfig on CreateNodegroup; tests/cloud_nodegroups.rs
    // checks it against the simulator, and UpdateNodegroupConfig sets it below
    let err = c.create_nodegroup("blue", &group).await.unwrap_err();
    assert!(matches!(err, CloudError::InUse { .. }), "{err:?}");

    let change = NodegroupChange {
        scaling: Some((1, 5, 2)),
        update_config: Some(MaxUnavailable::Percentage(25)),
    };
    c.update_nodegroup_config("blue", "apps", &change).await.unwrap();
    let got = c.describe_nodegroup("blue", "apps").await.unwrap();
    assert_eq!((got.max, got.desired), (5, 2));
    assert_eq!(got.config.update_config, Some(MaxUnavailable::Percentage(25)));

    c.delete_nodegroup("blue", "apps").await.unwrap();
    let err = c.describe_nodegroup("blue", "apps").await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");
    let err = c.delete_nodegroup("blue", "apps").await.unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err:?}");
}
