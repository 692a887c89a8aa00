//! `upshift preflight --target <next minor> --format json` as the research seat
//! (docs/rbac only) against a real control plane, on objects made with kubectl: a
//! Helm v3 release kept in a Secret as Helm keeps it, objects whose last-applied
//! annotation names a removed API version and objects applied through a served one,
//! and a budget the disruption controller computed to allow nothing. The audit log
//! shows the research seat wrote nothing and was refused nothing.

mod realkube_support;

use std::io::Write;

use base64::Engine;
use realkube_support::{SHOP, get_or_skip, shop_settled};
use serde_json::{Value, json};

/// A Helm v3 release record: the Secret's `release` key holds base64 of gzip of the
/// release's JSON (and the API stores that string base64-encoded once more).
fn helm_secret(name: &str, ns: &str, revision: u32, status: &str, manifest: &str) -> Value {
    let release = json!({
        "name": name,
        "namespace": ns,
        "version": revision,
        "info": {"status": status, "description": "Upgrade complete"},
        "chart": {"metadata": {"name": name, "version": "1.4.0", "apiVersion": "v2"}},
        "manifest": manifest,
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(release.to_string().as_bytes()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let helm = b64.encode(gz.finish().unwrap());
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": format!("sh.helm.release.v1.{name}.v{revision}"),
            "namespace": ns,
            "labels": {"owner": "helm", "name": name, "status": status, "version": revision.to_string()},
        },
        "data": {"release": b64.encode(helm)},
    })
}

