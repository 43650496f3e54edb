//! [`AuthValidator`]: one entry point for every credential check.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use preflight_errors::Code;
use preflight_retry::RetryConfig;

use crate::Secret;
use crate::env::{Env, OsEnv};
use crate::hf::discovery::{HfTokenDiscovery, TokenSource, discover_hf_token};
use crate::hf::permission::{check_permission, undetermined};
use crate::hf::repo::RepoTarget;
use crate::hf::shape::check_shape;
use crate::hf::whoami::{WhoamiError, fetch_whoami, resolve_endpoint};
use crate::modal::ModalOptions;
use crate::result::{PermissionVerdict, Provider, TokenStatus, TokenValidationResult};

/// How to validate the Hugging Face token.
#[derive(Debug, Clone)]
pub struct HfOptions {
    /// Hub base URL; `HF_ENDPOINT`, then `https://huggingface.co` when `None`.
    pub endpoint: Option<String>,
    /// Deadline for the whole whoami exchange, retries included (default 5 s).
    pub timeout: Duration,
    /// Deadline for establishing a connection (default 3 s, never more than `timeout`).
    pub connect_timeout: Duration,
    /// Retry policy for 408/429/5xx; its deadline is clamped to `timeout`.
    pub retry: RetryConfig,
    /// The repo whose permission to check, if any.
    pub target: Option<RepoTarget>,
    /// A client to use instead of building one (proxies, custom roots).
    pub client: Option<reqwest::Client>,
}

impl Default for HfOptions {
    fn default() -> Self {
        HfOptions {
            endpoint: None,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            retry: RetryConfig::default(),
            target: None,
            client: None,
        }
    }
}

/// Validates Hugging Face and Modal credentials read through an [`Env`].
///
/// `validate_hf_token` runs, in order, and stops at the first step that decides:
///
/// | step | outcome when it decides | code |
/// |---|---|---|
/// | token file unreadable (directory, too large, permissions, not UTF-8, `HF_TOKEN_PATH=""`) | `INVALID` | PF008 |
/// | token found but `HF_HUB_DISABLE_IMPLICIT_TOKEN` truthy | `MISSING`, naming the variable as the reason | PF001 |
/// | no token | `MISSING`, listing every source looked at | PF001 |
/// | token holds a space, control or non-ASCII character | `INVALID`, no request made | PF002 |
/// | `stored_tokens` says it expired | `EXPIRED`, no request made; says whether the official client would refresh it | PF004 |
/// | whoami-v2 answers 401 | `INVALID` | PF003 |
/// | refused, unresolvable, timed out | `UNKNOWN` | PF006 |
/// | 429 / 5xx until the deadline | `UNKNOWN` | PF007 |
/// | 200, target given and not allowed | `VALID` with `permission.verdict = forbidden` | PF005 |
/// | 200 | `VALID` | — |
///
/// Each HF validation emits one `tracing` event at INFO, target `preflight::auth`, with
/// `event = "token_validated"`, `provider`, `status`, `source`, `masked_token`, `latency_ms`,
/// `code`, `identity`, `repo` and `permission` — never the token itself.
#[derive(Clone)]
pub struct AuthValidator {
    env: Arc<dyn Env>,
    hf: HfOptions,
    modal: ModalOptions,
}

impl fmt::Debug for AuthValidator {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AuthValidator")
            .field("hf", &self.hf)
            .field("modal", &self.modal)
            .finish_non_exhaustive()
    }
}

impl AuthValidator {
    /// A validator reading `env`, with default options.
    pub fn new(env: Arc<dyn Env>) -> Self {
        AuthValidator {
            env,
            hf: HfOptions::default(),
            modal: ModalOptions::default(),
        }
    }

    /// A validator reading the process environment.
    pub fn from_os_env() -> Self {
        AuthValidator::new(Arc::new(OsEnv))
    }

    /// Replaces the Hugging Face options.
    #[must_use]
    pub fn with_hf_options(mut self, options: HfOptions) -> Self {
        self.hf = options;
        self
    }

    /// Replaces the Modal options.
    #[must_use]
    pub fn with_modal_options(mut self, options: ModalOptions) -> Self {
        self.modal = options;
        self
    }

    /// The Hugging Face options in use.
    pub fn hf_options(&self) -> &HfOptions {
        &self.hf
    }

