//! What the screen shows besides the data: which pane has the focus, each list's
//! selection, scroll and filter, the prompt being typed and the open overlay, and
//! what the last frame measured (drawing returns it; the loop keeps it here).

/// The panes, in the order of their digit keys: the rollout (shown only while one is
/// driven) and the seven that watch the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Pane {
    Rollout,
    #[default]
    Nodes,
    Health,
    Pending,
    Errors,
    Components,
    Events,
    Workloads,
}

impl Pane {
    pub const ALL: [Pane; 8] = [
        Pane::Rollout,
        Pane::Nodes,
        Pane::Health,
        Pane::Pending,
        Pane::Errors,
        Pane::Components,
        Pane::Events,
        Pane::Workloads,
    ];

    /// The seven panes that watch the cluster, shown whether or not a rollout is driven.
    pub const CLUSTER: [Pane; 7] = [
        Pane::Nodes,
        Pane::Health,
        Pane::Pending,
        Pane::Errors,
        Pane::Components,
        Pane::Events,
        Pane::Workloads,
    ];

    /// The name `:` jumps to.
    pub fn name(self) -> &'static str {
        match self {
            Pane::Rollout => "rollout",
            Pane::Nodes => "nodes",
            Pane::Health => "health",
            Pane::Pending => "pending",
            Pane::Errors => "errors",
            Pane::Components => "components",
            Pane::Events => "events",
            Pane::Workloads => "workloads",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Pane::Rollout => 0,
            Pane::Nodes => 1,
            Pane::Health => 2,
            Pane::Pending => 3,
            Pane::Errors => 4,
            Pane::Components => 5,
            Pane::Events => 6,
            Pane::Workloads => 7,
        }
    }

    /// The digit key that focuses it.
    pub fn digit(self) -> char {
        match self {
            Pane::Rollout => '0',
            Pane::Nodes => '1',
            Pane::Health => '2',
            Pane::Pending => '3',
            Pane::Errors => '4',
            Pane::Components => '5',
            Pane::Events => '6',
            Pane::Workloads => '7',
        }
    }

    pub fn from_index(i: usize) -> Pane {
        Pane::ALL[i % Pane::ALL.len()]
    }

    pub fn next(self) -> Pane {
        Pane::from_index(self.index() + 1)
    }

    pub fn prev(self) -> Pane {
        Pane::from_index(self.index() + Pane::ALL.len() - 1)
    }

    /// The pane a `:` command names: its name, a few aliases, or an unambiguous prefix.
    pub fn find(name: &str) -> Option<Pane> {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() {
            return None;
        }
        let alias = match name.as_str() {
            "no" | "node" | "state" => Some(Pane::Nodes),
            "unscheduled" | "pods" | "po" | "pod" | "sched" => Some(Pane::Pending),
            "error" | "err" => Some(Pane::Errors),
            "log" | "ev" | "event" => Some(Pane::Events),
            "comp" | "pdb" | "pdbs" | "critical" => Some(Pane::Components),
            "drive" | "gate" | "plan" => Some(Pane::Rollout),
            "wl" | "workload" | "deploy" | "deployments" | "svc" | "services" | "availability" => Some(Pane::Workloads),
            _ => None,
        };
        if alias.is_some() {
            return alias;
        }
        let mut hits = Pane::ALL.into_iter().filter(|p| p.name().starts_with(&name));
        match (hits.next(), hits.next()) {
            (Some(p), None) => Some(p),
            _ => None,
        }
    }
}

/// One pane's list: what is selected, where it is scrolled to, what it is filtered by.
#[derive(Clone, Debug, Default)]
pub struct ListState {
    /// Index into the filtered list.
    pub selected: usize,
    /// The first row shown.
    pub offset: usize,
    /// Case-insensitive text the rows must contain; empty shows all.
    pub filter: String,
    /// Stay on the newest entry (the event log, until the user scrolls up).
    pub follow: bool,
}

/// What a prompt is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    /// `/`: filters the focused list as it is typed (in the footer).
    Filter,
    /// `:`: jumps to a pane by name (in the footer).
    Command,
    /// A decision for the drive that needs typed text (in a box above the panes).
    Drive(Ask),
}

