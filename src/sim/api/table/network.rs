//! Server-side table columns of Services, Endpoints and EndpointSlices, as the API
//! server's printers write them.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

use super::{AGE, Column, NAME, TablePrint, age, col, name};

/// At most this many addresses are shown, then "+ N more...".
const SHOWN: usize = 3;

fn with_more(list: &[String], count: usize) -> String {
    let shown = list.join(",");
    if count > SHOWN {
        format!("{shown} + {} more...", count - SHOWN)
    } else if shown.is_empty() {
        "<unset>".into()
    } else {
        shown
    }
}

impl TablePrint for Service {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("Type", "string", 0),
            col("Cluster-IP", "string", 0),
            col("External-IP", "string", 0),
            col("Port(s)", "string", 0),
            AGE,
            col("Selector", "string", 1),
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.as_ref();
        let kind = spec.and_then(|s| s.type_.clone()).unwrap_or_default();
        let internal = spec
            .and_then(|s| s.cluster_ips.as_ref())
            .and_then(|ips| ips.first().cloned())
            .unwrap_or_else(|| "<none>".into());
        let external_ips = spec.and_then(|s| s.external_ips.clone()).unwrap_or_default();
        let external = match kind.as_str() {
            "ClusterIP" | "NodePort" if !external_ips.is_empty() => external_ips.join(","),
            "ClusterIP" | "NodePort" => "<none>".into(),
            "LoadBalancer" => {
                let mut lb: Vec<String> = self
                    .status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|l| l.ingress.as_ref())
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.ip.clone().or_else(|| i.hostname.clone()))
                    .collect();
                lb.sort();
                lb.dedup();
                lb.extend(external_ips);
                if lb.is_empty() {
                    "<pending>".into()
                } else {
                    lb.join(",")
                }
            }
            "ExternalName" => spec.and_then(|s| s.external_name.clone()).unwrap_or_default(),
            _ => "<unknown>".into(),
        };
        let ports: Vec<String> = spec
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
            .map(|p| {
                let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
                match p.node_port.filter(|n| *n > 0) {
                    Some(n) => format!("{}:{n}/{proto}", p.port),
                    None => format!("{}/{proto}", p.port),
                }
            })
            .collect();
        let selector = spec
            .and_then(|s| s.selector.as_ref())
            .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "<none>".into());
        vec![
            name(&self.metadata),
            json!(kind),
            json!(internal),
            json!(external),
            json!(if ports.is_empty() {
                "<none>".to_string()
            } else {
                ports.join(",")
            }),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
            json!(selector),
        ]
    }
}

impl TablePrint for Endpoints {
    fn columns() -> Vec<Column> {
        vec![NAME, col("Endpoints", "string", 0), AGE]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let mut list: Vec<String> = Vec::new();
        let mut count = 0usize;
        for ss in self.subsets.iter().flatten() {
            let addrs = ss.addresses.as_deref().unwrap_or_default();
            let ports = ss.ports.as_deref().unwrap_or_default();
            if ports.is_empty() {
                count += addrs.len();
                for a in addrs {
                    if list.len() < SHOWN {
                        list.push(a.ip.clone());
                    }
                }
                continue;
            }
            for p in ports {
                count += addrs.len();
                for a in addrs {
                    if list.len() < SHOWN {
                        list.push(format!("{}:{}", a.ip, p.port));
                    }
                }
            }
        }
        let cell = if self.subsets.as_ref().is_none_or(|s| s.is_empty()) {
            "<none>".to_string()
        } else if count > SHOWN {
            format!("{} + {} more...", list.join(","), count - SHOWN)
        } else {
            list.join(",")
        };
        vec![
            name(&self.metadata),
            json!(cell),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
        ]
    }
}

impl TablePrint for EndpointSlice {
    fn columns() -> Vec<Column> {
        vec![
            NAME,
            col("AddressType", "string", 0),
            col("Ports", "string", 0),
            col("Endpoints", "string", 0),
            AGE,
        ]
    }
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let ports: Vec<String> = self
            .ports
            .iter()
            .flatten()
            .map(|p| match (p.port, &p.name) {
                (Some(n), _) => n.to_string(),
                (None, Some(name)) => name.clone(),
                (None, None) => "*".into(),
            })
            .collect();
        let port_count = ports.len();
        let shown_ports: Vec<String> = ports.into_iter().take(SHOWN).collect();
        let addresses: Vec<&String> = self.endpoints.iter().flat_map(|e| e.addresses.iter()).collect();
        let shown: Vec<String> = addresses.iter().take(SHOWN).map(|a| a.to_string()).collect();
        vec![
            name(&self.metadata),
            json!(self.address_type),
            json!(with_more(&shown_ports, port_count)),
            json!(with_more(&shown, addresses.len())),
            json!(age(self.metadata.creation_timestamp.as_ref(), now)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_show_their_ports_and_external_address() {
        let now = Timestamp::now();
        let s: Service = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {
            "type": "LoadBalancer", "clusterIPs": ["172.20.1.2"], "selector": {"app": "web"},
            "ports": [{"port": 80, "protocol": "TCP", "nodePort": 31234}, {"port": 443, "protocol": "TCP", "nodePort": 31999}]}}))
        .unwrap();
        let c = s.cells(now);
        assert_eq!(
            &c[1..5],
            &[
                json!("LoadBalancer"),
                json!("172.20.1.2"),
                json!("<pending>"),
                json!("80:31234/TCP,443:31999/TCP")
            ]
        );
        assert_eq!(c[6], json!("app=web"));
        let headless: Service = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {
            "type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}}))
        .unwrap();
        assert_eq!(
            &headless.cells(now)[2..5],
            &[json!("None"), json!("<none>"), json!("<none>")]
        );
    }

    #[test]
    fn endpoints_show_three_addresses_then_how_many_more() {
        let now = Timestamp::now();
        let e: Endpoints = serde_json::from_value(json!({"metadata": {"name": "web"}, "subsets": [
            {"addresses": [{"ip": "10.1.0.1"}, {"ip": "10.1.0.2"}, {"ip": "10.1.0.3"}, {"ip": "10.1.0.4"}],
             "ports": [{"port": 8080, "protocol": "TCP"}]}]}))
        .unwrap();
        assert_eq!(
            e.cells(now)[1],
            json!("10.1.0.1:8080,10.1.0.2:8080,10.1.0.3:8080 + 1 more...")
        );
        let none: Endpoints = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
        assert_eq!(none.cells(now)[1], json!("<none>"));
        let s: EndpointSlice = serde_json::from_value(json!({"metadata": {"name": "web-abcde"}, "addressType": "IPv4",
            "ports": [{"port": 8080}], "endpoints": []}))
        .unwrap();
        assert_eq!(&s.cells(now)[1..4], &[json!("IPv4"), json!("8080"), json!("<unset>")]);
    }
}
