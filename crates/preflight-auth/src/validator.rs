//! [`AuthValidator`]: one entry point for every credential check.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use preflight_errors::Code;
use preflight_retry::RetryConfig;

use crate::Discovered;
use crate::Secret;
use crate::env::{Env, OsEnv};
use crate::hf::discovery::{
    HfTokenDiscovery, IdTokenSource, OidcRequest, TokenSource, discover_hf_token,
};
use crate::hf::oidc::{self, OidcError};
use crate::hf::permission::{check_permission, undetermined};
use crate::hf::refresh::{RefreshError, StoredLogin, refresh_login, unix_time};
use crate::hf::repo::Need;
use crate::hf::repo::RepoTarget;
use crate::hf::shape::check_shape;
use crate::hf::whoami::{WhoamiError, fetch_whoami, resolve_endpoint};
use crate::modal::{ModalDiscovery, ModalOptions};
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
    /// Report a due OAuth refresh instead of performing it (nothing is written).
    pub no_refresh: bool,
    /// Sees every credential obtained during validation (exchanged, minted, refreshed) before
    /// anything is printed, so the caller can register it for redaction and `::add-mask::`.
    pub on_secret: Option<SecretSink>,
}

/// A callback that receives credentials as soon as they are obtained.
#[derive(Clone)]
pub struct SecretSink(Arc<dyn Fn(&Secret) + Send + Sync>);

impl SecretSink {
    /// Wraps `sink`.
    pub fn new(sink: impl Fn(&Secret) + Send + Sync + 'static) -> Self {
        SecretSink(Arc::new(sink))
    }

    /// Hands `secret` to the sink.
    pub fn accept(&self, secret: &Secret) {
        (self.0)(secret);
    }
}

impl fmt::Debug for SecretSink {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SecretSink")
    }
}

/// The outcome of a Hugging Face validation: the result, the very token that was validated
/// (the one commands must use), and how to obtain a fresh one later.
#[derive(Debug, Clone)]
pub struct HfValidation {
    /// What `check` prints.
    pub result: TokenValidationResult,
    /// The token that was sent to whoami-v2: an exchanged or refreshed one when that happened.
    pub token: Option<Secret>,
    /// How to renew the token during long work.
    pub renewal: HfRenewal,
}

/// How a token can be renewed, and when it expires.
#[derive(Debug, Clone)]
pub struct HfRenewal {
    kind: RenewalKind,
    /// When the validated token expires, when known.
    pub expires_at: Option<SystemTime>,
    client: Option<reqwest::Client>,
    endpoint: String,
    env: Option<Arc<dyn Env>>,
    timeout: Duration,
    sink: Option<SecretSink>,
}

#[derive(Clone)]
enum RenewalKind {
    None(String),
    Oidc(OidcRequest),
    OAuth(StoredLogin),
}

impl fmt::Debug for RenewalKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            RenewalKind::None(_) => "None",
            RenewalKind::Oidc(_) => "Oidc",
            RenewalKind::OAuth(_) => "OAuth",
        })
    }
}

/// Why no fresh token was obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenewalError {
    /// No fresh token can be had from this source (PF220).
    #[error("{0}")]
    Unavailable(String),
    /// Renewing got no usable answer (PF221).
    #[error("{0}")]
    Failed(String),
}

impl HfRenewal {
    fn none(reason: &str) -> Self {
        HfRenewal {
            kind: RenewalKind::None(reason.to_owned()),
            expires_at: None,
            client: None,
            endpoint: String::new(),
            env: None,
            timeout: Duration::from_secs(5),
            sink: None,
        }
    }

    /// True when [`HfRenewal::renew`] can obtain a new token at all.
    pub fn can_renew(&self) -> bool {
        !matches!(self.kind, RenewalKind::None(_))
    }

