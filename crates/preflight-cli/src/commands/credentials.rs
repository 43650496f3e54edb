//! Turning the shared credential flags into an [`AuthValidator`], for `check`, `run` and
//! `train` alike, so the three commands cannot drift apart.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use preflight_auth::modal::ModalVia;
use preflight_auth::{
    AuthValidator, Discovered, Env, HfOptions, ModalOptions, RepoTarget, Secret, SecretSink, vars,
};
use preflight_errors::Code;
use preflight_retry::RetryConfig;

use crate::cli::{CredentialArgs, parse_duration};

/// A usage problem: the code, what was wrong, and what to do.
pub(crate) type UsageError = (Code, String, String);

/// The validator the flags describe. `modal_cli_default` is used when `--modal-cli` is not
/// given (`run` passes the `modal` that will run the job, so the check uses the same one).
pub(crate) fn build_validator(
    args: &CredentialArgs,
    env: Arc<dyn Env>,
    modal_cli_default: Option<PathBuf>,
    sink: SecretSink,
) -> Result<AuthValidator, UsageError> {
    let target = match &args.repo {
        Some(repo) => Some(
            RepoTarget::parse(repo, &args.repo_type, args.need.as_str()).map_err(|error| {
                (
                    Code::Pf009,
                    error.to_string(),
                    "pass --repo NAMESPACE/NAME exactly as in the repo's URL, and --repo-type model, dataset or space".to_owned(),
                )
            })?,
        ),
        None => None,
    };
    let timeout = match args.timeout {
        Some(timeout) => timeout,
        None => env_duration(&*env, "PREFLIGHT_TIMEOUT")?.unwrap_or(Duration::from_secs(5)),
    };
    let retry = RetryConfig::from_env(|key| env.var(key)).map_err(|error| {
        (
            Code::Pf009,
            error.to_string(),
            "fix or unset the PREFLIGHT_RETRY_* variable named above".to_owned(),
        )
    })?;
    let hf = HfOptions {
        endpoint: args.endpoint.clone(),
        timeout,
        target,
        retry,
        no_refresh: args.no_refresh,
        on_secret: Some(sink),
        ..HfOptions::default()
    };
    let mut modal = ModalOptions {
        cli_path: args.modal_cli.clone().or(modal_cli_default),
        ..ModalOptions::default()
    };
    if let Some(timeout) = args.modal_timeout {
        modal.timeout = timeout;
    } else if let Some(timeout) = env_duration(&*env, "PREFLIGHT_MODAL_TIMEOUT")? {
        modal.timeout = timeout;
    }
    modal.via = match args.modal_via {
        Some(via) => via.to_via(),
        None => match env
            .var("PREFLIGHT_MODAL_VIA")
            .filter(|value| !value.trim().is_empty())
        {
            None => ModalVia::Auto,
            Some(value) => ModalVia::parse(&value).ok_or_else(|| {
                (
                    Code::Pf009,
                    format!("PREFLIGHT_MODAL_VIA: `{value}` is not auto, native or cli"),
                    "set PREFLIGHT_MODAL_VIA to auto, native or cli, or unset it".to_owned(),
                )
            })?,
        },
    };
    Ok(AuthValidator::new(env)
        .with_hf_options(hf)
        .with_modal_options(modal))
}

/// A duration from the environment; unset or empty is `None`, garbage is a usage error.
pub(crate) fn env_duration(env: &dyn Env, key: &str) -> Result<Option<Duration>, UsageError> {
    match env.var(key).filter(|value| !value.trim().is_empty()) {
        None => Ok(None),
        Some(value) => parse_duration(&value).map(Some).map_err(|error| {
            (
                Code::Pf009,
                format!("{key}: {error}"),
                format!("set {key} to a duration such as 5s or 800ms, or unset it"),
            )
        }),
    }
}

/// Where `::add-mask::` lines go: stdout for `check` and `upload`, stderr for `run` (whose
/// stdout belongs to the child).
#[derive(Debug, Clone, Copy)]
pub enum MaskTo {
    Stdout,
    Stderr,
}

impl MaskTo {
    fn emit(self, text: &str) {
        match self {
            MaskTo::Stdout => print!("{text}"),
            MaskTo::Stderr => eprint!("{text}"),
        }
    }
}

/// The sink for credentials obtained later (an exchanged, minted or refreshed token): each is
/// registered for redaction and, under GitHub Actions, masked before it can be printed.
pub(crate) fn secret_sink(in_actions: bool, to: MaskTo) -> SecretSink {
    SecretSink::new(move |secret: &Secret| {
        if secret.expose().trim().is_empty() {
            return;
        }
        preflight_log::register_secret(secret.expose());
        if in_actions {
            to.emit(&crate::github::mask_commands(&[secret]));
        }
    })
}

/// Every credential value discovery (`found`, run once per command) can see is registered
/// with the redactor and, under GitHub Actions, declared with `::add-mask::` before anything
/// else is printed. Returns whether GitHub Actions output is active.
pub fn protect_secrets(env: &dyn Env, found: &Discovered, to: MaskTo) -> bool {
    let mut secrets: Vec<Secret> = Vec::new();
    // The token in use, one withheld by HF_HUB_DISABLE_IMPLICIT_TOKEN, and a legacy variable
    // shadowed by HF_TOKEN: all are real credentials this process can see.
    if let Some(token) = found.hf.found_token() {
        secrets.push(token.clone());
    }
    if let Some(request) = &found.hf.oidc_request {
        secrets.extend(request.id_token.iter().cloned());
        secrets.extend(request.request_token.iter().cloned());
    }
    for key in [vars::HF_OIDC_ID_TOKEN, vars::ACTIONS_ID_TOKEN_REQUEST_TOKEN] {
        if let Some(value) = env.var(key).filter(|value| !value.trim().is_empty()) {
            secrets.push(Secret::new(value));
        }
    }
    for key in [vars::HF_TOKEN, vars::HUGGING_FACE_HUB_TOKEN] {
        if let Some(value) = env.var(key) {
            let cleaned = preflight_auth::hf::clean_token(&value);
            if !cleaned.is_empty() {
                secrets.push(Secret::new(cleaned));
            }
        }
    }
    secrets.extend(found.modal_secrets());
    // The token in use usually also stands in its variable: declare each value once.
    let mut seen = std::collections::HashSet::new();
    secrets.retain(|secret| seen.insert(secret.expose().to_owned()));
    for secret in &secrets {
        preflight_log::register_secret(secret.expose());
    }
    let in_actions = crate::github::active(env);
    if in_actions {
        let refs: Vec<&Secret> = secrets.iter().collect();
        to.emit(&crate::github::mask_commands(&refs));
    }
    in_actions
}
