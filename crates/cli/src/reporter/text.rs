//! The human-readable reporters: a live progress line on a terminal (indicatif) and plain
//! appended lines in CI, both in pnpm's wording.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::{Counters, Event, ReporterKind, ScriptLine, SummaryEntry, SummaryTarget, Verification};

/// pnpm throttles progress to 200 ms on a TTY and 1000 ms in append-only mode.
const TTY_THROTTLE: Duration = Duration::from_millis(200);
const APPEND_ONLY_THROTTLE: Duration = Duration::from_millis(1000);

pub(super) struct TextState {
    bar: Option<ProgressBar>,
    throttle: Duration,
    last_progress: Option<Instant>,
    progress_done: bool,
    /// The workspace root relative to the project tack runs in, when that is not the root.
    pub(super) workspace_prefix: Option<String>,
    /// `--no-progress`: no `Progress:` line, live or appended.
    no_progress: bool,
    /// `--use-stderr`: every line goes to stderr.
    to_stderr: bool,
}

impl TextState {
    pub(super) fn new(kind: ReporterKind, options: super::ReporterOptions) -> Self {
        let live = kind == ReporterKind::Default && !options.no_progress;
        let bar = live.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        TextState {
            bar,
            throttle: if kind == ReporterKind::Default {
                TTY_THROTTLE
            } else {
                APPEND_ONLY_THROTTLE
            },
            // A live line shows the first count at once; appended lines start after one
            // interval, as pnpm 12's do (a quick install prints only its final line).
            last_progress: (kind != ReporterKind::Default).then(Instant::now),
            progress_done: false,
            workspace_prefix: None,
            no_progress: options.no_progress,
            to_stderr: options.use_stderr,
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => self.out(text),
        }
    }

    /// One line where output goes: stdout, or stderr with `--use-stderr`.
    fn out(&self, text: &str) {
        if self.to_stderr {
            stderr_line(text);
        } else {
            stdout_line(text);
        }
    }

    fn progress(&mut self, counters: &Counters, done: bool) {
        if self.progress_done || self.no_progress {
            return;
        }
        let now = Instant::now();
        let due = self
            .last_progress
            .is_none_or(|last| now.duration_since(last) >= self.throttle);
        if !done && !due {
            return;
        }
        // pnpm 12 draws the line from progress events: an install that resolved nothing (a
        // re-install that only removes packages) has none, and no line.
        if done && counters.is_zero() {
            self.progress_done = true;
            return;
        }
        self.last_progress = Some(now);
        let mut text = counters.progress_line(done);
        if let Some(prefix) = &self.workspace_prefix {
            text = format!("{:<40} | {text}", script_prefix(prefix));
        }
        match &self.bar {
            Some(bar) if !done => bar.set_message(text),
            // The final count stays where the live line was, and what follows is printed
            // under it (a finished bar is drawn again under every later line, so it ended up
            // below "Done in").
            Some(_) => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                self.out(&text);
            }
            None => self.out(&text),
        }
        self.progress_done = done;
    }

    pub(super) fn emit(&mut self, event: &Event, counters: &Counters) {
        match event {
            Event::Context {
                store_dir,
                virtual_store_dir,
            } => {
                self.line("Packages are hard linked from the content-addressable store to the virtual store.");
                self.line(&format!("  Content-addressable store is at: {store_dir}"));
                self.line(&format!(
                    "  Virtual store is at:             {virtual_store_dir}"
                ));
            }
            Event::Scope { projects } => {
                self.line(&format!("Scope: all {projects} workspace projects"))
            }
            // pnpm 12 names no scope for one project.
            Event::ScopeSelected { selected: 1, .. } => {}
            Event::ScopeSelected { selected, projects } if selected == projects => {
                self.line(&format!("Scope: all {projects} workspace projects"))
            }
            Event::ScopeSelected { selected, projects } => self.line(&format!(
                "Scope: {selected} of {projects} workspace projects"
            )),
            Event::ScopeNone { projects } => {
                self.line(&format!("Scope: 0 of {projects} workspace projects"))
            }
            Event::LockfileUpToDate => {
                if self.workspace_prefix.is_none() {
                    self.line("Lockfile is up to date, resolution step is skipped")
                }
            }
            Event::Resolved { .. }
            | Event::FoundInStore { .. }
            | Event::Fetched { .. }
            | Event::Imported { .. } => self.progress(counters, false),
            Event::Retry {
                package_id,
                attempt,
                reason,
            } => self.line(&format!(
                "[WARN] GET of {package_id} failed ({reason}); retry {attempt}"
            )),
            // pnpm 12 prints no line per skipped package (a platform package of esbuild or
            // rollup is skipped on every install); the summary lists the project's own skipped
            // optional dependencies as removed.
            Event::SkippedOptional { .. } | Event::SkippedOptionalBuild { .. } => {}
            // pnpm 12 prints its warnings where it prints everything else, as `[WARN] …`.
            Event::Warning(message) => self.line(&format!("[WARN] {message}")),
            Event::EarlyWarning(message) => stderr_line(&format!("[WARN] {message}")),
            Event::LockfileVerification { status, .. } => self.line(&match status {
                Verification::Started { entries } => format!(
                    "? Verifying lockfile against supply-chain policies ({entries} {})...",
                    entry_word(*entries)
                ),
                Verification::Passed { entries, elapsed } => format!(
                    "✓ Lockfile passes supply-chain policies ({entries} {} in {})",
                    entry_word(*entries),
                    short_duration(*elapsed)
                ),
                Verification::Failed { entries, elapsed } => format!(
                    "✗ Lockfile failed supply-chain policy check ({entries} {} in {})",
                    entry_word(*entries),
                    short_duration(*elapsed)
                ),
                Verification::Cached { ago, .. } => format!(
                    "✓ Lockfile passes supply-chain policies (verified {} ago)",
                    short_duration(*ago)
                ),
            }),
            Event::Info(message) => {
                for line in message.lines() {
                    self.line(line);
                }
            }
            // pnpm 12's default reporter says nothing when it applies a patch (the ndjson
            // reporter records it).
            Event::Script {
                line: ScriptLine::Patched(_),
                ..
            } => {}
            Event::Script {
                prefix,
                stage,
                line,
            } => self.line(&match line {
                ScriptLine::Started(script) => {
                    format!("{} {stage}$ {script}", script_prefix(prefix))
                }
                ScriptLine::Output { line, .. } => {
                    format!("{} {stage}: {line}", script_prefix(prefix))
                }
                ScriptLine::Finished { success: true, .. } => {
                    format!("{} {stage}: Done", script_prefix(prefix))
                }
                // pnpm 12 gives the exit status in the error, not on this line.
                ScriptLine::Finished { .. } => format!("{} {stage}: Failed", script_prefix(prefix)),
                ScriptLine::Patched(_) => return,
            }),
            // pnpm 12 prints the package counts, then the final progress line.
            Event::ImportingDone { added, removed } => {
                let mut text = String::from("Packages:");
                if *added > 0 {
                    text.push_str(&format!(" +{added}"));
                }
                if *removed > 0 {
                    text.push_str(&format!(" -{removed}"));
                }
                if (*added > 0 || *removed > 0) && self.workspace_prefix.is_none() {
                    self.line(&text);
                    self.line(&plus_minus_bar(*added, *removed));
                }
                self.progress(counters, true);
            }
            Event::Summary(entries) => {
                for line in summary_lines(entries) {
                    self.line(&line);
                }
            }
            Event::AlreadyUpToDate => {
                if self.workspace_prefix.is_none() {
                    self.line("Already up to date")
                }
            }
            Event::Done { elapsed } => self.line(&format!(
                "Done in {} using tack v{}",
                format_elapsed(*elapsed),
                env!("CARGO_PKG_VERSION")
            )),
        }
    }
}

