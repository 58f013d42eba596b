//! Scalar quoting as js-yaml decides it: plain when the text reads back as the same string, single
//! quotes when it would not (`'9.0'`, `'>=10'`, `'@scope/x'`, `'catalog:'`), double quotes for text
//! single quotes cannot carry (control characters, line breaks in keys and flow collections),
//! and a literal block (`|-`) for a block value with line breaks (a multi-line `deprecated`).

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

/// A value in block context (a mapping value whose key, or a sequence item whose dash, is at
/// column `indent`): [`push_scalar`], except that text with a line feed and nothing else
/// [`needs_escape`] is a literal block, as js-yaml writes it without a line width (pnpm's).
pub(crate) fn push_block_value(out: &mut String, text: &str, indent: usize) {
    if text.contains('\n') && !text.chars().any(|c| c != '\n' && needs_escape(c)) {
        push_literal_block(out, text, indent + 2);
    } else {
        push_scalar(out, text, false);
    }
}

/// `text` as a literal block whose lines are indented by `body_indent`: the header (`|`, an
/// indentation indicator when the first line that has text starts with a space, then `-` for
/// no final line feed, nothing for one, `+` for more), then each line that is not empty
/// indented. The last line feed is left to the caller, who ends every value with one.
fn push_literal_block(out: &mut String, text: &str, body_indent: usize) {
    out.push('|');
    if text.trim_start_matches('\n').starts_with(' ') {
        // js-yaml writes its indent per level (2) here, whatever the depth.
        out.push('2');
    }
    if text == "\n" || text.ends_with("\n\n") {
        out.push('+');
    } else if !text.ends_with('\n') {
        out.push('-');
    }
    out.push('\n');
    let body = text.strip_suffix('\n').unwrap_or(text);
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', body_indent));
            out.push_str(line);
        }
    }
}

