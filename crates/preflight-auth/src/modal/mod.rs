//! Modal credentials: discovery from the environment and `~/.modal.toml`, then validation
//! with the one gRPC call `modal token info` makes (`native.rs`, the default), or through the
//! real `modal` CLI (`cli.rs`: `--modal-via cli`, and the fallback of `auto` when Modal
//! refuses the native client). See docs/adr/0041-authentication-error-handling.md §7.
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
//! Only when discovery passes does the check reach the server. The native path sends the
//! resolved credentials as gRPC metadata (`native.rs` has the wire rules) and maps the answer
//! to the statuses of the table below: OK → Valid (or Expired by `expires_at`),
//! `UNAUTHENTICATED`/`PERMISSION_DENIED` → Invalid (PF105, or PF106 when the server says the
//! token expired), transient statuses retried and then Unknown (PF108), `FAILED_PRECONDITION`,
//! `UNIMPLEMENTED` or an undecodable answer → the CLI under `auto` if installed, else PF109.
//!
//! The CLI path starts `modal token info` with the credentials in
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
use cli::TokenInfo;

mod cli;
mod discovery;
mod native;

pub use cli::CLI_ARGS;
pub use discovery::{
    CredentialKind, DEFAULT_SERVER_URL, ModalDiscovery, ProfileSource, Refusal, Resolved,
    ValueSource, discover,
};
pub use native::{
    CLIENT_TYPE, CLIENT_VERSION, ServiceUserIdentity, Timestamp, TokenIdentity,
    TokenInfoGetRequest, TokenInfoGetResponse, UserIdentity,
};

/// Which way the token is checked once discovery has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModalVia {
    /// Native first; the CLI only when the native path cannot judge (Modal refuses this
    /// client with `FAILED_PRECONDITION`, does not know the method, answers in a form we
    /// cannot read, or the setup needs the CLI), and only if `modal` is installed.
    #[default]
    Auto,
    /// Only the native gRPC call; never starts `modal`.
    Native,
    /// Only `modal token info`.
    Cli,
}

impl ModalVia {
    /// `auto`, `native` or `cli`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModalVia::Auto => "auto",
            ModalVia::Native => "native",
            ModalVia::Cli => "cli",
        }
    }

    /// Parses `auto`, `native` or `cli` (case-insensitive).
    pub fn parse(text: &str) -> Option<ModalVia> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(ModalVia::Auto),
            "native" => Some(ModalVia::Native),
            "cli" => Some(ModalVia::Cli),
            _ => None,
        }
    }
}

/// How to validate Modal credentials.
#[derive(Debug, Clone)]
pub struct ModalOptions {
    /// The `modal` executable; found on the environment's `PATH` when `None`.
    pub cli_path: Option<PathBuf>,
    /// Hard deadline for the check, native or `modal token info` (the CLI itself retries for
    /// ~58 s on a dead network and waits forever on a silent one).
    pub timeout: Duration,
    /// Native gRPC, the CLI, or native with the CLI as fallback.
    pub via: ModalVia,
}

impl Default for ModalOptions {
    fn default() -> Self {
        ModalOptions {
            cli_path: None,
            timeout: Duration::from_secs(10),
            via: ModalVia::Auto,
        }
    }
}

/// Discovers and validates Modal credentials.
pub(crate) async fn validate(env: &dyn Env, options: &ModalOptions) -> TokenValidationResult {
    validate_discovered(env, options, discovery::discover(env)).await
}

/// Validates what discovery found (the check itself still reads `env` for the CLI's
/// environment and `SSL_CERT_FILE`).
pub(crate) async fn validate_discovered(
    env: &dyn Env,
    options: &ModalOptions,
    discovery: ModalDiscovery,
) -> TokenValidationResult {
    let started = Instant::now();
    let mut result = match &discovery.refusal {
        Some(refusal) => refused(&discovery, refusal),
        None => check(env, options, &discovery, started).await,
    };
    result.latency = started.elapsed();
    emit(&result);
    result
}

