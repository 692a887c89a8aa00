//! The removed-API check's answer at the table's horizon, and the deprecations a
//! step crosses: a target beyond what the table knows is a warning and a partial run,
//! never "ok"; a deprecation is a note (or a warning when something stops working),
//! never a removal.

use super::*;
use crate::preflight::tables::Tables;

fn run_for(current: &str, target: &str) -> (Vec<Finding>, CheckRun) {
    let tables = Tables::load(None).unwrap();
    check(&Snapshot::default(), current, target, &tables.removals)
}

#[test]
fn a_target_beyond_the_horizon_warns_and_is_never_ok() {
    let (all, run) = run_for("1.37", "1.38");
    let gap: Vec<&Finding> = all.iter().filter(|f| f.severity == Severity::Warning).collect();
    assert_eq!(gap.len(), 1, "{all:#?}");
    assert_eq!(
        gap[0].title,
        "The removed-API table was last checked against 1.37; 1.38 may remove APIs it does not know"
    );
    assert!(gap[0].action.contains("--apis FILE"), "{}", gap[0].action);
    assert!(!run.complete, "never an ok beyond the horizon");
    assert!(
        run.examined
            .contains("in releases up to 1.37 (removal table checked against 1.37 on 2026-12-01; 1.38 is beyond it)"),
        "{}",
        run.examined
    );
    // two minors beyond name both
    let (all, _) = run_for("1.37", "1.39");
    assert!(
        all.iter().any(|f| f.title.contains("1.38 and 1.39 may remove")),
        "{all:#?}"
    );
}

#[test]
fn within_the_horizon_the_run_says_how_far_it_checked() {
    let (all, run) = run_for("1.34", "1.35");
    assert!(all.is_empty(), "1.35 removes nothing and deprecates no API: {all:#?}");
    assert!(run.complete);
    let tables = Tables::load(None).unwrap();
    let n = tables
        .removals
        .entries
        .iter()
        .filter(|r| Minor::key(&r.removed_in) <= Minor::new(1, 35))
        .count();
    assert!(
        run.examined.contains(&format!(
            "against {n} removals in releases up to 1.35 (removal table checked against 1.37 on 2026-12-01)"
        )),
        "{}",
        run.examined
    );
}

#[test]
fn deprecations_crossed_are_noted_and_a_disabled_feature_warns() {
    let (all, _) = run_for("1.32", "1.33");
    let endpoints: Vec<&Finding> = all.iter().filter(|f| f.title.contains("v1 Endpoints")).collect();
    assert_eq!(endpoints.len(), 1, "{all:#?}");
    assert_eq!(endpoints[0].title, "Kubernetes 1.33 deprecates v1 Endpoints");
    assert_eq!(endpoints[0].severity, Severity::Info);
    assert!(
        endpoints[0].action.contains("discovery.k8s.io/v1"),
        "{}",
        endpoints[0].action
    );
    assert!(all.iter().all(|f| f.severity != Severity::Blocker));
    let (all, _) = run_for("1.35", "1.36");
    let git = all
        .iter()
        .find(|f| f.title.contains("gitRepo"))
        .expect("gitRepo volumes");
    assert_eq!(git.severity, Severity::Warning);
    assert!(
        git.title
            .starts_with("Kubernetes 1.36 disables .spec.volumes[].gitRepo of v1 Pod"),
        "{}",
        git.title
    );
    assert!(
        all.iter()
            .any(|f| f.title.contains(".spec.externalIPs") && f.severity == Severity::Info)
    );
    // a step that crosses none notes none
    assert!(run_for("1.30", "1.31").0.is_empty());
}
