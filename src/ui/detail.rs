//! The detail overlay of one node or pod: everything the model knows about it, the
//! pods on a node, and the log entries about it. The only place that looks through
//! every pod while drawing, and only while it is open.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::panes::events::{clock, level_word};
use super::theme;
use super::widgets::age;
use crate::cockpit::Cockpit;
use crate::cockpit::view::Detail;
use crate::model::pod::{OwnerKind, PodPhase};
use crate::model::signals::scheduler_reasons;
use crate::model::{NodeInfo, PodInfo};

/// `  label      value`
fn field(label: &str, value: impl Into<String>, style: ratatui::style::Style) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {label:<11}"), theme::dim()),
        Span::styled(value.into(), style),
    ])
}

fn section(title: String) -> Line<'static> {
    Line::styled(title, theme::title())
}

/// `text` cut into lines of at most `width` characters, at spaces where it can be.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut out = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split(' ') {
        let mut word = word;
        loop {
            let n = word.chars().count();
            let gap = usize::from(len > 0);
            if len + gap + n <= width {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                len += gap + n;
                break;
            }
            if len > 0 {
                out.push(std::mem::take(&mut line));
                len = 0;
                continue;
            }
            // a word longer than a line: cut it
            let cut = word.char_indices().nth(width).map_or(word.len(), |(i, _)| i);
            out.push(word[..cut].to_string());
            word = &word[cut..];
            if word.is_empty() {
                break;
            }
        }
    }
    if len > 0 || out.is_empty() {
        out.push(line);
    }
    out
}

/// Lines of `text` wrapped to `width` after an indent of `indent` spaces.
fn wrapped(text: &str, indent: usize, width: u16, style: ratatui::style::Style) -> Vec<Line<'static>> {
    let pad = " ".repeat(indent);
    wrap(text, usize::from(width).saturating_sub(indent))
        .into_iter()
        .map(|l| Line::styled(format!("{pad}{l}"), style))
        .collect()
}

/// The lines of a detail for a content `width`, measured by the keys and drawn by `draw`.
pub fn lines(c: &Cockpit, target: &Detail, width: u16) -> Vec<Line<'static>> {
    match target {
        Detail::Node(name) => match c.model.nodes.items.get(name) {
            Some(n) => node_lines(c, n, width),
            None => vec![Line::styled(
                format!("node {name} is no longer in the cluster"),
                theme::dim(),
            )],
        },
        Detail::Pod(key) => match c.model.pods.items.get(key) {
            Some(p) => pod_lines(c, p, width),
            None => vec![Line::styled(
                format!("pod {key} is no longer in the cluster"),
                theme::dim(),
            )],
        },
        Detail::Entry(e) => entry_lines(c, e, width),
        Detail::Steps => steps_lines(c, width),
        Detail::Workload(id) => workload_lines(c, id, width),
    }
}

/// A workload: its availability, budget, reason, and its pods that are not ready.
fn workload_lines(c: &Cockpit, id: &str, width: u16) -> Vec<Line<'static>> {
    let Some(w) = c.model.workloads.get(id) else {
        return vec![Line::styled(format!("{id} is no longer in the cluster"), theme::dim())];
    };
    let row = c.signals.availability.rows.iter().find(|r| r.id == id);
    let level = w.level();
    let mut out = vec![
        field(
            "state",
            level.as_str(),
            theme::count(usize::from(level != crate::model::workload::Level::Available)),
        ),
        field("desired", w.desired.to_string(), theme::plain()),
        field("ready", w.ready.to_string(), theme::plain()),
        field("available", w.available.to_string(), theme::plain()),
    ];
    if let Some(r) = row {
        out.push(field("since", age(c.now, r.since), theme::dim()));
        if let Some(p) = &r.pdb {
            let min = r.pdb_min.map(|m| format!(" (keeps {m} healthy)")).unwrap_or_default();
            out.push(field("budget", format!("{p}{min}"), theme::plain()));
        }
        if !r.reason.is_empty() {
            out.extend(wrapped(&format!("reason: {}", r.reason), 2, width, theme::plain()));
        }
    }
    let mut pods: Vec<&PodInfo> = c
        .model
        .pods
        .items
        .values()
        .filter(|p| !p.ready && c.model.workloads.of_pod(p).as_deref() == Some(id))
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    out.push(Line::raw(""));
    out.push(section(format!("pods not ready ({})", pods.len())));
    for p in pods.iter().take(50) {
        let why = p
            .error
            .map(|e| e.label().to_string())
            .or_else(|| p.unschedulable.as_deref().map(|m| scheduler_reasons(m).join(", ")))
            .unwrap_or_else(|| "starting".into());
        out.push(field(&p.name, why, theme::plain()));
    }
    out
}

