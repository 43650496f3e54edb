//! Retries with backoff for every network step of Preflight.
//!
//! # The model
//!
//! An *operation* is a closure that makes one complete attempt — send the request, check the
//! status with [`error_for_status`], read or stream the body — and returns `Result<T, E>`.
//! [`retry_with_backoff`] (or [`RetryManager::run`]) calls it until one of these happens:
//!
//! - it succeeds;
//! - its error is **permanent** according to [`classify`] (one pure function over the error's
//!   whole `source()` chain) or a caller's [predicate](RetryManager::with_predicate);
//! - the request is [`Idempotency::NotIdempotent`] and the error does not prove that the request
//!   never reached the server;
//! - `max_attempts` attempts have failed ([`GiveUpReason::AttemptsExhausted`]);
//! - the next wait would end past the overall deadline ([`GiveUpReason::DeadlineReached`]): the
//!   loop stops at once rather than sleeping into a failure.
//!
//! Retrying the whole operation, not just `send()`, matters: a body cut mid-read surfaces only
//! when the body is read (`send()` has already succeeded), and a streamed upload body cannot be
//! replayed by a middleware.
//!
//! Between attempts the loop sleeps `min(initial_delay × multiplier^i, max_delay)` randomised by
//! [`Jitter`], unless the server asked for a specific wait (`Retry-After` in seconds or as an
//! HTTP-date, or the Hub's `RateLimit: "…";r=0;t=<s>`; see [`parse_retry_after`]), which replaces
//! the computed delay, capped at `max_retry_after`. The policy *computes* delays
//! ([`RetryConfig::delay_for_retry`], [`RetryConfig::schedule`]) and decisions
//! ([`RetryPlanner::after_failure`]) separately from the loop that sleeps, so tests can check
//! the schedule and, with a seed, exact jittered values, and loops written elsewhere (the
//! Python package's decorator) follow the same policy.
//!
//! Every retry emits one `tracing` event at WARN, target `preflight::retry`, with the fields
//! `event = "retry"`, `operation`, `attempt` (the number that failed), `max_attempts`,
//! `error_kind` ([`Diagnosis::kind`]: `status_503`, `connect`, `timeout`, `body`, `reset`, …),
//! `cause` (the error's `Display`; callers keep secrets out of their errors), `delay_ms` and
//! `remaining_ms` (time left in the deadline; absent without one). Giving up emits
//! `event = "retry_gave_up"` with `attempts`, `reason` (`permanent`, `not_idempotent`,
//! `attempts_exhausted`, `deadline_reached`), `error_kind`, `cause`, `elapsed_ms` and, for a
//! deadline, `next_delay_ms`; it is WARN, except DEBUG for a permanent failure of the first
//! attempt (an expected 404 is not a warning).
//!
//! # Defaults, and why
//!
//! | field | default | why |
//! |---|---|---|
//! | `max_attempts` | 5 | the Hub client's `max_retries=5` |
//! | `initial_delay` | 1 s | the Hub client's `base_wait_time` |
//! | `multiplier` | 2.0 | waits double: 1, 2, 4, 8 s, like the Hub client |
//! | `max_delay` | 8 s | the Hub client's `max_wait_time` |
//! | `jitter` | [`Jitter::Equal`] | uniform in `[d/2, d]`: CI jobs that failed together spread out, yet the server always gets at least half the pause (full jitter may retry almost at once) |
//! | `deadline` | `Some(120 s)` | room for the whole schedule (15 s of waits), one capped `Retry-After` (60 s) and the attempts themselves, while a CI job still fails within two minutes instead of hanging. Long uploads (multi-GB parts) should widen or clear it |
//! | `max_retry_after` | 60 s | honour rate limits, but never park a job for the Hub's longer windows |
//! | `seed` | `None` | OS-seeded jitter; tests set a seed for exact sequences |
//!
//! # Environment ([`RetryConfig::from_env`])
//!
//! `PREFLIGHT_RETRY_MAX_ATTEMPTS`, `PREFLIGHT_RETRY_INITIAL_DELAY_MS`,
//! `PREFLIGHT_RETRY_MAX_DELAY_MS`, `PREFLIGHT_RETRY_MULTIPLIER`, `PREFLIGHT_RETRY_JITTER`
//! (`none|full|equal`), `PREFLIGHT_RETRY_DEADLINE_MS` (or `none`),
//! `PREFLIGHT_RETRY_MAX_RETRY_AFTER_MS`, `PREFLIGHT_RETRY_SEED`, and
//! `PREFLIGHT_TEST_NO_RETRY_DELAY=1`, which zeroes every delay so test suites retry at full
//! speed. A bad value is an error naming the variable ([`ConfigError`]).
//!
//! # What is transient
//!
//! Statuses 408, 429, 500, 502, 503 and 504 ([`is_transient_status`]); never 401, 403 or any
//! other 4xx, nor 501/505. Connect failures (refused, DNS, connect timeout), timeouts, bodies cut
//! short (hyper "incomplete message", `UnexpectedEof`), resets, aborts, broken pipes, garbled
//! data from proxies and HTTP/2 errors. Never a TLS certificate error. The frozen list of
//! retried statuses is the snapshot `src/snapshots/*retried_statuses*.snap`.
//!
//! Wrap errors with `#[source]`/`#[from]` rather than `#[error(transparent)]` where possible:
//! a transparent wrapper's `source()` skips the wrapped error itself, which hides
//! `reqwest::Error`'s own flags (the chain's deeper I/O errors are still seen). [`HttpError`], the
//! ready-made transport-or-status error, is transparent but understood by the classifier.
//!
//! # Which Hugging Face Hub calls are safe to retry
//!
//! | call | [`Idempotency`] | why |
//! |---|---|---|
//! | `GET /api/whoami-v2` | `Idempotent` | read-only |
//! | `GET /api/{type}s/{repo}` (repo info), tree, paths-info | `Idempotent` | read-only |
//! | `POST /api/repos/create` | `Idempotent` | a repeat answers 409 "already exists", which the caller treats as success |
//! | `POST …/preupload/{rev}` | `Idempotent` | classifies files, changes nothing |
//! | `POST {repo}.git/info/lfs/objects/batch` | `Idempotent` | asks for upload URLs; repeating gets fresh ones |
//! | `PUT` of an LFS object / multipart part | `Idempotent` | same bytes to the same content-addressed key; resend the part's byte range, never a consumed stream |
//! | multipart completion `POST` | `Idempotent` | completing an already completed upload is harmless |
//! | LFS verify `POST` | `Idempotent` | read-only check |
//! | `POST …/commit/{rev}`, multipart completion | **`NotIdempotent`**, through [`RetryManager::run_confirmed`] | a repeat can create a second commit (or fail: the parts are gone); re-sent on its own only when the request provably never reached the server. After any other transient failure the caller's confirmation runs first (re-read the branch head and look for our files; ask the batch whether the object is stored); only "not landed" sends it again, in the same deadline and attempt budget |
//! | `PUT` of an LFS object or part, through [`RetryManager::run_transfer`] | `Idempotent` | the deadline counts only the waits between attempts, not the time spent moving bytes: each attempt is bounded by the HTTP read (idle) timeout |
//!
//! The official client retries the same set (`docs/protocol/hf-hub.md#retries-and-rate-limits`),
//! except that it does not retry whoami, repo info or create_repo; retrying them here is safe
//! for the reasons above.

mod classify;
mod config;
mod events;
mod http;
mod planner;
mod retry;

pub use classify::{Diagnosis, Transience, classify, diagnose, is_transient_status};
pub use config::{Backoff, ConfigError, Jitter, RetryConfig, env};
pub use events::FailedAttempt;
pub use http::{
    HttpError, HttpStatusError, MAX_ERROR_BODY_BYTES, error_for_status, parse_retry_after,
    redact_url,
};
pub use planner::{RetryPlanner, Step};
pub use retry::{
    Attempt, Confirmation, GiveUpReason, Idempotency, RetryError, RetryManager, RetryStats,
    retry_with_backoff,
};
