//! What every credential check ends in.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use preflight_errors::Code;
use serde::Serialize;

/// The outcome of one credential check. Every check ends in exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenStatus {
    /// The provider accepted the credential.
    Valid,
    /// The credential was rejected, or can never be sent.
    Invalid,
    /// The credential is known to be expired.
    Expired,
    /// No credential was found.
    Missing,
    /// The answer could not be obtained (network, timeout, server error, missing tool).
    Unknown,
}

impl TokenStatus {
    /// Upper-case name as used in logs and JSON: `VALID`, `INVALID`, …
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Valid => "VALID",
            TokenStatus::Invalid => "INVALID",
            TokenStatus::Expired => "EXPIRED",
            TokenStatus::Missing => "MISSING",
            TokenStatus::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for TokenStatus {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Which service a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The Hugging Face Hub.
    Hf,
    /// Modal.
    Modal,
}

impl Provider {
    /// Short name: `hf` or `modal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Hf => "hf",
            Provider::Modal => "modal",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Who the credential belongs to, as the provider reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// User name (HF `name`; Modal user).
    pub name: Option<String>,
    /// Account kind: `user`, `org`, `app` for HF.
    pub kind: Option<String>,
    /// Organisations the user belongs to (HF).
    pub orgs: Vec<String>,
    /// Modal workspace.
    pub workspace: Option<String>,
    /// Display name of the token itself, when the provider reports one.
    pub token_name: Option<String>,
}

/// One fine-grained grant: an entity and the permissions on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopedGrant {
    /// `user`, `org`, `model`, `dataset`, `space`, …
    pub entity_type: String,
    /// The entity's name (`alice`, `my-org`, `alice/model`).
    pub entity_name: String,
    /// Permission strings such as `repo.write`.
    pub permissions: Vec<String>,
}

/// The verdict on whether the credential may do what was asked with a specific target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionVerdict {
    /// The token's grants allow it.
    Allowed,
    /// The token's grants do not allow it.
    Forbidden,
    /// Could not be decided (the token itself was not validated).
    Undetermined,
}

/// The separate answer to "may this token do X to this repo".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PermissionCheck {
    /// `ns/name`.
    pub repo: String,
    /// `model`, `dataset` or `space`.
    pub repo_type: String,
    /// `read` or `write`.
    pub need: String,
    /// The verdict.
    pub verdict: PermissionVerdict,
    /// Why, in one sentence a person can act on.
    pub reason: String,
}

/// The full result of validating one provider's credential.
///
/// It never holds the credential itself: only [`masked_token`](Self::masked_token).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenValidationResult {
    /// The provider checked.
    pub provider: Provider,
    /// The outcome.
    pub status: TokenStatus,
    /// Which source won: `env:HF_TOKEN`, `env:HUGGING_FACE_HUB_TOKEN`, `file:<path>`, …
    pub source: Option<String>,
    /// The credential masked for display (`hf_…abcd`).
    pub masked_token: Option<String>,
    /// Who the credential belongs to, when known.
    pub identity: Option<Identity>,
    /// Token role (`read`, `write`, `fineGrained` for HF).
    pub token_role: Option<String>,
    /// Fine-grained grants, when the provider reports them.
    pub scopes: Vec<ScopedGrant>,
    /// The separate verdict for the target repo, when one was asked for.
    pub permission: Option<PermissionCheck>,
    /// The failure's code, when the check did not pass.
    pub code: Option<Code>,
    /// What happened, in one sentence.
    pub message: String,
    /// What to do about it.
    pub remediation: Option<String>,
    /// Things worth knowing that did not fail the check (unusual token shape, OIDC, …).
    pub warnings: Vec<String>,
    /// Provider-specific facts: Modal `profile`, `token_id_source`, `token_secret_source`, …
    pub details: BTreeMap<String, String>,
    /// True when some credential for this provider was present at all. `preflight check`
    /// with no arguments fails only for configured providers.
    pub configured: bool,
    /// How long the check took.
    #[serde(serialize_with = "serialize_millis", rename = "latency_ms")]
    pub latency: Duration,
}

fn serialize_millis<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

impl TokenValidationResult {
    /// A fresh result for `provider` with `status` and `message`; everything else empty.
    pub fn new(provider: Provider, status: TokenStatus, message: impl Into<String>) -> Self {
        TokenValidationResult {
            provider,
            status,
            source: None,
            masked_token: None,
            identity: None,
            token_role: None,
            scopes: Vec::new(),
            permission: None,
            code: None,
            message: message.into(),
            remediation: None,
            warnings: Vec::new(),
            details: BTreeMap::new(),
            configured: false,
            latency: Duration::ZERO,
        }
    }

    /// True when the credential is valid and, if a permission was asked for, allowed.
    pub fn passed(&self) -> bool {
        self.status == TokenStatus::Valid
            && self
                .permission
                .as_ref()
                .is_none_or(|check| check.verdict == PermissionVerdict::Allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passed_needs_valid_and_allowed() {
        let mut result = TokenValidationResult::new(Provider::Hf, TokenStatus::Valid, "ok");
        assert!(result.passed());
        result.permission = Some(PermissionCheck {
            repo: "alice/m".into(),
            repo_type: "model".into(),
            need: "write".into(),
            verdict: PermissionVerdict::Forbidden,
            reason: "read token".into(),
        });
        assert!(!result.passed());
        result.status = TokenStatus::Invalid;
        assert!(!result.passed());
    }

    #[test]
    fn serializes_status_and_latency() {
        let mut result = TokenValidationResult::new(Provider::Modal, TokenStatus::Missing, "none");
        result.latency = Duration::from_millis(12);
        let json = serde_json::to_value(&result).expect("serializes");
        assert_eq!(json["status"], "MISSING");
        assert_eq!(json["provider"], "modal");
        assert_eq!(json["latency_ms"], 12);
        assert_eq!(TokenStatus::Expired.to_string(), "EXPIRED");
        assert_eq!(Provider::Hf.to_string(), "hf");
    }
}
