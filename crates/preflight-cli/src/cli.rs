//! The command-line interface: every command, flag and environment variable.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PREFLIGHT_BUILD_COMMIT"),
    ")"
);

/// Check Hugging Face and Modal credentials before any work starts.
#[derive(Debug, Parser)]
#[command(name = "preflight", version = VERSION, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Where the JSON-lines auth log goes, or `off` [env: PREFLIGHT_AUTH_LOG] [default: logs/auth.log]
    #[arg(long, global = true, value_name = "PATH|off")]
    pub auth_log: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate credentials (and the right to write a repo) for Hugging Face and Modal
    Check(CheckArgs),
    /// Print the troubleshooting guide's section for an error code
    Explain(ExplainArgs),
    /// Run the checks against a bundled Hub emulator with a good, a bad and a missing token
    #[cfg(feature = "demo")]
    Demo,
    /// Upload a file or a folder to the Hub after the pre-flight, with retries and resume
    Upload(crate::commands::upload::UploadArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Check the credentials a command needs, then run it: preflight run -- modal run train.py
    Run(crate::commands::run::RunArgs),
    /// Shorthand for `run --require modal -- modal run SCRIPT [ARGS]`
    Train(crate::commands::run::TrainArgs),
}

/// Which providers `check` validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// The Hugging Face Hub
    Hf,
    /// Modal
    Modal,
}

/// What the token must be allowed to do with `--repo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NeedArg {
    Read,
    Write,
}

impl NeedArg {
    pub fn as_str(self) -> &'static str {
        match self {
            NeedArg::Read => "read",
            NeedArg::Write => "write",
        }
    }
}

/// How the Modal token is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModalViaArg {
    /// Native gRPC call; the `modal` CLI only when Modal refuses or does not know the call
    Auto,
    /// Only the native gRPC call (no Python needed)
    Native,
    /// Only `modal token info`
    Cli,
}

impl ModalViaArg {
    pub fn to_via(self) -> preflight_auth::modal::ModalVia {
        match self {
            ModalViaArg::Auto => preflight_auth::modal::ModalVia::Auto,
            ModalViaArg::Native => preflight_auth::modal::ModalVia::Native,
            ModalViaArg::Cli => preflight_auth::modal::ModalVia::Cli,
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Providers to check; with none, both are shown and only configured ones can fail
    #[arg(value_enum)]
    pub providers: Vec<ProviderArg>,

    #[command(flatten)]
    pub credentials: CredentialArgs,

    /// Print machine-readable JSON on stdout instead of the table
    #[arg(long)]
    pub json: bool,
}

/// How the credentials are checked; shared by `check`, `run` and `train`.
#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// Also decide whether the HF token may use this repo (NAMESPACE/NAME)
    #[arg(long, value_name = "NS/NAME")]
    pub repo: Option<String>,

    /// Type of --repo
    #[arg(long, value_name = "TYPE", default_value = "model")]
    pub repo_type: String,

    /// What the HF token must be allowed to do with --repo
    #[arg(long, value_enum, default_value_t = NeedArg::Write)]
    pub need: NeedArg,

    /// Deadline for the Hub check, e.g. 5s, 800ms [env: PREFLIGHT_TIMEOUT] [default: 5s]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,

    /// Hub base URL [env: HF_ENDPOINT] [default: https://huggingface.co]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// The `modal` executable [default: for `run`, the command itself when it is `modal`; else
    /// found on PATH]
    #[arg(long, value_name = "PATH")]
    pub modal_cli: Option<std::path::PathBuf>,

    /// Deadline for the Modal check [env: PREFLIGHT_MODAL_TIMEOUT] [default: 10s]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub modal_timeout: Option<Duration>,

    /// How the Modal token is checked: Modal's gRPC API directly, `modal token info`, or
    /// native with the CLI as fallback [env: PREFLIGHT_MODAL_VIA] [default: auto]
    #[arg(long, value_enum, value_name = "HOW")]
    pub modal_via: Option<ModalViaArg>,
    /// Report an OAuth login that is due for a refresh instead of refreshing it (nothing is
    /// sent to /oauth/token, nothing is written)
    #[arg(long)]
    pub no_refresh: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The error code, e.g. PF003
    pub code: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for
    pub shell: clap_complete::Shell,
}

/// Parses `5s`, `800ms`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(index) => text.split_at(index),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; use e.g. 5s, 800ms or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" | "min" => value * 60.0,
        _ => return Err(format!("unknown unit `{unit}` in `{text}`; use ms, s or m")),
    };
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 86_400.0 {
        return Err(format!("`{text}` must be between 1ms and 24h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("800ms"), Ok(Duration::from_millis(800)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
