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
    /// No Modal credentials were found.
    #[serde(rename = "PF101")]
    Pf101,
    /// Only half of a Modal token (id or secret) was found.
    #[serde(rename = "PF102")]
    Pf102,
    /// The Modal config file is unreadable or malformed TOML.
    #[serde(rename = "PF103")]
    Pf103,
    /// The Modal profile cannot be chosen (missing, none active among several, or two active).
    #[serde(rename = "PF104")]
    Pf104,
    /// Modal rejected the token.
    #[serde(rename = "PF105")]
    Pf105,
    /// The Modal token has expired.
    #[serde(rename = "PF106")]
    Pf106,
    /// The `modal` CLI is not installed or not on PATH.
    #[serde(rename = "PF107")]
    Pf107,
    /// Modal could not be reached, or `modal token info` did not answer before the deadline.
    #[serde(rename = "PF108")]
    Pf108,
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
        Code::Pf101,
        Code::Pf102,
        Code::Pf103,
        Code::Pf104,
        Code::Pf105,
        Code::Pf106,
        Code::Pf107,
        Code::Pf108,
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
            Code::Pf101 => "PF101",
            Code::Pf102 => "PF102",
            Code::Pf103 => "PF103",
            Code::Pf104 => "PF104",
            Code::Pf105 => "PF105",
            Code::Pf106 => "PF106",
            Code::Pf107 => "PF107",
            Code::Pf108 => "PF108",
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
            Code::Pf001 | Code::Pf101 | Code::Pf102 => ExitStatus::Missing,
            Code::Pf002 | Code::Pf003 | Code::Pf105 => ExitStatus::Invalid,
            Code::Pf004 | Code::Pf106 => ExitStatus::Expired,
            Code::Pf005 => ExitStatus::Forbidden,
            Code::Pf006 | Code::Pf007 | Code::Pf108 => ExitStatus::Unknown,
            Code::Pf008 | Code::Pf103 | Code::Pf104 => ExitStatus::Config,
            Code::Pf009 => ExitStatus::Usage,
            Code::Pf107 => ExitStatus::ToolNotFound,
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
