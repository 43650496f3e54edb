//! `preflight`: credential pre-flight for the Hugging Face Hub and Modal, uploads that
//! survive faults, and launches that start only when Modal will accept them.
//!
//! The binary is thin: argument parsing (`cli`), one module per command (`commands`),
//! terminal and JSON rendering (`render`), GitHub Actions output (`github`) and the
//! troubleshooting guide embedded for `preflight explain` (`guide`).

mod cli;
mod commands;
mod github;
mod guide;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(preflight_errors::ExitStatus::Failure.code());
        }
    };
    let status = runtime.block_on(commands::dispatch(cli));
    // Dropping the runtime here (not `process::exit`) lets the auth log flush its tail.
    drop(runtime);
    ExitCode::from(status)
}
