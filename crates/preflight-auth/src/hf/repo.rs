//! The repo a permission check is about: `ns/name`, its type and what is needed on it.
//!
//! Repo ids follow the Hub's rules (as `huggingface_hub.utils.validate_repo_id` enforces them),
//! but stricter about the namespace: Preflight needs it explicit to judge permissions.
//!
//! | rule | rejected examples |
//! |---|---|
//! | exactly one `/` between a namespace and a name | `""`, `x`, `a/b/c`, `/x`, `x/` |
//! | each part only ASCII letters, digits, `-`, `_`, `.` | `a b/c`, `ns/näme` |
//! | no `..` or `--` anywhere | `../x`, `ns/a..b`, `ns/a--b` |
//! | no leading or trailing `-` or `.` in a part | `-ns/x`, `ns/x.` |
//! | at most 96 characters per part | |
//! | the name does not end in `.git` | `ns/x.git` |

use std::fmt;

use preflight_errors::Code;
use serde::Serialize;

/// Longest namespace or name the Hub accepts.
pub const MAX_PART_LEN: usize = 96;

/// A repository type. API paths use the plural (`models`); git, LFS and `resolve` URLs use
/// a prefix that is empty for models (`docs/protocol/hf-hub.md#repo-types-and-url-shapes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoType {
    /// A model repo (the default).
    #[default]
    Model,
    /// A dataset repo.
    Dataset,
    /// A Space.
    Space,
}

impl RepoType {
    /// `model`, `dataset` or `space` (also the fine-grained entity type).
    pub fn as_str(self) -> &'static str {
        match self {
            RepoType::Model => "model",
            RepoType::Dataset => "dataset",
            RepoType::Space => "space",
        }
    }

    /// The API path segment: `models`, `datasets` or `spaces`.
    pub fn api_segment(self) -> &'static str {
        match self {
            RepoType::Model => "models",
            RepoType::Dataset => "datasets",
            RepoType::Space => "spaces",
        }
    }

    /// The prefix of git, LFS and `resolve` URLs: `""`, `datasets/` or `spaces/`.
    pub fn url_prefix(self) -> &'static str {
        match self {
            RepoType::Model => "",
            RepoType::Dataset => "datasets/",
            RepoType::Space => "spaces/",
        }
    }

    /// Parses `model`, `dataset` or `space` (any case; the plurals too).
    pub fn parse(text: &str) -> Result<RepoType, RepoTargetError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "model" | "models" => Ok(RepoType::Model),
            "dataset" | "datasets" => Ok(RepoType::Dataset),
            "space" | "spaces" => Ok(RepoType::Space),
            _ => Err(RepoTargetError::new(format!(
                "repo type `{text}` is not one of model, dataset, space"
            ))),
        }
    }
}

impl std::str::FromStr for RepoType {
    type Err = RepoTargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RepoType::parse(text)
    }
}

impl fmt::Display for RepoType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

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
    pub repo_id: String,
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
        validate_repo_id(repo)?;
        Ok(RepoTarget {
            repo_id: repo.to_owned(),
            repo_type: RepoType::parse(repo_type)?,
            need: Need::parse(need)?,
        })
    }

    /// The namespace (user or org) part.
    pub fn namespace(&self) -> &str {
        self.repo_id.split('/').next().unwrap_or_default()
    }

    /// The name part.
    pub fn name(&self) -> &str {
        self.repo_id.split('/').nth(1).unwrap_or_default()
    }
}

impl fmt::Display for RepoTarget {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.repo_type, self.repo_id)
    }
}

fn validate_repo_id(repo: &str) -> Result<(), RepoTargetError> {
    let fail = |why: &str| {
        Err(RepoTargetError::new(format!(
            "repo id `{repo}` is not valid: {why}"
        )))
    };
    if repo.is_empty() {
        return Err(RepoTargetError::new(
            "repo id is empty: expected NAMESPACE/NAME".to_owned(),
        ));
    }
    let parts: Vec<&str> = repo.split('/').collect();
    match parts.len() {
        1 => return fail("expected NAMESPACE/NAME with exactly one `/`"),
        2 => {}
        _ => return fail("expected NAMESPACE/NAME with exactly one `/`, found more"),
    }
    for (label, part) in [("namespace", parts[0]), ("name", parts[1])] {
        if part.is_empty() {
            return fail(&format!("the {label} is empty"));
        }
        if part.chars().count() > MAX_PART_LEN {
            return fail(&format!(
                "the {label} is longer than {MAX_PART_LEN} characters"
            ));
        }
        if let Some(bad) = part
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return fail(&format!(
                "the {label} contains {bad:?}; only letters, digits, `-`, `_` and `.` are allowed"
            ));
        }
        if part.contains("..") || part.contains("--") {
            return fail(&format!("the {label} contains `..` or `--`"));
        }
        if part.starts_with(['-', '.']) || part.ends_with(['-', '.']) {
            return fail(&format!("the {label} starts or ends with `-` or `.`"));
        }
    }
    if parts[1].ends_with(".git") {
        return fail("the name ends with `.git`");
    }
    Ok(())
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

    #[test]
    fn rejects_bad_ids_with_reasons() {
        for (repo, fragment) in [
            ("", "empty"),
            ("x", "exactly one"),
            ("a/b/c", "found more"),
            ("../x", "`..` or `--`"),
            ("/x", "namespace is empty"),
            ("x/", "name is empty"),
            ("a b/c", "' '"),
            ("ns/näme", "'ä'"),
            ("ns/a--b", "`--`"),
            ("-ns/x", "starts or ends"),
            ("ns/x.", "starts or ends"),
            ("ns/x.git", ".git"),
        ] {
            let error = RepoTarget::parse(repo, "model", "write").expect_err(repo);
            assert_eq!(error.code(), Code::Pf009);
            assert!(
                error.message.contains(fragment),
                "{repo}: {}",
                error.message
            );
            assert!(error.remediation().contains("--repo"));
        }
        let long = format!("a/{}", "b".repeat(MAX_PART_LEN + 1));
        assert!(
            RepoTarget::parse(&long, "model", "read")
                .unwrap_err()
                .message
                .contains("longer")
        );
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
