//! Fixtures shared by Preflight's tests (a dev-dependency only; nothing ships it).
//!
//! - [`tokens`]: the fixture tokens of user `alice` (member of `acme`). Their shapes match **no**
//!   credential pattern of the redaction rule, on purpose: a leak check with such a token
//!   fails unless the command really registered it for redaction (`register_secret`), instead
//!   of being rescued by the `hf_…` pattern.
//! - [`hub`]: the Hub emulator on `127.0.0.1:0` with those tokens.
//! - [`modal`]: the fake Modal control plane (`tools/fake-modal`), its fixture tokens, and the
//!   venv's `modal` CLI and Python.
//! - [`assert_no_secret`]: searches every output for every secret value used.

pub mod hub;
pub mod modal;
pub mod tokens;

/// Fails, naming the place, if any of `secrets` occurs in any of `outputs` (`(name, text)`
/// pairs such as `("stdout", &stdout)`, `("auth log", &log)`). Empty secrets are ignored.
#[track_caller]
pub fn assert_no_secret<'a>(
    outputs: impl IntoIterator<Item = (&'a str, &'a str)>,
    secrets: &[&str],
) {
    for (name, text) in outputs {
        for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
            assert!(
                !text.contains(secret),
                "a secret leaked to {name} (masked here: {}…):\n{}",
                &secret[..secret.len().min(3)],
                text.replace(secret, "<SECRET>")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    /// The point of the fixtures: only registration can keep them out of output.
    #[test]
    fn no_redaction_pattern_catches_a_fixture_credential() {
        for value in crate::tokens::ALL_TOKENS
            .iter()
            .chain(crate::modal::ALL_CREDENTIALS)
        {
            let text = format!("value {value} end");
            assert_eq!(preflight_types::redact_shapes(&text), text, "{value}");
            assert!(value.len() >= 12, "long enough to be masked as prefix…tail");
        }
    }
}