/// A Deployment applied through apps/v1, then given the annotation `kubectl apply`
/// left on it when the cluster still served `extensions/v1beta1`: what clusters
/// upgraded across 1.16 still carry. (Set with `kubectl annotate`: `kubectl create`
/// and `apply` rewrite an existing last-applied annotation.)
const CATALOG: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: catalog, namespace: shop}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: catalog}}\n  template:\n    metadata: {labels: {app: catalog}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: [{name: catalog, image: catalog:3.1}]\n";
const STALE: &str = r#"{"apiVersion":"extensions/v1beta1","kind":"Deployment","metadata":{"annotations":{},"name":"catalog","namespace":"shop"},"spec":{"replicas":1,"template":{"metadata":{"labels":{"app":"catalog"}},"spec":{"containers":[{"image":"catalog:3.1","name":"catalog"}]}}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn research_finds_helm_and_annotation_evidence_on_a_real_api_server() {
    let Some(k) = get_or_skip("research_finds_helm_and_annotation_evidence_on_a_real_api_server") else {
        return;
    };
    k.apply(SHOP).await;
    // the current revision renders a budget through policy/v1beta1 (removed in 1.25);
    // the superseded one an Ingress through extensions/v1beta1: only the current counts
    let current = "---\n# Source: legacy/templates/pdb.yaml\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: legacy\nspec:\n  minAvailable: 1\n---\n# Source: legacy/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: legacy\n";
    let old = "---\napiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: legacy\n";
    let releases = [
        helm_secret("legacy", "shop", 2, "superseded", old),
        helm_secret("legacy", "shop", 3, "deployed", current),
    ];
    for r in &releases {
        let out = k
            .kubectl_stdin("admin", &["create", "-f", "-"], Some(r.to_string()))
            .await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    k.apply(CATALOG).await;
    let annotation = format!("kubectl.kubernetes.io/last-applied-configuration={STALE}");
    k.kubectl_ok(
        "admin",
        &[
            "-n",
            "shop",
            "annotate",
            "--overwrite",
            "deployment",
            "catalog",
            &annotation,
        ],
    )
    .await;
    shop_settled(k).await;

    let minor: u32 = k
        .version
        .trim_start_matches("v1.")
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let target = format!("1.{}", minor + 1);
    let mut cmd = k.upshift("preflight-research");
    cmd.args([
        "preflight",
        "--target",
        &target,
        "--format",
        "json",
        "--context",
        "research",
        "--kubeconfig",
    ])
    .arg(&k.kubeconfig);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "blockers found:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(doc["current"], format!("1.{minor}"));
    assert_eq!(doc["target"], target);
    assert_eq!(
        doc["unreadable"].as_array().map(Vec::len),
        Some(0),
        "research reads all it needs: {}",
        doc["unreadable"]
    );
    let findings = doc["findings"].as_array().unwrap();
    let titled = |needle: &str| -> Vec<&Value> {
        findings
            .iter()
            .filter(|f| f["title"].as_str().unwrap_or("").contains(needle))
            .collect()
    };
    let all_titles: Vec<&str> = findings.iter().filter_map(|f| f["title"].as_str()).collect();

    // the Helm record, read from the Secret as Helm writes it
    let helm = titled("Helm release shop/legacy");
    assert_eq!(helm.len(), 1, "{all_titles:#?}");
    assert_eq!(helm[0]["severity"], "blocker");
    assert_eq!(helm[0]["confidence"], "high");
    assert!(helm[0]["title"].as_str().unwrap().contains("policy/v1beta1"));
    assert!(
        !all_titles
            .iter()
            .any(|t| t.contains("extensions/v1beta1 ") && t.contains("legacy")),
        "the superseded revision is no finding: {all_titles:#?}"
    );

    // the stale annotation: found, but the API server's managedFields show the object
    // was written through apps/v1, so never a blocker
    let catalog = titled("shop/catalog");
    assert_eq!(catalog.len(), 1, "{all_titles:#?}");
    assert!(catalog[0]["title"].as_str().unwrap().contains("extensions/v1beta1"));
    assert_ne!(catalog[0]["severity"], "blocker");
    let evidence = catalog[0]["evidence"].to_string();
    assert!(evidence.contains("kubectl"), "the managers are named: {evidence}");
    // applied through apps/v1 only: nothing to say about web
    assert!(
        titled("shop/web ").is_empty() && titled("Deployment shop/web").is_empty(),
        "{all_titles:#?}"
    );

    // the ledger's budget, computed by the real disruption controller, blocks drains
    let ledger: Vec<&Value> = findings
        .iter()
        .filter(|f| f["check"] == "drain-blockers" && f.to_string().contains("shop/ledger"))
        .collect();
    assert!(!ledger.is_empty(), "{all_titles:#?}");

    let seen = k.audit_of("research");
    assert!(!seen.is_empty());
    let writes: Vec<_> = seen.iter().filter(|a| a.mutating()).collect();
    assert!(writes.is_empty(), "research wrote: {writes:#?}");
    let refused: Vec<_> = seen.iter().filter(|a| a.refused()).collect();
    assert!(refused.is_empty(), "research was refused: {refused:#?}");
    // it read the Helm records through the research role's list on secrets
    assert!(
        seen.iter().any(|a| a.resource == "secrets" && a.verb == "list"),
        "{seen:#?}"
    );
}

/// The viewer seat runs preflight too, without the research role: Helm records in
/// Secrets are unreadable, preflight says so and goes on, and the refusal is the
/// real authorizer's (a 403 in the audit log for the viewer's list of secrets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_research_role_preflight_names_what_it_could_not_read() {
    let Some(k) = get_or_skip("without_the_research_role_preflight_names_what_it_could_not_read") else {
        return;
    };
    k.apply(SHOP).await;
    let minor: u32 = k
        .version
        .trim_start_matches("v1.")
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let target = format!("1.{}", minor + 1);
    let mut cmd = k.upshift("preflight-viewer");
    cmd.args([
        "preflight",
        "--target",
        &target,
        "--format",
        "json",
        "--context",
        "viewer",
        "--kubeconfig",
    ])
    .arg(&k.kubeconfig);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let unreadable = doc["unreadable"].to_string();
    assert!(unreadable.contains("secrets"), "{unreadable}");
    let refused: Vec<_> = k.audit_of("viewer").into_iter().filter(|a| a.code == 403).collect();
    assert!(
        refused.iter().any(|a| a.resource == "secrets" && a.verb == "list"),
        "{refused:#?}"
    );
    assert!(k.audit_of("viewer").iter().all(|a| !a.mutating()));
}