async fn check(
    env: &dyn Env,
    options: &ModalOptions,
    discovery: &ModalDiscovery,
    started: Instant,
) -> TokenValidationResult {
    if options.via == ModalVia::Cli {
        return via(check_with_cli(env, options, discovery).await, "cli");
    }
    let why = match check_native(env, options, discovery).await {
        Ok(result) => return via(result, "native"),
        Err(why) => why,
    };
    if options.via == ModalVia::Auto {
        match cli::locate(env, options.cli_path.as_deref()) {
            Ok(_) => {
                tracing::info!(
                    target: "preflight::auth",
                    event = "modal_native_fallback",
                    reason = why.as_str(),
                    "the native Modal check cannot judge this token; asking `modal token info`"
                );
                let remaining = options.timeout.saturating_sub(started.elapsed());
                let cli_options = ModalOptions {
                    timeout: remaining.max(Duration::from_secs(1)),
                    ..options.clone()
                };
                let mut result = via(check_with_cli(env, &cli_options, discovery).await, "cli");
                result
                    .details
                    .insert("native_fallback".to_owned(), why.clone());
                return result;
            }
            Err(not_found) => {
                return via(native_unusable(discovery, &why, Some(&not_found)), "native");
            }
        }
    }
    via(native_unusable(discovery, &why, None), "native")
}

fn via(mut result: TokenValidationResult, how: &str) -> TokenValidationResult {
    result.details.insert("via".to_owned(), how.to_owned());
    result
}

/// PF109: the native check cannot judge, and the CLI is not used (`native`) or not there.
fn native_unusable(
    discovery: &ModalDiscovery,
    why: &str,
    cli_missing: Option<&str>,
) -> TokenValidationResult {
    let message = match cli_missing {
        Some(not_found) => format!(
            "The native Modal check cannot judge this token: {why}; the modal CLI would be asked instead, but {not_found}."
        ),
        None => format!(
            "The native Modal check cannot judge this token: {why} (--modal-via native never asks the modal CLI)."
        ),
    };
    let mut result = unknown(
        discovery,
        message,
        Code::Pf109,
        "Install the modal CLI (`pip install -U modal`) so `--modal-via auto` can ask it, or run with `--modal-via cli`; if Modal refused an old client, upgrade Preflight.",
    );
    result
        .details
        .insert("native_fallback".to_owned(), why.to_owned());
    result
}

/// The native check. `Err` is why it cannot judge (the cases `auto` hands to the CLI).
async fn check_native(
    env: &dyn Env,
    options: &ModalOptions,
    discovery: &ModalDiscovery,
) -> Result<TokenValidationResult, String> {
    let credentials = match discovery.kind {
        Some(CredentialKind::Token) => native::Credentials::Token {
            id: value(discovery, "token_id")?,
            secret: value(discovery, "token_secret")?,
        },
        Some(CredentialKind::OAuth) => {
            if discovery.get("oauth_jwt_key").is_some() {
                return Err(
                    "OAuth with a JWT key needs a signed assertion, which only the modal CLI makes"
                        .to_owned(),
                );
            }
            native::Credentials::OAuth {
                refresh_token: value(discovery, "oauth_refresh_token")?,
                client_id: value(discovery, "oauth_client_id")?,
                client_secret: value(discovery, "oauth_client_secret")?,
            }
        }
        None => return Err("no complete credential was found".to_owned()),
    };
    let (server_url, server_source) = discovery
        .server_url
        .clone()
        .unwrap_or_else(|| (DEFAULT_SERVER_URL.to_owned(), "default".to_owned()));
    let targets = match native::parse_targets(&server_url) {
        Ok(targets) => targets,
        Err(why) if server_url.trim().is_empty() => {
            // The CLI would retry an empty URL for a minute, then say it could not connect.
            return Ok(unknown(
                discovery,
                format!("Modal cannot be reached: {why} (server_url from {server_source})."),
                Code::Pf108,
                "Unset the empty MODAL_SERVER_URL (`unset MODAL_SERVER_URL`), or set it to the Modal server's URL.",
            ));
        }
        Err(why) => return Err(why),
    };
    let tls = if targets.iter().any(|target| target.url.starts_with("https")) {
        match native::tls_config(env.var("SSL_CERT_FILE").as_deref()) {
            Ok(config) => Some(config),
            Err(why) => {
                return Ok(unknown(
                    discovery,
                    format!("Modal cannot be reached over TLS: {why}."),
                    Code::Pf108,
                    "Point SSL_CERT_FILE at a readable PEM bundle (or unset it), or install the system CA certificates (`ca-certificates`).",
                ));
            }
        }
    } else {
        None
    };
    let outcome = native::token_info(&targets, tls, &credentials, options.timeout).await;
    native_result(discovery, outcome, &server_url, options.timeout)
}