/// Characters js-yaml (and so pnpm) writes only as escapes in a double-quoted scalar: every
/// character outside its printable set (the C0 controls, DEL, the C1 controls, no-break space,
/// the line and paragraph separators, the byte-order mark, U+FFFE, U+FFFF). A line feed is one
/// of them too, except in a block value ([`push_block_value`]).
fn needs_escape(c: char) -> bool {
    let printable = matches!(c, ' '..='~' | '\u{a1}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || c >= '\u{10000}';
    !printable || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// `text` in double quotes, escaped as js-yaml escapes it: its short escapes (`\0`, `\a`,
/// `\b`, `\t`, `\n`, `\v`, `\f`, `\r`, `\e`, `\"`, `\\`, `\N`, `\_`, `\L`, `\P`), then `\xHH`,
/// `\uHHHH` or `\UHHHHHHHH` in upper case for the rest of [`needs_escape`]. Written raw, those
/// characters make the text unreadable (pnpm: `ERR_PNPM_BROKEN_LOCKFILE`, "unexpected
/// character").
fn push_double_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        let short = match c {
            '\0' => "\\0",
            '\u{7}' => "\\a",
            '\u{8}' => "\\b",
            '\t' => "\\t",
            '\n' => "\\n",
            '\u{b}' => "\\v",
            '\u{c}' => "\\f",
            '\r' => "\\r",
            '\u{1b}' => "\\e",
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{85}' => "\\N",
            '\u{a0}' => "\\_",
            '\u{2028}' => "\\L",
            '\u{2029}' => "\\P",
            c if needs_escape(c) => {
                let code = u32::from(c);
                let escaped = match code {
                    0..=0xff => format!("\\x{code:02X}"),
                    0x100..=0xffff => format!("\\u{code:04X}"),
                    _ => format!("\\U{code:08X}"),
                };
                out.push_str(&escaped);
                continue;
            }
            c => {
                out.push(c);
                continue;
            }
        };
        out.push_str(short);
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

    /// A block value with line feeds is a literal block, its header and indentation as
    /// js-yaml's `blockHeader` and `indentString` make them (the `link:` cases read off a
    /// lockfile pnpm 12 wrote; the rest are held to pnpm by the conformance test
    /// `multi_line_deprecations_are_written_like_pnpm`).
    #[test]
    fn block_values_with_line_feeds_are_literal_blocks() {
        let cases = [
            ("link:depa\nb0", "|-\n    link:depa\n    b0"),
            ("link:depy\n\n2", "|-\n    link:depy\n\n    2"),
            ("link:dep\n z3", "|-\n    link:dep\n     z3"),
            ("ends\n", "|\n    ends"),
            ("ends twice\n\n", "|+\n    ends twice\n"),
            ("\n", "|+\n"),
            ("\n\n", "|+\n\n"),
            (" space first\nx", "|2-\n     space first\n    x"),
            (
                "\n\n space after line feeds",
                "|2-\n\n\n     space after line feeds",
            ),
            ("\nline feed first", "|-\n\n    line feed first"),
            ("  \nspaces only", "|2-\n      \n    spaces only"),
            (
                "'quotes' \"and\" # : \\\nx",
                "|-\n    'quotes' \"and\" # : \\\n    x",
            ),
        ];
        for (input, want) in cases {
            let mut out = String::new();
            push_block_value(&mut out, input, 2);
            assert_eq!(out, want, "{input:?}");
            // It reads back as itself where a lockfile puts it, with a key after it.
            let doc = format!("a:\n  b: {out}\n  c: d\n");
            type Doc =
                std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;
            let read: Doc = serde_saphyr::from_str(&doc).expect(&doc);
            assert_eq!(read["a"]["b"], input, "{doc:?}");
            assert_eq!(read["a"]["c"], "d", "{doc:?}");
        }
        // Anything else unprintable beside the line feed: double quotes, as in a key.
        let mut out = String::new();
        push_block_value(&mut out, "tab\tand\nline feed", 2);
        assert_eq!(out, r#""tab\tand\nline feed""#);
        // No line feed: the same as any scalar.
        let mut out = String::new();
        push_block_value(&mut out, "9.0", 2);
        assert_eq!(out, "'9.0'");
    }

    /// Every character js-yaml writes as an escape is escaped as pnpm 12 writes it (read off
    /// a lockfile pnpm 12 wrote for `link:` specifiers holding them), including DEL, which
    /// was once written raw inside the quotes (the libFuzzer finding), making the lockfile
    /// unreadable.
    #[test]
    fn double_quotes_escape_as_pnpm_writes_them() {
        let cases = [
            ("x\u{7}y", r#""x\ay""#),
            ("x\u{8}y", r#""x\by""#),
            ("x\ty", r#""x\ty""#),
            ("x\u{b}y", r#""x\vy""#),
            ("x\u{c}y", r#""x\fy""#),
            ("x\ry", r#""x\ry""#),
            ("x\u{1b}y", r#""x\ey""#),
            ("x\u{1f}y", r#""x\x1Fy""#),
            ("x\u{7f}y", r#""x\x7Fy""#),
            ("x\u{85}y", r#""x\Ny""#),
            ("x\u{9f}y", r#""x\x9Fy""#),
            ("x\u{a0}y", r#""x\_y""#),
            ("x\u{2028}y", r#""x\Ly""#),
            ("x\u{feff}y", r#""x\uFEFFy""#),
            ("x\u{fffe}y", r#""x\uFFFEy""#),
            ("x\"\u{1}\\y", r#""x\"\x01\\y""#),
            ("\u{0}", r#""\0""#),
            ("\u{2029}\u{ffff}", r#""\P\uFFFF""#),
            ("é 😀\u{1}", r#""é 😀\x01""#),
        ];
        for (input, want) in cases {
            assert_eq!(scalar(input, false), want, "{input:?}");
            assert_eq!(scalar(input, true), want, "{input:?}");
        }
        // Printable text keeps its quoting: `"` and `\` alone need no double quotes.
        assert_eq!(scalar("x\"y", false), "x\"y");
        assert_eq!(scalar("x\\y", false), "x\\y");
        assert_eq!(scalar("é\u{a1}", false), "é\u{a1}");
    }
}
