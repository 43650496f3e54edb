//! The Hugging Face Hub client: repos, preupload, LFS, commits.
