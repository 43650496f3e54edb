//! Modal credentials: discovery from the environment and `~/.modal.toml`, then validation
//! through the real `modal` CLI (`modal token info`).
//!
//! # Resolution rules (the Python client, modal 1.6.4)
//!
//! Where libmodal's Go/JS rules differ, the Python client wins, because the Python CLI is
//! what `modal run` uses.
//!
//! | Step | Rule | Refusal (code) |
//! |---|---|---|
//! | Config path | `MODAL_CONFIG_PATH` if non-empty, else `$HOME/.modal.toml`; a missing file is an empty config; skipped when `MODAL_IS_REMOTE=1` | — |
//! | Read | unreadable, not UTF-8, malformed TOML, or a top-level value that is not a table | CLI refuses every command (PF103) |
//! | Profile | `MODAL_PROFILE` if non-empty (an empty one counts as unset), else the first table with `active = true` (exactly boolean true), else the literal `default` | — |
//! | Check | the sum of `active` values > 1 | "More than one Modal profile is active" (PF104), even with env credentials |
//! | Check | more than one table, none active, profile is `default` (also when `MODAL_PROFILE=default`) | "No Modal profile is active" (PF104), even with env credentials |
//! | Per key | `MODAL_<KEY>` if **present, even empty**, else the profile's key, else unset; each key separately, so an env `MODAL_TOKEN_ID` pairs with a file `token_secret` | an empty env value hides the file's value; the message says so |
//! | Kind | token (`token_id`+`token_secret`) or OAuth (`oauth_refresh_token`, `oauth_client_id`, exactly one of `oauth_client_secret`/`oauth_jwt_key`) | both kinds: PF102 (Invalid); incomplete OAuth: PF102 (Missing) |
//! | Half | one of `token_id`/`token_secret` only | CLI says "Token missing"; PF102 (Missing, `configured = true`) |
//! | None | no credential; `MODAL_PROFILE` set but not a table in the file | "Modal profile '…' was not found" (PF104) |
//! | None | no credential otherwise | "Token missing" (PF101, `configured = false`) |
//! | Shape | id not `ak-` (or a `wk-` proxy id), secret not `as-` (or `ws-`); OAuth client id not `oc-` | warning only |
//!
//! Only when discovery passes is the CLI started: `modal token info` with the credentials in
//! the child's environment (never on its argument list), `TZ=UTC`, no colour, traceback or
//! debug logging, in its own process group, killed as a group at the deadline.
//!
//! | CLI result | Status | Code |
//! |---|---|---|
//! | exit 0, `Workspace:` line, no past `Expires at:` | Valid (workspace, user) | — |
//! | exit 0 with `Expires at:` in the past, or an `Error:` saying "expired" | Expired | PF106 |
//! | `Error:` mentioning token/auth/credential (the server's UNAUTHENTICATED text) | Invalid | PF105 |
//! | `Error: Token missing` / profile / config errors | as discovery | PF101/PF104/PF103 |
//! | `Error: Could not connect…`, the deadline, anything else | Unknown | PF108 |
//! | executable not found / not executable | Unknown | PF107 (`pip install modal`) |

use std::path::PathBuf;
use std::time::{Duration, Instant};

use preflight_errors::Code;
use time::OffsetDateTime;

use crate::{Env, Identity, Provider, TokenStatus, TokenValidationResult, vars};

mod cli;
mod discovery;

pub use cli::CLI_ARGS;
pub use discovery::{
    CredentialKind, ModalDiscovery, ProfileSource, Refusal, Resolved, ValueSource, discover,
};

/// How to validate Modal credentials.
#[derive(Debug, Clone)]
pub struct ModalOptions {
    /// The `modal` executable; found on the environment's `PATH` when `None`.
    pub cli_path: Option<PathBuf>,
    /// Hard deadline for `modal token info` (the CLI itself retries for ~58 s on a dead
    /// network and waits forever on a silent one).
    pub timeout: Duration,
}

