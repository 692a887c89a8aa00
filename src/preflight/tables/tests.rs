//! The tables' loader: the built-in tables load, state their horizon and keep up
//! with each other; broken tables are refused naming the file, the entry and the field.

use super::*;

fn built_in() -> Tables {
    Tables::load(None).expect("built-in tables are valid")
}

#[test]
fn the_built_in_tables_load_and_are_consistent() {
    let t = built_in();
    assert!(t.removals.entries.len() >= 30);
    // each removal of 1.25 in the deprecation guide is there
    let pdb = t.removal("policy/v1beta1", "PodDisruptionBudget").expect("PDB v1beta1");
    assert_eq!(pdb.removed_in, "1.25");
    assert_eq!(pdb.replacement.as_deref(), Some("policy/v1"));
    let psp = t.removal("policy/v1beta1", "PodSecurityPolicy").expect("PSP");
    assert!(psp.replacement.is_none() && psp.note.is_some());
    // replacements are served before the removal
    for r in &t.removals.entries {
        if let Some(since) = &r.replacement_since {
            assert!(
                Minor::key(since) < Minor::key(&r.removed_in),
                "{} {:?}: replacement from {since} is not before the removal in {}",
                r.api_version,
                r.kinds,
                r.removed_in
            );
        }
    }
    // no removals in releases that removed none, 1.33 to 1.37 included
    for none in [
        "1.23", "1.24", "1.28", "1.30", "1.31", "1.33", "1.34", "1.35", "1.36", "1.37",
    ] {
        assert!(t.removals.entries.iter().all(|r| r.removed_in != none), "{none}");
        assert!(t.removals.checked.contains_key(none), "{none} was checked");
    }
    // 1.33 deprecates v1 Endpoints without removing it
    let endpoints = t
        .removals
        .deprecations
        .iter()
        .find(|d| d.api_version == "v1" && d.kinds == ["Endpoints"])
        .expect("the Endpoints deprecation");
    assert_eq!(
        (endpoints.in_release.as_str(), endpoints.effect),
        ("1.33", Effect::Deprecated)
    );
    assert!(t.removal("v1", "Endpoints").is_none(), "a deprecation is not a removal");
    assert!(t.components.rules.iter().any(|c| c.name == "cluster-autoscaler"));
    for h in t.horizons() {
        assert_eq!(h.checked_against, "1.37", "{}", h.file);
        assert_eq!(h.checked_on.to_string(), "2026-12-01", "{}", h.file);
        assert!(!h.sources.is_empty(), "{}", h.file);
    }
}

#[test]
fn every_minor_from_1_28_to_the_newest_horizon_has_data_or_says_unverified() {
    let t = built_in();
    let newest = t
        .horizons()
        .iter()
        .map(|h| h.checked_against.clone())
        .max_by_key(|m| Minor::key(m))
        .unwrap();
    assert_eq!(newest, "1.37");
    let gaps = t.coverage_gaps("1.28", &newest);
    assert!(gaps.is_empty(), "{gaps:#?}");
    // a new minor in one table and not the others shows as a gap in each of them
    let gaps = t.coverage_gaps("1.28", "1.38");
    for file in [REMOVED_APIS_FILE, COMPONENTS_FILE, NODE_OS_FILE, EKS_ADDONS_FILE] {
        assert!(
            gaps.iter().any(|g| g.starts_with(file) && g.ends_with("1.38")),
            "{file}: {gaps:#?}"
        );
    }
    // the component table keeps its promise per component: knowledge or a marked gap
    let karpenter = t.components.rules.iter().find(|c| c.name == "karpenter").unwrap();
    assert!(karpenter.knows("1.36") && !karpenter.knows("1.37") && karpenter.is_unverified("1.37"));
    let nginx = t.components.rules.iter().find(|c| c.name == "ingress-nginx").unwrap();
    assert!(
        nginx.knows("1.37"),
        "retired: knowing that no release supports 1.37 is knowledge"
    );
    let lbc = t
        .components
        .rules
        .iter()
        .find(|c| c.name == "aws-load-balancer-controller")
        .unwrap();
    assert!(
        lbc.knows("1.36") && !lbc.knows("1.37"),
        "open-ended, but not checked for 1.37"
    );
}

