//! Services, EndpointSlices and Endpoints in the simulator, through `kube::Client`
//! and kubectl: the API server's allocations and checks, and the endpoint
//! controllers keeping each Service's slices from its pods' readiness, touching
//! only the Services a pod belongs to.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

async fn slices(client: &kube::Client, ns: &str, svc: &str) -> Vec<EndpointSlice> {
    Api::<EndpointSlice>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={svc}")))
        .await
        .unwrap()
        .items
}

fn condition(e: &k8s_openapi::api::discovery::v1::Endpoint) -> (bool, bool, bool) {
    let c = e.conditions.clone().unwrap_or_default();
    (
        c.ready.unwrap_or(false),
        c.serving.unwrap_or(false),
        c.terminating.unwrap_or(false),
    )
}

#[tokio::test]
async fn demo_services_have_slices_of_their_ready_pods() {
    let sim = common::start("demo").await;
    let client = sim.client("viewer").await.unwrap();
    let web = Api::<Service>::namespaced(client.clone(), "shop")
        .get("web")
        .await
        .unwrap();
    let spec = web.spec.clone().unwrap();
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    let ip = spec.cluster_ip.clone().unwrap();
    assert!(ip.starts_with("172.20."), "{ip}");
    assert_eq!(spec.cluster_ips, Some(vec![ip]));
    assert_eq!(spec.ip_families, Some(vec!["IPv4".to_string()]));
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    let port = &spec.ports.unwrap()[0];
    assert_eq!((port.port, port.protocol.as_deref()), (80, Some("TCP")));
    assert_eq!(
        spec.selector,
        Some(BTreeMap::from([("app".to_string(), "web".to_string())]))
    );

    let pods = Api::<Pod>::namespaced(client.clone(), "shop")
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(pods.len(), 16);
    let s = slices(&client, "shop", "web").await;
    assert_eq!(s.len(), 1, "16 endpoints fit one slice");
    let slice = &s[0];
    let labels = slice.metadata.labels.clone().unwrap();
    assert_eq!(
        labels.get("endpointslice.kubernetes.io/managed-by").map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    assert!(slice.metadata.name.as_deref().unwrap().starts_with("web-"));
    let owner = &slice.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Service", "web", Some(true))
    );
    assert_eq!(slice.address_type, "IPv4");
    let ports = slice.ports.clone().unwrap();
    assert_eq!((ports[0].port, ports[0].protocol.as_deref()), (Some(8080), Some("TCP")));
    assert_eq!(slice.endpoints.len(), 16);
    for e in &slice.endpoints {
        assert_eq!(condition(e), (true, true, false), "{e:?}");
        let target = e.target_ref.clone().unwrap();
        let pod = pods
            .iter()
            .find(|p| p.metadata.name == target.name)
            .expect("each endpoint is one of the Service's pods");
        assert_eq!(e.addresses, vec![pod.status.clone().unwrap().pod_ip.unwrap()]);
        assert_eq!(e.node_name, pod.spec.clone().unwrap().node_name);
        assert!(e.zone.as_deref().unwrap().starts_with("eu-west-1"), "{e:?}");
    }
    // the legacy Endpoints object beside it
    let eps = Api::<Endpoints>::namespaced(client.clone(), "shop")
        .get("web")
        .await
        .unwrap();
    let subset = &eps.subsets.unwrap()[0];
    assert_eq!(subset.addresses.as_ref().unwrap().len(), 16);
    assert!(subset.not_ready_addresses.is_none());
    assert_eq!(subset.ports.as_ref().unwrap()[0].port, 8080);

    // DNS with its three ports, the API server's own Service, a load balancer
    let dns = slices(&client, "kube-system", "kube-dns").await;
    assert_eq!(dns[0].ports.as_ref().unwrap().len(), 3);
    assert_eq!(dns[0].endpoints.len(), 2);
    let kubernetes = Api::<Service>::namespaced(client.clone(), "default")
        .get("kubernetes")
        .await
        .unwrap();
    assert_eq!(kubernetes.spec.unwrap().cluster_ip.as_deref(), Some("172.20.0.1"));
    assert_eq!(slices(&client, "default", "kubernetes").await[0].endpoints.len(), 2);
    let lb = Api::<Service>::namespaced(client.clone(), "ingress-nginx")
        .get("ingress-nginx-controller")
        .await
        .unwrap();
    for p in lb.spec.clone().unwrap().ports.unwrap() {
        assert!((30000..=32767).contains(&p.node_port.unwrap()), "{p:?}");
    }
    assert_eq!(lb.status.unwrap().load_balancer, Some(Default::default()));
}

