//! `AuthValidator` on the Rust side: the CLI's validator, configured from Python arguments,
//! reading the process environment (which `os.environ` writes through to).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use preflight_auth::modal::ModalVia;
use preflight_auth::{
    AuthValidator, Discovered, HfOptions, ModalOptions, OsEnv, RepoTarget, TokenValidationResult,
};
use preflight_retry::RetryConfig;
use pyo3::prelude::*;
use pyo3::types::PyModule;

use crate::log::with_log;

/// Registers every credential the process can see with the redactor (and, under GitHub
/// Actions, prints `::add-mask::` for each), as every CLI command does first.
pub(crate) fn protect_secrets() -> Discovered {
    let found = preflight_auth::discover_credentials(&OsEnv);
    preflight_cli::protect_secrets(&OsEnv, &found, preflight_cli::MaskTo::Stdout);
    found
}

/// The same JSON as one `results[]` entry of `preflight check --json`, plus `passed`.
fn to_json(result: &TokenValidationResult) -> String {
    let mut value = serde_json::to_value(result).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("passed".to_owned(), result.passed().into());
    }
    value.to_string()
}

/// What the Python `AuthValidator(...)` was given.
struct Settings {
    endpoint: Option<String>,
    timeout: Duration,
    target: Option<RepoTarget>,
    modal_cli: Option<PathBuf>,
    modal_timeout: Duration,
}

fn validator(py: Python<'_>, settings: Settings) -> PyResult<AuthValidator> {
    let retry = RetryConfig::from_env(|key| std::env::var(key).ok()).map_err(|error| {
        crate::usage_error(
            py,
            error.to_string(),
            "fix or unset the PREFLIGHT_RETRY_* variable named above",
        )
    })?;
    let hf = HfOptions {
        endpoint: settings.endpoint,
        timeout: settings.timeout,
        target: settings.target,
        retry,
        ..HfOptions::default()
    };
    // As the CLI: `PREFLIGHT_MODAL_VIA`, else native with the CLI as fallback. Naming a
    // `modal` executable asks for the CLI path.
    let from_env = match std::env::var("PREFLIGHT_MODAL_VIA") {
        Ok(text) if !text.trim().is_empty() => Some(ModalVia::parse(&text).ok_or_else(|| {
            crate::usage_error(
                py,
                format!("PREFLIGHT_MODAL_VIA: `{text}` is not auto, native or cli"),
                "set PREFLIGHT_MODAL_VIA to auto, native or cli, or unset it",
            )
        })?),
        _ => None,
    };
    let via = match (from_env, &settings.modal_cli) {
        (Some(via), _) => via,
        (None, Some(_)) => ModalVia::Cli,
        (None, None) => ModalVia::Auto,
    };
    let modal = ModalOptions {
        cli_path: settings.modal_cli,
        timeout: settings.modal_timeout,
        via,
    };
    Ok(AuthValidator::new(Arc::new(OsEnv))
        .with_hf_options(hf)
        .with_modal_options(modal))
}

fn target(
    py: Python<'_>,
    repo: Option<&str>,
    repo_type: &str,
    need: &str,
) -> PyResult<Option<RepoTarget>> {
    match repo {
        Some(repo) => RepoTarget::parse(repo, repo_type, need)
            .map(Some)
            .map_err(|error| {
                crate::usage_error(
                    py,
                    error.to_string(),
                    "pass repo='NAMESPACE/NAME' exactly as in the repo's URL, repo_type 'model', \
                     'dataset' or 'space', and need 'read' or 'write'",
                )
            }),
        None => {
            // Check `need` even without a repo, so a typo is not silently ignored.
            RepoTarget::parse("preflight/placeholder", repo_type, need).map_err(|error| {
                crate::usage_error(
                    py,
                    error.to_string(),
                    "pass repo_type 'model', 'dataset' or 'space', and need 'read' or 'write'",
                )
            })?;
            Ok(None)
        }
    }
}

/// Discovers every credential once, registers each with the redactor (and, under GitHub
/// Actions, prints `::add-mask::` for each) as every CLI command does first, then runs
/// `work` on what was found to completion on a current-thread runtime on this thread, without
/// the GIL and with the auth log as the dispatcher.
fn block_on<T: Send, Fut: std::future::Future<Output = T> + Send>(
    py: Python<'_>,
    work: impl FnOnce(Discovered) -> Fut + Send,
) -> PyResult<T> {
    py.detach(|| {
        let found = protect_secrets();
        with_log(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| runtime.block_on(work(found)))
        })
    })
    .map_err(|error| {
        pyo3::exceptions::PyRuntimeError::new_err(format!(
            "cannot start the async runtime: {error}"
        ))
    })
}

/// Validates the credentials selected by `hf` and `modal` (with `repo`, also the right to
/// `need` it); returns `[hf, modal]` results, those selected, as JSON.
#[pyfunction]
#[pyo3(signature = (endpoint=None, timeout=5.0, repo=None, repo_type="model", need="read", modal_cli=None, modal_timeout=10.0, hf=true, modal=true))]
#[allow(clippy::too_many_arguments)]
fn validate(
    py: Python<'_>,
    endpoint: Option<String>,
    timeout: f64,
    repo: Option<&str>,
    repo_type: &str,
    need: &str,
    modal_cli: Option<PathBuf>,
    modal_timeout: f64,
    hf: bool,
    modal: bool,
) -> PyResult<Vec<String>> {
    let settings = Settings {
        endpoint,
        timeout: crate::seconds(py, "timeout", timeout)?,
        target: target(py, repo, repo_type, need)?,
        modal_cli,
        modal_timeout: crate::seconds(py, "modal_timeout", modal_timeout)?,
    };
    let validator = validator(py, settings)?;
    let results = block_on(py, |found| async move {
        validator.validate_selected(found, hf, modal).await
    })?;
    Ok(results.iter().map(to_json).collect())
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(validate, module)?)?;
    Ok(())
}
