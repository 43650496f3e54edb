//! Repository types and the URL segments the Hub derives from them.

use std::fmt;
use std::str::FromStr;

/// The kind of Hub repository. API paths use the plural (`models`), git/LFS and `resolve`
/// URLs use a prefix that is empty for models (hf-hub-protocol.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RepoType {
    /// A model repository (the default).
    #[default]
    Model,
    /// A dataset repository.
    Dataset,
    /// A Space.
    Space,
}

impl RepoType {
    /// `model`, `dataset` or `space`: the value of `type` in `repos/create` and `repoType`
    /// in `validate-yaml`.
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
}

impl fmt::Display for RepoType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The error of [`RepoType::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown repository type `{0}` (expected model, dataset or space)")]
pub struct ParseRepoTypeError(pub String);

impl FromStr for RepoType {
    type Err = ParseRepoTypeError;

    /// `model`, `dataset` or `space`; the plurals and any case are accepted too.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "model" | "models" => Ok(RepoType::Model),
            "dataset" | "datasets" => Ok(RepoType::Dataset),
            "space" | "spaces" => Ok(RepoType::Space),
            _ => Err(ParseRepoTypeError(text.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_parsing() {
        assert_eq!("model".parse::<RepoType>().unwrap(), RepoType::Model);
        assert_eq!("Datasets".parse::<RepoType>().unwrap(), RepoType::Dataset);
        assert_eq!("space".parse::<RepoType>().unwrap(), RepoType::Space);
        assert!("kernel".parse::<RepoType>().is_err());
        assert_eq!(RepoType::Model.api_segment(), "models");
        assert_eq!(RepoType::Model.url_prefix(), "");
        assert_eq!(RepoType::Dataset.url_prefix(), "datasets/");
        assert_eq!(RepoType::Space.api_segment(), "spaces");
    }
}
