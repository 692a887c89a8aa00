//! Builds the starting world of a scenario: namespaces, node groups with their
//! nodes, workloads with their pods already placed and running (as if the cluster
//! had been up for a while), PDBs and fault annotations.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec,
    RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, Namespace, NamespaceSpec, NamespaceStatus, Pod, PodSpec, PodStatus,
    PodTemplateSpec, ResourceRequirements, Taint, Toleration, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::annotations as ann;
use super::nodes::{self, NodeGroupKind as Kind, NodeGroupState};
use super::{ClusterState, World, kubelet, owner_ref, template_hash};
use crate::sim::clock::Clock;
use crate::sim::scenario::{
    self, Component, FaultKind, IntOrPercent, NodeGroupKind, PdbSpec, Scenario, WorkloadKind, WorkloadSpec,
};
use crate::units::quantity;

mod extra;

/// Builds the world of `scenario` on `clock`. Errors say what in the scenario is wrong.
pub fn build(scenario: &Scenario, clock: Clock) -> Result<World, String> {
    let s = scenario.clone().resolve().map_err(|e| e.to_string())?;
    let s = super::karpenter::build::with_controller(s)?;
    let cluster = ClusterState {
        name: s.cluster.name.clone(),
        region: s.cluster.region.clone(),
        account: s.cluster.account.clone(),
        version: s.cluster.version.to_string(),
    };
    let mut w = World::new(clock, cluster, s.seed);
    // the cluster has been up for a while: nodes for weeks, workloads for days
    let started = w.now;
    let ago = |days: i64| {
        started
            .checked_sub(jiff::SignedDuration::from_hours(24 * days))
            .unwrap_or(started)
    };
    w.now = ago(20);
    let mut namespaces: Vec<String> = ["default", "kube-system", "kube-public", "kube-node-lease"]
        .map(String::from)
        .to_vec();
    for wl in &s.workloads {
        if !namespaces.contains(&wl.namespace) {
            namespaces.push(wl.namespace.clone());
        }
    }
    for svc in &s.services {
        let ns = svc.namespace();
        if !namespaces.contains(&ns) {
            namespaces.push(ns);
        }
    }
    for ns in namespaces {
        let mut meta = ObjectMeta {
            name: Some(ns.clone()),
            labels: Some(BTreeMap::from([("kubernetes.io/metadata.name".to_string(), ns)])),
            ..Default::default()
        };
        w.stamp_new(&mut meta);
        w.put(Namespace {
            metadata: meta,
            spec: Some(NamespaceSpec {
                finalizers: Some(vec!["kubernetes".into()]),
            }),
            status: Some(NamespaceStatus {
                phase: Some("Active".into()),
                ..Default::default()
            }),
        });
    }
    super::service::seed_default(&mut w);
    for g in &s.node_groups {
        let cap = g
            .capacity
            .clone()
            .ok_or_else(|| format!("node group {}: no capacity", g.name))?;
        let taints = g
            .taints
            .iter()
            .map(|t| Taint {
                key: t.key.clone(),
                value: t.value.clone(),
                effect: t.effect.clone(),
                time_added: None,
            })
            .collect();
        let size = g.size;
        w.groups.push(NodeGroupState::new(
            g.name.clone(),
            match g.kind {
                NodeGroupKind::Managed => Kind::Managed,
                NodeGroupKind::SelfManaged => Kind::SelfManaged,
            },
            g.instance_type.clone(),
            g.zones.clone(),
            size,
            g.min_size.unwrap_or(size),
            g.max_size.unwrap_or(size * 2),
            g.kubelet_version.unwrap_or(s.cluster.version).to_string(),
            (cap.cpu_millis, cap.memory_bytes, cap.pods),
            g.labels.clone(),
            taints,
            f64::from(g.boot_seconds),
        ));
        let gi = w.groups.len() - 1;
        w.groups[gi].managed.ami_type = g.ami_type.clone();
        for _ in 0..size {
            nodes::launch(&mut w, gi, true);
        }
    }
    super::karpenter::build::install(&mut w, &s, started)?;
    super::fargate::install(&mut w, &s);
    w.now = ago(3);
    extra::add_storage_classes(&mut w, &s);
    let mut placer = Placer::default();
    let names: Vec<String> = w.nodes.items().keys().cloned().collect();
    for wl in &s.workloads {
        let copies = wl.copies.max(1);
        for i in 0..copies {
            let name = if copies > 1 {
                format!("{}-{i}", wl.name)
            } else {
                wl.name.clone()
            };
            add_workload(&mut w, &s, wl, &name, &mut placer, &names);
        }
    }
    super::objects::add(&mut w, &s.objects)?;
    extra::add_services(&mut w, &s);
    let keys: Vec<String> = w.statefulsets.items().keys().cloned().collect();
    w.dirty.statefulsets.extend(keys);
    super::eks::from_scenario(&mut w, &s)?;
    // controllers compute every status once; then history starts fresh
    let keys: Vec<String> = w.deployments.items().keys().cloned().collect();
    w.dirty.deployments.extend(keys);
    w.dirty.all_daemonsets = true;
    let keys: Vec<String> = w.replicasets.items().keys().cloned().collect();
    w.dirty.replicasets.extend(keys);
    let keys: Vec<String> = w.namespaces.items().keys().cloned().collect();
    w.dirty.pdb_namespaces.extend(keys);
    w.reconcile();
    w.now = started;
    w.reconcile();
    w.compact();
    super::eks::start(&mut w);
    super::karpenter::start(&mut w);
    Ok(w)
}