fn title(target: &Detail) -> String {
    match target {
        Detail::Node(name) => format!(" node {name} "),
        Detail::Pod(key) => format!(" pod {key} "),
        Detail::Entry(e) => format!(" {} {} ", level_word(e.level).to_lowercase(), e.reason),
        Detail::Steps => " the rollout's steps ".into(),
        Detail::Workload(id) => format!(" {id} "),
    }
}

/// One log entry in full; then the node or pod it is about, if it is still there.
fn entry_lines(c: &Cockpit, e: &crate::model::LogEntry, width: u16) -> Vec<Line<'static>> {
    let mut out = vec![
        field("time", format!("{} UTC", clock(e)), theme::plain()),
        field("level", level_word(e.level), theme::level(e.level)),
        field(
            "about",
            if e.object.is_empty() {
                "the cockpit itself".to_string()
            } else {
                e.object.clone()
            },
            theme::plain(),
        ),
        field("reason", e.reason.clone(), theme::level(e.level)),
    ];
    if e.count > 1 {
        out.push(field("seen", format!("{} times", e.count), theme::bold()));
    }
    out.push(Line::default());
    out.extend(wrapped(&e.message, 2, width, theme::plain()));
    if let Some(about) = super::panes::events::detail_of(&e.object) {
        let known = match &about {
            Detail::Node(n) => c.model.nodes.items.contains_key(n),
            Detail::Pod(p) => c.model.pods.items.contains_key(p),
            Detail::Workload(id) => c.model.workloads.get(id).is_some(),
            Detail::Entry(_) | Detail::Steps => false,
        };
        if known {
            out.push(Line::default());
            out.push(section(title(&about).trim().to_string()));
            out.extend(lines(c, &about, width));
        }
    }
    out
}

/// Every step of the rollout: its state, what it did, more, and the journal's notes
/// about it.
fn steps_lines(c: &Cockpit, width: u16) -> Vec<Line<'static>> {
    let Some(r) = &c.rollout else {
        return vec![Line::styled("no rollout is being driven", theme::dim())];
    };
    let mut out = Vec::new();
    for (i, s) in r.steps.iter().enumerate() {
        if i > 0 {
            out.push(Line::default());
        }
        let (mark, style) = super::panes::rollout::mark(s.state);
        let label = if s.label.is_empty() {
            s.id.to_string()
        } else {
            s.label.clone()
        };
        out.push(Line::from(vec![
            Span::styled(format!("{mark} "), style),
            Span::styled(label, theme::title()),
            Span::styled(format!(" · {}", s.state.as_str()), theme::dim()),
        ]));
        if !s.what.is_empty() {
            out.extend(wrapped(&s.what, 2, width, theme::plain()));
        }
        if !s.detail.is_empty() {
            out.extend(wrapped(&s.detail, 2, width, theme::dim()));
        }
        let id = s.id.to_string();
        for e in c
            .log
            .entries()
            .iter()
            .filter(|e| e.object == id && e.reason != "Decision")
        {
            out.push(Line::from(vec![
                Span::styled(format!("  {} ", clock(e)), theme::dim()),
                Span::styled(format!("{:<4} ", level_word(e.level)), theme::level(e.level)),
                Span::styled(e.reason.clone(), theme::level(e.level)),
            ]));
            out.extend(wrapped(&e.message, 4, width, theme::plain()));
        }
    }
    out
}

fn quantity(cpu_millis: u64, memory: u64, max_pods: u32) -> String {
    let cpu = if cpu_millis.is_multiple_of(1000) {
        format!("{} cpu", cpu_millis / 1000)
    } else {
        format!("{cpu_millis}m cpu")
    };
    #[allow(clippy::cast_precision_loss)]
    let gib = memory as f64 / f64::from(1u32 << 30);
    format!("{cpu}, {gib:.1}Gi memory, {max_pods} pods max")
}

