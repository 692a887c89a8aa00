//! The modules of `src/` depend on each other one way. This reads every path in
//! `src/` that names a module of the crate (`crate::x`, `upshift::x` in the binary,
//! `super::` that climbs out of a top module, groups `crate::{a, b::c}`, in `use`
//! lines and anywhere else in the code; comments and strings are skipped) and fails
//! on any the table below does not allow, naming the file, the line and the arrow.
//!
//! The order, top to bottom: `main → commands → {app, headless, sim, rollout,
//! preflight} → ui → cockpit → {cluster, model} → units`, with `rollout →
//! {preflight, cloud, cluster, model}`, `preflight → {cloud, cluster, model}` and
//! `cloud → units`. Only the binary (`main`, `cli`, `commands`) starts the simulator;
//! the simulator uses nothing of the product but `units`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Which top modules each top module may use (itself always).
const ALLOWED: &[(&str, &[&str])] = &[
    ("units", &[]),
    ("notify", &[]),
    ("model", &["units"]),
    ("cloud", &["units"]),
    ("cluster", &["model", "units"]),
    ("timeline", &["model", "units"]),
    ("cockpit", &["cluster", "model", "units"]),
    ("ui", &["cockpit", "cluster", "model", "units"]),
    ("tui", &[]),
    (
        "app",
        &["ui", "tui", "cockpit", "cluster", "model", "timeline", "units"],
    ),
    ("headless", &["cockpit", "cluster", "model", "timeline", "units"]),
    ("preflight", &["cloud", "cluster", "model", "units"]),
    (
        "rollout",
        &["preflight", "notify", "cloud", "cluster", "model", "units"],
    ),
    ("sim", &["units"]),
    ("report", &["model", "units"]),
    (
        "campaign",
        &[
            "rollout",
            "preflight",
            "notify",
            "cloud",
            "cluster",
            "model",
            "report",
            "units",
        ],
    ),
    (
        "replay",
        &[
            "ui", "tui", "cockpit", "cluster", "model", "report", "timeline", "units",
        ],
    ),
];

/// The binary's modules: they may use anything.
const BINARY: &[&str] = &["main", "cli", "commands"];

/// A reference from one place in `src/` to a top module.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Arrow {
    line: usize,
    to: String,
    /// The text that names it, for the message.
    via: String,
}

