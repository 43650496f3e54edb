//! `preflight._native`: the Rust side of the Python package `preflight`.
//!
//! The Python modules under `python/preflight/` are a thin, typed front door; every decision
//! is made here, by the crates the CLI uses: discovery and validation ([`preflight_auth`]),
//! the retry policy ([`preflight_retry::RetryPlanner`]), the auth log and its redaction
//! ([`preflight_log`]), and the command line itself ([`preflight_cli::run`]).
//!
//! Validation results cross the boundary as the same JSON the CLI prints with `--json`
//! (plus `passed`), so the two front doors cannot drift apart. Errors are raised as
//! `preflight.PreflightError` (or its `ValueError` subclass `PreflightUsageError`) with the
//! `PF…` code as `.code`.

mod auth;
mod log;
mod retry;

use std::ffi::OsString;

use pyo3::prelude::*;
use pyo3::types::PyModule;

/// Raises `preflight.<class>(code, message, hint)`.
pub(crate) fn preflight_error(
    py: Python<'_>,
    class: &str,
    code: preflight_errors::Code,
    message: String,
    hint: String,
) -> PyErr {
    let made = py
        .import("preflight._errors")
        .and_then(|module| module.getattr(class))
        .and_then(|class| class.call1((code.as_str(), message, hint)));
    match made {
        Ok(error) => PyErr::from_value(error),
        Err(error) => error,
    }
}

/// An argument the caller got wrong (PF009, like the CLI's usage errors).
pub(crate) fn usage_error(py: Python<'_>, message: String, hint: &str) -> PyErr {
    preflight_error(
        py,
        "PreflightUsageError",
        preflight_errors::Code::Pf009,
        message,
        hint.to_owned(),
    )
}

/// Seconds from Python as a `Duration`, or a usage error naming the argument.
pub(crate) fn seconds(py: Python<'_>, name: &str, value: f64) -> PyResult<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(value).map_err(|_| {
        usage_error(
            py,
            format!("{name} must be a finite number of seconds >= 0, not {value}"),
            &format!("pass {name} in seconds, such as 5.0 or 0.25"),
        )
    })
}

/// The package version (the workspace's).
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Runs the `preflight` command line in this process and returns its exit status.
///
/// `argv` starts with the program name, as `sys.argv` does. The GIL is released for the
/// whole run.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<OsString>) -> u8 {
    py.detach(|| preflight_cli::run(argv))
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(version, module)?)?;
    module.add_function(wrap_pyfunction!(run_cli, module)?)?;
    auth::register(module)?;
    log::register(module)?;
    retry::register(module)?;
    Ok(())
}