    /// Obtains a fresh token to replace `current`: a new exchange (minting a new GitHub id
    /// token first), or an OAuth refresh under the official lock.
    pub async fn renew(
        &self,
        current: &Secret,
    ) -> Result<(Secret, Option<SystemTime>), RenewalError> {
        let client = self.client.clone().unwrap_or_default();
        let accept = |secret: &Secret| {
            if let Some(sink) = &self.sink {
                sink.accept(secret);
            }
        };
        match &self.kind {
            RenewalKind::None(reason) => Err(RenewalError::Unavailable(reason.clone())),
            RenewalKind::Oidc(request) => {
                match oidc::obtain(&client, request, &self.endpoint, self.timeout, &accept).await {
                    Ok(exchanged) => {
                        log_exchange(request, &exchanged, "renewed");
                        Ok((exchanged.token, Some(exchanged.expires_at)))
                    }
                    Err(OidcError::Refused { .. }) if request.id_source == Some(IdTokenSource::EnvIdToken) => {
                        Err(RenewalError::Unavailable(
                            "the Hub refused to exchange HF_OIDC_ID_TOKEN again: a pre-minted id token cannot be \
                             re-minted and has probably expired"
                                .to_owned(),
                        ))
                    }
                    Err(OidcError::Refused { .. }) => Err(RenewalError::Unavailable(
                        "the Hub refused to exchange a newly minted id token".to_owned(),
                    )),
                    Err(error) => Err(RenewalError::Failed(error.to_string())),
                }
            }
            RenewalKind::OAuth(login) => {
                let Some(env) = &self.env else {
                    return Err(RenewalError::Unavailable("no environment".to_owned()));
                };
                match refresh_login(&client, &self.endpoint, &**env, login, current, self.timeout, &accept).await {
                    Ok(refreshed) => {
                        let expires = refreshed.expires();
                        Ok((refreshed.token, expires))
                    }
                    Err(RefreshError::Revoked { .. }) => Err(RenewalError::Unavailable(
                        "the stored login's refresh token was refused (invalid_grant); run `hf auth login`".to_owned(),
                    )),
                    Err(RefreshError::Transient { reason }) => Err(RenewalError::Failed(reason)),
                }
            }
        }
    }
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
            no_refresh: false,
            on_secret: None,
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
#[derive(Debug, Clone)]
pub struct AuthValidator {
    env: Arc<dyn Env>,
    hf: HfOptions,
    modal: ModalOptions,
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
        self.validate_hf(discover_hf_token(&*self.env)).await.result
    }

    /// Discovers the Hugging Face token the validator would check. Commands discover once,
    /// register what was found, then hand the discovery to [`AuthValidator::validate_hf`].
    pub fn discover_hf(&self) -> HfTokenDiscovery {
        discover_hf_token(&*self.env)
    }

    /// Validates what `found` holds (performing the Trusted Publishers exchange or the OAuth
    /// refresh it calls for) and hands back the token it validated.
    pub async fn validate_hf(&self, found: HfTokenDiscovery) -> HfValidation {
        let started = Instant::now();
        let mut validation = self.check_hf(found).await;
        validation.result.latency = started.elapsed();
        log_hf(&validation.result);
        validation
    }

    /// The checks a command asked for, on what it discovered once (concurrently when both):
    /// `[hf, modal]`, each only when selected.
    pub async fn validate_selected(
        &self,
        found: Discovered,
        hf: bool,
        modal: bool,
    ) -> Vec<TokenValidationResult> {
        match (hf, modal) {
            (true, true) => {
                let (hf, modal) =
                    tokio::join!(self.validate_hf(found.hf), self.validate_modal(found.modal));
                vec![hf.result, modal]
            }
            (true, false) => vec![self.validate_hf(found.hf).await.result],
            (false, true) => vec![self.validate_modal(found.modal).await],
            (false, false) => Vec::new(),
        }
    }

    /// Discovers and validates the Modal credentials.
    pub async fn validate_modal_token(&self) -> TokenValidationResult {
        crate::modal::validate(&*self.env, &self.modal).await
    }

    /// Validates the Modal credentials `found` (from [`discover_credentials`](crate::discover_credentials)).
    pub async fn validate_modal(&self, found: ModalDiscovery) -> TokenValidationResult {
        crate::modal::validate_discovered(&*self.env, &self.modal, found).await
    }

