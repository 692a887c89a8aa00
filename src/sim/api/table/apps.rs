//! Server-side table columns of StatefulSets and ControllerRevisions, as the API
//! server's printers write them.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use serde_json::{Value, json};

use super::{AGE, Column, NAME, TablePrint, age, col, containers_and_images, name};

impl TablePrint for StatefulSet {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("Ready", "string", 0),
            AGE,
            col("Containers", "string", 1),
            col("Images", "string", 1),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.as_ref();
        let ready = self.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
        let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
        let (containers, images) = containers_and_images(spec.and_then(|s| s.template.spec.as_ref()));
        vec![
            name(&self.metadata),
            json!(format!("{ready}/{desired}")),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
            json!(containers),
            json!(images),
        ]
    }
}

impl TablePrint for ControllerRevision {
    fn columns() -> Vec<Column> {
        vec![NAME, col("Controller", "string", 0), col("Revision", "string", 0), AGE]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let controller = crate::sim::world::controller_of(&self.metadata)
            .map(|o| {
                let group = o.api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
                let kind = o.kind.to_lowercase();
                if group.is_empty() {
                    format!("{kind}/{}", o.name)
                } else {
                    format!("{kind}.{group}/{}", o.name)
                }
            })
            .unwrap_or_else(|| "<none>".into());
        vec![
            name(&self.metadata),
            json!(controller),
            json!(self.revision),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statefulsets_show_ready_of_desired_and_revisions_their_owner() {
        let s: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {
            "replicas": 3, "selector": {}, "serviceName": "db",
            "template": {"spec": {"containers": [{"name": "postgres", "image": "postgres:16.4"}]}}},
            "status": {"replicas": 3, "readyReplicas": 2}}))
        .unwrap();
        let c = s.cells(Timestamp::now());
        assert_eq!(
            (&c[1], &c[3], &c[4]),
            (&json!("2/3"), &json!("postgres"), &json!("postgres:16.4"))
        );
        let r: ControllerRevision = serde_json::from_value(json!({"metadata": {"name": "db-5d8c6b7f9",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "u", "controller": true}]},
            "revision": 2}))
        .unwrap();
        assert_eq!(
            &r.cells(Timestamp::now())[1..3],
            &[json!("statefulset.apps/db"), json!(2)]
        );
    }
}
