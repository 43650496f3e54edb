//! Trusted Publishers: a CI job's OIDC id token exchanged for a short-lived Hub token, as
//! huggingface_hub 2.4.0's `_oidc.py` does it.
//!
//! 1. The id token is `HF_OIDC_ID_TOKEN`, or under GitHub Actions (`GITHUB_ACTIONS=true`) one
//!    minted by `GET $ACTIONS_ID_TOKEN_REQUEST_URL` with `audience=<endpoint>` added to its
//!    query and `Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`; the answer's `value`.
//! 2. `POST {endpoint}/oauth/token` with the JSON body `grant_type =
//!    urn:ietf:params:oauth:grant-type:token-exchange`, `subject_token_type =
//!    urn:ietf:params:oauth:token-type:id_token`, `subject_token`, `resource`; the answer's
//!    `access_token` (and `expires_in`, 3600 when absent) is the Hub token.

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use url::Url;

use crate::Secret;
use crate::hf::discovery::{IdTokenSource, OidcRequest};

/// RFC 8693 token-exchange grant.
pub const TOKEN_EXCHANGE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 id-token subject type.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// Lifetime assumed when the exchange answer has no `expires_in` (as the official client).
pub const DEFAULT_EXPIRES_IN: u64 = 3600;

/// A Hub token obtained by the exchange.
#[derive(Debug, Clone)]
pub struct Exchanged {
    /// The Hub token (`hf_jwt_…` on the real Hub).
    pub token: Secret,
    /// When it stops working, by the exchange's `expires_in`.
    pub expires_at: SystemTime,
    /// `expires_in` as answered.
    pub expires_in: u64,
}

/// Why no Trusted Publishers token was obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// Neither `HF_OIDC_ID_TOKEN` nor a CI provider that can mint one (PF010).
    #[error("{0}")]
    NoIdToken(String),
    /// The Hub refused the exchange, e.g. `invalid_grant` (PF011).
    #[error(
        "the Hub refused to exchange the id token for resource `{resource}` (HTTP {status}{})",
        detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
    )]
    Refused {
        /// `HF_OIDC_RESOURCE`.
        resource: String,
        /// The HTTP status.
        status: u16,
        /// `error` and `error_description` (or the message) from the answer.
        detail: Option<String>,
    },
    /// No usable answer from the id-token endpoint or the exchange (PF013).
    #[error("{0}")]
    Unanswered(String),
}

#[derive(Deserialize)]
struct ExchangeAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct MintAnswer {
    value: Option<String>,
}

/// `request_url` with `audience=<audience>` added to whatever query it already carries.
pub fn audience_url(request_url: &str, audience: &str) -> Result<String, String> {
    let mut url = Url::parse(request_url)
        .map_err(|error| format!("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: {error}"))?;
    url.query_pairs_mut().append_pair("audience", audience);
    Ok(url.into())
}

/// Obtains a Hub token for `request`: mints (or takes) the id token for the Hub at `endpoint`,
/// then exchanges it. Both the check and every renewal during long work go through here.
pub async fn obtain(
    client: &reqwest::Client,
    request: &OidcRequest,
    endpoint: &str,
    timeout: Duration,
    on_secret: &(dyn Fn(&Secret) + Send + Sync),
) -> Result<Exchanged, OidcError> {
    let id_token = id_token(client, request, endpoint, timeout, on_secret).await?;
    exchange(
        client,
        endpoint,
        &id_token,
        &request.resource,
        timeout,
        on_secret,
    )
    .await
}

/// Obtains the id token named by `request`: `HF_OIDC_ID_TOKEN` as is, or a fresh one minted
/// from GitHub Actions. `on_secret` sees a minted token before anything else happens.
pub async fn id_token(
    client: &reqwest::Client,
    request: &OidcRequest,
    audience: &str,
    timeout: Duration,
    on_secret: &(dyn Fn(&Secret) + Send + Sync),
) -> Result<Secret, OidcError> {
    match request.id_source {
        Some(IdTokenSource::EnvIdToken) => request.id_token.clone().ok_or_else(|| {
            OidcError::NoIdToken("HF_OIDC_ID_TOKEN is empty".to_owned())
        }),
        Some(IdTokenSource::GitHub) => {
            let (Some(url), Some(bearer)) = (&request.request_url, &request.request_token) else {
                return Err(OidcError::NoIdToken(
                    "HF_OIDC_RESOURCE is set and this is GitHub Actions, but ACTIONS_ID_TOKEN_REQUEST_URL / \
                     ACTIONS_ID_TOKEN_REQUEST_TOKEN are not: GitHub provides them only to a job with \
                     `permissions: id-token: write`"
                        .to_owned(),
                ));
            };
            mint_github(client, url, bearer, audience, timeout, on_secret).await
        }
        None => Err(OidcError::NoIdToken(
            "HF_OIDC_RESOURCE is set but no OIDC id token is available: this is not a supported CI \
             provider (github) and HF_OIDC_ID_TOKEN is not set"
                .to_owned(),
        )),
    }
}

