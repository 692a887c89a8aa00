//! What the simulated EC2 offers Karpenter: instance types (capacity, the labels
//! Karpenter derives from them, an on-demand price to pick the cheapest) in each zone
//! as on-demand or spot, and EKS-optimized AMIs per family, Kubernetes minor and
//! release, with ids and names that map back to the minor their kubelet runs.

use std::collections::BTreeMap;

use crate::sim::scenario::instance_capacity;

/// Instance types the simulator knows, as `scenario::instance_capacity` sizes them.
pub const INSTANCE_TYPES: &[&str] = &[
    "t3.medium",
    "t3.large",
    "t3.xlarge",
    "c5.large",
    "c5.xlarge",
    "c5.2xlarge",
    "c5.4xlarge",
    "c6i.large",
    "c6i.xlarge",
    "c6i.2xlarge",
    "c6i.4xlarge",
    "m5.large",
    "m5.xlarge",
    "m5.2xlarge",
    "m5.4xlarge",
    "m5.8xlarge",
    "m6i.large",
    "m6i.xlarge",
    "m6i.2xlarge",
    "m6i.4xlarge",
    "m6i.8xlarge",
    "m7i.large",
    "m7i.xlarge",
    "m7i.2xlarge",
    "m7i.4xlarge",
    "r5.large",
    "r5.xlarge",
    "r5.2xlarge",
    "r6i.large",
    "r6i.xlarge",
    "r6i.2xlarge",
];

pub const ON_DEMAND: &str = "on-demand";
pub const SPOT: &str = "spot";

/// One instance type's facts.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceType {
    pub name: &'static str,
    pub cpu_millis: u64,
    pub memory: u64,
    pub pods: u32,
    pub category: String,
    pub family: String,
    pub generation: u32,
    pub size: String,
    /// Dollars per hour on demand (a model: cheaper per vCPU for c, dearer for r).
    pub price: f64,
}

impl InstanceType {
    pub fn get(name: &str) -> Option<InstanceType> {
        let name: &'static str = INSTANCE_TYPES.iter().find(|n| **n == name)?;
        let cap = instance_capacity(name)?;
        let (family, size) = name.split_once('.')?;
        let category: String = family.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        let generation: u32 = family
            .chars()
            .skip_while(|c| c.is_ascii_alphabetic())
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()?;
        let per_cpu = match category.as_str() {
            "c" => 0.0425,
            "r" => 0.063,
            "t" => 0.0416,
            _ => 0.048,
        } * if generation >= 7 { 1.05 } else { 1.0 };
        Some(InstanceType {
            name,
            cpu_millis: cap.cpu_millis,
            memory: cap.memory_bytes,
            pods: cap.pods,
            category,
            family: family.to_string(),
            generation,
            size: size.to_string(),
            price: per_cpu * cap.cpu_millis as f64 / 1000.0,
        })
    }

    /// Every known type, cheapest first.
    pub fn all() -> Vec<InstanceType> {
        let mut v: Vec<InstanceType> = INSTANCE_TYPES.iter().filter_map(|n| InstanceType::get(n)).collect();
        v.sort_by(|a, b| a.price.total_cmp(&b.price).then(a.name.cmp(b.name)));
        v
    }

    /// The labels a node of this type carries, with the provider's label prefix
    /// (`karpenter.k8s.aws` for self-managed Karpenter, `eks.amazonaws.com` for Auto Mode).
    pub fn labels(&self, prefix: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("node.kubernetes.io/instance-type".to_string(), self.name.to_string()),
            ("kubernetes.io/arch".to_string(), "amd64".to_string()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            (format!("{prefix}/instance-category"), self.category.clone()),
            (format!("{prefix}/instance-family"), self.family.clone()),
            (format!("{prefix}/instance-generation"), self.generation.to_string()),
            (format!("{prefix}/instance-size"), self.size.clone()),
            (format!("{prefix}/instance-cpu"), (self.cpu_millis / 1000).to_string()),
            (format!("{prefix}/instance-memory"), (self.memory >> 20).to_string()),
            (format!("{prefix}/instance-hypervisor"), "nitro".to_string()),
        ])
    }
}

/// AMI families the simulator resolves aliases for.
pub const FAMILIES: &[&str] = &["al2023", "al2", "bottlerocket"];

