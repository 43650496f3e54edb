//! The retry loop: [`retry_with_backoff`], [`RetryManager`] and the final [`RetryError`].

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::classify::{Transience, chain, diagnose};
use crate::config::RetryConfig;
use crate::events::{FailedAttempt, format_seconds};
use crate::planner::{RetryPlanner, Step};

/// Whether sending a request twice is harmless. Every call site must say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Repeating it has the same effect as sending it once (GET, PUT of the same bytes, …):
    /// retried on every transient error.
    Idempotent,
    /// Repeating it could apply it twice (a commit): retried only when the error proves the
    /// request never reached the server (connection refused, connect-phase failure, DNS,
    /// HTTP/2 `REFUSED_STREAM`); never after a timeout, a cut body or a 5xx/429.
    NotIdempotent,
}

/// What the operation is told about the attempt it is making.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// Time left before the deadline (`None` without a deadline). Use it to bound the
    /// attempt's own timeout: the loop never cancels a running attempt.
    pub remaining: Option<Duration>,
}

/// Why the loop stopped retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// The error is not worth retrying (or, for a non-idempotent request, not safe to retry:
    /// see [`RetryError::blocked_by_idempotency`]).
    Permanent,
    /// Every attempt allowed by `max_attempts` failed.
    AttemptsExhausted,
    /// The next wait would have ended past the deadline, so the loop stopped at once instead of
    /// sleeping into a failure.
    DeadlineReached,
}

impl GiveUpReason {
    /// `permanent`, `attempts_exhausted` or `deadline_reached` (the log field value).
    pub fn as_str(self) -> &'static str {
        match self {
            GiveUpReason::Permanent => "permanent",
            GiveUpReason::AttemptsExhausted => "attempts_exhausted",
            GiveUpReason::DeadlineReached => "deadline_reached",
        }
    }
}

/// The final error of a retried operation: the last attempt's error plus how it got there.
///
/// `Display`: `failed after 3 attempts in 4.2 s`, followed by
/// `, the next retry would have passed the 10 s deadline` ([`GiveUpReason::DeadlineReached`]) or
/// `, not retried because the request is not idempotent and may have reached the server`.
/// `source()` is the last error, so a renderer prints the cause underneath.
///
/// One exception keeps single failures readable: when the **first** attempt fails with a
/// permanent error (a 401, a 404, …), the error is *transparent*: `Display` is the last error's
/// and `source()` is the last error's source.
pub struct RetryError<E> {
    last_error: E,
    attempts: u32,
    elapsed: Duration,
    reason: GiveUpReason,
    deadline: Option<Duration>,
    error_kind: &'static str,
    blocked_by_idempotency: bool,
    operation: &'static str,
}

impl<E> RetryError<E> {
    /// A failure that was not retried: one attempt, [`GiveUpReason::Permanent`], so `Display`
    /// is the error's own. For a caller's step that belongs to a retried operation (a local
    /// check between its requests).
    pub fn single(operation: &'static str, error: E) -> Self {
        RetryError {
            last_error: error,
            attempts: 1,
            elapsed: Duration::ZERO,
            reason: GiveUpReason::Permanent,
            deadline: None,
            error_kind: "permanent",
            blocked_by_idempotency: false,
            operation,
        }
    }

    /// How many attempts were made (≥ 1).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time from the start of the first attempt until giving up.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The last attempt's error.
    pub fn last_error(&self) -> &E {
        &self.last_error
    }

    /// The last attempt's error, by value.
    pub fn into_last_error(self) -> E {
        self.last_error
    }

    /// Why the loop stopped.
    pub fn reason(&self) -> GiveUpReason {
        self.reason
    }

    /// The classifier's short name for the last error (`status_503`, `connect`, …).
    pub fn error_kind(&self) -> &'static str {
        self.error_kind
    }

    /// The last error was transient, but the request was [`Idempotency::NotIdempotent`] and may
    /// have reached the server, so it was not retried (reason: [`GiveUpReason::Permanent`]).
    /// For a commit: re-read the branch head before deciding to send it again.
    pub fn blocked_by_idempotency(&self) -> bool {
        self.blocked_by_idempotency
    }

    /// The operation name given to [`RetryManager::run`] (`"operation"` for
    /// [`retry_with_backoff`]).
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The deadline that was in force.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    fn is_transparent(&self) -> bool {
        self.attempts == 1 && self.reason == GiveUpReason::Permanent && !self.blocked_by_idempotency
    }
}

