//! Text to [`Node`] tree, for the YAML that pnpm writes and nothing else.
//!
//! Accepted: block mappings and sequences indented by spaces, one entry per line; flow
//! mappings and sequences that open and close on one line; plain, single-quoted and
//! double-quoted scalars on one line; literal blocks as mapping values (`|`, `|-`, `|+`, with
//! an indentation indicator: how pnpm writes a multi-line `deprecated`); blank lines.
//! Everything else is refused with [`Refused`]: comments, tabs, anchors, aliases, tags, folded
//! blocks, multi-line flow scalars,
//! complex keys, document markers, sequences at their key's indent, duplicate keys, and any
//! plain scalar that YAML could read as something other than a string where the reader
//! expects one (that is judged later, in `de.rs`). A refusal is never an error: the caller
//! parses the text with the general YAML parser instead.

use std::borrow::Cow;
use std::collections::HashSet;

/// The text is not in the subset this parser accepts.
#[derive(Debug)]
pub(crate) struct Refused;

type R<T> = Result<T, Refused>;

/// Deepest nesting taken (the general parser's budget is the same): recursion stays
/// shallow whatever the input.
const MAX_DEPTH: usize = 64;

/// Most nodes taken: far above real lockfiles (a 1,500-package one has about 60k), and a
/// bound on the tree's memory for hostile input, which the general parser then refuses.
const MAX_NODES: usize = 5_000_000;

/// One YAML node. Keys are [`Node::Plain`] or [`Node::Quoted`].
#[derive(Debug, PartialEq)]
pub(crate) enum Node<'a> {
    /// `key:` with nothing after it and nothing nested.
    Null,
    /// A plain scalar: what it means (string, bool, number) depends on the reader.
    Plain(&'a str),
    /// A quoted scalar: always a string.
    Quoted(Cow<'a, str>),
    Map(Vec<(Node<'a>, Node<'a>)>),
    Seq(Vec<Node<'a>>),
}

impl Node<'_> {
    /// The text of a scalar key.
    fn key_text(&self) -> &str {
        match self {
            Node::Plain(s) => s,
            Node::Quoted(s) => s,
            _ => "",
        }
    }
}

/// A non-blank line: its indent (spaces) and its content without the indent.
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// Parses a whole document, which must be a block mapping at column 0.
pub(crate) fn parse_document(text: &str) -> R<Node<'_>> {
    let mut lines = Vec::with_capacity(text.len() / 24);
    for raw in text.split('\n') {
        let content = raw.trim_start_matches(' ');
        let content = content.trim_end_matches(' ');
        if content.is_empty() {
            continue;
        }
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        if content.starts_with(['#', '\t'])
            || content.contains('\t')
            || content.contains('\r')
            || (indent == 0 && (content.starts_with("---") || content.starts_with("...")))
        {
            return Err(Refused);
        }
        lines.push(Line {
            indent,
            text: content,
        });
    }
    let mut parser = Parser {
        src: text,
        lines,
        at: 0,
        depth: 0,
        nodes: 0,
    };
    if parser.lines.first().is_none_or(|l| l.indent != 0) {
        return Err(Refused);
    }
    let doc = parser.map(0)?;
    if parser.at != parser.lines.len() {
        return Err(Refused);
    }
    Ok(doc)
}

struct Parser<'a> {
    /// The whole document, for the raw lines of a literal block.
    src: &'a str,
    lines: Vec<Line<'a>>,
    at: usize,
    depth: usize,
    /// Nodes so far, flow nodes included.
    nodes: usize,
}

impl<'a> Parser<'a> {
    fn next_indent(&self) -> Option<usize> {
        self.lines.get(self.at).map(|l| l.indent)
    }

