//! The copy a `blue-green` step makes: its name (`<old>-<major>-<minor>`, within EKS's
//! 63 characters) and what `CreateNodegroup` is asked for (the old group's
//! configuration on the target). Pure functions, tested here.

use crate::cloud::{NewNodegroup, NodegroupConfig, NodegroupInfo};

/// EKS's longest node group name.
pub const MAX_NAME: usize = 63;
/// The tag the copy carries: the group it replaces.
pub const REPLACES_TAG: &str = "upshift.dev/replaces";

/// The copy's name: the old group's without a `-<major>-<minor>` suffix of an
/// earlier copy, then `-<major>-<minor>` of the target (`apps` → `apps-1-31`,
/// `apps-1-30` → `apps-1-31`), cut to EKS's 63 characters.
pub fn copy_name(old: &str, target: &str) -> String {
    let suffix = format!("-{}", target.replace('.', "-"));
    let parts: Vec<&str> = old.rsplitn(3, '-').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let base = match parts.as_slice() {
        [minor, major, base] if digits(minor) && digits(major) && !base.is_empty() => base,
        _ => old,
    };
    let room = MAX_NAME.saturating_sub(suffix.len());
    let cut: String = base.chars().take(room).collect();
    let cut = cut.trim_end_matches(['-', '_']);
    format!("{cut}{suffix}")
}

