//! The custom resources Karpenter (and EKS Auto Mode) add to a cluster, as the API
//! server stores them: standard metadata, a `spec` and a `status` kept as JSON exactly
//! as written (after the schema's defaults), read through typed views in `spec.rs`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::Deserializer;
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The wire shape every custom object shares.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Value,
    #[serde(default)]
    status: Option<Value>,
}

macro_rules! custom_kind {
    ($(#[$doc:meta])* $name:ident, $group:literal, $version:literal, $plural:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name {
            pub metadata: ObjectMeta,
            /// The spec as stored (JSON null when absent).
            pub spec: Value,
            /// The status as stored; None until a controller writes one.
            pub status: Option<Value>,
        }

        impl k8s_openapi::Resource for $name {
            const API_VERSION: &'static str = concat!($group, "/", $version);
            const GROUP: &'static str = $group;
            const KIND: &'static str = stringify!($name);
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::ClusterResourceScope;
        }

        impl k8s_openapi::ListableResource for $name {
            const LIST_KIND: &'static str = concat!(stringify!($name), "List");
        }

        impl k8s_openapi::Metadata for $name {
            type Ty = ObjectMeta;
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let fields = 3 + usize::from(!self.spec.is_null()) + usize::from(self.status.is_some());
                let mut st = s.serialize_struct(stringify!($name), fields)?;
                st.serialize_field("apiVersion", <Self as k8s_openapi::Resource>::API_VERSION)?;
                st.serialize_field("kind", <Self as k8s_openapi::Resource>::KIND)?;
                st.serialize_field("metadata", &self.metadata)?;
                if !self.spec.is_null() {
                    st.serialize_field("spec", &self.spec)?;
                }
                if let Some(status) = &self.status {
                    st.serialize_field("status", status)?;
                }
                st.end()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = Raw::deserialize(d)?;
                Ok($name {
                    metadata: raw.metadata,
                    spec: raw.spec,
                    status: raw.status.filter(|s| !s.is_null()),
                })
            }
        }
    };
}

custom_kind!(
    /// `karpenter.sh/v1` NodePool: a template for nodes, their limits and disruption rules.
    NodePool,
    "karpenter.sh",
    "v1",
    "nodepools"
);
custom_kind!(
    /// `karpenter.sh/v1` NodeClaim: one node Karpenter asked for, from launch to termination.
    NodeClaim,
    "karpenter.sh",
    "v1",
    "nodeclaims"
);
custom_kind!(
    /// `karpenter.k8s.aws/v1` EC2NodeClass: how self-managed Karpenter launches EC2 instances.
    EC2NodeClass,
    "karpenter.k8s.aws",
    "v1",
    "ec2nodeclasses"
);
custom_kind!(
    /// `eks.amazonaws.com/v1` NodeClass: EKS Auto Mode's counterpart of the EC2NodeClass.
    NodeClass,
    "eks.amazonaws.com",
    "v1",
    "nodeclasses"
);

/// Reads `path` (dot-separated keys) in a JSON value.
pub fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for key in path.split('.').filter(|k| !k.is_empty()) {
        cur = cur.get(key)?;
    }
    Some(cur)
}

/// A string at `path`, if there is one.
pub fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_objects_round_trip_with_their_type_meta() {
        let v = json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "general"},
            "spec": {"template": {"spec": {"nodeClassRef": {"name": "default"}}}},
            "unknown": 1
        });
        let np: NodePool = serde_json::from_value(v).unwrap();
        assert_eq!(np.metadata.name.as_deref(), Some("general"));
        assert_eq!(str_at(&np.spec, "template.spec.nodeClassRef.name"), Some("default"));
        assert!(np.status.is_none());
        let back = serde_json::to_value(&np).unwrap();
        assert_eq!(back["apiVersion"], "karpenter.sh/v1");
        assert_eq!(back["kind"], "NodePool");
        assert!(back.get("status").is_none() && back.get("unknown").is_none());
        let nc: EC2NodeClass = serde_json::from_value(json!({"metadata": {"name": "x"}, "status": null})).unwrap();
        assert!(nc.status.is_none() && nc.spec.is_null());
        assert_eq!(
            <NodeClass as k8s_openapi::Resource>::API_VERSION,
            "eks.amazonaws.com/v1"
        );
    }
}
