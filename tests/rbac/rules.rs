//! The RBAC files read into typed objects, the authorizer's rule matching, the
//! requests each command sends (with the source file that sends them), and the
//! checks the files' structure must pass: what the tests in `rbac.rs` stand on.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject};

pub const VIEWER_FILE: &str = "docs/rbac/upshift-viewer.yaml";
pub const LEAD_FILE: &str = "docs/rbac/upshift-lead.yaml";

pub const VIEWERS: &str = "upshift:viewers";
pub const RESEARCHERS: &str = "upshift:researchers";
pub const LEADS: &str = "upshift:leads";

pub const READ_VERBS: &[&str] = &["get", "list", "watch"];
pub const KNOWN_VERBS: &[&str] = &[
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
pub const KNOWN_RESOURCES: &[(&str, &str)] = &[
    ("", "nodes"),
    ("", "pods"),
    ("", "pods/eviction"),
    ("", "pods/log"),
    ("", "events"),
    ("", "configmaps"),
    ("", "secrets"),
    ("events.k8s.io", "events"),
    ("policy", "poddisruptionbudgets"),
    ("apps", "deployments"),
    ("apps", "daemonsets"),
    ("apps", "statefulsets"),
    ("apps", "replicasets"),
    ("", "services"),
    ("discovery.k8s.io", "endpointslices"),
    ("", "persistentvolumeclaims"),
    ("", "persistentvolumes"),
    ("coordination.k8s.io", "leases"),
    ("karpenter.sh", "nodepools"),
    ("karpenter.sh", "nodeclaims"),
    ("karpenter.k8s.aws", "ec2nodeclasses"),
];

pub fn read(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every RBAC object of the files, by kind.
#[derive(Default, Debug)]
pub struct Rbac {
    pub cluster_roles: BTreeMap<String, ClusterRole>,
    /// By (namespace, name).
    pub roles: BTreeMap<(String, String), Role>,
    pub cluster_bindings: Vec<ClusterRoleBinding>,
    pub bindings: Vec<RoleBinding>,
}

pub fn meta_name(v: &serde_json::Value) -> String {
    v.pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .unwrap_or_default()
        .to_string()
}

impl Rbac {
    /// Parses multi-document YAML texts (`(file, text)`) into typed RBAC objects.
    pub fn parse(texts: &[(&str, &str)]) -> Result<Rbac, String> {
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

    pub fn shipped() -> Rbac {
        let viewer = read(VIEWER_FILE);
        let lead = read(LEAD_FILE);
        Rbac::parse(&[(VIEWER_FILE, &viewer), (LEAD_FILE, &lead)]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every rule, named `ClusterRole x` or `Role ns/x`.
    pub fn all_rules(&self) -> Vec<(String, &PolicyRule)> {
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
    pub fn rules_of(&self, group: &str) -> Vec<(Option<String>, String, &PolicyRule)> {
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
    pub fn allows(&self, groups: &[&str], req: &Req) -> Option<String> {
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
pub struct Req {
    pub verb: &'static str,
    pub group: &'static str,
    /// With its subresource: `pods/eviction`.
    pub resource: &'static str,
    pub namespace: Option<&'static str>,
    pub name: Option<&'static str>,
}

pub const fn req(verb: &'static str, group: &'static str, resource: &'static str) -> Req {
    Req {
        verb,
        group,
        resource,
        namespace: None,
        name: None,
    }
}

impl Req {
    pub const fn ns(mut self, ns: &'static str) -> Req {
        self.namespace = Some(ns);
        self
    }
    pub const fn named(mut self, name: &'static str) -> Req {
        self.name = Some(name);
        self
    }
}

pub fn has(list: &Option<Vec<String>>, want: &str) -> bool {
    list.iter().flatten().any(|x| x == want || x == "*")
}

/// Kubernetes RBAC's rule matching (k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac).
pub fn rule_matches(rule: &PolicyRule, req: &Req) -> bool {
    let verb = rule.verbs.iter().any(|v| v == req.verb || v == "*");
    let names = match &rule.resource_names {
        None => true,
        Some(n) if n.is_empty() => true,
        Some(n) => req.name.is_some_and(|want| n.iter().any(|x| x == want)),
    };
    verb && has(&rule.api_groups, req.group) && has(&rule.resources, req.resource) && names
}

pub const KS: &str = "kube-system";
pub const ROLLOUT: &str = "upshift-rollout";

/// `upshift watch` (src/cluster/watch.rs): one watch per kind, cluster-wide, and the
/// rollout's ConfigMap by a field selector on its name; the lease to show who drives.
pub fn watch_requests() -> Vec<Req> {
    let mut out = Vec::new();
    for (g, r) in [
        ("", "nodes"),
        ("", "pods"),
        ("", "events"),
        ("events.k8s.io", "events"),
        ("policy", "poddisruptionbudgets"),
        ("apps", "deployments"),
        ("apps", "daemonsets"),
        ("apps", "statefulsets"),
        ("apps", "replicasets"),
        ("", "services"),
        ("discovery.k8s.io", "endpointslices"),
        // the zones of volumes (src/model/volume.rs)
        ("", "persistentvolumeclaims"),
        ("", "persistentvolumes"),
        // Karpenter's kinds (src/cluster/karpenter.rs), where their CRDs are installed
        ("karpenter.sh", "nodepools"),
        ("karpenter.sh", "nodeclaims"),
    ] {
        out.push(req("list", g, r));
        out.push(req("watch", g, r));
    }
    out.push(req("get", "", "nodes"));
    // a pod's detail reads it and the end of its containers' logs
    out.push(req("get", "", "pods").ns("shop").named("checkout-6f7d9c8b4-c3p0y"));
    out.push(req("get", "", "pods/log").ns("shop").named("checkout-6f7d9c8b4-c3p0y"));
    out.push(req("list", "", "configmaps").ns(KS).named(ROLLOUT));
    out.push(req("watch", "", "configmaps").ns(KS).named(ROLLOUT));
    out.push(req("get", "", "configmaps").ns(KS).named(ROLLOUT));
    out.push(req("get", "coordination.k8s.io", "leases").ns(KS).named(ROLLOUT));
    out
}

/// `upshift plan` and `plan check` (src/rollout/plan/discover.rs).
pub fn plan_requests() -> Vec<Req> {
    vec![req("list", "", "nodes")]
}

/// `upshift preflight` (src/preflight/gather.rs): everything listed cluster-wide.
pub fn preflight_requests() -> Vec<Req> {
    [
        ("", "nodes"),
        ("", "pods"),
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("policy", "poddisruptionbudgets"),
        ("", "secrets"),
        ("", "configmaps"),
        // room per zone for pods on zonal volumes (src/preflight/gather.rs)
        ("", "persistentvolumeclaims"),
        ("", "persistentvolumes"),
        // the Karpenter check (src/preflight/karpenter/gather.rs)
        ("karpenter.sh", "nodepools"),
        ("karpenter.sh", "nodeclaims"),
        ("karpenter.k8s.aws", "ec2nodeclasses"),
    ]
    .into_iter()
    .map(|(g, r)| req("list", g, r))
    .collect()
}

/// What `upshift drive` writes: the drain (src/rollout/steps/drain.rs), the lock
/// (src/rollout/lock.rs), the published state (src/rollout/drive/publish.rs, a
/// server-side apply, authorized as patch and, when it creates, as create of that
/// name), and the lead's "delete the pod anyway".
pub fn drive_writes() -> Vec<Req> {
    vec![
        req("patch", "", "nodes").named("ip-10-0-1-7.eu-west-1.compute.internal"),
        req("list", "", "pods"),
        req("list", "policy", "poddisruptionbudgets").ns("payments"),
        req("create", "", "pods/eviction").ns("payments").named("ledger-0"),
        req("delete", "", "pods").ns("payments").named("ledger-0"),
        // the fargate step's rollout restarts
        req("patch", "apps", "deployments").ns("payments").named("checkout"),
        req("patch", "apps", "statefulsets").ns("payments").named("queue"),
        req("create", "coordination.k8s.io", "leases").ns(KS),
        req("get", "coordination.k8s.io", "leases").ns(KS).named(ROLLOUT),
        req("update", "coordination.k8s.io", "leases").ns(KS).named(ROLLOUT),
        req("delete", "coordination.k8s.io", "leases").ns(KS).named(ROLLOUT),
        req("create", "", "configmaps").ns(KS).named(ROLLOUT),
        req("patch", "", "configmaps").ns(KS).named(ROLLOUT),
        req("get", "", "configmaps").ns(KS).named(ROLLOUT),
        req("update", "", "configmaps").ns(KS).named(ROLLOUT),
        req("patch", "karpenter.sh", "nodepools").named("general"),
    ]
}

/// What the structure of the files must hold; each string is one violation.
pub fn structure_violations(rbac: &Rbac) -> Vec<String> {
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
pub fn read_only_violations(rbac: &Rbac) -> Vec<String> {
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