/// The decisions a lead types text for: a reason that is journaled, or a name typed to
/// confirm something that cannot be undone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// A reason for passing a red gate.
    OverrideGate,
    /// A reason for skipping a failed step.
    SkipStep,
    /// The production cluster's name, before the first action.
    ConfirmCluster,
    /// The word `abort`.
    Abort,
    /// The node group's name, to force its update past its budgets.
    Force,
    /// The holding pod's name, to delete it.
    DeletePod,
    /// The name of the operator who takes the drive over.
    Handover,
}

impl Ask {
    /// What must be typed, as the rollout pane offers the choice (a reason says so in
    /// the choice itself).
    pub fn typed(self) -> Option<&'static str> {
        match self {
            Ask::OverrideGate | Ask::SkipStep => None,
            Ask::ConfirmCluster => Some("type its name"),
            Ask::Abort => Some("type abort"),
            Ask::Force => Some("type the group's name"),
            Ask::DeletePod => Some("type its name"),
            Ask::Handover => Some("type who takes over"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
}

/// What a detail overlay is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    /// A node, by name.
    Node(String),
    /// A pod, by `namespace/name`.
    Pod(String),
    /// One entry of the event log in full (a copy: the log moves on), and what it is
    /// about when that is a node or pod.
    Entry(Box<crate::model::LogEntry>),
    /// Every step of the driven rollout in full: what it did, and the journal's notes
    /// about it (the preflight's warnings among them).
    Steps,
    /// A workload, by id (`Deployment shop/recommendations`).
    Workload(String),
}

/// An overlay drawn above the panes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overlay {
    Help {
        scroll: u16,
    },
    Detail {
        target: Detail,
        scroll: u16,
    },
    /// The lead pressed quit while a step runs: what goes on without upshift, and
    /// quit again or stay.
    ConfirmQuit,
}

/// What the screen shows besides the data: focus, selection, filter, overlays.
#[derive(Clone, Debug)]
pub struct View {
    pub focus: Pane,
    /// One per pane, in `Pane::index` order.
    pub lists: [ListState; 8],
    pub prompt: Option<Prompt>,
    pub overlay: Option<Overlay>,
    /// A one-off note for the footer (an unknown `:` command), cleared by the next key.
    pub message: Option<String>,
    /// How many list rows each pane had when last drawn, so that keys can page and keep
    /// the selection in view (one per pane, in `Pane::index` order).
    rows: [u16; 8],
    /// How many rows of content the open overlay showed when last drawn (for paging it).
    overlay_height: u16,
    /// How wide the open overlay's content was when last drawn (long text wraps to it).
    overlay_width: u16,
    /// Whether the open prompt has been on screen: a decision's box takes no keys
    /// typed before it appeared.
    prompt_shown: bool,
}

/// What one frame measured, returned by drawing (which writes nothing back): the list
/// rows of each pane drawn in full, and the open overlay's content size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measured {
    /// Per pane, in `Pane::index` order; None for a pane not drawn in full.
    pub rows: [Option<u16>; 8],
    pub overlay_height: Option<u16>,
    pub overlay_width: Option<u16>,
    /// Whether the frame drew the decision's box.
    pub prompt_drawn: bool,
}

impl Measured {
    /// Notes the list rows `pane` was drawn with.
    pub fn set_rows(&mut self, pane: Pane, rows: u16) {
        self.rows[pane.index()] = Some(rows);
    }
}

impl Default for View {
    fn default() -> Self {
        let mut lists: [ListState; 8] = Default::default();
        lists[Pane::Events.index()].follow = true;
        View {
            focus: Pane::default(),
            lists,
            prompt: None,
            overlay: None,
            message: None,
            rows: [0; 8],
            overlay_height: 0,
            overlay_width: 0,
            prompt_shown: false,
        }
    }
}

impl View {
    pub fn list(&self, pane: Pane) -> &ListState {
        &self.lists[pane.index()]
    }

    pub fn list_mut(&mut self, pane: Pane) -> &mut ListState {
        &mut self.lists[pane.index()]
    }

    /// The rows a page of the pane holds (as last drawn; a guess before the first frame).
    pub fn page(&self, pane: Pane) -> usize {
        match self.rows[pane.index()] {
            0 => 10,
            h => usize::from(h),
        }
    }

    /// How many rows of content the open overlay showed when last drawn.
    pub fn overlay_height(&self) -> u16 {
        self.overlay_height
    }

    /// How wide the open overlay's content was when last drawn (0 before it was).
    pub fn overlay_width(&self) -> u16 {
        self.overlay_width
    }