#[test]
fn a_table_without_its_horizon_is_refused_naming_the_file_and_field() {
    type Parse = fn(&str, &str) -> Result<(), TableError>;
    let parsers: [(&str, &str, Parse); 4] = [
        (REMOVED_APIS, REMOVED_APIS_FILE, |t, f| {
            parse_removals(t, f, true).map(|_| ())
        }),
        (COMPONENTS, COMPONENTS_FILE, |t, f| parse_components(t, f).map(|_| ())),
        (NODE_OS, NODE_OS_FILE, |t, f| node_os::parse(t, f).map(|_| ())),
        (EKS_ADDONS, EKS_ADDONS_FILE, |t, f| addons::parse(t, f).map(|_| ())),
    ];
    for (text, file, parse) in parsers {
        assert!(parse(text, file).is_ok(), "{file} as shipped");
        for field in ["checkedAgainst", "checkedOn"] {
            let without: String = text
                .lines()
                .filter(|l| !l.starts_with(&format!("{field}:")))
                .map(|l| format!("{l}\n"))
                .collect();
            let e = parse(&without, file).unwrap_err().to_string();
            assert!(
                e.contains(file) && e.contains(&format!("{field} is missing")),
                "{file} without {field}: {e}"
            );
        }
    }
    // a user's removal file may leave the horizon out; a half-stated one is refused
    let user = "removals:\n  - {removedIn: \"1.31\", apiVersion: example.com/v1alpha1, kinds: [Widget], replacement: example.com/v1, replacementSince: \"1.28\"}\n";
    assert!(parse_removals(user, "ours.yaml", false).unwrap().0.is_none());
    let half = format!("checkedOn: 2026-12-01\nsources: [ours]\n{user}");
    let e = parse_removals(&half, "ours.yaml", false).unwrap_err().to_string();
    assert!(
        e.contains("ours.yaml") && e.contains("checkedAgainst is missing"),
        "{e}"
    );
}

#[test]
fn bad_tables_are_refused_naming_the_entry() {
    let dup = "removals:\n  - {removedIn: \"1.25\", apiVersion: batch/v1beta1, kinds: [CronJob], replacement: batch/v1, replacementSince: \"1.21\"}\n  - {removedIn: \"1.25\", apiVersion: batch/v1beta1, kinds: [CronJob], replacement: batch/v1, replacementSince: \"1.21\"}\n";
    let e = parse_removals(dup, "x.yaml", false).unwrap_err().to_string();
    assert!(e.contains("x.yaml") && e.contains("listed twice"), "{e}");
    let bad = "removals:\n  - {removedIn: \"one\", apiVersion: batch/v1beta1, kinds: [CronJob], replacement: batch/v1, replacementSince: \"1.21\"}\n";
    let e = parse_removals(bad, "x.yaml", false).unwrap_err().to_string();
    assert!(e.contains("removals[0]") && e.contains("removedIn"), "{e}");
    let none = "removals:\n  - {removedIn: \"1.25\", apiVersion: policy/v1beta1, kinds: [PodSecurityPolicy], replacement: null}\n";
    let e = parse_removals(none, "x.yaml", false).unwrap_err().to_string();
    assert!(e.contains("no replacement and no note"), "{e}");

    // the built-in removal table may not skip a release, nor remove beyond its horizon
    let gap = REMOVED_APIS.replace("  \"1.30\": deprecation guide (no beta API removed)\n", "");
    let e = parse_removals(&gap, REMOVED_APIS_FILE, true).unwrap_err().to_string();
    assert!(e.contains("checked jumps from 1.29 to 1.31"), "{e}");
    let beyond = REMOVED_APIS.replace("checkedAgainst: \"1.37\"", "checkedAgainst: \"1.31\"");
    let e = parse_removals(&beyond, REMOVED_APIS_FILE, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("beyond checkedAgainst 1.31"), "{e}");

    // a component cannot both know a minor and call it unverified, nor skip one
    let both = COMPONENTS.replace(
        "      \"1.36\": v1.13.0\n    unverified: [\"1.37\"]",
        "      \"1.36\": v1.13.0\n    unverified: [\"1.36\", \"1.37\"]",
    );
    assert_ne!(both, COMPONENTS);
    let e = parse_components(&both, COMPONENTS_FILE).unwrap_err().to_string();
    assert!(
        e.contains("component karpenter") && e.contains("1.36 is listed as unverified"),
        "{e}"
    );
    let hole = COMPONENTS.replace("      \"1.33\": v1.5.0\n", "");
    let e = parse_components(&hole, COMPONENTS_FILE).unwrap_err().to_string();
    assert!(e.contains("karpenter.minimum jumps from 1.32 to 1.34"), "{e}");
    let far = COMPONENTS.replace(
        "unverified: [\"1.34\", \"1.35\", \"1.36\", \"1.37\"]",
        "unverified: [\"1.34\", \"1.35\", \"1.36\", \"1.37\", \"1.38\"]",
    );
    let e = parse_components(&far, COMPONENTS_FILE).unwrap_err().to_string();
    assert!(
        e.contains("component vpc-cni") && e.contains("1.38 is beyond checkedAgainst"),
        "{e}"
    );

    // the add-on table: one default per minor, and a default runs where it is default
    let two = EKS_ADDONS.replace(
        "{version: v1.35.3-eksbuild.2, clusterVersions: [\"1.35\"], defaultFor: []}",
        "{version: v1.35.3-eksbuild.2, clusterVersions: [\"1.35\"], defaultFor: [\"1.35\"]}",
    );
    let e = addons::parse(&two, EKS_ADDONS_FILE).unwrap_err().to_string();
    assert!(
        e.contains("add-on kube-proxy") && e.contains("two versions are the default for 1.35"),
        "{e}"
    );
    let elsewhere = EKS_ADDONS.replace(
        "{version: v1.36.0-eksbuild.14, clusterVersions: [\"1.36\"], defaultFor: [\"1.36\"]}",
        "{version: v1.36.0-eksbuild.14, clusterVersions: [\"1.36\"], defaultFor: [\"1.35\"]}",
    );
    let e = addons::parse(&elsewhere, EKS_ADDONS_FILE).unwrap_err().to_string();
    assert!(e.contains("default for 1.35 but does not run on it"), "{e}");

    // the node OS table: an amiType belongs to one family
    let twice = NODE_OS.replace(
        "amiTypes: [WINDOWS_CORE_2019_x86_64,",
        "amiTypes: [AL2_x86_64, WINDOWS_CORE_2019_x86_64,",
    );
    let e = node_os::parse(&twice, NODE_OS_FILE).unwrap_err().to_string();
    assert!(
        e.contains("family Windows Server") && e.contains("AL2_x86_64 belongs to two families"),
        "{e}"
    );
}

