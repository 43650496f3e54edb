//! Fixture tokens. The Hub documents no token format, so Preflight only warns about an unusual
//! shape; these use `-` and `.` so that no run of letters and digits is long enough for the
//! redaction rule's `hf_…` pattern. Only registration can keep them out of output.

/// A write token of `alice` (org `acme`).
pub const WRITE_TOKEN: &str = "hf_alice-write.7Qm2Zq81x7Kp3Lm2";
/// A read token of `alice`.
pub const READ_TOKEN: &str = "hf_alice-read.Vb4Nc9Tx2Lp8Rk5w";
/// A write token of `alice` that the Hub has revoked (401).
pub const REVOKED_TOKEN: &str = "hf_alice-revoked.Hs3Jd6Wq1Zy7Mf";
/// A fine-grained token of `alice` that may write only in the org `other-org`.
pub const OTHER_ORG_TOKEN: &str = "hf_alice-other.Gt5Ke2Xr8Pn4Qc0";
/// Every fixture token, for leak checks.
pub const ALL_TOKENS: &[&str] = &[WRITE_TOKEN, READ_TOKEN, REVOKED_TOKEN, OTHER_ORG_TOKEN];

#[cfg(test)]
mod tests {
    use super::ALL_TOKENS;

    #[test]
    fn no_redaction_pattern_catches_a_fixture_token() {
        for token in ALL_TOKENS {
            let text = format!("value {token} end");
            assert_eq!(preflight_types::redact_shapes(&text), text, "{token}");
            assert!(token.len() >= 12, "long enough to be masked as prefix…tail");
        }
    }
}