async fn mint_github(
    client: &reqwest::Client,
    request_url: &str,
    bearer: &Secret,
    audience: &str,
    timeout: Duration,
    on_secret: &(dyn Fn(&Secret) + Send + Sync),
) -> Result<Secret, OidcError> {
    let url = audience_url(request_url, audience).map_err(OidcError::Unanswered)?;
    let shown = preflight_retry::redact_url(request_url);
    let mut authorization =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", bearer.expose())).map_err(
            |_| OidcError::NoIdToken("ACTIONS_ID_TOKEN_REQUEST_TOKEN is not a header value".into()),
        )?;
    authorization.set_sensitive(true);
    let response = client
        .get(&url)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .timeout(timeout)
        .send()
        .await
        .map_err(|error| {
            OidcError::Unanswered(format!(
                "GitHub's id-token endpoint {shown} did not answer: {}",
                error.without_url()
            ))
        })?;
    let status = response.status().as_u16();
    if !response.status().is_success() {
        return Err(OidcError::Unanswered(format!(
            "GitHub's id-token endpoint {shown} answered HTTP {status} instead of an id token"
        )));
    }
    let answer: MintAnswer = response.json().await.map_err(|_| {
        OidcError::Unanswered(format!(
            "GitHub's id-token endpoint {shown} answered without a JSON `value`"
        ))
    })?;
    let value = answer
        .value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| {
            OidcError::Unanswered(format!(
                "GitHub's id-token endpoint {shown} answered without a `value`"
            ))
        })?;
    let token = Secret::new(value);
    on_secret(&token);
    Ok(token)
}

/// Exchanges `id_token` for a Hub token scoped to `resource`.
pub async fn exchange(
    client: &reqwest::Client,
    endpoint: &str,
    id_token: &Secret,
    resource: &str,
    timeout: Duration,
    on_secret: &(dyn Fn(&Secret) + Send + Sync),
) -> Result<Exchanged, OidcError> {
    let url = format!("{endpoint}/oauth/token");
    let body = serde_json::json!({
        "grant_type": TOKEN_EXCHANGE_GRANT_TYPE,
        "subject_token_type": ID_TOKEN_TYPE,
        "subject_token": id_token.expose(),
        "resource": resource,
    });
    let started = SystemTime::now();
    let response = client
        .post(&url)
        .json(&body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|error| {
            OidcError::Unanswered(format!(
                "the token exchange at {url} got no answer: {}",
                error.without_url()
            ))
        })?;
    let status = response.status().as_u16();
    let answer: Option<ExchangeAnswer> = response.json().await.ok();
    if status == 429 || status >= 500 {
        return Err(OidcError::Unanswered(format!(
            "the token exchange at {url} answered HTTP {status}"
        )));
    }
    let Some(answer) = answer else {
        return Err(OidcError::Unanswered(format!(
            "the token exchange at {url} answered HTTP {status} without JSON"
        )));
    };
    match answer.access_token.filter(|token| !token.is_empty()) {
        Some(token) if (200..300).contains(&status) => {
            let token = Secret::new(token);
            on_secret(&token);
            let expires_in = answer.expires_in.unwrap_or(DEFAULT_EXPIRES_IN);
            Ok(Exchanged {
                token,
                expires_at: started + Duration::from_secs(expires_in),
                expires_in,
            })
        }
        _ => {
            let detail = match (answer.error, answer.error_description.or(answer.message)) {
                (Some(error), Some(text)) => Some(format!("{error}: {text}")),
                (Some(error), None) => Some(error),
                (None, text) => text,
            };
            Err(OidcError::Refused {
                resource: resource.to_owned(),
                status,
                // A server may quote the subject token back; never pass it on.
                detail: detail.map(|text| id_token.redact(&text)),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_joins_an_existing_query() {
        assert_eq!(
            audience_url(
                "https://gh.example/token?api-version=2.0",
                "http://127.0.0.1:5"
            )
            .unwrap(),
            "https://gh.example/token?api-version=2.0&audience=http%3A%2F%2F127.0.0.1%3A5"
        );
        assert_eq!(
            audience_url("https://gh.example/token", "https://huggingface.co").unwrap(),
            "https://gh.example/token?audience=https%3A%2F%2Fhuggingface.co"
        );
        assert!(audience_url("not a url", "x").is_err());
    }
}