    /// The block node whose first line is the current one, at `indent`.
    fn block(&mut self, indent: usize) -> R<Node<'a>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Refused);
        }
        let node = if is_seq_item(self.lines[self.at].text) {
            self.seq(indent)
        } else {
            self.map(indent)
        };
        self.depth -= 1;
        node
    }

    /// A value after `key: ` or `- `, counted against the budgets.
    fn inline(&mut self, text: &'a str) -> R<Node<'a>> {
        let mut flow = Flow {
            text,
            at: 0,
            depth: self.depth,
            nodes: 0,
        };
        let node = flow.inline_value()?;
        self.count(flow.nodes + 1)?;
        Ok(node)
    }

    fn count(&mut self, n: usize) -> R<()> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(Refused);
        }
        Ok(())
    }

    fn map(&mut self, indent: usize) -> R<Node<'a>> {
        let mut entries = Vec::new();
        while let Some(line) = self.lines.get(self.at).filter(|l| l.indent == indent) {
            let text = line.text;
            if is_seq_item(text) {
                return Err(Refused);
            }
            let (key, rest) = split_key(text)?;
            self.at += 1;
            let value = if let Some(header) = rest.strip_prefix('|') {
                self.literal_block(header, indent)?
            } else if rest.is_empty() {
                match self.next_indent() {
                    Some(next) if next > indent => self.block(next)?,
                    Some(next) if next == indent && is_seq_item(self.lines[self.at].text) => {
                        return Err(Refused);
                    }
                    _ => Node::Null,
                }
            } else {
                let value = self.inline(rest)?;
                if self.next_indent().is_some_and(|next| next > indent) {
                    return Err(Refused); // a continuation line, or a stray deeper line
                }
                value
            };
            self.count(1)?;
            entries.push((key, value));
        }
        refuse_duplicates(&entries)?;
        Ok(Node::Map(entries))
    }

    /// The literal block after `key: |<header>` (the key at `indent`; `header` is a slice of
    /// its line): every line after that one that is blank or deeper than the key.
    fn literal_block(&mut self, header: &str, indent: usize) -> R<Node<'a>> {
        let header_end = self.offset(header) + header.len();
        let start = match self.src[header_end..].find('\n') {
            Some(i) => header_end + i + 1,
            None => self.src.len(),
        };
        while self.next_indent().is_some_and(|next| next > indent) {
            self.at += 1;
        }
        let end = match self.lines.get(self.at) {
            // The start of the next line that is not the block's.
            Some(next) => self.offset(next.text) - next.indent,
            None => self.src.len(),
        };
        let value = literal_text(header, &self.src[start..end], indent)?;
        self.count(1)?;
        Ok(Node::Quoted(Cow::Owned(value)))
    }

    /// Where `part`, a slice of the document, starts in it.
    fn offset(&self, part: &str) -> usize {
        part.as_ptr() as usize - self.src.as_ptr() as usize
    }

    fn seq(&mut self, indent: usize) -> R<Node<'a>> {
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.at).filter(|l| l.indent == indent) {
            let item = line.text.strip_prefix("- ").ok_or(Refused)?;
            let item = item.trim_start_matches(' ');
            if item.is_empty() || is_seq_item(item) {
                return Err(Refused);
            }
            let item = self.inline(item)?;
            items.push(item);
            self.at += 1;
            if self.next_indent().is_some_and(|next| next > indent) {
                return Err(Refused);
            }
        }
        Ok(Node::Seq(items))
    }
}

/// How a literal block ends: `-` strips every final line feed, `+` keeps them all, none
/// keeps one.
#[derive(Clone, Copy, PartialEq)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

/// A literal block's value from its header (after `|`) and its raw lines (`body`, each ended by
/// a line feed), under a key at `parent`. Only the shapes js-yaml writes are taken: an
/// optional indentation digit, then an optional `-` or `+`; lines indented at least as far as
/// the content (blank ones with no spaces past it); something that is not blank. Anything
/// else (a comment after the header, a line of spaces only past the content's indent, a
/// block at the end of a text with no last line feed) is refused, not guessed.
fn literal_text(header: &str, body: &str, parent: usize) -> R<String> {
    let (explicit, chomp) = match header.as_bytes() {
        [] => (None, Chomp::Clip),
        [b'-'] => (None, Chomp::Strip),
        [b'+'] => (None, Chomp::Keep),
        [d @ b'1'..=b'9'] => (Some(usize::from(d - b'0')), Chomp::Clip),
        [d @ b'1'..=b'9', b'-'] => (Some(usize::from(d - b'0')), Chomp::Strip),
        [d @ b'1'..=b'9', b'+'] => (Some(usize::from(d - b'0')), Chomp::Keep),
        _ => return Err(Refused),
    };
    let body = body.strip_suffix('\n').ok_or(Refused)?;
    let lines: Vec<&str> = body.split('\n').collect();
    let spaces = |line: &str| line.len() - line.trim_start_matches(' ').len();
    let is_blank = |line: &str| line.bytes().all(|b| b == b' ');
    let first_text = lines.iter().find(|l| !is_blank(l)).ok_or(Refused)?;
    let content = match explicit {
        Some(digit) => parent + digit,
        None => spaces(first_text),
    };
    if content <= parent {
        return Err(Refused);
    }
    let mut out = String::with_capacity(body.len());
    let mut any_text = false;
    let mut breaks = 0;
    for line in lines {
        if is_blank(line) {
            if line.len() > content {
                return Err(Refused);
            }
            breaks += 1;
            continue;
        }
        if spaces(line) < content {
            return Err(Refused);
        }
        // The line feeds since the last line of text: its own, and one per blank line.
        out.extend(std::iter::repeat_n('\n', breaks + usize::from(any_text)));
        out.push_str(&line[content..]);
        any_text = true;
        breaks = 0;
    }
    match chomp {
        Chomp::Strip => {}
        Chomp::Clip => out.push('\n'),
        Chomp::Keep => out.extend(std::iter::repeat_n('\n', breaks + 1)),
    }
    Ok(out)
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits `key: value` (or `key:`) into the key and the value text (empty when none).
fn split_key(text: &str) -> R<(Node<'_>, &str)> {
    let (key, after) = match text.as_bytes()[0] {
        b'\'' | b'"' => {
            let (key, used) = quoted(text)?;
            (Node::Quoted(key), &text[used..])
        }
        _ => {
            let end = match text.find(": ") {
                Some(i) => i,
                None if text.ends_with(':') => text.len() - 1,
                None => return Err(Refused),
            };
            let key = &text[..end];
            // `<<` is a merge key to the general parser (and to pnpm's js-yaml), which refuses
            // one whose value is not a mapping, even in a section nobody reads.
            if !plain_ok(key, false) || key == "<<" {
                return Err(Refused);
            }
            (Node::Plain(key), &text[end..])
        }
    };
    let rest = after.strip_prefix(':').ok_or(Refused)?;
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(Refused);
    }
    Ok((key, rest.trim_start_matches(' ')))
}

