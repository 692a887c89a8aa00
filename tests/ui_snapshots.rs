//! The cockpit's screens, drawn into ratatui's `TestBackend` from a fixed cluster
//! (real `k8s_openapi` objects projected through the model, at a fixed instant) and
//! compared with insta snapshots; the colours that carry meaning are asserted cell by
//! cell; and the keys: focus, selection, filter, prompt, details, help, quit. Then a
//! driven rollout, as the lead and as a read-only shadow see it: its gates, a held
//! drain, a failed step, the prompts, and the decisions the keys send.
//!
//! The fixtures are in `ui_snapshots/`; the tests stay in this one file because insta
//! names each snapshot after the test binary's module, and the snapshots must not
//! move.

#[path = "ui_snapshots/cluster.rs"]
mod cluster;
#[path = "ui_snapshots/rollout.rs"]
mod rollout;

use cluster::*;
use rollout::*;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use upshift::cockpit::Cockpit;
use upshift::cockpit::view::{Detail, Overlay, Pane};
use upshift::model::rollout::{Command, Phase};
use upshift::model::{Delta, LogEntry, Source, SourceState};
use upshift::ui::keymap::KEYMAP;
use upshift::ui::{self, Intent};

// ---------------------------------------------------------------- drawing

fn render(c: &mut Cockpit, w: u16, h: u16) -> Terminal<TestBackend> {
    c.refresh();
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let mut measured = Default::default();
    t.draw(|f| measured = ui::draw(f, c)).expect("draw");
    c.view.remember(&measured);
    t
}

fn screen(c: &mut Cockpit, w: u16, h: u16) -> String {
    render(c, w, h).backend().to_string()
}

