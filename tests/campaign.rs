//! `upshift campaign`: the file's errors name line and field; `status` in its three
//! formats on a fixed instant from fixture journals (snapshots); `check` and
//! `status` against two in-process simulators, read-only.

mod common;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use upshift::campaign::{self, Campaign, Due, Progress, live, status};
use upshift::model::rollout::{Phase, Published, RolloutState, StepView};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/campaign/winter.yaml")
}

fn t(s: &str) -> jiff::Timestamp {
    s.parse().expect("time")
}

/// Thursday 10 December 2026, 22:30 in Berlin: the weekly window is open.
const THURSDAY: &str = "2026-12-10T21:30:00Z";

#[tokio::test]
async fn status_from_the_journals_in_three_formats() {
    let c = Campaign::load(&fixture()).unwrap_or_else(|e| panic!("{e}"));
    let states = live::states(&c, true).await;
    let s = status::build(&c, &states, t(THURSDAY));
    insta::assert_snapshot!("campaign_status_text", s.text());
    insta::assert_snapshot!("campaign_status_markdown", s.markdown());
    insta::assert_snapshot!("campaign_status_json", s.json());
}

#[tokio::test]
async fn status_names_what_blocks_production() {
    let mut c = Campaign::load(&fixture()).unwrap_or_else(|e| panic!("{e}"));
    let mut states = live::states(&c, true).await;
    states.remove("prod-eu");
    // the evening staging-eu finished: the soak runs until the next evening
    let s = status::build(&c, &states, t("2026-12-08T22:30:00Z"));
    insta::assert_snapshot!("campaign_status_soaking", s.text());
    // soaked, but nothing accepts staging-eu's problem any more
    c.stages[1].accept.clear();
    match campaign::due(&c, &states, t(THURSDAY)) {
        Due::Blocked { stage, reasons, .. } => {
            assert_eq!(stage, "production");
            assert_eq!(reasons.len(), 1, "{reasons:?}");
            assert!(
                reasons[0].contains("staging-eu") && reasons[0].contains("Deployment shop/recommendations down"),
                "{reasons:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// (file text, line, field, part of the message)
const BAD: &[(&str, usize, &str, &str)] = &[
    (
        "name: c\ntarget: 1.35.2\nstages:\n  - name: s\n    clusters: [{name: a}]\n",
        2,
        "target",
        "is not a Kubernetes minor",
    ),
    (
        "name: c\ntarget: \"1.35\"\ntimezone: Europe/Berlln\nstages:\n  - name: s\n    clusters: [{name: a}]\n",
        3,
        "timezone",
        "is not a time zone",
    ),
    (
        "name: c\ntarget: \"1.35\"\nwindows:\n  - name: w\n    start: 2026-12-08T22:00\n    duration: 4 hours\nstages:\n  - name: s\n    clusters: [{name: a}]\n",
        6,
        "windows[0].duration",
        "is not a duration",
    ),
    (
        "name: c\ntarget: \"1.35\"\nwindows:\n  - name: w\n    weekly: {days: [thu, fry], start: \"22:00\", duration: 3h}\nstages:\n  - name: s\n    clusters: [{name: a}]\n",
        5,
        "windows[0].weekly.days[1]",
        "is not a day",
    ),
    (
        "name: c\ntarget: \"1.35\"\nstages:\n  - name: s\n    windows: [nightly]\n    clusters:\n      - name: a\n",
        5,
        "stages[0].windows[0]",
        "no window is named \"nightly\"",
    ),
    (
        "name: c\ntarget: \"1.35\"\nstages:\n  - name: s\n    clusters:\n      - name: a\n  - name: t\n    clusters:\n      - name: b\n      - name: a\n",
        10,
        "stages[1].clusters[1].name",
        "a second cluster named \"a\"",
    ),
    (
        "name: c\ntarget: \"1.35\"\nstages:\n  - name: s\n    clusters:\n      - name: a\n        contxt: a\n",
        7,
        "stages[0].clusters[0].contxt",
        "unknown field `contxt`",
    ),
    (
        "name: c\ntarget: \"1.35\"\nstages:\n  - name: s\n    drivers: [dana]\n    clusters: [{name: a}]\n  - name: t\n    drivers: [lee]\n    accept:\n      - cluster: a\n        reason: known\n        by: dana\n    clusters: [{name: b}]\n",
        12,
        "stages[1].accept[0].by",
        "not among this stage's drivers",
    ),
    (
        "name: c\ntarget: \"1.35\"\nstages:\n  - name: s\n    soak: a day\n    clusters: [{name: a}]\n",
        5,
        "stages[0].soak",
        "is not a duration",
    ),
    (
        "name: c\ntarget: \"1.35\"\nstages:\n  - name: s\n    accept:\n      - {cluster: z, reason: r, by: lee}\n    clusters: [{name: a}]\n",
        6,
        "stages[0].accept[0].cluster",
        "no cluster of an earlier stage",
    ),
];

#[test]
fn errors_in_the_file_name_line_and_field() {
    for (text, line, field, message) in BAD {
        let errors = match Campaign::from_yaml(text, Path::new("c.yaml")) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e,
        };
        let found = errors
            .0
            .iter()
            .find(|e| e.field() == Some(*field))
            .unwrap_or_else(|| panic!("no error on {field} in {errors}\n{text}"));
        assert_eq!(found.line(), Some(*line), "{found}\n{text}");
        let shown = found.to_string();
        assert!(shown.starts_with(&format!("c.yaml:{line}: {field}: ")), "{shown}");
        assert!(shown.contains(message), "{shown}");
    }
}

#[test]
fn a_plan_for_another_cluster_or_target_is_named_at_its_line_offline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journal-v0.1-main.plan.yaml"),
    )
    .expect("fixture plan");
    std::fs::write(dir.path().join("plan.yaml"), &plan).expect("plan written");
    let loaded = upshift::rollout::plan::Plan::from_yaml(&plan, "plan.yaml").expect("the fixture plan loads");
    let file = dir.path().join("c.yaml");
    let text = format!(
        "name: c\ntarget: \"{}\"\nstages:\n  - name: s\n    clusters:\n      - name: other\n        plan: plan.yaml\n      - name: b\n        plan: missing.yaml\n",
        loaded.target
    );
    std::fs::write(&file, &text).expect("campaign written");
    let c = Campaign::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let checked = rt.block_on(campaign::check::check(&c, true));
    assert_eq!(checked.exit_code(), 1);
    let shown: Vec<String> = checked.invalid.iter().map(ToString::to_string).collect();
    assert!(
        shown.iter().any(|e| e.contains(":7: stages[0].clusters[0].plan: ")
            && e.contains(&format!("is for cluster {}, not other", loaded.cluster.name))),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|e| e.contains(":9: stages[0].clusters[1].plan: the plan does not load")),
        "{shown:?}"
    );
}