#[tokio::test]
async fn a_service_whose_pods_are_all_unready_has_no_ready_endpoint() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "flaky"},
        "spec": {"selector": {"app": "flaky"}, "ports": [{"port": 80, "targetPort": 8080}]}
    }))
    .unwrap();
    let created = svcs.create(&PostParams::default(), &svc).await.unwrap();
    assert!(created.spec.unwrap().cluster_ip.unwrap().starts_with("172.20."));
    // no pod yet: one empty slice, no ports, and an Endpoints object with no subsets
    let s = slices(&client, "default", "flaky").await;
    assert_eq!(s.len(), 1);
    assert!(s[0].endpoints.is_empty() && s[0].ports.as_ref().is_none_or(|p| p.is_empty()));
    let eps = Api::<Endpoints>::namespaced(client.clone(), "default")
        .get("flaky")
        .await
        .unwrap();
    assert!(eps.subsets.is_none());

    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "flaky"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "flaky"}},
            "template": {
                "metadata": {"labels": {"app": "flaky"}, "annotations": {"sim.upshift.dev/fault": "CrashLoopBackOff"}},
                "spec": {"containers": [{"name": "app", "image": "flaky:1"}]}
            }
        }
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let all_down = common::eventually(&sim, Duration::from_secs(2), 200, "three endpoints, none ready", || {
        let client = client.clone();
        async move {
            let s = slices(&client, "default", "flaky").await;
            let eps: Vec<_> = s.iter().flat_map(|s| s.endpoints.clone()).collect();
            let crashed = Api::<Pod>::namespaced(client.clone(), "default")
                .list(&ListParams::default().labels("app=flaky"))
                .await
                .unwrap()
                .items
                .iter()
                .all(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.container_statuses.as_ref())
                        .is_some_and(|cs| cs[0].restart_count > 0)
                });
            (eps.len() == 3 && crashed && eps.iter().all(|e| condition(e) == (false, false, false))).then_some(s)
        }
    })
    .await;
    assert_eq!(all_down[0].ports.as_ref().unwrap()[0].port, Some(8080));
    sim.advance(Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let eps = Api::<Endpoints>::namespaced(client.clone(), "default")
        .get("flaky")
        .await
        .unwrap();
    let subset = &eps.subsets.unwrap()[0];
    assert!(subset.addresses.is_none(), "no ready address");
    assert_eq!(subset.not_ready_addresses.as_ref().unwrap().len(), 3);
}

