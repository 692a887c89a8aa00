//! `campaign status`: every cluster's state by stage, the window of the stage due
//! (open, and the time left in it, or the next one) and what is due or what blocks,
//! as text, JSON or Markdown. Built from the states alone, so that it is the same
//! whether they were read from clusters or from fixture journals.

use jiff::Timestamp;
use serde::Serialize;

use super::file::{Campaign, StageWindows, show_duration};
use super::next::{Due, DueView, States, due};
use super::state::ClusterState;
use super::window::{WindowNow, left, window_now};

/// The campaign at an instant.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub name: String,
    pub target: String,
    pub at: Timestamp,
    pub stages: Vec<StageStatus>,
    /// The window of the stage due, if a stage is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowStatus>,
    /// Problems of earlier stages that a later stage accepted, as the file says.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<AcceptedStatus>,
    pub due: DueView,
    /// Instants as the campaign's zone shows them (not serialized: JSON has UTC).
    #[serde(skip)]
    shown: Shown,
}

#[derive(Clone, Debug, Default)]
struct Shown {
    at: String,
    finished: Vec<Option<String>>,
    opens: Option<String>,
    closes: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageStatus {
    pub name: String,
    /// `any` or the window names.
    pub windows: Vec<String>,
    pub soak: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drivers: Vec<String>,
    pub clusters: Vec<ClusterStatus>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    pub name: String,
    #[serde(flatten)]
    pub state: ClusterState,
    /// Operators who drove it without being among the stage's drivers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_drivers: Vec<String>,
}

/// The operators (`user@host`) of `drove` whose user is not among `drivers`
/// (none when the stage lets anyone drive).
pub fn not_drivers(drivers: &[String], drove: &[String]) -> Vec<String> {
    if drivers.is_empty() {
        return Vec::new();
    }
    drove
        .iter()
        .filter(|who| {
            let user = who.split_once('@').map_or(who.as_str(), |(u, _)| u);
            !drivers.iter().any(|d| d == user || d == *who)
        })
        .cloned()
        .collect()
}

/// An earlier cluster's problems a stage accepted.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedStatus {
    pub stage: String,
    pub cluster: String,
    /// The parts of the problems' text accepted; empty: all of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    pub reason: String,
    pub by: String,
}

impl AcceptedStatus {
    fn line(&self) -> String {
        let which = if self.problems.is_empty() {
            "every open problem".to_string()
        } else {
            format!("problems naming {}", self.problems.join(", "))
        };
        format!(
            "stage {} accepts {which} of {}, by {}: {}",
            self.stage, self.cluster, self.by, self.reason
        )
    }
}

/// The window of the stage due.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowStatus {
    pub stage: String,
    /// `open`, `closed` (then `name` and `opens` are the next one's, if any), `anytime`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closes: Option<Timestamp>,
    /// Time left in the open window, or until the next opens: `2h30m`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<String>,
}

/// The status of `campaign` at `now`, from `states`.
pub fn build(campaign: &Campaign, states: &States, now: Timestamp) -> Status {
    let mut shown = Shown {
        at: campaign.show(now),
        ..Default::default()
    };
    let stages = campaign
        .stages
        .iter()
        .map(|s| StageStatus {
            name: s.name.clone(),
            windows: match &s.windows {
                StageWindows::Any => vec!["any".to_string()],
                StageWindows::Named(n) => n.clone(),
            },
            soak: show_duration(s.soak),
            drivers: s.drivers.clone(),
            clusters: s
                .clusters
                .iter()
                .map(|c| {
                    let state = states.get(&c.name).cloned().unwrap_or_else(ClusterState::not_started);
                    shown.finished.push(state.finished.map(|f| campaign.show(f)));
                    ClusterStatus {
                        name: c.name.clone(),
                        not_drivers: not_drivers(&s.drivers, &state.drivers),
                        state,
                    }
                })
                .collect(),
        })
        .collect();
    let d = due(campaign, states, now);
    let stage_due = match &d {
        Due::Drive { stage, .. } | Due::Blocked { stage, .. } => campaign.stages.iter().find(|s| &s.name == stage),
        Due::Done => None,
    };
    let window = stage_due.map(|s| {
        let (state, o) = match window_now(campaign, s, now) {
            WindowNow::Anytime => ("anytime", None),
            WindowNow::Open(o) => ("open", Some(o)),
            WindowNow::Closed { next } => ("closed", next),
        };
        shown.opens = o.as_ref().map(|o| campaign.show(o.opens));
        shown.closes = o.as_ref().map(|o| campaign.show(o.closes));
        let until = o.as_ref().map(|o| if state == "open" { o.closes } else { o.opens });
        WindowStatus {
            stage: s.name.clone(),
            state: state.to_string(),
            name: o.as_ref().map(|o| o.name.clone()),
            opens: o.as_ref().map(|o| o.opens),
            closes: o.as_ref().map(|o| o.closes),
            left: until.map(|u| left(u.duration_since(now))),
        }
    });
    Status {
        name: campaign.name.clone(),
        target: campaign.target.to_string(),
        at: now,
        stages,
        window,
        accepted: campaign
            .stages
            .iter()
            .flat_map(|s| {
                s.accept.iter().map(move |a| AcceptedStatus {
                    stage: s.name.clone(),
                    cluster: a.cluster.clone(),
                    problems: a.problems.clone(),
                    reason: a.reason.clone(),
                    by: a.by.clone(),
                })
            })
            .collect(),
        due: DueView::from(&d),
        shown,
    }
}

