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

/// Every credential a command can see, discovered once per command: what the CLI registers
/// for redaction (and masks under GitHub Actions) is what the checks then validate.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The Hugging Face token, as the official client would pick it.
    pub hf: HfTokenDiscovery,
    /// The Modal credentials, as the `modal` client would resolve them.
    pub modal: ModalDiscovery,
}

impl Discovered {
    /// Every Modal credential value found (token id and secret, OAuth secrets), non-empty.
    pub fn modal_secrets(&self) -> Vec<Secret> {
        self.modal
            .values
            .values()
            .map(|resolved| resolved.value.clone())
            .filter(|value| !value.expose().trim().is_empty())
            .collect()
    }
}

/// Discovers every credential once: [`discover_hf_token`] and [`discover_modal`].
pub fn discover_credentials(env: &dyn Env) -> Discovered {
    Discovered {
        hf: discover_hf_token(env),
        modal: modal::discover(env),
    }
}
