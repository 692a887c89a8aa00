//! The scenario fields for Services, StorageClasses, StatefulSets and API faults, as
//! a user meets them: `sim scenarios` lists the `stateful` built-in, `sim check`
//! accepts the new fields and refuses their mistakes naming the line and field, and
//! a scenario's Services and StatefulSets are in the world it starts.

use std::process::Command;

use upshift::sim::scenario::Scenario;

fn upshift() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_upshift"));
    let dir = std::env::temp_dir().join("upshift-sim-scenario-tests");
    c.arg("--log-file").arg(dir.join("upshift.log"));
    c
}

const HEAD: &str = "name: t\ncluster:\n  name: t\n  version: \"1.31\"\nnodeGroups:\n  - {name: apps, kind: managed, instanceType: m5.xlarge, size: 3}\n";

fn check(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = upshift().args(["sim", "check"]).arg(&path).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_stateful_scenario_is_listed_and_valid() {
    let out = upshift().args(["sim", "scenarios"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("stateful"))
        .expect("stateful is listed");
    assert!(line.contains("zonal"), "{line}");
    let out = upshift().args(["sim", "check", "stateful"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn new_fields_are_accepted_and_their_mistakes_name_the_line_and_field() {
    let good = format!(
        "{HEAD}storageClasses:\n  - {{name: gp3, default: true}}\nworkloads:\n  - name: db\n    kind: StatefulSet\n    replicas: 2\n    image: db:1\n    minReadySeconds: 5\n    podManagementPolicy: Parallel\n    volumeClaimTemplates:\n      - {{name: data, storage: 5Gi}}\nservices:\n  - {{name: db, workload: default/db, headless: true, ports: [5432]}}\napiFaults:\n  seed: 1\n  latency:\n    - {{ms: 5}}\n"
    );
    let (ok, out) = check(&good);
    assert!(ok, "{out}");

    // a Service naming a workload that is not there
    let bad = good.replace("workload: default/db,", "workload: default/nope,");
    let (ok, out) = check(&bad);
    assert!(!ok);
    assert!(
        out.contains("s.yaml:19") && out.contains("services[0].workload") && out.contains("default/nope"),
        "{out}"
    );
    // a claim template with a size that is not a quantity
    let bad = good.replace("storage: 5Gi", "storage: lots");
    let (ok, out) = check(&bad);
    assert!(!ok);
    assert!(
        out.contains("workloads[0].volumeClaimTemplates[0].storage") && out.contains("lots"),
        "{out}"
    );
    // a claim with no class where none is the default
    let bad = good.replace("{name: gp3, default: true}", "{name: gp3}");
    let (ok, out) = check(&bad);
    assert!(!ok);
    assert!(
        out.contains("volumeClaimTemplates[0].storageClass") && out.contains("default"),
        "{out}"
    );
    // StatefulSet fields on a Deployment
    let bad = good.replace("kind: StatefulSet", "kind: Deployment");
    let (ok, out) = check(&bad);
    assert!(!ok);
    assert!(out.contains("StatefulSets only"), "{out}");
    // an unknown field of a Service, and an API fault out of range
    let bad = good.replace("headless: true,", "headles: true,");
    let (ok, out) = check(&bad);
    assert!(!ok);
    assert!(
        out.contains("services[0]") && out.contains("unknown field `headles`"),
        "{out}"
    );
    let bad = good.replace("{ms: 5}", "{ms: 99999}");
    let (ok, out) = check(&bad);
    assert!(!ok);
    assert!(out.contains("apiFaults.latency[0]") && out.contains("60000"), "{out}");
    // several ports must be named
    let bad = good.replace("ports: [5432]", "ports: [5432, 5433]");
    let (ok, out) = check(&bad);
    assert!(!ok);
    assert!(out.contains("services[0].ports[0].name"), "{out}");
}

#[test]
fn a_scenarios_services_and_statefulsets_are_in_its_world() {
    let yaml = format!(
        "{HEAD}storageClasses:\n  - {{name: gp3, default: true}}\nworkloads:\n  - {{name: web, kind: Deployment, replicas: 3, image: web:1}}\n  - name: db\n    kind: StatefulSet\n    replicas: 3\n    image: db:1\n    volumeClaimTemplates:\n      - {{name: data, storage: 5Gi}}\nservices:\n  - {{name: web, workload: default/web, type: NodePort, ports: [{{port: 80, targetPort: 8080, name: http}}]}}\n  - {{name: db, workload: default/db, headless: true, ports: [5432]}}\n"
    );
    let scenario = Scenario::from_yaml(&yaml, "t.yaml").unwrap();
    let w = upshift::sim::world::build(&scenario, upshift::sim::clock::Clock::new(1.0)).unwrap();
    let web = w.services.get("default/web").unwrap();
    let spec = web.spec.as_ref().unwrap();
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    assert!(spec.ports.as_ref().unwrap()[0].node_port.is_some());
    let db = w.statefulsets.get("default/db").unwrap();
    assert_eq!(db.status.as_ref().unwrap().ready_replicas, Some(3));
    // one pod per zone, each with its volume in its node's zone
    let mut zones = Vec::new();
    for i in 0..3 {
        let pod = w.pods.get(&format!("default/db-{i}")).expect("db-N");
        let node = pod.spec.as_ref().unwrap().node_name.clone().unwrap();
        let zone = w.nodes.get(&node).unwrap().metadata.labels.as_ref().unwrap()["topology.kubernetes.io/zone"].clone();
        let pvc = w.pvcs.get(&format!("default/data-db-{i}")).unwrap();
        assert_eq!(pvc.status.as_ref().unwrap().phase.as_deref(), Some("Bound"));
        let pv = w
            .pvs
            .get(pvc.spec.as_ref().unwrap().volume_name.as_deref().unwrap())
            .unwrap();
        let affinity = serde_json::to_string(&pv.spec.as_ref().unwrap().node_affinity).unwrap();
        assert!(affinity.contains(&zone), "{affinity}");
        zones.push(zone);
    }
    zones.sort();
    zones.dedup();
    assert_eq!(zones.len(), 3, "spread over the three zones");
    let slices: Vec<_> = w
        .endpointslices
        .items()
        .values()
        .filter(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
                .map(String::as_str)
                == Some("db")
        })
        .cloned()
        .collect();
    assert_eq!(slices.len(), 1);
    assert_eq!(slices[0].endpoints.len(), 3);
}