fn value(discovery: &ModalDiscovery, key: &str) -> Result<crate::Secret, String> {
    discovery
        .get(key)
        .map(|resolved| resolved.value.clone())
        .ok_or_else(|| format!("`{key}` is missing"))
}

/// Maps the native outcome to a result, with the same statuses, codes and words as the CLI
/// path: what both paths can learn is a [`cli::Verdict`], judged once by [`verdict_result`].
fn native_result(
    discovery: &ModalDiscovery,
    outcome: native::Outcome,
    server_url: &str,
    timeout: Duration,
) -> Result<TokenValidationResult, String> {
    let secrets = discovery.secret_values();
    let scrub = |text: &str| cli::scrub(text, &secrets);
    let unreachable =
        |message: String| unknown(discovery, message, Code::Pf108, network_hint(server_url));
    let (answer, url) = match outcome {
        native::Outcome::NeedsCli(why) => return Err(why),
        native::Outcome::Unreachable { errors } => {
            let text = scrub(&errors.join("; "));
            let mut result = unreachable(format!(
                "Modal could not be reached within {:.1} s ({server_url}): {text}",
                timeout.as_secs_f64()
            ));
            if text.contains("certificate") {
                result.remediation = Some(format!(
                    "The server's TLS certificate is not trusted here: behind a TLS-inspecting proxy, point SSL_CERT_FILE at its CA (PEM). {}",
                    network_hint(server_url)
                ));
            }
            return Ok(result);
        }
        native::Outcome::TimedOut { url, attempts } => {
            return Ok(unreachable(format!(
                "Modal ({url}) did not answer TokenInfoGet within {:.1} s ({attempts} attempt{}).",
                timeout.as_secs_f64(),
                if attempts == 1 { "" } else { "s" }
            )));
        }
        native::Outcome::Status {
            code,
            message,
            url,
            attempts,
        } => {
            let text = scrub(&message);
            let mut result = match code {
                tonic::Code::Unauthenticated if text.to_ascii_lowercase().contains("expired") => {
                    verdict_result(
                        discovery,
                        cli::Verdict::Expired {
                            info: None,
                            message: text,
                        },
                        server_url,
                    )
                }
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
                    verdict_result(discovery, cli::Verdict::Invalid(text), server_url)
                }
                tonic::Code::FailedPrecondition => {
                    return Err(format!(
                        "Modal refused this client ({url}, FAILED_PRECONDITION: {text})"
                    ));
                }
                tonic::Code::Unimplemented => {
                    return Err(format!(
                        "Modal does not offer TokenInfoGet here ({url}, UNIMPLEMENTED: {text})"
                    ));
                }
                tonic::Code::Internal if text.starts_with("failed to decode Protobuf message") => {
                    return Err(format!(
                        "Modal's answer does not match the messages this Preflight knows ({text})"
                    ));
                }
                other => unreachable(format!(
                    "Modal ({url}) answered {other:?} after {attempts} attempt{}: {text}",
                    if attempts == 1 { "" } else { "s" }
                )),
            };
            result
                .details
                .insert("grpc_status".to_owned(), format!("{code:?}"));
            return Ok(result);
        }
        native::Outcome::Answered { info, url } => (*info, url),
    };
    if answer.workspace_name.is_empty() && answer.token_id.is_empty() {
        return Err("Modal answered TokenInfoGet without a token id or workspace".to_owned());
    }
    let verdict = cli::judge(token_info(&answer), OffsetDateTime::now_utc());
    let mut result = verdict_result(discovery, verdict, server_url);
    result.details.insert("server".to_owned(), url);
    Ok(result)
}

