//! Where a field of a plan is in its YAML text: the 1-based line of a path such as
//! `steps[4].batchSize`, in block or flow style, so that every error about a plan
//! names the line it is on. A best effort: a path it cannot find has no line.

/// One part of a field path: `steps[4].batchSize` is steps, 4, batchSize.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            out.push(Seg::Key(&rest[..i]));
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                if let Ok(n) = stripped[..end].parse() {
                    out.push(Seg::Index(n));
                }
                rest = &stripped[end + 1..];
            }
        } else {
            out.push(Seg::Key(rest));
        }
    }
    out
}

/// A line of YAML as the locator sees it.
struct Line<'a> {
    /// Spaces before the first character.
    indent: usize,
    /// Spaces before the content once `- ` item markers are passed.
    inner: usize,
    /// The content after the item markers, without a trailing comment.
    content: &'a str,
    dash: bool,
}

fn parse_line(l: &str) -> Option<Line<'_>> {
    let trimmed = l.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let indent = l.len() - trimmed.len();
    let mut content = trimmed;
    let mut inner = indent;
    let dash = content.starts_with("- ") || content == "-";
    while let Some(rest) = content.strip_prefix("- ") {
        let r = rest.trim_start();
        inner += content.len() - r.len();
        content = r;
    }
    let content = match content.find(" #") {
        Some(i) => &content[..i],
        None => content,
    };
    Some(Line {
        indent,
        inner,
        content,
        dash,
    })
}

/// The 1-based line of a field path (`steps[4].batchSize`) in YAML text, block or
/// flow style: a best effort to point errors at a line.
pub fn locate(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<Option<Line>> = text.lines().map(parse_line).collect();
    let (mut lo, mut hi) = (0usize, lines.len());
    let mut found = None;
    for seg in segments(path) {
        match seg {
            Seg::Key(k) => {
                let level = (lo..hi).filter_map(|i| lines[i].as_ref()).map(|l| l.inner).min()?;
                let key = format!("{k}:");
                let block = (lo..hi).find(|&i| {
                    lines[i]
                        .as_ref()
                        .is_some_and(|l| l.inner == level && l.content.starts_with(&key))
                });
                if let Some(i) = block {
                    let own = lines[i].as_ref().map_or(0, |l| l.inner);
                    let end = (i + 1..hi)
                        .find(|&j| {
                            lines[j]
                                .as_ref()
                                .is_some_and(|l| l.inner <= own && !(l.dash && l.indent == own))
                        })
                        .unwrap_or(hi);
                    (lo, hi) = (i, end);
                    found = Some(i);
                    // the value's lines start after the key
                    if end > i + 1 {
                        lo = i + 1;
                    }
                } else {
                    // flow style: `{kind: nodegroup, batchSize: 0}`
                    let flow = (lo..hi).find(|&i| {
                        lines[i].as_ref().is_some_and(|l| {
                            [
                                format!("{{{key}"),
                                format!("{{ {key}"),
                                format!(", {key}"),
                                format!(",{key}"),
                            ]
                            .iter()
                            .any(|p| l.content.contains(p.as_str()))
                        })
                    })?;
                    (lo, hi) = (flow, flow + 1);
                    found = Some(flow);
                }
            }
            Seg::Index(n) => {
                let dash_indent = (lo..hi)
                    .filter_map(|i| lines[i].as_ref())
                    .filter(|l| l.dash)
                    .map(|l| l.indent)
                    .min();
                let Some(dash_indent) = dash_indent else {
                    // a flow sequence: the key's line is as close as we get
                    continue;
                };
                let items: Vec<usize> = (lo..hi)
                    .filter(|&i| lines[i].as_ref().is_some_and(|l| l.dash && l.indent == dash_indent))
                    .collect();
                let start = *items.get(n)?;
                let end = items.get(n + 1).copied().unwrap_or(hi);
                (lo, hi) = (start, end);
                found = Some(start);
            }
        }
    }
    found.map(|i| i + 1)
}

/// A YAML file's parse error as upshift says it: the field's path (`(top level)` for
/// the root), its line, and the parser's message once, with what to do when a field
/// is unknown or missing (`docs` names the page listing every field).
pub struct ParseError {
    pub field: String,
    pub line: Option<usize>,
    pub message: String,
}

/// Reads a parse error of `text` (see [`ParseError`]).
pub fn parse_error(e: serde_path_to_error::Error<serde_norway::Error>, text: &str, docs: &str) -> ParseError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let mut message = inner.to_string();
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    // the parser may name the field's path, or its parent's, again: once is enough
    if let Some((head, rest)) = message.split_once(": ")
        && (head == path || path.starts_with(&format!("{head}.")) || path.starts_with(&format!("{head}[")))
    {
        message = rest.to_string();
    }
    let field = if path == "." { "(top level)".to_string() } else { path };
    if message.starts_with("unknown field") {
        message.push_str(&format!(
            " (remove it, or check its spelling; {docs} lists every field)"
        ));
    } else if message.starts_with("missing field") {
        message.push_str(&format!(" (add it; {docs} lists every field)"));
    }
    let line = inner.location().map(|l| l.line()).or_else(|| locate(text, &field));
    ParseError { field, line, message }
}

#[cfg(test)]
mod tests {
    use super::locate;

    const TEXT: &str = r#"apiVersion: upshift.dev/v1
cluster:
  name: demo   # the cluster
  environment: production
from: "1.30"
steps:
  # first
  - kind: preflight
  - kind: nodegroup
    name: apps
    batchSize: 0
  - {kind: addon, name: coredns, version: v1}
"#;

    #[test]
    fn finds_keys_items_and_flow_fields() {
        assert_eq!(locate(TEXT, "apiVersion"), Some(1));
        assert_eq!(locate(TEXT, "cluster.name"), Some(3));
        assert_eq!(locate(TEXT, "cluster.environment"), Some(4));
        assert_eq!(locate(TEXT, "from"), Some(5));
        assert_eq!(locate(TEXT, "steps"), Some(6));
        assert_eq!(locate(TEXT, "steps[0]"), Some(8));
        assert_eq!(locate(TEXT, "steps[1].batchSize"), Some(11));
        assert_eq!(locate(TEXT, "steps[1].name"), Some(10));
        assert_eq!(locate(TEXT, "steps[2].version"), Some(12));
        assert_eq!(locate(TEXT, "steps[3]"), None);
    }

    #[test]
    fn finds_sequences_at_the_key_indent() {
        let t = "steps:\n- kind: preflight\n- kind: nodegroup\n  batchSize: 3\nfrom: x\n";
        assert_eq!(locate(t, "steps[1].batchSize"), Some(4));
        assert_eq!(locate(t, "from"), Some(5));
    }
}
