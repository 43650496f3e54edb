//! The structured JSON-lines auth log.
//!
//! Preflight writes every authentication, retry, upload and launch event to a JSON-lines file
//! (default `logs/auth.log`), one event per line, with tokens always masked. This crate owns
//! that file: the [`tracing`] layer that formats it, the redaction applied before anything is
//! serialized, and size-based rotation that several processes can share.
//!
//! ```no_run
//! use preflight_log::{AuthLogConfig, register_secret, setup_auth_logging};
//!
//! let config = AuthLogConfig::resolve(None, |name| std::env::var(name).ok());
//! let guard = setup_auth_logging(&config);
//! for warning in guard.warnings() {
//!     eprintln!("warning: {warning}");
//! }
//! register_secret("hf_the_token_the_cli_just_discovered");
//! tracing::info!(target: "preflight::auth", event = "token_validated", provider = "hf");
//! ```
//!
//! # Configuration
//!
//! | setting | flag | environment | default |
//! |---|---|---|---|
//! | file | `--auth-log PATH` (`off` disables) | `PREFLIGHT_AUTH_LOG` (`PATH`, or `off`/`none`/`-`) | `logs/auth.log` |
//! | file level | | `PREFLIGHT_LOG_LEVEL` (`error`/`warn`/`info`/`debug`/`trace`) | `info` |
//! | rotation | | | above 10 MiB, 5 old files kept |
//! | stderr diagnostics | (CLI's `-v`) | | off |
//!
//! The flag wins over the environment, which wins over the default; see
//! [`AuthLogConfig::resolve`]. Only events whose `tracing` target starts with `preflight` are
//! written to the file. A log that cannot be written is a warning ([`AuthLogGuard::warnings`]),
//! never an error that fails a check.
//!
//! # Schema (version 1)
//!
//! Each line is one JSON object terminated by `\n`; lines never contain a raw newline. The
//! keys appear in this order:
//!
//! ```json
//! {"v":1,"ts":"2026-11-28T12:00:00.123Z","level":"INFO","event":"token_validated","target":"preflight::auth","pid":4242,"fields":{"provider":"hf","status":"VALID","masked_token":"hf_…abcd","latency_ms":12}}
//! ```
//!
//! * `v` (number): the schema version, `1`. It changes only when an existing key changes
//!   meaning or type or is removed; readers should reject versions they do not know.
//! * `ts` (string): when the event was recorded, RFC 3339 in UTC with exactly three fractional
//!   digits and a `Z` suffix (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
//! * `level` (string): one of `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`. Only `ERROR`, `WARN`
//!   and `INFO` are written unless `PREFLIGHT_LOG_LEVEL` asks for more.
//! * `event` (string): the event name, from the event's `event` field (for example
//!   `token_validated`, `retry`). An event without an `event` field (a plain
//!   `info!("text")`) has `"event":"message"` and its text in `fields.message`.
//! * `target` (string): the `tracing` target, for example `preflight::auth`; always starts
//!   with `preflight`.
//! * `pid` (number): the id of the process that wrote the line (several processes may share
//!   one file).
//! * `fields` (object): every other field of the event, by name. Integers and floats stay JSON
//!   numbers (integers beyond 64 bits become strings of digits; NaN and infinities become
//!   `null`), booleans stay booleans, and everything else (strings, `%display`, `?debug`,
//!   errors with their `source()` chain joined by `: `) is a redacted string, cut after
//!   4096 bytes with a `…[truncated]` marker. Which fields an event carries is listed per
//!   event in `docs/auth-log.md`.
//!
//! **Stability.** Within `"v":1` the keys above keep their names, types and meaning. New
//! top-level keys may be added (for example span context), new events may appear, and events
//! may gain fields; readers must ignore what they do not know. Removing or renaming a field of
//! a documented event is a breaking change and is announced in the changelog. The key order is
//! a convenience for people reading the file, not part of the contract.
//!
//! Records that are not `tracing` events (the Python package's `logging` handler) are written
//! with [`RecordWriter`], in the same schema and with the same redaction.
//!
//! # Redaction
//!
//! Every string is passed through [`redact`] before it is serialized: exact values given to
//! [`register_secret`] become `****`, and credential-shaped text (`hf_…` and `api_org_…`
//! tokens, Modal `ak-`/`as-` tokens, `Bearer` credentials, URL passwords, signed-URL query
//! parameters) is masked. Masked forms such as `hf_…abcd` pass through. This is defence in
//! depth: callers should log presence and source, never values. The stderr layer is redacted
//! the same way.
//!
//! # Files, concurrency and rotation
//!
//! Lines are appended with one `write` each on an `O_APPEND` file, so several threads and
//! processes can share the log without tearing lines. Before a write that would take the
//! file above `max_bytes`, it is rotated (`auth.log` → `auth.log.1` → … → `auth.log.5`) under an
//! advisory lock on `auth.log.lock`. Parent directories are created as needed and, on Unix, the
//! files are created with mode `0600`. Writes are synchronous: nothing is lost on exit.

#![warn(missing_docs)]

pub use config::{
    AuthLogConfig, DEFAULT_KEEP, DEFAULT_MAX_BYTES, DEFAULT_PATH, ENV_AUTH_LOG, ENV_LOG_LEVEL,
    LogDestination,
};
pub use layer::{FALLBACK_EVENT, MAX_FIELD_BYTES, SCHEMA_VERSION};
pub use record::RecordWriter;
pub use redact::{MASK, MIN_SECRET_CHARS, redact, register_secret};
pub use setup::{AuthLogGuard, TARGET_PREFIX, auth_log_layer, setup_auth_logging};

mod config;
mod file;
mod layer;
mod record;
mod redact;
mod setup;