fn press(c: &mut Cockpit, code: KeyCode) -> Option<Intent> {
    ui::handle_key(c, KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(c: &mut Cockpit, text: &str) {
    for ch in text.chars() {
        press(c, KeyCode::Char(ch));
    }
}

fn focus(c: &mut Cockpit, pane: Pane) {
    press(c, KeyCode::Char(pane.digit()));
    assert_eq!(c.view.focus, pane);
}

fn row_text(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
}

/// The position of the first `needle` on a row that also holds `on_row` (cells, not bytes).
fn find(buf: &Buffer, on_row: &str, needle: &str) -> (u16, u16) {
    for y in 0..buf.area.height {
        let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        let text: String = cells.concat();
        if !text.contains(on_row) {
            continue;
        }
        let n: Vec<String> = needle.chars().map(String::from).collect();
        for x in 0..cells.len().saturating_sub(n.len() - 1) {
            if cells[x..x + n.len()].iter().zip(&n).all(|(a, b)| *a == b.as_str()) {
                return (x as u16, y);
            }
        }
    }
    panic!("no {needle:?} on a row with {on_row:?}");
}

/// A compact map of the colours: one letter per cell for the foreground colour
/// (R red, G green, Y yellow, M magenta, C cyan, d dark grey, k black, . default);
/// upper-case-only letters stand for themselves, `#` marks reversed (selected) cells.
fn colours(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let cell = &buf[(x, y)];
            let ch = if cell.modifier.contains(Modifier::REVERSED) {
                '#'
            } else {
                match cell.fg {
                    Color::Red => 'R',
                    Color::Green => 'G',
                    Color::Yellow => 'Y',
                    Color::Magenta => 'M',
                    Color::Cyan => 'C',
                    Color::DarkGray => 'd',
                    Color::Black => 'k',
                    _ => '.',
                }
            };
            out.push(ch);
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------- whole screens

#[test]
fn whole_screen_80x24() {
    insta::assert_snapshot!(screen(&mut cockpit(false), 80, 24));
}

#[test]
fn whole_screen_80x24_read_only() {
    insta::assert_snapshot!(screen(&mut cockpit(true), 80, 24));
}

#[test]
fn whole_screen_200x60() {
    insta::assert_snapshot!(screen(&mut cockpit(false), 200, 60));
}

#[test]
fn whole_screen_200x60_read_only() {
    let mut c = cockpit(true);
    let t = render(&mut c, 200, 60);
    insta::assert_snapshot!(t.backend().to_string());
    insta::assert_snapshot!("whole_screen_200x60_read_only_colours", colours(t.backend().buffer()));
}

#[test]
fn each_pane_focused_at_80x24() {
    for pane in Pane::CLUSTER {
        let mut c = cockpit(false);
        focus(&mut c, pane);
        insta::assert_snapshot!(format!("pane_{}_80x24", pane.name()), screen(&mut c, 80, 24));
    }
}

#[test]
fn each_pane_alone_at_100x16() {
    for pane in Pane::CLUSTER {
        let mut c = cockpit(false);
        focus(&mut c, pane);
        c.refresh();
        let mut t = Terminal::new(TestBackend::new(100, 16)).expect("terminal");
        t.draw(|f| {
            let area = f.area();
            ui::draw_pane(f.buffer_mut(), area, &c, pane, true);
        })
        .expect("draw");
        insta::assert_snapshot!(format!("pane_{}_alone_100x16", pane.name()), t.backend().to_string());
    }
}

#[test]
fn help_overlay() {
    let mut c = cockpit(false);
    press(&mut c, KeyCode::Char('?'));
    assert!(matches!(c.view.overlay, Some(Overlay::Help { .. })));
    insta::assert_snapshot!("help_200x60", screen(&mut c, 200, 60));
    insta::assert_snapshot!("help_80x24", screen(&mut c, 80, 24));
}

#[test]
fn node_detail() {
    let mut c = cockpit(false);
    press(&mut c, KeyCode::Char('/'));
    typed(&mut c, "2-22");
    press(&mut c, KeyCode::Enter);
    press(&mut c, KeyCode::Enter);
    assert_eq!(
        c.view.overlay,
        Some(Overlay::Detail {
            target: Detail::Node(host("ip-10-0-2-22")),
            scroll: 0
        })
    );
    insta::assert_snapshot!("node_detail_120x40", screen(&mut c, 120, 40));
}

#[test]
fn pod_detail() {
    let mut c = cockpit(false);
    focus(&mut c, Pane::Pending);
    press(&mut c, KeyCode::Enter);
    assert_eq!(
        c.view.overlay,
        Some(Overlay::Detail {
            target: Detail::Pod("batch/nightly-report-29145630-b8v7c".into()),
            scroll: 0
        })
    );
    insta::assert_snapshot!("pod_detail_unscheduled_100x30", screen(&mut c, 100, 30));

    // a crash-looping workload opens on one of its pods
    let mut c = cockpit(false);
    focus(&mut c, Pane::Errors);
    press(&mut c, KeyCode::Enter);
    assert_eq!(
        c.view.overlay,
        Some(Overlay::Detail {
            target: Detail::Pod("shop/checkout-6f7d9c8b4-c3p0y".into()),
            scroll: 0
        })
    );
    insta::assert_snapshot!("pod_detail_crashloop_100x30", screen(&mut c, 100, 30));
}

#[test]
fn filter_applied() {
    let mut c = cockpit(false);
    press(&mut c, KeyCode::Char('/'));
    typed(&mut c, "apps-1-31");
    insta::assert_snapshot!("filter_typing_80x24", screen(&mut c, 80, 24));
    press(&mut c, KeyCode::Enter);
    insta::assert_snapshot!("filter_kept_200x60", screen(&mut c, 200, 60));
}

#[test]
fn blind_cockpit_says_what_it_cannot_see() {
    // one blind spot: named with the API's reason
    let mut c = cockpit_seeing(true, &[Source::Events]);
    let text = screen(&mut c, 200, 60);
    assert!(
        text.contains("⚠ cannot see events: events is forbidden: User \"platform-viewer\""),
        "{text}"
    );
    // two: both named, the reasons in the log
    let mut c = cockpit_seeing(true, &[Source::Events, Source::Pdbs]);
    let text = screen(&mut c, 200, 60);
    assert!(
        text.contains("⚠ cannot see events, poddisruptionbudgets: forbidden"),
        "{text}"
    );
    assert!(
        text.contains("cannot watch poddisruptionbudgets: poddisruptionbudgets is forbidden"),
        "{text}"
    );
    assert!(text.contains("cannot see PDBs"), "{text}");
    insta::assert_snapshot!("blind_200x60", text);
    focus(&mut c, Pane::Events);
    insta::assert_snapshot!("blind_events_80x24", screen(&mut c, 80, 24));
}

#[test]
fn an_empty_cockpit_still_listing() {
    let mut c = bare(true, now());
    insta::assert_snapshot!("empty_listing_80x24", screen(&mut c, 80, 24));
    insta::assert_snapshot!("empty_listing_200x60", screen(&mut c, 200, 60));
}

#[test]
fn never_panics_on_any_size() {
    for (w, h) in [
        (0, 0),
        (1, 1),
        (20, 5),
        (5, 20),
        (40, 10),
        (80, 3),
        (119, 33),
        (120, 33),
        (300, 100),
    ] {
        let mut cockpits = vec![cockpit(false), bare(true, now())];
        for (read_only, state) in [(false, gate_red()), (true, held()), (false, failed()), (true, done())] {
            let mut c = driven(read_only, state);
            c.rollout.as_mut().expect("driven").notice = Some("a notice from the drive ".repeat(8));
            cockpits.push(c);
        }
        for mut c in cockpits {
            let panes: Vec<Pane> = ui::shown(&c).collect();
            for pane in panes {
                focus(&mut c, pane);
                render(&mut c, w, h);
                press(&mut c, KeyCode::Char('?'));
                render(&mut c, w, h);
                press(&mut c, KeyCode::Esc);
                press(&mut c, KeyCode::Enter);
                render(&mut c, w, h);
                press(&mut c, KeyCode::Esc);
            }
        }
    }
    insta::assert_snapshot!("tiny_20x5", screen(&mut cockpit(true), 20, 5));
}

// ---------------------------------------------------------------- colours that mean something

#[test]
fn colours_carry_meaning() {
    let mut c = cockpit(true);
    let t = render(&mut c, 200, 60);
    let buf = t.backend().buffer();
    let fg = |on_row: &str, needle: &str| buf[find(buf, on_row, needle)].fg;

    assert_eq!(fg("ip-10-0-2-21", "NotReady"), Color::Red, "a NotReady node is red");
    assert_eq!(fg("ip-10-0-2-20", "Ready"), Color::Green, "a Ready node is green");
    assert_eq!(
        fg("ip-10-0-2-22", "Draining"),
        Color::Yellow,
        "a draining node is yellow"
    );
    assert_eq!(
        fg("ip-10-0-1-12", "Terminating"),
        Color::Magenta,
        "a terminating node is magenta"
    );
    assert_eq!(fg("ip-10-0-2-20", "v1.30.9"), Color::Yellow, "an old kubelet is marked");
    assert_eq!(fg("ip-10-0-3-30", "v1.31.4"), Color::Reset, "a current kubelet is not");
    assert_eq!(fg("ip-10-0-2-20", "old"), Color::Yellow);

    let badge = &buf[find(buf, "upshift", "READ-ONLY")];
    assert_eq!(
        (badge.fg, badge.bg),
        (Color::Black, Color::Yellow),
        "the READ-ONLY badge stands out"
    );
    assert!(badge.modifier.contains(Modifier::BOLD));

    let count = &buf[find(buf, "pods unscheduled", " 3 ")];
    assert_eq!(count.bg, Color::Red, "unscheduled pods > 0 are red");
    let (x, y) = find(buf, "CrashLoop 2", "CrashLoop 2");
    assert_eq!(buf[(x + 10, y)].fg, Color::Red, "pod errors > 0 are red");
    assert_eq!(
        fg("kube-system/coredns", "healthy"),
        Color::Green,
        "a healthy component is green"
    );
    assert_eq!(fg("kube-system/aws-node", "unhealthy"), Color::Red);
    assert_eq!(fg("shop/web ", "blocking"), Color::Red, "a blocking PDB is red");
    assert_eq!(
        fg("nightly-report", "WARN"),
        Color::Yellow,
        "a warning in the log is yellow"
    );

    // the selected row of the focused pane is reversed
    let first = find(buf, "ip-10-0-2-20", "ip-10-0-2-20");
    assert!(buf[first].modifier.contains(Modifier::REVERSED));

    // a cockpit that may write has no badge
    let mut c = cockpit(false);
    let t = render(&mut c, 200, 60);
    assert!(!t.backend().to_string().contains("READ-ONLY"));
}

#[test]
fn zero_counts_are_green() {
    let mut c = bare(false, now());
    for s in Source::ALL {
        c.apply(Delta::Source(s, SourceState::Synced));
    }
    let t = render(&mut c, 200, 60);
    let buf = t.backend().buffer();
    let count = &buf[find(buf, "pods unscheduled", "0")];
    assert_eq!(count.fg, Color::Green);
    let (x, y) = find(buf, "CrashLoop 0", "CrashLoop 0");
    assert_eq!(buf[(x + 10, y)].fg, Color::Green);
    assert!(row_text(buf, 0).contains("● synced"));
}

// ---------------------------------------------------------------- keys

#[test]
fn tab_and_digits_move_the_focus() {
    let mut c = cockpit(false);
    assert_eq!(c.view.focus, Pane::Nodes);
    press(&mut c, KeyCode::Tab);
    assert_eq!(c.view.focus, Pane::Health);
    press(&mut c, KeyCode::BackTab);
    press(&mut c, KeyCode::BackTab);
    assert_eq!(
        c.view.focus,
        Pane::Workloads,
        "no rollout: no rollout pane to cycle through"
    );
    assert_eq!(press(&mut c, KeyCode::Char('0')), None);
    assert_eq!(c.view.focus, Pane::Workloads);
    for p in Pane::CLUSTER {
        press(&mut c, KeyCode::Char(p.digit()));
        assert_eq!(c.view.focus, p);
    }
    // the narrow layout gives the focused pane the room
    press(&mut c, KeyCode::Char('4'));
    let text = screen(&mut c, 80, 24);
    assert!(text.contains("WORKLOAD"), "{text}");
    assert!(!text.contains("KUBELETS"), "{text}");
}

#[test]
fn j_and_k_move_the_selection_and_stop_at_the_ends() {
    let mut c = cockpit(false);
    render(&mut c, 80, 24);
    press(&mut c, KeyCode::Char('k'));
    assert_eq!(c.view.list(Pane::Nodes).selected, 0);
    press(&mut c, KeyCode::Char('j'));
    press(&mut c, KeyCode::Down);
    assert_eq!(c.view.list(Pane::Nodes).selected, 2);
    press(&mut c, KeyCode::Up);
    assert_eq!(c.view.list(Pane::Nodes).selected, 1);
    press(&mut c, KeyCode::Char('G'));
    assert_eq!(c.view.list(Pane::Nodes).selected, 11);
    press(&mut c, KeyCode::Char('j'));
    assert_eq!(c.view.list(Pane::Nodes).selected, 11);
    // the selection stays in view
    let t = render(&mut c, 80, 24);
    let buf = t.backend().buffer();
    let last = find(buf, "ip-10-0-1-12", "ip-10-0-1-12");
    assert!(buf[last].modifier.contains(Modifier::REVERSED));
    press(&mut c, KeyCode::PageUp);
    assert!(c.view.list(Pane::Nodes).selected < 11);
    press(&mut c, KeyCode::Char('g'));
    assert_eq!(c.view.list(Pane::Nodes).selected, 0);
    press(&mut c, KeyCode::PageDown);
    assert!(c.view.list(Pane::Nodes).selected > 0);
}

#[test]
fn slash_filters_enter_keeps_esc_clears() {
    let mut c = cockpit(false);
    press(&mut c, KeyCode::Char('/'));
    typed(&mut c, "notready");
    assert_eq!(c.view.list(Pane::Nodes).filter, "notready");
    assert_eq!(ui::panes::filtered_len(&c, Pane::Nodes), 1);
    // while typing, q is a letter, not quit
    assert_eq!(press(&mut c, KeyCode::Char('q')), None);
    press(&mut c, KeyCode::Backspace);
    press(&mut c, KeyCode::Enter);
    assert!(c.view.prompt.is_none());
    assert_eq!(c.view.list(Pane::Nodes).filter, "notready");
    let text = screen(&mut c, 80, 24);
    assert!(text.contains("ip-10-0-2-21"));
    assert!(!text.contains("ip-10-0-2-20"));
    // the filter belongs to its pane
    press(&mut c, KeyCode::Char('2'));
    assert_eq!(c.view.list(Pane::Health).filter, "");
    press(&mut c, KeyCode::Char('1'));
    // esc clears it
    press(&mut c, KeyCode::Esc);
    assert_eq!(c.view.list(Pane::Nodes).filter, "");
    // and esc while typing drops what was typed
    press(&mut c, KeyCode::Char('/'));
    typed(&mut c, "zzz");
    assert_eq!(ui::panes::filtered_len(&c, Pane::Nodes), 0);
    assert!(screen(&mut c, 80, 24).contains("nothing matches the filter"));
    press(&mut c, KeyCode::Esc);
    assert!(c.view.prompt.is_none());
    assert_eq!(ui::panes::filtered_len(&c, Pane::Nodes), 12);
}

#[test]
fn colon_jumps_to_a_pane_by_name() {
    let mut c = cockpit(false);
    for p in Pane::CLUSTER {
        press(&mut c, KeyCode::Char(':'));
        typed(&mut c, p.name());
        press(&mut c, KeyCode::Enter);
        assert_eq!(c.view.focus, p, ":{}", p.name());
    }
    press(&mut c, KeyCode::Char(':'));
    typed(&mut c, "bogus");
    press(&mut c, KeyCode::Enter);
    assert_eq!(
        c.view.focus,
        Pane::Workloads,
        "an unknown name leaves the focus where it was"
    );
    assert!(screen(&mut c, 120, 24).contains("no pane named \"bogus\""));
    press(&mut c, KeyCode::Char(':'));
    typed(&mut c, "q");
    assert_eq!(press(&mut c, KeyCode::Enter), Some(Intent::Quit));
}

#[test]
fn enter_opens_the_selected_row_and_esc_goes_back() {
    let mut c = cockpit(false);
    // health lists the NotReady node first
    focus(&mut c, Pane::Health);
    press(&mut c, KeyCode::Enter);
    assert!(matches!(
        &c.view.overlay,
        Some(Overlay::Detail { target: Detail::Node(n), .. }) if *n == host("ip-10-0-2-21")
    ));
    let text = screen(&mut c, 80, 24);
    insta::assert_snapshot!("node_detail_not_ready_80x24", text);
    assert!(text.contains("NodeStatusUnknown"), "{text}");
    assert!(text.contains("NodeNotReady"), "the log entry about the node: {text}");
    press(&mut c, KeyCode::Esc);
    assert!(c.view.overlay.is_none());

    // the log follows its newest entry; enter opens the entry in full, then what it is about
    focus(&mut c, Pane::Events);
    press(&mut c, KeyCode::Enter);
    assert!(matches!(
        &c.view.overlay,
        Some(Overlay::Detail { target: Detail::Entry(e), .. }) if e.object == format!("Node/{}", host("ip-10-0-3-33"))
    ));
    let text = screen(&mut c, 80, 24);
    assert!(text.contains("Attempting to reclaim memory"), "{text}");
    assert!(
        text.contains(&format!("node {}", host("ip-10-0-3-33"))),
        "the node below: {text}"
    );
    press(&mut c, KeyCode::Esc);
    press(&mut c, KeyCode::Char('k'));
    assert!(!c.view.list(Pane::Events).follow);
    press(&mut c, KeyCode::Enter);
    assert!(matches!(
        &c.view.overlay,
        Some(Overlay::Detail { target: Detail::Entry(e), .. }) if e.object == "Pod/shop/checkout-6f7d9c8b4-r2d2x"
    ));
    // a long message is read whole, wrapped, at 80 columns
    let text = screen(&mut c, 80, 24);
    assert!(
        text.contains("Back-off restarting failed container app in po"),
        "{text}"
    );
    assert!(!text.contains("in po…"), "{text}");
    press(&mut c, KeyCode::Esc);
    press(&mut c, KeyCode::Char('G'));
    assert!(c.view.list(Pane::Events).follow);
}

#[test]
fn the_log_follows_new_entries_unless_scrolled() {
    let mut c = cockpit(false);
    focus(&mut c, Pane::Events);
    let note = |c: &mut Cockpit, reason: &str| {
        c.log
            .push(LogEntry::local(upshift::model::Level::Warning, reason, "a note".into()));
    };
    note(&mut c, "FirstNewThing");
    let t = render(&mut c, 80, 24);
    let buf = t.backend().buffer();
    assert!(
        buf[find(buf, "FirstNewThing", "FirstNewThing")]
            .modifier
            .contains(Modifier::REVERSED)
    );
    press(&mut c, KeyCode::Char('k'));
    note(&mut c, "SecondNewThing");
    let t = render(&mut c, 80, 24);
    let buf = t.backend().buffer();
    assert!(
        !buf[find(buf, "SecondNewThing", "SecondNewThing")]
            .modifier
            .contains(Modifier::REVERSED)
    );
    assert!(t.backend().to_string().contains("scrolled: G follows"));
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut c = cockpit(false);
    assert_eq!(press(&mut c, KeyCode::Char('q')), Some(Intent::Quit));
    assert_eq!(
        ui::handle_key(&mut c, KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Intent::Quit)
    );
    press(&mut c, KeyCode::Char('/'));
    assert_eq!(
        ui::handle_key(&mut c, KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Intent::Quit),
        "ctrl-c quits even while typing"
    );
}

#[test]
fn help_lists_every_keymap_entry() {
    let mut c = cockpit(false);
    press(&mut c, KeyCode::Char('?'));
    let text = screen(&mut c, 200, 60);
    for b in KEYMAP {
        assert!(text.contains(b.label), "the help shows the keys {:?}", b.label);
        assert!(text.contains(b.help), "the help explains {:?}: {:?}", b.label, b.help);
    }
    // j/k scroll the help, ? closes it
    press(&mut c, KeyCode::Char('?'));
    assert!(c.view.overlay.is_none());
    // at 80x24 the help scrolls, and stops at its end
    press(&mut c, KeyCode::Char('?'));
    render(&mut c, 80, 24);
    press(&mut c, KeyCode::Char('G'));
    let Some(Overlay::Help { scroll }) = c.view.overlay else {
        panic!("help closed")
    };
    assert!(scroll > 0);
    press(&mut c, KeyCode::Char('j'));
    assert_eq!(c.view.overlay, Some(Overlay::Help { scroll }));
    press(&mut c, KeyCode::Char('k'));
    assert_eq!(c.view.overlay, Some(Overlay::Help { scroll: scroll - 1 }));
}

#[test]
fn a_red_gate_as_the_lead_sees_it() {
    let mut c = driven(false, gate_red());
    let wide = screen(&mut c, 200, 60);
    assert!(
        wide.contains("upshift drive shop-prod 1.30 → 1.31 · production · lead ana@laptop · phase at gate · 5/9 steps"),
        "{wide}"
    );
    let t = render(&mut c, 120, 40);
    let text = t.backend().to_string();
    assert!(
        text.contains("upshift drive shop-prod 1.30 → 1.31 · production · lead ana@laptop "),
        "{text}"
    );
    assert!(text.contains("phase at gate · 5/9 steps"), "{text}");
    assert!(text.contains("[o] override with a reason"), "{text}");
    assert!(!text.contains("[enter] proceed"), "{text}");
    insta::assert_snapshot!("rollout_gate_red_120x40", text);
    let buf = t.backend().buffer();
    let fg = |on_row: &str, needle: &str| buf[find(buf, on_row, needle)].fg;
    assert_eq!(fg("unscheduled pods", "✓"), Color::Green, "a green criterion");
    assert_eq!(fg("pod errors above baseline", "✗"), Color::Red, "a red criterion");
    assert_eq!(fg("drain blockers", "drain blockers"), Color::Red);
    assert_eq!(fg("red: 2 of 6 criteria", "red"), Color::Red);
    assert_eq!(fg("nodegroup system", "✓"), Color::Green, "a step done");
    assert_eq!(fg("nodegroup apps-1-30", "◆"), Color::Yellow, "the step at its gate");
    insta::assert_snapshot!("rollout_gate_red_120x40_colours", colours(buf));
    insta::assert_snapshot!("rollout_gate_red_200x60", wide);
    insta::assert_snapshot!("rollout_gate_red_80x24", screen(&mut c, 80, 24));
    // a narrow screen with another pane focused folds the rollout to a line
    focus(&mut c, Pane::Nodes);
    let text = screen(&mut c, 80, 24);
    assert!(text.contains(" 0 rollout"), "{text}");
    assert!(text.contains("at gate · 5/9 steps"), "{text}");
    insta::assert_snapshot!("rollout_gate_red_folded_80x24", text);
}

#[test]
fn the_same_gate_read_only_with_the_leads_decision() {
    let mut s = gate_red();
    let gate = s.gate.as_mut().expect("gate");
    gate.decision = Some(format!(
        "override by {LEAD}: the checkout errors are the known canary issue INC-2211"
    ));
    let mut c = driven(true, s);
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("READ-ONLY"), "{text}");
    assert!(
        text.contains("decision: override by ana@laptop: the checkout errors"),
        "{text}"
    );
    assert!(text.contains("published 3s ago"), "{text}");
    insta::assert_snapshot!("rollout_gate_read_only_120x40", text);
    insta::assert_snapshot!("rollout_gate_read_only_200x60", screen(&mut c, 200, 60));

    // before the lead decides, the shadow sees the lead's choices, not its own
    let mut c = driven(true, gate_red());
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("ana@laptop decides: o override with a reason"), "{text}");
    assert!(!text.contains("[o]"), "{text}");
    let footer = text.lines().last().expect("footer").to_string();
    assert!(
        !footer.contains("override"),
        "no drive keys in a shadow's footer: {footer}"
    );
}

#[test]
fn a_node_group_step_running() {
    let mut c = driven(false, group_running());
    let wide = screen(&mut c, 200, 60);
    assert!(
        wide.contains("new 2 of 5 · old 3 · batch 2/3 · auto-continue on"),
        "{wide}"
    );
    let text = screen(&mut c, 120, 40);
    for needle in [
        "held: pod payments/ledger-7d9f8c6b5-x2x4z held by PodDisruptionBudget",
        "gate before batch 2 of 3 of nodegroup apps-1-30 passed · proceed by ana@laptop",
    ] {
        assert!(wide.contains(needle), "{needle:?} in {wide}");
    }
    for needle in [
        "replacing batch 2 of 3: draining ip-10-0-2-22",
        "new 2 of 5 · old 3 · batch 2/3",
        "auto-continue on",
        "draining ip-10-0-2-22",
        "held: pod payments/ledger-7d9f8c6b5-x2x4z held by",
        "skipped ip-10-0-2-21 (left on 1.30)",
        "gate before batch 2 of 3 of nodegroup apps-1-30 passed",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    insta::assert_snapshot!("rollout_group_running_120x40", text);
    insta::assert_snapshot!("rollout_group_running_200x60", wide);
}

#[test]
fn a_held_drain_and_its_choices() {
    let mut c = driven(false, held());
    let wide = screen(&mut c, 200, 60);
    assert!(wide.contains("drain held on ip-10-0-2-22 for 15m"), "{wide}");
    assert!(
        wide.contains("[w] keep waiting  [s] skip node  [D] delete the pod (type its name)"),
        "{wide}"
    );
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("[D] delete the pod (type its name)"), "{text}");
    insta::assert_snapshot!("rollout_held_120x40", text);
    insta::assert_snapshot!("rollout_held_200x60", wide);

    // without a time, the choices are still there
    let mut s = held();
    if let Phase::Held { since, .. } = &mut s.phase {
        *since = None;
    }
    let mut c = driven(false, s);
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("drain held on ip-10-0-2-22 "), "{text}");
    assert!(text.contains("[w] keep waiting"), "{text}");
}

