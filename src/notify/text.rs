//! Escaping and length limits shared by the sinks. Lengths are counted in UTF-16 code
//! units, which is never fewer than characters: a text within a limit so counted is
//! within it however the service counts.

/// Length in UTF-16 code units.
pub fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `s` cut to at most `max` units, ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if units(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let n = c.len_utf16();
        if used + n > max.saturating_sub(1) {
            break;
        }
        out.push(c);
        used += n;
    }
    out.push('…');
    out
}

/// Slack mrkdwn (and the `text` field): `&`, `<` and `>` are control characters and
/// must be sent as `&amp;`, `&lt;` and `&gt;` (Slack's formatting reference, "Escaping
/// text"). Nothing else is entity-encoded.
pub fn escape_mrkdwn(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped mrkdwn cut to at most `max` units without splitting an `&amp;`-style entity.
pub fn truncate_mrkdwn(escaped: &str, max: usize) -> String {
    let cut = truncate(escaped, max);
    if !cut.ends_with('…') || cut == escaped {
        return cut;
    }
    let body = &cut[..cut.len() - '…'.len_utf8()];
    // An entity is at most 5 characters (`&amp;`): a `&` among the last 4 with no `;` after it was cut.
    if let Some(amp) = body.rfind('&')
        && !body[amp..].contains(';')
    {
        return format!("{}…", &body[..amp]);
    }
    cut
}

/// Adaptive Card text (a CommonMark subset in Teams): backslash-escapes the characters
/// that would start emphasis, a link or a list, so names like `ip_10_0_1_5` or
/// `[batch 2]` show as they are.
pub fn escape_card_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut line_start = true;
    for c in s.chars() {
        match c {
            '\\' | '*' | '_' | '[' | ']' | '`' | '~' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            // A line starting with `-`, `+`, `#` or `>` would become a list, heading or quote.
            '-' | '+' | '#' | '>' if line_start => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        line_start = c == '\n' || c == '\r';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_escapes_only_its_control_characters() {
        assert_eq!(
            escape_mrkdwn("a <b> & \"c\" 'd' *e*"),
            "a &lt;b&gt; &amp; \"c\" 'd' *e*"
        );
    }

    #[test]
    fn truncation_counts_utf16_units_and_marks_the_cut() {
        assert_eq!(truncate("abcdef", 10), "abcdef");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(units(&truncate("😀😀😀😀", 5)), 5); // two emoji (4 units) and the mark
        assert!(units(&truncate(&"x".repeat(5000), 3000)) <= 3000);
    }

    #[test]
    fn mrkdwn_truncation_never_splits_an_entity() {
        let escaped = escape_mrkdwn("aaaa<b");
        assert_eq!(escaped, "aaaa&lt;b");
        let cut = truncate_mrkdwn(&escaped, 7);
        assert_eq!(cut, "aaaa…");
        assert_eq!(truncate_mrkdwn(&escaped, 9), escaped);
    }

    #[test]
    fn card_markdown_is_shown_as_typed() {
        assert_eq!(
            escape_card_markdown("- ip_10_0_1_5 [batch 2] *x*"),
            "\\- ip\\_10\\_0\\_1\\_5 \\[batch 2\\] \\*x\\*"
        );
        assert_eq!(escape_card_markdown("a - b"), "a - b");
    }
}
