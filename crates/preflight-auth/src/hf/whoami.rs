//! `GET {endpoint}/api/whoami-v2`: the one request that validates a Hugging Face token.
//!
//! - The token travels only in `Authorization: Bearer …`, marked sensitive.
//! - One request when nothing goes wrong. 408, 429 and 5xx are retried through
//!   [`preflight_retry`] inside the deadline, honouring `Retry-After`; a 401 is never retried.
//!   Connect failures (refused, DNS) and timeouts are **not** retried: a pre-flight should say
//!   "unreachable" at once instead of spending its deadline on a dead network.
//! - The whole exchange, retries included, is bounded by one deadline: it cannot hang.
//! - No error text contains the token: reqwest errors carry URLs, never headers, and every
//!   cause is scrubbed of the token anyway.

use std::error::Error as _;
use std::time::Duration;

use preflight_errors::Code;
use preflight_retry::{
    HttpError, Idempotency, RetryConfig, RetryError, RetryManager, Transience, error_for_status,
};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde::Deserialize;

use crate::Secret;
use crate::env::{Env, vars};
use crate::result::{Identity, ScopedGrant, TokenStatus};

/// The production Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The Hub the official client uses when `HUGGINGFACE_CO_STAGING` is truthy.
pub const STAGING_ENDPOINT: &str = "https://hub-ci.huggingface.co";

/// Largest whoami body read.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The endpoint to talk to: `option`, else `HF_ENDPOINT`, else the staging Hub when
/// `HUGGINGFACE_CO_STAGING` is truthy, else [`DEFAULT_ENDPOINT`]; trailing `/` trimmed, empty
/// values ignored (as the official client's `os.getenv("HF_ENDPOINT", "") or default`).
pub fn resolve_endpoint(env: &dyn Env, option: Option<&str>) -> String {
    let chosen = option
        .map(str::to_owned)
        .filter(|value| !value.trim().is_empty())
        .or_else(|| {
            env.var(vars::HF_ENDPOINT)
                .filter(|value| !value.trim().is_empty())
        });
    match chosen {
        Some(value) => value.trim().trim_end_matches('/').to_owned(),
        None if env
            .var(vars::HUGGINGFACE_CO_STAGING)
            .is_some_and(|value| crate::env::is_truthy(&value)) =>
        {
            STAGING_ENDPOINT.to_owned()
        }
        None => DEFAULT_ENDPOINT.to_owned(),
    }
}

/// The whoami-v2 answer (`docs/protocol/hf-hub.md#answer-fields-preflight-reads`). Every field
/// is optional: the Hub and its emulators differ in what they send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WhoAmI {
    /// `user`, `org` or `app`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The user name, which is also the user's namespace.
    pub name: Option<String>,
    /// Display name.
    pub fullname: Option<String>,
    /// Organisations the user belongs to.
    pub orgs: Vec<OrgInfo>,
    /// How the request was authenticated.
    pub auth: Option<AuthInfo>,
}

/// One organisation of the user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct OrgInfo {
    /// The org name, which is its namespace.
    pub name: String,
    /// `roleInOrg` (`admin`, `write`, `contributor`, `read`) when the Hub reports it.
    #[serde(rename = "roleInOrg")]
    pub role_in_org: Option<String>,
}

/// `auth` of the whoami answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AuthInfo {
    /// `access_token`, `app_token`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The token's metadata; absent for some OAuth tokens.
    #[serde(rename = "accessToken")]
    pub access_token: Option<AccessTokenInfo>,
    /// Expiry of OAuth/app tokens, as the Hub formats it.
    #[serde(rename = "expiresAt")]
    pub expires_at: Option<String>,
}

/// `auth.accessToken`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AccessTokenInfo {
    /// The token's name.
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    /// `read`, `write` or `fineGrained`.
    pub role: Option<String>,
    /// Fine-grained grants (role `fineGrained`).
    #[serde(rename = "fineGrained")]
    pub fine_grained: Option<FineGrainedInfo>,
}

/// `auth.accessToken.fineGrained`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FineGrainedInfo {
    /// Whether gated repos can be read.
    #[serde(rename = "canReadGatedRepos")]
    pub can_read_gated_repos: Option<bool>,
    /// Permissions not tied to an entity (`discussion.write`, …).
    pub global: Vec<String>,
    /// Per-entity grants.
    pub scoped: Vec<ScopedEntry>,
}

/// One `scoped[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ScopedEntry {
    /// The entity the permissions apply to.
    pub entity: ScopedEntity,
    /// Permission strings such as `repo.write`.
    pub permissions: Vec<String>,
}

