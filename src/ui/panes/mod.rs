//! The panes, one file each, named after their [`Pane`], and the one place that maps
//! a `Pane` to what it is on screen: [`view`] gives its title, how it draws in full
//! and folded to a line, and its list's rows (how many, which pass a filter, what
//! Enter opens). The layout, the keys and the help reach every pane through here.

pub mod components;
pub mod errors;
pub mod events;
pub mod health;
pub mod nodes;
pub mod pending;
pub mod rollout;
pub mod workloads;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Span;

use crate::cockpit::Cockpit;
use crate::cockpit::view::{Detail, Pane};

/// What a pane is on screen.
pub trait PaneView: Sync {
    /// What the pane shows, for its title: `node state`, `event log`, …
    fn title(&self) -> &'static str;

    /// Draws the pane in `area` (`full`: with a full border, else a title rule);
    /// returns how many rows of its list it showed, for the keys that page.
    fn draw(&self, buf: &mut Buffer, area: Rect, c: &Cockpit, full: bool) -> u16;

    /// The pane folded to one line, after its digit and title.
    fn summary(&self, c: &Cockpit) -> Vec<Span<'static>>;

    /// How many rows its list has before filtering.
    fn len(&self, _c: &Cockpit) -> usize {
        0
    }

    /// Whether row `i` of its list contains `needle` (lower case).
    fn matches(&self, _c: &Cockpit, _i: usize, _needle: &str) -> bool {
        false
    }

    /// Enter on row `i`: the detail to open, or what to say instead.
    fn open(&self, c: &Cockpit, i: usize) -> Result<Detail, &'static str>;
}

/// The pane `pane` is.
pub fn view(pane: Pane) -> &'static dyn PaneView {
    match pane {
        Pane::Rollout => &rollout::RolloutPane,
        Pane::Nodes => &nodes::NodesPane,
        Pane::Health => &health::HealthPane,
        Pane::Pending => &pending::PendingPane,
        Pane::Errors => &errors::ErrorsPane,
        Pane::Components => &components::ComponentsPane,
        Pane::Events => &events::EventsPane,
        Pane::Workloads => &workloads::WorkloadsPane,
    }
}

/// The source index of the `n`th row that passes the pane's filter.
pub fn source_index(c: &Cockpit, pane: Pane, n: usize) -> Option<usize> {
    let v = view(pane);
    let needle = c.view.list(pane).filter.to_lowercase();
    let len = v.len(c);
    if needle.is_empty() {
        return (n < len).then_some(n);
    }
    (0..len).filter(|&i| v.matches(c, i, &needle)).nth(n)
}

/// How many rows pass the pane's filter.
pub fn filtered_len(c: &Cockpit, pane: Pane) -> usize {
    let v = view(pane);
    let needle = c.view.list(pane).filter.to_lowercase();
    let len = v.len(c);
    if needle.is_empty() {
        return len;
    }
    (0..len).filter(|&i| v.matches(c, i, &needle)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pane_has_its_own_title() {
        let titles: Vec<&str> = Pane::ALL.iter().map(|p| view(*p).title()).collect();
        assert_eq!(
            titles,
            [
                "rollout",
                "node state",
                "node health",
                "unscheduled pods",
                "pod errors",
                "critical components",
                "event log",
                "workloads"
            ]
        );
    }
}
