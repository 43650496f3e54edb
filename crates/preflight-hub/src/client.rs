//! [`HubClient`]: the HTTP client, endpoint, token and retry policy shared by every call.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use preflight_retry::{RetryManager, error_for_status, redact_url};
use preflight_types::Secret;
use reqwest::header::AUTHORIZATION;
use url::Url;

use crate::credential::{Credential, RenewFailure, TokenSource};
use crate::error::{AttemptError, HubError};
use crate::repo::RepoType;
use crate::state::default_state_root;

/// Timeouts of the HTTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// Any single read (response headers or a body chunk) that stalls longer fails the attempt,
    /// which the retry loop then classifies as a timeout. Uploads of any size are fine: the
    /// clock restarts with every chunk.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(120),
        }
    }
}

/// A Hub client: a `reqwest` client, the endpoint, an optional token and a [`RetryManager`].
///
/// `Debug` shows `token_set: bool`, never the token. The token is sent only to the endpoint's
/// origin (API, LFS batch, verify); pre-signed upload URLs get no `Authorization` header.
#[derive(Clone)]
pub struct HubClient {
    pub(crate) http: reqwest::Client,
    pub(crate) endpoint: Url,
    credential: Option<Arc<Credential>>,
    pub(crate) retry: RetryManager,
    pub(crate) state_root: PathBuf,
    timeouts: Timeouts,
}

impl fmt::Debug for HubClient {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("HubClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("token_set", &self.credential.is_some())
            .field("retry", &self.retry)
            .field("state_root", &self.state_root)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

impl HubClient {
    /// A client for `endpoint` (`https://huggingface.co` or an emulator's URL).
    pub fn new(
        endpoint: &str,
        token: Option<Secret>,
        retry: RetryManager,
    ) -> Result<HubClient, HubError> {
        let trimmed = endpoint.trim().trim_end_matches('/');
        let invalid = |reason: &str| HubError::InvalidEndpoint {
            endpoint: redact_url(endpoint),
            reason: reason.to_owned(),
        };
        let mut parsed = Url::parse(trimmed).map_err(|error| invalid(&error.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(invalid("expected an http:// or https:// URL"));
        }
        if parsed.query().is_some() || !parsed.username().is_empty() {
            return Err(invalid("the endpoint must not carry a query or user info"));
        }
        if !parsed.path().ends_with('/') {
            let path = format!("{}/", parsed.path());
            parsed.set_path(&path);
        }
        let credential = match token {
            Some(token) => Some(Arc::new(
                Credential::new(token).map_err(|_| HubError::InvalidToken)?,
            )),
            None => None,
        };
        let timeouts = Timeouts::default();
        Ok(HubClient {
            http: build_http(timeouts)?,
            endpoint: parsed,
            credential,
            retry,
            state_root: default_state_root(),
            timeouts,
        })
    }

    /// Renews the token from `source` before `expires_at` and once on a 401 (see
    /// [`crate::credential`]). Without a token set, this does nothing.
    #[must_use]
    pub fn with_token_source(
        self,
        source: Arc<dyn TokenSource>,
        expires_at: Option<SystemTime>,
    ) -> Self {
        if let Some(credential) = &self.credential {
            credential.set_source(source, expires_at);
        }
        self
    }

    /// Keeps resume state under `root` instead of the default (see [`crate::state`]).
    #[must_use]
    pub fn with_state_dir(mut self, root: impl Into<PathBuf>) -> Self {
        self.state_root = root.into();
        self
    }

    /// Replaces the HTTP timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Result<Self, HubError> {
        self.http = build_http(timeouts)?;
        self.timeouts = timeouts;
        Ok(self)
    }

    /// The endpoint, with a trailing `/`.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The retry manager (and its counters).
    pub fn retry(&self) -> &RetryManager {
        &self.retry
    }

    /// True when a token is configured.
    pub fn has_token(&self) -> bool {
        self.credential.is_some()
    }

    /// `{endpoint}/{path}`; `path` must not start with `/`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint)
    }

    /// `{endpoint}/api/{type}s/{repo}{suffix}`.
    pub(crate) fn api_repo_url(&self, repo_type: RepoType, repo_id: &str, suffix: &str) -> String {
        self.url(&format!(
            "api/{}/{repo_id}{suffix}",
            repo_type.api_segment()
        ))
    }

    /// The web URL of a commit.
    pub(crate) fn commit_url(&self, repo_type: RepoType, repo_id: &str, oid: &str) -> String {
        self.url(&format!("{}{repo_id}/commit/{oid}", repo_type.url_prefix()))
    }

    /// Adds the `Authorization` header when a token is set and `url` is on the endpoint's
    /// origin.
    pub(crate) fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> reqwest::RequestBuilder {
        let same_origin = Url::parse(url)
            .map(|parsed| parsed.origin() == self.endpoint.origin())
            .unwrap_or(false);
        match (&self.credential, same_origin) {
            (Some(credential), true) => request.header(AUTHORIZATION, credential.header().0),
            _ => request,
        }
    }

    /// Rewrites `https://huggingface.co/…` hrefs to the configured endpoint, like the official
    /// client's `fix_hf_endpoint_in_url`, so mirrors and emulators receive their own URLs.
    pub(crate) fn fix_href(&self, href: &str) -> String {
        let endpoint = self.endpoint.as_str().trim_end_matches('/');
        for official in ["https://huggingface.co", "https://hub-ci.huggingface.co"] {
            if endpoint != official
                && let Some(rest) = href.strip_prefix(official)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return format!("{endpoint}{rest}");
            }
        }
        href.to_owned()
    }