/// `scoped[].entity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ScopedEntity {
    /// `user`, `org`, `model`, `dataset`, `space`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// `alice`, `my-org` or `alice/model`.
    pub name: String,
}

impl WhoAmI {
    /// `auth.accessToken.role`, if reported.
    pub fn role(&self) -> Option<&str> {
        self.access_token()?.role.as_deref()
    }

    /// `auth.accessToken`, if reported.
    pub fn access_token(&self) -> Option<&AccessTokenInfo> {
        self.auth.as_ref()?.access_token.as_ref()
    }

    /// The fine-grained `scoped[]` entries (empty for other roles).
    pub fn scoped(&self) -> &[ScopedEntry] {
        self.access_token()
            .and_then(|token| token.fine_grained.as_ref())
            .map(|fine| fine.scoped.as_slice())
            .unwrap_or_default()
    }

    /// The identity for a [`TokenValidationResult`](crate::TokenValidationResult).
    pub fn identity(&self) -> Identity {
        Identity {
            name: self.name.clone(),
            kind: self.kind.clone(),
            orgs: self.orgs.iter().map(|org| org.name.clone()).collect(),
            workspace: None,
            token_name: self.access_token().and_then(|t| t.display_name.clone()),
        }
    }

    /// The fine-grained grants as result entries.
    pub fn grants(&self) -> Vec<ScopedGrant> {
        self.scoped()
            .iter()
            .map(|entry| ScopedGrant {
                entity_type: entry.entity.kind.clone(),
                entity_name: entry.entity.name.clone(),
                permissions: entry.permissions.clone(),
            })
            .collect()
    }
}

/// Why whoami gave no identity. Messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhoamiError {
    /// 401: invalid, revoked or expired (the Hub does not say which).
    #[error(
        "the Hub rejected the token (HTTP 401{})",
        server_suffix(server_message)
    )]
    Rejected {
        /// The Hub's `error` / `X-Error-Message`, scrubbed.
        server_message: Option<String>,
    },
    /// The token cannot be put in a header (caught earlier by the shape check in practice).
    #[error("the token cannot be sent in an HTTP header")]
    Unsendable,
    /// Connection refused, host not found, TLS failure, …
    #[error("could not reach {endpoint}: {cause}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The transport error's causes, scrubbed.
        cause: String,
    },
    /// No complete answer before the deadline.
    #[error("no answer from {endpoint} within {} ms", after.as_millis())]
    Timeout {
        /// The endpoint.
        endpoint: String,
        /// The deadline.
        after: Duration,
    },
    /// 429 until attempts or the deadline ran out.
    #[error("the Hub rate-limited whoami (HTTP 429) after {attempts} attempt(s){}", retry_after_suffix(*retry_after))]
    RateLimited {
        /// Attempts made.
        attempts: u32,
        /// The last `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// 408 or 5xx until attempts or the deadline ran out.
    #[error(
        "the Hub answered HTTP {status} (server error) after {attempts} attempt(s){}",
        server_suffix(server_message)
    )]
    ServerError {
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The server's message, scrubbed.
        server_message: Option<String>,
    },
    /// Any other status.
    #[error(
        "the Hub answered whoami with an unexpected HTTP {status}{}",
        server_suffix(server_message)
    )]
    UnexpectedStatus {
        /// The status.
        status: u16,
        /// The server's message, scrubbed.
        server_message: Option<String>,
    },
    /// A 200 whose body is not a whoami-v2 answer, or a body cut short.
    #[error(
        "the answer from {endpoint} is not a whoami-v2 answer ({cause}); is it a Hugging Face Hub?"
    )]
    BadResponse {
        /// The endpoint.
        endpoint: String,
        /// What was wrong.
        cause: String,
    },
}

fn server_suffix(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|text| format!(": {text}"))
        .unwrap_or_default()
}

fn retry_after_suffix(wait: Option<Duration>) -> String {
    wait.map(|wait| format!("; it asked to wait {} s", wait.as_secs()))
        .unwrap_or_default()
}

impl WhoamiError {
    /// The status a check ends in for this error.
    pub fn status(&self) -> TokenStatus {
        match self {
            WhoamiError::Rejected { .. } | WhoamiError::Unsendable => TokenStatus::Invalid,
            _ => TokenStatus::Unknown,
        }
    }

