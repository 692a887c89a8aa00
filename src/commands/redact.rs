//! The log file's writer, which keeps AWS secrets out of it at any log level: with
//! `UPSHIFT_LOG=trace` the SDKs log the requests they sign, and with them the access
//! key id (`Credential=AKIA…/…`), the SigV4 signature and the session token. Each is
//! replaced by `[redacted]` before the line reaches the file.

use std::io::{self, Write};

const HIDDEN: &str = "[redacted]";

/// What is hidden wherever it appears: the AWS credentials in the environment.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    literals: Vec<String>,
}

impl Redactor {
    /// The credentials of this process's environment (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), besides the forms any key takes.
    pub fn from_env() -> Self {
        let literals = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .filter(|v| v.len() >= 4)
            .collect();
        Redactor { literals }
    }

    /// `line` with every secret replaced.
    pub fn redact(&self, line: &str) -> String {
        let mut out = line.to_string();
        for l in &self.literals {
            if out.contains(l.as_str()) {
                out = out.replace(l.as_str(), HIDDEN);
            }
        }
        // Credential=KEY/date/region/service/aws4_request: the key
        out = hide_after(&out, "Credential=", |c| c != '/' && c != ',' && !c.is_whitespace());
        // Signature=hex, X-Amz-Signature=hex, signature: hex
        for marker in [
            "Signature=",
            "signature=",
            "signature: ",
            "signature = ",
            "signature=\"",
        ] {
            out = hide_after(&out, marker, |c| c.is_ascii_hexdigit());
        }
        for marker in [
            "x-amz-security-token: ",
            "X-Amz-Security-Token=",
            "x-amz-security-token=",
            "x-amz-security-token:",
        ] {
            out = hide_after(&out, marker, |c| !c.is_whitespace() && c != '"' && c != '&' && c != ',');
        }
        hide_key_ids(&out)
    }
}

/// Replaces the run of characters `keep` accepts after each `marker`.
fn hide_after(s: &str, marker: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        let start = i + marker.len();
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find(|c| !keep(c)).unwrap_or(tail.len());
        if end > 0 {
            out.push_str(HIDDEN);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Replaces AWS access key ids: `AKIA`, `ASIA` (and the other prefixes) and 16
/// upper-case letters or digits.
fn hide_key_ids(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut from = 0;
    while i + 20 <= b.len() {
        let prefix = &b[i..i + 4];
        let starts = matches!(
            prefix,
            b"AKIA" | b"ASIA" | b"AIDA" | b"AROA" | b"ANPA" | b"ABIA" | b"ACCA"
        );
        let before_ok = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if starts
            && before_ok
            && b[i + 4..i + 20]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && b.get(i + 20).is_none_or(|c| !c.is_ascii_alphanumeric())
        {
            out.push_str(&s[from..i]);
            out.push_str(HIDDEN);
            i += 20;
            from = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[from..]);
    out
}

/// A writer that redacts what passes through it. The log's formatter writes one
/// whole event per call, so no secret is split between two writes.
pub struct Redacting<W> {
    inner: W,
    redactor: Redactor,
}

impl<W> Redacting<W> {
    pub fn new(inner: W, redactor: Redactor) -> Self {
        Redacting { inner, redactor }
    }
}

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.inner.write_all(self.redactor.redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_signatures_and_tokens_are_hidden() {
        let r = Redactor {
            literals: vec!["upshift-sim-key".into()],
        };
        let line = "authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261201/us-east-1/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcdef x-amz-security-token: FwoGZXIvYXdzEJr// key=upshift-sim-key also ASIAABCDEFGHIJKLMNOP.";
        let out = r.redact(line);
        for secret in [
            "AKIAIOSFODNN7EXAMPLE",
            "0123abcdef",
            "FwoGZXIvYXdzEJr",
            "upshift-sim-key",
            "ASIAABCDEFGHIJKLMNOP",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(
            out.contains("Credential=[redacted]/20261201/us-east-1/eks/aws4_request"),
            "{out}"
        );
        assert!(
            out.contains("SignedHeaders=host;x-amz-date"),
            "what is not secret stays: {out}"
        );
        assert_eq!(r.redact("nothing secret here"), "nothing secret here");
    }
}