    /// Discovers and validates the Hugging Face token (see [`AuthValidator`] for the steps).
    pub async fn validate_hf_token(&self) -> TokenValidationResult {
        let started = Instant::now();
        let mut result = self.check_hf().await;
        result.latency = started.elapsed();
        log_hf(&result);
        result
    }

    /// Discovers and validates the Modal credentials.
    pub async fn validate_modal_token(&self) -> TokenValidationResult {
        crate::modal::validate(&*self.env, &self.modal).await
    }

    /// Both checks, concurrently: `[hf, modal]`.
    pub async fn validate_all_tokens(&self) -> Vec<TokenValidationResult> {
        let (hf, modal) = tokio::join!(self.validate_hf_token(), self.validate_modal_token());
        vec![hf, modal]
    }

    async fn check_hf(&self) -> TokenValidationResult {
        let env = &*self.env;
        let found = discover_hf_token(env);
        let endpoint = resolve_endpoint(env, self.hf.endpoint.as_deref());
        let mut result = base_result(&found, &endpoint);

        self.decide(&found, &endpoint, &mut result).await;
        if let Some(target) = &self.hf.target
            && result.permission.is_none()
        {
            result.permission = Some(undetermined(
                target,
                &format!(
                    "the token is {}, so permissions were not checked",
                    result.status
                ),
            ));
        }
        if let Some(token) = found.found_token() {
            scrub_result(&mut result, token);
        }
        result
    }