#[tokio::test]
async fn a_pod_change_rewrites_only_the_slices_of_the_services_selecting_it() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    let all: Api<EndpointSlice> = Api::all(client.clone());
    let versions = |l: Vec<EndpointSlice>| -> BTreeMap<String, String> {
        l.into_iter()
            .map(|s| {
                (
                    format!(
                        "{}/{}",
                        s.metadata.namespace.unwrap_or_default(),
                        s.metadata.name.unwrap_or_default()
                    ),
                    s.metadata.resource_version.unwrap_or_default(),
                )
            })
            .collect()
    };
    let before = versions(all.list(&ListParams::default()).await.unwrap().items);
    assert!(before.len() >= 14, "{before:?}");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let victim = pods.list(&ListParams::default().labels("app=web")).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    pods.delete(&victim, &DeleteParams::default()).await.unwrap();
    // while it terminates, its endpoint is serving but neither ready nor kept in Endpoints
    let s = slices(&client, "shop", "web").await;
    let e = s[0]
        .endpoints
        .iter()
        .find(|e| e.target_ref.as_ref().and_then(|r| r.name.as_deref()) == Some(victim.as_str()))
        .expect("a terminating pod keeps its endpoint");
    assert_eq!(condition(e), (false, true, true));
    // the Endpoints object follows within a virtual second
    sim.advance(Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let eps = Api::<Endpoints>::namespaced(client.clone(), "shop")
        .get("web")
        .await
        .unwrap();
    let named = |e: &Endpoints| {
        e.subsets
            .iter()
            .flatten()
            .flat_map(|s| {
                s.addresses
                    .iter()
                    .flatten()
                    .chain(s.not_ready_addresses.iter().flatten())
            })
            .filter_map(|a| a.target_ref.as_ref()?.name.clone())
            .collect::<Vec<_>>()
    };
    assert!(!named(&eps).contains(&victim), "terminating pods leave Endpoints");
    let web_slice = format!("shop/{}", s[0].metadata.name.clone().unwrap());
    let after = versions(all.list(&ListParams::default()).await.unwrap().items);
    let changed: Vec<&String> = before.keys().filter(|k| before.get(*k) != after.get(*k)).collect();
    assert_eq!(changed, vec![&web_slice], "only the web Service's slice was written");

    // the replacement joins once Ready; the old pod's endpoint goes with it
    common::eventually(
        &sim,
        Duration::from_secs(2),
        100,
        "web back to 16 ready endpoints",
        || {
            let client = client.clone();
            let victim = victim.clone();
            async move {
                let s = slices(&client, "shop", "web").await;
                let eps = &s[0].endpoints;
                let gone = eps
                    .iter()
                    .all(|e| e.target_ref.as_ref().and_then(|r| r.name.as_deref()) != Some(victim.as_str()));
                (gone && eps.len() == 16 && eps.iter().all(|e| condition(e) == (true, true, false))).then_some(())
            }
        },
    )
    .await;
    let last = versions(all.list(&ListParams::default()).await.unwrap().items);
    let changed: Vec<&String> = before.keys().filter(|k| before.get(*k) != last.get(*k)).collect();
    assert_eq!(changed, vec![&web_slice]);
    sim.advance(Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let eps = Api::<Endpoints>::namespaced(client.clone(), "shop")
        .get("web")
        .await
        .unwrap();
    assert_eq!(eps.subsets.unwrap()[0].addresses.as_ref().unwrap().len(), 16);
}

#[tokio::test]
async fn services_are_checked_and_kept_as_the_api_server_does() {
    let sim = common::start("demo").await;
    let client = sim.client("lead").await.unwrap();
    let svcs: Api<Service> = Api::namespaced(client.clone(), "shop");
    let create = |v: serde_json::Value| {
        let svcs = svcs.clone();
        async move {
            svcs.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
                .await
        }
    };
    let e = create(json!({"metadata": {"name": "noports"}, "spec": {"selector": {"app": "web"}}}))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), Some(422));
    assert!(e.to_string().contains("spec.ports: Required value"), "{e}");
    let e = create(json!({"metadata": {"name": "twoports"}, "spec": {"ports": [{"port": 80}, {"port": 81}]}}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("spec.ports[0].name: Required value"), "{e}");

    let lb = create(json!({"metadata": {"name": "edge"}, "spec": {"type": "LoadBalancer",
        "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}))
    .await
    .unwrap();
    let spec = lb.spec.clone().unwrap();
    let node_port = spec.ports.as_ref().unwrap()[0].node_port.unwrap();
    assert_eq!(spec.external_traffic_policy.as_deref(), Some("Cluster"));
    assert_eq!(spec.allocate_load_balancer_node_ports, Some(true));
    // a replace that leaves the allocations out keeps them
    let mut again = lb.clone();
    let s = again.spec.as_mut().unwrap();
    s.cluster_ip = None;
    s.cluster_ips = None;
    s.ports.as_mut().unwrap()[0].node_port = None;
    let kept = svcs.replace("edge", &PostParams::default(), &again).await.unwrap();
    assert_eq!(kept.spec.as_ref().unwrap().cluster_ip, spec.cluster_ip);
    assert_eq!(
        kept.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].node_port,
        Some(node_port)
    );
    let mut moved = kept.clone();
    moved.spec.as_mut().unwrap().cluster_ip = Some("172.20.9.9".into());
    let e = svcs.replace("edge", &PostParams::default(), &moved).await.unwrap_err();
    assert_eq!(api_code(&e), Some(422));
    assert!(e.to_string().contains("may not change once set"), "{e}");
    assert_eq!(slices(&client, "shop", "edge").await[0].endpoints.len(), 16);
    // deleting a Service deletes its slices and Endpoints
    svcs.delete("edge", &DeleteParams::default()).await.unwrap();
    assert!(slices(&client, "shop", "edge").await.is_empty());
    let e = Api::<Endpoints>::namespaced(client.clone(), "shop")
        .get("edge")
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), Some(404));
}

#[tokio::test]
async fn kubectl_lists_and_describes_services_and_their_endpoints() {
    let Some(bin) = common::kubectl_or_skip() else { return };
    let sim = common::start("demo").await;
    let k = common::Kubectl::new(bin, &sim);
    let out = k.ok(&["get", "services", "-n", "shop"]).await;
    let head: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        "{out}"
    );
    let web: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("web "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!((web[1], web[3], web[4]), ("ClusterIP", "<none>", "80/TCP"), "{out}");
    assert!(web[2].starts_with("172.20."));
    let wide = k.ok(&["get", "svc", "web", "-n", "shop", "-o", "wide"]).await;
    assert!(
        wide.lines().next().unwrap().ends_with("SELECTOR") && wide.contains("app=web"),
        "{wide}"
    );
    let lb = k.ok(&["get", "svc", "-n", "ingress-nginx"]).await;
    assert!(
        lb.contains("LoadBalancer") && lb.contains("<pending>") && lb.contains("80:3"),
        "{lb}"
    );

    let out = k
        .ok(&[
            "get",
            "endpointslices",
            "-n",
            "shop",
            "-l",
            "kubernetes.io/service-name=web",
        ])
        .await;
    let head: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], "{out}");
    let row = out.lines().nth(1).unwrap();
    assert!(
        row.contains("IPv4") && row.contains(" 8080 ") && row.contains("+ 13 more..."),
        "{out}"
    );
    let out = k.ok(&["get", "endpoints", "web", "-n", "shop"]).await;
    assert!(out.contains(":8080,") && out.contains("+ 13 more..."), "{out}");

    let out = k.ok(&["describe", "service", "web", "-n", "shop"]).await;
    for want in [
        "Name:",
        "web",
        "Selector:",
        "app=web",
        "Type:",
        "ClusterIP",
        "TargetPort:",
        "8080/TCP",
        "Endpoints:",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }
    let endpoints_line = out.lines().find(|l| l.starts_with("Endpoints:")).unwrap();
    assert!(endpoints_line.contains(":8080"), "{endpoints_line}");
    let yaml = k.ok(&["get", "svc", "web", "-n", "shop", "-o", "yaml"]).await;
    let out = k
        .ok(&[
            "describe",
            "endpointslices",
            "-n",
            "payments",
            "-l",
            "kubernetes.io/service-name=ledger",
        ])
        .await;
    for want in [
        "AddressType:  IPv4",
        "kubernetes.io/service-name=ledger",
        "Ready:    true",
        "TargetRef:  Pod/ledger-",
        "Zone:       eu-west-1",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }
    assert!(
        yaml.contains("clusterIP: 172.20.") && yaml.contains("kind: Service"),
        "{yaml}"
    );

    // kubectl expose writes a Service the controller fills at once
    k.ok(&[
        "expose",
        "deployment",
        "cart",
        "-n",
        "shop",
        "--name",
        "cart-direct",
        "--port",
        "8080",
    ])
    .await;
    let out = k.ok(&["get", "endpoints", "cart-direct", "-n", "shop"]).await;
    assert!(out.contains(":8080") && out.contains("+ 7 more..."), "{out}");
    let counts = sim.request_counts_by_agent();
    assert!(
        counts.count("lead", "kubectl/", "create") >= 1,
        "kubectl's writes are counted under its user agent: {counts:?}"
    );
}
