//! The live reporter, as a developer sees it on a terminal: `tack install` run under a
//! pseudo-terminal (`script`, from util-linux), so stdout is a TTY and the progress line is
//! drawn in place.

use tack_suite::registry;
use tack_suite::setup::basic_project;

/// The final progress line stays where the live one was, and the summary and `Done in` come
/// under it. (The finished line was drawn again under every later line, so a terminal showed
/// it last, below `Done in`.)
#[test]
fn on_a_terminal_the_progress_line_ends_above_the_summary() {
    let registry = registry::start();
    let project = basic_project(&registry.url());
    let command = format!(
        "{} install --frozen-lockfile --store-dir {}",
        tack_suite::tack_bin().display(),
        project.store().display()
    );
    let mut cmd = project.command(std::path::Path::new("script"));
    cmd.env_remove("CI").args(["-qec", &command, "/dev/null"]);
    let out = cmd.output().expect("run script (util-linux)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What a terminal ends up showing, line by line: each `\r` or erase returns to the
    // line's start, and the last text written on a line is what stays.
    let text = String::from_utf8_lossy(&out.stdout).replace("\u{1b}[2K", "\r");
    let shown: Vec<&str> = text
        .split('\n')
        .map(|line| {
            line.rsplit('\r')
                .find(|part| !part.trim().is_empty())
                .unwrap_or("")
        })
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .collect();
    let done = shown
        .iter()
        .position(|l| l.starts_with("Done in"))
        .unwrap_or_else(|| panic!("no Done line: {shown:#?}"));
    let progress = shown
        .iter()
        .rposition(|l| l.contains("Progress: ") && l.ends_with(", done"))
        .unwrap_or_else(|| panic!("no final progress line: {shown:#?}"));
    assert!(progress < done, "{shown:#?}");
    assert_eq!(done, shown.len() - 1, "{shown:#?}");
    assert!(shown.contains(&"+ is-odd 3.0.1"), "{shown:#?}");
}