fn detail(s: &ClusterState) -> String {
    let mut out = s.progress.describe();
    if let Some(v) = &s.version {
        out.push_str(&format!("; control plane {v}"));
    }
    out
}

impl Status {
    fn window_line(&self) -> Option<String> {
        let w = self.window.as_ref()?;
        let name = w.name.clone().unwrap_or_default();
        let left = w.left.clone().unwrap_or_default();
        Some(match w.state.as_str() {
            "open" => format!(
                "window {name} is open for stage {}: closes {} ({left} left)",
                w.stage,
                self.shown.closes.clone().unwrap_or_default()
            ),
            "closed" if w.name.is_some() => format!(
                "no window is open for stage {}: the next, {name}, opens {} (in {left})",
                w.stage,
                self.shown.opens.clone().unwrap_or_default()
            ),
            "closed" => format!("no window is left for stage {}: add one to the campaign file", w.stage),
            _ => format!("stage {} may run at any time (the campaign has no windows)", w.stage),
        })
    }

    fn due_lines(&self) -> Vec<String> {
        match &self.due {
            DueView::Drive { stage, cluster, resume } => vec![format!(
                "next: {} {cluster} (stage {stage})",
                if *resume { "resume" } else { "drive" }
            )],
            DueView::Blocked { stage, reasons, .. } => {
                let mut out = vec![format!("stage {stage} is blocked:")];
                out.extend(reasons.iter().map(|r| format!("  - {r}")));
                out
            }
            DueView::Done => vec!["every cluster is done".to_string()],
        }
    }

    /// Plain text, for a terminal.
    pub fn text(&self) -> String {
        let mut out = format!("campaign {} to {}, at {}\n", self.name, self.target, self.shown.at);
        let mut k = 0;
        for s in &self.stages {
            out.push_str(&format!(
                "\n{} (windows: {}; soak {}",
                s.name,
                s.windows.join(", "),
                s.soak
            ));
            if !s.drivers.is_empty() {
                out.push_str(&format!("; drivers: {}", s.drivers.join(", ")));
            }
            out.push_str(")\n");
            let width = s.clusters.iter().map(|c| c.name.len()).max().unwrap_or(0);
            for c in &s.clusters {
                out.push_str(&format!("  {:width$}  {}", c.name, detail(&c.state)));
                if let Some(Some(f)) = self.shown.finished.get(k) {
                    out.push_str(&format!("; finished {f}"));
                }
                out.push('\n');
                for u in &c.state.unreadable {
                    out.push_str(&format!("  {:width$}  (not read: {u})\n", ""));
                }
                if !c.not_drivers.is_empty() {
                    out.push_str(&format!(
                        "  {:width$}  (decided by {}, not among the stage's drivers)\n",
                        "",
                        c.not_drivers.join(", ")
                    ));
                }
                k += 1;
            }
        }
        out.push('\n');
        for a in &self.accepted {
            out.push_str(&a.line());
            out.push('\n');
        }
        if let Some(w) = self.window_line() {
            out.push_str(&w);
            out.push('\n');
        }
        for l in self.due_lines() {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }

    /// Markdown, for the team's thread or a ticket.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# Campaign {} to {}\n\nAt {}.\n\n| Stage | Cluster | State | Control plane | Finished |\n|---|---|---|---|---|\n",
            self.name, self.target, self.shown.at
        );
        let mut k = 0;
        for s in &self.stages {
            for c in &s.clusters {
                let finished = self.shown.finished.get(k).cloned().flatten().unwrap_or_default();
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    s.name,
                    c.name,
                    cell(&c.state.progress.describe()),
                    c.state.version.as_deref().unwrap_or(""),
                    finished
                ));
                k += 1;
            }
        }
        out.push_str("\n## Stages\n\n");
        for s in &self.stages {
            out.push_str(&format!(
                "- **{}**: windows {}; soak {}",
                s.name,
                s.windows.join(", "),
                s.soak
            ));
            if !s.drivers.is_empty() {
                out.push_str(&format!("; drivers {}", s.drivers.join(", ")));
            }
            out.push('\n');
        }
        if !self.accepted.is_empty() {
            out.push_str("\n## Accepted\n\n");
            for a in &self.accepted {
                out.push_str(&format!("- {}\n", capital(&a.line())));
            }
        }
        out.push_str("\n## Next\n\n");
        if let Some(w) = self.window_line() {
            out.push_str(&format!("{}.\n\n", capital(&w)));
        }
        for l in self.due_lines() {
            match l.strip_prefix("  - ") {
                Some(r) => out.push_str(&format!("- {r}\n")),
                None => out.push_str(&format!("{}\n", capital(&l))),
            }
        }
        let unread: Vec<String> = self
            .stages
            .iter()
            .flat_map(|s| &s.clusters)
            .flat_map(|c| c.state.unreadable.iter().map(move |u| format!("- {}: {u}", c.name)))
            .collect();
        if !unread.is_empty() {
            out.push_str("\n## Not read\n\n");
            out.push_str(&unread.join("\n"));
            out.push('\n');
        }
        out
    }

    /// JSON, for scripts.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_drove_without_being_a_driver_is_named() {
        let drivers = vec!["dana".to_string(), "lee".to_string()];
        let drove = vec!["dana@laptop".to_string(), "sam@desk".to_string(), "lee".to_string()];
        assert_eq!(not_drivers(&drivers, &drove), ["sam@desk"]);
        assert!(not_drivers(&[], &drove).is_empty(), "anyone may drive");
    }
}
