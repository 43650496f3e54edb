//! [`RetryPlanner`]: the retry decisions of one run, separate from the loop that sleeps.
//!
//! [`retry_with_backoff`](crate::retry_with_backoff) and [`RetryManager`](crate::RetryManager)
//! use it, and so do loops that cannot live in Rust (the Python package's decorator drives its
//! own loop, so that it can call Python functions and `await` between attempts, but asks a
//! planner what to do after each failure). One planner, one policy.

use std::time::Duration;

use crate::config::RetryConfig;
use crate::retry::GiveUpReason;

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Wait `delay`, then make the next attempt.
    Retry {
        /// The wait before the next attempt (jittered, or the server's capped `Retry-After`).
        delay: Duration,
    },
    /// Stop and report the last error.
    GiveUp {
        /// Why.
        reason: GiveUpReason,
        /// For [`GiveUpReason::DeadlineReached`]: the wait that would have passed the deadline.
        next_delay: Option<Duration>,
    },
}

/// The decisions of one retried run: how long to wait after each failure, and when to stop.
///
/// It owns the run's jitter generator (seeded from [`RetryConfig::seed`] when set), so the
/// delays it hands out are exactly those of [`RetryConfig::schedule`] for the same config, as
/// long as no `Retry-After` replaces one.
#[derive(Debug, Clone)]
pub struct RetryPlanner {
    config: RetryConfig,
    rng: fastrand::Rng,
    fill_deadline: bool,
}

impl RetryPlanner {
    /// A planner for one run of `config`.
    pub fn new(config: RetryConfig) -> Self {
        let rng = config.rng();
        RetryPlanner {
            config,
            rng,
            fill_deadline: false,
        }
    }

    /// When the next backoff would pass the deadline, wait half the time left instead of
    /// giving up (at least 50 ms), so a check uses every attempt that fits in its deadline.
    #[must_use]
    pub fn filling_deadline(mut self, fill: bool) -> Self {
        self.fill_deadline = fill;
        self
    }

    /// The policy in use.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// The attempt budget, at least 1.
    pub fn max_attempts(&self) -> u32 {
        self.config.effective_max_attempts()
    }

    /// Time left in the deadline after `elapsed` (`None` without a deadline).
    pub fn remaining(&self, elapsed: Duration) -> Option<Duration> {
        self.config.deadline.map(|d| d.saturating_sub(elapsed))
    }

    /// Decides what follows the failure of attempt `attempt` (1-based), `elapsed` after the
    /// first attempt started. `transient` is the caller's verdict on the error (for an HTTP
    /// call, [`classify`](crate::classify)); `retry_after` is a wait the server asked for,
    /// which replaces the computed delay, capped at [`RetryConfig::max_retry_after`].
    ///
    /// Call it once per failure, in order: each retry draws the next jittered delay.
    pub fn after_failure(
        &mut self,
        attempt: u32,
        elapsed: Duration,
        transient: bool,
        retry_after: Option<Duration>,
    ) -> Step {
        if !transient {
            return Step::GiveUp {
                reason: GiveUpReason::Permanent,
                next_delay: None,
            };
        }
        if attempt >= self.max_attempts() {
            return Step::GiveUp {
                reason: GiveUpReason::AttemptsExhausted,
                next_delay: None,
            };
        }
        let mut delay = match retry_after {
            Some(wait) => wait.min(self.config.max_retry_after),
            None => self
                .config
                .delay_for_retry(attempt.saturating_sub(1), &mut self.rng),
        };
        if self.fill_deadline
            && retry_after.is_none()
            && let Some(deadline) = self.config.deadline
            && elapsed + delay >= deadline
        {
            let half_left = deadline.saturating_sub(elapsed) / 2;
            if half_left >= Duration::from_millis(50) {
                delay = delay.min(half_left);
            }
        }
        if self
            .config
            .deadline
            .is_some_and(|deadline| elapsed + delay >= deadline)
        {
            return Step::GiveUp {
                reason: GiveUpReason::DeadlineReached,
                next_delay: Some(delay),
            };
        }
        Step::Retry { delay }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Jitter;

    fn config() -> RetryConfig {
        RetryConfig::default()
            .with_max_attempts(4)
            .with_initial_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_millis(250))
            .with_deadline(None)
            .with_seed(7)
    }

    #[test]
    fn delays_follow_the_schedule() {
        for jitter in [Jitter::None, Jitter::Full, Jitter::Equal] {
            let config = config().with_jitter(jitter);
            let mut planner = RetryPlanner::new(config.clone());
            let planned: Vec<Duration> = (1..4)
                .map(
                    |attempt| match planner.after_failure(attempt, Duration::ZERO, true, None) {
                        Step::Retry { delay } => delay,
                        other => panic!("attempt {attempt}: {other:?}"),
                    },
                )
                .collect();
            assert_eq!(planned, config.schedule().collect::<Vec<_>>(), "{jitter:?}");
            assert_eq!(
                planner.after_failure(4, Duration::ZERO, true, None),
                Step::GiveUp {
                    reason: GiveUpReason::AttemptsExhausted,
                    next_delay: None
                }
            );
        }
    }

    #[test]
    fn permanent_errors_stop_at_once() {
        let mut planner = RetryPlanner::new(config());
        assert_eq!(
            planner.after_failure(1, Duration::ZERO, false, None),
            Step::GiveUp {
                reason: GiveUpReason::Permanent,
                next_delay: None
            }
        );
    }

    #[test]
    fn retry_after_is_capped_and_deadline_stops_early() {
        let config = config()
            .with_jitter(Jitter::None)
            .with_max_retry_after(Duration::from_millis(300))
            .with_deadline(Some(Duration::from_secs(1)));
        let mut planner = RetryPlanner::new(config);
        assert_eq!(planner.max_attempts(), 4);
        assert_eq!(planner.config().max_attempts, 4);
        assert_eq!(
            planner.after_failure(1, Duration::ZERO, true, Some(Duration::from_secs(9))),
            Step::Retry {
                delay: Duration::from_millis(300)
            }
        );
        assert_eq!(
            planner.remaining(Duration::from_millis(900)),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            planner.after_failure(2, Duration::from_millis(900), true, None),
            Step::GiveUp {
                reason: GiveUpReason::DeadlineReached,
                next_delay: Some(Duration::from_millis(200))
            }
        );
    }
}
