//! The RBAC shipped in docs/rbac/: both files parse as Kubernetes RBAC objects; the
//! viewers' and the research roles only read; the lead's role grants exactly the
//! writes the drive makes; no wildcard anywhere; every binding names a role defined
//! in the files. A small evaluator of RBAC rules (verb, API group, resource with
//! subresource, namespace, resource name) then checks the requests each command
//! sends against each group, both from a table (with namespaces and names) and as
//! the simulator counted them when the real code ran against it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject};

const VIEWER_FILE: &str = "docs/rbac/upshift-viewer.yaml";
const LEAD_FILE: &str = "docs/rbac/upshift-lead.yaml";

const VIEWERS: &str = "upshift:viewers";
const RESEARCHERS: &str = "upshift:researchers";
const LEADS: &str = "upshift:leads";

const READ_VERBS: &[&str] = &["get", "list", "watch"];
const KNOWN_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// (API group, resource) pairs the files may name: what upshift reads or writes. A
/// misspelt resource ("poddisruptionbudget") would grant nothing, silently.
const KNOWN_RESOURCES: &[(&str, &str)] = &[
    ("", "nodes"),
    ("", "pods"),
    ("", "pods/eviction"),
    ("", "events"),
    ("", "configmaps"),
    ("", "secrets"),
    ("events.k8s.io", "events"),
    ("policy", "poddisruptionbudgets"),
    ("apps", "deployments"),
    ("apps", "daemonsets"),
    ("apps", "statefulsets"),
    ("coordination.k8s.io", "leases"),
];