#[test]
fn a_failed_step_that_can_be_forced() {
    let mut c = driven(false, failed());
    let wide = screen(&mut c, 200, 60);
    assert!(wide.contains("step failed: EKS update 3f9c2e71 Failed"), "{wide}");
    assert!(
        wide.contains(
            "[r] retry  [S] skip the step with a reason  [F] force (type the group's name)  [A] abort (type abort)"
        ),
        "{wide}"
    );
    assert!(
        wide.contains("retry refused: the update is still rolling back"),
        "the drive's notice: {wide}"
    );
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("[A] abort (type abort)"), "{text}");
    insta::assert_snapshot!("rollout_failed_120x40", text);
    insta::assert_snapshot!("rollout_failed_200x60", wide);

    // without force, no F
    let mut s = failed();
    s.phase = Phase::Failed {
        why: "addon coredns: DEGRADED".into(),
        what_to_do: "look at the add-on's health".into(),
        can_force: false,
    };
    let mut c = driven(false, s);
    assert!(!screen(&mut c, 120, 40).contains("[F]"));
    assert_eq!(drive(&mut c, KeyCode::Char('F')), None);
}

#[test]
fn the_override_reason_prompt() {
    let mut c = driven(false, gate_red());
    assert_eq!(drive(&mut c, KeyCode::Char('o')), None);
    render(&mut c, 120, 40); // the box is on screen before it takes keys
    // an empty reason is refused in the prompt itself
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(c.view.prompt.is_some(), "the prompt stays open");
    assert!(screen(&mut c, 120, 40).contains("a reason is needed"));
    typed(&mut c, "checkout errors are the known canary issue INC-2211");
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("reason for passing this red gate:"), "{text}");
    assert!(
        text.contains("> checkout errors are the known canary issue INC-2211▏"),
        "{text}"
    );
    assert!(!text.contains("a reason is needed"), "{text}");
    insta::assert_snapshot!("rollout_override_prompt_120x40", text);
    insta::assert_snapshot!("rollout_override_prompt_200x60", screen(&mut c, 200, 60));
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::Override {
            reason: "checkout errors are the known canary issue INC-2211".into()
        })
    );
    assert!(c.view.prompt.is_none());

    // esc drops it: nothing sent
    press(&mut c, KeyCode::Char('o'));
    render(&mut c, 120, 40); // the box is on screen before it takes keys
    typed(&mut c, "never mind");
    assert_eq!(drive(&mut c, KeyCode::Esc), None);
    assert!(c.view.prompt.is_none());
}

