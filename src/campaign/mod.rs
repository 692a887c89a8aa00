//! A campaign: one Kubernetes version across many clusters, stage by stage
//! (pre-production, then production), inside maintenance windows. The campaign file
//! (`file`), its windows in time (`window`), where each cluster stands (`state`,
//! read by `live`), what is due next (`next`), the checks against the clusters
//! (`check`) and the status (`status`). Pure but for `live` and `check`, which read
//! clusters through a `ClusterReader` and never write.

pub mod check;
pub mod file;
pub mod live;
pub mod next;
pub mod state;
pub mod status;
pub mod window;

pub use file::{Campaign, CampaignError, CampaignErrors};
pub use next::{Due, States, due, expected_durations, strip};
pub use state::{ClusterState, Observed, Progress};
pub use window::{Opening, WindowNow};

/// The commented template `upshift campaign new` writes.
pub const TEMPLATE: &str = include_str!("template.yaml");

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_template_is_a_valid_campaign() {
        let c =
            super::Campaign::from_yaml(super::TEMPLATE, Path::new("campaign.yaml")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.stages.len(), 2);
        assert_eq!(c.windows.len(), 2);
        assert_eq!(c.stages[0].clusters[0].plan, None);
    }
}
