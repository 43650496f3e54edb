//! The one redaction rule: what in a text counts as a credential, and what it becomes.
//!
//! [`redact`] does two things, in this order:
//!
//! 1. Replaces every *known* secret value (the token being checked, every token a command
//!    discovered) with its masked form ([`crate::mask_token`], e.g. `hf_…abcd`), whatever the
//!    value looks like. Values shorter than [`MIN_SECRET_CHARS`] are ignored: replacing every
//!    occurrence of a short string would shred ordinary text and protect nothing.
//! 2. Masks anything *shaped* like a credential ([`redact_shapes`]), keeping a short non-secret
//!    prefix so the text still says what kind of thing was removed:
//!
//!    | pattern | becomes |
//!    |---|---|
//!    | `hf_oauth_` / `hf_jwt_` + 20 or more token characters | `hf_oauth_****` / `hf_jwt_****` |
//!    | `hf_` + 20 or more ASCII letters/digits | `hf_****` |
//!    | `api_org_` + 20 or more ASCII letters/digits | `api_org_****` |
//!    | `ak-` / `as-` + 10 or more ASCII letters/digits (Modal token id / secret) | `ak-****` / `as-****` |
//!    | a JWT (`eyJ…` `.` `…` `.` `…`, e.g. a CI's OIDC id token) | `eyJ****` |
//!    | `Bearer <credentials>` (any case) | `Bearer ****` |
//!    | `Basic <base64>` after `Authorization:` | `Authorization: Basic ****` |
//!    | password in a URL, `scheme://user:password@host` | `scheme://user:****@host` |
//!    | `X-Amz-Signature=`, `X-Amz-Credential=`, `X-Amz-Security-Token=`, `X-Goog-Signature=`, `X-Goog-Credential=`, `sig=` query values | `X-Amz-Signature=****` … |
//!
//! Masked forms such as `hf_…abcd` (a Unicode ellipsis and the last four characters) match no
//! pattern, so redaction is idempotent. The shapes are a last line of defence: a token that
//! matches none of them (a custom or future format) is protected only by being *known*, which
//! is why every command registers every token it discovers before printing anything.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// What a credential-shaped value is replaced with (after its non-secret prefix).
pub const MASK: &str = "****";

/// Known secret values shorter than this many characters (after trimming) are not replaced.
pub const MIN_SECRET_CHARS: usize = 8;

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
        // Signed-URL query parameters (S3, GCS, Azure SAS).
        r#"(?i)(\b(?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|sig)=)[^&\s"'#]+"#,
        // Hub OAuth access tokens and Trusted Publishers (exchanged) tokens, before plain `hf_`.
        r"(hf_(?:oauth|jwt)_)[A-Za-z0-9._-]{20,}",
        // Hugging Face user and organisation tokens. No leading `\b`: `_` is a word character,
        // and over-masking is harmless here.
        r"(api_org_)[A-Za-z0-9]{20,}",
        r"(hf_)[A-Za-z0-9]{20,}",
        // Modal token ids and secrets. `\b` keeps words such as `peak-throughput12345` intact.
        r"(\ba[ks]-)[A-Za-z0-9]{10,}",
        // A JWT: three base64url segments, the first a JSON object (`{"` encodes as `eyJ`).
        r"(\beyJ)[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    ]
    .into_iter()
    .map(|pattern| Regex::new(pattern).expect("redaction patterns are valid"))
    .collect()
});

/// `text` with every `known` secret value and every credential-shaped substring masked.
/// Borrows when nothing had to change (the common case). See the [module docs](self).
pub fn redact<'t, I, S>(text: &'t str, known: I) -> Cow<'t, str>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut values: Vec<S> = known
        .into_iter()
        .filter(|value| value.as_ref().trim().chars().count() >= MIN_SECRET_CHARS)
        .collect();
    // Longest first, so a secret that contains another is replaced whole.
    values.sort_by_key(|value| std::cmp::Reverse(value.as_ref().trim().len()));
    let mut current = Cow::Borrowed(text);
    for value in &values {
        let value = value.as_ref().trim();
        if current.contains(value) {
            current = Cow::Owned(current.replace(value, &crate::mask_token(value)));
        }
    }
    match redact_shapes(&current) {
        Cow::Borrowed(_) => current,
        Cow::Owned(replaced) => Cow::Owned(replaced),
    }
}

/// `text` with every credential-shaped substring masked (step 2 of [`redact`] alone).
pub fn redact_shapes(text: &str) -> Cow<'_, str> {
    let mut current = Cow::Borrowed(text);
    for pattern in PATTERNS.iter() {
        if let Cow::Owned(replaced) = pattern.replace_all(&current, format!("${{1}}{MASK}${{2}}")) {
            current = Cow::Owned(replaced);
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(text: &str) -> String {
        redact_shapes(text).into_owned()
    }

    #[test]
    fn known_values_are_masked_anywhere_longest_first() {
        let known = ["  s3cr3t-v4lue-unit  \n", "s3cr3t-v4lue-unit-and-more"];
        assert_eq!(
            redact(
                "token s3cr3t-v4lue-unit (s3cr3t-v4lue-unit-and-more)",
                known
            ),
            "token …unit (…more)"
        );
        assert_eq!(redact("abc1234 stays", ["abc1234"]), "abc1234 stays");
        assert!(matches!(
            redact("clean", ["absent-value"]),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn token_shapes() {
        let cases = [
            ("hf_abcdefghijklmnopqrstuvwxyz012345", "hf_****"),
            (
                "HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz012345!",
                "HF_TOKEN=hf_****!",
            ),
            ("hf_oauth_abcdefghijklmnopqrstuvwxyz", "hf_oauth_****"),
            (
                "token hf_jwt_eyJhbGciOi.eyJzdWIi.sig-_x ok",
                "token hf_jwt_**** ok",
            ),
            ("api_org_abcdefghijklmnopqrstuvwxyz", "api_org_****"),
            (
                "id ak-AbCdEfGhIj0123 secret as-ZyXwVuTsRq9876",
                "id ak-**** secret as-****",
            ),
            (
                "id_token=eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwcyJ9.c2lnbmF0dXJl end",
                "id_token=eyJ**** end",
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
            assert_eq!(shapes(input), expected, "input {input:?}");
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
            assert_eq!(shapes(text), text);
            assert!(matches!(redact_shapes(text), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn redaction_is_idempotent() {
        let known = ["opaque-secret-value-42"];
        let once = redact(
            "Bearer hf_abcdefghijklmnopqrstuvwxyz012345 ak-AbCdEfGhIj0123 opaque-secret-value-42",
            known,
        )
        .into_owned();
        assert_eq!(once, "Bearer **** ak-**** …e-42");
        assert_eq!(redact(&once, known), once);
    }
}
