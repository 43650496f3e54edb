//! Installing the subscriber: the auth log file layer plus an optional human stderr layer.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{AuthLogConfig, LogDestination};
use crate::file::LogFile;
use crate::layer::{JsonLinesLayer, WriteFailures};
use crate::redact::redact_cow;

/// The target prefix of the events the auth log keeps.
pub const TARGET_PREFIX: &str = "preflight";

/// What [`setup_auth_logging`] and [`auth_log_layer`] hand back: where the log goes and what
/// went wrong setting it up.
///
/// Keep it alive for the whole run (`let _guard = ...`, not `let _ = ...`). Writes are
/// synchronous and unbuffered, so every line is already in the file when the `tracing` macro
/// returns and dropping the guard has nothing left to flush; holding it keeps that true should
/// the log ever become buffered.
#[derive(Debug)]
#[must_use = "the guard reports setup warnings and must live as long as logging does"]
pub struct AuthLogGuard {
    path: Option<PathBuf>,
    warnings: Vec<String>,
    failures: Arc<Mutex<WriteFailures>>,
}

impl AuthLogGuard {
    fn new() -> Self {
        Self {
            path: None,
            warnings: Vec::new(),
            failures: Arc::default(),
        }
    }

    /// Problems found while setting up, for the CLI to print as warnings. Each is one line,
    /// optionally followed by a `hint: ...` line.
    ///
    /// A log that cannot be written (its directory cannot be created, permission is denied, the
    /// path is a directory) lands here and disables the file log; it never fails the check
    /// that was being logged.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The file being written, or `None` when the log is disabled or unusable.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The first error from writing a line after a successful setup (a full disk, a file made
    /// read-only mid-run), with the number of lines lost, or `None` if every write succeeded.
    pub fn write_failure(&self) -> Option<String> {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.first.as_ref().map(|first| match failures.count {
            1 => format!("{first} (1 line lost)"),
            count => format!("{first} ({count} lines lost)"),
        })
    }
}

/// Installs the global `tracing` subscriber: the JSON-lines auth log and, if
/// [`AuthLogConfig::stderr_level`] is set, human-readable diagnostics on stderr.
///
/// Never panics and never fails: an unwritable log, or a subscriber that is already installed
/// (a second call), is reported in [`AuthLogGuard::warnings`].
pub fn setup_auth_logging(config: &AuthLogConfig) -> AuthLogGuard {
    let (file_layer, mut guard) = auth_log_layer(config);
    let stderr = config.stderr_level.map(stderr_layer);
    let installed = tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr)
        .try_init();
    if installed.is_err() {
        guard.path = None;
        guard.warnings.push(String::from(
            "a tracing subscriber was already installed; the auth log settings of this call were \
             not applied",
        ));
    }
    guard
}

/// The auth log as a composable layer, for callers that build their own subscriber (the CLI
/// adding a layer, or tests using `tracing::subscriber::with_default`).
///
/// The layer keeps events whose target starts with `preflight` at
/// [`AuthLogConfig::file_level`] and above. When the log is disabled or cannot be opened it
/// keeps nothing, and the reason is in [`AuthLogGuard::warnings`].
pub fn auth_log_layer<S>(
    config: &AuthLogConfig,
) -> (impl Layer<S> + Send + Sync + 'static, AuthLogGuard)
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    let mut guard = AuthLogGuard::new();
    let layer = match &config.destination {
        LogDestination::Disabled => None,
        LogDestination::File(path) => match LogFile::open(path, config.max_bytes, config.keep) {
            Ok(file) => {
                guard.path = Some(path.clone());
                Some(JsonLinesLayer::new(
                    Arc::new(file),
                    Arc::clone(&guard.failures),
                ))
            }
            Err(error) => {
                guard.warnings.push(format!(
                    "auth log disabled: cannot write `{}`: {error}\nhint: pass `--auth-log PATH` \
                     or set PREFLIGHT_AUTH_LOG to a writable file, or to `off`",
                    path.display()
                ));
                None
            }
        },
    };
    let enabled = layer.is_some();
    let level = config.file_level;
    let filter = filter_fn(move |metadata: &Metadata<'_>| {
        enabled && metadata.target().starts_with(TARGET_PREFIX) && *metadata.level() <= level
    });
    (layer.with_filter(filter), guard)
}

/// Human diagnostics on stderr: Preflight's targets at `level`, everything else at `WARN` at most,
/// every line redacted.
fn stderr_layer<S>(level: Level) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    let others = level.min(Level::WARN);
    let filter = filter_fn(move |metadata: &Metadata<'_>| {
        let limit = if metadata.target().starts_with(TARGET_PREFIX) {
            level
        } else {
            others
        };
        *metadata.level() <= limit
    });
    tracing_subscriber::fmt::layer()
        .with_writer(RedactingStderr::default)
        .with_ansi(false)
        .with_filter(filter)
}

/// Buffers one formatted event and writes it to stderr, redacted, when dropped. `fmt` makes one
/// writer per event, so a secret can never be split across two `write` calls.
#[derive(Default)]
struct RedactingStderr {
    buffer: Vec<u8>,
}

impl Write for RedactingStderr {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingStderr {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buffer);
        let clean = redact_cow(&text);
        // Nowhere to report a failed write to stderr.
        let _ignored = io::stderr().lock().write_all(clean.as_bytes());
    }
}