/// First-fit placement from a moving cursor: spreads pods over nodes in O(1) per pod.
#[derive(Default)]
struct Placer {
    cursor: usize,
}

impl Placer {
    fn place(&mut self, w: &World, pod: &Pod, names: &[String]) -> Option<String> {
        let req = kubelet::requests(pod);
        for step in 0..names.len() {
            let i = (self.cursor + step) % names.len();
            let name = &names[i];
            let node = w.nodes.get(name)?;
            let used = w.idx.node_usage.get(name).copied().unwrap_or_default();
            if super::scheduler::misfit(pod, req, node, used).is_none() {
                self.cursor = i + 1;
                return Some(name.clone());
            }
        }
        None
    }
}

fn component_labels(c: Option<&Component>, name: &str) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    match c {
        Some(Component::Dns) => {
            l.insert("k8s-app".into(), "kube-dns".into());
        }
        Some(Component::PodNetworking) => {
            l.insert("k8s-app".into(), name.into());
        }
        Some(Component::Ingress) | Some(Component::Autoscaling) => {
            l.insert("app.kubernetes.io/name".into(), name.into());
        }
        None => {}
    }
    l
}

fn template(s: &scenario::ResolvedScenario, wl: &WorkloadSpec, name: &str) -> PodTemplateSpec {
    let mut labels = wl.labels.clone();
    labels.insert("app".into(), name.to_string());
    labels.extend(component_labels(wl.component.as_ref(), &wl.name));
    let mut annotations = BTreeMap::new();
    if wl.do_not_disrupt {
        annotations.insert(super::karpenter::keys::DO_NOT_DISRUPT.to_string(), "true".to_string());
    }
    annotations.insert(ann::START_SECONDS.to_string(), wl.start_seconds.to_string());
    annotations.insert(ann::TERMINATION_SECONDS.to_string(), wl.termination_seconds.to_string());
    let target = format!("{}/{}", wl.namespace, wl.name);
    for f in s.faults.iter().filter(|f| f.workload == target) {
        let kind = match f.kind {
            FaultKind::CrashLoopBackOff => "CrashLoopBackOff",
            FaultKind::ImagePullBackOff => "ImagePullBackOff",
            FaultKind::OomKilled => "OOMKilled",
        };
        annotations.insert(ann::FAULT.to_string(), kind.into());
        if let Some(v) = &f.on_kubelet_version {
            annotations.insert(ann::FAULT_ON_KUBELET.to_string(), v.to_string());
        }
        if f.fraction < 1.0 {
            annotations.insert(ann::FAULT_FRACTION.to_string(), f.fraction.to_string());
        }
    }
    let mut node_selector = wl.node_selector.clone();
    if let Some(g) = &wl.node_group
        && let Some(group) = s.node_groups.iter().find(|x| &x.name == g)
    {
        match group.kind {
            NodeGroupKind::Managed => node_selector.insert("eks.amazonaws.com/nodegroup".into(), g.clone()),
            NodeGroupKind::SelfManaged => node_selector.insert("alpha.eksctl.io/nodegroup-name".into(), g.clone()),
        };
    }
    if let Some(p) = &wl.node_pool {
        node_selector.insert(super::karpenter::keys::NODEPOOL.into(), p.clone());
    }
    let mut tolerations: Vec<Toleration> = wl
        .tolerations
        .iter()
        .map(|t| Toleration {
            key: t.key.clone(),
            operator: Some(t.operator.clone()),
            value: t.value.clone(),
            effect: t.effect.clone(),
            toleration_seconds: None,
        })
        .collect();
    if wl.tolerate_all {
        tolerations.push(Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        });
    }
    let requests = BTreeMap::from([
        (
            "cpu".to_string(),
            Quantity(quantity::format_cpu(wl.requests.cpu_millis)),
        ),
        (
            "memory".to_string(),
            Quantity(quantity::format_bytes(wl.requests.memory_bytes)),
        ),
    ]);
    let container_name = wl.name.clone();
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: container_name,
                image: Some(wl.image.clone()),
                resources: Some(ResourceRequirements {
                    requests: Some(requests),
                    ..Default::default()
                }),
                volume_mounts: wl.empty_dir.then(|| {
                    vec![VolumeMount {
                        name: "scratch".into(),
                        mount_path: "/scratch".into(),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }],
            volumes: wl.empty_dir.then(|| {
                vec![Volume {
                    name: "scratch".into(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Default::default()
                }]
            }),
            node_selector: (!node_selector.is_empty()).then_some(node_selector),
            tolerations: (!tolerations.is_empty()).then_some(tolerations),
            termination_grace_period_seconds: Some(i64::from(wl.grace_period_seconds)),
            priority_class_name: wl.priority_class.clone(),
            restart_policy: Some("Always".into()),
            scheduler_name: Some("default-scheduler".into()),
            dns_policy: Some("ClusterFirst".into()),
            service_account_name: Some("default".into()),
            ..Default::default()
        }),
    }
}