    /// Sends `request` (one attempt), checks the status, reads the body as JSON.
    pub(crate) async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, AttemptError> {
        let bytes = self.send_bytes(operation, url, request).await?;
        serde_json::from_slice(&bytes).map_err(|error| AttemptError::Protocol {
            operation,
            url: redact_url(url),
            message: format!("invalid JSON: {error}"),
        })
    }

    /// Sends `request` (one attempt), checks the status, reads the whole body.
    pub(crate) async fn send_bytes(
        &self,
        operation: &'static str,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<bytes::Bytes, AttemptError> {
        let response = self.send(operation, url, request).await?;
        response
            .bytes()
            .await
            .map_err(|source| transport(operation, url, source))
    }

    /// Sends `request` (one attempt) and checks the status.
    pub(crate) async fn send(
        &self,
        operation: &'static str,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AttemptError> {
        let (http, request) = request.build_split();
        let mut request = request.map_err(|source| transport(operation, url, source))?;
        // Only requests `authorize` signed carry the header; pre-signed URLs never do.
        let credential = self
            .credential
            .as_ref()
            .filter(|_| request.headers().contains_key(AUTHORIZATION));
        let mut generation = 0;
        if let Some(credential) = credential {
            let (header, current) = credential.fresh_header().await;
            request.headers_mut().insert(AUTHORIZATION, header);
            generation = current;
        }
        // Every signed request has a buffered body, so a copy for one resend is cheap.
        let again = credential
            .filter(|credential| credential.renewable())
            .and_then(|_| request.try_clone());
        let mut response = http
            .execute(request)
            .await
            .map_err(|source| transport(operation, url, source))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED
            && let (Some(credential), Some(mut again)) = (credential, again)
        {
            let (header, _) = credential
                .renew_after(generation, "rejected")
                .await
                .map_err(|failure| AttemptError::TokenRenewal {
                    operation,
                    unavailable: matches!(failure, RenewFailure::Unavailable(_)),
                    message: failure.to_string(),
                })?;
            again.headers_mut().insert(AUTHORIZATION, header);
            response = http
                .execute(again)
                .await
                .map_err(|source| transport(operation, url, source))?;
        }
        error_for_status(response)
            .await
            .map_err(|source| AttemptError::Status { operation, source })
    }
}

pub(crate) fn transport(
    operation: &'static str,
    url: &str,
    source: reqwest::Error,
) -> AttemptError {
    AttemptError::Transport {
        operation,
        url: redact_url(url),
        // The error's own Display would quote the full URL, signature included.
        source: source.without_url(),
    }
}

fn build_http(timeouts: Timeouts) -> Result<reqwest::Client, HubError> {
    reqwest::Client::builder()
        .user_agent(concat!("preflight/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.read)
        .build()
        .map_err(HubError::Client)
}

/// Percent-encodes a revision for a path segment (`refs/pr/1` → `refs%2Fpr%2F1`).
pub(crate) fn quote_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_and_debug() {
        let client = HubClient::new(
            "http://127.0.0.1:9/",
            Some(Secret::new("hf_secretsecretsecret")),
            RetryManager::default(),
        )
        .unwrap();
        assert_eq!(client.endpoint(), "http://127.0.0.1:9/");
        let debug = format!("{client:?}");
        assert!(debug.contains("token_set: true"), "{debug}");
        assert!(!debug.contains("secretsecret"), "{debug}");
        assert_eq!(
            client.api_repo_url(RepoType::Dataset, "a/b", "/preupload/main"),
            "http://127.0.0.1:9/api/datasets/a/b/preupload/main"
        );
        assert_eq!(
            client.fix_href("https://huggingface.co/a/b.git/x"),
            "http://127.0.0.1:9/a/b.git/x"
        );
        assert_eq!(
            client.fix_href("https://s3.example/x?sig=1"),
            "https://s3.example/x?sig=1"
        );
        assert!(HubClient::new("ftp://x", None, RetryManager::default()).is_err());
        assert!(HubClient::new("not a url", None, RetryManager::default()).is_err());
        assert!(matches!(
            HubClient::new(
                "http://h",
                Some(Secret::new("a\nb")),
                RetryManager::default()
            ),
            Err(HubError::InvalidToken)
        ));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_segment("refs/pr/1"), "refs%2Fpr%2F1");
        assert_eq!(quote_segment("main"), "main");
    }
}
