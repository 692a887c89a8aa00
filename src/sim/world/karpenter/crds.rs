//! The CustomResourceDefinitions Karpenter and EKS Auto Mode install: names, short
//! names, categories and the printer columns `kubectl get` shows (the same columns as
//! the published CRDs, so a server-side table of NodePools looks like a real one's).

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionCondition,
    CustomResourceDefinitionNames, CustomResourceDefinitionSpec, CustomResourceDefinitionStatus,
    CustomResourceDefinitionVersion, CustomResourceSubresourceStatus, CustomResourceSubresources,
    CustomResourceValidation, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

/// One printer column: a JSON path into the object, shown under `name`.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    /// `string`, `integer` or `date` (shown as an age).
    pub type_: &'static str,
    pub json_path: &'static str,
    /// 0: always shown; 1: only with `-o wide`.
    pub priority: i32,
}

/// A served custom kind.
#[derive(Debug)]
pub struct Crd {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub columns: &'static [Column],
}

impl Crd {
    /// `plural.group`, the CRD's name.
    pub fn name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

const fn col(name: &'static str, type_: &'static str, json_path: &'static str, priority: i32) -> Column {
    Column {
        name,
        type_,
        json_path,
        priority,
    }
}

const READY: &str = ".status.conditions[?(@.type==\"Ready\")].status";

pub const NODEPOOLS: Crd = Crd {
    group: "karpenter.sh",
    version: "v1",
    plural: "nodepools",
    singular: "nodepool",
    kind: "NodePool",
    short_names: &[],
    categories: &["karpenter"],
    columns: &[
        col("NodeClass", "string", ".spec.template.spec.nodeClassRef.name", 0),
        col("Nodes", "string", ".status.nodes", 0),
        col("Ready", "string", READY, 0),
        col("Age", "date", ".metadata.creationTimestamp", 0),
        col("Weight", "integer", ".spec.weight", 1),
        col("CPU", "string", ".status.resources.cpu", 1),
        col("Memory", "string", ".status.resources.memory", 1),
    ],
};

pub const NODECLAIMS: Crd = Crd {
    group: "karpenter.sh",
    version: "v1",
    plural: "nodeclaims",
    singular: "nodeclaim",
    kind: "NodeClaim",
    short_names: &[],
    categories: &["karpenter"],
    columns: &[
        col(
            "Type",
            "string",
            ".metadata.labels.node\\.kubernetes\\.io/instance-type",
            0,
        ),
        col("Capacity", "string", ".metadata.labels.karpenter\\.sh/capacity-type", 0),
        col("Zone", "string", ".metadata.labels.topology\\.kubernetes\\.io/zone", 0),
        col("Node", "string", ".status.nodeName", 0),
        col("Ready", "string", READY, 0),
        col("Age", "date", ".metadata.creationTimestamp", 0),
        col("ImageID", "string", ".status.imageID", 1),
        col("ID", "string", ".status.providerID", 1),
        col("NodePool", "string", ".metadata.labels.karpenter\\.sh/nodepool", 1),
        col("NodeClass", "string", ".spec.nodeClassRef.name", 1),
        col(
            "Drifted",
            "string",
            ".status.conditions[?(@.type==\"Drifted\")].status",
            1,
        ),
    ],
};

pub const EC2NODECLASSES: Crd = Crd {
    group: "karpenter.k8s.aws",
    version: "v1",
    plural: "ec2nodeclasses",
    singular: "ec2nodeclass",
    kind: "EC2NodeClass",
    short_names: &["ec2nc", "ec2ncs"],
    categories: &["karpenter"],
    columns: &[
        col("Ready", "string", READY, 0),
        col("Age", "date", ".metadata.creationTimestamp", 0),
        col("Role", "string", ".spec.role", 1),
    ],
};

pub const NODECLASSES: Crd = Crd {
    group: "eks.amazonaws.com",
    version: "v1",
    plural: "nodeclasses",
    singular: "nodeclass",
    kind: "NodeClass",
    short_names: &[],
    categories: &[],
    columns: &[
        col("Role", "string", ".spec.role", 0),
        col("Ready", "string", READY, 0),
        col("Age", "date", ".metadata.creationTimestamp", 0),
    ],
};

/// Every custom kind the simulator can serve.
pub const ALL: &[&Crd] = &[&NODEPOOLS, &NODECLAIMS, &EC2NODECLASSES, &NODECLASSES];

/// The installed CustomResourceDefinition object for `crd`.
pub fn object(crd: &Crd, created: Time) -> CustomResourceDefinition {
    let columns = crd
        .columns
        .iter()
        .map(|c| CustomResourceColumnDefinition {
            name: c.name.into(),
            type_: c.type_.into(),
            json_path: c.json_path.into(),
            priority: (c.priority != 0).then_some(c.priority),
            ..Default::default()
        })
        .collect();
    let cond = |type_: &str, reason: &str, message: &str| CustomResourceDefinitionCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(created.clone()),
    };
    let names = CustomResourceDefinitionNames {
        kind: crd.kind.into(),
        list_kind: Some(format!("{}List", crd.kind)),
        plural: crd.plural.into(),
        singular: Some(crd.singular.into()),
        short_names: (!crd.short_names.is_empty()).then(|| crd.short_names.iter().map(|s| s.to_string()).collect()),
        categories: (!crd.categories.is_empty()).then(|| crd.categories.iter().map(|s| s.to_string()).collect()),
    };
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(crd.name()),
            creation_timestamp: Some(created.clone()),
            generation: Some(1),
            labels: Some(BTreeMap::new()),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: crd.group.into(),
            names: names.clone(),
            scope: "Cluster".into(),
            versions: vec![CustomResourceDefinitionVersion {
                name: crd.version.into(),
                served: true,
                storage: true,
                additional_printer_columns: Some(columns),
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(JSONSchemaProps {
                        type_: Some("object".into()),
                        x_kubernetes_preserve_unknown_fields: Some(true),
                        ..Default::default()
                    }),
                }),
                subresources: Some(CustomResourceSubresources {
                    status: Some(CustomResourceSubresourceStatus(serde_json::json!({}))),
                    scale: None,
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: Some(CustomResourceDefinitionStatus {
            accepted_names: Some(names),
            conditions: Some(vec![
                cond("NamesAccepted", "NoConflicts", "no conflicts found"),
                cond(
                    "Established",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                ),
            ]),
            stored_versions: Some(vec![crd.version.into()]),
        }),
    }
}
