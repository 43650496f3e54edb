//! The repo a permission check is about: its validated id ([`RepoId`], with the Hub's rules
//! documented in `preflight-types`), its type and what is needed on it.

use std::fmt;

use preflight_errors::Code;
pub use preflight_types::{MAX_PART_LEN, RepoId, RepoIdError, RepoType};
use serde::Serialize;

/// What the job needs to do with the repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// Download.
    Read,
    /// Upload (and possibly create).
    Write,
}

impl Need {
    /// `read` or `write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Need::Read => "read",
            Need::Write => "write",
        }
    }

    /// Parses `read` or `write` (any case).
    pub fn parse(text: &str) -> Result<Need, RepoTargetError> {
        match text.to_ascii_lowercase().as_str() {
            "read" => Ok(Need::Read),
            "write" => Ok(Need::Write),
            _ => Err(RepoTargetError::new(format!(
                "need `{text}` is not one of read, write"
            ))),
        }
    }
}

impl fmt::Display for Need {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A repo id, type and need that passed validation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RepoTarget {
    /// `ns/name`.
    pub repo_id: RepoId,
    /// Model, dataset or Space.
    pub repo_type: RepoType,
    /// Read or write.
    pub need: Need,
}

/// A repo id, type or need that is not valid. Always PF009 (a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RepoTargetError {
    /// What is wrong, naming the offending value.
    pub message: String,
}

impl From<RepoIdError> for RepoTargetError {
    fn from(error: RepoIdError) -> Self {
        RepoTargetError::new(error.message)
    }
}

impl RepoTargetError {
    fn new(message: String) -> Self {
        RepoTargetError { message }
    }

    /// Always [`Code::Pf009`].
    pub fn code(&self) -> Code {
        Code::Pf009
    }

    /// What to do about it.
    pub fn remediation(&self) -> String {
        "pass the repo as `--repo NAMESPACE/NAME` (for example `--repo my-org/my-model`), \
         `--repo-type model|dataset|space` and `--need read|write`"
            .to_owned()
    }
}

impl RepoTarget {
    /// Validates and builds a target. See the [module docs](self) for the rules.
    pub fn parse(repo: &str, repo_type: &str, need: &str) -> Result<RepoTarget, RepoTargetError> {
        Ok(RepoTarget {
            repo_id: RepoId::parse(repo)?,
            repo_type: RepoType::parse(repo_type)?,
            need: Need::parse(need)?,
        })
    }

    /// The namespace (user or org) part.
    pub fn namespace(&self) -> &str {
        self.repo_id.namespace()
    }

    /// The name part.
    pub fn name(&self) -> &str {
        self.repo_id.name()
    }
}

impl fmt::Display for RepoTarget {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.repo_type, self.repo_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hub_ids() {
        let target = RepoTarget::parse("my-org/My_Model.v2", "MODEL", "write").expect("valid");
        assert_eq!(target.namespace(), "my-org");
        assert_eq!(target.name(), "My_Model.v2");
        assert_eq!(target.repo_type, RepoType::Model);
        assert_eq!(target.need, Need::Write);
        assert_eq!(target.to_string(), "model my-org/My_Model.v2");
        let long = format!("a/{}", "b".repeat(MAX_PART_LEN));
        assert!(RepoTarget::parse(&long, "dataset", "read").is_ok());
    }

    /// The rules themselves are tested in `preflight-types`; here, that a bad id is a usage
    /// error (PF009) whose message names the id and whose hint shows the flag.
    #[test]
    fn a_bad_id_is_a_usage_error_naming_it() {
        let error = RepoTarget::parse("a/b/c", "model", "write").expect_err("two slashes");
        assert_eq!(error.code(), Code::Pf009);
        assert!(error.message.contains("`a/b/c`"), "{}", error.message);
        assert!(error.remediation().contains("--repo"));
    }

    #[test]
    fn rejects_bad_type_and_need() {
        let error = RepoTarget::parse("a/b", "bucket", "write").unwrap_err();
        assert!(error.message.contains("bucket"));
        let error = RepoTarget::parse("a/b", "space", "admin").unwrap_err();
        assert!(error.message.contains("admin"));
        assert_eq!(RepoType::Space.to_string(), "space");
        assert_eq!(Need::Read.to_string(), "read");
    }
}
