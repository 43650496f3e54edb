//! One structured `tracing` event per retry, and one when giving up.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use preflight_retry::{Idempotency, Jitter, RetryConfig, RetryManager};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

type Fields = BTreeMap<String, String>;

/// Records every event's level, target and fields.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(Level, String, Fields)>>>);

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        let metadata = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((*metadata.level(), metadata.target().to_owned(), fields));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn only<'a>(fields: &'a Fields, keys: &[&str]) -> Vec<(&'a str, &'a str)> {
    let mut pairs: Vec<_> = keys
        .iter()
        .filter_map(|k| {
            fields
                .get_key_value(*k)
                .map(|(k, v)| (k.as_str(), v.as_str()))
        })
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test(start_paused = true)]
async fn one_event_per_retry_and_one_when_giving_up() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let config = RetryConfig::default()
        .with_jitter(Jitter::None)
        .with_max_attempts(3)
        .with_deadline(Some(Duration::from_secs(60)));
    let manager = RetryManager::new(config);
    let _ = manager
        .run("hub.preupload", Idempotency::Idempotent, |_| async {
            Err::<(), _>(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "reset by peer",
            ))
        })
        .await;

    let events = capture.0.lock().unwrap().clone();
    assert_eq!(events.len(), 3, "{events:#?}");
    let keys = [
        "event",
        "operation",
        "attempt",
        "attempts",
        "error_kind",
        "cause",
        "delay_ms",
        "remaining_ms",
        "reason",
        "elapsed_ms",
    ];
    for (level, target, _) in &events {
        assert_eq!(*level, Level::WARN);
        assert_eq!(target, "preflight::retry");
    }
    let summary: Vec<_> = events
        .iter()
        .map(|(_, _, fields)| only(fields, &keys))
        .collect();
    assert_eq!(
        summary,
        [
            vec![
                ("event", "retry"),
                ("operation", "hub.preupload"),
                ("attempt", "1"),
                ("error_kind", "reset"),
                ("cause", "reset by peer"),
                ("delay_ms", "1000"),
                ("remaining_ms", "60000"),
            ],
            vec![
                ("event", "retry"),
                ("operation", "hub.preupload"),
                ("attempt", "2"),
                ("error_kind", "reset"),
                ("cause", "reset by peer"),
                ("delay_ms", "2000"),
                ("remaining_ms", "59000"),
            ],
            vec![
                ("event", "retry_gave_up"),
                ("operation", "hub.preupload"),
                ("attempts", "3"),
                ("error_kind", "reset"),
                ("cause", "reset by peer"),
                ("reason", "attempts_exhausted"),
                ("elapsed_ms", "3000"),
            ],
        ]
        .map(|mut v| {
            v.sort();
            v
        })
    );
    assert!(
        events[0].2["message"].contains("retrying in 1 s"),
        "{:?}",
        events[0].2
    );
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_permanent_failure_is_only_debug() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let manager = RetryManager::new(RetryConfig::default().with_deadline(None));
    let _ = manager
        .run("hub.repo_info", Idempotency::Idempotent, |_| async {
            Err::<(), _>(preflight_retry::HttpStatusError::new(
                404,
                "http://h/api/models/x",
            ))
        })
        .await;
    let events = capture.0.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    let (level, _, fields) = &events[0];
    assert_eq!(*level, Level::DEBUG);
    assert_eq!(fields["event"], "retry_gave_up");
    assert_eq!(fields["reason"], "permanent");
    assert_eq!(fields["error_kind"], "status_404");
    assert!(!fields.contains_key("remaining_ms"));
}

/// A transient failure that was not retried because the request may have reached the server
/// is a warning even on the first attempt: it is not the routine case above.
#[tokio::test(start_paused = true)]
async fn a_first_attempt_not_retried_for_idempotency_is_a_warning() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let manager = RetryManager::new(RetryConfig::default().with_deadline(None));
    let _ = manager
        .run("hub.commit", Idempotency::NotIdempotent, |_| async {
            Err::<(), _>(preflight_retry::HttpStatusError::new(
                503,
                "http://h/api/models/x/commit/main",
            ))
        })
        .await;
    let events = capture.0.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    let (level, _, fields) = &events[0];
    assert_eq!(*level, Level::WARN);
    assert_eq!(fields["event"], "retry_gave_up");
    assert_eq!(fields["reason"], "not_idempotent");
    assert_eq!(fields["attempts"], "1");
}