/// What `CreateNodegroup` is asked for: the old group's configuration on `target`,
/// booting `ami_type` when the plan moves the group to another AMI type. A group
/// booting a custom AMI (`CUSTOM`) cannot be copied: its launch template names the
/// old AMI.
pub fn copy_of(old: &NodegroupInfo, name: &str, target: &str, ami_type: Option<&str>) -> Result<NewNodegroup, String> {
    let c = &old.config;
    if c.ami_type.as_deref() == Some("CUSTOM") {
        let lt = c
            .launch_template
            .as_ref()
            .and_then(|l| l.name.clone().or(l.id.clone()))
            .unwrap_or_else(|| "its launch template".into());
        return Err(format!(
            "node group {} boots a custom AMI from launch template {lt} (amiType CUSTOM): a copy would boot the same AMI, not one for {target}",
            old.name
        ));
    }
    let mut tags = c.tags.clone();
    tags.insert(REPLACES_TAG.into(), old.name.clone());
    Ok(NewNodegroup {
        name: name.to_string(),
        version: Some(target.to_string()),
        min: old.min.max(0),
        max: old.max.max(1),
        desired: old.desired.max(0),
        instance_types: old.instance_types.clone(),
        labels: old.labels.clone(),
        config: NodegroupConfig {
            // EKS refuses diskSize beside a launch template, which sets the disks
            disk_size: if c.launch_template.is_some() { None } else { c.disk_size },
            ami_type: ami_type.map(str::to_string).or_else(|| c.ami_type.clone()),
            tags,
            ..c.clone()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{LaunchTemplateRef, MaxUnavailable, TaintInfo};

    #[test]
    fn the_copy_is_named_after_the_old_group_and_the_target() {
        assert_eq!(copy_name("apps", "1.31"), "apps-1-31");
        // a copy of a copy does not grow
        assert_eq!(copy_name("apps-1-30", "1.31"), "apps-1-31");
        // a number in the name is not a minor
        assert_eq!(copy_name("apps-2", "1.31"), "apps-2-1-31");
        assert_eq!(copy_name("ml-gpu-a", "1.31"), "ml-gpu-a-1-31");
        // cut to EKS's 63 characters, without a dangling separator
        let long = format!("{}-x", "a".repeat(58));
        let name = copy_name(&long, "1.31");
        assert_eq!(name, format!("{}-1-31", "a".repeat(58)));
        assert_eq!(name.len(), MAX_NAME);
        let long = "b".repeat(80);
        assert_eq!(copy_name(&long, "1.31"), format!("{}-1-31", "b".repeat(58)));
        assert_eq!(copy_name(&long, "1.31").len(), MAX_NAME);
    }

    fn old() -> NodegroupInfo {
        NodegroupInfo {
            name: "apps".into(),
            version: "1.30".into(),
            release_version: "1.30.4-20240917".into(),
            status: "ACTIVE".into(),
            min: 2,
            max: 8,
            desired: 6,
            instance_types: vec!["m5.xlarge".into(), "m5a.xlarge".into()],
            auto_scaling_groups: vec!["eks-apps-1234".into()],
            labels: [("role".to_string(), "apps".to_string())].into(),
            health_issues: vec![],
            config: NodegroupConfig {
                subnets: vec!["subnet-a".into(), "subnet-b".into()],
                taints: vec![TaintInfo {
                    key: "dedicated".into(),
                    value: Some("apps".into()),
                    effect: "NO_SCHEDULE".into(),
                }],
                launch_template: None,
                capacity_type: Some("SPOT".into()),
                node_role: Some("arn:aws:iam::123456789012:role/nodes".into()),
                ami_type: Some("AL2023_x86_64_STANDARD".into()),
                disk_size: Some(50),
                update_config: Some(MaxUnavailable::Percentage(20)),
                tags: [("team".to_string(), "shop".to_string())].into(),
            },
        }
    }

    #[test]
    fn the_copy_takes_the_old_groups_configuration_on_the_target() {
        let o = old();
        let c = copy_of(&o, "apps-1-31", "1.31", None).unwrap();
        assert_eq!(c.name, "apps-1-31");
        assert_eq!(c.version.as_deref(), Some("1.31"));
        assert_eq!((c.min, c.max, c.desired), (2, 8, 6));
        assert_eq!(c.instance_types, o.instance_types);
        assert_eq!(c.labels, o.labels);
        assert_eq!(c.config.subnets, o.config.subnets);
        assert_eq!(c.config.taints, o.config.taints);
        assert_eq!(c.config.capacity_type.as_deref(), Some("SPOT"));
        assert_eq!(c.config.node_role, o.config.node_role);
        assert_eq!(c.config.ami_type, o.config.ami_type);
        assert_eq!(c.config.disk_size, Some(50));
        assert_eq!(c.config.update_config, Some(MaxUnavailable::Percentage(20)));
        assert_eq!(c.config.tags.get("team").map(String::as_str), Some("shop"));
        assert_eq!(c.config.tags.get(REPLACES_TAG).map(String::as_str), Some("apps"));
    }

    #[test]
    fn with_a_launch_template_the_copy_boots_from_it_and_sets_no_disk() {
        let mut o = old();
        o.config.launch_template = Some(LaunchTemplateRef {
            id: Some("lt-0abc".into()),
            name: Some("apps".into()),
            version: Some("7".into()),
        });
        let c = copy_of(&o, "apps-1-31", "1.31", None).unwrap();
        assert_eq!(c.config.launch_template, o.config.launch_template);
        assert_eq!(c.config.disk_size, None);
    }

    #[test]
    fn a_custom_ami_is_not_copied_and_the_error_names_its_launch_template() {
        let mut o = old();
        o.config.ami_type = Some("CUSTOM".into());
        o.config.launch_template = Some(LaunchTemplateRef {
            id: None,
            name: Some("apps-custom".into()),
            version: Some("3".into()),
        });
        let err = copy_of(&o, "apps-1-31", "1.31", None).unwrap_err();
        assert!(
            err.contains("apps-custom") && err.contains("CUSTOM") && err.contains("1.31"),
            "{err}"
        );
    }

    #[test]
    fn the_plans_ami_type_replaces_the_old_groups_in_the_copy() {
        let mut o = old();
        o.config.ami_type = Some("AL2_x86_64".into());
        let c = copy_of(&o, "apps-1-33", "1.33", Some("AL2023_x86_64_STANDARD")).unwrap();
        assert_eq!(c.config.ami_type.as_deref(), Some("AL2023_x86_64_STANDARD"));
        let kept = copy_of(&o, "apps-1-33", "1.33", None).unwrap();
        assert_eq!(kept.config.ami_type.as_deref(), Some("AL2_x86_64"));
    }
}
