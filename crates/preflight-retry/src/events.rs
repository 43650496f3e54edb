//! The two log events of a retry loop, `retry` and `retry_gave_up` (target `preflight::retry`),
//! for every loop that retries: [`RetryManager`](crate::RetryManager)'s and the Python
//! package's, which drives a [`RetryPlanner`](crate::RetryPlanner) from Python.

use std::fmt;
use std::time::Duration;

use crate::GiveUpReason;

/// An attempt that failed, as the events describe it.
#[derive(Clone, Copy)]
pub struct FailedAttempt<'a> {
    /// The operation's name (`hub.preupload`, …).
    pub operation: &'a str,
    /// The attempt that failed, 1-based.
    pub attempt: u32,
    /// The kind of failure ([`Diagnosis::kind`](crate::Diagnosis::kind)).
    pub error_kind: &'a str,
    /// The failure's text; secrets must already be redacted.
    pub cause: &'a dyn fmt::Display,
    /// Time on the deadline's clock so far.
    pub elapsed: Duration,
}

impl FailedAttempt<'_> {
    /// Event `retry` (WARN): the loop waits `delay` and tries again.
    pub fn log_retry(&self, max_attempts: u32, delay: Duration, remaining: Option<Duration>) {
        let FailedAttempt {
            operation,
            attempt,
            error_kind,
            cause,
            ..
        } = *self;
        tracing::warn!(
            target: "preflight::retry",
            event = "retry",
            operation,
            attempt,
            max_attempts,
            error_kind,
            cause = %cause,
            delay_ms = millis(delay),
            remaining_ms = remaining.map(millis),
            "{operation} attempt {attempt} of {max_attempts} failed ({error_kind}), retrying in {}",
            format_seconds(delay),
        );
    }

    /// Event `retry_gave_up`: the loop stops for `reason`, logged as `label` (the reason, or
    /// why a transient failure was not retried). `blocked`: it was not retried because it may
    /// have reached the server. DEBUG for a routine stop (a first attempt's permanent failure:
    /// a 404 the caller expects, a 401 the pre-flight reports), WARN otherwise. `next_delay` is
    /// the wait that would have passed the deadline.
    pub fn log_gave_up(
        &self,
        reason: GiveUpReason,
        blocked: bool,
        label: &str,
        next_delay: Option<Duration>,
    ) {
        let routine = self.attempt == 1 && reason == GiveUpReason::Permanent && !blocked;
        let FailedAttempt {
            operation,
            attempt,
            error_kind,
            cause,
            elapsed,
        } = *self;
        macro_rules! gave_up {
            ($level:expr) => {
                tracing::event!(
                    target: "preflight::retry",
                    $level,
                    event = "retry_gave_up",
                    operation,
                    attempts = attempt,
                    reason = label,
                    error_kind,
                    cause = %cause,
                    elapsed_ms = millis(elapsed),
                    next_delay_ms = next_delay.map(millis),
                    "{operation} failed after {attempt} attempt(s): {label}"
                )
            };
        }
        if routine {
            gave_up!(tracing::Level::DEBUG);
        } else {
            gave_up!(tracing::Level::WARN);
        }
    }
}

/// Whole milliseconds, saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `4.2 s`, or `10 s` for whole seconds.
pub(crate) fn format_seconds(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}
