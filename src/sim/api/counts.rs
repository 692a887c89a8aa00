//! Requests counted by identity and by the client's user agent, so a summary can
//! tell what a person's kubectl sent (`kubectl/v1.32.4`) from what a tool sent
//! under the same identity. `GET /sim/requests?by=agent` serves it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::MUTATING_VERBS;

/// The agent of a request that sent no `User-Agent` header.
pub const UNKNOWN_AGENT: &str = "unknown";

/// Requests seen, by identity, then user agent, then verb, then resource.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[allow(clippy::type_complexity)]
pub struct AgentCounts(pub BTreeMap<String, BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>>);

/// The product and version a `User-Agent` header starts with
/// (`kubectl/v1.32.4 (linux/amd64) kubernetes/…` → `kubectl/v1.32.4`).
pub fn agent_of(header: Option<&str>) -> String {
    header
        .and_then(|h| h.split_whitespace().next())
        .filter(|a| !a.is_empty())
        .unwrap_or(UNKNOWN_AGENT)
        .to_string()
}

impl AgentCounts {
    pub fn add(&mut self, who: &str, agent: &str, verb: &str, resource: &str) {
        *self
            .0
            .entry(who.into())
            .or_default()
            .entry(agent.into())
            .or_default()
            .entry(verb.into())
            .or_default()
            .entry(resource.into())
            .or_default() += 1;
    }

    /// The agents `who` was seen with.
    pub fn agents(&self, who: &str) -> Vec<String> {
        self.0.get(who).map(|a| a.keys().cloned().collect()).unwrap_or_default()
    }

    /// Requests of `who` through agents whose name starts with `agent` (e.g.
    /// `kubectl/` for every kubectl) with `verb`, over all resources.
    pub fn count(&self, who: &str, agent: &str, verb: &str) -> u64 {
        self.0
            .get(who)
            .into_iter()
            .flat_map(|a| a.iter())
            .filter(|(name, _)| name.starts_with(agent))
            .filter_map(|(_, verbs)| verbs.get(verb))
            .flat_map(|r| r.values())
            .sum()
    }

    /// Requests of `who` through agents starting with `agent` that would change
    /// something (access reviews, which only ask, left out).
    pub fn mutating(&self, who: &str, agent: &str) -> u64 {
        self.0
            .get(who)
            .into_iter()
            .flat_map(|a| a.iter())
            .filter(|(name, _)| name.starts_with(agent))
            .flat_map(|(_, verbs)| MUTATING_VERBS.iter().filter_map(|v| verbs.get(*v)))
            .flat_map(|r| r.iter())
            .filter(|(res, _)| !res.starts_with("selfsubject"))
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_the_first_word_and_counted_apart() {
        assert_eq!(
            agent_of(Some("kubectl/v1.32.4 (linux/amd64) kubernetes/59526cd")),
            "kubectl/v1.32.4"
        );
        assert_eq!(agent_of(None), UNKNOWN_AGENT);
        assert_eq!(agent_of(Some("  ")), UNKNOWN_AGENT);
        let mut c = AgentCounts::default();
        c.add("lead", "kubectl/v1.32.4", "patch", "nodes");
        c.add("lead", "kubectl/v1.32.4", "get", "nodes");
        c.add("lead", "upshift/0.1.0", "create", "pods/eviction");
        c.add("lead", "upshift/0.1.0", "create", "selfsubjectaccessreviews");
        assert_eq!(c.mutating("lead", "kubectl/"), 1);
        assert_eq!(c.mutating("lead", "upshift/"), 1);
        assert_eq!(c.mutating("lead", ""), 2);
        assert_eq!(c.count("lead", "kubectl/", "get"), 1);
        assert_eq!(c.agents("lead"), vec!["kubectl/v1.32.4", "upshift/0.1.0"]);
    }
}