impl Default for ModalOptions {
    fn default() -> Self {
        ModalOptions {
            cli_path: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Discovers and validates Modal credentials.
pub(crate) async fn validate(env: &dyn Env, options: &ModalOptions) -> TokenValidationResult {
    let started = Instant::now();
    let discovery = discovery::discover(env);
    let mut result = match &discovery.refusal {
        Some(refusal) => refused(&discovery, refusal),
        None => check_with_cli(env, options, &discovery).await,
    };
    result.latency = started.elapsed();
    emit(&result);
    result
}

/// Public entry point for callers outside the crate's `AuthValidator`.
pub async fn validate_modal(env: &dyn Env, options: &ModalOptions) -> TokenValidationResult {
    validate(env, options).await
}

/// The fields every Modal result shares.
fn base(discovery: &ModalDiscovery, status: TokenStatus, message: String) -> TokenValidationResult {
    let mut result = TokenValidationResult::new(Provider::Modal, status, message);
    result.source = discovery.source_label();
    result.masked_token = discovery.masked_id();
    result.details = discovery.details();
    result.warnings = discovery.warnings.clone();
    result.configured = discovery.configured;
    result
}

fn refused(discovery: &ModalDiscovery, refusal: &Refusal) -> TokenValidationResult {
    let mut result = base(discovery, refusal.status, refusal.message.clone());
    result.code = Some(refusal.code);
    result.remediation = Some(refusal.remediation.clone());
    // "Token missing" with nothing found at all is the unconfigured case.
    if refusal.code == Code::Pf101 {
        result.configured = discovery.configured && !discovery.values.is_empty();
    }
    result
}

async fn check_with_cli(
    env: &dyn Env,
    options: &ModalOptions,
    discovery: &ModalDiscovery,
) -> TokenValidationResult {
    let program = match cli::locate(env, options.cli_path.as_deref()) {
        Ok(program) => program,
        Err(why) => return cli_not_found(discovery, &why),
    };
    let outcome = cli::run(&program, cli::child_env(env), options.timeout).await;
    let secrets = discovery.secret_values();
    let server = env
        .var(vars::MODAL_SERVER_URL)
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "https://api.modal.com".to_owned());
    let (code, stdout, stderr) = match outcome {
        cli::RunOutcome::SpawnFailed(error) => {
            return cli_not_found(
                discovery,
                &format!("{} could not be started: {error}", program.display()),
            );
        }
        cli::RunOutcome::TimedOut => {
            let mut result = base(
                discovery,
                TokenStatus::Unknown,
                format!(
                    "`modal token info` did not answer within {:.1} s (server {server}); it was stopped.",
                    options.timeout.as_secs_f64()
                ),
            );
            result.code = Some(Code::Pf108);
            result.remediation = Some(network_hint(&server));
            return result;
        }
        cli::RunOutcome::Exited {
            code,
            stdout,
            stderr,
        } => (code, stdout, stderr),
    };
    let verdict = cli::classify(code, &stdout, &stderr, OffsetDateTime::now_utc());
    let scrub = |text: &str| cli::scrub(text, &secrets);
    let set_hint = format!(
        "Create a new token with `modal token new`, or re-copy it from modal.com/settings/tokens and run `{}`, or export MODAL_TOKEN_ID and MODAL_TOKEN_SECRET.",
        discovery::SET_COMMAND
    );
    let env_note = if discovery
        .source_label()
        .is_some_and(|source| source.contains("env:"))
    {
        " MODAL_TOKEN_ID/MODAL_TOKEN_SECRET in the environment override ~/.modal.toml: correct or unset them."
    } else {
        ""
    };
    let (status, code, message, remediation, info) = match verdict {
        cli::Verdict::Valid(info) => {
            let user = info.user.clone().unwrap_or_else(|| "?".to_owned());
            let workspace = info.workspace.clone().unwrap_or_else(|| "?".to_owned());
            let message = format!("Modal token is valid: workspace {workspace}, user {user}.");
            (TokenStatus::Valid, None, message, None, Some(info))
        }
        cli::Verdict::Expired { info, message } => (
            TokenStatus::Expired,
            Some(Code::Pf106),
            scrub(&message),
            Some(format!(
                "Create a new token with `modal token new` (or `{}` with a fresh token).{env_note}",
                discovery::SET_COMMAND
            )),
            info,
        ),
        cli::Verdict::Invalid(text) => (
            TokenStatus::Invalid,
            Some(Code::Pf105),
            format!("Modal rejected the token: {}", scrub(&text)),
            Some(format!("{set_hint}{env_note}")),
            None,
        ),
        cli::Verdict::Missing(text) => (
            TokenStatus::Missing,
            Some(Code::Pf101),
            format!("The modal CLI found no token: {}", scrub(&text)),
            Some(set_hint.clone()),
            None,
        ),
        cli::Verdict::Profile(text) => (
            TokenStatus::Invalid,
            Some(Code::Pf104),
            scrub(&text),
            Some("Run `modal profile activate NAME`, or export MODAL_PROFILE=NAME.".to_owned()),
            None,
        ),
        cli::Verdict::Config(text) => (
            TokenStatus::Invalid,
            Some(Code::Pf103),
            format!("The modal CLI cannot read its configuration: {}", scrub(&text)),
            Some("Fix the Modal config file (MODAL_CONFIG_PATH or ~/.modal.toml), or reinstall with `pip install -U modal`.".to_owned()),
            None,
        ),
        cli::Verdict::Incomplete(text) => (
            TokenStatus::Invalid,
            Some(Code::Pf102),
            scrub(&text),
            Some(set_hint.clone()),
            None,
        ),
        cli::Verdict::Network(text) => (
            TokenStatus::Unknown,
            Some(Code::Pf108),
            format!("Modal could not be reached ({server}): {}", scrub(&text)),
            Some(network_hint(&server)),
            None,
        ),
        cli::Verdict::Unknown(text) => (
            TokenStatus::Unknown,
            Some(Code::Pf108),
            format!("`modal token info` failed: {}", scrub(&text)),
            Some(format!(
                "Run `modal token info` yourself to see the full error; upgrade with `pip install -U modal` if it is old. {}",
                network_hint(&server)
            )),
            None,
        ),
    };
    let mut result = base(discovery, status, message);
    result.code = code;
    result.remediation = remediation;
    if let Some(info) = info {
        if let Some(text) = &info.expires_text {
            result.details.insert("expires_at".to_owned(), text.clone());
        }
        if info.service_user {
            result
                .details
                .insert("service_user".to_owned(), "true".to_owned());
        }
        result.identity = Some(Identity {
            name: info.user,
            kind: Some(
                if info.service_user {
                    "service_user"
                } else {
                    "user"
                }
                .to_owned(),
            ),
            orgs: Vec::new(),
            workspace: info.workspace,
            token_name: info.token_name,
        });
    }
    result
}

fn cli_not_found(discovery: &ModalDiscovery, why: &str) -> TokenValidationResult {
    let mut result = base(
        discovery,
        TokenStatus::Unknown,
        format!("The modal CLI is needed to validate Modal credentials, but {why}."),
    );
    result.code = Some(Code::Pf107);
    result.remediation = Some(
        "Install it with `pip install modal` (then `modal --version`), make sure `modal` is on PATH, or point the modal CLI path option at it."
            .to_owned(),
    );
    result
}

fn network_hint(server: &str) -> String {
    format!(
        "Check network access to {server} (HTTPS_PROXY/NO_PROXY if behind a proxy), then retry; `modal token info` shows the same error."
    )
}

fn emit(result: &TokenValidationResult) {
    let latency_ms = u64::try_from(result.latency.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        target: "preflight::auth",
        event = "token_validated",
        provider = "modal",
        status = result.status.as_str(),
        source = result.source.as_deref().unwrap_or(""),
        profile = result.details.get("profile").map_or("", String::as_str),
        masked_token = result.masked_token.as_deref().unwrap_or(""),
        latency_ms,
        code = result.code.map_or("", Code::as_str),
        "modal credentials checked"
    );
}

#[cfg(test)]
mod tests;