/// The code of a Rust file with comments, strings and char literals blanked out
/// (newlines kept, so that lines still count).
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let prev_ident = i > 0 && ident(c[i - 1]);
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            continue;
        }
        // raw strings: r"..", r#".."#, br#".."#
        if !prev_ident && (c[i] == 'r' || (c[i] == 'b' && c.get(i + 1) == Some(&'r'))) {
            let start = if c[i] == 'b' { i + 2 } else { i + 1 };
            let mut j = start;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            if c.get(j) == Some(&'"') {
                let hashes = j - start;
                j += 1;
                loop {
                    if j >= c.len() {
                        break;
                    }
                    if c[j] == '"' && (0..hashes).all(|k| c.get(j + 1 + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    blank(&mut out, c[j]);
                    j += 1;
                }
                i = j;
                continue;
            }
        }
        if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if c[i] == '\'' {
            // a char literal ('x', '\n', '\u{1F600}'), or a lifetime ('a)
            if c.get(i + 1) == Some(&'\\') {
                let mut j = i + 3;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            if c.get(i + 2) == Some(&'\'') {
                i += 3;
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

/// The first identifier of each item of a `{ .. }` group starting at `open`.
fn group_heads(code: &[char], open: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_item_start = true;
    let mut i = open;
    while i < code.len() {
        let ch = code[i];
        match ch {
            '{' => {
                depth += 1;
                if depth == 1 {
                    at_item_start = true;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => at_item_start = true,
            c if depth == 1 && at_item_start && (c.is_alphabetic() || c == '_' || c == '*') => {
                let mut j = i;
                while j < code.len() && (code[j].is_alphanumeric() || code[j] == '_' || code[j] == '*') {
                    j += 1;
                }
                heads.push(code[i..j].iter().collect());
                at_item_start = false;
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    heads
}

/// The module path of each byte of `code` that is inside an inline `mod name { .. }`,
/// as a list of (start, end, name).
fn inline_mods(code: &[char]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<(usize, String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < code.len() {
        let word_start = i == 0 || !(code[i - 1].is_alphanumeric() || code[i - 1] == '_');
        if word_start && code[i..].starts_with(&['m', 'o', 'd', ' ']) {
            let mut j = i + 4;
            while j < code.len() && code[j] == ' ' {
                j += 1;
            }
            let name_start = j;
            while j < code.len() && (code[j].is_alphanumeric() || code[j] == '_') {
                j += 1;
            }
            let name: String = code[name_start..j].iter().collect();
            while j < code.len() && code[j].is_whitespace() {
                j += 1;
            }
            if !name.is_empty() && code.get(j) == Some(&'{') {
                depth += 1;
                stack.push((j, name, depth));
                i = j + 1;
                continue;
            }
        }
        match code[i] {
            '{' => depth += 1,
            '}' => {
                if let Some((start, name, d)) = stack.last().cloned()
                    && d == depth
                {
                    out.push((start, i, name));
                    stack.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Every reference in `text` (the file of module `module`, e.g. `["model", "node"]`;
/// `crate_names` are the names under which the crate's top modules are reached:
/// `crate` in the library, `crate` and `upshift` in the binary) to a top module.
fn arrows(text: &str, module: &[String], roots: &[&str]) -> Vec<Arrow> {
    let code: Vec<char> = code_only(text).chars().collect();
    let mods = inline_mods(&code);
    let line_of = |at: usize| code[..at].iter().filter(|c| **c == '\n').count() + 1;
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let word_at = |i: usize| -> (String, usize) {
        let mut j = i;
        while j < code.len() && is_ident(code[j]) {
            j += 1;
        }
        (code[i..j].iter().collect(), j)
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        if !is_ident(code[i]) || (i > 0 && (is_ident(code[i - 1]) || code[i - 1] == '$')) {
            i += 1;
            continue;
        }
        let (word, end) = word_at(i);
        let follows_path = |at: usize| code.get(at) == Some(&':') && code.get(at + 1) == Some(&':');
        // only the start of a path counts: not `x::crate` nor `a.super`
        let after_sep = i >= 2 && code[i - 1] == ':' && code[i - 2] == ':';
        if after_sep || !follows_path(end) {
            i = end;
            continue;
        }
        // where the path resolves to the crate root, and the index after its `::`
        let resolved: Option<usize> = if roots.contains(&word.as_str()) {
            Some(end + 2)
        } else if word == "super" {
            // the module the code is in: the file's, plus the inline modules open here
            let mut here: Vec<String> = module.to_vec();
            here.extend(
                mods.iter()
                    .filter(|(s, e, _)| *s < i && i < *e)
                    .map(|(_, _, n)| n.clone()),
            );
            let mut j = end + 2;
            let mut ups = 1;
            loop {
                let (w, e) = word_at(j);
                if w == "super" && follows_path(e) {
                    ups += 1;
                    j = e + 2;
                } else {
                    break;
                }
            }
            (ups == here.len()).then_some(j)
        } else {
            None
        };
        let Some(after) = resolved else {
            i = end;
            continue;
        };
        let mut j = after;
        while j < code.len() && code[j].is_whitespace() {
            j += 1;
        }
        let via = |to: &str| format!("{word}::{to}");
        if code.get(j) == Some(&'{') {
            for head in group_heads(&code, j) {
                if head != "self" {
                    out.push(Arrow {
                        line: line_of(i),
                        to: head.clone(),
                        via: format!("{word}::{{{head}, …}}"),
                    });
                }
            }
        } else if code.get(j) == Some(&'*') {
            out.push(Arrow {
                line: line_of(i),
                to: "*".into(),
                via: via("*"),
            });
        } else {
            let (to, _) = word_at(j);
            if !to.is_empty() {
                out.push(Arrow {
                    line: line_of(i),
                    via: via(&to),
                    to,
                });
            }
        }
        i = end;
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ reads") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/model/node.rs` → `["model", "node"]`; `src/model/mod.rs` → `["model"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("a file under src/");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The top modules the library declares in `src/lib.rs`.
fn library_modules(src: &Path) -> BTreeSet<String> {
    let text = code_only(&std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs reads"));
    text.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")
                .or_else(|| l.trim().strip_prefix("mod "))
        })
        .map(|m| m.trim_end_matches(';').trim().to_string())
        .collect()
}

/// Every arrow in `src/` the table does not allow, as messages.
fn violations() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let library = library_modules(&src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for file in files {
        let module = module_of(&src, &file);
        let Some(top) = module.first().cloned() else { continue };
        if top == "lib" {
            continue;
        }
        let in_binary = BINARY.contains(&top.as_str());
        let roots: &[&str] = if in_binary { &["crate", "upshift"] } else { &["crate"] };
        let text = std::fs::read_to_string(&file).expect("a source file reads");
        let shown = file
            .strip_prefix(src.parent().expect("the crate"))
            .unwrap_or(&file)
            .display()
            .to_string();
        if !in_binary && !ALLOWED.iter().any(|(m, _)| *m == top) {
            bad.push(format!(
                "{shown}: module {top} is in no row of the table in tests/architecture.rs"
            ));
            continue;
        }
        for a in arrows(&text, &module, roots) {
            if a.to == "*" {
                bad.push(format!("{shown}:{}: `{}` imports the whole crate root", a.line, a.via));
                continue;
            }
            if in_binary || a.to == top || !library.contains(&a.to) {
                continue;
            }
            let allowed = ALLOWED
                .iter()
                .find(|(m, _)| *m == top)
                .is_some_and(|(_, to)| to.contains(&a.to.as_str()));
            if !allowed {
                bad.push(format!(
                    "{shown}:{}: {top} → {} (`{}`) points the wrong way",
                    a.line, a.to, a.via
                ));
            }
        }
    }
    bad
}

#[test]
fn dependencies_point_one_way() {
    let bad = violations();
    assert!(
        bad.is_empty(),
        "imports against the module order (move the shared thing down instead):\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_library_module_has_a_row() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for m in library_modules(&src) {
        assert!(
            ALLOWED.iter().any(|(row, _)| *row == m),
            "the library's module {m} has no row in the table"
        );
    }
    // the table allows nothing that climbs back: each row only names rows above it
    for (i, (m, to)) in ALLOWED.iter().enumerate() {
        for t in *to {
            let j = ALLOWED.iter().position(|(r, _)| r == t).expect("a known module");
            assert!(j < i, "{m} → {t}: the table itself must list {t} before {m}");
        }
    }
}

fn names(a: &[Arrow]) -> Vec<&str> {
    a.iter().map(|a| a.to.as_str()).collect()
}

fn module(path: &str) -> Vec<String> {
    path.split('/').map(str::to_string).collect()
}

#[test]
fn the_reader_finds_paths_in_every_form() {
    let text = r##"
use crate::model::Level;
use crate::{cluster::ClusterReader, units::Minor};
use super::view::Pane;
fn f() { let x = crate::rollout::drive::start(); }
// crate::sim::Simulator in a comment does not count
const S: &str = "crate::sim in a string does not count";
const R: &str = r#"crate::sim in a raw string"#;
fn g<'a>(c: &'a char) -> char { let _ = '"'; crate::ui::draw() }
pub(crate) fn h() {}
use std::io::{self, Write as _};
"##;
    let a = arrows(text, &module("cockpit/mod"), &["crate"]);
    assert_eq!(names(&a), ["model", "cluster", "units", "rollout", "ui"], "{a:?}");
    assert_eq!(a[3].line, 5);
    // `super` from a file inside a top module stays inside it ...
    assert!(arrows("use super::view::Pane;", &module("cockpit/lead"), &["crate"]).is_empty());
    // ... and from a top module's own file it reaches the crate root
    let a = arrows("use super::sim::quantity;", &module("model"), &["crate"]);
    assert_eq!(names(&a), ["sim"]);
    let a = arrows("use super::super::rollout::Step;", &module("ui/panes"), &["crate"]);
    assert_eq!(names(&a), ["rollout"]);
    let a = arrows("use super::*;", &module("app"), &["crate"]);
    assert_eq!(names(&a), ["*"]);
    // inside an inline module, `super` first leaves that module
    let a = arrows(
        "mod tests {\n    use super::*;\n    use super::super::sim::Simulator;\n}\n",
        &module("model/node"),
        &["crate"],
    );
    assert!(a.is_empty(), "{a:?}");
    let a = arrows(
        "mod tests {\n    use super::super::sim::X;\n}\n",
        &module("app"),
        &["crate"],
    );
    assert_eq!(names(&a), ["sim"]);
    // the binary reaches the library as `upshift`
    let a = arrows(
        "use upshift::sim::Simulator;",
        &module("commands/demo"),
        &["crate", "upshift"],
    );
    assert_eq!(names(&a), ["sim"]);
    // nested groups name their first segment
    let a = arrows("use crate::{model::{Level, LogEntry}, ui};", &module("app"), &["crate"]);
    assert_eq!(names(&a), ["model", "ui"]);
}

#[test]
fn a_back_arrow_is_reported_with_its_file_and_line() {
    // the check itself: an arrow the table forbids is found in a text like the tree's
    let text = "use crate::units::Minor;\n\nfn f() { crate::cockpit::Cockpit::new(); }\n";
    let a = arrows(text, &module("model/node"), &["crate"]);
    let allowed_for_model = ALLOWED.iter().find(|(m, _)| *m == "model").unwrap().1;
    let forbidden: Vec<&Arrow> = a
        .iter()
        .filter(|a| !allowed_for_model.contains(&a.to.as_str()))
        .collect();
    assert_eq!(forbidden.len(), 1);
    assert_eq!((forbidden[0].to.as_str(), forbidden[0].line), ("cockpit", 3));
}

/// The files of `src/` under `dir` (or the file itself).
fn files_under(dir: &str) -> Vec<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut out = Vec::new();
    if path.is_dir() {
        rust_files(&path, &mut out);
    } else {
        out.push(path);
    }
    out
}

#[test]
fn what_only_reads_holds_nothing_that_writes() {
    // the watch cockpit, preflight and plan discovery are given readers: a client
    // that can write, or the cloud's writing half, never appears in them
    let readers = [
        "preflight",
        "cockpit",
        "ui",
        "app.rs",
        "headless",
        "model",
        "rollout/plan/discover.rs",
    ];
    let writable = [
        "kube::Client",
        "Api<",
        "Api::<",
        "dyn Cloud ",
        "dyn Cloud>",
        "dyn Cloud,",
        "dyn Cloud)",
    ];
    let mut bad = Vec::new();
    for dir in readers {
        for file in files_under(dir) {
            let code = code_only(&std::fs::read_to_string(&file).expect("a source file reads"));
            for (n, line) in code.lines().enumerate() {
                for w in writable {
                    if line.contains(w) {
                        bad.push(format!("{}:{}: holds `{w}`", file.display(), n + 1));
                    }
                }
            }
        }
    }
    // the reader itself and its watches hold a client, privately, and only read with it
    let verbs = [
        ".patch(",
        ".create(",
        ".delete(",
        ".replace(",
        ".evict(",
        "Patch::",
        "PostParams",
        "DeleteParams",
    ];
    for file in files_under("cluster") {
        let code = code_only(&std::fs::read_to_string(&file).expect("a source file reads"));
        for (n, line) in code.lines().enumerate() {
            for v in verbs {
                if line.contains(v) {
                    bad.push(format!("{}:{}: writes with `{v}`", file.display(), n + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "read-only code that could write:\n{}", bad.join("\n"));
}
