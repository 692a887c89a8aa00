//! The parts of a scenario's starting world beyond Deployments and DaemonSets:
//! StorageClasses, StatefulSets (pods placed one zone after another, their volumes
//! provisioned in their node's zone, as if the set had run for days) and Services.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, Service, ServicePort, ServiceSpec, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::super::volumes::{self, ZONE_LABEL};
use super::super::{World, kubelet, scheduler, service, statefulset};
use super::{meta, template};
use crate::sim::scenario::{ResolvedScenario, WorkloadSpec};

pub(super) fn add_storage_classes(w: &mut World, s: &ResolvedScenario) {
    for c in &s.storage_classes {
        let mut m = ObjectMeta {
            name: Some(c.name.clone()),
            annotations: c
                .default
                .then(|| BTreeMap::from([(volumes::DEFAULT_CLASS.to_string(), "true".to_string())])),
            ..Default::default()
        };
        w.stamp_new(&mut m);
        let mut sc = StorageClass {
            metadata: m,
            provisioner: c.provisioner.clone(),
            parameters: (!c.parameters.is_empty()).then(|| c.parameters.clone()),
            reclaim_policy: Some(c.reclaim_policy.as_str().into()),
            volume_binding_mode: Some(c.volume_binding_mode.as_str().into()),
            allow_volume_expansion: Some(c.allow_volume_expansion),
            ..Default::default()
        };
        volumes::admit_class(&mut sc);
        w.put(sc);
    }
}

/// The node for StatefulSet pod `ordinal`: the first with room in the ordinal's zone
/// (zones taken in turn), else the first with room anywhere.
fn place(w: &World, pod: &k8s_openapi::api::core::v1::Pod, ordinal: usize, names: &[String]) -> Option<String> {
    let req = kubelet::requests(pod);
    let fits = |n: &String| {
        w.nodes.get(n).is_some_and(|node| {
            let used = w.idx.node_usage.get(n).copied().unwrap_or_default();
            scheduler::misfit(pod, req, node, used).is_none()
        })
    };
    let zone_of = |n: &String| {
        w.nodes
            .get(n)
            .and_then(|node| node.metadata.labels.as_ref()?.get(ZONE_LABEL).cloned())
    };
    let mut zones: Vec<String> = names.iter().filter(|n| fits(n)).filter_map(zone_of).collect();
    zones.sort();
    zones.dedup();
    if let Some(zone) = zones.get(ordinal % zones.len().max(1)) {
        let in_zone = names.iter().find(|n| fits(n) && zone_of(n).as_ref() == Some(zone));
        if let Some(n) = in_zone {
            return Some(n.clone());
        }
    }
    names.iter().find(|n| fits(n)).cloned()
}

pub(super) fn add_statefulset(w: &mut World, s: &ResolvedScenario, wl: &WorkloadSpec, names: &[String]) {
    let ns = wl.namespace.as_str();
    let name = wl.name.as_str();
    let mut tpl = template(s, wl, name);
    let labels = tpl.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    if let Some(c) = tpl.spec.as_mut().and_then(|p| p.containers.first_mut()) {
        let mounts = c.volume_mounts.get_or_insert_with(Vec::new);
        for t in &wl.volume_claim_templates {
            mounts.push(VolumeMount {
                name: t.name.clone(),
                mount_path: t.mount_path.clone().unwrap_or_else(|| format!("/var/lib/{}", t.name)),
                ..Default::default()
            });
        }
    }
    let claims: Vec<PersistentVolumeClaim> = wl
        .volume_claim_templates
        .iter()
        .map(|t| PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(t.name.clone()),
                ..Default::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([("storage".to_string(), Quantity(t.storage.clone()))])),
                    limits: None,
                }),
                storage_class_name: t.storage_class.clone(),
                volume_mode: Some("Filesystem".into()),
                ..Default::default()
            }),
            status: None,
        })
        .collect();
    let set_meta = meta(w, ns, name, labels);
    let set = w.put(StatefulSet {
        metadata: set_meta,
        spec: Some(StatefulSetSpec {
            replicas: Some(wl.replicas as i32),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([("app".to_string(), name.to_string())])),
                match_expressions: None,
            },
            service_name: Some(wl.service_name.clone().unwrap_or_else(|| name.to_string())),
            template: tpl,
            volume_claim_templates: (!claims.is_empty()).then_some(claims),
            pod_management_policy: Some(wl.pod_management_policy.unwrap_or_default().as_str().into()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateStatefulSetStrategy {
                    partition: Some(0),
                    max_unavailable: None,
                }),
            }),
            revision_history_limit: Some(10),
            min_ready_seconds: (wl.min_ready_seconds > 0).then_some(wl.min_ready_seconds as i32),
            persistent_volume_claim_retention_policy: Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some("Retain".into()),
                when_scaled: Some("Retain".into()),
            }),
            ordinals: None,
        }),
        status: None,
    });
    let revision = statefulset::revision_for(w, &set);
    let rev_name = revision.metadata.name.clone().unwrap_or_default();
    let template = set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    for i in 0..wl.replicas as usize {
        statefulset::create_claims(w, &set, i);
        let mut pod = statefulset::new_pod(w, &set, &template, &rev_name, i);
        let fargate = super::super::fargate::place_at_build(w, &mut pod);
        let Some(node) = fargate.or_else(|| place(w, &pod, i, names)) else {
            w.put(pod);
            continue;
        };
        if let Some(spec) = pod.spec.as_mut() {
            spec.node_name = Some(node.clone());
        }
        volumes::bind_claims(w, &pod, &node, false);
        kubelet::run_in_place(w, &mut pod);
        w.put(pod);
    }
}

pub(super) fn add_services(w: &mut World, s: &ResolvedScenario) {
    for spec in &s.services {
        let ns = spec.namespace();
        let mut m = meta(w, &ns, &spec.name, spec.labels.clone());
        m.generation = None;
        if spec.labels.is_empty() {
            m.labels = None;
        }
        let ports: Vec<ServicePort> = spec
            .ports
            .iter()
            .map(|p| {
                let (name, port, target, protocol) = p.parts();
                ServicePort {
                    name,
                    port: i32::from(port),
                    target_port: Some(IntOrString::Int(i32::from(target))),
                    protocol: Some(protocol),
                    ..Default::default()
                }
            })
            .collect();
        let selector = spec.selector();
        let mut svc = Service {
            metadata: m,
            spec: Some(ServiceSpec {
                type_: Some(spec.type_.as_str().into()),
                cluster_ip: spec.headless.then(|| "None".to_string()),
                ports: Some(ports),
                selector: (!selector.is_empty()).then_some(selector),
                publish_not_ready_addresses: spec.publish_not_ready_addresses.then_some(true),
                ..Default::default()
            }),
            status: None,
        };
        if service::admit(w, &mut svc, None).is_ok() {
            w.put(svc);
        }
    }
}