/// Releases each family has published, oldest first (the last is `@latest`).
pub fn default_releases(family: &str) -> Vec<String> {
    let v: &[&str] = match family {
        "bottlerocket" => &["v1.49.0", "v1.50.0", "v1.51.0"],
        _ => &["v20251023", "v20251108", "v20251120"],
    };
    v.iter().map(|s| s.to_string()).collect()
}

/// One AMI of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ami {
    pub id: String,
    pub name: String,
    pub family: String,
    /// Kubernetes minor its kubelet runs, e.g. "1.30".
    pub minor: String,
    pub release: String,
    /// `x86_64` or `arm64`.
    pub arch: &'static str,
}

fn fnv64(s: &str) -> u64 {
    let a = u64::from(super::super::fnv(s.as_bytes()));
    let b = u64::from(super::super::fnv(format!("{s}#").as_bytes()));
    (a << 32) | b
}

impl Ami {
    /// The AMI of `family` for `minor` at `release`, if that family ships one
    /// (AL2 stops at 1.32).
    pub fn of(family: &str, minor: &str, release: &str, arch: &'static str) -> Option<Ami> {
        let m: u32 = minor.split_once('.')?.1.parse().ok()?;
        if family == "al2" && m >= 33 {
            return None;
        }
        let name = match family {
            "al2023" => format!("amazon-eks-node-al2023-{arch}-standard-{minor}-{release}"),
            "al2" if arch == "arm64" => format!("amazon-eks-arm64-node-{minor}-{release}"),
            "al2" => format!("amazon-eks-node-{minor}-{release}"),
            "bottlerocket" => format!("bottlerocket-aws-k8s-{minor}-{arch}-{release}"),
            "eks-auto" => format!("eks-auto-standard-{minor}-{arch}-{release}"),
            _ => return None,
        };
        Some(Ami {
            id: format!("ami-0{:016x}", fnv64(&name)),
            name,
            family: family.to_string(),
            minor: minor.to_string(),
            release: release.to_string(),
            arch,
        })
    }

    /// The operating system image a node of this AMI reports.
    pub fn os_image(&self) -> String {
        let date = self.release.trim_start_matches('v');
        match self.family.as_str() {
            "al2023" => format!("Amazon Linux 2023.9.{date}"),
            "al2" => "Amazon Linux 2".to_string(),
            "bottlerocket" => format!("Bottlerocket OS {} (aws-k8s-{})", date, self.minor),
            _ => format!(
                "Bottlerocket (EKS Auto, Standard) {date} (aws-k8s-{}-standard)",
                self.minor
            ),
        }
    }
}

/// Looks an AMI id up among every family, minor (1.20 to 1.40) and known release.
pub fn find_ami(id: &str, releases: &BTreeMap<String, Vec<String>>) -> Option<Ami> {
    for (family, rels) in releases {
        for m in 20..=40 {
            let minor = format!("1.{m}");
            for r in rels {
                for arch in ["x86_64", "arm64"] {
                    if let Some(a) = Ami::of(family, &minor, r, arch)
                        && a.id == id
                    {
                        return Some(a);
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_types_carry_karpenters_labels_and_sort_by_price() {
        let t = InstanceType::get("m6i.2xlarge").unwrap();
        assert_eq!(
            (t.category.as_str(), t.generation, t.size.as_str()),
            ("m", 6, "2xlarge")
        );
        let l = t.labels("karpenter.k8s.aws");
        assert_eq!(l["karpenter.k8s.aws/instance-cpu"], "8");
        assert_eq!(l["karpenter.k8s.aws/instance-memory"], "32768");
        let all = InstanceType::all();
        assert_eq!(all.len(), INSTANCE_TYPES.len());
        assert!(all.windows(2).all(|w| w[0].price <= w[1].price));
        assert!(InstanceType::get("z9.huge").is_none());
    }

    #[test]
    fn amis_follow_the_minor_and_map_back() {
        let a = Ami::of("al2023", "1.30", "v20251120", "x86_64").unwrap();
        let b = Ami::of("al2023", "1.31", "v20251120", "x86_64").unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.name, "amazon-eks-node-al2023-x86_64-standard-1.30-v20251120");
        assert!(Ami::of("al2", "1.33", "v20251120", "x86_64").is_none());
        let releases = BTreeMap::from([("al2023".to_string(), default_releases("al2023"))]);
        assert_eq!(find_ami(&b.id, &releases), Some(b));
        assert_eq!(find_ami("ami-0000000000000000", &releases), None);
    }
}
