//! Secret scrubbing applied to every string before it is serialized.
//!
//! This is the last of three lines of defence (see
//! `docs/learnings.md#keeping-secrets-out-of-output-three-lines-of-defence`): secrets are typed so
//! their `Debug` is redacted, call sites log presence and source rather than values, and — in
//! case both fail — every string that reaches the auth log (or the human stderr layer) passes
//! through [`redact`] first.
//!
//! [`redact`] does two things, in this order:
//!
//! 1. Replaces the exact value of every secret given to [`register_secret`] with `****`. The CLI
//!    registers each token it discovers, whatever its shape.
//! 2. Replaces anything that looks like a credential, keeping a short non-secret prefix so the
//!    log still says what kind of thing was removed:
//!
//!    | pattern | becomes |
//!    |---|---|
//!    | `hf_` + 20 or more ASCII letters/digits | `hf_****` |
//!    | `api_org_` + 20 or more ASCII letters/digits | `api_org_****` |
//!    | `ak-` / `as-` + 10 or more ASCII letters/digits (Modal token id / secret) | `ak-****` / `as-****` |
//!    | `Bearer <credentials>` (any case) | `Bearer ****` |
//!    | `Basic <base64>` after `Authorization:` | `Authorization: Basic ****` |
//!    | password in a URL, `scheme://user:password@host` | `scheme://user:****@host` |
//!    | `X-Amz-Signature=`, `X-Amz-Credential=`, `X-Amz-Security-Token=`, `X-Goog-Signature=`, `X-Goog-Credential=`, `sig=` query values | `X-Amz-Signature=****` … |
//!
//! Masked forms produced by the auth crate, such as `hf_…abcd` (a Unicode ellipsis and the last
//! four characters), do not match any pattern and pass through untouched.

use std::borrow::Cow;
use std::sync::{LazyLock, PoisonError, RwLock};

use regex::Regex;

/// What a redacted value is replaced with.
pub const MASK: &str = "****";

/// Registered secrets shorter than this many characters are ignored: replacing every occurrence
/// of a short string would shred ordinary text and protect nothing.
pub const MIN_SECRET_CHARS: usize = 8;

/// Exact secret values, longest first so a secret containing another is replaced whole.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// The credential-shaped patterns, applied in order. Each replacement keeps capture group 1
/// (a non-secret prefix) and group 2 when there is one (a non-secret suffix), and masks the
/// rest.
static PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // `Authorization: Basic dXNlcjpwYXNz` (the Bearer scheme is handled just below). Only after
        // the header name: "basic authentication" in prose must survive.
        r"(?i)(authorization\s*[:=]\s*basic\s+)[A-Za-z0-9+/=._~-]+",
        // `Bearer <token>`, whatever the token looks like (a JWT, an opaque id, ...).
        r#"(?i)(\bbearer\s+)[^\s"'<>,;]+"#,
        // The password part of URL userinfo.
        r"(://[^/\s:@]*:)[^/\s@]+(@)",
        // Signed-URL query parameters (S3, GCS, Azure SAS), the way uv's DisplaySafeUrl masks them.
        r#"(?i)(\b(?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|sig)=)[^&\s"'#]+"#,
        // Hugging Face user and organisation tokens. No leading `\b`: `_` is a word character,
        // and over-masking is harmless here.
        r"(api_org_)[A-Za-z0-9]{20,}",
        r"(hf_)[A-Za-z0-9]{20,}",
        // Modal token ids and secrets. `\b` keeps words such as `peak-throughput12345` intact.
        r"(\ba[ks]-)[A-Za-z0-9]{10,}",
    ]
    .into_iter()
    .map(|pattern| Regex::new(pattern).expect("redaction patterns are valid"))
    .collect()
});