/// `nodepool general · nodeclaim general-x7k2p · drifted (AMIDrift) · lifetime ends in 3d`
fn nodepool_line(c: &Cockpit, n: &NodeInfo) -> Option<Line<'static>> {
    let k = &c.model.karpenter;
    let claim = k
        .nodeclaims
        .items
        .values()
        .find(|cl| cl.node.as_deref() == Some(n.name.as_str()));
    let pool = claim.map(|cl| cl.nodepool.clone()).or_else(|| n.nodepool.clone())?;
    let mut line = field("nodepool", pool.to_string(), theme::plain());
    let Some(cl) = claim else { return Some(line) };
    line.push_span(Span::styled(format!(" · nodeclaim {}", cl.name), theme::dim()));
    if let Some(reason) = &cl.drifted {
        line.push_span(Span::styled(format!(" · drifted ({reason})"), theme::warn()));
    }
    let auto = c.signals.nodepools.as_ref().is_some_and(|v| v.auto_mode);
    let expire = cl
        .expire_after
        .clone()
        .or_else(|| k.nodepools.items.get(&*pool).and_then(|p| p.expire_after.clone()));
    if let Some(end) = crate::model::nodepools::node_end(cl.created.or(n.created), expire.as_deref(), auto) {
        let left = end.as_second() - c.now.as_second();
        let text = if left <= 0 {
            " · lifetime ended: Karpenter replaces it whatever the budgets say".to_string()
        } else {
            format!(" · lifetime ends in {}", age(end, Some(c.now)))
        };
        let soon = left <= crate::model::nodepools::EXPIRY_HORIZON_SECS;
        line.push_span(Span::styled(text, if soon { theme::warn() } else { theme::dim() }));
    }
    Some(line)
}

fn node_lines(c: &Cockpit, n: &NodeInfo, width: u16) -> Vec<Line<'static>> {
    let row = c.signals.nodes.rows.iter().find(|r| r.name == n.name);
    let mut out = Vec::new();
    let state = row.map_or(
        if n.ready == crate::model::node::Tri::True {
            "Ready"
        } else {
            "NotReady"
        },
        |r| r.state(),
    );
    let mut state_line = field("state", state, theme::node_state(state));
    if let Some(r) = row {
        let extra: Vec<&str> = [
            (r.cordoned && state != "Cordoned", "cordoned"),
            (r.draining && state != "Draining", "draining"),
            (r.new, "new"),
        ]
        .into_iter()
        .filter_map(|(on, w)| on.then_some(w))
        .collect();
        if !extra.is_empty() {
            state_line.push_span(Span::styled(format!(" ({})", extra.join(", ")), theme::warn()));
        }
    }
    out.push(state_line);
    out.push(field("group", n.group.to_string(), theme::plain()));
    if let Some(line) = nodepool_line(c, n) {
        out.push(line);
    }
    let target = c.signals.nodes.target.as_deref();
    let old = row.is_some_and(|r| r.old);
    let mut version = field(
        "version",
        n.kubelet.to_string(),
        if old { theme::warn() } else { theme::plain() },
    );
    if let Some(t) = target {
        let note = if old {
            format!("  old: the control plane is on {t}")
        } else {
            format!("  target {t}")
        };
        version.push_span(Span::styled(note, if old { theme::warn() } else { theme::dim() }));
    }
    out.push(version);
    out.push(field("zone", n.zone.to_string(), theme::plain()));
    out.push(field("instance", n.instance_type.to_string(), theme::plain()));
    out.push(field(
        "capacity",
        quantity(n.cpu_millis, n.memory, n.max_pods),
        theme::plain(),
    ));
    if let Some(id) = &n.provider_id {
        out.push(field("provider", id.clone(), theme::plain()));
    }
    out.push(field("age", age(c.now, n.created), theme::plain()));
    if n.deleting {
        out.push(field(
            "deleting",
            "yes: the node object is being deleted",
            theme::leaving(),
        ));
    }

    out.push(Line::default());
    if n.problems.is_empty() {
        out.push(Line::from(vec![
            Span::styled("conditions ", theme::title()),
            Span::styled("all healthy", theme::good()),
        ]));
    } else {
        out.push(section("conditions".into()));
        for p in &n.problems {
            out.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(
                    format!("{}={:?}", p.condition, p.status),
                    theme::condition(&p.condition, p.status),
                ),
                Span::raw(format!("  {}", p.reason)),
                Span::styled(format!("  since {}", age(c.now, p.since)), theme::dim()),
            ]));
            if !p.message.is_empty() {
                out.extend(wrapped(&p.message, 4, width, theme::dim()));
            }
        }
    }

    out.push(Line::default());
    if n.taints.is_empty() {
        out.push(Line::from(vec![
            Span::styled("taints ", theme::title()),
            Span::styled("none", theme::dim()),
        ]));
    } else {
        out.push(section("taints".into()));
        out.extend(n.taints.iter().map(|t| Line::raw(format!("  {t}"))));
    }

    // what happened to it comes before the (possibly long) list of its pods
    out.extend(log_lines(c, &format!("Node/{}", n.name), width));

    let mut pods: Vec<&PodInfo> = c
        .model
        .pods
        .items
        .values()
        .filter(|p| p.node.as_deref() == Some(n.name.as_str()))
        .collect();
    pods.sort_by(|a, b| a.namespace.cmp(&b.namespace).then_with(|| a.name.cmp(&b.name)));
    out.push(Line::default());
    out.push(section(format!("pods ({})", pods.len())));
    let name_w = pods
        .iter()
        .map(|p| p.namespace.len() + p.name.len() + 1)
        .max()
        .unwrap_or(4)
        .min(60);
    if !pods.is_empty() {
        out.push(Line::styled(
            format!(
                "  {:<name_w$}  {:<9}  {:<5}  {:>8}  STATE",
                "POD", "PHASE", "READY", "RESTARTS"
            ),
            theme::heading(),
        ));
    }
    for p in pods {
        out.push(pod_row(p, name_w));
    }
    out
}