#[test]
fn the_confirm_cluster_prompt() {
    let mut c = driven(false, confirming());
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("production cluster: type its name to begin"), "{text}");
    // enter, or any key that means nothing else, opens the prompt
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(c.view.prompt.is_some());
    render(&mut c, 120, 40);
    typed(&mut c, "shop-pr");
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("type the cluster's name (shop-prod):"), "{text}");
    insta::assert_snapshot!("rollout_confirm_prompt_120x40", text);
    insta::assert_snapshot!("rollout_confirm_prompt_200x60", screen(&mut c, 200, 60));
    // not the name: refused, the prompt stays
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(screen(&mut c, 120, 40).contains("that is not the cluster's name: type shop-prod"));
    typed(&mut c, "od");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::ConfirmCluster {
            name: "shop-prod".into()
        })
    );

    let mut c = driven(false, confirming());
    focus(&mut c, Pane::Nodes);
    press(&mut c, KeyCode::Char('s'));
    typed(&mut c, "hop-prod");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::ConfirmCluster {
            name: "shop-prod".into()
        }),
        "typing the name opens the prompt from any pane"
    );
}

#[test]
fn a_finished_rollout() {
    let mut c = driven(false, done());
    let text = screen(&mut c, 120, 40);
    assert!(
        text.contains("done: every step finished; the cluster runs 1.31 (1 skipped)"),
        "{text}"
    );
    insta::assert_snapshot!("rollout_done_120x40", text);
    insta::assert_snapshot!("rollout_done_200x60", screen(&mut c, 200, 60));
    for key in ['p', 'A', 'o', 'c'] {
        assert_eq!(drive(&mut c, KeyCode::Char(key)), None, "{key} after the end");
    }
}