fn read(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every RBAC object of the files, by kind.
#[derive(Default, Debug)]
struct Rbac {
    cluster_roles: BTreeMap<String, ClusterRole>,
    /// By (namespace, name).
    roles: BTreeMap<(String, String), Role>,
    cluster_bindings: Vec<ClusterRoleBinding>,
    bindings: Vec<RoleBinding>,
}

fn meta_name(v: &serde_json::Value) -> String {
    v.pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .unwrap_or_default()
        .to_string()
}

impl Rbac {
    /// Parses multi-document YAML texts (`(file, text)`) into typed RBAC objects.
    fn parse(texts: &[(&str, &str)]) -> Result<Rbac, String> {
        let mut rbac = Rbac::default();
        for (file, text) in texts {
            for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
                let value: serde_json::Value =
                    serde::Deserialize::deserialize(doc).map_err(|e| format!("{file}: document {i}: {e}"))?;
                if value.is_null() {
                    continue; // a document of comments only
                }
                let kind = value
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .unwrap_or_default()
                    .to_string();
                let name = meta_name(&value);
                let typed = |e: serde_json::Error| format!("{file}: {kind} {name}: {e}");
                match kind.as_str() {
                    "ClusterRole" => {
                        let r: ClusterRole = serde_json::from_value(value).map_err(typed)?;
                        if rbac.cluster_roles.insert(name.clone(), r).is_some() {
                            return Err(format!("{file}: ClusterRole {name} defined twice"));
                        }
                    }
                    "Role" => {
                        let r: Role = serde_json::from_value(value).map_err(typed)?;
                        let ns = r
                            .metadata
                            .namespace
                            .clone()
                            .ok_or(format!("{file}: Role {name} has no namespace"))?;
                        if rbac.roles.insert((ns, name.clone()), r).is_some() {
                            return Err(format!("{file}: Role {name} defined twice"));
                        }
                    }
                    "ClusterRoleBinding" => rbac
                        .cluster_bindings
                        .push(serde_json::from_value(value).map_err(typed)?),
                    "RoleBinding" => rbac.bindings.push(serde_json::from_value(value).map_err(typed)?),
                    other => return Err(format!("{file}: document {i}: unexpected kind {other:?}")),
                }
            }
        }
        Ok(rbac)
    }

    fn shipped() -> Rbac {
        let viewer = read(VIEWER_FILE);
        let lead = read(LEAD_FILE);
        Rbac::parse(&[(VIEWER_FILE, &viewer), (LEAD_FILE, &lead)]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every rule, named `ClusterRole x` or `Role ns/x`.
    fn all_rules(&self) -> Vec<(String, &PolicyRule)> {
        let mut out = Vec::new();
        for (name, r) in &self.cluster_roles {
            out.extend(
                r.rules
                    .iter()
                    .flatten()
                    .map(|rule| (format!("ClusterRole {name}"), rule)),
            );
        }
        for ((ns, name), r) in &self.roles {
            out.extend(r.rules.iter().flatten().map(|rule| (format!("Role {ns}/{name}"), rule)));
        }
        out
    }

    /// The rules a group holds, each with the namespace it applies in (None: every
    /// namespace and cluster-scoped resources).
    fn rules_of(&self, group: &str) -> Vec<(Option<String>, String, &PolicyRule)> {
        let member =
            |subjects: &Option<Vec<Subject>>| subjects.iter().flatten().any(|s| s.kind == "Group" && s.name == group);
        let mut out = Vec::new();
        for b in &self.cluster_bindings {
            if !member(&b.subjects) || b.role_ref.kind != "ClusterRole" {
                continue;
            }
            if let Some(r) = self.cluster_roles.get(&b.role_ref.name) {
                let label = format!("ClusterRole {}", b.role_ref.name);
                out.extend(r.rules.iter().flatten().map(|rule| (None, label.clone(), rule)));
            }
        }
        for b in &self.bindings {
            if !member(&b.subjects) {
                continue;
            }
            let ns = b.metadata.namespace.clone().unwrap_or_default();
            let rules: Option<(String, &Vec<PolicyRule>)> = match b.role_ref.kind.as_str() {
                "Role" => self
                    .roles
                    .get(&(ns.clone(), b.role_ref.name.clone()))
                    .and_then(|r| r.rules.as_ref())
                    .map(|rules| (format!("Role {ns}/{}", b.role_ref.name), rules)),
                "ClusterRole" => self
                    .cluster_roles
                    .get(&b.role_ref.name)
                    .and_then(|r| r.rules.as_ref())
                    .map(|rules| (format!("ClusterRole {}", b.role_ref.name), rules)),
                _ => None,
            };
            if let Some((label, rules)) = rules {
                out.extend(rules.iter().map(|rule| (Some(ns.clone()), label.clone(), rule)));
            }
        }
        out
    }

    /// Whether one of `groups` may make `req`, and through which role.
    fn allows(&self, groups: &[&str], req: &Req) -> Option<String> {
        groups.iter().find_map(|g| {
            self.rules_of(g).into_iter().find_map(|(ns, label, rule)| {
                let in_scope = match (&ns, req.namespace) {
                    (None, _) => true,
                    (Some(bound), Some(asked)) => bound == asked,
                    (Some(_), None) => false, // a RoleBinding never grants cluster-wide
                };
                (in_scope && rule_matches(rule, req)).then_some(label)
            })
        })
    }
}

/// One API request as the authorizer sees it. For list and watch, `name` is the
/// field selector `metadata.name=...` the client sends (only then does a rule with
/// resourceNames apply to a list or watch).
#[derive(Clone, Copy, Debug)]
struct Req {
    verb: &'static str,
    group: &'static str,
    /// With its subresource: `pods/eviction`.
    resource: &'static str,
    namespace: Option<&'static str>,
    name: Option<&'static str>,
}

const fn req(verb: &'static str, group: &'static str, resource: &'static str) -> Req {
    Req {
        verb,
        group,
        resource,
        namespace: None,
        name: None,
    }
}

impl Req {
    const fn ns(mut self, ns: &'static str) -> Req {
        self.namespace = Some(ns);
        self
    }
    const fn named(mut self, name: &'static str) -> Req {
        self.name = Some(name);
        self
    }
}

fn has(list: &Option<Vec<String>>, want: &str) -> bool {
    list.iter().flatten().any(|x| x == want || x == "*")
}

/// Kubernetes RBAC's rule matching (k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac).
fn rule_matches(rule: &PolicyRule, req: &Req) -> bool {
    let verb = rule.verbs.iter().any(|v| v == req.verb || v == "*");
    let names = match &rule.resource_names {
        None => true,
        Some(n) if n.is_empty() => true,
        Some(n) => req.name.is_some_and(|want| n.iter().any(|x| x == want)),
    };
    verb && has(&rule.api_groups, req.group) && has(&rule.resources, req.resource) && names
}

const KS: &str = "kube-system";
const ROLLOUT: &str = "upshift-rollout";

/// `upshift watch` (src/cluster/watch.rs): one watch per kind, cluster-wide, and the
/// rollout's ConfigMap by a field selector on its name; the lease to show who drives.
fn watch_requests() -> Vec<Req> {
    let mut out = Vec::new();
    for (g, r) in [
        ("", "nodes"),
        ("", "pods"),
        ("", "events"),
        ("events.k8s.io", "events"),
        ("policy", "poddisruptionbudgets"),
        ("apps", "deployments"),
        ("apps", "daemonsets"),
    ] {
        out.push(req("list", g, r));
        out.push(req("watch", g, r));
    }
    out.push(req("get", "", "nodes"));
    out.push(req("list", "", "configmaps").ns(KS).named(ROLLOUT));
    out.push(req("watch", "", "configmaps").ns(KS).named(ROLLOUT));
    out.push(req("get", "", "configmaps").ns(KS).named(ROLLOUT));
    out.push(req("get", "coordination.k8s.io", "leases").ns(KS).named(ROLLOUT));
    out
}

/// `upshift plan` and `plan check` (src/rollout/plan/discover.rs).
fn plan_requests() -> Vec<Req> {
    vec![req("list", "", "nodes")]
}

/// `upshift preflight` (src/preflight/gather.rs): everything listed cluster-wide.
fn preflight_requests() -> Vec<Req> {
    [
        ("", "nodes"),
        ("", "pods"),
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("policy", "poddisruptionbudgets"),
        ("", "secrets"),
        ("", "configmaps"),
    ]
    .into_iter()
    .map(|(g, r)| req("list", g, r))
    .collect()
}

/// What `upshift drive` writes: the drain (src/rollout/steps/drain.rs), the lock
/// (src/rollout/lock.rs), the published state (src/rollout/drive/publish.rs, a
/// server-side apply, authorized as patch and, when it creates, as create of that
/// name), and the lead's "delete the pod anyway".
fn drive_writes() -> Vec<Req> {
    vec![
        req("patch", "", "nodes").named("ip-10-0-1-7.eu-west-1.compute.internal"),
        req("list", "", "pods"),
        req("list", "policy", "poddisruptionbudgets").ns("payments"),
        req("create", "", "pods/eviction").ns("payments").named("ledger-0"),
        req("delete", "", "pods").ns("payments").named("ledger-0"),
        req("create", "coordination.k8s.io", "leases").ns(KS),
        req("get", "coordination.k8s.io", "leases").ns(KS).named(ROLLOUT),
        req("update", "coordination.k8s.io", "leases").ns(KS).named(ROLLOUT),
        req("delete", "coordination.k8s.io", "leases").ns(KS).named(ROLLOUT),
        req("create", "", "configmaps").ns(KS).named(ROLLOUT),
        req("patch", "", "configmaps").ns(KS).named(ROLLOUT),
        req("get", "", "configmaps").ns(KS).named(ROLLOUT),
        req("update", "", "configmaps").ns(KS).named(ROLLOUT),
    ]
}

/// What the structure of the files must hold; each string is one violation.
fn structure_violations(rbac: &Rbac) -> Vec<String> {
    let mut bad = Vec::new();
    for (owner, rule) in rbac.all_rules() {
        let lists = [
            ("verbs", Some(&rule.verbs)),
            ("apiGroups", rule.api_groups.as_ref()),
            ("resources", rule.resources.as_ref()),
            ("resourceNames", rule.resource_names.as_ref()),
            ("nonResourceURLs", rule.non_resource_urls.as_ref()),
        ];
        for (field, list) in lists {
            if list.into_iter().flatten().any(|x| x.contains('*')) {
                bad.push(format!("{owner}: `*` in {field}"));
            }
        }
        if rule.non_resource_urls.is_some() {
            bad.push(format!(
                "{owner}: nonResourceURLs (upshift needs none beyond the defaults)"
            ));
        }
        for v in &rule.verbs {
            if !KNOWN_VERBS.contains(&v.as_str()) {
                bad.push(format!("{owner}: unknown verb {v:?}"));
            }
        }
        for g in rule.api_groups.iter().flatten() {
            for r in rule.resources.iter().flatten() {
                if !KNOWN_RESOURCES.contains(&(g.as_str(), r.as_str())) {
                    bad.push(format!(
                        "{owner}: resource {r:?} in group {g:?} is not one upshift uses"
                    ));
                }
            }
        }
        if rule.resource_names.as_ref().is_some_and(|n| !n.is_empty())
            && rule.verbs.iter().any(|v| v == "deletecollection")
        {
            bad.push(format!("{owner}: deletecollection cannot be limited by resourceNames"));
        }
    }
    let groups = [VIEWERS, RESEARCHERS, LEADS];
    let check_subjects = |what: String, subjects: &Option<Vec<Subject>>, bad: &mut Vec<String>| {
        if subjects.as_ref().is_none_or(Vec::is_empty) {
            bad.push(format!("{what}: no subjects"));
        }
        for s in subjects.iter().flatten() {
            if s.kind != "Group" || !groups.contains(&s.name.as_str()) {
                bad.push(format!(
                    "{what}: subject {} {} is not one of {groups:?}",
                    s.kind, s.name
                ));
            }
        }
    };
    for b in &rbac.cluster_bindings {
        let name = b.metadata.name.clone().unwrap_or_default();
        if b.role_ref.kind != "ClusterRole" || !rbac.cluster_roles.contains_key(&b.role_ref.name) {
            bad.push(format!(
                "ClusterRoleBinding {name}: {} {} is not defined in docs/rbac/",
                b.role_ref.kind, b.role_ref.name
            ));
        }
        check_subjects(format!("ClusterRoleBinding {name}"), &b.subjects, &mut bad);
    }
    for b in &rbac.bindings {
        let name = b.metadata.name.clone().unwrap_or_default();
        let ns = b.metadata.namespace.clone().unwrap_or_default();
        let defined = match b.role_ref.kind.as_str() {
            "Role" => rbac.roles.contains_key(&(ns.clone(), b.role_ref.name.clone())),
            "ClusterRole" => rbac.cluster_roles.contains_key(&b.role_ref.name),
            _ => false,
        };
        if !defined {
            bad.push(format!(
                "RoleBinding {ns}/{name}: {} {} is not defined in docs/rbac/ (in {ns})",
                b.role_ref.kind, b.role_ref.name
            ));
        }
        check_subjects(format!("RoleBinding {ns}/{name}"), &b.subjects, &mut bad);
    }
    bad
}

/// The viewer and research roles, and everything bound to the viewers and the
/// researchers, may only get, list and watch.
fn read_only_violations(rbac: &Rbac) -> Vec<String> {
    fn check(bad: &mut Vec<String>, owner: &str, rules: &[PolicyRule]) {
        for rule in rules {
            for v in &rule.verbs {
                if !READ_VERBS.contains(&v.as_str()) {
                    bad.push(format!(
                        "{owner}: {v} on {:?}",
                        rule.resources.clone().unwrap_or_default()
                    ));
                }
            }
        }
    }
    let mut bad = Vec::new();
    for name in ["upshift-viewer", "upshift-research"] {
        match rbac.cluster_roles.get(name) {
            Some(r) => check(
                &mut bad,
                &format!("ClusterRole {name}"),
                r.rules.as_deref().unwrap_or_default(),
            ),
            None => bad.push(format!("ClusterRole {name} is missing")),
        }
    }
    match rbac.roles.get(&(KS.to_string(), "upshift-viewer".to_string())) {
        Some(r) => check(
            &mut bad,
            &format!("Role {KS}/upshift-viewer"),
            r.rules.as_deref().unwrap_or_default(),
        ),
        None => bad.push(format!("Role {KS}/upshift-viewer is missing")),
    }
    for g in [VIEWERS, RESEARCHERS] {
        for (_, label, rule) in rbac.rules_of(g) {
            check(&mut bad, &format!("{g} through {label}"), std::slice::from_ref(rule));
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

#[test]
fn files_parse_and_every_binding_names_a_role_defined_here() {
    let rbac = Rbac::shipped();
    let cluster_roles: Vec<&str> = rbac.cluster_roles.keys().map(String::as_str).collect();
    assert_eq!(cluster_roles, ["upshift-lead", "upshift-research", "upshift-viewer"]);
    let roles: Vec<(&str, &str)> = rbac.roles.keys().map(|(n, r)| (n.as_str(), r.as_str())).collect();
    assert_eq!(roles, [(KS, "upshift-lead"), (KS, "upshift-viewer")]);
    assert!(!rbac.cluster_bindings.is_empty() && !rbac.bindings.is_empty());
    let bad = structure_violations(&rbac);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // each file says what it is for, how to apply it and how to map IAM roles
    for file in [VIEWER_FILE, LEAD_FILE] {
        let text = read(file);
        let head: String = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        for needle in ["kubectl apply -f", "create-access-entry", "aws-auth", "upshift:"] {
            assert!(head.contains(needle), "{file}'s opening comment lacks {needle:?}");
        }
    }
}

#[test]
fn the_viewer_and_research_roles_only_read() {
    let rbac = Rbac::shipped();
    let bad = read_only_violations(&rbac);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // and a viewer is refused every write upshift ever makes
    for w in drive_writes() {
        if READ_VERBS.contains(&w.verb) {
            continue;
        }
        assert_eq!(rbac.allows(&[VIEWERS, RESEARCHERS], &w), None, "viewers may {w:?}");
    }
}

#[test]
fn the_checks_fail_on_a_write_a_wildcard_or_a_dangling_binding() {
    let viewer = read(VIEWER_FILE);
    let lead = read(LEAD_FILE);
    let parse = |v: &str, l: &str| Rbac::parse(&[(VIEWER_FILE, v), (LEAD_FILE, l)]).unwrap();

    // `update` added to the viewer's first rule
    let first = "verbs: [get, list, watch]";
    assert!(viewer.contains(first));
    let with_update = viewer.replacen(first, "verbs: [get, list, watch, update]", 1);
    let bad = read_only_violations(&parse(&with_update, &lead));
    assert!(bad.iter().any(|b| b.contains("upshift-viewer: update")), "{bad:?}");

    // research grown to write Helm records
    let research = "resources: [secrets, configmaps]\n    verbs: [list]";
    assert!(viewer.contains(research));
    let with_get = viewer.replacen(
        research,
        "resources: [secrets, configmaps]\n    verbs: [list, patch]",
        1,
    );
    let bad = read_only_violations(&parse(&with_get, &lead));
    assert!(bad.iter().any(|b| b.contains("upshift-research: patch")), "{bad:?}");

    // a wildcard in the lead's role
    let delete = "resources: [pods]\n    verbs: [delete]";
    assert!(lead.contains(delete));
    let wild = lead.replacen(delete, "resources: [pods]\n    verbs: [\"*\"]", 1);
    let bad = structure_violations(&parse(&viewer, &wild));
    assert!(bad.iter().any(|b| b.contains("`*` in verbs")), "{bad:?}");

    // a binding to a role that is not defined
    let role_ref = "  kind: ClusterRole\n  name: upshift-research\n";
    assert!(lead.contains(role_ref));
    let dangling = lead.replacen(role_ref, "  kind: ClusterRole\n  name: upshift-researcher\n", 1);
    let bad = structure_violations(&parse(&viewer, &dangling));
    assert!(
        bad.iter().any(|b| b.contains("upshift-researcher is not defined")),
        "{bad:?}"
    );

    // a misspelt resource
    let pdb = "resources: [poddisruptionbudgets]";
    let typo = viewer.replacen(pdb, "resources: [poddisruptionbudget]", 1);
    let bad = structure_violations(&parse(&typo, &lead));
    assert!(bad.iter().any(|b| b.contains("\"poddisruptionbudget\"")), "{bad:?}");

    // and the evaluator refuses what the lead's role no longer grants
    let no_evict = lead.replacen("resources: [pods/eviction]", "resources: [pods/status]", 1);
    let rbac = parse(&viewer, &no_evict);
    let evict = req("create", "", "pods/eviction").ns("payments").named("ledger-0");
    assert_eq!(rbac.allows(&[LEADS], &evict), None);
}

#[test]
fn the_lead_role_grants_the_drives_writes_and_no_more() {
    let rbac = Rbac::shipped();
    let lead = rbac
        .cluster_roles
        .get("upshift-lead")
        .expect("ClusterRole upshift-lead");
    let lead_ks = rbac
        .roles
        .get(&(KS.to_string(), "upshift-lead".to_string()))
        .expect("Role kube-system/upshift-lead");
    let grants = |rules: &Option<Vec<PolicyRule>>, group: &str, resource: &str, names: &[&str]| -> BTreeSet<String> {
        rules
            .iter()
            .flatten()
            .filter(|r| has(&r.api_groups, group) && has(&r.resources, resource))
            .filter(|r| {
                let n: Vec<&str> = r.resource_names.iter().flatten().map(String::as_str).collect();
                n == names
            })
            .flat_map(|r| r.verbs.iter().cloned())
            .collect()
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
    assert_eq!(grants(&lead.rules, "", "nodes", &[]), set(&["patch"]));
    assert_eq!(grants(&lead.rules, "", "pods/eviction", &[]), set(&["create"]));
    assert_eq!(grants(&lead.rules, "", "pods", &[]), set(&["delete"]));
    assert_eq!(
        lead.rules.as_ref().map(Vec::len),
        Some(3),
        "the lead's ClusterRole has grown"
    );
    assert_eq!(
        grants(&lead_ks.rules, "coordination.k8s.io", "leases", &[]),
        set(&["create"])
    );
    assert_eq!(
        grants(&lead_ks.rules, "coordination.k8s.io", "leases", &[ROLLOUT]),
        set(&["get", "update", "delete"])
    );
    assert_eq!(
        grants(&lead_ks.rules, "", "configmaps", &[ROLLOUT]),
        set(&["create", "get", "update", "patch"])
    );
    assert!(
        grants(&lead_ks.rules, "", "configmaps", &[]).is_empty(),
        "configmaps only by name"
    );
    assert_eq!(
        lead_ks.rules.as_ref().map(Vec::len),
        Some(3),
        "the lead's Role has grown"
    );

    for w in drive_writes() {
        assert!(rbac.allows(&[LEADS], &w).is_some(), "the lead may not {w:?}");
    }
    // not beyond
    let refused = [
        req("patch", "", "configmaps").ns(KS).named("aws-auth"),
        req("create", "", "configmaps").ns(KS).named("aws-auth"),
        req("update", "", "configmaps").ns(KS).named("coredns"),
        req("update", "coordination.k8s.io", "leases")
            .ns(KS)
            .named("kube-scheduler"),
        req("delete", "coordination.k8s.io", "leases")
            .ns(KS)
            .named("cluster-autoscaler"),
        req("patch", "", "leases").ns(KS).named(ROLLOUT),
        req("delete", "", "nodes").named("ip-10-0-1-7.eu-west-1.compute.internal"),
        req("update", "", "nodes").named("ip-10-0-1-7.eu-west-1.compute.internal"),
        req("create", "", "pods").ns("payments"),
        req("patch", "", "pods").ns("payments").named("ledger-0"),
        req("deletecollection", "", "pods").ns("payments"),
        req("get", "", "secrets").ns("payments").named("db"),
        req("patch", "apps", "deployments").ns("kube-system").named("coredns"),
        req("update", "apps", "daemonsets").ns("kube-system").named("aws-node"),
        req("patch", "", "configmaps").ns("shop").named(ROLLOUT),
        req("create", "coordination.k8s.io", "leases").ns("shop"),
    ];
    for r in refused {
        assert_eq!(rbac.allows(&[LEADS], &r), None, "the lead may {r:?}");
    }
}

#[test]
fn each_command_is_allowed_what_it_sends_and_a_shadow_sees_no_secret() {
    let rbac = Rbac::shipped();
    for r in watch_requests().into_iter().chain(plan_requests()) {
        assert!(rbac.allows(&[VIEWERS], &r).is_some(), "a viewer may not {r:?}");
    }
    for r in preflight_requests() {
        assert!(
            rbac.allows(&[VIEWERS, RESEARCHERS], &r).is_some(),
            "viewers with research may not {r:?}"
        );
    }
    // the lead's one group covers the cockpit and the plan's preflight step too
    for r in watch_requests()
        .into_iter()
        .chain(plan_requests())
        .chain(preflight_requests())
    {
        assert!(rbac.allows(&[LEADS], &r).is_some(), "the lead may not {r:?}");
    }
    // a pure shadow: no Secret, no other ConfigMap, not even in kube-system
    let refused = [
        req("list", "", "secrets"),
        req("get", "", "secrets").ns(KS).named("aws-auth"),
        req("list", "", "configmaps"),
        req("list", "", "configmaps").ns(KS),
        req("watch", "", "configmaps").ns(KS),
        req("get", "", "configmaps").ns(KS).named("aws-auth"),
        req("get", "", "configmaps").ns("shop").named(ROLLOUT),
        req("list", "apps", "statefulsets"),
        req("get", "coordination.k8s.io", "leases")
            .ns(KS)
            .named("kube-scheduler"),
        req("list", "coordination.k8s.io", "leases").ns(KS),
    ];
    for r in refused {
        assert_eq!(rbac.allows(&[VIEWERS], &r), None, "a viewer may {r:?}");
    }
    // research lists, and only lists
    for r in [
        req("get", "", "secrets").ns("shop").named("db"),
        req("watch", "", "secrets"),
    ] {
        assert_eq!(rbac.allows(&[VIEWERS, RESEARCHERS], &r), None, "research may {r:?}");
    }
}

/// Whether `groups` may make what the simulator counted (verb and resource, with no
/// namespace or name). Rules limited by resourceNames count only for the rollout's
/// ConfigMap and Lease, whose names and namespace the table tests above check.
fn allows_counted(rbac: &Rbac, groups: &[&str], verb: &str, resource: &str) -> bool {
    groups.iter().any(|g| {
        rbac.rules_of(g).into_iter().any(|(_, _, rule)| {
            let named = rule.resource_names.as_ref().is_some_and(|n| !n.is_empty());
            rule.verbs.iter().any(|v| v == verb)
                && rule.resources.iter().flatten().any(|r| r == resource)
                && (!named || matches!(resource, "configmaps" | "leases"))
        })
    })
}

/// The requests the simulator counted for an identity, minus what every
/// authenticated user may do by Kubernetes' default roles (discovery, /version,
/// asking its own access).
fn counted(sim: &upshift::sim::Simulator, who: &str) -> Vec<(String, String)> {
    let counts = sim.request_counts();
    let mut out = Vec::new();
    for (verb, resources) in counts.0.get(who).cloned().unwrap_or_default() {
        for resource in resources.keys() {
            if resource == "discovery" || resource.starts_with("selfsubject") {
                continue;
            }
            out.push((verb.clone(), resource.clone()));
        }
    }
    out
}

#[tokio::test]
async fn what_upshift_sends_to_the_simulator_is_granted_to_its_group() {
    use upshift::model::{Delta, Source, SourceState};
    use upshift::rollout::journal::Journal;
    use upshift::rollout::lock::{Lock, NAME, NAMESPACE};
    use upshift::rollout::plan::Drain;
    use upshift::rollout::steps::{DrainCtx, Progress, drain_node};

    let rbac = Rbac::shipped();
    let sim = common::start("demo").await;

    // the read-only cockpit, until every watch has listed the cluster
    let viewer = sim.client("viewer").await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let watches = upshift::cluster::ClusterReader::new(viewer.clone()).start(tx);
    let mut synced = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while synced.len() < Source::ALL.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Delta::Source(s, SourceState::Synced))) => {
                synced.insert(s);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("the watches did not sync: {synced:?}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let watch_sent = counted(&sim, "viewer");
    assert!(!watch_sent.is_empty());
    for (verb, resource) in &watch_sent {
        assert!(
            allows_counted(&rbac, &[VIEWERS], verb, resource),
            "upshift watch sent {verb} {resource}, which upshift:viewers may not (docs/rbac/upshift-viewer.yaml)"
        );
    }
    drop(watches);

    // plan's discovery and preflight's reads
    upshift::rollout::plan::discover(&viewer, "demo", None, "1.31")
        .await
        .expect("discovery as a viewer");
    let snapshot = upshift::preflight::gather::gather(&viewer)
        .await
        .expect("preflight reads");
    // (the simulator serves no StatefulSets: "not served" is fine, a refusal is not)
    assert!(
        !snapshot.unreadable.iter().any(|(_, why)| why.starts_with("forbidden")),
        "{:?}",
        snapshot.unreadable
    );
    for (verb, resource) in counted(&sim, "viewer") {
        assert!(
            allows_counted(&rbac, &[VIEWERS, RESEARCHERS], &verb, &resource),
            "upshift plan or preflight sent {verb} {resource}, which viewers with research may not"
        );
    }

    // the lead: the lock, and a node drained to the end
    let lead = sim.client("lead").await.unwrap();
    let clock = sim.world().lock().clock.clone();
    let now = move || clock.now();
    let lock_now: upshift::rollout::lock::Now = {
        let clock = sim.world().lock().clock.clone();
        std::sync::Arc::new(move || clock.now())
    };
    let lock = Lock::acquire(
        lead.clone(),
        NAMESPACE,
        NAME,
        "ana@laptop",
        Duration::from_secs(30),
        false,
        lock_now,
    )
    .await
    .expect("the lead takes the lease");
    lock.renew().await.expect("and renews it");
    let node = {
        let w = sim.world();
        let w = w.lock();
        w.nodes
            .items()
            .values()
            .find(|n| {
                n.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("eks.amazonaws.com/nodegroup"))
                    .is_some_and(|g| g == "apps")
                    && !w.pods.items().values().any(|p| {
                        p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == n.metadata.name.as_deref()
                            && p.metadata
                                .labels
                                .as_ref()
                                .and_then(|l| l.get("app"))
                                .map(String::as_str)
                                == Some("ledger")
                    })
            })
            .and_then(|n| n.metadata.name.clone())
            .expect("a node of group apps without a ledger pod")
    };
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.jsonl")).unwrap();
    // until it is drained, or holds a pod for the operator: either way it has sent
    // what a drain sends
    let mut ended = false;
    for _ in 0..200 {
        let mut ctx = DrainCtx {
            client: lead.clone(),
            journal: &mut journal,
            who: "ana@laptop",
            now: &now,
        };
        match drain_node(&mut ctx, "nodegroup/apps", &node, &Drain::default())
            .await
            .unwrap()
        {
            Progress::Waiting { .. } => {
                sim.advance(Duration::from_secs(5));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => {
                ended = true;
                break;
            }
        }
    }
    assert!(ended, "the drain neither ended nor held a pod");
    lock.release().await.expect("the lead gives the lease up");
    let lead_sent = counted(&sim, "lead");
    for needed in [
        ("patch", "nodes"),
        ("create", "pods/eviction"),
        ("create", "leases"),
        ("delete", "leases"),
    ] {
        assert!(
            lead_sent.iter().any(|(v, r)| (v.as_str(), r.as_str()) == needed),
            "the lead was expected to send {needed:?}: {lead_sent:?}"
        );
    }
    for (verb, resource) in &lead_sent {
        assert!(
            allows_counted(&rbac, &[LEADS], verb, resource),
            "upshift drive sent {verb} {resource}, which upshift:leads may not (docs/rbac/upshift-lead.yaml)"
        );
    }
}
