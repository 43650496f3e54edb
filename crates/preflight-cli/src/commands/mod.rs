//! One module per command. Each returns the process exit status.

mod check;
mod completions;
mod credentials;
mod demo;
mod explain;
pub(crate) mod run;
pub mod upload;

use preflight_log::{AuthLogConfig, AuthLogGuard};

use crate::cli::{Cli, Command};

/// Runs the chosen command with the auth log set up, and returns the exit status.
pub async fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Explain(args) => explain::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Check(args) => {
            let _guard = start_logging(cli.auth_log.as_deref(), None);
            check::run(&args).await
        }
        Command::Upload(args) => {
            let _guard = start_logging(cli.auth_log.as_deref(), None);
            upload::run(&args).await
        }
        Command::Demo => demo::run(cli.auth_log.as_deref()).await,
        Command::Run(args) => {
            let _guard = start_logging(cli.auth_log.as_deref(), None);
            run::run(&args).await
        }
        Command::Train(args) => {
            let _guard = start_logging(cli.auth_log.as_deref(), None);
            run::train(&args).await
        }
    }
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