    /// Fills `result`; returns `None` when the token is valid.
    async fn decide(
        &self,
        found: &HfTokenDiscovery,
        endpoint: &str,
        result: &mut TokenValidationResult,
    ) -> Option<Code> {
        let source = found.source.clone().unwrap_or_default();
        if let Some(error) = found.error() {
            return fail(
                result,
                TokenStatus::Invalid,
                error.code(),
                format!("The Hugging Face token cannot be read: {error}"),
                error.remediation(),
            );
        }
        if let Some(withheld) = &found.withheld_token {
            let value = self
                .env
                .var(crate::env::vars::HF_HUB_DISABLE_IMPLICIT_TOKEN)
                .unwrap_or_default();
            result.masked_token = Some(withheld.masked());
            return fail(
                result,
                TokenStatus::Missing,
                Code::Pf001,
                format!(
                    "A Hugging Face token was found in {source}, but HF_HUB_DISABLE_IMPLICIT_TOKEN={value} \
                     tells the official client to send no token unless the code passes one explicitly, \
                     so no token is used"
                ),
                "run `unset HF_HUB_DISABLE_IMPLICIT_TOKEN` so the token is used, or pass the token \
                 explicitly in code (`token=...`) if that is what the job does"
                    .to_owned(),
            );
        }
        let Some(token) = &found.token else {
            let mut message = format!("No Hugging Face token found ({})", found.checked.join("; "));
            if found.oidc {
                message.push_str(
                    "; HF_OIDC_RESOURCE is set but Preflight does not exchange OIDC tokens",
                );
            }
            return fail(
                result,
                TokenStatus::Missing,
                Code::Pf001,
                message,
                "run `hf auth login`, or `export HF_TOKEN=hf_...` with a token from \
                 https://huggingface.co/settings/tokens"
                    .to_owned(),
            );
        };

        let shape = check_shape(token.expose());
        if let Err(unsendable) = &shape {
            let remediation = match &found.token_source {
                Some(TokenSource::File(path)) => format!(
                    "run `hf auth login --force`, or rewrite {} with only the token",
                    path.display()
                ),
                _ => format!(
                    "set {} again, copying only the token from https://huggingface.co/settings/tokens",
                    source.trim_start_matches("env:")
                ),
            };
            return fail(
                result,
                TokenStatus::Invalid,
                unsendable.code(),
                format!("The token from {source} is unusable: {unsendable}; it was not sent"),
                remediation,
            );
        }
        if let Ok(shape) = shape {
            result.warnings.extend(shape.warnings);
        }

        if let Some(stored) = found.stored.as_ref().filter(|stored| stored.expired) {
            let when = stored
                .expires_at
                .and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok())
                .and_then(|at| {
                    at.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            let stored_path = found
                .stored_tokens_path
                .as_ref()
                .map(|path| path.display().to_string())
                .unwrap_or_default();
            let from_file = matches!(found.token_source, Some(TokenSource::File(_)));
            let (refresh, remediation) = if stored.has_refresh_token && from_file {
                (
                    format!(
                        "it has a refresh_token, so the official client would refresh it on its next use \
                         (POST {endpoint}/oauth/token); Preflight does not refresh tokens"
                    ),
                    "run `hf auth whoami` to let the official client refresh it, or `hf auth login --force`"
                        .to_owned(),
                )
            } else if stored.has_refresh_token {
                (
                    format!(
                        "the official client refreshes only the token read from the token file, not one from {source}"
                    ),
                    format!(
                        "replace {} with a current token, or unset it and run `hf auth login`",
                        source.trim_start_matches("env:")
                    ),
                )
            } else {
                (
                    "it has no refresh_token, so the official client cannot refresh it".to_owned(),
                    "run `hf auth login --force` to log in again".to_owned(),
                )
            };
            result
                .details
                .insert("stored_token_name".into(), stored.name.clone());
            return fail(
                result,
                TokenStatus::Expired,
                Code::Pf004,
                format!(
                    "The token from {source} is recorded as expired at {when} in {stored_path} (entry [{}]); {refresh}",
                    stored.name
                ),
                remediation,
            );
        }

        let client = match &self.hf.client {
            Some(client) => client.clone(),
            None => match reqwest::Client::builder()
                .connect_timeout(self.hf.connect_timeout.min(self.hf.timeout))
                .user_agent(concat!("preflight/", env!("CARGO_PKG_VERSION")))
                .build()
            {
                Ok(client) => client,
                Err(error) => {
                    return fail(
                        result,
                        TokenStatus::Unknown,
                        Code::Pf006,
                        format!("Could not set up an HTTP client: {error}"),
                        "check SSL_CERT_FILE and the proxy variables (HTTPS_PROXY, NO_PROXY)"
                            .to_owned(),
                    );
                }
            },
        };
        let answer = fetch_whoami(&client, endpoint, token, &self.hf.retry, self.hf.timeout).await;
        let whoami = match answer {
            Ok(whoami) => whoami,
            Err(error) => {
                let (message, remediation) = whoami_failure(&error, &source, endpoint, found);
                return fail(result, error.status(), error.code(), message, remediation);
            }
        };

        result.status = TokenStatus::Valid;
        result.identity = Some(whoami.identity());
        result.token_role = whoami.role().map(str::to_owned);
        result.scopes = whoami.grants();
        let who = whoami
            .name
            .as_deref()
            .map(|name| format!("{} {name}", whoami.kind.as_deref().unwrap_or("user")))
            .unwrap_or_else(|| "an unnamed account".to_owned());
        let role = whoami.role().unwrap_or("unreported");
        result.message = format!("Valid token from {source} for {who} (role {role})");

        let target = self.hf.target.as_ref()?;
        let check = check_permission(&whoami, target);
        let forbidden = check.verdict == PermissionVerdict::Forbidden;
        let reason = check.reason.clone();
        result.permission = Some(check);
        if !forbidden {
            return None;
        }
        result.code = Some(Code::Pf005);
        result.message = format!(
            "The token from {source} is valid ({who}) but may not {} {target}: {reason}",
            target.need
        );
        result.remediation = Some(format!(
            "create a token that can write to {ns} at https://huggingface.co/settings/tokens (a write token of a member of {ns}, \
             or a fine-grained token with repo.write on {ns}), then `export HF_TOKEN=hf_...` or run `hf auth login --force`",
            ns = target.namespace()
        ));
        Some(Code::Pf005)
    }
}

fn base_result(found: &HfTokenDiscovery, endpoint: &str) -> TokenValidationResult {
    let mut result = TokenValidationResult::new(Provider::Hf, TokenStatus::Unknown, String::new());
    result.source.clone_from(&found.source);
    result.masked_token = found.token.as_ref().map(Secret::masked);
    result.configured = found.configured;
    result.warnings.extend(found.warnings.iter().cloned());
    result.warnings.extend(found.notes.iter().cloned());
    result
        .details
        .insert("endpoint".into(), endpoint.to_owned());
    if let Some(path) = &found.token_path {
        result
            .details
            .insert("token_path".into(), path.display().to_string());
    }
    if found.implicit_token_disabled {
        result
            .details
            .insert("implicit_token_disabled".into(), "true".into());
    }
    result
}

fn fail(
    result: &mut TokenValidationResult,
    status: TokenStatus,
    code: Code,
    message: String,
    remediation: String,
) -> Option<Code> {
    result.status = status;
    result.code = Some(code);
    result.message = message;
    result.remediation = Some(remediation);
    Some(code)
}

fn whoami_failure(
    error: &WhoamiError,
    source: &str,
    endpoint: &str,
    found: &HfTokenDiscovery,
) -> (String, String) {
    match error {
        WhoamiError::Rejected { server_message } => {
            let answer = server_message
                .as_deref()
                .map_or_else(|| "HTTP 401".to_owned(), |text| format!("HTTP 401: {text}"));
            let remediation = found
                .token_source
                .as_ref()
                .map(TokenSource::rejected_remediation)
                .unwrap_or_default();
            (
                format!(
                    "The Hub at {endpoint} rejected the token from {source} ({answer}). The Hub does not tell \
                     an expired token from a revoked or mistyped one"
                ),
                remediation,
            )
        }
        WhoamiError::Unreachable { .. } | WhoamiError::Timeout { .. } => (
            format!("Could not validate the token from {source}: {error}"),
            format!(
                "check the network and proxy settings (HTTPS_PROXY, NO_PROXY) and that {endpoint} is the Hub you mean \
                 (HF_ENDPOINT); retry with a longer `--timeout`"
            ),
        ),
        WhoamiError::RateLimited { .. } => (
            format!("Could not validate the token from {source}: {error}"),
            "wait a minute and run the check again; whoami is strictly rate-limited, so avoid calling it in a loop"
                .to_owned(),
        ),
        _ => (
            format!("Could not validate the token from {source}: {error}"),
            format!(
                "retry in a few minutes (see https://status.huggingface.co), and check that {endpoint} is a Hugging Face Hub"
            ),
        ),
    }
}

/// Belt and braces: no text in the result may contain the token.
fn scrub_result(result: &mut TokenValidationResult, token: &Secret) {
    if token.expose().is_empty() {
        return;
    }
    let clean = |text: &mut String| {
        if let std::borrow::Cow::Owned(clean) = crate::redact(text, [token.expose()]) {
            *text = clean;
        }
    };
    clean(&mut result.message);
    if let Some(remediation) = &mut result.remediation {
        clean(remediation);
    }
    result.warnings.iter_mut().for_each(clean);
    result.details.values_mut().for_each(clean);
    if let Some(permission) = &mut result.permission {
        clean(&mut permission.reason);
    }
}

fn log_hf(result: &TokenValidationResult) {
    let latency_ms = u64::try_from(result.latency.as_millis()).unwrap_or(u64::MAX);
    let identity = result.identity.as_ref().and_then(|id| id.name.as_deref());
    let repo = result.permission.as_ref().map(|check| check.repo.as_str());
    let permission = result.permission.as_ref().map(|check| match check.verdict {
        PermissionVerdict::Allowed => "allowed",
        PermissionVerdict::Forbidden => "forbidden",
        PermissionVerdict::Undetermined => "undetermined",
    });
    tracing::info!(
        target: "preflight::auth",
        event = "token_validated",
        provider = "hf",
        status = %result.status,
        source = result.source.as_deref(),
        masked_token = result.masked_token.as_deref(),
        latency_ms,
        code = result.code.map(Code::as_str),
        identity,
        repo,
        permission,
        "hf token {}",
        result.status
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_result_masks_every_text_field() {
        let token = Secret::new("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");
        let raw = token.expose().to_owned();
        let mut result = TokenValidationResult::new(Provider::Hf, TokenStatus::Invalid, &raw);
        result.remediation = Some(format!("not {raw}"));
        result.warnings.push(raw.clone());
        result.details.insert("k".into(), raw.clone());
        result.permission = Some(crate::result::PermissionCheck {
            repo: "a/b".into(),
            repo_type: "model".into(),
            need: "write".into(),
            verdict: PermissionVerdict::Forbidden,
            reason: raw.clone(),
        });
        scrub_result(&mut result, &token);
        let debug = format!("{result:?}");
        assert!(!debug.contains(&raw), "{debug}");
        assert!(debug.contains("hf_…KgGD"));
        // An empty secret changes nothing.
        let mut untouched = TokenValidationResult::new(Provider::Hf, TokenStatus::Valid, "ok");
        scrub_result(&mut untouched, &Secret::new(""));
        assert_eq!(untouched.message, "ok");
    }

    #[test]
    fn os_env_validator_has_defaults() {
        let validator = AuthValidator::from_os_env();
        assert_eq!(validator.hf_options().timeout, Duration::from_secs(5));
        assert!(validator.hf_options().target.is_none());
        assert!(format!("{validator:?}").contains("HfOptions"));
    }
}
