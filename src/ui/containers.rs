//! The pod detail's containers: image, state and last state (reason, exit code,
//! when), restarts, and the last lines of each log, as read when the detail opened.
//! Times are ages against the cockpit's clock, the cluster's.

use ratatui::text::{Line, Span};

use super::theme;
use super::widgets::age;
use crate::cluster::pod_detail::{ContainerDetail, LogTail, State, TAIL_LINES};
use crate::cockpit::Cockpit;
use crate::cockpit::pod_detail::PodFetch;
use crate::model::Timestamp;

/// `    label      value`, one step deeper than the pod's own fields.
fn field(label: &str, value: impl Into<String>, style: ratatui::style::Style) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("    {label:<11}"), theme::dim()),
        Span::styled(value.into(), style),
    ])
}

/// [`field`], its value wrapped to `width` under itself.
fn field_wrapped(label: &str, value: &str, style: ratatui::style::Style, width: u16) -> Vec<Line<'static>> {
    let indent = 15;
    let mut parts = super::detail::wrap(value, usize::from(width).saturating_sub(indent)).into_iter();
    let mut out = vec![field(label, parts.next().unwrap_or_default(), style)];
    out.extend(parts.map(|p| Line::styled(format!("{}{p}", " ".repeat(indent)), style)));
    out
}

/// A state in words, with the style that says whether it is a problem.
fn state_words(now: Timestamp, s: &State) -> (String, ratatui::style::Style) {
    match s {
        State::Running { since } => (format!("running for {}", age(now, *since)), theme::good()),
        State::Waiting { reason, message } => {
            let style = if matches!(reason.as_str(), "ContainerCreating" | "PodInitializing" | "") {
                theme::warn()
            } else {
                theme::bad()
            };
            let mut w = format!("waiting: {}", if reason.is_empty() { "-" } else { reason });
            if !message.is_empty() {
                w.push_str(&format!(" ({message})"));
            }
            (w, style)
        }
        State::Terminated {
            reason,
            exit_code,
            finished,
        } => {
            let when = finished.map_or(String::new(), |f| format!(", {} ago", age(now, Some(f))));
            let reason = if reason.is_empty() { "terminated" } else { reason };
            let style = if *exit_code == 0 { theme::dim() } else { theme::bad() };
            (format!("{reason}, exit code {exit_code}{when}"), style)
        }
        State::Unknown => ("not reported yet".into(), theme::dim()),
    }
}

fn log_tail(t: &LogTail, width: u16) -> Vec<Line<'static>> {
    let title = if t.previous {
        format!("    log of the run that ended (last {TAIL_LINES} lines)")
    } else {
        format!("    log (last {TAIL_LINES} lines)")
    };
    let mut out = vec![Line::styled(title, theme::title())];
    match &t.lines {
        Ok(lines) if lines.is_empty() => out.push(Line::styled("      nothing logged", theme::dim())),
        Ok(lines) => out.extend(
            lines
                .iter()
                .flat_map(|l| super::detail::wrap(l, usize::from(width).saturating_sub(6)))
                .map(|l| Line::raw(format!("      {l}"))),
        ),
        Err(why) => out.extend(
            super::detail::wrap(why, usize::from(width).saturating_sub(6))
                .into_iter()
                .map(|l| Line::styled(format!("      {l}"), theme::warn())),
        ),
    }
    out
}

fn container(now: Timestamp, c: &ContainerDetail, width: u16) -> Vec<Line<'static>> {
    let mut head = vec![Span::styled(format!("  {}", c.name), theme::bold())];
    if c.init {
        head.push(Span::styled(" (init)", theme::dim()));
    }
    let mut out = vec![Line::from(head)];
    out.extend(field_wrapped("image", &c.image, theme::plain(), width));
    let (state, style) = state_words(now, &c.state);
    out.extend(field_wrapped("state", &state, style, width));
    if let Some(last) = &c.last {
        let (words, style) = state_words(now, last);
        out.extend(field_wrapped("last state", &words, style, width));
    }
    out.push(field(
        "restarts",
        c.restarts.to_string(),
        if c.restarts > 0 { theme::warn() } else { theme::plain() },
    ));
    for t in &c.logs {
        out.extend(log_tail(t, width));
    }
    out
}

/// The containers section of pod `key`'s detail.
pub fn lines(c: &Cockpit, key: &str, width: u16) -> Vec<Line<'static>> {
    let mut out = vec![Line::default()];
    match c.pod_fetch(key) {
        None | Some(PodFetch::Asked(_) | PodFetch::Reading(_)) => {
            out.push(Line::from(vec![
                Span::styled("containers ", theme::title()),
                Span::styled("reading the pod and its logs…", theme::dim()),
            ]));
        }
        Some(PodFetch::Failed { why, .. }) => {
            out.push(section_line("containers"));
            out.extend(
                super::detail::wrap(why, usize::from(width).saturating_sub(2))
                    .into_iter()
                    .map(|l| Line::styled(format!("  {l}"), theme::warn())),
            );
        }
        Some(PodFetch::Read(d)) => {
            out.push(section_line(&format!("containers ({})", d.containers.len())));
            for (i, ct) in d.containers.iter().enumerate() {
                if i > 0 {
                    out.push(Line::default());
                }
                out.extend(container(c.now, ct, width));
            }
        }
    }
    out
}

fn section_line(title: &str) -> Line<'static> {
    Line::styled(title.to_string(), theme::title())
}
