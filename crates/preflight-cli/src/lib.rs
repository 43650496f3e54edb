//! `preflight`: credential pre-flight for the Hugging Face Hub and Modal, uploads that
//! survive faults, and launches that start only when Modal will accept them.
//!
//! The binary is thin: argument parsing (`cli`), one module per command (`commands`),
//! terminal and JSON rendering (`render`), GitHub Actions output (`github`) and the
//! troubleshooting guide embedded for `preflight explain` (`guide`).
//!
//! [`run`] is the whole command line as a function, so the native binary (`main.rs`) and the
//! `preflight` command of the Python package (which runs it in-process) are the same program.

mod cli;
mod commands;
mod github;
mod guide;
mod render;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

/// Registers every credential this process can see with the redactor (and prints
/// `::add-mask::` under GitHub Actions), exactly as every command does before printing.
pub use commands::credentials::{MaskTo, protect_secrets};

/// Runs `preflight` with `args` (the program name first, as in `std::env::args_os()`) and
/// returns its exit status. Usage errors, `--help` and `--version` print what clap prints and
/// return its status (2 or 0) instead of exiting the process.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // Nowhere left to report a failed write of the usage text.
            let _ignored = error.print();
            return u8::try_from(error.exit_code()).unwrap_or(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return preflight_errors::ExitStatus::Failure.code();
        }
    };
    let status = runtime.block_on(commands::dispatch(cli));
    // Dropping the runtime here (not `process::exit`) lets the auth log flush its tail.
    drop(runtime);
    // In-process callers (the Python package) do not get Rust's exit-time flush.
    let _ignored = std::io::stdout().flush();
    status
}
