//! Credential discovery and validation for Hugging Face and Modal.
//!
//! [`AuthValidator`] is the entry point: `validate_hf_token`, `validate_modal_token` and
//! `validate_all_tokens` each end in a [`TokenValidationResult`] whose [`TokenStatus`] says
//! what happened. Credentials live in [`Secret`] and never leave it except to be sent.

pub use env::{Env, MapEnv, OsEnv, is_truthy, vars};
pub use result::{
    Identity, PermissionCheck, PermissionVerdict, Provider, ScopedGrant, TokenStatus,
    TokenValidationResult,
};
pub use secret::{Secret, mask_token};

mod env;
mod result;
mod secret;