/// The native answer in the shape `modal token info` prints it.
fn token_info(answer: &native::TokenInfoGetResponse) -> TokenInfo {
    let (user, service_user) = match &answer.identity {
        Some(native::TokenIdentity::User(user)) => (Some(user.username.clone()), false),
        Some(native::TokenIdentity::ServiceUser(service)) => {
            (Some(service.service_user_name.clone()), true)
        }
        None => (None, false),
    };
    let expires_at = answer
        .expires_at
        .filter(|stamp| stamp.seconds > 0)
        .and_then(|stamp| OffsetDateTime::from_unix_timestamp(stamp.seconds).ok());
    TokenInfo {
        workspace: Some(answer.workspace_name.clone()),
        user,
        service_user,
        token_name: Some(answer.token_name.clone()).filter(|name| !name.is_empty()),
        expires_at,
        expires_text: expires_at.map(format_utc),
    }
}

/// `2030-01-01 00:00:00 UTC`, as the CLI prints it under `TZ=UTC`.
fn format_utc(at: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at.format(&format)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
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

/// An `UNKNOWN` result with its code and what to do about it.
fn unknown(
    discovery: &ModalDiscovery,
    message: String,
    code: Code,
    remediation: impl Into<String>,
) -> TokenValidationResult {
    let mut result = base(discovery, TokenStatus::Unknown, message);
    result.code = Some(code);
    result.remediation = Some(remediation.into());
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
            let message = format!(
                "`modal token info` did not answer within {:.1} s (server {server}); it was stopped.",
                options.timeout.as_secs_f64()
            );
            return unknown(discovery, message, Code::Pf108, network_hint(&server));
        }
        cli::RunOutcome::Exited {
            code,
            stdout,
            stderr,
        } => (code, stdout, stderr),
    };
    let verdict = cli::classify(code, &stdout, &stderr, OffsetDateTime::now_utc());
    verdict_result(discovery, verdict, &server)
}

/// The result for what either check path learned about the credential.
fn verdict_result(
    discovery: &ModalDiscovery,
    verdict: cli::Verdict,
    server: &str,
) -> TokenValidationResult {
    let secrets = discovery.secret_values();
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
            let message = format!(
                "Modal token is valid: workspace {}, {} {}.",
                info.workspace.as_deref().unwrap_or("?"),
                if info.service_user {
                    "service user"
                } else {
                    "user"
                },
                info.user.as_deref().unwrap_or("?")
            );
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
            Some(network_hint(server)),
            None,
        ),
        cli::Verdict::Unknown(text) => (
            TokenStatus::Unknown,
            Some(Code::Pf108),
            format!("`modal token info` failed: {}", scrub(&text)),
            Some(format!(
                "Run `modal token info` yourself to see the full error; upgrade with `pip install -U modal` if it is old. {}",
                network_hint(server)
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
    unknown(
        discovery,
        format!("The modal CLI is needed to validate Modal credentials, but {why}."),
        Code::Pf107,
        "Install it with `pip install modal` (then `modal --version`), make sure `modal` is on PATH, or point the modal CLI path option at it.",
    )
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
        via = result.details.get("via").map_or("", String::as_str),
        masked_token = result.masked_token.as_deref().unwrap_or(""),
        latency_ms,
        code = result.code.map_or("", Code::as_str),
        "modal credentials checked"
    );
}

#[cfg(test)]
mod tests;