impl<E: fmt::Debug> fmt::Debug for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryError")
            .field("operation", &self.operation)
            .field("attempts", &self.attempts)
            .field("elapsed", &self.elapsed)
            .field("reason", &self.reason)
            .field("error_kind", &self.error_kind)
            .field("blocked_by_idempotency", &self.blocked_by_idempotency)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_transparent() {
            return self.last_error.fmt(f);
        }
        let plural = if self.attempts == 1 { "" } else { "s" };
        write!(
            f,
            "failed after {} attempt{plural} in {}",
            self.attempts,
            format_seconds(self.elapsed)
        )?;
        if self.blocked_by_idempotency {
            f.write_str(", not retried because the request is not idempotent and may have reached the server")?;
        } else if self.reason == GiveUpReason::DeadlineReached
            && let Some(deadline) = self.deadline
        {
            write!(
                f,
                ", the next retry would have passed the {} deadline",
                format_seconds(deadline)
            )?;
        }
        Ok(())
    }
}

impl<E: Error + 'static> Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        if self.is_transparent() {
            self.last_error.source()
        } else {
            Some(&self.last_error)
        }
    }
}

/// Runs `operation` until it succeeds, fails permanently, runs out of attempts or would run past
/// the deadline, sleeping the backoff between attempts (see the crate docs).
///
/// Errors are judged by [`classify`](crate::classify); use [`RetryManager`] to add rules, name
/// the operation in logs and count retries.
pub async fn retry_with_backoff<T, E, F, Fut>(
    config: &RetryConfig,
    idempotency: Idempotency,
    operation: F,
) -> Result<T, RetryError<E>>
where
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Error + Send + Sync + 'static,
{
    let policy = Policy {
        config,
        operation_name: "operation",
        mode: Mode::plain(idempotency),
        predicates: &[],
        counters: None,
    };
    run_loop(policy, operation, None::<fn(&E) -> NoConfirmation<T, E>>).await
}

/// What a confirmation found out about an attempt whose effect was unclear; see
/// [`RetryManager::run_confirmed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation<T> {
    /// The operation took effect although its answer was lost: this is its result.
    Landed(T),
    /// It did not take effect: sending it again is safe.
    NotLanded,
}

/// Which clock the deadline runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeadlineClock {
    /// Everything since the first attempt started.
    Wall,
    /// Only the time between attempts (waits and confirmations): an attempt that streams a
    /// multi-GB body is bounded by the HTTP read timeout (an idle timeout), not the deadline.
    BetweenAttempts,
}

#[derive(Debug, Clone, Copy)]
struct Mode {
    idempotency: Idempotency,
    clock: DeadlineClock,
    fill_deadline: bool,
}

impl Mode {
    fn plain(idempotency: Idempotency) -> Mode {
        Mode {
            idempotency,
            clock: DeadlineClock::Wall,
            fill_deadline: false,
        }
    }
}

/// Everything a run of the loop needs besides the operation: who runs it decides it.
struct Policy<'a> {
    config: &'a RetryConfig,
    operation_name: &'static str,
    mode: Mode,
    predicates: &'a [Predicate],
    counters: Option<&'a Counters>,
}

type NoConfirmation<T, E> = std::future::Ready<Result<Confirmation<T>, E>>;

