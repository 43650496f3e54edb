//! The `tracing` layer that turns events into schema-v1 JSON lines.
//!
//! The envelope is built by hand from a [`Visit`] implementation rather than by
//! `tracing_subscriber::fmt().json()`, so the keys, their order and their types are exactly the
//! ones documented in the crate root, and every string is redacted before serialization.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::file::LogFile;
use crate::redact::redact_cow;

/// The schema version written as `"v"` in every line.
pub const SCHEMA_VERSION: u32 = 1;

/// String field values longer than this many bytes are cut (after redaction) and end in
/// `…[truncated]`, so one runaway response body cannot bloat the log.
pub const MAX_FIELD_BYTES: usize = 4096;

/// `event` when an event has no `event` field (a plain `info!("text")`).
pub const FALLBACK_EVENT: &str = "message";

const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// One line of the log, in key order.
#[derive(Serialize)]
struct Envelope<'a> {
    v: u32,
    ts: String,
    level: &'a str,
    event: String,
    target: &'a str,
    pid: u32,
    fields: Map<String, Value>,
}

/// The auth log layer: writes every event it is given as one JSON line.
///
/// It does no filtering of its own; [`auth_log_layer`](crate::auth_log_layer) wraps it in the
/// per-layer filter that keeps `preflight*` targets at the configured level.
#[derive(Debug, Clone)]
pub(crate) struct JsonLinesLayer {
    file: Arc<LogFile>,
    failures: Arc<Mutex<WriteFailures>>,
}

/// Write errors after setup, kept for [`AuthLogGuard::write_failures`](crate::AuthLogGuard).
#[derive(Debug, Default)]
pub(crate) struct WriteFailures {
    pub(crate) first: Option<String>,
    pub(crate) count: u64,
}

impl JsonLinesLayer {
    pub(crate) fn new(file: Arc<LogFile>, failures: Arc<Mutex<WriteFailures>>) -> Self {
        Self { file, failures }
    }
}

impl<S: Subscriber> Layer<S> for JsonLinesLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = format_line(event, OffsetDateTime::now_utc());
        if let Err(error) = self.file.append(line.as_bytes()) {
            // Never panic and never log from inside the logger: remember it for the CLI.
            let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            failures.count += 1;
            if failures.first.is_none() {
                failures.first = Some(format!(
                    "could not write to the auth log `{}`: {error}",
                    self.file.path().display()
                ));
            }
        }
    }
}

/// Formats one event as a complete JSON line, newline included.
pub(crate) fn format_line(event: &Event<'_>, now: OffsetDateTime) -> String {
    let metadata = event.metadata();
    let mut visitor = JsonVisitor::default();
    event.record(&mut visitor);
    let event_name = visitor.event.unwrap_or_else(|| FALLBACK_EVENT.to_owned());
    envelope_line(
        metadata.level().as_str(),
        event_name,
        metadata.target(),
        visitor.fields,
        now,
    )
}

/// One schema-v1 line from its parts; `fields` must already be redacted.
pub(crate) fn envelope_line(
    level: &str,
    event: String,
    target: &str,
    fields: Map<String, Value>,
    now: OffsetDateTime,
) -> String {
    let envelope = Envelope {
        v: SCHEMA_VERSION,
        ts: now
            .format(TIMESTAMP)
            .unwrap_or_else(|_| String::from("1970-01-01T00:00:00.000Z")),
        level,
        event,
        target,
        pid: std::process::id(),
        fields,
    };
    // Serializing a struct of strings, numbers and `Value`s cannot fail.
    let mut line = serde_json::to_string(&envelope).unwrap_or_else(|_| String::from("{}"));
    line.push('\n');
    line
}

/// Redacts and clips every string in `value`, however deeply nested.
pub(crate) fn clean_value(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(clip(redact_cow(&text).into_owned())),
        Value::Array(items) => Value::Array(items.into_iter().map(clean_value).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (clip(redact_cow(&key).into_owned()), clean_value(value)))
                .collect(),
        ),
        other => other,
    }
}

/// Collects an event's fields as JSON values, redacting every string.
#[derive(Default)]
struct JsonVisitor {
    event: Option<String>,
    fields: Map<String, Value>,
}

impl JsonVisitor {
    fn insert_string(&mut self, field: &Field, value: &str) {
        let clean = clip(redact_cow(value).into_owned());
        if field.name() == "event" {
            self.event = Some(clean);
        } else {
            self.fields
                .insert(field.name().to_owned(), Value::String(clean));
        }
    }

    fn insert(&mut self, field: &Field, value: Value) {
        if field.name() == "event" {
            // A non-string `event` (a number, a bool) is still an event name.
            self.event = Some(value.to_string());
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for JsonVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert_string(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Covers `message` (`format_args!`), `%display` and `?debug` values.
        self.insert_string(field, &format!("{value:?}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole `source()` chain, the way `anyhow` prints `{:#}`.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.insert_string(field, &text);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, Value::from(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(small) => self.insert(field, Value::from(small)),
            // JSON numbers beyond 64 bits lose precision in most parsers: keep the digits.
            Err(_) => self.insert_string(field, &value.to_string()),
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(small) => self.insert(field, Value::from(small)),
            Err(_) => self.insert_string(field, &value.to_string()),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and the infinities have no JSON form: they become `null`.
        self.insert(
            field,
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        );
    }
}

/// Cuts a string above [`MAX_FIELD_BYTES`] at a character boundary.
fn clip(mut text: String) -> String {
    if text.len() > MAX_FIELD_BYTES {
        let mut end = MAX_FIELD_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("…[truncated]");
    }
    text
}