fn meta(w: &mut World, ns: &str, name: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
    let mut m = ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.to_string()),
        labels: Some(labels),
        generation: Some(1),
        ..Default::default()
    };
    w.stamp_new(&mut m);
    m
}

/// A pod from `template`, placed and running if it can be.
fn add_pod(
    w: &mut World,
    template: &PodTemplateSpec,
    mut pod_meta: ObjectMeta,
    node: Option<String>,
    placer: &mut Placer,
    names: &[String],
) {
    let tmeta = template.metadata.clone().unwrap_or_default();
    pod_meta.labels = Some({
        let mut l = tmeta.labels.unwrap_or_default();
        l.extend(pod_meta.labels.take().unwrap_or_default());
        l
    });
    pod_meta.annotations = tmeta.annotations;
    pod_meta.generation = None;
    let mut pod = Pod {
        metadata: pod_meta,
        spec: template.spec.clone(),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    };
    let node = node
        .or_else(|| super::fargate::place_at_build(w, &mut pod))
        .or_else(|| placer.place(w, &pod, names));
    if let Some(n) = node {
        if let Some(spec) = pod.spec.as_mut() {
            spec.node_name = Some(n);
        }
        kubelet::run_in_place(w, &mut pod);
    }
    w.put(pod);
}

fn add_workload(
    w: &mut World,
    s: &scenario::ResolvedScenario,
    wl: &WorkloadSpec,
    name: &str,
    placer: &mut Placer,
    names: &[String],
) {
    let ns = wl.namespace.as_str();
    let tpl = template(s, wl, name);
    let labels = tpl.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    let selector = LabelSelector {
        match_labels: Some(BTreeMap::from([("app".to_string(), name.to_string())])),
        match_expressions: None,
    };
    match wl.kind {
        WorkloadKind::Deployment => {
            let dmeta = meta(w, ns, name, labels.clone());
            let d = Deployment {
                metadata: dmeta,
                spec: Some(DeploymentSpec {
                    replicas: Some(wl.replicas as i32),
                    selector: selector.clone(),
                    template: tpl.clone(),
                    revision_history_limit: Some(10),
                    progress_deadline_seconds: Some(600),
                    min_ready_seconds: (wl.min_ready_seconds > 0).then_some(wl.min_ready_seconds as i32),
                    // as EKS's CoreDNS add-on ships it: one pod may be down during a
                    // rollout, so an update finishes even when no node has room to surge
                    strategy: (wl.component == Some(scenario::Component::Dns)).then(|| DeploymentStrategy {
                        type_: Some("RollingUpdate".into()),
                        rolling_update: Some(RollingUpdateDeployment {
                            max_surge: Some(IntOrString::String("25%".into())),
                            max_unavailable: Some(IntOrString::Int(1)),
                        }),
                    }),
                    ..Default::default()
                }),
                status: None,
            };
            let d = w.put(d);
            let hash = template_hash(&tpl);
            let mut rs_tpl = tpl.clone();
            rs_tpl
                .metadata
                .get_or_insert_with(Default::default)
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert("pod-template-hash".into(), hash.clone());
            let mut rs_labels = labels.clone();
            rs_labels.insert("pod-template-hash".into(), hash.clone());
            let mut rs_sel = selector.clone();
            rs_sel
                .match_labels
                .get_or_insert_with(BTreeMap::new)
                .insert("pod-template-hash".into(), hash.clone());
            let mut rmeta = meta(w, ns, &format!("{name}-{hash}"), rs_labels);
            rmeta.owner_references = Some(vec![owner_ref(&*d)]);
            let rs = w.put(ReplicaSet {
                metadata: rmeta,
                spec: Some(ReplicaSetSpec {
                    replicas: Some(wl.replicas as i32),
                    selector: rs_sel,
                    template: Some(rs_tpl.clone()),
                    min_ready_seconds: (wl.min_ready_seconds > 0).then_some(wl.min_ready_seconds as i32),
                }),
                status: None,
            });
            for _ in 0..wl.replicas {
                let suffix = w.suffix(5);
                let mut pmeta = meta(w, ns, &format!("{name}-{hash}-{suffix}"), BTreeMap::new());
                pmeta.owner_references = Some(vec![owner_ref(&*rs)]);
                add_pod(w, &rs_tpl, pmeta, None, placer, names);
            }
        }
        WorkloadKind::DaemonSet => {
            let dmeta = meta(w, ns, name, labels.clone());
            let ds = w.put(DaemonSet {
                metadata: dmeta,
                spec: Some(DaemonSetSpec {
                    selector: selector.clone(),
                    template: tpl.clone(),
                    min_ready_seconds: (wl.min_ready_seconds > 0).then_some(wl.min_ready_seconds as i32),
                    ..Default::default()
                }),
                status: None,
            });
            let revision = template_hash(&tpl);
            let mut ds_tpl = tpl.clone();
            ds_tpl
                .metadata
                .get_or_insert_with(Default::default)
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert("controller-revision-hash".into(), revision);
            for node in names {
                let eligible = w.nodes.get(node).is_some_and(|n| super::daemonset::eligible(&ds, n));
                if !eligible {
                    continue;
                }
                let suffix = w.suffix(5);
                let mut pmeta = meta(w, ns, &format!("{name}-{suffix}"), BTreeMap::new());
                pmeta.owner_references = Some(vec![owner_ref(&*ds)]);
                add_pod(w, &ds_tpl, pmeta, Some(node.clone()), placer, names);
            }
        }
        WorkloadKind::StatefulSet => extra::add_statefulset(w, s, wl, names),
        WorkloadKind::Pod => {
            let pmeta = meta(w, ns, name, BTreeMap::new());
            add_pod(w, &tpl, pmeta, None, placer, names);
        }
    }
    if let Some(pdb) = &wl.pdb {
        let v = |x: &IntOrPercent| match x {
            IntOrPercent::Int(i) => IntOrString::Int(*i as i32),
            IntOrPercent::Percent(p) => IntOrString::String(format!("{p}%")),
        };
        let (min_available, max_unavailable) = match pdb {
            PdbSpec::MinAvailable(x) => (Some(v(x)), None),
            PdbSpec::MaxUnavailable(x) => (None, Some(v(x))),
        };
        let pmeta = meta(w, ns, name, BTreeMap::from([("app".to_string(), name.to_string())]));
        w.put(PodDisruptionBudget {
            metadata: pmeta,
            spec: Some(PodDisruptionBudgetSpec {
                min_available,
                max_unavailable,
                selector: Some(selector),
                ..Default::default()
            }),
            status: None,
        });
    }
}