/// Whether `text` can stand as a plain scalar here and mean itself: no indicator first, no
/// `: ` or ` #` inside, no `:` last, and in flow context none of `,[]{}`.
fn plain_ok(text: &str, in_flow: bool) -> bool {
    let bytes = text.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if matches!(
        first,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
            | b' '
    ) {
        return false;
    }
    if last == b':' || last == b' ' {
        return false;
    }
    if text.contains(": ") || text.contains(" #") {
        return false;
    }
    !(in_flow && text.contains([',', '[', ']', '{', '}']))
}

/// A quoted scalar at the start of `text`: its value and how many bytes it took.
fn quoted(text: &str) -> R<(Cow<'_, str>, usize)> {
    match text.as_bytes()[0] {
        b'\'' => single_quoted(text),
        _ => double_quoted(text),
    }
}

fn single_quoted(text: &str) -> R<(Cow<'_, str>, usize)> {
    let body = &text[1..];
    let mut owned: Option<String> = None;
    let mut start = 0;
    let mut i = 0;
    let bytes = body.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                let out = owned.get_or_insert_with(String::new);
                out.push_str(&body[start..=i]);
                i += 2;
                start = i;
                continue;
            }
            let value = match owned {
                Some(mut out) => {
                    out.push_str(&body[start..i]);
                    Cow::Owned(out)
                }
                None => Cow::Borrowed(&body[..i]),
            };
            return Ok((value, i + 2));
        }
        i += 1;
    }
    Err(Refused)
}

fn double_quoted(text: &str) -> R<(Cow<'_, str>, usize)> {
    let body = &text[1..];
    let bytes = body.as_bytes();
    let mut out: Option<String> = None;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let value = match out {
                    Some(mut s) => {
                        s.push_str(&body[start..i]);
                        Cow::Owned(s)
                    }
                    None => Cow::Borrowed(&body[..i]),
                };
                return Ok((value, i + 2));
            }
            b'\\' => {
                let s = out.get_or_insert_with(String::new);
                s.push_str(&body[start..i]);
                let escape = *bytes.get(i + 1).ok_or(Refused)?;
                let (c, used) = match escape {
                    b'\\' => ('\\', 2),
                    b'"' => ('"', 2),
                    b'/' => ('/', 2),
                    b' ' => (' ', 2),
                    b'0' => ('\0', 2),
                    b'a' => ('\u{7}', 2),
                    b'b' => ('\u{8}', 2),
                    b't' => ('\t', 2),
                    b'n' => ('\n', 2),
                    b'v' => ('\u{b}', 2),
                    b'f' => ('\u{c}', 2),
                    b'r' => ('\r', 2),
                    b'e' => ('\u{1b}', 2),
                    // Two-byte characters: the escape names one, whatever its length.
                    b'N' => ('\u{85}', 2),
                    b'_' => ('\u{a0}', 2),
                    b'L' => ('\u{2028}', 2),
                    b'P' => ('\u{2029}', 2),
                    b'x' => (hex_char(body, i + 2, 2)?, 4),
                    b'u' => (hex_char(body, i + 2, 4)?, 6),
                    b'U' => (hex_char(body, i + 2, 8)?, 10),
                    _ => return Err(Refused),
                };
                s.push(c);
                i += used;
                start = i;
            }
            _ => i += 1,
        }
    }
    Err(Refused)
}

