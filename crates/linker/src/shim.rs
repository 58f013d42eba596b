//! The text of a POSIX bin shim, byte-for-byte in pnpm 12's form.
//!
//! pnpm 12 writes a `sh` script that resolves `$0` through symlinks, sets `NODE_PATH` from
//! paths relative to the shim's real directory, runs the target with `node` (or the program
//! named by the target's shebang), and ends with a `# cmd-shim-target=<target>` trailer. Tools
//! (and pnpm itself) compare shims by text, so the text must match exactly; the fixed
//! header is the one observed from a real pnpm 12.21.0 install (`shim_header.sh`).

use std::fmt::Write as _;

const HEADER: &str = include_str!("shim_header.sh");

/// The interpreter a target asks for in its shebang line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// The program (`node`, `sh`, …).
    pub prog: String,
    /// Arguments after the program (`--harmony`), possibly empty.
    pub args: String,
}

impl Default for Interpreter {
    fn default() -> Self {
        Interpreter {
            prog: "node".to_string(),
            args: String::new(),
        }
    }
}

/// Reads the shebang of a script's first line as pnpm 12's cmd-shim does
/// (`^#!\s*(?:/usr/bin/env(?:\s+-S)?\s*)?([^ \t]+)(.*)$`): the program keeps its path
/// (`#!/bin/sh -e` → `/bin/sh`), and the arguments are the rest of the line as written, their
/// leading blank included (` -e`), which the shim puts after one more space. No shebang →
/// `node` (JS files are what bins usually are).
pub fn interpreter_from_script(first_bytes: &[u8]) -> Interpreter {
    let line_end = first_bytes
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(first_bytes.len());
    let Ok(line) = std::str::from_utf8(&first_bytes[..line_end]) else {
        return Interpreter::default();
    };
    let Some(rest) = line.trim_end_matches('\r').strip_prefix("#!") else {
        return Interpreter::default();
    };
    let rest = rest.trim_start();
    if let Some(after_env) = rest.strip_prefix("/usr/bin/env") {
        let blank = after_env.trim_start();
        let with_s = (blank.len() < after_env.len())
            .then(|| blank.strip_prefix("-S"))
            .flatten()
            .and_then(|after_s| program_and_args(after_s.trim_start()));
        if let Some(found) = with_s.or_else(|| program_and_args(blank)) {
            return found;
        }
    }
    program_and_args(rest).unwrap_or_default()
}

/// The program (up to the first space or tab) and the rest of `text`; `None` when there is
/// no program.
fn program_and_args(text: &str) -> Option<Interpreter> {
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    (end > 0).then(|| Interpreter {
        prog: text[..end].to_string(),
        args: text[end..].to_string(),
    })
}

