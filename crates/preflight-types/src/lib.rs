//! The types every Preflight crate shares, so each concept has one definition:
//!
//! - [`Secret`]: where a credential lives; `Debug` prints `****`, there is no `Display`.
//! - [`mask_token`]: the one masking rule (`hf_…abcd`), used by results, the terminal and logs.
//! - [`redact`]: the one redaction rule: known secret values and credential-shaped text
//!   (Hub and Modal tokens, `Bearer …`, JWTs, URL passwords, signed-URL parameters) are masked.
//!   The auth log applies it with its registry of secrets; error messages apply it with the
//!   token at hand.
//! - [`RepoType`] and [`RepoId`]: a Hub repository's type and its validated `namespace/name`,
//!   so the repo a pre-flight approved is exactly the repo an upload writes.
//!
//! It depends on no other Preflight crate and pulls in nothing heavy: the upload library
//! uses it without the credential machinery (Modal CLI, profiles, process control).

pub use redact::{MASK, MIN_SECRET_CHARS, redact, redact_shapes};
pub use repo::{MAX_PART_LEN, RepoId, RepoIdError, RepoType};
pub use secret::{Secret, mask_token};

pub mod redact;
mod repo;
mod secret;
