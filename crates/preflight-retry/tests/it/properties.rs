//! Property tests: delays never exceed the cap; waits never run past the deadline.

use std::time::Duration;

use preflight_retry::{GiveUpReason, Idempotency, Jitter, RetryConfig, retry_with_backoff};
use proptest::prelude::*;
use tokio::time::Instant;

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal)]
}

fn config() -> impl Strategy<Value = RetryConfig> {
    (
        1u32..12,
        0u64..20_000,
        1.0f64..5.0,
        0u64..30_000,
        jitter(),
        any::<u64>(),
        prop::option::of(0u64..60_000),
    )
        .prop_map(
            |(attempts, initial, multiplier, max, jitter, seed, deadline)| {
                RetryConfig::default()
                    .with_max_attempts(attempts)
                    .with_initial_delay(Duration::from_millis(initial))
                    .with_multiplier(multiplier)
                    .with_max_delay(Duration::from_millis(max))
                    .with_jitter(jitter)
                    .with_seed(seed)
                    .with_deadline(deadline.map(Duration::from_millis))
            },
        )
}

proptest! {
    #[test]
    fn delays_never_exceed_the_cap(config in config(), index in 0u32..200, seed: u64) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let delay = config.delay_for_retry(index, &mut rng);
        prop_assert!(delay <= config.max_delay);
        let base = config.base_delay_for_retry(index);
        prop_assert!(delay <= base);
        if config.jitter == Jitter::Equal {
            prop_assert!(delay * 2 >= base);
        }
        for delay in config.schedule() {
            prop_assert!(delay <= config.max_delay);
        }
    }

    #[test]
    fn total_wait_never_exceeds_the_deadline(
        config in config(),
        attempt_ms in prop::collection::vec(0u64..5_000, 12),
        retry_after_s in prop::option::of(0u64..120),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let started = Instant::now();
            let mut starts = Vec::new();
            let error = retry_with_backoff(&config, Idempotency::Idempotent, |attempt| {
                starts.push(started.elapsed());
                let takes = Duration::from_millis(attempt_ms[attempt.number as usize - 1]);
                async move {
                    tokio::time::sleep(takes).await;
                    let error = if let Some(seconds) = retry_after_s {
                        let mut status = preflight_retry::HttpStatusError::new(429, "http://h/");
                        status.retry_after = Some(Duration::from_secs(seconds));
                        preflight_retry::HttpError::Status(status)
                    } else {
                        preflight_retry::HttpError::Status(preflight_retry::HttpStatusError::new(503, "http://h/"))
                    };
                    Err::<(), _>(error)
                }
            })
            .await
            .unwrap_err();
            let worked: Duration = starts
                .iter()
                .enumerate()
                .map(|(i, _)| Duration::from_millis(attempt_ms[i]))
                .sum();
            let waited = error.elapsed() - worked;
            prop_assert!(error.attempts() <= config.max_attempts.max(1));
            prop_assert_eq!(error.attempts() as usize, starts.len());
            if let Some(deadline) = config.deadline {
                prop_assert!(waited <= deadline, "waited {waited:?} > {deadline:?}");
                // Every retry starts before the deadline.
                for start in &starts[1..] {
                    prop_assert!(*start < deadline);
                }
            } else {
                prop_assert_ne!(error.reason(), GiveUpReason::DeadlineReached);
            }
            Ok(())
        })?;
    }
}