/// One line on stdout. A closed stdout (`tack install | head`) must not end the install
/// halfway: `println!` panics on `EPIPE`, and the lines are only a report.
fn stdout_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// One line on stderr, as [`stdout_line`].
fn stderr_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// A script's package directory as pnpm 12 prints it before each line: as it is up to 37
/// characters; longer, `...` and the end of it, from the first `/` of its last 37 characters
/// (`.../core-js@3.51.0/node_modules/core-js`).
fn script_prefix(prefix: &str) -> std::borrow::Cow<'_, str> {
    const KEPT: usize = 37;
    let chars = prefix.chars().count();
    if chars <= KEPT {
        return prefix.into();
    }
    let tail_start = prefix
        .char_indices()
        .nth(chars - KEPT)
        .map_or(0, |(at, _)| at);
    let tail = &prefix[tail_start..];
    match tail.find('/') {
        Some(slash) if slash > 0 => format!("...{}", &tail[slash..]).into(),
        _ => format!("...{tail}").into(),
    }
}

/// One `+`/`-` per package, capped at a terminal-ish width like pnpm's scaled bar. Scaled,
/// each sign that has a count keeps at least one character, as pnpm 12 keeps it (`+4 -897`
/// is one `+` and 79 `-`).
fn plus_minus_bar(added: usize, removed: usize) -> String {
    const WIDTH: usize = 80;
    let total = added + removed;
    let (plus, minus) = if total > WIDTH {
        let plus = added * WIDTH / total;
        let plus = if added > 0 && removed > 0 {
            plus.clamp(1, WIDTH - 1)
        } else {
            plus
        };
        (plus, WIDTH - plus)
    } else {
        (added, removed)
    };
    format!("{}{}", "+".repeat(plus), "-".repeat(minus))
}

