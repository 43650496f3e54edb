//! Secret scrubbing applied to every string before it is serialized.
//!
//! This is the last of three lines of defence (see
//! `docs/learnings.md#keeping-secrets-out-of-output-three-lines-of-defence`): secrets are typed
//! so their `Debug` is redacted (`preflight_types::Secret`), call sites log presence and source
//! rather than values, and — in
//! case both fail — every string that reaches the auth log (or the human stderr layer) passes
//! through [`redact`] first.
//!
//! The rule itself is `preflight_types::redact`, the one every crate uses: known secret values
//! become their masked form (`hf_…abcd`, or `****` when short), and credential-shaped text
//! (`hf_…`, `api_org_…`, `ak-`/`as-`, JWTs, `Bearer …`, URL passwords, signed-URL parameters)
//! becomes its prefix and `****`. What this module adds is the process-wide registry of known
//! values: the CLI registers each token it discovers with [`register_secret`], whatever its
//! shape, before it prints anything.

use std::borrow::Cow;
use std::sync::{PoisonError, RwLock};

pub use preflight_types::{MASK, MIN_SECRET_CHARS};

/// Exact secret values registered so far.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a secret whose exact value [`redact`] masks from now on, in every log line and in
/// anything else passed through [`redact`].
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
    let secrets = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    match preflight_types::redact(text, secrets.iter()) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(clean) => Cow::Owned(clean),
    }
}

#[cfg(test)]
mod tests {
    use super::{redact, register_secret};

    #[test]
    fn registered_secret_is_masked_anywhere() {
        register_secret("  s3cr3t-v4lue-unit  \n");
        assert_eq!(
            redact("token s3cr3t-v4lue-unit rejected (s3cr3t-v4lue-unit)"),
            "token …unit rejected (…unit)"
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
        assert_eq!(redact("x overlap-secret-1-and-more y"), "x …more y");
    }

    #[test]
    fn unregistered_opaque_values_pass_and_shapes_do_not() {
        assert_eq!(
            redact("value never-registered-42"),
            "value never-registered-42"
        );
        assert_eq!(redact("hf_abcdefghijklmnopqrstuvwxyz012345"), "hf_****");
    }
}
