//! The `tack` binary: parse arguments, run, print errors in pnpm's style, exit 1 on failure.

use std::process::ExitCode;

fn main() -> ExitCode {
    tack_cli::allocator::tune();
    let cli = tack_cli::args::Cli::parse_with_config();
    match tack_cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            tack_cli::error::print(&err);
            ExitCode::FAILURE
        }
    }
}
