//! Server-side table columns of StorageClasses, PersistentVolumeClaims and
//! PersistentVolumes, as the API server's printers write them.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{Value, json};

use super::{AGE, Column, NAME, TablePrint, age, col, name};

/// Access modes as kubectl abbreviates them, in its order.
fn access_modes(modes: Option<&Vec<String>>) -> String {
    let modes = modes.map(Vec::as_slice).unwrap_or_default();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| modes.iter().any(|x| x == m))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

impl TablePrint for StorageClass {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("Provisioner", "string", 0),
            col("ReclaimPolicy", "string", 0),
            col("VolumeBindingMode", "string", 0),
            col("AllowVolumeExpansion", "string", 0),
            AGE,
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let mut n = self.metadata.name.clone().unwrap_or_default();
        let default = self
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::sim::world::volumes::DEFAULT_CLASS))
            .is_some_and(|v| v == "true");
        if default {
            n.push_str(" (default)");
        }
        vec![
            json!(n),
            json!(self.provisioner),
            json!(self.reclaim_policy.clone().unwrap_or_else(|| "Delete".into())),
            json!(self.volume_binding_mode.clone().unwrap_or_else(|| "Immediate".into())),
            json!(self.allow_volume_expansion.unwrap_or(false)),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
        ]
    }
}

impl TablePrint for PersistentVolumeClaim {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("Status", "string", 0),
            col("Volume", "string", 0),
            col("Capacity", "string", 0),
            col("Access Modes", "string", 0),
            col("StorageClass", "string", 0),
            col("VolumeAttributesClass", "string", 0),
            AGE,
            col("VolumeMode", "string", 1),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.as_ref();
        let status = self.status.as_ref();
        let phase = if self.metadata.deletion_timestamp.is_some() {
            "Terminating".to_string()
        } else {
            status.and_then(|s| s.phase.clone()).unwrap_or_default()
        };
        let volume = spec.and_then(|s| s.volume_name.clone()).unwrap_or_default();
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            (
                status
                    .and_then(|s| s.capacity.as_ref())
                    .and_then(|c| c.get("storage"))
                    .map(|q| q.0.clone())
                    .unwrap_or_default(),
                access_modes(status.and_then(|s| s.access_modes.as_ref())),
            )
        };
        vec![
            name(&self.metadata),
            json!(phase),
            json!(volume),
            json!(capacity),
            json!(modes),
            json!(spec.and_then(|s| s.storage_class_name.clone()).unwrap_or_default()),
            json!(
                spec.and_then(|s| s.volume_attributes_class_name.clone())
                    .unwrap_or_else(|| "<unset>".into())
            ),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
            json!(
                spec.and_then(|s| s.volume_mode.clone())
                    .unwrap_or_else(|| "<unset>".into())
            ),
        ]
    }
}

impl TablePrint for PersistentVolume {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("Capacity", "string", 0),
            col("Access Modes", "string", 0),
            col("Reclaim Policy", "string", 0),
            col("Status", "string", 0),
            col("Claim", "string", 0),
            col("StorageClass", "string", 0),
            col("VolumeAttributesClass", "string", 0),
            col("Reason", "string", 0),
            AGE,
            col("VolumeMode", "string", 1),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.as_ref();
        let status = self.status.as_ref();
        let claim = spec
            .and_then(|s| s.claim_ref.as_ref())
            .map(|r| {
                format!(
                    "{}/{}",
                    r.namespace.clone().unwrap_or_default(),
                    r.name.clone().unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let phase = if self.metadata.deletion_timestamp.is_some() {
            "Terminating".to_string()
        } else {
            status.and_then(|s| s.phase.clone()).unwrap_or_default()
        };
        vec![
            name(&self.metadata),
            json!(
                spec.and_then(|s| s.capacity.as_ref())
                    .and_then(|c| c.get("storage"))
                    .map(|q| q.0.clone())
                    .unwrap_or_else(|| "0".into())
            ),
            json!(access_modes(spec.and_then(|s| s.access_modes.as_ref()))),
            json!(
                spec.and_then(|s| s.persistent_volume_reclaim_policy.clone())
                    .unwrap_or_default()
            ),
            json!(phase),
            json!(claim),
            json!(spec.and_then(|s| s.storage_class_name.clone()).unwrap_or_default()),
            json!(
                spec.and_then(|s| s.volume_attributes_class_name.clone())
                    .unwrap_or_else(|| "<unset>".into())
            ),
            json!(status.and_then(|s| s.reason.clone()).unwrap_or_default()),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
            json!(
                spec.and_then(|s| s.volume_mode.clone())
                    .unwrap_or_else(|| "<unset>".into())
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_show_their_volume_only_once_bound() {
        let now = Timestamp::now();
        let pending: PersistentVolumeClaim = serde_json::from_value(json!({"metadata": {"name": "data-db-0"},
            "spec": {"storageClassName": "gp3", "volumeMode": "Filesystem", "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "20Gi"}}},
            "status": {"phase": "Pending"}}))
        .unwrap();
        assert_eq!(
            &pending.cells(now)[1..7],
            &[
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!("gp3"),
                json!("<unset>")
            ]
        );
        let mut bound = pending.clone();
        bound.spec.as_mut().unwrap().volume_name = Some("pvc-1".into());
        bound.status = serde_json::from_value(
            json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "20Gi"}}),
        )
        .unwrap();
        assert_eq!(
            &bound.cells(now)[1..5],
            &[json!("Bound"), json!("pvc-1"), json!("20Gi"), json!("RWO")]
        );
        let sc: StorageClass = serde_json::from_value(json!({"metadata": {"name": "gp3",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "ebs.csi.aws.com", "volumeBindingMode": "WaitForFirstConsumer"}))
        .unwrap();
        assert_eq!(
            &sc.cells(now)[0..5],
            &[
                json!("gp3 (default)"),
                json!("ebs.csi.aws.com"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false)
            ]
        );
    }
}
