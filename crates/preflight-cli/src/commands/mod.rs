//! One module per command. Each returns the process exit status.

mod check;
mod completions;
pub(crate) mod credentials;
#[cfg(feature = "demo")]
mod demo;
mod explain;
pub(crate) mod run;
pub mod upload;

use preflight_log::{AuthLogConfig, AuthLogGuard};

use crate::cli::{Cli, Command};

/// Runs the chosen command with the auth log set up, and returns the exit status.
pub async fn dispatch(cli: Cli) -> u8 {
    let auth_log = cli.auth_log.as_deref();
    match cli.command {
        Command::Explain(args) => explain::run(&args),
        Command::Completions(args) => completions::run(&args),
        #[cfg(feature = "demo")]
        Command::Demo => demo::run(auth_log).await,
        Command::Check(args) => with_auth_log(auth_log, check::run(&args)).await,
        Command::Upload(args) => with_auth_log(auth_log, upload::run(&args)).await,
        Command::Run(args) => with_auth_log(auth_log, run::run(&args)).await,
        Command::Train(args) => with_auth_log(auth_log, run::train(&args)).await,
    }
}

/// Runs `command` (not started yet: futures are lazy) with the auth log set up first.
async fn with_auth_log(flag: Option<&str>, command: impl Future<Output = u8>) -> u8 {
    let guard = start_logging(flag, None);
    let status = command.await;
    // Lines lost after set-up (disk full, log made read-only) are a warning, never a failure.
    if let Some(failure) = guard.write_failure() {
        eprintln!("warning: auth log: {failure}");
    }
    status
}

/// Sets up the JSON-lines auth log. `fallback` replaces the default path when neither the
/// flag nor `PREFLIGHT_AUTH_LOG` chose one. A log that cannot be written is a warning.
pub(crate) fn start_logging(flag: Option<&str>, fallback: Option<&str>) -> AuthLogGuard {
    let env_value = std::env::var("PREFLIGHT_AUTH_LOG").ok();
    let chosen = flag
        .or(env_value.as_deref().filter(|value| !value.is_empty()))
        .or(fallback);
    let config = AuthLogConfig::resolve(chosen, |key| std::env::var(key).ok());
    let guard = preflight_log::setup_auth_logging(&config);
    for warning in guard.warnings() {
        eprintln!("warning: auth log: {warning}");
    }
    guard
}
