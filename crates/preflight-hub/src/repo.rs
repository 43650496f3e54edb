//! Repository types: one definition, shared with the credential pre-flight, so the repo a
//! check approved is the repo an upload writes.

pub use preflight_auth::RepoType;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_parsing() {
        assert_eq!("model".parse::<RepoType>().ok(), Some(RepoType::Model));
        assert_eq!("Datasets".parse::<RepoType>().ok(), Some(RepoType::Dataset));
        assert_eq!("space".parse::<RepoType>().ok(), Some(RepoType::Space));
        assert!("kernel".parse::<RepoType>().is_err());
        assert_eq!(RepoType::Model.api_segment(), "models");
        assert_eq!(RepoType::Dataset.url_prefix(), "datasets/");
        assert_eq!(RepoType::Space.url_prefix(), "spaces/");
        assert_eq!(RepoType::default(), RepoType::Model);
    }
}
