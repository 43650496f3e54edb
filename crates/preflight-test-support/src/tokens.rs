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
/// A fine-grained token of `alice` that may write only to the model `acme/m1`.
pub const REPO_SCOPED_TOKEN: &str = "hf_alice-repo.Fp3Yk6Ns1Bv9Wd7";
/// A token the Hub does not know (401), of nobody.
pub const UNKNOWN_TOKEN: &str = "hf_nobody-unknown.Yw6Tb1Jc9Dq3";
/// The OAuth access token of `alice`'s login, expired (see [`crate::hub::alice_oauth_login`]).
pub const OAUTH_ACCESS_TOKEN: &str = "oauth.alice-expired-access-1";
/// The refresh token of that login.
pub const OAUTH_REFRESH_TOKEN: &str = "oauth.alice-refresh-token-1";
/// The token a GitHub Actions job presents to get an id token (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
pub const ACTIONS_REQUEST_TOKEN: &str = "gh.alice-request-token-1";
/// Every fixture token, for leak checks.
pub const ALL_TOKENS: &[&str] = &[
    WRITE_TOKEN,
    READ_TOKEN,
    REVOKED_TOKEN,
    OTHER_ORG_TOKEN,
    REPO_SCOPED_TOKEN,
    UNKNOWN_TOKEN,
    OAUTH_ACCESS_TOKEN,
    OAUTH_REFRESH_TOKEN,
    ACTIONS_REQUEST_TOKEN,
];