#[test]
fn the_workloads_pane_puts_down_first_then_degraded() {
    let mut c = cockpit(false);
    focus(&mut c, Pane::Workloads);
    let text = screen(&mut c, 120, 40);
    let wide = screen(&mut c, 200, 60);
    // focused at 80×24: the pane has the width
    let narrow = screen(&mut c, 80, 24);
    let down = narrow
        .find("shop/recommender")
        .unwrap_or_else(|| panic!("recommender listed:\n{narrow}"));
    let degraded = narrow
        .find("shop/checkout")
        .unwrap_or_else(|| panic!("checkout listed:\n{narrow}"));
    assert!(down < degraded, "down before degraded:\n{narrow}");
    assert!(narrow.contains("no ready endpoint"), "{narrow}");
    assert!(
        narrow.contains("CrashLoopBackOff"),
        "the reason from its pods:\n{narrow}"
    );
    assert!(wide.contains("7 workloads"), "{wide}");
    insta::assert_snapshot!("workloads_80x24", narrow);
    insta::assert_snapshot!("workloads_120x40", text);
    insta::assert_snapshot!("workloads_200x60", wide);
    // the same filter and detail as the other panes
    press(&mut c, KeyCode::Char('/'));
    typed(&mut c, "checkout");
    press(&mut c, KeyCode::Enter);
    press(&mut c, KeyCode::Enter);
    assert!(
        matches!(&c.view.overlay, Some(Overlay::Detail { target: Detail::Workload(id), .. }) if id == "Deployment shop/checkout"),
        "{:?}",
        c.view.overlay
    );
}

#[test]
fn a_rollout_done_with_open_problems() {
    let mut state = done();
    state.problems = vec![
        "Deployment shop/recommender 0/2 available (all before the rollout): CrashLoopBackOff".into(),
        "component cluster-autoscaler kube-system/cluster-autoscaler is v1.30.2; 1.31 needs v1.31".into(),
        "node group apps-1-30 has 6 nodes, 4 before the rollout".into(),
    ];
    for read_only in [false, true] {
        let mut c = driven(read_only, state.clone());
        let text = screen(&mut c, 120, 40);
        assert!(text.contains("done with 3 open problems"), "{text}");
        assert!(text.contains("Deployment shop/recommender 0/2"), "{text}");
        assert!(!text.contains("done: every step finished"), "{text}");
        if !read_only {
            insta::assert_snapshot!("rollout_done_open_problems_80x24", screen(&mut c, 80, 24));
            insta::assert_snapshot!("rollout_done_open_problems_120x40", text);
            insta::assert_snapshot!("rollout_done_open_problems_200x60", screen(&mut c, 200, 60));
        }
    }
}

#[test]
fn enter_proceeds_at_a_passable_gate_only() {
    let mut c = driven(false, gate_green());
    assert!(screen(&mut c, 120, 40).contains("[enter] proceed"));
    assert_eq!(drive(&mut c, KeyCode::Enter), Some(Command::Proceed));

    // red: nothing sent, the notice says to use o
    let mut c = driven(false, gate_red());
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    let note = c.view.message.clone().expect("a notice");
    assert!(note.contains("o passes it with a reason"), "{note}");
    assert!(screen(&mut c, 200, 60).contains("o passes it with a reason"));

    // green but settling: not yet
    let mut s = gate_red();
    s.gate = Some(green_gate(12, false));
    let mut c = driven(false, s);
    assert!(screen(&mut c, 120, 40).contains("green for 12s of 60s"));
    assert_eq!(drive(&mut c, KeyCode::Enter), None);

    // in a pane watching the cluster, enter still opens the selected row
    let mut c = driven(false, gate_green());
    focus(&mut c, Pane::Nodes);
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(matches!(c.view.overlay, Some(Overlay::Detail { .. })));
}

#[test]
fn the_leads_keys_send_commands() {
    let mut c = driven(false, held());
    assert_eq!(drive(&mut c, KeyCode::Char('w')), Some(Command::KeepWaiting));
    assert_eq!(drive(&mut c, KeyCode::Char('s')), Some(Command::SkipNode));
    assert_eq!(drive(&mut c, KeyCode::Char('p')), Some(Command::Pause));
    assert_eq!(
        drive(&mut c, KeyCode::Char('c')),
        Some(Command::AutoContinue(false)),
        "auto-continue was on"
    );
    // deleting the pod takes its name, with or without its namespace
    press(&mut c, KeyCode::Char('D'));
    render(&mut c, 120, 40); // the box is on screen before it takes keys
    typed(&mut c, "ledger");
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(screen(&mut c, 120, 40).contains("that is not the pod's name: type ledger-7d9f8c6b5-x2x4z"));
    typed(&mut c, "-7d9f8c6b5-x2x4z");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::DeletePod {
            confirm: HOLDING_POD.into()
        })
    );
    // the drain was released meanwhile: the prompt closes, nothing sent
    press(&mut c, KeyCode::Char('D'));
    render(&mut c, 120, 40); // the box is on screen before it takes keys
    typed(&mut c, HOLDING_POD);
    c.rollout = Some(group_running());
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(c.view.prompt.is_none());
    assert!(c.view.message.clone().unwrap_or_default().contains("nothing was sent"));

    let mut c = driven(false, failed());
    assert_eq!(drive(&mut c, KeyCode::Char('r')), Some(Command::Retry));
    press(&mut c, KeyCode::Char('F'));
    render(&mut c, 120, 40); // the box is on screen before it takes keys
    typed(&mut c, "apps-1-30");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::Force {
            confirm: "apps-1-30".into()
        })
    );
    press(&mut c, KeyCode::Char('S'));
    render(&mut c, 120, 40); // the box is on screen before it takes keys
    typed(&mut c, "  ");
    assert_eq!(drive(&mut c, KeyCode::Enter), None, "a blank reason is no reason");
    typed(&mut c, "ledger is migrated by hand tonight");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::Override {
            reason: "ledger is migrated by hand tonight".into()
        })
    );
    press(&mut c, KeyCode::Char('A'));
    render(&mut c, 120, 40); // the box is on screen before it takes keys
    typed(&mut c, "abort");
    assert_eq!(drive(&mut c, KeyCode::Enter), Some(Command::Abort));

    let mut s = group_running();
    s.phase = Phase::Paused;
    let mut c = driven(false, s);
    assert!(screen(&mut c, 120, 40).contains("[p] resume"));
    assert_eq!(drive(&mut c, KeyCode::Char('p')), Some(Command::Resume));

    // the footer offers what applies now
    let mut c = driven(false, held());
    let text = screen(&mut c, 200, 60);
    let footer = text.lines().last().expect("footer").to_string();
    for hint in [
        "w keep waiting",
        "s skip node",
        "D delete the pod",
        "p pause",
        "A abort",
    ] {
        assert!(footer.contains(hint), "{hint:?} in {footer}");
    }
    assert!(!footer.contains("r retry"), "{footer}");
}

#[test]
fn a_read_only_cockpit_decides_nothing() {
    let keys = [
        KeyCode::Enter,
        KeyCode::Char('o'),
        KeyCode::Char('S'),
        KeyCode::Char('p'),
        KeyCode::Char('A'),
        KeyCode::Char('r'),
        KeyCode::Char('F'),
        KeyCode::Char('w'),
        KeyCode::Char('s'),
        KeyCode::Char('D'),
        KeyCode::Char('c'),
        KeyCode::Char('x'),
    ];
    let mut paused = group_running();
    paused.phase = Phase::Paused;
    for state in [
        gate_red(),
        gate_green(),
        group_running(),
        held(),
        failed(),
        confirming(),
        paused,
        done(),
    ] {
        let phase = state.phase.name();
        for pane in [Pane::Rollout, Pane::Nodes] {
            let mut c = driven(true, state.clone());
            focus(&mut c, pane);
            for key in keys {
                let intent = press(&mut c, key);
                assert!(
                    !matches!(intent, Some(Intent::Drive(_))),
                    "{key:?} at {phase} in {pane:?} sent {intent:?}"
                );
                assert!(c.view.prompt.is_none(), "{key:?} at {phase} opened a prompt");
                press(&mut c, KeyCode::Esc);
            }
        }
    }
    let mut c = driven(true, held());
    press(&mut c, KeyCode::Char('w'));
    assert_eq!(c.view.message.as_deref(), Some("read-only: the lead decides"));
    assert!(screen(&mut c, 120, 40).contains("read-only: the lead decides"));
}

