//! Reading a timeline back for `upshift replay`: lines that are not samples (a torn
//! last line, a line cut by a crash before the drive resumed) are left out and
//! counted, never an error.

use std::io::Read;
use std::path::Path;

use super::Sample;

/// Timelines larger than this are refused.
pub const MAX_BYTES: u64 = 512 * 1024 * 1024;

/// A timeline as read.
#[derive(Debug, Default)]
pub struct Timeline {
    pub samples: Vec<Sample>,
    /// Lines that could not be read and were left out.
    pub skipped: usize,
}

/// Reads the timeline at `path`; Ok(None) when there is none.
pub fn read(path: &Path) -> Result<Option<Timeline>, super::record::TimelineError> {
    let err = |source| super::record::TimelineError {
        path: path.display().to_string(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let bytes = file.metadata().map_err(err)?.len();
    if bytes > MAX_BYTES {
        return Err(err(std::io::Error::other(format!(
            "{bytes} bytes, more than the {MAX_BYTES} replay reads"
        ))));
    }
    let mut raw = Vec::with_capacity(bytes as usize);
    file.take(MAX_BYTES).read_to_end(&mut raw).map_err(err)?;
    Ok(Some(parse(&raw)))
}

/// Reads timeline text.
pub fn parse(raw: &[u8]) -> Timeline {
    let mut t = Timeline::default();
    for line in raw.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Sample>(line) {
            Ok(s) if s.at.is_some() => t.samples.push(s),
            _ => t.skipped += 1,
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_line_is_left_out_and_counted() {
        let raw = b"{\"at\":\"2030-01-01T00:00:00Z\",\"seq\":1}\n{\"at\":\"2030-01-01T00:00:05Z\",\"se";
        let t = parse(raw);
        assert_eq!(t.samples.len(), 1);
        assert_eq!(t.samples[0].seq, 1);
        assert_eq!(t.skipped, 1);
    }
}
