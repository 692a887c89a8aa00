//! The multi-cluster simulator of a campaign rehearsal: every cluster served at once
//! on one clock, reachable through one kubeconfig (a context per cluster) and one AWS
//! configuration file (a profile per cluster, each with its own endpoint).

use upshift::cloud::{AwsCloud, AwsOptions, CloudRead};
use upshift::sim::campaign::{CampaignScenario, SimCampaign};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_serves_each_cluster_through_its_context_and_profile() {
    // SAFETY: this test binary runs this one test; nothing else reads the environment
    unsafe {
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let spec = CampaignScenario::load("rehearsal").expect("the built-in campaign scenario loads");
    let sim = SimCampaign::start(&spec, 1.0).await.expect("every cluster starts");
    let names: Vec<&str> = sim.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["staging-eu", "prod-eu", "prod-us"]);
    let stages: Vec<&str> = sim.members.iter().map(|m| m.stage.as_str()).collect();
    assert_eq!(stages, ["pre-production", "production", "production"]);

    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("campaign.kubeconfig");
    let (aws_config, aws_env) = sim.write_files(&kc_path).unwrap();
    assert!(std::fs::read_to_string(&aws_env).unwrap().contains("AWS_CONFIG_FILE="));
    let kc = kube::config::Kubeconfig::read_from(&kc_path).unwrap();
    for m in &sim.members {
        // the context of a cluster's name reaches that cluster, and may write
        let opts = kube::config::KubeConfigOptions {
            context: Some(m.name.clone()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kc.clone(), &opts).await.unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
        let list = nodes.list(&Default::default()).await.unwrap();
        let expected = m.sim.world().lock().nodes.len();
        assert_eq!(list.items.len(), expected, "nodes of {} through its context", m.name);
        let region = m.sim.aws_region();
        assert!(
            list.items
                .iter()
                .all(|n| n.metadata.name.as_deref().unwrap_or("").contains(&region)),
            "{}'s nodes are in {region}",
            m.name
        );
        // NAME-viewer is read-only
        let opts = kube::config::KubeConfigOptions {
            context: Some(format!("{}-viewer", m.name)),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kc.clone(), &opts).await.unwrap();
        let viewer = kube::Client::try_from(config).unwrap();
        let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(viewer, "default");
        let refused = cms
            .create(
                &Default::default(),
                &serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}})).unwrap(),
            )
            .await;
        assert!(refused.is_err(), "the viewer context of {} may not write", m.name);
    }

    // the profile of a cluster's name reaches that cluster's simulated EKS
    unsafe {
        std::env::set_var("AWS_CONFIG_FILE", &aws_config);
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        std::env::remove_var("AWS_ENDPOINT_URL");
    }
    for m in &sim.members {
        let cloud = AwsCloud::connect(&AwsOptions {
            profile: Some(m.name.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(
            cloud.region(),
            m.sim.aws_region(),
            "{}'s profile names its region",
            m.name
        );
        let cluster = cloud.describe_cluster(&m.name).await.unwrap();
        assert_eq!(cluster.version, "1.34", "{} through its profile", m.name);
    }

    // one clock: the clusters' virtual times agree
    let times: Vec<jiff::Timestamp> = sim.members.iter().map(|m| m.sim.world().lock().clock.now()).collect();
    let spread = times.iter().max().unwrap().duration_since(*times.iter().min().unwrap());
    assert!(spread.as_secs_f64() < 5.0, "the clusters' clocks differ by {spread:?}");
    sim.shutdown().await;
}

#[test]
fn a_campaign_scenario_names_its_faults_line_and_field() {
    let bad = "name: x\nclusters:\n  - name: a\n    stage: pre-production\n    scenario: demo\n    add:\n      workloads: 3\n";
    let e = CampaignScenario::from_yaml(bad, "c.yaml").unwrap_err();
    assert!(e.starts_with("c.yaml:7: clusters[0].add.workloads:"), "{e}");
    let twice =
        "name: x\nclusters:\n  - {name: a, stage: s, scenario: demo}\n  - {name: a, stage: s, scenario: demo}\n";
    let e = CampaignScenario::from_yaml(twice, "c.yaml").unwrap_err();
    assert!(e.contains("clusters[1].name") && e.contains("named twice"), "{e}");
    let missing = "name: x\nclusters:\n  - {name: a, stage: s, scenario: no-such}\n";
    let e = CampaignScenario::from_yaml(missing, "c.yaml")
        .unwrap()
        .scenarios()
        .unwrap_err();
    assert!(e.starts_with("cluster a:"), "{e}");
}