fn hex_char(body: &str, at: usize, len: usize) -> R<char> {
    let digits = body.get(at..at + len).ok_or(Refused)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Refused);
    }
    let code = u32::from_str_radix(digits, 16).map_err(|_| Refused)?;
    char::from_u32(code).ok_or(Refused)
}

/// A value on one line: a scalar, or a flow collection that opens and closes on it.
struct Flow<'a> {
    text: &'a str,
    at: usize,
    /// Nesting depth so far, the enclosing blocks included.
    depth: usize,
    /// Nodes read so far.
    nodes: usize,
}

impl<'a> Flow<'a> {
    /// The value written after `key: ` or `- `, which must use up all of the text.
    fn inline_value(&mut self) -> R<Node<'a>> {
        let text = self.text;
        match text.as_bytes()[0] {
            b'{' | b'[' => {
                let node = self.value()?;
                self.skip_spaces();
                if self.at != text.len() {
                    return Err(Refused);
                }
                Ok(node)
            }
            b'\'' | b'"' => {
                let (value, used) = quoted(text)?;
                if used != text.len() {
                    return Err(Refused);
                }
                Ok(Node::Quoted(value))
            }
            _ if plain_ok(text, false) => Ok(Node::Plain(text)),
            _ => Err(Refused),
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        self.nodes += 1;
        if self.depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return Err(Refused);
        }
        Ok(())
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn value(&mut self) -> R<Node<'a>> {
        self.skip_spaces();
        self.nodes += 1;
        match self.peek().ok_or(Refused)? {
            b'{' => self.map(),
            b'[' => self.seq(),
            b'\'' | b'"' => {
                let (value, used) = quoted(&self.text[self.at..])?;
                self.at += used;
                Ok(Node::Quoted(value))
            }
            _ => {
                let rest = &self.text[self.at..];
                let end = rest.find([',', ']', '}']).unwrap_or(rest.len());
                let plain = rest[..end].trim_end_matches(' ');
                if !plain_ok(plain, true) {
                    return Err(Refused);
                }
                self.at += end;
                Ok(Node::Plain(plain))
            }
        }
    }

    fn key(&mut self) -> R<Node<'a>> {
        self.skip_spaces();
        let key = match self.peek().ok_or(Refused)? {
            b'\'' | b'"' => {
                let (key, used) = quoted(&self.text[self.at..])?;
                self.at += used;
                Node::Quoted(key)
            }
            _ => {
                let rest = &self.text[self.at..];
                let end = rest.find(": ").ok_or(Refused)?;
                let plain = &rest[..end];
                if !plain_ok(plain, true) {
                    return Err(Refused);
                }
                self.at += end;
                Node::Plain(plain)
            }
        };
        if !self.text[self.at..].starts_with(": ") {
            return Err(Refused);
        }
        self.at += 2;
        Ok(key)
    }

    fn map(&mut self) -> R<Node<'a>> {
        self.enter()?;
        self.at += 1; // `{`
        self.skip_spaces();
        let mut entries = Vec::new();
        if self.peek() == Some(b'}') {
            self.at += 1;
            self.depth -= 1;
            return Ok(Node::Map(entries));
        }
        loop {
            let key = self.key()?;
            let value = self.value()?;
            entries.push((key, value));
            self.skip_spaces();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    break;
                }
                _ => return Err(Refused),
            }
        }
        refuse_duplicates(&entries)?;
        self.depth -= 1;
        Ok(Node::Map(entries))
    }

    fn seq(&mut self) -> R<Node<'a>> {
        self.enter()?;
        self.at += 1; // `[`
        self.skip_spaces();
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.at += 1;
            self.depth -= 1;
            return Ok(Node::Seq(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_spaces();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    break;
                }
                _ => return Err(Refused),
            }
        }
        self.depth -= 1;
        Ok(Node::Seq(items))
    }
}

