//! Reads a journal for a report without touching it: the file may be one a drive is
//! still writing (its last line cut short), or one written by another version of
//! upshift (entries of a kind this one does not know). Neither stops the report; both
//! are counted and said. A line that is not JSON at all, before the end, is an error
//! naming its line.

use std::io::Read;
use std::path::Path;

use crate::model::journal::Entry;

/// Journals larger than this are refused: a report is for one rollout, whose journal
/// is a few thousand lines.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// What was read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub entries: Vec<Entry>,
    /// Lines of a kind this version does not know (a newer upshift), by line number.
    pub unknown: Vec<usize>,
    /// The last line was cut short: a drive is writing it, or crashed mid-write.
    pub torn_tail: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("journal {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("journal {path} is {bytes} bytes, more than the {MAX_BYTES} a report reads; is it a journal?")]
    TooLarge { path: String, bytes: u64 },
    #[error("journal {path}, line {line}: not a journal line ({message})")]
    NotJson { path: String, line: usize, message: String },
    #[error("journal {path} holds no entries")]
    Empty { path: String },
}

/// Reads the journal at `path`.
pub fn read(path: &Path) -> Result<Loaded, ReadError> {
    let shown = path.display().to_string();
    let io = |source| ReadError::Io {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    if bytes > MAX_BYTES {
        return Err(ReadError::TooLarge { path: shown, bytes });
    }
    let mut raw = Vec::with_capacity(bytes as usize);
    file.take(MAX_BYTES).read_to_end(&mut raw).map_err(io)?;
    parse(&raw, &shown)
}

/// Reads journal text; `shown` names it in errors.
pub fn parse(raw: &[u8], shown: &str) -> Result<Loaded, ReadError> {
    let mut out = Loaded::default();
    let ends_whole = raw.ends_with(b"\n");
    let lines: Vec<&[u8]> = raw.split(|b| *b == b'\n').collect();
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        let number = i + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let is_tail = i == last && !ends_whole;
        let value: serde_json::Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(_) if is_tail => {
                out.torn_tail = true;
                continue;
            }
            Err(e) => {
                return Err(ReadError::NotJson {
                    path: shown.to_string(),
                    line: number,
                    message: e.to_string(),
                });
            }
        };
        match serde_json::from_value::<Entry>(value) {
            Ok(e) => out.entries.push(e),
            Err(_) => out.unknown.push(number),
        }
    }
    if out.entries.is_empty() {
        return Err(ReadError::Empty {
            path: shown.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"{"seq":1,"at":"2026-12-01T04:48:33Z","who":"ana@laptop","type":"decision","decision":"confirm-cluster","target":"demo"}"#;
    const B: &str = r#"{"seq":2,"at":"2026-12-01T04:48:38Z","who":"ana@laptop","type":"decision","decision":"pause"}"#;

    #[test]
    fn a_torn_tail_is_said_not_refused() {
        let text = format!("{A}\n{B}\n{{\"seq\":3,\"at\":\"2026");
        let r = parse(text.as_bytes(), "j").unwrap();
        assert_eq!(r.entries.len(), 2);
        assert!(r.torn_tail);
    }

    #[test]
    fn a_newer_kind_is_counted_by_line() {
        let text = format!(
            "{A}\n{{\"seq\":2,\"at\":\"2026-12-01T04:48:38Z\",\"who\":\"x\",\"type\":\"from-the-future\"}}\n{B}\n"
        );
        let r = parse(text.as_bytes(), "j").unwrap();
        assert_eq!(r.entries.len(), 2);
        assert_eq!(r.unknown, vec![2]);
        assert!(!r.torn_tail);
    }

    #[test]
    fn damage_before_the_end_names_its_line() {
        let text = format!("{A}\nnot json\n{B}\n");
        let e = parse(text.as_bytes(), "j.jsonl").unwrap_err().to_string();
        assert!(e.contains("j.jsonl, line 2"), "{e}");
    }

    #[test]
    fn an_empty_file_is_refused() {
        assert!(matches!(parse(b"\n\n", "j"), Err(ReadError::Empty { .. })));
    }
}