#[test]
fn the_rollout_pane_joins_the_cycle_while_driven() {
    let mut c = driven(false, gate_red());
    assert_eq!(c.view.focus, Pane::Rollout);
    press(&mut c, KeyCode::Tab);
    assert_eq!(c.view.focus, Pane::Nodes);
    press(&mut c, KeyCode::BackTab);
    press(&mut c, KeyCode::BackTab);
    assert_eq!(c.view.focus, Pane::Workloads);
    press(&mut c, KeyCode::Char(':'));
    typed(&mut c, "rollout");
    press(&mut c, KeyCode::Enter);
    assert_eq!(c.view.focus, Pane::Rollout);
    // the rollout ends: the focus goes back to the cluster on the next key
    c.rollout = None;
    press(&mut c, KeyCode::Char('j'));
    assert_eq!(c.view.focus, Pane::Nodes);
    assert!(!screen(&mut c, 200, 60).contains("rollout"));
}

#[test]
fn quitting_while_a_step_runs_asks_first_and_says_what_goes_on() {
    let mut c = driven(false, group_running());
    assert_eq!(
        press(&mut c, KeyCode::Char('q')),
        None,
        "a running step is not left at one key"
    );
    assert_eq!(c.view.overlay, Some(Overlay::ConfirmQuit));
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("quit while a step runs?"), "{text}");
    assert!(
        text.contains("goes on (a managed group's update keeps replacing nodes"),
        "{text}"
    );
    insta::assert_snapshot!("quit_confirm_120x40", text);
    // esc stays; q twice quits; ctrl-c asks the same way
    press(&mut c, KeyCode::Esc);
    assert_eq!(c.view.overlay, None);
    assert_eq!(press(&mut c, KeyCode::Char('q')), None);
    assert_eq!(press(&mut c, KeyCode::Char('q')), Some(Intent::Quit));
    let mut c = driven(false, group_running());
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(ui::handle_key(&mut c, ctrl_c), None);
    assert_eq!(ui::handle_key(&mut c, ctrl_c), Some(Intent::Quit));
    // :q! does not ask
    let mut c = driven(false, group_running());
    press(&mut c, KeyCode::Char(':'));
    typed(&mut c, "q!");
    assert_eq!(press(&mut c, KeyCode::Enter), Some(Intent::Quit));
    // at a gate nothing runs, and a read-only cockpit runs nothing: one q quits
    let mut c = driven(false, gate_red());
    assert_eq!(press(&mut c, KeyCode::Char('q')), Some(Intent::Quit));
    let mut c = driven(true, group_running());
    assert_eq!(press(&mut c, KeyCode::Char('q')), Some(Intent::Quit));
}

#[test]
fn override_and_skip_are_different_keys_and_keys_typed_ahead_are_dropped() {
    // at a red gate `o` overrides and `S` means nothing; after a failed step `S` skips
    // and `o` means nothing: a key meant for one cannot do the other
    let mut c = driven(false, gate_red());
    assert_eq!(press(&mut c, KeyCode::Char('S')), None);
    assert!(c.view.prompt.is_none());
    let mut c = driven(false, failed());
    assert_eq!(press(&mut c, KeyCode::Char('o')), None);
    assert!(c.view.prompt.is_none(), "o does not skip a failed step");
    press(&mut c, KeyCode::Char('S'));
    render(&mut c, 120, 40);
    assert!(screen(&mut c, 120, 40).contains("skip the failed step"));

    // keys that arrive before the box was drawn were typed for the screen before it
    let mut c = driven(false, gate_red());
    press(&mut c, KeyCode::Char('o'));
    typed(&mut c, "yes");
    assert_eq!(press(&mut c, KeyCode::Enter), None, "nothing sent");
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("> ▏"), "nothing typed ahead reached the box: {text}");
    assert!(
        text.contains("keys typed before this box appeared were dropped"),
        "{text}"
    );
    // once it is on screen it takes keys
    typed(&mut c, "known canary");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::Override {
            reason: "known canary".into()
        })
    );
    // esc still closes a box not yet drawn
    press(&mut c, KeyCode::Char('o'));
    press(&mut c, KeyCode::Esc);
    assert!(c.view.prompt.is_none());
}

#[test]
fn enter_opens_any_log_entry_in_full_even_one_about_no_node_or_pod() {
    let mut c = cockpit(false);
    let long =
        "the watch on pods failed: the API server answered 503 Service Unavailable for the third time in a row; \
                the cockpit lists again with back-off and says so here until it can read"
            .to_string();
    c.log.push(upshift::model::LogEntry::local(
        upshift::model::Level::Warning,
        "WatchFailed",
        long.clone(),
    ));
    focus(&mut c, Pane::Events);
    assert_eq!(press(&mut c, KeyCode::Enter), None);
    assert!(c.view.message.is_none(), "{:?}", c.view.message);
    let text = screen(&mut c, 80, 24);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("until it can read"), "the whole message: {text}");
    assert!(text.contains("the cockpit itself"), "{text}");
    insta::assert_snapshot!("log_entry_80x24", text);
}

#[test]
fn the_steps_in_full_show_the_preflight_warnings_from_the_journal() {
    use upshift::model::journal::{Entry, StepState, What};
    let mut s = gate_red();
    s.steps.insert(0, step("preflight", "preflight", StepState::Done));
    s.steps[0].what = "no blockers, 1 warning(s), journaled".into();
    s.current = Some(6);
    let mut c = driven(true, s);
    c.note_journal(&[Entry {
        seq: 1,
        at: now(),
        who: LEAD.into(),
        what: What::Event {
            level: upshift::model::Level::Warning,
            object: "preflight".into(),
            reason: "PreflightWarning".into(),
            message: "ingress-nginx 1.9.4 is not supported on 1.31: the controller was retired in March 2026".into(),
        },
    }]);
    assert!(
        screen(&mut c, 120, 40).contains("d steps in full"),
        "the footer offers it"
    );
    assert_eq!(press(&mut c, KeyCode::Char('d')), None, "a shadow may read it too");
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("no blockers, 1 warning(s), journaled"), "{text}");
    assert!(text.contains("PreflightWarning"), "{text}");
    assert!(text.contains("ingress-nginx 1.9.4 is not supported on 1.31"), "{text}");
    insta::assert_snapshot!("rollout_steps_detail_120x40", text);
}

#[test]
fn the_help_wraps_at_80x24_and_scrolls_to_its_end() {
    let mut c = cockpit(false);
    press(&mut c, KeyCode::Char('?'));
    // every word of every line, read by scrolling page by page, is whole
    let mut seen = String::new();
    let mut last = String::new();
    for _ in 0..40 {
        let text = screen(&mut c, 80, 24);
        for line in text.lines().filter(|l| l.starts_with("\"│")) {
            let cells: Vec<char> = line.trim_matches('"').chars().collect();
            assert_eq!(cells[cells.len() - 2], ' ', "nothing is cut at the border: {line}");
            let inner: String = cells[1..cells.len() - 1].iter().collect();
            seen.push_str(&inner);
            seen.push(' ');
        }
        if text == last {
            break;
        }
        last = text;
        press(&mut c, KeyCode::PageDown);
    }
    let flat: String = seen.split_whitespace().collect::<Vec<_>>().join(" ");
    for words in [
        "proceed at a gate green for its settle time;",
        "a held drain: leave the node on the old version, uncordoned, and go on",
        "rollout steps",
    ] {
        assert!(flat.contains(words), "{words:?} in the help at 80x24: {flat}");
    }
}

#[test]
fn a_groups_gauge_counts_its_nodes_before_the_drive_has() {
    // at the group's own gate the drive has not counted the group yet
    let mut s = gate_red();
    s.steps[5].group = Some(upshift::model::rollout::GroupProgress::default());
    let mut c = driven(false, s);
    let text = screen(&mut c, 120, 40);
    assert!(!text.contains("new 0 of 0"), "{text}");
    assert!(
        text.contains("new 0 of 5 · old 5"),
        "the five apps-1-30 nodes on 1.30: {text}"
    );
}