/// The per-group summary: a blank line, `dependencies:`, then `+ name version` lines.
pub(crate) fn summary_lines(entries: &[SummaryEntry]) -> Vec<String> {
    let mut entries = entries.to_vec();
    // By name; a removed version before the one that replaces it, whichever is higher.
    entries.sort();
    let mut lines = Vec::new();
    let mut group = None;
    for entry in &entries {
        if group != Some(entry.group) {
            lines.push(String::new());
            lines.push(format!("{}:", entry.group.label()));
            group = Some(entry.group);
        }
        let sign = if entry.added { '+' } else { '-' };
        let alias = &entry.alias;
        lines.push(match &entry.target {
            SummaryTarget::Package { name, version } if name == alias => {
                format!("{sign} {name} {version}")
            }
            SummaryTarget::Package { name, version } => {
                format!("{sign} {alias} <- {name} {version}")
            }
            SummaryTarget::Link(path) => format!("{sign} {alias} <- {path}"),
            SummaryTarget::AliasOnly => format!("{sign} {alias}"),
        });
    }
    if !lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// pnpm prints `232ms` under a second and `1.2s` above.
pub(crate) fn format_elapsed(elapsed: Duration) -> String {
    let ms = elapsed.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", elapsed.as_secs_f64())
    }
}

/// `24ms`, `3s`, `2m`, `5h`, `3d`, as pnpm writes the check's durations.
fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{}ms", d.as_millis()),
        1..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// pnpm's noun for a count of lockfile entries.
fn entry_word(entries: usize) -> &'static str {
    if entries == 1 {
        "entry"
    } else {
        "entries"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_durations_are_short() {
        assert_eq!(short_duration(Duration::from_millis(24)), "24ms");
        assert_eq!(short_duration(Duration::from_secs(125)), "2m");
        assert_eq!(short_duration(Duration::from_secs(3 * 86_400)), "3d");
    }
    use crate::reporter::DepGroup;

    #[test]
    fn summary_groups_and_aliases() {
        let entries = vec![
            SummaryEntry {
                group: DepGroup::DevDependencies,
                alias: "is-odd".into(),
                target: SummaryTarget::package("is-odd", "3.0.1"),
                added: true,
            },
            SummaryEntry {
                group: DepGroup::Dependencies,
                alias: "my-alias".into(),
                target: SummaryTarget::package("is-number", "6.0.0"),
                added: true,
            },
            SummaryEntry {
                group: DepGroup::Dependencies,
                alias: "linked".into(),
                target: SummaryTarget::Link("../linked".into()),
                added: true,
            },
        ];
        assert_eq!(
            summary_lines(&entries),
            vec![
                "",
                "dependencies:",
                "+ linked <- ../linked",
                "+ my-alias <- is-number 6.0.0",
                "",
                "devDependencies:",
                "+ is-odd 3.0.1",
                ""
            ]
        );
    }

    /// pnpm lists a replaced version (`-`) before its replacement (`+`), the higher first or
    /// not (observed with pnpm 12: `- moment 2.31.0` then `+ moment 2.29.4`).
    #[test]
    fn a_removed_version_comes_before_its_replacement() {
        let entry = |version: &str, added: bool| SummaryEntry {
            group: DepGroup::Dependencies,
            alias: "moment".into(),
            target: SummaryTarget::package("moment", version),
            added,
        };
        let lines = summary_lines(&[entry("2.29.4", true), entry("2.31.0", false)]);
        assert_eq!(lines[2..4], ["- moment 2.31.0", "+ moment 2.29.4"]);
    }

    /// Observed with pnpm 12.21 (dependency scripts of packages with names of several lengths).
    #[test]
    fn script_prefixes_are_shortened_like_pnpm() {
        let cases = [
            ("node_modules/.pnpm/sh@1.0.0/node_modules/sh", ".../.pnpm/sh@1.0.0/node_modules/sh"),
            ("node_modules/.pnpm/core-js@3.51.0/node_modules/core-js", ".../core-js@3.51.0/node_modules/core-js"),
            ("node_modules/.pnpm/tack-build-dep@1.0.0/node_modules/tack-build-dep", ".../node_modules/tack-build-dep"),
            ("node_modules/.pnpm/mid-length-name-pkg@1.0.0/node_modules/mid-length-name-pkg", ".../node_modules/mid-length-name-pkg"),
            ("node_modules/.pnpm/@tack-test+a-really-long-package-name-for-prefix@1.0.0/node_modules/@tack-test/a-really-long-package-name-for-prefix", "...a-really-long-package-name-for-prefix"),
            ("packages/a", "packages/a"),
            (".", "."),
        ];
        for (prefix, shown) in cases {
            assert_eq!(script_prefix(prefix), shown, "{prefix}");
        }
    }

    #[test]
    fn elapsed_format_matches_pnpm() {
        assert_eq!(format_elapsed(Duration::from_millis(232)), "232ms");
        assert_eq!(format_elapsed(Duration::from_millis(3400)), "3.4s");
    }

    #[test]
    fn bar_is_scaled() {
        assert_eq!(plus_minus_bar(3, 1), "+++-");
        assert_eq!(plus_minus_bar(800, 0).len(), 80);
        assert_eq!(plus_minus_bar(124, 48).matches('+').count(), 57);
        assert_eq!(plus_minus_bar(4, 897), format!("+{}", "-".repeat(79)));
        assert_eq!(plus_minus_bar(897, 4), format!("{}-", "+".repeat(79)));
    }
}