/// Publishes `state` in the simulated cluster as a drive would (as the lead).
async fn publish(sim: &upshift::sim::Simulator, state: RolloutState) {
    let cm = Published {
        state,
        recent: Vec::new(),
    }
    .to_config_map();
    let api: Api<ConfigMap> = Api::namespaced(sim.client("lead").await.expect("lead client"), "kube-system");
    api.create(&PostParams::default(), &cm)
        .await
        .expect("ConfigMap created");
}

const TINY: &str = r#"
name: tiny
seed: 1
cluster: {name: tiny, version: "1.34"}
nodeGroups:
  - {name: system, kind: managed, instanceType: m5.large, size: 1}
"#;

fn campaign_file(dir: &Path, target: &str, prod_context: &str) -> PathBuf {
    let file = dir.join("campaign.yaml");
    let text = format!(
        "name: e2e\ntarget: \"{target}\"\nstages:\n  - name: pre-production\n    clusters:\n      - name: staging\n        kubeconfig: staging.kubeconfig\n        context: viewer\n  - name: production\n    clusters:\n      - name: prod\n        kubeconfig: prod.kubeconfig\n        context: {prod_context}\n"
    );
    std::fs::write(&file, text).expect("campaign written");
    file
}

async fn upshift(args: &[&str]) -> (i32, String, String) {
    let mut cmd = common::bin::upshift();
    cmd.args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("joined")
        .expect("upshift runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_status_against_two_simulated_clusters() {
    let staging = common::start_yaml(TINY).await;
    let prod = common::start_yaml(TINY).await;
    let dir = tempfile::tempdir().expect("temp dir");
    staging
        .write_kubeconfig(&dir.path().join("staging.kubeconfig"))
        .expect("kubeconfig");
    prod.write_kubeconfig(&dir.path().join("prod.kubeconfig"))
        .expect("kubeconfig");

    // a good file passes: both answer, both on 1.34 for 1.35
    let file = campaign_file(dir.path(), "1.35", "viewer");
    let shown = file.display().to_string();
    let (code, out, err) = upshift(&["campaign", "check", &shown]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("valid") && out.contains("staging: context viewer answers, control plane 1.34"),
        "{out}"
    );

    // two minors ahead: invalid, at the cluster's context line
    campaign_file(dir.path(), "1.36", "viewer");
    let (code, out, err) = upshift(&["campaign", "check", &shown]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "{shown}:8: stages[0].clusters[0].context: cluster staging: its control plane runs 1.34"
        )) && err.contains("upgrade it to 1.35 first"),
        "{err}"
    );

    // a context the kubeconfig does not have: not checked, exit 2
    campaign_file(dir.path(), "1.35", "nowhere");
    let (code, out, err) = upshift(&["campaign", "check", &shown]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(":13: stages[1].clusters[0].context: cannot reach the cluster") && err.contains("\"nowhere\""),
        "{err}"
    );

    let file = campaign_file(dir.path(), "1.35", "viewer");
    // status reads each cluster's version and its published rollout, as the viewer
    let state = |phase: Phase, problems: Vec<String>| RolloutState {
        cluster: "tiny".into(),
        from: "1.34".into(),
        target: "1.35".into(),
        phase,
        problems,
        updated: Some(t("2026-12-08T22:00:00Z")),
        steps: vec![StepView::default(), StepView::default(), StepView::default()],
        current: Some(1),
        ..Default::default()
    };
    publish(&staging, state(Phase::Done, vec!["1 node NotReady".into()])).await;
    publish(&prod, state(Phase::Running, Vec::new())).await;
    let c = Campaign::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let states = live::states(&c, false).await;
    let s = &states["staging"];
    assert_eq!(s.progress.problems(), ["1 node NotReady"], "{s:?}");
    assert!(s.version.as_deref().is_some_and(|v| v.contains("1.34")), "{s:?}");
    assert!(
        matches!(
            states["prod"].progress,
            Progress::Running {
                step: 1,
                of: Some(3),
                ..
            }
        ),
        "{:?}",
        states["prod"]
    );
    let text = status::build(&c, &states, t("2026-12-09T08:00:00Z")).text();
    assert!(
        text.contains("staging  done with problems: 1 node NotReady; control plane v1.34"),
        "{text}"
    );
    assert!(text.contains("next: resume prod (stage production)"), "{text}");

    // the campaign's reads are the viewer's: nothing was written by it
    for sim in [&staging, &prod] {
        assert_eq!(sim.request_counts().mutating("viewer"), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_checks_offline_and_is_never_written_over() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("winter.yaml");
    let shown = file.display().to_string();
    let (code, out, err) = upshift(&["campaign", "new", "-o", &shown]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = upshift(&["campaign", "check", &shown, "--offline"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("valid") && out.contains("3 clusters"), "{out}");
    std::fs::write(&file, "name: mine\n").expect("edited");
    let (code, out, err) = upshift(&["campaign", "new", "-o", &shown]).await;
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("not overwritten"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "name: mine\n");
}
