//! Backoff schedules under a paused tokio clock: exact, and no real sleeping.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use preflight_retry::{
    Attempt, GiveUpReason, HttpStatusError, Idempotency, Jitter, RetryConfig, RetryError,
    RetryManager, Transience, retry_with_backoff,
};
use tokio::time::Instant;

/// A transient failure with no server-requested wait.
fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")
}

/// Runs an always-failing operation and returns the error plus the wait before each retry
/// (measured on the paused clock) and the attempts seen.
async fn record<E>(
    config: &RetryConfig,
    mut fail: impl FnMut(u32) -> E,
    attempt_takes: Duration,
) -> (RetryError<E>, Vec<Duration>, Vec<Attempt>)
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut starts = Vec::new();
    let mut attempts = Vec::new();
    let error = retry_with_backoff(config, Idempotency::Idempotent, |attempt| {
        starts.push(Instant::now());
        attempts.push(attempt);
        let error = fail(attempt.number);
        async move {
            tokio::time::sleep(attempt_takes).await;
            Err::<(), E>(error)
        }
    })
    .await
    .unwrap_err();
    let waits = starts
        .windows(2)
        .map(|pair| pair[1] - pair[0] - attempt_takes)
        .collect();
    (error, waits, attempts)
}

fn secs(list: &[f64]) -> Vec<Duration> {
    list.iter().map(|s| Duration::from_secs_f64(*s)).collect()
}

#[tokio::test(start_paused = true)]
async fn no_jitter_follows_the_hub_schedule_and_the_cap() {
    let config = RetryConfig::default()
        .with_jitter(Jitter::None)
        .with_max_attempts(7)
        .with_deadline(None);
    let (error, waits, _) = record(&config, |_| reset(), Duration::ZERO).await;
    assert_eq!(waits, secs(&[1.0, 2.0, 4.0, 8.0, 8.0, 8.0]));
    assert_eq!(error.attempts(), 7);
    assert_eq!(error.reason(), GiveUpReason::AttemptsExhausted);
    assert_eq!(error.elapsed(), Duration::from_secs(31));
    assert_eq!(error.error_kind(), "reset");
    assert_eq!(error.to_string(), "failed after 7 attempts in 31 s");

    let capped = config
        .with_max_delay(Duration::from_millis(2500))
        .with_max_attempts(5);
    let (_, waits, _) = record(&capped, |_| reset(), Duration::ZERO).await;
    assert_eq!(waits, secs(&[1.0, 2.0, 2.5, 2.5]));
}

