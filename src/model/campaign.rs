//! A campaign as a cockpit shows it: one strip above the rollout with the campaign's
//! stages and clusters, the window the drive runs in and how long it has left, and
//! the soak still to run. The campaign drive fills it in and publishes it with the
//! rollout, so a shadow's strip is the lead's. Pure data.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// The campaign strip: what `upshift campaign drive` publishes with the rollout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CampaignStrip {
    /// The campaign's name (from its file).
    pub name: String,
    /// The minor every cluster of the campaign goes to.
    pub target: String,
    /// The stages in order, each with its clusters.
    pub stages: Vec<StripStage>,
    /// The cluster this drive is on (its name in the campaign file).
    pub driving: String,
    /// The window the drive runs in, if it is in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<StripWindow>,
    /// The next window, when the drive runs outside one (an override) or the
    /// current one is the last of its day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_window: Option<StripWindow>,
    /// Until when the previous stage soaks (the next stage may not start before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak_until: Option<Timestamp>,
}

/// One stage of the strip.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StripStage {
    pub name: String,
    pub clusters: Vec<StripCluster>,
}

/// One cluster of the strip and where it stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StripCluster {
    pub name: String,
    /// `not started`, `running`, `done`, `done with problems`, `aborted`.
    pub state: String,
}

/// A maintenance window: its name (the campaign file's) and when it opens and closes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StripWindow {
    pub name: String,
    pub opens: Option<Timestamp>,
    pub closes: Option<Timestamp>,
}

impl CampaignStrip {
    /// The cluster driven, as its rollout stands: running until it is done (with
    /// `problems` open or none) or aborted.
    pub fn follow(&mut self, phase: &super::rollout::Phase, problems: usize) {
        use super::rollout::Phase;
        let state = match phase {
            Phase::Done if problems > 0 => "done with problems",
            Phase::Done => "done",
            Phase::Aborted { .. } => "aborted",
            _ => "running",
        };
        for c in self.stages.iter_mut().flat_map(|s| s.clusters.iter_mut()) {
            if c.name == self.driving {
                c.state = state.to_string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rollout::Phase;

    #[test]
    fn the_cluster_driven_follows_its_rollout_and_no_other_changes() {
        let mut s = CampaignStrip {
            driving: "prod-eu".into(),
            stages: vec![StripStage {
                name: "production".into(),
                clusters: vec![
                    StripCluster {
                        name: "prod-eu".into(),
                        state: "not started".into(),
                    },
                    StripCluster {
                        name: "prod-us".into(),
                        state: "not started".into(),
                    },
                ],
            }],
            ..Default::default()
        };
        let states = |s: &CampaignStrip| s.stages[0].clusters.iter().map(|c| c.state.clone()).collect::<Vec<_>>();
        s.follow(&Phase::Gate, 0);
        assert_eq!(states(&s), ["running", "not started"]);
        s.follow(&Phase::Done, 2);
        assert_eq!(states(&s), ["done with problems", "not started"]);
        s.follow(&Phase::Done, 0);
        assert_eq!(states(&s), ["done", "not started"]);
    }
}