    /// Both checks, concurrently: `[hf, modal]`.
    pub async fn validate_all_tokens(&self) -> Vec<TokenValidationResult> {
        let found = crate::discover_credentials(&*self.env);
        self.validate_selected(found, true, true).await
    }

    async fn check_hf(&self, found: HfTokenDiscovery) -> HfValidation {
        let env = &*self.env;
        let endpoint = resolve_endpoint(env, self.hf.endpoint.as_deref());
        let mut result = base_result(&found, &endpoint);
        let mut used = Used {
            token: None,
            renewal: HfRenewal::none(
                "the token comes from a variable or a file without a refresh token, so no fresh one can be obtained",
            ),
        };

        self.decide(&found, &endpoint, &mut result, &mut used).await;
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
        if let Some(token) = &used.token {
            scrub_result(&mut result, token);
        }
        HfValidation {
            result,
            token: used.token,
            renewal: used.renewal,
        }
    }

    fn http_client(&self) -> Result<reqwest::Client, String> {
        match &self.hf.client {
            Some(client) => Ok(client.clone()),
            None => reqwest::Client::builder()
                .connect_timeout(self.hf.connect_timeout.min(self.hf.timeout))
                .user_agent(concat!("preflight/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|error| format!("Could not set up an HTTP client: {error}")),
        }
    }

    fn renewal(
        &self,
        kind: RenewalKind,
        endpoint: &str,
        client: &reqwest::Client,
        expires_at: Option<SystemTime>,
    ) -> HfRenewal {
        HfRenewal {
            kind,
            expires_at,
            client: Some(client.clone()),
            endpoint: endpoint.to_owned(),
            env: Some(self.env.clone()),
            timeout: self.hf.timeout,
            sink: self.hf.on_secret.clone(),
        }
    }

    fn accept(&self, secret: &Secret) {
        if let Some(sink) = &self.hf.on_secret {
            sink.accept(secret);
        }
    }

    /// Fills `result`; returns `None` when the token is valid.
    async fn decide(
        &self,
        found: &HfTokenDiscovery,
        endpoint: &str,
        result: &mut TokenValidationResult,
        used: &mut Used,
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
        let client = match self.http_client() {
            Ok(client) => client,
            Err(message) => {
                return fail(
                    result,
                    TokenStatus::Unknown,
                    Code::Pf006,
                    message,
                    "check SSL_CERT_FILE and the proxy variables (HTTPS_PROXY, NO_PROXY)"
                        .to_owned(),
                );
            }
        };
        let exchanged;
        let token = if let Some(request) = &found.oidc_request {
            match self.exchange(&client, endpoint, request, result).await {
                Ok(token) => {
                    used.renewal = self.renewal(
                        RenewalKind::Oidc(request.clone()),
                        endpoint,
                        &client,
                        result_expiry(result),
                    );
                    exchanged = token;
                    &exchanged
                }
                Err(code) => return Some(code),
            }
        } else if let Some(token) = &found.token {
            token
        } else {
            let message = format!("No Hugging Face token found ({})", found.checked.join("; "));
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

        let mut token = token.clone();
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

        let mut refreshed = false;
        if let (Some(stored), Some(TokenSource::File(token_path)), Some(stored_path)) = (
            &found.stored,
            &found.token_source,
            &found.stored_tokens_path,
        ) && stored.refresh_due
        {
            let login = StoredLogin {
                token_path: token_path.clone(),
                stored_tokens_path: stored_path.clone(),
                name: stored.name.clone(),
            };
            let expiry = stored.expires_at.and_then(unix_time);
            used.renewal =
                self.renewal(RenewalKind::OAuth(login.clone()), endpoint, &client, expiry);
            if self.hf.no_refresh {
                result.details.insert("refresh_due".into(), "true".into());
                if stored.expired {
                    return expired_login(
                        result,
                        &stored.name,
                        format!(
                            "The OAuth login from {source} (entry [{}]) has expired; the official client would refresh it \
                             now, but --no-refresh was given, so nothing was sent or written",
                            stored.name
                        ),
                        "run the check without --no-refresh (it refreshes the login as `hf` does), or `hf auth login`"
                            .to_owned(),
                    );
                }
                result.warnings.push(format!(
                    "the OAuth login [{}] is due for a refresh; --no-refresh was given, so it was not refreshed",
                    stored.name
                ));
            } else {
                match refresh_login(
                    &client,
                    endpoint,
                    &*self.env,
                    &login,
                    &token,
                    self.hf.timeout,
                    &|secret| self.accept(secret),
                )
                .await
                {
                    Ok(new) => {
                        token = new.token.clone();
                        refreshed = true;
                        used.renewal.expires_at = new.expires();
                        result.masked_token = Some(token.masked());
                        result.details.insert("refreshed".into(), "true".into());
                        if new.adopted {
                            result
                                .details
                                .insert("refreshed_by".into(), "another process".into());
                        }
                    }
                    Err(RefreshError::Revoked { description }) => {
                        return expired_login(
                            result,
                            &stored.name,
                            format!(
                                "The OAuth login from {source} (entry [{}]) could not be refreshed: the Hub refused its refresh \
                                 token (invalid_grant{}); the session expired or was revoked",
                                stored.name,
                                description
                                    .map(|text| format!(": {text}"))
                                    .unwrap_or_default()
                            ),
                            "run `hf auth login` to log in again".to_owned(),
                        );
                    }
                    Err(RefreshError::Transient { reason }) => {
                        return fail(
                            result,
                            TokenStatus::Unknown,
                            Code::Pf014,
                            format!(
                                "The OAuth login from {source} (entry [{}]) is due for a refresh, and the refresh failed: {reason}; nothing was written",
                                stored.name
                            ),
                            format!(
                                "check the network and that {endpoint} is the Hub you mean, then run the check again; \
                                 if it keeps failing, `hf auth login`"
                            ),
                        );
                    }
                }
            }
        }

        if let Some(stored) = found
            .stored
            .as_ref()
            .filter(|stored| stored.expired && !refreshed)
        {
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
            return expired_login(
                result,
                &stored.name,
                format!(
                    "The token from {source} is recorded as expired at {when} in {stored_path} (entry [{}]); {refresh}",
                    stored.name
                ),
                remediation,
            );
        }

        let answer = fetch_whoami(&client, endpoint, &token, &self.hf.retry, self.hf.timeout).await;
        let whoami = match answer {
            Ok(whoami) => whoami,
            Err(error) => {
                let (message, remediation) = whoami_failure(&error, &source, endpoint, found);
                return fail(result, error.status(), error.code(), message, remediation);
            }
        };

        result.status = TokenStatus::Valid;
        used.token = Some(token.clone());
        result.identity = Some(whoami.identity());
        result.token_role = whoami.role().map(str::to_owned);
        result.scopes = whoami.grants();
        let who = whoami
            .name
            .as_deref()
            .map(|name| format!("{} {name}", whoami.kind.as_deref().unwrap_or("user")))
            .unwrap_or_else(|| "an unnamed account".to_owned());
        let role = whoami.role().unwrap_or("unreported");
        let how = if refreshed {
            " (refreshed)"
        } else if found.oidc_request.is_some() {
            " (exchanged)"
        } else {
            ""
        };
        result.message = format!("Valid token from {source}{how} for {who} (role {role})");

        let user_resource = found
            .oidc_request
            .as_ref()
            .filter(|request| request.resource_is_user());
        let Some(target) = self.hf.target.as_ref() else {
            if let Some(request) = user_resource {
                result.warnings.push(format!(
                    "HF_OIDC_RESOURCE={} is a username, so the exchanged token is read-only",
                    request.resource
                ));
            }
            return None;
        };
        if let Some(request) = user_resource
            && target.need == Need::Write
        {
            result.permission = Some(crate::result::PermissionCheck {
                repo: target.repo_id.to_string(),
                repo_type: target.repo_type.as_str().to_owned(),
                need: target.need.as_str().to_owned(),
                verdict: PermissionVerdict::Forbidden,
                reason: "a Trusted Publishers token for a username resource is read-only"
                    .to_owned(),
            });
            return fail(
                result,
                TokenStatus::Valid,
                Code::Pf012,
                format!(
                    "HF_OIDC_RESOURCE={} is a username: the Hub exchanges the id token for a read-only token, \
                     which may not write {target}",
                    request.resource
                ),
                format!(
                    "set HF_OIDC_RESOURCE to the repo itself ({}) and configure a Trusted Publisher on that repo",
                    target.repo_id
                ),
            );
        }
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

/// What `decide` obtained along the way.
struct Used {
    token: Option<Secret>,
    renewal: HfRenewal,
}

fn result_expiry(result: &TokenValidationResult) -> Option<SystemTime> {
    result
        .details
        .get("token_expires_in")
        .and_then(|seconds| seconds.parse().ok())
        .map(|seconds| SystemTime::now() + Duration::from_secs(seconds))
}

impl AuthValidator {
    /// The Trusted Publishers exchange; on failure `result` is filled and the code returned.
    async fn exchange(
        &self,
        client: &reqwest::Client,
        endpoint: &str,
        request: &OidcRequest,
        result: &mut TokenValidationResult,
    ) -> Result<Secret, Code> {
        result
            .details
            .insert("oidc_resource".into(), request.resource.clone());
        let accept = |secret: &Secret| self.accept(secret);
        let attempt = oidc::obtain(client, request, endpoint, self.hf.timeout, &accept);
        match attempt.await {
            Ok(exchanged) => {
                log_exchange(request, &exchanged, "exchanged");
                result.masked_token = Some(exchanged.token.masked());
                result
                    .details
                    .insert("token_expires_in".into(), exchanged.expires_in.to_string());
                Ok(exchanged.token)
            }
            Err(OidcError::NoIdToken(reason)) => {
                let hint = if request.github_actions {
                    "add `permissions: id-token: write` to the workflow job (GitHub then sets ACTIONS_ID_TOKEN_REQUEST_URL), \
                     or unset HF_OIDC_RESOURCE to use HF_TOKEN instead"
                } else {
                    "set HF_OIDC_ID_TOKEN to the id token your CI provider minted for the audience of the Hub, \
                     or unset HF_OIDC_RESOURCE to use HF_TOKEN or `hf auth login` instead"
                };
                Err(fail(result, TokenStatus::Missing, Code::Pf010, reason, hint.to_owned()).unwrap_or(Code::Pf010))
            }
            Err(error @ OidcError::Refused { .. }) => Err(fail(
                result,
                TokenStatus::Invalid,
                Code::Pf011,
                format!("{error}"),
                format!(
                    "in the Trusted Publishers settings of `{}` on the Hub, add a publisher whose issuer and subject \
                     match this job's id token (for GitHub: the repository, and the workflow / environment / branch it runs on); \
                     check that HF_OIDC_RESOURCE names that repo exactly",
                    request.resource
                ),
            )
            .unwrap_or(Code::Pf011)),
            Err(error) => Err(fail(
                result,
                TokenStatus::Unknown,
                Code::Pf013,
                format!("No Trusted Publishers token was obtained: {error}"),
                format!(
                    "retry in a few minutes; check the network and that {endpoint} is the Hub you mean (HF_ENDPOINT)"
                ),
            )
            .unwrap_or(Code::Pf013)),
        }
    }
}

fn log_exchange(request: &OidcRequest, exchanged: &oidc::Exchanged, how: &'static str) {
    tracing::info!(
        target: "preflight::auth",
        event = "token_exchanged",
        provider = "hf",
        resource = %request.resource,
        id_token_source = match request.id_source {
            Some(IdTokenSource::GitHub) => "github",
            _ => "HF_OIDC_ID_TOKEN",
        },
        masked_token = %exchanged.token.masked(),
        expires_in = exchanged.expires_in,
        how,
        "trusted publishers token {how}"
    );
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

/// PF004 for the stored login (or token) `name` of `stored_tokens`.
fn expired_login(
    result: &mut TokenValidationResult,
    name: &str,
    message: String,
    remediation: String,
) -> Option<Code> {
    result
        .details
        .insert("stored_token_name".into(), name.to_owned());
    fail(
        result,
        TokenStatus::Expired,
        Code::Pf004,
        message,
        remediation,
    )
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
