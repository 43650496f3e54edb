//! Repository types and ids: one definition in `preflight-types`, shared with the credential
//! pre-flight, so the repo a check approved is the repo an upload writes.

pub use preflight_types::{RepoId, RepoType};
