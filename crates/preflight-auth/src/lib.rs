//! Credential discovery and validation for Hugging Face and Modal.
//!
//! [`AuthValidator`] is the entry point: `validate_hf_token`, `validate_modal_token` and
//! `validate_all_tokens` each end in a [`TokenValidationResult`] whose [`TokenStatus`] says
//! what happened. Credentials live in [`Secret`] and never leave it except to be sent.

pub use env::{Env, MapEnv, OsEnv, is_truthy, vars};
pub use hf::{
    HfTokenDiscovery, Need, RepoId, RepoTarget, RepoTargetError, RepoType, discover_hf_token,
};
pub use modal::{ModalDiscovery, ModalOptions, discover as discover_modal, validate_modal};
pub use preflight_types::{Secret, mask_token, redact};
pub use result::{
    Identity, PermissionCheck, PermissionVerdict, Provider, ScopedGrant, TokenStatus,
    TokenValidationResult,
};
pub use validator::{AuthValidator, HfOptions, HfRenewal, HfValidation, RenewalError, SecretSink};

mod env;
pub mod hf;
pub mod modal;
mod result;
mod validator;

/// Every Modal credential value discovery can see (token id and secret, OAuth secrets), so
/// the CLI can register them for redaction and mask them under GitHub Actions before
/// printing anything. Empty values are left out.
pub fn discover_modal_secrets(env: &dyn Env) -> Vec<Secret> {
    modal::discover(env)
        .values
        .into_values()
        .map(|resolved| resolved.value)
        .filter(|value| !value.expose().trim().is_empty())
        .collect()
}
