//! Several simulated clusters at once, for rehearsing a campaign: each its own API
//! server and AWS endpoint on loopback, all on one virtual clock. A campaign
//! scenario names the clusters, the stage each belongs to and the scenario each is
//! built from, with what a cluster adds to it. It writes one kubeconfig (a context
//! per cluster, and `CLUSTER-viewer` read-only) and one AWS configuration file (a
//! profile per cluster, with its region and endpoint), as a team's own would be.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::clock::Clock;
use super::scenario::services::ServiceSpec;
use super::scenario::{FaultSpec, Scenario, WorkloadSpec};
use super::{SimConfig, SimError, Simulator};

const REHEARSAL: &str = include_str!("../../assets/campaigns/rehearsal.yaml");

/// A campaign scenario: which clusters, in which stage, built from which scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CampaignScenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub clusters: Vec<MemberSpec>,
}

/// One cluster of a campaign scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberSpec {
    /// The EKS cluster's name, its kubeconfig context and its AWS profile.
    pub name: String,
    /// `pre-production`, `production`: said where the clusters are listed.
    pub stage: String,
    /// A built-in scenario's name or a file, relative to the campaign scenario's.
    pub scenario: String,
    /// The region, instead of the scenario's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What this cluster has beyond its scenario.
    #[serde(default)]
    pub add: Additions,
}

/// Workloads, faults and Services added to a member's scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Additions {
    #[serde(default)]
    pub workloads: Vec<WorkloadSpec>,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
}

impl CampaignScenario {
    pub fn builtin_names() -> &'static [&'static str] {
        &["rehearsal"]
    }

    /// A built-in campaign scenario's name, or a YAML file.
    pub fn load(name_or_path: &str) -> Result<CampaignScenario, String> {
        let (text, source, dir) = match name_or_path {
            "rehearsal" => (
                REHEARSAL.to_string(),
                "built-in campaign scenario \"rehearsal\"".to_string(),
                None,
            ),
            path => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "campaign scenario {path}: {e} (built-in ones: {})",
                        Self::builtin_names().join(", ")
                    )
                })?;
                (text, path.to_string(), Path::new(path).parent().map(Path::to_path_buf))
            }
        };
        let mut spec = Self::from_yaml(&text, &source)?;
        if let Some(dir) = dir {
            for m in &mut spec.clusters {
                if Scenario::builtin(&m.scenario).is_none() && Path::new(&m.scenario).is_relative() {
                    m.scenario = dir.join(&m.scenario).display().to_string();
                }
            }
        }
        Ok(spec)
    }

    /// Parses YAML; errors name `source`, the line and the field.
    pub fn from_yaml(text: &str, source: &str) -> Result<CampaignScenario, String> {
        let de = serde_norway::Deserializer::from_str(text);
        let spec: CampaignScenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = inner.location().map_or(0, |l| l.line());
            format!("{source}:{line}: {path}: {inner}")
        })?;
        if spec.clusters.is_empty() {
            return Err(format!(
                "{source}: clusters: a campaign scenario needs at least one cluster"
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, m) in spec.clusters.iter().enumerate() {
            if !seen.insert(m.name.as_str()) {
                return Err(format!(
                    "{source}: clusters[{i}].name: {:?} is named twice; each cluster needs its own name",
                    m.name
                ));
            }
        }
        Ok(spec)
    }

    /// Each member's scenario: loaded, renamed, moved to its region, with its additions.
    pub fn scenarios(&self) -> Result<Vec<Scenario>, String> {
        self.clusters
            .iter()
            .map(|m| {
                let mut s = Scenario::load(&m.scenario).map_err(|e| format!("cluster {}: {e}", m.name))?;
                s.cluster.name = m.name.clone();
                if let Some(r) = &m.region {
                    s.cluster.region = r.clone();
                }
                s.workloads.extend(m.add.workloads.iter().cloned());
                s.faults.extend(m.add.faults.iter().cloned());
                s.services.extend(m.add.services.iter().cloned());
                s.validate().map_err(|e| format!("cluster {}: {e}", m.name))?;
                Ok(s)
            })
            .collect()
    }
}

/// One running cluster of a campaign.
pub struct Member {
    pub name: String,
    pub stage: String,
    pub sim: Simulator,
}

/// The clusters of a campaign scenario, running on one virtual clock.
pub struct SimCampaign {
    pub name: String,
    pub members: Vec<Member>,
    clock: Clock,
}