#[test]
fn a_shadow_measures_against_the_clusters_clock_and_a_silent_lead_goes_stale() {
    use upshift::model::rollout::Published;
    // the cluster's clock (a rehearsal's virtual one) is far from this machine's
    let virtual_now = now() + jiff::SignedDuration::from_hours(42);
    let mut state = gate_red();
    state.updated = Some(virtual_now);
    let mut c = cockpit(true);
    c.apply(Delta::Rollout(Some(Box::new(Published {
        state,
        recent: Vec::new(),
    }))));
    let t0 = std::time::Instant::now();
    c.tick_at(now(), t0);
    assert!(screen(&mut c, 200, 60).contains("published 0s ago"));
    // nothing published for 30 seconds: the shadow says so
    c.tick_at(now(), t0 + std::time::Duration::from_secs(30));
    let text = screen(&mut c, 200, 60);
    assert!(text.contains("published 30s ago"), "{text}");
}

#[test]
fn the_step_under_way_shows_its_time_against_what_it_should_take() {
    use upshift::model::journal::{Entry, StepId, StepState, What};
    let began = |c: &mut Cockpit, step: StepId, mins: i64| {
        c.note_journal(&[Entry {
            seq: 1,
            at: now() - jiff::SignedDuration::from_mins(mins),
            who: LEAD.into(),
            what: What::Step {
                step,
                state: StepState::Running,
            },
        }]);
    };
    // a node group: 2 nodes replaced in 12 minutes, 3 left
    let mut c = driven(false, group_running());
    began(&mut c, StepId::Nodegroup("apps-1-30".into()), 12);
    let text = screen(&mut c, 200, 60);
    assert!(
        text.contains("running 12m · 6m a node so far × 3 left ≈ 18m more"),
        "{text}"
    );
    // the control plane: against EKS's typical 10–25 minutes
    let mut s = state(Phase::Running, StepState::Done);
    s.steps[0].state = StepState::Running;
    s.current = Some(0);
    let mut c = driven(false, s);
    began(&mut c, StepId::ControlPlane, 6);
    let text = screen(&mut c, 200, 60);
    assert!(text.contains("running 6m of the 10–25m EKS usually takes"), "{text}");
    // an add-on: against the few minutes an add-on's update takes
    let mut s = state(Phase::Running, StepState::Done);
    s.steps[2].state = StepState::Running;
    s.current = Some(2);
    let mut c = driven(false, s);
    began(&mut c, StepId::Addon("coredns".into()), 2);
    let text = screen(&mut c, 200, 60);
    assert!(
        text.contains("running 2m of the 1–5m an add-on usually takes"),
        "{text}"
    );
}

#[test]
fn a_pod_detail_reads_its_containers_and_logs_once_and_shows_them() {
    use upshift::cluster::pod_detail::{LogTail, PodDetail, containers};
    let key = "shop/checkout-6f7d9c8b4-c3p0y";
    let mut c = cockpit(true);
    focus(&mut c, Pane::Errors);
    press(&mut c, KeyCode::Enter);
    // opening the detail asks for one read; drawing asks for nothing more
    assert_eq!(c.take_pod_request().as_deref(), Some(key));
    let _ = screen(&mut c, 100, 30);
    assert_eq!(c.take_pod_request(), None);
    let reading = screen(&mut c, 100, 30);
    assert!(reading.contains("reading the pod and its logs"), "{reading}");

    let pod = pods()
        .into_iter()
        .find(|p| p.metadata.name.as_deref() == Some("checkout-6f7d9c8b4-c3p0y"))
        .expect("the crash-looping pod of the fixture");
    let mut containers = containers(&pod);
    assert!(!containers.is_empty());
    containers[0].logs = vec![LogTail {
        previous: true,
        lines: Ok(vec![
            "level=info msg=\"starting checkout 2.4.1\"".into(),
            "level=fatal msg=\"cannot reach the payments API: dial tcp 10.0.7.12:443: connection refused\"".into(),
        ]),
    }];
    // a read for a pod no longer open is dropped
    c.pod_detail_read(
        "shop/other",
        Ok(PodDetail {
            key: "shop/other".into(),
            containers: Vec::new(),
        }),
    );
    assert_eq!(c.take_pod_request(), None);
    c.pod_detail_read(
        key,
        Ok(PodDetail {
            key: key.into(),
            containers,
        }),
    );
    c.view.overlay = Some(Overlay::Detail {
        target: Detail::Pod(key.into()),
        scroll: 0,
    });
    let text = screen(&mut c, 100, 40);
    for needle in [
        "containers (1)",
        "image",
        "waiting: CrashLoopBackOff",
        "last state",
        "exit code 1",
        "log of the run that ended",
        "cannot reach the payments API",
    ] {
        assert!(text.contains(needle), "{needle:?} in:\n{text}");
    }
    insta::assert_snapshot!("pod_detail_containers_100x40", text);

    // a log the identity may not read says so in its place
    let mut containers = upshift::cluster::pod_detail::containers(&pod);
    containers[0].logs = vec![LogTail {
        previous: true,
        lines: Err("forbidden: pods \"x\" is forbidden (the viewer's role grants get on pods/log: docs/rbac/upshift-viewer.yaml)".into()),
    }];
    c.ask_pod_detail(key);
    c.pod_detail_read(
        key,
        Ok(PodDetail {
            key: key.into(),
            containers,
        }),
    );
    let text = screen(&mut c, 100, 40);
    assert!(
        text.contains("forbidden") && text.contains("upshift-viewer.yaml"),
        "{text}"
    );
}

#[test]
fn a_shadow_with_nothing_published_measures_against_the_api_servers_clock() {
    // this machine's clock is a year behind the cluster's (a fast rehearsal): the
    // cockpit began on it, before any answer told the server's time
    let ours = now() - jiff::SignedDuration::from_hours(24 * 365);
    let mut c = bare(true, ours);
    let mut strings = upshift::model::Interner::default();
    c.apply(upshift::model::Delta::Nodes(
        nodes()
            .iter()
            .map(|n| upshift::model::NodeInfo::from_node(n, &mut strings))
            .map(|n| upshift::model::Change::Upsert(n.name.clone(), n))
            .collect(),
    ));
    c.tick_at(ours, std::time::Instant::now());
    assert!(
        c.signals.nodes.rows.iter().all(|r| r.new),
        "measured on our clock, every node looks new"
    );
    // an answer's Date tells the server's time: nothing is new, ages read on it
    let t0 = std::time::Instant::now();
    let mut headers = http::HeaderMap::new();
    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&now())
        .unwrap();
    headers.insert(http::header::DATE, date.parse().unwrap());
    c.connection.clock.saw(&headers, t0);
    let server = c.connection.clock.now_at(t0);
    c.tick_at(server, t0);
    let new: Vec<_> = c.signals.nodes.rows.iter().filter(|r| r.new).map(|r| &r.name).collect();
    assert!(new.is_empty(), "new on the server's clock: {new:?}");
    assert!((c.now.as_second() - now().as_second()).abs() <= 1, "{}", c.now);
}

// ---------------------------------------------------------------- support calendar

/// EKS's published dates for 1.30 to 1.32, and a policy.
fn calendar(policy: upshift::model::support::Policy) -> upshift::model::support::SupportCalendar {
    use upshift::model::support::{MinorSupport, SupportCalendar};
    use upshift::units::Minor;
    let day = |d: &str| Some(format!("{d}T00:00:00Z").parse().expect("date"));
    let minor = |m: &str| Minor::parse(m).expect("minor");
    SupportCalendar {
        policy,
        cluster_minor: Some(minor("1.31")),
        minors: vec![
            MinorSupport {
                minor: minor("1.30"),
                end_of_standard: day("2025-07-23"),
                end_of_extended: day("2026-07-23"),
            },
            MinorSupport {
                minor: minor("1.31"),
                end_of_standard: day("2025-11-26"),
                end_of_extended: day("2026-11-26"),
            },
            MinorSupport {
                minor: minor("1.32"),
                end_of_standard: day("2026-03-23"),
                end_of_extended: day("2027-03-23"),
            },
        ],
    }
}

