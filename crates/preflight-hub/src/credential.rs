//! The token an upload sends, and how it is renewed during long work.
//!
//! A Trusted Publishers token lives an hour and an OAuth access token expires too; a 20 GB
//! upload can outlive either. The client keeps the current token with its `Authorization`
//! header (built once per token, not per request) and, when a [`TokenSource`] is installed:
//!
//! - before a request, renews a token that is within [`renewal_margin`] of its expiry (a
//!   failure there is not fatal: the current token is still tried);
//! - on a 401, renews once (only one renewal per token generation, however many requests
//!   fail at once) and sends that request again with the new token. When no fresh token can
//!   be had the request fails with PF220 (PF221 when renewing got no answer); the resume
//!   state is kept, so the same command resumes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use preflight_types::Secret;
use reqwest::header::HeaderValue;

/// A freshly obtained token.
#[derive(Debug, Clone)]
pub struct FreshToken {
    /// The token.
    pub token: Secret,
    /// When it expires, when known.
    pub expires_at: Option<SystemTime>,
}

/// Why no fresh token was obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenewFailure {
    /// This source cannot produce another token (a plain `HF_TOKEN`, an expired pre-minted id
    /// token, a revoked refresh token): PF220.
    #[error("{0}")]
    Unavailable(String),
    /// Renewing got no usable answer: PF221.
    #[error("{0}")]
    Failed(String),
}

/// The future [`TokenSource::renew`] returns.
pub type RenewFuture<'a> =
    Pin<Box<dyn Future<Output = Result<FreshToken, RenewFailure>> + Send + 'a>>;

/// Where fresh tokens come from; the CLI implements it over the auth crate's renewal.
pub trait TokenSource: Send + Sync {
    /// A token to replace `current`, which expired or is about to.
    fn renew<'a>(&'a self, current: &'a Secret) -> RenewFuture<'a>;
}

/// Renew this long before expiry: the official client's 300 s, but at most a third of the
/// token's lifetime, so a short-lived token is not renewed before every request.
pub fn renewal_margin(lifetime: Duration) -> Duration {
    Duration::from_secs(300).min(lifetime / 3)
}

struct Current {
    token: Secret,
    header: HeaderValue,
    obtained_at: SystemTime,
    expires_at: Option<SystemTime>,
    generation: u64,
}

/// The current token and its header, shared by every clone of the client.
pub(crate) struct Credential {
    current: RwLock<Current>,
    renewing: tokio::sync::Mutex<()>,
    source: OnceLock<Arc<dyn TokenSource>>,
}

/// A header that cannot hold the token.
#[derive(Debug)]
pub(crate) struct Unsendable;

fn header_for(token: &Secret) -> Result<HeaderValue, Unsendable> {
    let mut value =
        HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| Unsendable)?;
    value.set_sensitive(true);
    Ok(value)
}

impl Credential {
    pub(crate) fn new(token: Secret) -> Result<Self, Unsendable> {
        let header = header_for(&token)?;
        Ok(Credential {
            current: RwLock::new(Current {
                token,
                header,
                obtained_at: SystemTime::now(),
                expires_at: None,
                generation: 0,
            }),
            renewing: tokio::sync::Mutex::new(()),
            source: OnceLock::new(),
        })
    }

    pub(crate) fn set_source(&self, source: Arc<dyn TokenSource>, expires_at: Option<SystemTime>) {
        if self.source.set(source).is_ok()
            && let Ok(mut current) = self.current.write()
        {
            current.expires_at = expires_at;
        }
    }

    pub(crate) fn renewable(&self) -> bool {
        self.source.get().is_some()
    }

    /// The current header and its generation.
    pub(crate) fn header(&self) -> (HeaderValue, u64) {
        match self.current.read() {
            Ok(current) => (current.header.clone(), current.generation),
            Err(poisoned) => {
                let current = poisoned.into_inner();
                (current.header.clone(), current.generation)
            }
        }
    }

    fn due(&self) -> Option<u64> {
        let current = self.current.read().ok()?;
        let expires_at = current.expires_at?;
        let lifetime = expires_at
            .duration_since(current.obtained_at)
            .unwrap_or_default();
        let renew_at = expires_at
            .checked_sub(renewal_margin(lifetime))
            .unwrap_or(expires_at);
        (SystemTime::now() >= renew_at).then_some(current.generation)
    }

    /// The header to send now: renewed first when the token is about to expire. A failed
    /// early renewal is logged and the current token used; a 401 decides later.
    pub(crate) async fn fresh_header(&self) -> (HeaderValue, u64) {
        if self.renewable()
            && let Some(generation) = self.due()
            && let Err(failure) = self.renew_after(generation, "expiring").await
        {
            tracing::warn!(
                target: "preflight::hub",
                event = "token_renewal_failed",
                reason = %failure,
                "the token is about to expire and could not be renewed early; using it until the Hub rejects it"
            );
        }
        self.header()
    }

    /// Renews the token of `generation` unless another request already did; returns the
    /// header to use.
    pub(crate) async fn renew_after(
        &self,
        generation: u64,
        why: &'static str,
    ) -> Result<(HeaderValue, u64), RenewFailure> {
        let Some(source) = self.source.get() else {
            return Err(RenewFailure::Unavailable(
                "no source of fresh tokens is configured".to_owned(),
            ));
        };
        let _one_at_a_time = self.renewing.lock().await;
        let (token, current_generation) = match self.current.read() {
            Ok(current) => (current.token.clone(), current.generation),
            Err(_) => return Err(RenewFailure::Failed("token state poisoned".to_owned())),
        };
        if current_generation != generation {
            return Ok(self.header());
        }
        let fresh = source.renew(&token).await?;
        let header = header_for(&fresh.token).map_err(|_| {
            RenewFailure::Unavailable("the renewed token cannot be sent in a header".to_owned())
        })?;
        let masked = fresh.token.masked();
        if let Ok(mut current) = self.current.write() {
            *current = Current {
                token: fresh.token,
                header,
                obtained_at: SystemTime::now(),
                expires_at: fresh.expires_at,
                generation: generation + 1,
            };
        }
        tracing::info!(
            target: "preflight::hub",
            event = "token_renewed",
            why,
            masked_token = %masked,
            generation = generation + 1,
            "obtained a fresh token for the upload"
        );
        Ok(self.header())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_official_but_at_most_a_third() {
        assert_eq!(
            renewal_margin(Duration::from_secs(3600)),
            Duration::from_secs(300)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(3)),
            Duration::from_secs(1)
        );
    }
}