#[tokio::test(start_paused = true)]
async fn jittered_schedules_are_exact_for_a_seed_and_within_bounds() {
    for jitter in [Jitter::Full, Jitter::Equal] {
        let config = RetryConfig::default()
            .with_jitter(jitter)
            .with_max_attempts(6)
            .with_deadline(None)
            .with_seed(42);
        let (_, waits, _) = record(&config, |_| reset(), Duration::ZERO).await;
        // The loop sleeps exactly the seeded schedule.
        assert_eq!(waits, config.schedule().collect::<Vec<_>>());
        // Within each mode's bounds around 1, 2, 4, 8, 8 s.
        for (wait, base) in waits.iter().zip(secs(&[1.0, 2.0, 4.0, 8.0, 8.0])) {
            let low = if jitter == Jitter::Equal {
                base / 2
            } else {
                Duration::ZERO
            };
            assert!(
                low <= *wait && *wait <= base,
                "{jitter:?}: {wait:?} vs {base:?}"
            );
        }
        // Frozen: the same seed gives the same schedule, run after run.
        let millis: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        insta::assert_snapshot!(
            format!("jitter_{}_seed_42", jitter.as_str()),
            format!("{millis:?}")
        );
        // A different seed gives a different schedule.
        let other: Vec<Duration> = config.clone().with_seed(7).schedule().collect();
        assert_ne!(other, waits);
    }
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_attempts_short() {
    let config = RetryConfig::default()
        .with_jitter(Jitter::None)
        .with_max_attempts(10)
        .with_deadline(Some(Duration::from_secs(10)));
    // Each attempt takes 1 s: attempts start at 0, 2, 5; the next wait (4 s) would end at 10.
    let (error, waits, attempts) = record(&config, |_| reset(), Duration::from_secs(1)).await;
    assert_eq!(waits, secs(&[1.0, 2.0]));
    assert_eq!(error.attempts(), 3);
    assert_eq!(error.reason(), GiveUpReason::DeadlineReached);
    assert_eq!(error.elapsed(), Duration::from_secs(6));
    let remaining: Vec<Option<Duration>> = attempts.iter().map(|a| a.remaining).collect();
    assert_eq!(
        remaining,
        [10.0, 8.0, 5.0].map(|s| Some(Duration::from_secs_f64(s)))
    );
    assert_eq!(
        error.to_string(),
        "failed after 3 attempts in 6 s, the next retry would have passed the 10 s deadline"
    );
    let cause = std::error::Error::source(&error).unwrap();
    assert_eq!(cause.to_string(), "connection reset by peer");
}

fn status(code: u16, retry_after: Option<f64>) -> HttpStatusError {
    let mut error = HttpStatusError::new(code, "https://huggingface.co/api/x");
    error.retry_after = retry_after.map(Duration::from_secs_f64);
    error
}

#[tokio::test(start_paused = true)]
async fn retry_after_overrides_the_schedule_up_to_its_cap() {
    let config = RetryConfig::default()
        .with_jitter(Jitter::None)
        .with_max_attempts(4)
        .with_deadline(None)
        .with_max_retry_after(Duration::from_secs(10));
    // Attempt 1 asks for 3 s, attempt 2 for 100 s (capped to 10), attempt 3 for nothing
    // (schedule: 4 s).
    let asks = [Some(3.0), Some(100.0), None, None];
    let (error, waits, _) = record(
        &config,
        |n| status(429, asks[n as usize - 1]),
        Duration::ZERO,
    )
    .await;
    assert_eq!(waits, secs(&[3.0, 10.0, 4.0]));
    assert_eq!(error.error_kind(), "status_429");
    assert_eq!(error.last_error().status, 429);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_gives_up_at_once() {
    let config = RetryConfig::default()
        .with_deadline(Some(Duration::from_secs(30)))
        .with_max_retry_after(Duration::from_secs(60));
    let started = Instant::now();
    let (error, waits, _) = record(&config, |_| status(503, Some(45.0)), Duration::ZERO).await;
    assert!(waits.is_empty());
    assert_eq!(error.attempts(), 1);
    assert_eq!(error.reason(), GiveUpReason::DeadlineReached);
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "no sleeping into a failure"
    );
    assert_eq!(
        error.to_string(),
        "failed after 1 attempt in 0 s, the next retry would have passed the 30 s deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_stop_retries_midway() {
    let config = RetryConfig::default().with_jitter(Jitter::None);
    let codes = [503, 502, 404];
    let (error, waits, _) = record(
        &config,
        |n| status(codes[n as usize - 1], None),
        Duration::ZERO,
    )
    .await;
    assert_eq!(waits, secs(&[1.0, 2.0]));
    assert_eq!(error.attempts(), 3);
    assert_eq!(error.reason(), GiveUpReason::Permanent);
    assert_eq!(error.to_string(), "failed after 3 attempts in 3 s");
    assert_eq!(error.into_last_error().status, 404);
}

#[derive(Debug, thiserror::Error)]
#[error("quota exceeded")]
struct Quota;

#[tokio::test(start_paused = true)]
async fn manager_counts_runs_and_applies_predicates() {
    let config = RetryConfig::default()
        .with_jitter(Jitter::None)
        .with_max_attempts(3);
    let manager = RetryManager::new(config.clone())
        // Our own error type is worth retrying…
        .with_predicate(|error| error.is::<Quota>().then_some(Transience::TRANSIENT))
        // …and a 500 from this service never is.
        .with_predicate(|error| {
            error
                .downcast_ref::<HttpStatusError>()
                .filter(|e| e.status == 500)
                .map(|_| Transience::Permanent)
        });
    assert_eq!(manager.config(), &config);
    let shared = manager.clone();

    let error = manager
        .run("test.quota", Idempotency::Idempotent, |_| async {
            Err::<(), _>(Quota)
        })
        .await
        .unwrap_err();
    assert_eq!(error.attempts(), 3);
    assert_eq!(error.operation(), "test.quota");
    assert_eq!(error.deadline(), config.deadline);

    let error = shared
        .run("test.500", Idempotency::Idempotent, |_| async {
            Err::<(), _>(status(500, None))
        })
        .await
        .unwrap_err();
    assert_eq!(error.attempts(), 1);
    assert_eq!(error.reason(), GiveUpReason::Permanent);

    // Rules cannot make a non-idempotent request retry after it may have arrived.
    let error = shared
        .run("test.commit", Idempotency::NotIdempotent, |_| async {
            Err::<(), _>(Quota)
        })
        .await
        .unwrap_err();
    assert!(error.blocked_by_idempotency());

    let calls = Arc::new(Mutex::new(0));
    let value = manager
        .run("test.ok", Idempotency::Idempotent, |attempt| {
            *calls.lock().unwrap() += 1;
            async move {
                if attempt.number < 2 {
                    Err(reset())
                } else {
                    Ok(attempt.number)
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(value, 2);

    let stats = shared.stats();
    assert_eq!((stats.attempts, stats.retries), (3 + 1 + 1 + 2, 2 + 1));
    assert_eq!(stats.waited, Duration::from_secs(1 + 2 + 1));
    assert!(format!("{manager:?}").contains("predicates: 2"));
    assert_eq!(RetryManager::default().stats(), Default::default());
}

#[tokio::test(start_paused = true)]
async fn zero_attempts_still_tries_once() {
    let config = RetryConfig::default().with_max_attempts(0);
    let (error, waits, _) = record(&config, |_| reset(), Duration::ZERO).await;
    assert!(waits.is_empty());
    assert_eq!(error.attempts(), 1);
    assert_eq!(error.reason(), GiveUpReason::AttemptsExhausted);
    assert_eq!(error.to_string(), "failed after 1 attempt in 0 s");
    assert!(
        format!("{error:?}").contains("attempts_exhausted")
            || format!("{error:?}").contains("AttemptsExhausted")
    );
}

/// A transient status the idempotency rule blocks for a non-idempotent request: a 503.
fn unavailable() -> HttpStatusError {
    HttpStatusError {
        status: 503,
        retry_after: None,
        error_code: None,
        error_message: None,
        request_id: None,
        url: "http://h/commit".to_owned(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_confirmed_operation_is_resent_only_after_the_confirmation_says_not_landed() {
    let config = RetryConfig::default()
        .with_jitter(Jitter::None)
        .with_max_attempts(4)
        .with_deadline(Some(Duration::from_secs(60)));
    let manager = RetryManager::new(config);
    // Attempt 1 fails unclearly and did not land; attempt 2 fails unclearly and did land.
    let sent = Arc::new(Mutex::new(0_u32));
    let confirmations = Arc::new(Mutex::new(Vec::new()));
    let result = manager
        .run_confirmed(
            "commit",
            |attempt| {
                *sent.lock().unwrap() += 1;
                async move { Err::<(), _>(unavailable()).map(|()| attempt.number.to_string()) }
            },
            |_error| {
                let confirmations = Arc::clone(&confirmations);
                async move {
                    let mut seen = confirmations.lock().unwrap();
                    seen.push(Instant::now());
                    Ok(if seen.len() == 1 {
                        preflight_retry::Confirmation::NotLanded
                    } else {
                        preflight_retry::Confirmation::Landed("found".to_owned())
                    })
                }
            },
        )
        .await;
    assert_eq!(result.unwrap(), "found");
    assert_eq!(*sent.lock().unwrap(), 2, "one re-send, after NotLanded");
    assert_eq!(confirmations.lock().unwrap().len(), 2);
    assert_eq!(manager.stats().retries, 1, "counted in the same retries");

    // NotLanded every time: the attempt budget ends it, like any retry.
    let always_not = manager
        .run_confirmed(
            "commit",
            |_| async { Err::<(), _>(unavailable()) },
            |_| async { Ok(preflight_retry::Confirmation::NotLanded) },
        )
        .await
        .unwrap_err();
    assert_eq!(always_not.attempts(), 4);
    assert_eq!(always_not.reason(), GiveUpReason::AttemptsExhausted);

    // The confirmation itself failing ends the loop with its error.
    let broken = manager
        .run_confirmed(
            "commit",
            |_| async { Err::<(), _>(unavailable()) },
            |_| async {
                Err(HttpStatusError {
                    status: 404,
                    ..unavailable()
                })
            },
        )
        .await
        .unwrap_err();
    assert_eq!(broken.attempts(), 1);
    assert_eq!(broken.last_error().status, 404);
    assert!(broken.blocked_by_idempotency());

    // A permanent failure is never confirmed nor re-sent.
    let confirmed = Arc::new(Mutex::new(0));
    let permanent = manager
        .run_confirmed(
            "commit",
            |_| async {
                Err::<(), _>(HttpStatusError {
                    status: 400,
                    ..unavailable()
                })
            },
            |_| {
                *confirmed.lock().unwrap() += 1;
                async { Ok(preflight_retry::Confirmation::NotLanded) }
            },
        )
        .await
        .unwrap_err();
    assert_eq!(permanent.attempts(), 1);
    assert_eq!(*confirmed.lock().unwrap(), 0);

    // A caller's own permanent failure inside a retried operation reads like the error itself.
    let single = RetryError::single("lfs_multipart", unavailable());
    assert_eq!(single.attempts(), 1);
    assert_eq!(single.reason(), GiveUpReason::Permanent);
    assert_eq!(single.operation(), "lfs_multipart");
    assert_eq!(single.to_string(), unavailable().to_string());
}

#[tokio::test(start_paused = true)]
async fn a_transfer_that_outlasts_the_deadline_is_still_retried() {
    // Each attempt streams for 200 s, longer than the whole 120 s deadline, then fails.
    let config = RetryConfig::default()
        .with_jitter(Jitter::None)
        .with_max_attempts(3)
        .with_deadline(Some(Duration::from_secs(120)));
    let manager = RetryManager::new(config);
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let result = manager
        .run_transfer("lfs_part", |attempt| {
            attempts.lock().unwrap().push(attempt);
            async move {
                tokio::time::sleep(Duration::from_secs(200)).await;
                if attempt.number < 3 {
                    Err(reset())
                } else {
                    Ok(attempt.number)
                }
            }
        })
        .await;
    assert_eq!(result.unwrap(), 3);
    let seen = attempts.lock().unwrap().clone();
    // The deadline only counts the waits between attempts (1 s, then 2 s).
    assert_eq!(seen[1].remaining, Some(Duration::from_secs(119)));
    assert_eq!(seen[2].remaining, Some(Duration::from_secs(117)));

    // The same failure under the wall clock gives up after the first attempt.
    let wall = manager
        .run("lfs_part", Idempotency::Idempotent, |_| async {
            tokio::time::sleep(Duration::from_secs(200)).await;
            Err::<(), _>(reset())
        })
        .await
        .unwrap_err();
    assert_eq!(wall.attempts(), 1);
    assert_eq!(wall.reason(), GiveUpReason::DeadlineReached);
}

#[tokio::test(start_paused = true)]
async fn filling_the_deadline_uses_every_attempt_that_fits() {
    // 5 s deadline, waits 1, 2, 4, 8 s: the plain loop stops after 3 attempts (3 s spent, the
    // 4 s wait would pass the deadline); filling it shortens that wait and makes all 5.
    let config = RetryConfig::default()
        .with_jitter(Jitter::None)
        .with_max_attempts(5)
        .with_deadline(Some(Duration::from_secs(5)));
    let failing = |manager: RetryManager| async move {
        manager
            .run("hf.whoami", Idempotency::Idempotent, |_| async {
                Err::<(), _>(reset())
            })
            .await
            .unwrap_err()
    };
    let plain = failing(RetryManager::new(config.clone())).await;
    assert_eq!(plain.attempts(), 3);
    assert_eq!(plain.reason(), GiveUpReason::DeadlineReached);
    let started = Instant::now();
    let filled = failing(RetryManager::new(config).filling_deadline()).await;
    assert_eq!(filled.attempts(), 5);
    assert_eq!(filled.reason(), GiveUpReason::AttemptsExhausted);
    assert!(started.elapsed() < Duration::from_secs(5));
}