#[test]
fn a_user_file_adds_and_overrides_removals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.yaml");
    std::fs::write(
        &path,
        "removals:\n  - {removedIn: \"1.31\", apiVersion: example.com/v1alpha1, kinds: [Widget], replacement: example.com/v1, replacementSince: \"1.28\"}\n  - {removedIn: \"1.26\", apiVersion: policy/v1beta1, kinds: [PodDisruptionBudget], replacement: policy/v1, replacementSince: \"1.21\"}\n",
    )
    .unwrap();
    let t = Tables::load(Some(&path)).unwrap();
    assert_eq!(t.removal("example.com/v1alpha1", "Widget").unwrap().removed_in, "1.31");
    assert_eq!(
        t.removal("policy/v1beta1", "PodDisruptionBudget").unwrap().removed_in,
        "1.26"
    );
    assert_eq!(t.removals.horizon.checked_against, "1.37", "the built-in horizon stays");
    // a broken user file is refused naming the file
    std::fs::write(&path, "removals: [{removedIn: x}]\n").unwrap();
    let e = Tables::load(Some(&path)).unwrap_err().to_string();
    assert!(e.contains("ours.yaml"), "{e}");
    let missing = Tables::load(Some(&dir.path().join("nope.yaml")))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nope.yaml"), "{missing}");
}

#[test]
fn the_simulated_add_ons_have_a_default_for_every_minor_eks_documents() {
    let t = built_in();
    for a in &t.eks_addons.addons {
        for m in horizon::minors("1.28", "1.36") {
            let default = a
                .default_for(&m)
                .unwrap_or_else(|| panic!("{} has no default for {m}", a.name));
            assert!(semver(default).is_some());
        }
        assert!(a.default_for("1.37").is_none(), "EKS offers no 1.37");
        assert!(a.is_unverified("1.37"));
    }
}

#[test]
fn node_os_families_are_found_by_ami_type_and_os_image() {
    use node_os::Availability::*;
    let t = built_in().node_os;
    let al2 = t.family_of_ami("AL2_x86_64").unwrap();
    assert_eq!(al2.name, "Amazon Linux 2");
    assert_eq!((al2.availability("1.32"), al2.availability("1.33")), (Published, Never));
    assert_eq!(al2.move_to["AL2_x86_64"], "AL2023_x86_64_STANDARD");
    assert_eq!(al2.end_of_support().unwrap().to_string(), "2025-11-26");
    let al2023 = t.family_of_image("Amazon Linux 2023.6.20241111").unwrap();
    assert_eq!(al2023.name, "Amazon Linux 2023", "the longest prefix wins");
    assert_eq!(
        (al2023.availability("1.36"), al2023.availability("1.37")),
        (Published, Unverified)
    );
    assert!(al2023.ships_containerd2("1.34") && !al2023.ships_containerd2("1.31"));
    assert_eq!(t.family_of_image("Amazon Linux 2").unwrap().name, "Amazon Linux 2");
    let br = t.family_of_image("Bottlerocket OS 1.31.0 (aws-k8s-1.32)").unwrap();
    assert!(br.tolerates_cgroup_v1 && br.cgroup == CgroupUse::V2);
    assert!(t.family_of_image("Ubuntu 22.04.4 LTS").is_none());
    assert!(t.family_of_ami("CUSTOM").is_none());
}

#[test]
fn versions_parse() {
    assert_eq!(semver("v1.11.3-eksbuild.1"), Some((1, 11, 3)));
    assert_eq!(semver("1.0.5"), Some((1, 0, 5)));
    assert_eq!(semver("v1.12"), Some((1, 12, 0)));
    assert_eq!(semver("latest"), None);
}
