//! The one error type the binary prints. Every crate's error maps into it with its stable code
//! (`ERR_PNPM_*` where pnpm has one), and it renders as a miette report:
//! `Error: ERR_PNPM_<CODE>`, the message, and what to do next.

use std::fmt;
use std::io::IsTerminal;

use miette::Diagnostic;

#[derive(Debug)]
pub struct CliError {
    pub code: String,
    pub message: String,
    pub help: Option<String>,
}

impl CliError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        CliError {
            code: code.into(),
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl Diagnostic for CliError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }
}

/// Converts any crate error that has a `code()` into a [`CliError`].
#[macro_export]
macro_rules! impl_from_coded {
    ($($ty:ty),* $(,)?) => {$(
        impl From<$ty> for $crate::error::CliError {
            fn from(err: $ty) -> Self {
                $crate::error::CliError::new(err.code(), err.to_string())
            }
        }
    )*};
}

/// Prints the error the way pnpm 12 does (`Error: ERR_PNPM_…` then a miette box) on stderr.
///
/// Paths and URLs stay whole, so they can be copied: a CI log (stderr not a terminal) gets
/// no wrapping at all, and a terminal's wrapping breaks lines only at spaces.
pub fn print(err: &CliError) {
    let wrap = std::io::stderr().is_terminal();
    // Fails only when a hook is already set, which then stays.
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .wrap_lines(wrap)
                .break_words(false)
                .word_separator(textwrap::WordSeparator::AsciiSpace)
                .build(),
        )
    }));
    // The code heads the output once, as in pnpm 12; the box itself names no code (miette
    // would print it again on a line of its own).
    eprintln!("Error: {}\n", err.code);
    eprintln!(
        "{:?}",
        miette::Report::new(Uncoded {
            message: err.message.clone(),
            help: err.help.clone(),
        })
    );
}

/// A [`CliError`] as the box under `Error: <code>` shows it: message and help.
#[derive(Debug)]
struct Uncoded {
    message: String,
    help: Option<String>,
}

impl fmt::Display for Uncoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Uncoded {}

impl Diagnostic for Uncoded {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
}