fn phase_word(p: PodPhase) -> &'static str {
    match p {
        PodPhase::Pending => "Pending",
        PodPhase::Running => "Running",
        PodPhase::Succeeded => "Succeeded",
        PodPhase::Failed => "Failed",
        PodPhase::Unknown => "Unknown",
    }
}

/// What a pod is doing, in a word or two, with its style.
fn pod_state(p: &PodInfo) -> (String, ratatui::style::Style) {
    if let Some(e) = p.error {
        let why = p.reason.as_deref().unwrap_or("");
        (format!("{} {why}", e.label()).trim_end().to_string(), theme::bad())
    } else if p.deleting {
        ("Terminating".into(), theme::leaving())
    } else if p.is_unscheduled() {
        ("Unscheduled".into(), theme::bad())
    } else if p.ready {
        ("ok".into(), theme::good())
    } else if p.phase == PodPhase::Succeeded {
        ("Completed".into(), theme::dim())
    } else {
        ("not ready".into(), theme::warn())
    }
}

fn pod_row(p: &PodInfo, name_w: usize) -> Line<'static> {
    let (state, style) = pod_state(p);
    let name = format!("{}/{}", p.namespace, p.name);
    Line::from(vec![
        Span::raw(format!(
            "  {name:<name_w$}  {:<9}  {:<5}  {:>8}  ",
            phase_word(p.phase),
            if p.ready { "yes" } else { "no" },
            p.restarts
        )),
        Span::styled(state, style),
    ])
}

fn owner_word(k: OwnerKind) -> &'static str {
    match k {
        OwnerKind::None => "none",
        OwnerKind::ReplicaSet => "ReplicaSet",
        OwnerKind::DaemonSet => "DaemonSet",
        OwnerKind::StatefulSet => "StatefulSet",
        OwnerKind::Job => "Job",
        OwnerKind::Node => "Node (static pod)",
        OwnerKind::Other => "other",
    }
}