/// A caller-supplied classification rule; see [`RetryManager::with_predicate`].
type Predicate = Arc<dyn Fn(&(dyn Error + 'static)) -> Option<Transience> + Send + Sync>;

/// Totals across every run of a [`RetryManager`] (and its clones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryStats {
    /// Attempts started.
    pub attempts: u64,
    /// Retries started (attempts after a failure).
    pub retries: u64,
    /// Time spent sleeping between attempts.
    pub waited: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    attempts: AtomicU64,
    retries: AtomicU64,
    waited_nanos: AtomicU64,
}

/// A shareable retry policy: a [`RetryConfig`], extra classification rules, named operations in
/// the logs, and counters. Cheap to clone; clones share the counters.
#[derive(Clone)]
pub struct RetryManager {
    config: RetryConfig,
    predicates: Vec<Predicate>,
    counters: Arc<Counters>,
    fill_deadline: bool,
}

impl fmt::Debug for RetryManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryManager")
            .field("config", &self.config)
            .field("predicates", &self.predicates.len())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for RetryManager {
    fn default() -> Self {
        RetryManager::new(RetryConfig::default())
    }
}

impl RetryManager {
    /// A manager with `config`, no extra rules and zeroed counters.
    pub fn new(config: RetryConfig) -> Self {
        RetryManager {
            config,
            predicates: Vec::new(),
            counters: Arc::default(),
            fill_deadline: false,
        }
    }

    /// Uses every attempt that fits in the deadline: when a computed backoff (never a server's
    /// `Retry-After`) would end past the deadline, the loop waits half of the time left instead
    /// of giving up, as long as that is at least 50 ms. `max_attempts` still bounds the loop.
    #[must_use]
    pub fn filling_deadline(mut self) -> Self {
        self.fill_deadline = true;
        self
    }

    /// Adds a rule consulted before [`classify`](crate::classify). It is called on each error
    /// of the source chain, outermost first; the first `Some` verdict wins, and `None` everywhere
    /// falls back to the built-in classifier. Rules cannot make a
    /// [`NotIdempotent`](Idempotency::NotIdempotent) request retry after it may have reached the
    /// server.
    #[must_use]
    pub fn with_predicate(
        mut self,
        predicate: impl Fn(&(dyn Error + 'static)) -> Option<Transience> + Send + Sync + 'static,
    ) -> Self {
        self.predicates.push(Arc::new(predicate));
        self
    }

    /// Like [`retry_with_backoff`], with this manager's rules and counters; `operation_name`
    /// names the operation in log events (`hub.preupload`, …).
    pub async fn run<T, E, F, Fut>(
        &self,
        operation_name: &'static str,
        idempotency: Idempotency,
        operation: F,
    ) -> Result<T, RetryError<E>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Error + Send + Sync + 'static,
    {
        let policy = self.policy(operation_name, idempotency, DeadlineClock::Wall);
        run_loop(policy, operation, None::<fn(&E) -> NoConfirmation<T, E>>).await
    }

    /// Like [`run`](Self::run) for an idempotent transfer (an upload body, a multipart part):
    /// the deadline counts only the time *between* attempts (waits), not the time an attempt
    /// spends moving bytes, so a part that fails after streaming for longer than the deadline
    /// is still retried. Each attempt is bounded by the HTTP client's read (idle) timeout and
    /// the attempts by `max_attempts`.
    pub async fn run_transfer<T, E, F, Fut>(
        &self,
        operation_name: &'static str,
        operation: F,
    ) -> Result<T, RetryError<E>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Error + Send + Sync + 'static,
    {
        let policy = self.policy(
            operation_name,
            Idempotency::Idempotent,
            DeadlineClock::BetweenAttempts,
        );
        run_loop(policy, operation, None::<fn(&E) -> NoConfirmation<T, E>>).await
    }

    /// Runs an operation whose effect must be confirmed before it is sent again (a commit, a
    /// multipart completion). It is treated as [`Idempotency::NotIdempotent`], except that
    /// after a transient failure that may have reached the server, `confirm` is asked first:
    /// [`Confirmation::Landed`] ends the loop with that value (event `retry_confirmed`);
    /// [`Confirmation::NotLanded`] makes the failure an ordinary retry, in the same deadline
    /// and attempt budget (confirmation time counts). An error from `confirm` ends the loop
    /// with that error ([`GiveUpReason::Permanent`], `blocked_by_idempotency`).
    pub async fn run_confirmed<T, E, F, Fut, C, CFut>(
        &self,
        operation_name: &'static str,
        operation: F,
        confirm: C,
    ) -> Result<T, RetryError<E>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: FnMut(&E) -> CFut,
        CFut: Future<Output = Result<Confirmation<T>, E>>,
        E: Error + Send + Sync + 'static,
    {
        let policy = self.policy(
            operation_name,
            Idempotency::NotIdempotent,
            DeadlineClock::Wall,
        );
        run_loop(policy, operation, Some(confirm)).await
    }

    fn policy(
        &self,
        operation_name: &'static str,
        idempotency: Idempotency,
        clock: DeadlineClock,
    ) -> Policy<'_> {
        Policy {
            config: &self.config,
            operation_name,
            mode: Mode {
                idempotency,
                clock,
                fill_deadline: self.fill_deadline,
            },
            predicates: &self.predicates,
            counters: Some(&self.counters),
        }
    }

    /// Totals across all runs so far.
    pub fn stats(&self) -> RetryStats {
        RetryStats {
            attempts: self.counters.attempts.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            waited: Duration::from_nanos(self.counters.waited_nanos.load(Ordering::Relaxed)),
        }
    }

    /// The policy in use.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one loop; splitting it would scatter the give-up rules"
)]
async fn run_loop<T, E, F, Fut, C, CFut>(
    policy: Policy<'_>,
    mut operation: F,
    mut confirm: Option<C>,
) -> Result<T, RetryError<E>>
where
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: FnMut(&E) -> CFut,
    CFut: Future<Output = Result<Confirmation<T>, E>>,
    E: Error + Send + Sync + 'static,
{
    let Policy {
        config,
        operation_name,
        mode,
        predicates,
        counters,
    } = policy;
    let start = Instant::now();
    let mut planner = RetryPlanner::new(config.clone()).filling_deadline(mode.fill_deadline);
    let max_attempts = planner.max_attempts();
    let mut number = 1;
    // Time spent inside attempts, which the `BetweenAttempts` clock leaves out.
    let mut in_attempts = Duration::ZERO;
    let counted = |in_attempts: Duration| match mode.clock {
        DeadlineClock::Wall => start.elapsed(),
        DeadlineClock::BetweenAttempts => start.elapsed().saturating_sub(in_attempts),
    };
    loop {
        let remaining = planner.remaining(counted(in_attempts));
        if let Some(counters) = counters {
            counters.attempts.fetch_add(1, Ordering::Relaxed);
        }
        let attempt_started = Instant::now();
        let mut error = match operation(Attempt { number, remaining }).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        in_attempts += attempt_started.elapsed();
        let mut diagnosis = diagnose(&error);
        let transience = chain(&error)
            .find_map(|link| predicates.iter().find_map(|predicate| predicate(link)))
            .unwrap_or(diagnosis.transience);

        let mut confirmation_failed = false;
        let (reason, blocked, retry_after) = match transience {
            Transience::Permanent => (Some(GiveUpReason::Permanent), false, None),
            Transience::Transient { retry_after }
                if mode.idempotency == Idempotency::NotIdempotent && !diagnosis.never_sent =>
            {
                match confirm.as_mut() {
                    None => (Some(GiveUpReason::Permanent), true, None),
                    Some(confirm) => match confirm(&error).await {
                        Ok(Confirmation::Landed(value)) => {
                            tracing::info!(
                                target: "preflight::retry",
                                event = "retry_confirmed",
                                operation = operation_name,
                                attempts = number,
                                error_kind = diagnosis.kind,
                                "{operation_name} took effect although its answer was lost",
                            );
                            return Ok(value);
                        }
                        Ok(Confirmation::NotLanded) if number >= max_attempts => {
                            (Some(GiveUpReason::AttemptsExhausted), false, None)
                        }
                        Ok(Confirmation::NotLanded) => (None, false, retry_after),
                        Err(confirm_error) => {
                            error = confirm_error;
                            diagnosis = diagnose(&error);
                            confirmation_failed = true;
                            (Some(GiveUpReason::Permanent), true, None)
                        }
                    },
                }
            }
            Transience::Transient { .. } if number >= max_attempts => {
                (Some(GiveUpReason::AttemptsExhausted), false, None)
            }
            Transience::Transient { retry_after } => (None, false, retry_after),
        };
        let elapsed = counted(in_attempts);
        // The schedule and the deadline are the planner's, the same one the Python package
        // drives its loop with.
        let (reason, delay) = match reason {
            Some(reason) => (Some(reason), Duration::ZERO),
            None => match planner.after_failure(number, elapsed, true, retry_after) {
                Step::Retry { delay } => (None, delay),
                Step::GiveUp { reason, next_delay } => {
                    (Some(reason), next_delay.unwrap_or_default())
                }
            },
        };

        // A block, so that the borrow of `error` (not `Sync`) ends before the sleep.
        {
            let failed = FailedAttempt {
                operation: operation_name,
                attempt: number,
                error_kind: diagnosis.kind,
                cause: &error,
                elapsed,
            };
            if let Some(reason) = reason {
                let label = if confirmation_failed {
                    "confirmation_failed"
                } else if blocked {
                    "not_idempotent"
                } else {
                    reason.as_str()
                };
                let next_delay = (reason == GiveUpReason::DeadlineReached).then_some(delay);
                failed.log_gave_up(reason, blocked, label, next_delay);
                return Err(RetryError {
                    last_error: error,
                    attempts: number,
                    elapsed: start.elapsed(),
                    reason,
                    deadline: config.deadline,
                    error_kind: diagnosis.kind,
                    blocked_by_idempotency: blocked,
                    operation: operation_name,
                });
            }
            failed.log_retry(max_attempts, delay, planner.remaining(elapsed));
        }
        drop(error);
        tokio::time::sleep(delay).await;
        if let Some(counters) = counters {
            counters.retries.fetch_add(1, Ordering::Relaxed);
            counters.waited_nanos.fetch_add(
                u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
        number += 1;
    }
}