    /// The PF code for this error.
    pub fn code(&self) -> Code {
        match self {
            WhoamiError::Rejected { .. } => Code::Pf003,
            WhoamiError::Unsendable => Code::Pf002,
            WhoamiError::Unreachable { .. } | WhoamiError::Timeout { .. } => Code::Pf006,
            WhoamiError::RateLimited { .. }
            | WhoamiError::ServerError { .. }
            | WhoamiError::UnexpectedStatus { .. }
            | WhoamiError::BadResponse { .. } => Code::Pf007,
        }
    }
}

/// `text` redacted ([`Secret::redact`]) and capped in length: server text is quoted in errors.
pub(crate) fn scrub(text: &str, token: &Secret) -> String {
    let mut out = token.redact(text);
    if out.chars().count() > 300 {
        out = out.chars().take(300).collect::<String>() + "…";
    }
    out
}

/// A transport error and its causes, one line, scrubbed.
fn describe(error: &reqwest::Error, token: &Secret) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    scrub(&parts.join(": "), token)
}

/// Calls `GET {endpoint}/api/whoami-v2` with `token`, retrying rate limits and server errors
/// per `retry` inside `timeout`, which bounds everything (the retry deadline is clamped to it).
///
/// `endpoint` has no trailing `/` (see [`resolve_endpoint`]).
pub async fn fetch_whoami(
    client: &reqwest::Client,
    endpoint: &str,
    token: &Secret,
    retry: &RetryConfig,
    timeout: Duration,
) -> Result<WhoAmI, WhoamiError> {
    let url = format!("{endpoint}/api/whoami-v2");
    let Ok(mut authorization) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) else {
        return Err(WhoamiError::Unsendable);
    };
    authorization.set_sensitive(true);

    let deadline = retry.deadline.map_or(timeout, |own| own.min(timeout));
    // Every attempt that fits in the deadline is made: a backoff that would pass it is
    // shortened rather than ending the check with time left.
    let manager = RetryManager::new(retry.clone().with_deadline(Some(deadline)))
        .filling_deadline()
        .with_predicate(|error| {
            // Fail fast on a dead network: refused, unresolvable and timed out are final
            // here (the check must answer in milliseconds). A connection reset or a cut
            // body is a flaky path, not a dead one, and is retried like any transient error.
            let transport = error.downcast_ref::<reqwest::Error>()?;
            (transport.is_timeout() || (transport.is_connect() && is_dead_network(transport)))
                .then_some(Transience::Permanent)
        });
    let operation = manager.run("hf.whoami", Idempotency::Idempotent, |attempt| {
        let request = client
            .get(&url)
            .header(AUTHORIZATION, authorization.clone())
            .header(ACCEPT, "application/json")
            .timeout(attempt.remaining.unwrap_or(deadline));
        async move {
            let response = request.send().await?;
            let mut response = error_for_status(response).await?;
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY_BYTES {
                    break;
                }
            }
            Ok::<Vec<u8>, HttpError>(body)
        }
    });
    let timed_out = || WhoamiError::Timeout {
        endpoint: endpoint.to_owned(),
        after: timeout,
    };
    match tokio::time::timeout(timeout, operation).await {
        Err(_) => Err(timed_out()),
        Ok(Ok(body)) => {
            serde_json::from_slice::<WhoAmI>(&body).map_err(|error| WhoamiError::BadResponse {
                endpoint: endpoint.to_owned(),
                cause: scrub(&error.to_string(), token),
            })
        }
        Ok(Err(failure)) => Err(map_failure(failure, endpoint, token, timeout)),
    }
}

/// True when a connect error means nothing is listening or the host does not resolve, as
/// opposed to a connection that was reset while being set up.
fn is_dead_network(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    return false;
                }
                std::io::ErrorKind::ConnectionRefused => return true,
                _ => {}
            }
        }
        source = current.source();
    }
    // DNS failures and unreachable networks carry no specific io kind.
    true
}