impl SimCampaign {
    /// Starts every cluster (on free ports) on one clock running `speed` times real time.
    pub async fn start(spec: &CampaignScenario, speed: f64) -> Result<SimCampaign, SimError> {
        let scenarios = spec.scenarios().map_err(|message| SimError::Build {
            name: spec.name.clone(),
            message,
        })?;
        let clock = Clock::new(speed);
        let mut members = Vec::new();
        for (m, scenario) in spec.clusters.iter().zip(scenarios) {
            let mut cfg = SimConfig::new(scenario);
            cfg.speed = speed;
            cfg.clock = Some(clock.clone());
            members.push(Member {
                name: m.name.clone(),
                stage: m.stage.clone(),
                sim: Simulator::start(cfg).await?,
            });
        }
        Ok(SimCampaign {
            name: spec.name.clone(),
            members,
            clock,
        })
    }

    /// The clock every cluster runs on.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn member(&self, name: &str) -> Option<&Simulator> {
        self.members.iter().find(|m| m.name == name).map(|m| &m.sim)
    }

    /// One kubeconfig for all: per cluster a context of its name (read-write) and
    /// `NAME-viewer` (read-only); the first cluster's is current.
    pub fn kubeconfig(&self) -> String {
        use base64::Engine;
        let (mut clusters, mut users, mut contexts) = (String::new(), String::new(), String::new());
        for m in &self.members {
            let ca = base64::engine::general_purpose::STANDARD.encode(m.sim.ca_pem());
            let t = m.sim.tokens();
            let n = &m.name;
            clusters.push_str(&format!(
                "- name: {n}\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\n",
                m.sim.url()
            ));
            users.push_str(&format!(
                "- name: {n}-lead\n  user:\n    token: {}\n- name: {n}-viewer\n  user:\n    token: {}\n",
                t.lead, t.viewer
            ));
            contexts.push_str(&format!(
                "- name: {n}\n  context:\n    cluster: {n}\n    user: {n}-lead\n    namespace: default\n- name: {n}-viewer\n  context:\n    cluster: {n}\n    user: {n}-viewer\n    namespace: default\n"
            ));
        }
        let current = self.members.first().map_or("", |m| m.name.as_str());
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n{users}contexts:\n{contexts}current-context: {current}\npreferences: {{}}\n"
        )
    }

    /// One AWS configuration file: per cluster a profile of its name with its
    /// region, its simulated endpoint and dummy credentials.
    pub fn aws_config(&self) -> String {
        let mut out = String::from("# The simulated AWS accounts of a campaign rehearsal: one profile per cluster.\n");
        for m in &self.members {
            out.push_str(&format!(
                "\n[profile {}]\nregion = {}\nendpoint_url = {}\naws_access_key_id = upshift-sim\naws_secret_access_key = upshift-sim\n",
                m.name,
                m.sim.aws_region(),
                m.sim.aws_url()
            ));
        }
        out
    }

    /// Shell lines that point the AWS CLI and SDKs at [`SimCampaign::aws_config`]
    /// written at `config` (no `AWS_ENDPOINT_URL`: it would win over the profiles').
    pub fn aws_env(config: &Path) -> String {
        format!(
            "export AWS_CONFIG_FILE={}\nexport AWS_SHARED_CREDENTIALS_FILE=/dev/null\nexport AWS_EC2_METADATA_DISABLED=true\nunset AWS_ENDPOINT_URL AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY\n",
            config.display()
        )
    }

    /// Writes the kubeconfig, the AWS configuration and the environment file
    /// (owner-only: they hold tokens) at `kubeconfig` and beside it
    /// (`.aws.config`, `.aws.env`); returns the last two paths.
    pub fn write_files(&self, kubeconfig: &Path) -> std::io::Result<(std::path::PathBuf, std::path::PathBuf)> {
        let config = kubeconfig.with_extension("aws.config");
        let env = kubeconfig.with_extension("aws.env");
        super::kubeconfig::write(kubeconfig, &self.kubeconfig())?;
        super::kubeconfig::write(&config, &self.aws_config())?;
        super::kubeconfig::write(&env, &Self::aws_env(&config))?;
        Ok((config, env))
    }

    /// Stops every cluster.
    pub async fn shutdown(self) {
        for m in self.members {
            m.sim.shutdown().await;
        }
    }
}
