//! `setup_auth_logging()` on the Rust side: the auth log's `tracing` layer for the events of
//! the Rust crates, and a [`RecordWriter`] for the records of Python loggers.
//!
//! No global `tracing` subscriber is installed (the process may hold other Rust extensions
//! with their own). Instead, every call into Rust that can log runs under
//! [`with_log`], which makes the current auth log the thread's default dispatcher; each call
//! runs its async work on a current-thread runtime on the calling thread, so every event of
//! the call is seen. Calling `setup_auth_logging()` again replaces the log.

use std::path::PathBuf;
use std::sync::{PoisonError, RwLock};

use preflight_log::{AuthLogConfig, AuthLogGuard, LogDestination, RecordWriter};
use pyo3::prelude::*;
use pyo3::types::PyModule;
use serde_json::{Map, Value};
use tracing::{Dispatch, Level};
use tracing_subscriber::layer::SubscriberExt;

struct AuthLog {
    dispatch: Dispatch,
    writer: Option<RecordWriter>,
    // Held for as long as the log is in use, as the guard's docs ask.
    _guard: AuthLogGuard,
}

static CURRENT: RwLock<Option<AuthLog>> = RwLock::new(None);

/// Runs `work` with the current auth log (if any) as the thread's `tracing` dispatcher.
pub(crate) fn with_log<T>(work: impl FnOnce() -> T) -> T {
    let dispatch = CURRENT
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|log| log.dispatch.clone());
    match dispatch {
        Some(dispatch) => tracing::dispatcher::with_default(&dispatch, work),
        None => work(),
    }
}

/// Python `logging` levels (10, 20, …) as `tracing` levels.
fn level_from_python(level: i32) -> Level {
    match level {
        40.. => Level::ERROR,
        30.. => Level::WARN,
        20.. => Level::INFO,
        10.. => Level::DEBUG,
        _ => Level::TRACE,
    }
}

/// Opens the auth log at `path` (`None` disables it) for events at `level` and above, and
/// registers every credential this process can see with the redactor. Returns the setup
/// warnings (an unwritable log is a warning, as in the CLI).
#[pyfunction]
#[pyo3(signature = (path, level=20))]
fn setup_log(py: Python<'_>, path: Option<PathBuf>, level: i32) -> Vec<String> {
    py.detach(|| {
        let config = AuthLogConfig {
            destination: path.map_or(LogDestination::Disabled, LogDestination::File),
            file_level: level_from_python(level),
            ..AuthLogConfig::default()
        };
        let _ = crate::auth::protect_secrets();
        let (layer, guard) = preflight_log::auth_log_layer(&config);
        let mut warnings = guard.warnings().to_vec();
        let writer = match RecordWriter::open(&config) {
            Ok(writer) => writer,
            Err(error) => {
                if warnings.is_empty() {
                    warnings.push(format!("auth log disabled: {error}"));
                }
                None
            }
        };
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        *CURRENT.write().unwrap_or_else(PoisonError::into_inner) = Some(AuthLog {
            dispatch,
            writer,
            _guard: guard,
        });
        warnings
    })
}

/// Writes one record of a Python logger: `fields_json` is a JSON object (the message, the
/// logger's name, the record's extras). Returns False when no log is set up or the level is
/// filtered out. A failed write raises `OSError`.
#[pyfunction]
fn write_record(
    py: Python<'_>,
    level: i32,
    event: &str,
    target: &str,
    fields_json: &str,
) -> PyResult<bool> {
    let fields = match serde_json::from_str::<Value>(fields_json) {
        Ok(Value::Object(fields)) => fields,
        Ok(other) => {
            let mut fields = Map::new();
            fields.insert("message".to_owned(), other);
            fields
        }
        Err(error) => {
            return Err(crate::usage_error(
                py,
                format!("the record's fields are not JSON: {error}"),
                "pass JSON-serializable values in `extra=`",
            ));
        }
    };
    let current = CURRENT.read().unwrap_or_else(PoisonError::into_inner);
    let Some(writer) = current.as_ref().and_then(|log| log.writer.as_ref()) else {
        return Ok(false);
    };
    let written = py.detach(|| writer.write(level_from_python(level), event, target, fields))?;
    Ok(written)
}

/// Registers a secret whose exact value is masked as `****` in the auth log from now on.
#[pyfunction]
fn register_secret(value: &str) {
    preflight_log::register_secret(value);
}

/// `text` with every registered secret and every credential-shaped substring masked.
#[pyfunction]
fn redact(text: &str) -> String {
    preflight_log::redact(text)
}

/// The auth log file in use, or None.
#[pyfunction]
fn log_path() -> Option<PathBuf> {
    CURRENT
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(|log| log.writer.as_ref())
        .map(|writer| writer.path().to_owned())
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(setup_log, module)?)?;
    module.add_function(wrap_pyfunction!(write_record, module)?)?;
    module.add_function(wrap_pyfunction!(register_secret, module)?)?;
    module.add_function(wrap_pyfunction!(redact, module)?)?;
    module.add_function(wrap_pyfunction!(log_path, module)?)?;
    Ok(())
}