    /// Opens a prompt that has not been on screen yet.
    pub fn open_prompt(&mut self, prompt: Prompt) {
        self.prompt = Some(prompt);
        self.prompt_shown = false;
    }

    /// Opens a prompt as if it had been on screen: what was typed is meant for it (a
    /// production cluster's name, whose first letter opened it).
    pub fn open_prompt_typing(&mut self, prompt: Prompt) {
        self.prompt = Some(prompt);
        self.prompt_shown = true;
    }

    /// Whether the open prompt has been drawn since it opened.
    pub fn prompt_shown(&self) -> bool {
        self.prompt.is_some() && self.prompt_shown
    }

    /// Keeps what a frame measured; what it did not draw keeps its last measure.
    pub fn remember(&mut self, m: &Measured) {
        if m.prompt_drawn && self.prompt.is_some() {
            self.prompt_shown = true;
        }
        for (kept, drawn) in self.rows.iter_mut().zip(m.rows) {
            if let Some(rows) = drawn {
                *kept = rows;
            }
        }
        if let Some(h) = m.overlay_height {
            self.overlay_height = h;
        }
        if let Some(w) = m.overlay_width {
            self.overlay_width = w;
        }
    }
}

/// The first row to show so that `selected` is visible in `height` rows, moving as
/// little as possible from `offset`, and not leaving the last page half empty.
pub fn scroll_to(offset: usize, selected: usize, height: usize, total: usize) -> usize {
    if height == 0 || total == 0 {
        return 0;
    }
    let mut o = offset.min(total.saturating_sub(height));
    if selected < o {
        o = selected;
    } else if selected >= o + height {
        o = selected + 1 - height;
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_cycle_both_ways() {
        assert_eq!(Pane::Workloads.next(), Pane::Rollout);
        assert_eq!(Pane::Rollout.prev(), Pane::Workloads);
        for p in Pane::ALL {
            assert_eq!(Pane::from_index(p.index()), p);
            assert_eq!(p.next().prev(), p);
        }
    }

    #[test]
    fn panes_are_found_by_name_alias_and_prefix() {
        assert_eq!(Pane::find("nodes"), Some(Pane::Nodes));
        assert_eq!(Pane::find(" Pending "), Some(Pane::Pending));
        assert_eq!(Pane::find("comp"), Some(Pane::Components));
        assert_eq!(Pane::find("ev"), Some(Pane::Events));
        assert_eq!(Pane::find("ro"), Some(Pane::Rollout));
        assert_eq!(Pane::find("gate"), Some(Pane::Rollout));
        assert_eq!(Pane::find("he"), Some(Pane::Health));
        assert_eq!(Pane::find("e"), None, "errors and events are both 'e'");
        assert_eq!(Pane::find("nope"), None);
        assert_eq!(Pane::find(""), None);
    }

    #[test]
    fn a_frame_measures_only_what_it_drew() {
        let mut v = View::default();
        assert_eq!(v.page(Pane::Nodes), 10, "a guess before the first frame");
        let mut m = Measured::default();
        m.set_rows(Pane::Nodes, 17);
        m.overlay_height = Some(30);
        v.remember(&m);
        assert_eq!(
            (v.page(Pane::Nodes), v.overlay_height(), v.overlay_width()),
            (17, 30, 0)
        );
        // a later frame that folded the nodes pane keeps its last measure
        let mut m = Measured::default();
        m.set_rows(Pane::Events, 5);
        m.overlay_width = Some(76);
        v.remember(&m);
        assert_eq!((v.page(Pane::Nodes), v.page(Pane::Events)), (17, 5));
        assert_eq!((v.overlay_height(), v.overlay_width()), (30, 76));
    }

    #[test]
    fn scrolling_keeps_the_selection_in_view() {
        assert_eq!(scroll_to(0, 0, 10, 100), 0);
        assert_eq!(scroll_to(0, 9, 10, 100), 0);
        assert_eq!(scroll_to(0, 10, 10, 100), 1);
        assert_eq!(scroll_to(50, 45, 10, 100), 45);
        assert_eq!(scroll_to(50, 55, 10, 100), 50);
        // the list shrank: no half-empty page
        assert_eq!(scroll_to(90, 5, 10, 12), 2);
        assert_eq!(scroll_to(3, 0, 0, 12), 0);
        assert_eq!(scroll_to(3, 0, 10, 0), 0);
    }
}
