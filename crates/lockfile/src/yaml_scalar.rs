//! Scalar quoting as js-yaml decides it: plain when the text reads back as the same string, single
//! quotes when it would not (`'9.0'`, `'>=10'`, `'@scope/x'`, `'catalog:'`), double quotes for text
//! single quotes cannot carry (control characters, line breaks).

/// Renders `text` as a YAML scalar; `in_flow` adds the flow-collection indicators (`,[]{}`).
pub(crate) fn scalar(text: &str, in_flow: bool) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_scalar(&mut out, text, in_flow);
    out
}

/// [`scalar`], appended to `out`: the writer renders a lockfile's ~10k scalars this way,
/// without a `String` each.
pub(crate) fn push_scalar(out: &mut String, text: &str, in_flow: bool) {
    if text.chars().any(needs_escape) {
        push_double_quoted(out, text);
    } else if is_plain_safe(text, in_flow) && !resolves_to_non_string(text) {
        out.push_str(text);
    } else {
        out.push('\'');
        for (i, part) in text.split('\'').enumerate() {
            if i > 0 {
                out.push_str("''");
            }
            out.push_str(part);
        }
        out.push('\'');
    }
}

/// Characters only a double-quoted scalar can carry, as escapes: the controls (C0, DEL, C1)
/// and the noncharacters U+FFFE and U+FFFF, which YAML does not allow raw in a stream, and
/// the byte-order mark, which it allows only before a document.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{feff}' | '\u{fffe}' | '\u{ffff}')
}

/// `text` in double quotes, escaped as JSON escapes it (`\"`, `\\`, `\n`, `\t`, `\u001b`,
/// which are YAML escapes as well), and every other character of [`needs_escape`] as
/// `\uXXXX`: raw, a reader refuses them (pnpm: `ERR_PNPM_BROKEN_LOCKFILE`, "unexpected
/// character").
fn push_double_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn is_plain_safe(text: &str, in_flow: bool) -> bool {
    let (Some(first), Some(last)) = (text.chars().next(), text.chars().next_back()) else {
        return false;
    };
    const UNSAFE_FIRST: &[char] = &[
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '=', '>', '\'', '"', '%',
        '@', '`',
    ];
    if first.is_whitespace() || UNSAFE_FIRST.contains(&first) {
        return false;
    }
    if last.is_whitespace() || last == ':' {
        return false;
    }
    let flow_indicator = |c: char| in_flow && matches!(c, ',' | '[' | ']' | '{' | '}');
    let mut prev: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if flow_indicator(c) {
            return false;
        }
        if c == ':'
            && chars
                .peek()
                .is_some_and(|&n| n.is_whitespace() || flow_indicator(n))
        {
            return false;
        }
        if c == '#' && prev.is_some_and(char::is_whitespace) {
            return false;
        }
        prev = Some(c);
    }
    true
}

/// Whether js-yaml's default schema would read `text` as something other than a string.
pub(crate) fn resolves_to_non_string(text: &str) -> bool {
    // Everything below starts with one of these bytes (a sign, a digit or a dot for the
    // numbers and timestamps): most scalars (names, integrity hashes) are told apart here.
    let Some(first) = text.bytes().next() else {
        return false;
    };
    matches!(
        first,
        b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'.' | b'<' | b'+' | b'-' | b'0'..=b'9'
    ) && any_non_string_type(text)
}

/// The types of js-yaml's default schema other than strings, each tried in turn.
fn any_non_string_type(text: &str) -> bool {
    matches!(
        text,
        "~" | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "-.inf"
            | "+.Inf"
            | "-.Inf"
            | "+.INF"
            | "-.INF"
            | ".nan"
            | ".NaN"
            | ".NAN"
            | "<<"
    ) || is_number(text)
        || is_timestamp(text)
}

