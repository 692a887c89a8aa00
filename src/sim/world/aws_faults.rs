//! Faults of the simulated AWS: throttling and server errors at seeded rates per
//! operation, a one-off "throttle the next n requests", and counts of every fault
//! injected. Each endpoint shapes the error as its protocol does.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::eks::AwsError;
use crate::sim::scenario::aws::{AwsFaultRule, AwsFaultsSpec};

/// Injected faults for one operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Injected {
    pub throttled: u64,
    pub server_errors: u64,
}

/// Fault knobs for the AWS endpoint.
#[derive(Clone, Debug)]
pub struct AwsFaults {
    /// The next this many AWS requests are refused with a throttling error.
    pub throttle_next: u32,
    pub seed: u64,
    pub rules: Vec<AwsFaultRule>,
    rng: SmallRng,
    /// Faults injected, by operation.
    pub injected: BTreeMap<String, Injected>,
}

impl Default for AwsFaults {
    fn default() -> Self {
        AwsFaults {
            throttle_next: 0,
            seed: 1,
            rules: Vec::new(),
            rng: SmallRng::seed_from_u64(1),
            injected: BTreeMap::new(),
        }
    }
}

/// The fault a request meets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
}

impl Fault {
    /// The error, before each protocol names it its own way (EKS answers a 500 as
    /// `ServerException`, the query protocols as `InternalFailure`).
    pub fn error(self) -> AwsError {
        match self {
            Fault::Throttle => AwsError::new("ThrottlingException", 400, "Rate exceeded"),
            Fault::ServerError => AwsError::new(
                "InternalFailure",
                500,
                "The request processing has failed because of an unknown error, exception or failure.",
            ),
        }
    }
}

impl AwsFaults {
    /// Replaces the rates (and reseeds), as the scenario or `POST /sim/aws-faults` set them.
    pub fn set(&mut self, spec: &AwsFaultsSpec, default_seed: u64) {
        self.seed = spec.seed.unwrap_or(default_seed);
        self.rules = spec.rules.clone();
        self.rng = SmallRng::seed_from_u64(self.seed);
    }

    /// Decides whether a request for `operation` meets a fault, and counts it.
    pub fn roll(&mut self, operation: &str) -> Option<Fault> {
        let fault = if self.throttle_next > 0 {
            self.throttle_next -= 1;
            Some(Fault::Throttle)
        } else {
            let rule = self
                .rules
                .iter()
                .find(|r| r.operation == operation)
                .or_else(|| self.rules.iter().find(|r| r.operation == "*"))
                .map(|r| (r.throttle, r.server_error));
            match rule {
                Some((throttle, server_error)) if throttle > 0.0 || server_error > 0.0 => {
                    let x: f64 = self.rng.random();
                    if x < throttle {
                        Some(Fault::Throttle)
                    } else if x < throttle + server_error {
                        Some(Fault::ServerError)
                    } else {
                        None
                    }
                }
                _ => None,
            }
        };
        if let Some(f) = fault {
            let c = self.injected.entry(operation.to_string()).or_default();
            match f {
                Fault::Throttle => c.throttled += 1,
                Fault::ServerError => c.server_errors += 1,
            }
        }
        fault
    }

    /// What `GET /sim/aws-faults` shows.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "throttleNext": self.throttle_next,
            "seed": self.seed,
            "rules": self.rules,
            "injected": self.injected,
        })
    }
}
