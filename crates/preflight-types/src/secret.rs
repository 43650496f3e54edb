//! The one type a credential lives in, and the one rule for showing it.

use std::fmt;

/// A credential value. `Debug` prints `****`, there is no `Display` and no `Serialize`, so a
/// token cannot reach a log line, an error or a snapshot by accident. The only way to the
/// raw value is [`Secret::expose`], which is greppable and used in exactly the places that
/// build an `Authorization` header, a gRPC metadata value or a child process's environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value. Call only to hand the credential to the party it is meant for.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A display-safe form: the known prefix and the last 4 characters, for example
    /// `hf_…abcd` ([`mask_token`]).
    pub fn masked(&self) -> String {
        mask_token(&self.0)
    }

    /// `text` with this secret (and anything else credential-shaped) masked: the rule of
    /// [`crate::redact`] with this one known value.
    pub fn redact(&self, text: &str) -> String {
        crate::redact(text, [self.expose()]).into_owned()
    }

    /// Length in characters, which is safe to report.
    pub fn len(&self) -> usize {
        self.0.chars().count()
    }

    /// True when the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("****")
    }
}

/// Masks a credential for display: a known prefix (`hf_oauth_`, `hf_jwt_`, `api_org_`, `hf_`,
/// `ak-`, `as-`, `wk-`, `ws-`) and the last 4 characters, or `****` when the value is too
/// short for that to leave most of it hidden. Non-ASCII values are fully masked.
pub fn mask_token(token: &str) -> String {
    const PREFIXES: &[&str] = &[
        "hf_oauth_",
        "hf_jwt_",
        "api_org_",
        "hf_",
        "ak-",
        "as-",
        "wk-",
        "ws-",
    ];
    if !token.is_ascii() || token.len() < 12 {
        return crate::MASK.to_owned();
    }
    let prefix = PREFIXES
        .iter()
        .find(|prefix| token.starts_with(**prefix))
        .copied()
        .unwrap_or("");
    let tail = &token[token.len() - 4..];
    format!("{prefix}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("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");
        assert_eq!(format!("{secret:?}"), "****");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(****)");
    }

    #[test]
    fn masking_keeps_prefix_and_last_four_only() {
        assert_eq!(
            mask_token("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"),
            "hf_…KgGD"
        );
        assert_eq!(
            mask_token("hf_oauth_abcdefghijklmnop1234"),
            "hf_oauth_…1234"
        );
        assert_eq!(
            mask_token("hf_jwt_eyJhbGciOiJSUzI1NiJ9.x.y_z9"),
            "hf_jwt_…y_z9"
        );
        assert_eq!(mask_token("ak-1234567890abcdef"), "ak-…cdef");
        assert_eq!(mask_token("plainvalue123456"), "…3456");
        assert_eq!(mask_token("hf_short"), "****");
        assert_eq!(mask_token("hf_äöüäöüäöüäöü"), "****");
        let secret = Secret::new("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");
        assert_eq!(secret.masked(), "hf_…KgGD");
        assert_eq!(secret.len(), 37);
        assert!(!secret.is_empty());
    }

    #[test]
    fn redact_masks_the_value_whatever_its_shape() {
        let secret = Secret::new("opaque value 0123 with spaces");
        assert_eq!(
            secret.redact("got opaque value 0123 with spaces back"),
            "got …aces back"
        );
        let empty = Secret::new("");
        assert_eq!(empty.redact("nothing to hide"), "nothing to hide");
    }
}