/// Registers a secret whose exact value [`redact`] replaces with `****` from now on, in every
/// log line and in anything else passed through [`redact`].
///
/// Surrounding whitespace is trimmed (token files often end in a newline). Values shorter than
/// [`MIN_SECRET_CHARS`] characters after trimming are ignored. Registering a value twice is a
/// no-op. The registry lives for the whole process and is shared by all threads.
pub fn register_secret(value: &str) {
    let value = value.trim();
    if value.chars().count() < MIN_SECRET_CHARS {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    if secrets.iter().any(|known| known == value) {
        return;
    }
    secrets.push(value.to_owned());
    secrets.sort_by_key(|known| std::cmp::Reverse(known.len()));
}

/// Returns `text` with every registered secret and every credential-shaped substring masked.
///
/// The CLI uses this to scrub its own error output and the output of child processes; the auth
/// log applies it to every string field before serialization.
pub fn redact(text: &str) -> String {
    redact_cow(text).into_owned()
}

/// Like [`redact`], but borrows when nothing had to change (the common case).
pub(crate) fn redact_cow(text: &str) -> Cow<'_, str> {
    let mut current = Cow::Borrowed(text);
    {
        let secrets = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
        for secret in secrets.iter() {
            if current.contains(secret.as_str()) {
                current = Cow::Owned(current.replace(secret.as_str(), MASK));
            }
        }
    }
    for pattern in PATTERNS.iter() {
        if let Cow::Owned(replaced) = pattern.replace_all(&current, format!("${{1}}{MASK}${{2}}")) {
            current = Cow::Owned(replaced);
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::{redact, register_secret};

    #[test]
    fn registered_secret_is_masked_anywhere() {
        register_secret("  s3cr3t-v4lue-unit  \n");
        assert_eq!(
            redact("token s3cr3t-v4lue-unit rejected (s3cr3t-v4lue-unit)"),
            "token **** rejected (****)"
        );
    }

    #[test]
    fn short_secrets_are_ignored() {
        register_secret("abc1234");
        assert_eq!(redact("abc1234 stays"), "abc1234 stays");
    }

    #[test]
    fn longest_secret_wins() {
        register_secret("overlap-secret-1");
        register_secret("overlap-secret-1-and-more");
        assert_eq!(redact("x overlap-secret-1-and-more y"), "x **** y");
    }

    #[test]
    fn token_patterns() {
        let cases = [
            ("hf_abcdefghijklmnopqrstuvwxyz012345", "hf_****"),
            (
                "HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz012345!",
                "HF_TOKEN=hf_****!",
            ),
            ("api_org_abcdefghijklmnopqrstuvwxyz", "api_org_****"),
            (
                "id ak-AbCdEfGhIj0123 secret as-ZyXwVuTsRq9876",
                "id ak-**** secret as-****",
            ),
            (
                "Authorization: Bearer eyJhbGciOi.x.y",
                "Authorization: Bearer ****",
            ),
            (
                "authorization: basic dXNlcjpwYXNzd29yZA==",
                "authorization: basic ****",
            ),
            (
                "https://user:pa55word@proxy.local:8080/",
                "https://user:****@proxy.local:8080/",
            ),
            (
                "https://s3/b/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123&x=1",
                "https://s3/b/k?X-Amz-Credential=****&X-Amz-Signature=****&x=1",
            ),
            (
                "https://blob/x?sv=2024&sig=abc%2Bdef",
                "https://blob/x?sv=2024&sig=****",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn masked_forms_and_prose_survive() {
        for text in [
            "hf_…abcd",
            "masked hf_…wxyz from env:HF_TOKEN",
            "ak-…1234 / as-…5678",
            "api_org_…abcd",
            "use basic authentication for the proxy",
            "peak-throughput12345 reached",
            "https://huggingface.co/api/whoami-v2",
            "hf_short",
            "HF_TOKEN_PATH",
            "****",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn redaction_is_idempotent() {
        let once = redact("Bearer hf_abcdefghijklmnopqrstuvwxyz012345 ak-AbCdEfGhIj0123");
        assert_eq!(once, "Bearer **** ak-****");
        assert_eq!(redact(&once), once);
    }
}