fn is_number(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    if body.is_empty() {
        return false;
    }
    if let Some(hex) = body.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
    }
    if let Some(oct) = body.strip_prefix("0o") {
        return !oct.is_empty() && oct.chars().all(|c| ('0'..='7').contains(&c) || c == '_');
    }
    if let Some(bin) = body.strip_prefix("0b") {
        return !bin.is_empty() && bin.chars().all(|c| c == '0' || c == '1' || c == '_');
    }
    // [0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)? or \.[0-9]+(...)
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '_');
    let int_ok = if int.is_empty() {
        frac.is_some_and(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
    } else {
        int.starts_with(|c: char| c.is_ascii_digit()) && digits(int)
    };
    let frac_ok = frac.is_none_or(digits);
    let exp_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    int_ok && frac_ok && exp_ok && (exponent.is_none() || frac.is_some() || !int.is_empty())
}

/// `YYYY-MM-DD…` (js-yaml's timestamp type).
fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5].is_ascii_digit()
        && (b[6] == b'-' || (b[6].is_ascii_digit() && b[7] == b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first-byte test only ever answers what trying every type answers.
    #[test]
    fn the_first_byte_rejects_only_strings() {
        let tails = [
            "",
            "rue",
            "RUE",
            "ull",
            "ULL",
            "alse",
            "inf",
            "nan",
            "5",
            "0",
            "x1f",
            "o7",
            "b1",
            "1e5",
            ".5e-3",
            "018-10-06",
            "2018-10-06",
            "<",
            "_1",
            "e5",
        ];
        for first in (0x20u8..0x7f).map(char::from) {
            for tail in tails {
                let text = format!("{first}{tail}");
                assert_eq!(
                    resolves_to_non_string(&text),
                    any_non_string_type(&text),
                    "{text:?}"
                );
            }
        }
        assert!(!resolves_to_non_string(""));
    }

    #[test]
    fn quoting() {
        let cases = [
            ("9.0", "'9.0'"),
            ("1.0.0", "1.0.0"),
            ("18", "'18'"),
            (">=10", "'>=10'"),
            (
                "^8.16.0 || ^10.6.0 || >=11.0.0",
                "^8.16.0 || ^10.6.0 || >=11.0.0",
            ),
            ("@scope/x@1.0.0", "'@scope/x@1.0.0'"),
            ("catalog:", "'catalog:'"),
            ("file:local/c", "file:local/c"),
            ("*", "'*'"),
            ("true", "'true'"),
            ("it's: bad", "'it''s: bad'"),
            ("a #b", "'a #b'"),
            ("2018-10-06T08:09:24.000Z", "'2018-10-06T08:09:24.000Z'"),
            ("", "''"),
            ("line\nbreak", "\"line\\nbreak\""),
        ];
        for (input, want) in cases {
            assert_eq!(scalar(input, false), want, "{input}");
        }
        assert_eq!(scalar("a, b", true), "'a, b'");
        assert_eq!(scalar("a, b", false), "a, b");
    }

    /// Every character a reader refuses raw is escaped (the libFuzzer finding: a DEL written
    /// raw inside double quotes made the written lockfile unreadable); the controls JSON
    /// escapes are written as serde_json wrote them before.
    #[test]
    fn double_quotes_escape_what_yaml_refuses_raw() {
        let cases = [
            ("a\u{7f}b", r#""a\u007fb""#),
            ("c1\u{85}\u{9f}", r#""c1\u0085\u009f""#),
            ("bom\u{feff}", r#""bom\ufeff""#),
            ("nc\u{fffe}\u{ffff}", r#""nc\ufffe\uffff""#),
            ("é and 😀\n", r#""é and 😀\n""#),
        ];
        for (input, want) in cases {
            assert_eq!(scalar(input, true), want, "{input:?}");
        }
        for input in ["\u{0}\u{1b}x", "q\"b\\\t\r\u{8}\u{c}\n", "line\nbreak"] {
            let json = serde_json::to_string(input).unwrap_or_default();
            assert_eq!(scalar(input, false), json, "{input:?}");
        }
    }
}
