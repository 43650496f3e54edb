use std::fmt;

/// Process exit statuses, one per outcome kind. They are part of the public interface:
/// scripts branch on them, so a value never changes meaning once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// Every requested check passed.
    Success = 0,
    /// Generic failure that fits no other kind.
    Failure = 1,
    /// Bad command-line usage or input that can never work (`--repo a/b/c`).
    Usage = 2,
    /// No credential was found.
    Missing = 10,
    /// A credential was found and rejected by the server (or can never be sent).
    Invalid = 11,
    /// A credential is known to be expired.
    Expired = 12,
    /// A valid credential that may not do what was asked (write to this repo).
    Forbidden = 13,
    /// The answer could not be obtained: network, timeout, rate limit, server error.
    Unknown = 14,
    /// A required external tool (the `modal` CLI) is not installed.
    ToolNotFound = 15,
    /// Local configuration is unreadable or contradictory (malformed TOML, two active profiles).
    Config = 16,
    /// An upload started and did not complete.
    UploadFailed = 20,
    /// The launcher itself failed to start or supervise the command (PF303).
    LaunchFailed = 125,
    /// The launcher could not start the command: it exists but is not executable.
    NotExecutable = 126,
    /// The launcher could not start the command: not found.
    CommandNotFound = 127,
}

impl ExitStatus {
    /// The numeric process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A stable `PF…` error code. The doc comment of each variant is its one-line summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Code {
    /// No Hugging Face token was found in the environment or the token file.
    #[serde(rename = "PF001")]
    Pf001,
    /// The Hugging Face token can never be sent: it holds a space, a control or non-ASCII character.
    #[serde(rename = "PF002")]
    Pf002,
    /// The Hub rejected the Hugging Face token (invalid, revoked or expired).
    #[serde(rename = "PF003")]
    Pf003,
    /// The Hugging Face token is recorded as expired in `stored_tokens`.
    #[serde(rename = "PF004")]
    Pf004,
    /// The Hugging Face token is valid but may not write to the target repo.
    #[serde(rename = "PF005")]
    Pf005,
    /// The Hub could not be reached (refused, unresolvable host, timeout).
    #[serde(rename = "PF006")]
    Pf006,
    /// The Hub kept answering with rate limits or server errors.
    #[serde(rename = "PF007")]
    Pf007,
    /// The Hugging Face token file exists but cannot be read.
    #[serde(rename = "PF008")]
    Pf008,
    /// The repository id or type given on the command line is not valid.
    #[serde(rename = "PF009")]
    Pf009,
    /// `HF_OIDC_RESOURCE` is set but no OIDC id token is available (under GitHub Actions: the job lacks `permissions: id-token: write`).
    #[serde(rename = "PF010")]
    Pf010,
    /// The Hub refused the Trusted Publishers token exchange (`invalid_grant`): no publisher of the resource matches the id token's issuer and subject.
    #[serde(rename = "PF011")]
    Pf011,
    /// `HF_OIDC_RESOURCE` is a username, so the exchanged token is read-only and cannot write.
    #[serde(rename = "PF012")]
    Pf012,
    /// The GitHub id-token endpoint or the Trusted Publishers exchange gave no usable answer.
    #[serde(rename = "PF013")]
    Pf013,
    /// The stored OAuth login is due for a refresh and the refresh got no usable answer; nothing was written.
    #[serde(rename = "PF014")]
    Pf014,
    /// No Modal credentials were found.
    #[serde(rename = "PF101")]
    Pf101,
    /// Modal credentials are incomplete or contradictory: half a token (id or secret), an
    /// incomplete OAuth set, or token and OAuth credentials both configured.
    #[serde(rename = "PF102")]
    Pf102,
    /// The Modal config file is unreadable, malformed TOML, or not made of profile tables.
    #[serde(rename = "PF103")]
    Pf103,
    /// The Modal profile cannot be chosen: `MODAL_PROFILE` names a missing profile, none is
    /// active among several, or more than one is active.
    #[serde(rename = "PF104")]
    Pf104,
    /// Modal rejected the token (the server answered UNAUTHENTICATED).
    #[serde(rename = "PF105")]
    Pf105,
    /// The Modal token has expired.
    #[serde(rename = "PF106")]
    Pf106,
    /// The `modal` CLI is not installed or not on PATH.
    #[serde(rename = "PF107")]
    Pf107,
    /// Modal could not be reached, or `modal token info` did not answer before the deadline
    /// or failed in a way that says nothing about the token.
    #[serde(rename = "PF108")]
    Pf108,
    /// The native Modal check cannot judge the token (Modal refused this client, does not
    /// offer the call, or answered in an unknown form) and the `modal` CLI is not used.
    #[serde(rename = "PF109")]
    Pf109,
    /// The upload source cannot be planned: missing path, symlink leaving the folder, invalid path in repo or bad glob.
    #[serde(rename = "PF201")]
    Pf201,
    /// The Hub rejected the token on an upload route (401).
    #[serde(rename = "PF202")]
    Pf202,
    /// The token may not write to the target repository (403 on an upload route).
    #[serde(rename = "PF203")]
    Pf203,
    /// The target repository does not exist and could not be created.
    #[serde(rename = "PF204")]
    Pf204,
    /// The server offers only an upload transfer preflight does not implement (Xet).
    #[serde(rename = "PF205")]
    Pf205,
    /// The upload gave up after network or server errors persisted through every retry; rerun to resume.
    #[serde(rename = "PF206")]
    Pf206,
    /// A file changed while it was being uploaded; nothing was committed.
    #[serde(rename = "PF207")]
    Pf207,
    /// The branch moved during the upload and the upload's commit is not on it.
    #[serde(rename = "PF208")]
    Pf208,
    /// Another run of the same upload holds the resume lock.
    #[serde(rename = "PF209")]
    Pf209,
    /// Local files or the upload's resume state could not be read or written.
    #[serde(rename = "PF210")]
    Pf210,
    /// The Hub refused an upload request or answered outside the protocol.
    #[serde(rename = "PF211")]
    Pf211,
    /// The Hub rejected the YAML metadata of README.md.
    #[serde(rename = "PF212")]
    Pf212,
    /// The token expired during the upload and no fresh one can be obtained (a plain token, or a pre-minted id token); rerun to resume.
    #[serde(rename = "PF220")]
    Pf220,
    /// The token expired during the upload and renewing it got no usable answer; rerun to resume.
    #[serde(rename = "PF221")]
    Pf221,
    /// The command given to `preflight run` was not found.
    #[serde(rename = "PF301")]
    Pf301,
    /// The command given to `preflight run` exists but cannot be executed.
    #[serde(rename = "PF302")]
    Pf302,
    /// The launcher could not start or supervise the command (signals, process limits).
    #[serde(rename = "PF303")]
    Pf303,
}

