//! Hub repositories: their type and their validated id.
//!
//! Repo ids follow the Hub's rules (as `huggingface_hub.utils.validate_repo_id` enforces them),
//! but stricter about the namespace: Preflight needs it explicit to judge permissions and to
//! know which repository an upload writes.
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

use serde::Serialize;

/// Longest namespace or name the Hub accepts.
pub const MAX_PART_LEN: usize = 96;

/// A repo id or repo type that is not valid; the message names the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RepoIdError {
    /// What is wrong, naming the offending value.
    pub message: String,
}

impl RepoIdError {
    fn new(message: impl Into<String>) -> Self {
        RepoIdError {
            message: message.into(),
        }
    }
}

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
    pub fn parse(text: &str) -> Result<RepoType, RepoIdError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "model" | "models" => Ok(RepoType::Model),
            "dataset" | "datasets" => Ok(RepoType::Dataset),
            "space" | "spaces" => Ok(RepoType::Space),
            _ => Err(RepoIdError::new(format!(
                "repo type `{text}` is not one of model, dataset, space"
            ))),
        }
    }
}

impl std::str::FromStr for RepoType {
    type Err = RepoIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RepoType::parse(text)
    }
}

impl fmt::Display for RepoType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A repo id that passed the rules in the [module docs](self): `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RepoId(String);

impl RepoId {
    /// Validates `text` as `namespace/name`.
    pub fn parse(text: &str) -> Result<RepoId, RepoIdError> {
        validate(text)?;
        Ok(RepoId(text.to_owned()))
    }

    /// `namespace/name`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The namespace (user or organisation).
    pub fn namespace(&self) -> &str {
        self.0
            .split_once('/')
            .map_or("", |(namespace, _)| namespace)
    }

    /// The name within the namespace.
    pub fn name(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, name)| name)
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::str::FromStr for RepoId {
    type Err = RepoIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RepoId::parse(text)
    }
}

impl std::ops::Deref for RepoId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for RepoId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for RepoId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl AsRef<str> for RepoId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn validate(repo: &str) -> Result<(), RepoIdError> {
    let fail = |why: &str| {
        Err(RepoIdError::new(format!(
            "repo id `{repo}` is not valid: {why}"
        )))
    };
    if repo.is_empty() {
        return Err(RepoIdError::new(
            "repo id is empty: expected NAMESPACE/NAME",
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
        let id = RepoId::parse("my-org/My_Model.v2").expect("valid");
        assert_eq!(id.namespace(), "my-org");
        assert_eq!(id.name(), "My_Model.v2");
        assert_eq!(id.to_string(), "my-org/My_Model.v2");
        let long = format!("a/{}", "b".repeat(MAX_PART_LEN));
        assert!(RepoId::parse(&long).is_ok());
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
            let error = RepoId::parse(repo).expect_err(repo);
            assert!(
                error.message.contains(fragment),
                "{repo}: {}",
                error.message
            );
        }
        let long = format!("a/{}", "b".repeat(MAX_PART_LEN + 1));
        assert!(RepoId::parse(&long).unwrap_err().message.contains("longer"));
    }

    #[test]
    fn repo_types() {
        assert_eq!("model".parse::<RepoType>().ok(), Some(RepoType::Model));
        assert_eq!("Datasets".parse::<RepoType>().ok(), Some(RepoType::Dataset));
        assert_eq!("space".parse::<RepoType>().ok(), Some(RepoType::Space));
        assert!(
            "kernel"
                .parse::<RepoType>()
                .unwrap_err()
                .message
                .contains("kernel")
        );
        assert_eq!(RepoType::Model.api_segment(), "models");
        assert_eq!(RepoType::Dataset.url_prefix(), "datasets/");
        assert_eq!(RepoType::Space.url_prefix(), "spaces/");
        assert_eq!(RepoType::default(), RepoType::Model);
        assert_eq!(RepoType::Space.to_string(), "space");
    }
}
