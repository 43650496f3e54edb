//! The native `preflight` binary: everything is in the library ([`preflight_cli::run`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(preflight_cli::run(std::env::args_os()))
}