/// Quotes `s` for `sh` inside single quotes (`'` becomes `'\''`).
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The shim text. `target` is the target's path relative to the shim's directory, with `/`
/// separators; `trailer` is the same target as the `# cmd-shim-target=` line names it (pnpm 12
/// writes it absolute when it lies outside the project, see [`ShimPaths`](crate::bins)). Each
/// `node_path` entry is relative to the shim's directory, or absolute (starting with `/`):
/// pnpm 12 writes a run of absolute entries as one quoted string.
pub fn posix_shim(
    target: &str,
    trailer: &str,
    node_path: &[String],
    interpreter: &Interpreter,
) -> String {
    // Written in place (`writeln!` into one `String`): about 600 shims for the medium fixture.
    let mut out = String::with_capacity(HEADER.len() + 1600);
    out.push_str(HEADER);
    if !node_path.is_empty() {
        let mut joined = String::new();
        let mut i = 0;
        while i < node_path.len() {
            if i > 0 {
                joined.push(':');
            }
            if node_path[i].starts_with('/') {
                let run = node_path[i..]
                    .iter()
                    .take_while(|p| p.starts_with('/'))
                    .count();
                joined.push_str(&sh_quote(&node_path[i..i + run].join(":")));
                i += run;
            } else {
                joined.push_str("\"$basedir_abs\"/");
                joined.push_str(&sh_quote(&node_path[i]));
                i += 1;
            }
        }
        out.push_str("if [ -z \"$NODE_PATH\" ]; then\n");
        let _ = writeln!(out, "  export NODE_PATH={joined}");
        out.push_str("else\n");
        let _ = writeln!(out, "  export NODE_PATH={joined}:\"$NODE_PATH\"");
        out.push_str("fi\n");
    }
    let prog = &interpreter.prog;
    let args = &interpreter.args;
    let t = sh_quote(target);
    let abs = format!("\"$basedir_abs\"/{t}");
    let win = format!("\"$basedir_win\"/{t}");
    if prog.is_empty() {
        // A target without an interpreter (a native binary) is executed directly.
        let _ = writeln!(out, "exec {abs} {args} \"$@\"\nexit $?");
        let _ = writeln!(out, "# cmd-shim-target={trailer}");
        return out;
    }
    let _ = writeln!(
        out,
        "if [ -n \"$exe\" ] && [ -x \"$basedir/{prog}.exe\" ]; then\n  exec \"$basedir/{prog}.exe\" {args} {win} \"$@\""
    );
    let _ = writeln!(
        out,
        "elif [ -x \"$basedir/{prog}\" ]; then\n  exec \"$basedir/{prog}\" {args} {abs} \"$@\""
    );
    let _ = writeln!(
        out,
        "elif [ -n \"$msys\" ] && command -v {prog} >/dev/null 2>&1; then\n  exec {prog} {args} {win} \"$@\""
    );
    let _ = writeln!(
        out,
        "elif command -v {prog} >/dev/null 2>&1; then\n  exec {prog} {args} {abs} \"$@\""
    );
    let _ = writeln!(
        out,
        "elif [ -n \"$exe\" ] && command -v {prog}.exe >/dev/null 2>&1; then\n  exec {prog}.exe {args} {win} \"$@\""
    );
    let _ = writeln!(out, "else\n  exec {prog} {args} {abs} \"$@\"\nfi");
    let _ = writeln!(out, "# cmd-shim-target={trailer}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(
            interpreter_from_script(b"#!/usr/bin/env node\nx").prog,
            "node"
        );
        let i = interpreter_from_script(b"#!/bin/sh -e\r\n");
        assert_eq!((i.prog.as_str(), i.args.as_str()), ("/bin/sh", " -e"));
        assert_eq!(interpreter_from_script(b"console.log(1)").prog, "node");
        let i = interpreter_from_script(b"#!/usr/bin/env -S node --no-warnings\n");
        assert_eq!(
            (i.prog.as_str(), i.args.as_str()),
            ("node", " --no-warnings")
        );
        let i = interpreter_from_script(b"#! /usr/bin/env node\n");
        assert_eq!((i.prog.as_str(), i.args.as_str()), ("node", ""));
        let i = interpreter_from_script(b"#!/usr/bin/env NODE_ENV=production node\n");
        assert_eq!(
            (i.prog.as_str(), i.args.as_str()),
            ("NODE_ENV=production", " node")
        );
        // Nothing after `env -S`: `-S` is the program, as the expression backtracks.
        let i = interpreter_from_script(b"#!/usr/bin/env -S\n");
        assert_eq!((i.prog.as_str(), i.args.as_str()), ("-S", ""));
        let i = interpreter_from_script(b"#!/usr/bin/env\n");
        assert_eq!((i.prog.as_str(), i.args.as_str()), ("/usr/bin/env", ""));
    }

    /// Under the global virtual store pnpm 12 names what lies outside the project absolutely,
    /// a run of such `NODE_PATH` entries in one quoted string (observed from pnpm 12.21).
    #[test]
    fn absolute_node_path_entries_and_trailer() {
        let node_path = [
            "/s/links/x/node_modules/x/node_modules".to_string(),
            "/s/links/x/node_modules".to_string(),
            "../.pnpm/node_modules".to_string(),
        ];
        let text = posix_shim(
            "../../s/x/bin.js",
            "/s/links/x/node_modules/x/bin.js",
            &node_path,
            &Interpreter::default(),
        );
        assert!(text.contains(
            "  export NODE_PATH='/s/links/x/node_modules/x/node_modules:/s/links/x/node_modules':\
             \"$basedir_abs\"/'../.pnpm/node_modules'\n"
        ));
        assert!(text.contains("exec node  \"$basedir_abs\"/'../../s/x/bin.js' \"$@\""));
        assert!(text.ends_with("# cmd-shim-target=/s/links/x/node_modules/x/bin.js\n"));
    }

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("a'b"), "'a'\\''b'");
    }
}
