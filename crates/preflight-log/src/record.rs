//! Records that do not come from `tracing`: the Python package's `logging` handler writes the
//! records of a program's own logger through [`RecordWriter`], into the same file, in the same
//! schema and with the same redaction as the events of the Rust crates.

use std::io;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use tracing::Level;

use crate::config::{AuthLogConfig, LogDestination};
use crate::file::LogFile;
use crate::layer::{FALLBACK_EVENT, clean_value, envelope_line};
use crate::redact::redact_cow;
use crate::setup::TARGET_PREFIX;

/// Appends records built from plain values to the auth log (see the crate docs for the schema).
///
/// Every string (the event name, field names and values, at any depth) is redacted before it
/// is written. Records below [`AuthLogConfig::file_level`] are dropped, as events are.
#[derive(Debug, Clone)]
pub struct RecordWriter {
    file: Arc<LogFile>,
    level: Level,
}

impl RecordWriter {
    /// Opens the file `config` names; `Ok(None)` when the log is disabled. An unusable path is
    /// an error (the caller decides whether that is a warning).
    pub fn open(config: &AuthLogConfig) -> io::Result<Option<RecordWriter>> {
        match &config.destination {
            LogDestination::Disabled => Ok(None),
            LogDestination::File(path) => Ok(Some(RecordWriter {
                file: Arc::new(LogFile::open(path, config.max_bytes, config.keep)?),
                level: config.file_level,
            })),
        }
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Writes one line. `target` that does not start with `preflight` is prefixed with
    /// `preflight::` (every line's target does); an empty `event` becomes `message`.
    /// Returns `Ok(false)` when `level` is more verbose than the file keeps.
    pub fn write(
        &self,
        level: Level,
        event: &str,
        target: &str,
        fields: Map<String, Value>,
    ) -> io::Result<bool> {
        if level > self.level {
            return Ok(false);
        }
        let target = if target.starts_with(TARGET_PREFIX) {
            target.to_owned()
        } else {
            format!("{TARGET_PREFIX}::{target}")
        };
        let event = if event.is_empty() {
            FALLBACK_EVENT.to_owned()
        } else {
            redact_cow(event).into_owned()
        };
        let fields = match clean_value(Value::Object(fields)) {
            Value::Object(fields) => fields,
            _ => Map::new(),
        };
        let line = envelope_line(
            level.as_str(),
            event,
            &redact_cow(&target),
            fields,
            OffsetDateTime::now_utc(),
        );
        self.file.append(line.as_bytes())?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register_secret;

    #[test]
    fn writes_redacted_schema_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/auth.log");
        let config = AuthLogConfig {
            destination: LogDestination::File(path.clone()),
            ..AuthLogConfig::default()
        };
        let writer = RecordWriter::open(&config)
            .expect("opens")
            .expect("enabled");
        assert_eq!(writer.path(), path);
        register_secret("record-writer-secret-value");
        let mut fields = Map::new();
        fields.insert(
            "message".into(),
            Value::from("uploading with record-writer-secret-value"),
        );
        fields.insert(
            "nested".into(),
            serde_json::json!({"list": ["hf_abcdefghijklmnopqrstuvwxyz0123"], "n": 3}),
        );
        assert!(
            writer
                .write(Level::INFO, "upload_started", "python.train", fields)
                .expect("writes")
        );
        assert!(
            !writer
                .write(Level::DEBUG, "", "preflight::python", Map::new())
                .expect("filtered")
        );
        writer
            .write(Level::WARN, "", "preflight::python", Map::new())
            .expect("writes");
        let text = std::fs::read_to_string(&path).expect("reads");
        assert!(!text.contains("record-writer-secret-value"), "{text}");
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("json"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["v"], 1);
        assert_eq!(lines[0]["event"], "upload_started");
        assert_eq!(lines[0]["target"], "preflight::python.train");
        assert_eq!(lines[0]["fields"]["message"], "uploading with …alue");
        assert_eq!(lines[0]["fields"]["nested"]["list"][0], "hf_****");
        assert_eq!(lines[0]["fields"]["nested"]["n"], 3);
        assert_eq!(lines[1]["event"], "message");
        assert_eq!(lines[1]["level"], "WARN");
    }

    #[test]
    fn disabled_log_has_no_writer() {
        let config = AuthLogConfig {
            destination: LogDestination::Disabled,
            ..AuthLogConfig::default()
        };
        assert!(RecordWriter::open(&config).expect("ok").is_none());
    }
}