fn pod_lines(c: &Cockpit, p: &PodInfo, width: u16) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    out.push(field("namespace", p.namespace.to_string(), theme::plain()));
    match &p.node {
        Some(n) => out.push(field("node", n.to_string(), theme::plain())),
        None => out.push(field("node", "not scheduled", theme::bad())),
    }
    out.push(field("phase", phase_word(p.phase), theme::plain()));
    out.push(field(
        "ready",
        if p.ready { "yes" } else { "no" },
        if p.ready { theme::good() } else { theme::warn() },
    ));
    let owner = match &p.owner {
        Some(o) => format!("{} {o} (workload {})", owner_word(p.owner_kind), p.workload()),
        None => "none: lost for good if its node is drained".to_string(),
    };
    out.push(field(
        "owner",
        owner,
        if p.owner.is_some() {
            theme::plain()
        } else {
            theme::warn()
        },
    ));
    out.push(field(
        "restarts",
        p.restarts.to_string(),
        if p.restarts > 0 { theme::warn() } else { theme::plain() },
    ));
    match p.error {
        Some(e) => {
            out.push(field("error", e.label(), theme::bad()));
            if let Some(r) = &p.reason {
                let mut reason = wrapped(r, 13, width, theme::plain()).into_iter();
                if let Some(first) = reason.next() {
                    let text = first.to_string();
                    out.push(field("reason", text.trim_start().to_string(), theme::plain()));
                }
                out.extend(reason);
            }
        }
        None => {
            out.push(field("error", "none", theme::good()));
            if let Some(r) = &p.reason {
                out.push(field("waiting", r.to_string(), theme::plain()));
            }
        }
    }
    if p.deleting {
        out.push(field("deleting", "yes: terminating", theme::leaving()));
    }
    if p.empty_dir {
        out.push(field(
            "emptyDir",
            "yes: its local data is lost when it moves",
            theme::warn(),
        ));
    }
    out.push(field("age", age(c.now, p.created), theme::plain()));
    if p.is_unscheduled() || p.unschedulable.is_some() {
        out.push(Line::default());
        out.push(section("why unscheduled".into()));
        match p.unschedulable.as_deref() {
            Some(msg) if !msg.is_empty() => {
                out.extend(wrapped(msg, 2, width, theme::plain()));
                for r in scheduler_reasons(msg) {
                    out.push(Line::styled(format!("  · {r}"), theme::bad()));
                }
            }
            _ => out.push(Line::styled("  waiting for the scheduler", theme::dim())),
        }
    }
    out.extend(super::containers::lines(c, &p.key(), width));
    out.extend(log_lines(c, &format!("Pod/{}/{}", p.namespace, p.name), width));
    out
}

/// The log entries about `object`, newest last.
fn log_lines(c: &Cockpit, object: &str, width: u16) -> Vec<Line<'static>> {
    let entries: Vec<_> = c.log.entries().iter().filter(|e| e.object == object).collect();
    let mut out = vec![Line::default(), section(format!("log ({})", entries.len()))];
    if entries.is_empty() {
        out.push(Line::styled("  nothing about it in the log", theme::dim()));
    }
    for e in entries {
        let mut spans = vec![
            Span::styled(format!("  {} ", clock(e)), theme::dim()),
            Span::styled(format!("{:<4} ", level_word(e.level)), theme::level(e.level)),
            Span::styled(format!("{} ", e.reason), theme::level(e.level)),
        ];
        if e.count > 1 {
            spans.push(Span::styled(format!("×{} ", e.count), theme::bold()));
        }
        out.push(Line::from(spans));
        out.extend(wrapped(&e.message, 4, width, theme::plain()));
    }
    out
}

/// Draws the overlay; returns the rows and the width of content it showed.
pub fn draw(frame: &mut Frame, area: Rect, c: &Cockpit, target: &Detail, scroll: u16) -> (u16, u16) {
    let popup = area;
    let inner_w = popup.width.saturating_sub(2);
    let lines = lines(c, target, inner_w);
    let block = Block::bordered().border_style(theme::focused()).title(Line::from(vec![
        Span::styled(title(target), theme::title()),
        Span::styled("· j/k scroll · esc back ", theme::dim()),
    ]));
    let inner = block.inner(popup);
    let shown = (inner.height, inner_w);
    let max = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_sub(inner.height);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll.min(max), 0)), popup);
    shown
}