/// A repeated key is refused: the general parser decides what it means (or reports it).
fn refuse_duplicates(entries: &[(Node<'_>, Node<'_>)]) -> R<()> {
    if entries.len() <= 12 {
        for (i, (a, _)) in entries.iter().enumerate() {
            if entries[..i]
                .iter()
                .any(|(b, _)| b.key_text() == a.key_text())
            {
                return Err(Refused);
            }
        }
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(entries.len());
    for (key, _) in entries {
        if !seen.insert(key.key_text()) {
            return Err(Refused);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> Node<'_> {
        Node::Plain(s)
    }

    #[test]
    fn pnpm_shapes() {
        let doc = parse_document(
            "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n\npackages:\n\n  '@a/b@1.0.0':\n    resolution: {integrity: sha512-x==, tarball: https://h/x.tgz}\n    engines: {node: '>=18'}\n    cpu: [x64, arm64]\n    deprecated: \"it's \\\"old\\\"\"\n\nsnapshots:\n\n  c@1.0.0:\n    dependencies:\n      d: 2.0.0(e@1.0.0)\n    transitivePeerDependencies:\n      - supports-color\n    optional: true\n  e@1.0.0: {}\n",
        )
        .unwrap();
        let Node::Map(top) = doc else { panic!() };
        assert_eq!(
            top[0],
            (plain("lockfileVersion"), Node::Quoted("9.0".into()))
        );
        let Node::Map(packages) = &top[2].1 else {
            panic!()
        };
        assert_eq!(packages[0].0, Node::Quoted("@a/b@1.0.0".into()));
        let Node::Map(fields) = &packages[0].1 else {
            panic!()
        };
        assert_eq!(
            fields[0].1,
            Node::Map(vec![
                (plain("integrity"), plain("sha512-x==")),
                (plain("tarball"), plain("https://h/x.tgz")),
            ])
        );
        assert_eq!(fields[2].1, Node::Seq(vec![plain("x64"), plain("arm64")]));
        assert_eq!(fields[3].1, Node::Quoted("it's \"old\"".into()));
        let Node::Map(snapshots) = &top[3].1 else {
            panic!()
        };
        let Node::Map(c) = &snapshots[0].1 else {
            panic!()
        };
        assert_eq!(c[1].1, Node::Seq(vec![plain("supports-color")]));
        assert_eq!(snapshots[1].1, Node::Map(vec![]));
    }

    /// Literal blocks as js-yaml writes them, under a key at column 2, with what YAML reads.
    #[test]
    fn literal_blocks() {
        let cases = [
            ("|-\n    one\n    two\n", "one\ntwo"),
            ("|\n    one\n", "one\n"),
            ("|+\n    one\n\n", "one\n\n"),
            ("|+\n    one\n\n\n", "one\n\n\n"),
            ("|2-\n     space\n    x\n", " space\nx"),
            ("|-\n\n    after a blank\n", "\nafter a blank"),
            ("|-\n    a\n\n\n    b\n", "a\n\n\nb"),
            ("|-\n    a\n  \n    b\n", "a\n\nb"),
            ("|2-\n      deeper\n    x\n", "  deeper\nx"),
            ("|-\n    x\n      deeper\n", "x\n  deeper"),
            (
                "|-\n    k: v # not a comment\n    - x\n",
                "k: v # not a comment\n- x",
            ),
            (
                "|-   \n    trailing spaces after the header\n",
                "trailing spaces after the header",
            ),
        ];
        for (block, want) in cases {
            let text = format!("a:\n  b: {block}  c: d\n");
            let doc = parse_document(&text).unwrap_or_else(|_| panic!("{text:?} refused"));
            let Node::Map(top) = doc else { panic!() };
            let Node::Map(fields) = &top[0].1 else {
                panic!()
            };
            assert_eq!(fields[0].1, Node::Quoted(want.into()), "{text:?}");
            assert_eq!(fields[1], (plain("c"), plain("d")), "{text:?}");
        }
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for text in [
            "a: 1 # comment\n",
            "# comment\na: 1\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: >\n  text\n",
            "a: |\n",
            "a: |\n\n",
            "a: |-  # comment\n  text\n",
            "a: |-2\n  text\n",
            "a: |\n  text\n x\n",
            "a: |\n    deeper first\n  x\n",
            "a: |\n   \n  text\n",
            "a: |\n  text",
            "a:\n  - |\n    text\n",
            "a:\n  <<: b\n",
            "a: one\n  two\n",
            "a:\n- x\n",
            "a: 1\na: 2\n",
            "a: {b: 1,\n  c: 2}\n",
            "? a\n: b\n",
            "---\na: 1\n",
            "a:\tb\n",
            "a: 'open\n",
            "a: b: c\n",
            "a:b\n",
            " a: 1\n",
            "a:\n  - - x\n",
            "a:\n  - b: c\n",
            "a: {b: 1, }\n",
            "a: \"\\q\"\n",
            "a:\n    b: 1\n  c: 2\n",
        ] {
            assert!(parse_document(text).is_err(), "{text:?}");
        }
    }
}
