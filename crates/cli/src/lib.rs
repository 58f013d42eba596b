//! The `tack` command line: argument parsing, commands and the reporter.