impl Code {
    /// Every code, in order. The troubleshooting guide must have one section per entry.
    pub const ALL: &'static [Code] = &[
        Code::Pf001,
        Code::Pf002,
        Code::Pf003,
        Code::Pf004,
        Code::Pf005,
        Code::Pf006,
        Code::Pf007,
        Code::Pf008,
        Code::Pf009,
        Code::Pf010,
        Code::Pf011,
        Code::Pf012,
        Code::Pf013,
        Code::Pf014,
        Code::Pf101,
        Code::Pf102,
        Code::Pf103,
        Code::Pf104,
        Code::Pf105,
        Code::Pf106,
        Code::Pf107,
        Code::Pf108,
        Code::Pf109,
        Code::Pf201,
        Code::Pf202,
        Code::Pf203,
        Code::Pf204,
        Code::Pf205,
        Code::Pf206,
        Code::Pf207,
        Code::Pf208,
        Code::Pf209,
        Code::Pf210,
        Code::Pf211,
        Code::Pf212,
        Code::Pf220,
        Code::Pf221,
        Code::Pf301,
        Code::Pf302,
        Code::Pf303,
    ];

    /// The code as printed: `PF003`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Pf001 => "PF001",
            Code::Pf002 => "PF002",
            Code::Pf003 => "PF003",
            Code::Pf004 => "PF004",
            Code::Pf005 => "PF005",
            Code::Pf006 => "PF006",
            Code::Pf007 => "PF007",
            Code::Pf008 => "PF008",
            Code::Pf009 => "PF009",
            Code::Pf010 => "PF010",
            Code::Pf011 => "PF011",
            Code::Pf012 => "PF012",
            Code::Pf013 => "PF013",
            Code::Pf014 => "PF014",
            Code::Pf101 => "PF101",
            Code::Pf102 => "PF102",
            Code::Pf103 => "PF103",
            Code::Pf104 => "PF104",
            Code::Pf105 => "PF105",
            Code::Pf106 => "PF106",
            Code::Pf107 => "PF107",
            Code::Pf108 => "PF108",
            Code::Pf109 => "PF109",
            Code::Pf201 => "PF201",
            Code::Pf202 => "PF202",
            Code::Pf203 => "PF203",
            Code::Pf204 => "PF204",
            Code::Pf205 => "PF205",
            Code::Pf206 => "PF206",
            Code::Pf207 => "PF207",
            Code::Pf208 => "PF208",
            Code::Pf209 => "PF209",
            Code::Pf210 => "PF210",
            Code::Pf211 => "PF211",
            Code::Pf212 => "PF212",
            Code::Pf220 => "PF220",
            Code::Pf221 => "PF221",
            Code::Pf301 => "PF301",
            Code::Pf302 => "PF302",
            Code::Pf303 => "PF303",
        }
    }

    /// Parses `PF003` or `pf003`.
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL
            .iter()
            .copied()
            .find(|code| code.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// The exit status a command ends with when this code is its failure.
    pub fn exit_status(self) -> ExitStatus {
        match self {
            Code::Pf001 | Code::Pf010 | Code::Pf101 | Code::Pf102 => ExitStatus::Missing,
            Code::Pf002 | Code::Pf003 | Code::Pf011 | Code::Pf105 => ExitStatus::Invalid,
            Code::Pf004 | Code::Pf106 => ExitStatus::Expired,
            Code::Pf005 | Code::Pf012 => ExitStatus::Forbidden,
            Code::Pf006 | Code::Pf007 | Code::Pf013 | Code::Pf014 | Code::Pf108 | Code::Pf109 => {
                ExitStatus::Unknown
            }
            Code::Pf008 | Code::Pf103 | Code::Pf104 => ExitStatus::Config,
            Code::Pf009 => ExitStatus::Usage,
            Code::Pf107 => ExitStatus::ToolNotFound,
            Code::Pf201 | Code::Pf212 => ExitStatus::Usage,
            Code::Pf301 => ExitStatus::CommandNotFound,
            Code::Pf302 => ExitStatus::NotExecutable,
            Code::Pf303 => ExitStatus::LaunchFailed,
            Code::Pf202 => ExitStatus::Invalid,
            Code::Pf203 => ExitStatus::Forbidden,
            Code::Pf204
            | Code::Pf205
            | Code::Pf206
            | Code::Pf207
            | Code::Pf208
            | Code::Pf209
            | Code::Pf210
            | Code::Pf211
            | Code::Pf220
            | Code::Pf221 => ExitStatus::UploadFailed,
        }
    }

    /// Where the troubleshooting guide explains this code, relative to the repository root.
    pub fn docs_anchor(self) -> String {
        format!(
            "docs/auth-troubleshooting.md#{}",
            self.as_str().to_ascii_lowercase()
        )
    }
}

impl fmt::Display for Code {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert_eq!(Code::parse(code.as_str()), Some(*code));
            assert_eq!(
                Code::parse(&code.as_str().to_lowercase()),
                Some(*code),
                "lower-case form parses"
            );
            assert!(code.docs_anchor().ends_with(&code.as_str().to_lowercase()));
        }
        assert_eq!(Code::parse("PF999"), None);
    }

    #[test]
    fn exit_statuses_are_distinct_per_kind() {
        assert_eq!(Code::Pf001.exit_status().code(), 10);
        assert_eq!(Code::Pf003.exit_status().code(), 11);
        assert_eq!(Code::Pf005.exit_status().code(), 13);
        assert_eq!(Code::Pf006.exit_status().code(), 14);
        assert_eq!(ExitStatus::CommandNotFound.code(), 127);
    }
}