#[test]
fn the_lead_sees_the_support_calendar_of_both_minors_and_what_the_policy_charges() {
    use upshift::model::support::Policy;
    let mut c = driven(false, gate_red());
    c.support = Some(calendar(Policy::Extended));
    let t = render(&mut c, 200, 60);
    // the rollout's from and target, and the control plane (on 1.31) pays from 1.31's end
    assert_eq!(
        row_text(t.backend().buffer(), 2).trim_end(),
        " EKS support 1.30 standard until 2025-07-23, extended until 2026-07-23 · target 1.31 standard until 2025-11-26, \
         extended until 2026-11-26 · policy EXTENDED: extended support charged from 2025-11-26"
    );
    insta::assert_snapshot!("support_calendar_200x60", t.backend().to_string());
    // narrower, the same dates said shorter; no row is lost under it
    let t = render(&mut c, 120, 40);
    assert_eq!(
        row_text(t.backend().buffer(), 2).trim_end(),
        " EKS support 1.30 std 2025-07-23 ext 2026-07-23 · 1.31 std 2025-11-26 ext 2026-11-26 · pays extended from 2025-11-26"
    );
    insta::assert_snapshot!("support_calendar_120x40", t.backend().to_string());
    let t = render(&mut c, 80, 24);
    assert_eq!(
        row_text(t.backend().buffer(), 2).trim_end(),
        " support 1.30 std 2025-07-23 · 1.31 std 2025-11-26 · ext. paid from 2025-11-26"
    );
    // later, past 1.31's end of standard support, it pays since then
    c.now = "2025-12-01T00:00:00Z".parse().unwrap();
    let t = render(&mut c, 200, 60);
    let row = row_text(t.backend().buffer(), 2);
    assert!(
        row.contains("1.30 standard ended 2025-07-23")
            && row.contains("policy EXTENDED: pays extended support since 2025-11-26"),
        "{row}"
    );
    let (x, y) = find(t.backend().buffer(), "pays extended", "pays extended");
    assert_eq!(t.backend().buffer()[(x, y)].fg, Color::Yellow, "paying is a warning");
}

#[test]
fn a_shadow_with_no_rollout_sees_its_minor_and_the_next_and_without_a_cloud_nothing() {
    use upshift::model::support::Policy;
    let mut c = cockpit(true);
    c.support = Some(calendar(Policy::Standard));
    let t = render(&mut c, 200, 60);
    assert_eq!(
        row_text(t.backend().buffer(), 2).trim_end(),
        " EKS support 1.31 standard until 2025-11-26, extended until 2026-11-26 · next 1.32 standard until 2026-03-23, \
         extended until 2027-03-23 · policy STANDARD: EKS upgrades it after 2025-11-26"
    );
    // a policy EKS did not say: the dates only
    c.support = Some(calendar(Policy::Unknown));
    let row = row_text(render(&mut c, 200, 60).backend().buffer(), 2);
    assert!(row.contains("next 1.32") && !row.contains("policy"), "{row}");
    // no cloud, no calendar: the header is the same two rows as ever
    c.support = None;
    let without = screen(&mut c, 200, 60);
    assert!(!without.contains("support"), "{without}");
    assert_eq!(without, screen(&mut cockpit(true), 200, 60));
}

// ---------------------------------------------------------------- campaign and window

#[test]
fn a_campaign_strip_above_the_rollout_for_the_lead_and_the_shadow() {
    let mut c = driven(false, in_campaign());
    let t = render(&mut c, 120, 40);
    let text = t.backend().to_string();
    assert!(
        text.contains("pre-production ✓!shop-staging │ production ▶shop-prod ·shop-prod-us"),
        "{text}"
    );
    assert!(
        text.contains("campaign q4-upgrade → 1.31 · window tue-night closes in 40m"),
        "{text}"
    );
    assert!(text.contains("[S] stop at a safe point"), "{text}");
    // the cluster driven stands out from its neighbours
    let buf = t.backend().buffer();
    let driven_cell = &buf[find(buf, "production ▶shop-prod", "shop-prod ")];
    let other = &buf[find(buf, "production ▶shop-prod", "shop-prod-us")];
    assert!(driven_cell.modifier.contains(Modifier::BOLD), "{driven_cell:?}");
    assert!(!other.modifier.contains(Modifier::BOLD), "{other:?}");
    insta::assert_snapshot!("rollout_campaign_120x40", text);
    // S asks the drive to stop at its next safe point
    assert_eq!(drive(&mut c, KeyCode::Char('S')), Some(Command::StopAtSafePoint));

    // the shadow sees the same strip, and the lead's choices, not keys
    let mut c = driven(true, in_campaign());
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("production ▶shop-prod ·shop-prod-us"), "{text}");
    assert!(text.contains("window tue-night closes in 40m"), "{text}");
    assert!(!text.contains("[S]"), "{text}");
    assert_eq!(press(&mut c, KeyCode::Char('S')), None);
    insta::assert_snapshot!("rollout_campaign_read_only_120x40", text);
    // a narrow screen counts the clusters of the stages not driven
    let mut c = driven(false, in_campaign());
    let text = screen(&mut c, 60, 24);
    assert!(
        text.contains("pre-production 1/1 done │ production ▶shop-prod"),
        "{text}"
    );
}

#[test]
fn outside_its_window_the_strip_names_the_next_one_and_the_soak() {
    use upshift::model::campaign::StripWindow;
    let mut s = in_campaign();
    let strip = s.campaign.as_mut().expect("campaign");
    strip.window = None;
    strip.next_window = Some(StripWindow {
        name: "wed-night".into(),
        opens: Some(now() + jiff::SignedDuration::from_mins(125)),
        closes: None,
    });
    strip.soak_until = Some(now() + jiff::SignedDuration::from_hours(3));
    s.window = None;
    let mut c = driven(false, s);
    let text = screen(&mut c, 120, 40);
    assert!(
        text.contains("outside window, next: wed-night opens in 2h05m · soak 3h00m left"),
        "{text}"
    );
}

#[test]
fn the_windows_end_near_and_a_stop_asked_are_shown() {
    let mut s = in_campaign();
    let w = s.window.as_mut().expect("window");
    w.warning = Some("window tue-night closes in 8m; nodegroup apps-1-30 batch 2 expected 12m more".into());
    let mut c = driven(false, s.clone());
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("ending: stop at a safe point?"), "{text}");
    s.window.as_mut().expect("window").stopping = true;
    let mut c = driven(false, s);
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("stopping at the next safe point"), "{text}");
    assert!(!text.contains("[S]"), "asked once: {text}");
}

#[test]
fn a_handover_asks_for_the_name_of_who_takes_over() {
    let mut c = driven(false, in_campaign());
    assert_eq!(drive(&mut c, KeyCode::Char('H')), None, "a box opens first");
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("hand the drive over"), "{text}");
    insta::assert_snapshot!("rollout_handover_prompt_120x40", text);
    // oneself is refused; another operator's name is sent
    typed(&mut c, "ana");
    assert_eq!(drive(&mut c, KeyCode::Enter), None);
    assert!(screen(&mut c, 120, 40).contains("ana drives now"));
    for _ in 0..3 {
        press(&mut c, KeyCode::Backspace);
    }
    typed(&mut c, "bo");
    assert_eq!(
        drive(&mut c, KeyCode::Enter),
        Some(Command::Handover { to: "bo".into() })
    );
}

#[test]
fn after_a_handover_the_previous_leads_cockpit_follows_as_a_shadow() {
    let mut s = in_campaign();
    s.handed_to = Some("bo".into());
    let mut c = driven(false, s.clone());
    c.hand_over_seat("bo");
    assert!(c.read_only());
    assert_eq!(press(&mut c, KeyCode::Char('H')), None);
    assert_eq!(press(&mut c, KeyCode::Enter), None, "nothing to send any more");
    // what the new lead publishes is what it shows now
    let mut theirs = s;
    theirs.handed_to = None;
    theirs.lead = "bo@desk".into();
    c.apply(Delta::Rollout(Some(Box::new(upshift::model::rollout::Published {
        state: theirs,
        recent: Vec::new(),
    }))));
    let text = screen(&mut c, 120, 40);
    assert!(text.contains("lead bo@desk"), "{text}");
    assert!(text.contains("READ-ONLY"), "{text}");
}