fn map_failure(
    failure: RetryError<HttpError>,
    endpoint: &str,
    token: &Secret,
    timeout: Duration,
) -> WhoamiError {
    let attempts = failure.attempts();
    let clean = |message: Option<String>| message.map(|text| scrub(&text, token));
    match failure.into_last_error() {
        HttpError::Status(status) => match status.status {
            401 => WhoamiError::Rejected {
                server_message: clean(status.error_message),
            },
            429 => WhoamiError::RateLimited {
                attempts,
                retry_after: status.retry_after,
            },
            408 | 500..=599 => WhoamiError::ServerError {
                status: status.status,
                attempts,
                server_message: clean(status.error_message),
            },
            other => WhoamiError::UnexpectedStatus {
                status: other,
                server_message: clean(status.error_message),
            },
        },
        HttpError::Transport(error) if error.is_timeout() => WhoamiError::Timeout {
            endpoint: endpoint.to_owned(),
            after: timeout,
        },
        HttpError::Transport(error) if error.is_body() || error.is_decode() => {
            WhoamiError::BadResponse {
                endpoint: endpoint.to_owned(),
                cause: describe(&error, token),
            }
        }
        HttpError::Transport(error) => WhoamiError::Unreachable {
            endpoint: endpoint.to_owned(),
            cause: describe(&error, token),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    #[test]
    fn endpoint_resolution_order() {
        let env = MapEnv::new().with("HF_ENDPOINT", "http://x:1//");
        assert_eq!(resolve_endpoint(&env, Some("http://opt/")), "http://opt");
        assert_eq!(resolve_endpoint(&env, Some("  ")), "http://x:1");
        assert_eq!(resolve_endpoint(&env, None), "http://x:1");
        let empty = MapEnv::new().with("HF_ENDPOINT", "");
        assert_eq!(resolve_endpoint(&empty, None), DEFAULT_ENDPOINT);
        let staging = MapEnv::new().with("HUGGINGFACE_CO_STAGING", "1");
        assert_eq!(resolve_endpoint(&staging, None), STAGING_ENDPOINT);
    }

    #[test]
    fn parses_the_documented_schema_and_oauth_shapes() {
        let full: WhoAmI = serde_json::from_str(
            r#"{"type":"user","name":"alice","orgs":[{"name":"my-org","roleInOrg":"admin"}],
                "auth":{"type":"access_token","accessToken":{"displayName":"t","role":"fineGrained",
                "fineGrained":{"canReadGatedRepos":true,"global":["post.write"],
                "scoped":[{"entity":{"_id":"1","type":"org","name":"my-org"},"permissions":["repo.write"]}]}}}}"#,
        )
        .expect("parses");
        assert_eq!(full.role(), Some("fineGrained"));
        assert_eq!(full.identity().orgs, vec!["my-org"]);
        assert_eq!(full.identity().token_name.as_deref(), Some("t"));
        assert_eq!(full.grants()[0].entity_name, "my-org");
        let oauth: WhoAmI = serde_json::from_str(r#"{"name":"bob","auth":{}}"#).expect("parses");
        assert_eq!(oauth.role(), None);
        assert!(oauth.scoped().is_empty());
    }

    #[test]
    fn scrub_masks_and_caps() {
        let token = Secret::new("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");
        let text = format!("bad {} here", token.expose());
        assert_eq!(scrub(&text, &token), "bad hf_…KgGD here");
        assert!(scrub(&"x".repeat(400), &token).ends_with('…'));
        assert_eq!(scrub("a", &Secret::new("")), "a");
    }

    #[test]
    fn errors_map_to_status_and_code() {
        let cases = [
            (
                WhoamiError::Rejected {
                    server_message: Some("Invalid".into()),
                },
                TokenStatus::Invalid,
                Code::Pf003,
            ),
            (WhoamiError::Unsendable, TokenStatus::Invalid, Code::Pf002),
            (
                WhoamiError::Unreachable {
                    endpoint: "e".into(),
                    cause: "c".into(),
                },
                TokenStatus::Unknown,
                Code::Pf006,
            ),
            (
                WhoamiError::Timeout {
                    endpoint: "e".into(),
                    after: Duration::from_millis(5),
                },
                TokenStatus::Unknown,
                Code::Pf006,
            ),
            (
                WhoamiError::RateLimited {
                    attempts: 2,
                    retry_after: Some(Duration::from_secs(3)),
                },
                TokenStatus::Unknown,
                Code::Pf007,
            ),
            (
                WhoamiError::ServerError {
                    status: 503,
                    attempts: 3,
                    server_message: None,
                },
                TokenStatus::Unknown,
                Code::Pf007,
            ),
            (
                WhoamiError::UnexpectedStatus {
                    status: 404,
                    server_message: None,
                },
                TokenStatus::Unknown,
                Code::Pf007,
            ),
            (
                WhoamiError::BadResponse {
                    endpoint: "e".into(),
                    cause: "c".into(),
                },
                TokenStatus::Unknown,
                Code::Pf007,
            ),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status(), status, "{error}");
            assert_eq!(error.code(), code, "{error}");
            assert!(!error.to_string().is_empty());
        }
    }
}
