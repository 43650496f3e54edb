//! [`RetryConfig`]: how many attempts, how long to wait between them, and the overall budget.

use std::time::Duration;

/// Environment variable names read by [`RetryConfig::from_env`].
pub mod env {
    /// Total attempts including the first (integer ≥ 1).
    pub const MAX_ATTEMPTS: &str = "PREFLIGHT_RETRY_MAX_ATTEMPTS";
    /// Base delay before the first retry, in milliseconds.
    pub const INITIAL_DELAY_MS: &str = "PREFLIGHT_RETRY_INITIAL_DELAY_MS";
    /// Cap on a computed delay, in milliseconds.
    pub const MAX_DELAY_MS: &str = "PREFLIGHT_RETRY_MAX_DELAY_MS";
    /// Growth factor between delays (finite, ≥ 1).
    pub const MULTIPLIER: &str = "PREFLIGHT_RETRY_MULTIPLIER";
    /// `none`, `full` or `equal`.
    pub const JITTER: &str = "PREFLIGHT_RETRY_JITTER";
    /// Overall budget in milliseconds, or `none`/`off` for no budget.
    pub const DEADLINE_MS: &str = "PREFLIGHT_RETRY_DEADLINE_MS";
    /// Cap on an honoured `Retry-After`, in milliseconds.
    pub const MAX_RETRY_AFTER_MS: &str = "PREFLIGHT_RETRY_MAX_RETRY_AFTER_MS";
    /// Seed for the jitter generator (integer), for reproducible schedules.
    pub const SEED: &str = "PREFLIGHT_RETRY_SEED";
    /// `1`/`true`/`yes`/`on` zeroes every delay (tests); `0`/`false`/`no`/`off`/empty leaves them.
    pub const TEST_NO_RETRY_DELAY: &str = "PREFLIGHT_TEST_NO_RETRY_DELAY";
}

/// How a computed delay is randomised.
///
/// Randomising keeps many clients that failed together (a CI matrix uploading to the same repo
/// during a Hub incident) from retrying in lock-step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Exactly the computed delay: `1, 2, 4, 8, 8 s` with the defaults (what `huggingface_hub` does).
    None,
    /// Uniform in `[0, d]` ("full jitter"). Spreads clients best, but may retry almost at once.
    Full,
    /// Uniform in `[d/2, d]` ("equal jitter"). The default: it spreads clients while always
    /// giving the server at least half of the scheduled pause.
    #[default]
    Equal,
}

impl Jitter {
    /// The name used by `PREFLIGHT_RETRY_JITTER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
        }
    }
}

/// A bad value in the environment. The message names the variable and the value expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}={value:?}: expected {expected}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// The value it held.
    pub value: String,
    /// What would have been accepted.
    pub expected: &'static str,
}

/// The retry policy: attempts, exponential backoff with jitter, `Retry-After` cap and deadline.
///
/// The delay before retry `i` (0-based) is `min(initial_delay × multiplier^i, max_delay)`, then
/// randomised by [`Jitter`]; a `Retry-After` from the server replaces it (capped at
/// `max_retry_after`). See the crate docs for why the defaults are what they are.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Total attempts including the first; default 5. `0` is treated as `1`.
    pub max_attempts: u32,
    /// Base delay before the first retry; default 1 s (the Hub client's `base_wait_time`).
    pub initial_delay: Duration,
    /// Growth factor between successive delays; default 2.0.
    pub multiplier: f64,
    /// Cap on any computed delay; default 8 s (the Hub client's `max_wait_time`).
    pub max_delay: Duration,
    /// Randomisation of computed delays; default [`Jitter::Equal`].
    pub jitter: Jitter,
    /// Overall budget, measured from the start of the first attempt: no wait is started that
    /// would end past it. Default `Some(120 s)`. It does not cancel a running attempt; the
    /// operation gets the time left in [`Attempt::remaining`](crate::Attempt::remaining).
    pub deadline: Option<Duration>,
    /// Cap on an honoured `Retry-After` / `RateLimit` wait; default 60 s.
    pub max_retry_after: Duration,
    /// Seed for the jitter generator; `None` (default) seeds from the OS. Tests set it to assert
    /// exact schedules.
    pub seed: Option<u64>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 5,
            initial_delay: Duration::from_secs(1),
            multiplier: 2.0,
            max_delay: Duration::from_secs(8),
            jitter: Jitter::Equal,
            deadline: Some(Duration::from_secs(120)),
            max_retry_after: Duration::from_secs(60),
            seed: None,
        }
    }
}

impl RetryConfig {
    /// The defaults overridden by `PREFLIGHT_RETRY_*` variables read through `lookup`
    /// (pass `|name| std::env::var(name).ok()` in production, a map in tests).
    ///
    /// `PREFLIGHT_TEST_NO_RETRY_DELAY=1` zeroes every delay after the other variables are
    /// applied, so test suites run retries at full speed.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<RetryConfig, ConfigError> {
        let mut config = RetryConfig::default();
        if let Some(value) = lookup(env::MAX_ATTEMPTS) {
            config.max_attempts =
                parse_u64(env::MAX_ATTEMPTS, &value, "an integer ≥ 1").and_then(|n| {
                    u32::try_from(n)
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| error(env::MAX_ATTEMPTS, &value, "an integer ≥ 1"))
                })?;
        }
        if let Some(value) = lookup(env::INITIAL_DELAY_MS) {
            config.initial_delay = parse_ms(env::INITIAL_DELAY_MS, &value)?;
        }
        if let Some(value) = lookup(env::MAX_DELAY_MS) {
            config.max_delay = parse_ms(env::MAX_DELAY_MS, &value)?;
        }
        if let Some(value) = lookup(env::MULTIPLIER) {
            const EXPECTED: &str = "a finite number ≥ 1, such as 2 or 1.5";
            config.multiplier = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|m| m.is_finite() && *m >= 1.0)
                .ok_or_else(|| error(env::MULTIPLIER, &value, EXPECTED))?;
        }
        if let Some(value) = lookup(env::JITTER) {
            config.jitter = match value.trim().to_ascii_lowercase().as_str() {
                "none" | "off" => Jitter::None,
                "full" => Jitter::Full,
                "equal" => Jitter::Equal,
                _ => return Err(error(env::JITTER, &value, "one of none, full, equal")),
            };
        }
        if let Some(value) = lookup(env::DEADLINE_MS) {
            config.deadline = match value.trim().to_ascii_lowercase().as_str() {
                "none" | "off" => None,
                _ => Some(parse_ms(env::DEADLINE_MS, &value).map_err(|mut e| {
                    e.expected = "milliseconds (a non-negative integer) or none";
                    e
                })?),
            };
        }
        if let Some(value) = lookup(env::MAX_RETRY_AFTER_MS) {
            config.max_retry_after = parse_ms(env::MAX_RETRY_AFTER_MS, &value)?;
        }
        if let Some(value) = lookup(env::SEED) {
            config.seed = Some(parse_u64(env::SEED, &value, "a non-negative integer")?);
        }
        if let Some(value) = lookup(env::TEST_NO_RETRY_DELAY) {
            let on = match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "" | "0" | "false" | "no" | "off" => false,
                _ => return Err(error(env::TEST_NO_RETRY_DELAY, &value, "1 or 0")),
            };
            if on {
                config = config.without_delays();
            }
        }
        Ok(config)
    }

    /// Sets the total number of attempts, including the first.
    #[must_use]
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets the overall budget (`None`: no budget).
    #[must_use]
    pub fn with_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets the base delay before the first retry.
    #[must_use]
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets the cap on computed delays.
    #[must_use]
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets the growth factor between delays. Values below 1 or not finite are used as given
    /// by [`delay_for_retry`](Self::delay_for_retry), which still never exceeds `max_delay`.
    #[must_use]
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the jitter mode.
    #[must_use]
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the cap on an honoured `Retry-After`.
    #[must_use]
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// Seeds the jitter generator so that schedules are reproducible.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Zeroes every delay, including honoured `Retry-After` waits. Attempts and the deadline
    /// are kept. For tests (`PREFLIGHT_TEST_NO_RETRY_DELAY=1`).
    #[must_use]
    pub fn without_delays(mut self) -> Self {
        self.initial_delay = Duration::ZERO;
        self.max_delay = Duration::ZERO;
        self.max_retry_after = Duration::ZERO;
        self
    }

    /// The attempt budget, at least 1.
    pub fn effective_max_attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }

    /// The computed delay before retry `retry_index` (0 = the wait after the first attempt
    /// failed): `min(initial_delay × multiplier^i, max_delay)`, before jitter, rounded down to
    /// whole milliseconds (tokio's timer resolution, so the loop sleeps exactly this long).
    pub fn base_delay_for_retry(&self, retry_index: u32) -> Duration {
        let exponent = i32::try_from(retry_index).unwrap_or(i32::MAX);
        let seconds = self.initial_delay.as_secs_f64() * self.multiplier.powi(exponent);
        let unrounded = if seconds.is_nan() || seconds <= 0.0 {
            Duration::ZERO
        } else if seconds >= self.max_delay.as_secs_f64() {
            self.max_delay
        } else {
            Duration::from_secs_f64(seconds).min(self.max_delay)
        };
        Duration::from_millis(u64::try_from(unrounded.as_millis()).unwrap_or(u64::MAX))
    }

    /// The delay before retry `retry_index` (0-based), jittered with `rng` in whole
    /// milliseconds around the base `d` of [`base_delay_for_retry`](Self::base_delay_for_retry):
    /// `d` ([`Jitter::None`]), uniform in `[0, d]` ([`Jitter::Full`]) or in `[⌈d/2⌉, d]`
    /// ([`Jitter::Equal`]). Never more than `max_delay`.
    pub fn delay_for_retry(&self, retry_index: u32, rng: &mut fastrand::Rng) -> Duration {
        let base = self.base_delay_for_retry(retry_index);
        let millis = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
        let jittered = match self.jitter {
            Jitter::None => millis,
            Jitter::Full => rng.u64(0..=millis),
            Jitter::Equal => rng.u64(millis.div_ceil(2)..=millis),
        };
        Duration::from_millis(jittered)
    }

    /// A fresh generator for one run: seeded when [`seed`](Self::seed) is set.
    pub fn rng(&self) -> fastrand::Rng {
        self.seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed)
    }

    /// The computed schedule: one delay per retry (`max_attempts - 1` of them), jittered with
    /// this config's seed. Ignores `Retry-After` and the deadline.
    pub fn schedule(&self) -> Backoff {
        Backoff {
            config: self.clone(),
            rng: self.rng(),
            next_index: 0,
        }
    }
}

/// Iterator over the computed delays of a [`RetryConfig`]; see [`RetryConfig::schedule`].
#[derive(Debug, Clone)]
pub struct Backoff {
    config: RetryConfig,
    rng: fastrand::Rng,
    next_index: u32,
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.next_index + 1 >= self.config.effective_max_attempts() {
            return None;
        }
        let delay = self.config.delay_for_retry(self.next_index, &mut self.rng);
        self.next_index += 1;
        Some(delay)
    }
}

fn error(variable: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError {
        variable,
        value: value.to_owned(),
        expected,
    }
}

fn parse_u64(
    variable: &'static str,
    value: &str,
    expected: &'static str,
) -> Result<u64, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .map_err(|_| error(variable, value, expected))
}

fn parse_ms(variable: &'static str, value: &str) -> Result<Duration, ConfigError> {
    parse_u64(variable, value, "milliseconds (a non-negative integer)").map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from_pairs(pairs: &[(&str, &str)]) -> Result<RetryConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RetryConfig::from_env(|name| map.get(name).cloned())
    }

    #[test]
    fn from_env_without_variables_gives_defaults() {
        assert_eq!(from_pairs(&[]).unwrap(), RetryConfig::default());
    }

    #[test]
    fn from_env_reads_good_values() {
        let config = from_pairs(&[
            (env::MAX_ATTEMPTS, "3"),
            (env::INITIAL_DELAY_MS, "250"),
            (env::MAX_DELAY_MS, " 4000 "),
            (env::MULTIPLIER, "1.5"),
            (env::JITTER, "FULL"),
            (env::DEADLINE_MS, "30000"),
            (env::MAX_RETRY_AFTER_MS, "10000"),
            (env::SEED, "42"),
            (env::TEST_NO_RETRY_DELAY, "0"),
        ])
        .unwrap();
        assert_eq!(
            config,
            RetryConfig {
                max_attempts: 3,
                initial_delay: Duration::from_millis(250),
                multiplier: 1.5,
                max_delay: Duration::from_secs(4),
                jitter: Jitter::Full,
                deadline: Some(Duration::from_secs(30)),
                max_retry_after: Duration::from_secs(10),
                seed: Some(42),
            }
        );
        for (value, jitter) in [
            ("none", Jitter::None),
            ("off", Jitter::None),
            ("equal", Jitter::Equal),
        ] {
            assert_eq!(from_pairs(&[(env::JITTER, value)]).unwrap().jitter, jitter);
            assert_eq!(
                from_pairs(&[(env::JITTER, jitter.as_str())])
                    .unwrap()
                    .jitter,
                jitter
            );
        }
        for value in ["none", "OFF"] {
            assert_eq!(
                from_pairs(&[(env::DEADLINE_MS, value)]).unwrap().deadline,
                None
            );
        }
    }

    #[test]
    fn from_env_names_the_bad_variable() {
        let cases: &[(&str, &str, &str)] = &[
            (
                env::MAX_ATTEMPTS,
                "0",
                "invalid PREFLIGHT_RETRY_MAX_ATTEMPTS=\"0\": expected an integer ≥ 1",
            ),
            (
                env::MAX_ATTEMPTS,
                "five",
                "invalid PREFLIGHT_RETRY_MAX_ATTEMPTS=\"five\": expected an integer ≥ 1",
            ),
            (
                env::MAX_ATTEMPTS,
                "99999999999",
                "invalid PREFLIGHT_RETRY_MAX_ATTEMPTS=\"99999999999\": expected an integer ≥ 1",
            ),
            (
                env::INITIAL_DELAY_MS,
                "-5",
                "invalid PREFLIGHT_RETRY_INITIAL_DELAY_MS=\"-5\": expected milliseconds (a non-negative integer)",
            ),
            (
                env::MAX_DELAY_MS,
                "1s",
                "invalid PREFLIGHT_RETRY_MAX_DELAY_MS=\"1s\": expected milliseconds (a non-negative integer)",
            ),
            (
                env::MULTIPLIER,
                "0.5",
                "invalid PREFLIGHT_RETRY_MULTIPLIER=\"0.5\": expected a finite number ≥ 1, such as 2 or 1.5",
            ),
            (
                env::MULTIPLIER,
                "inf",
                "invalid PREFLIGHT_RETRY_MULTIPLIER=\"inf\": expected a finite number ≥ 1, such as 2 or 1.5",
            ),
            (
                env::MULTIPLIER,
                "NaN",
                "invalid PREFLIGHT_RETRY_MULTIPLIER=\"NaN\": expected a finite number ≥ 1, such as 2 or 1.5",
            ),
            (
                env::JITTER,
                "bounded",
                "invalid PREFLIGHT_RETRY_JITTER=\"bounded\": expected one of none, full, equal",
            ),
            (
                env::DEADLINE_MS,
                "soon",
                "invalid PREFLIGHT_RETRY_DEADLINE_MS=\"soon\": expected milliseconds (a non-negative integer) or none",
            ),
            (
                env::MAX_RETRY_AFTER_MS,
                "",
                "invalid PREFLIGHT_RETRY_MAX_RETRY_AFTER_MS=\"\": expected milliseconds (a non-negative integer)",
            ),
            (
                env::SEED,
                "x",
                "invalid PREFLIGHT_RETRY_SEED=\"x\": expected a non-negative integer",
            ),
            (
                env::TEST_NO_RETRY_DELAY,
                "maybe",
                "invalid PREFLIGHT_TEST_NO_RETRY_DELAY=\"maybe\": expected 1 or 0",
            ),
        ];
        for (variable, value, message) in cases {
            let err = from_pairs(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, *variable);
            assert_eq!(err.to_string(), *message);
        }
    }

    #[test]
    fn no_retry_delay_zeroes_delays_but_keeps_attempts() {
        for value in ["1", "true", "YES", "on"] {
            let config = from_pairs(&[
                (env::TEST_NO_RETRY_DELAY, value),
                (env::INITIAL_DELAY_MS, "500"),
                (env::MAX_ATTEMPTS, "4"),
            ])
            .unwrap();
            assert_eq!(config.initial_delay, Duration::ZERO);
            assert_eq!(config.max_delay, Duration::ZERO);
            assert_eq!(config.max_retry_after, Duration::ZERO);
            assert_eq!(config.max_attempts, 4);
            assert_eq!(config.deadline, RetryConfig::default().deadline);
        }
        for value in ["", "0", "false", "no", "off"] {
            let config = from_pairs(&[(env::TEST_NO_RETRY_DELAY, value)]).unwrap();
            assert_eq!(config, RetryConfig::default());
        }
    }

    #[test]
    fn builders_set_fields() {
        let config = RetryConfig::default()
            .with_max_attempts(7)
            .with_deadline(None)
            .with_initial_delay(Duration::from_millis(10))
            .with_max_delay(Duration::from_millis(20))
            .with_multiplier(3.0)
            .with_jitter(Jitter::None)
            .with_max_retry_after(Duration::from_secs(5))
            .with_seed(9);
        assert_eq!(
            config,
            RetryConfig {
                max_attempts: 7,
                initial_delay: Duration::from_millis(10),
                multiplier: 3.0,
                max_delay: Duration::from_millis(20),
                jitter: Jitter::None,
                deadline: None,
                max_retry_after: Duration::from_secs(5),
                seed: Some(9),
            }
        );
        assert_eq!(
            RetryConfig::default()
                .with_max_attempts(0)
                .effective_max_attempts(),
            1
        );
    }

    #[test]
    fn default_schedule_without_jitter_matches_the_hub_client() {
        let config = RetryConfig::default().with_jitter(Jitter::None);
        let secs: Vec<u64> = config.schedule().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8]);
        let config = config.with_max_attempts(7);
        let secs: Vec<u64> = config.schedule().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 8, 8]);
    }

    #[test]
    fn odd_multipliers_stay_within_the_cap() {
        let mut rng = fastrand::Rng::with_seed(1);
        for multiplier in [f64::NAN, f64::INFINITY, -2.0, 0.0, 1e300] {
            let config = RetryConfig::default()
                .with_multiplier(multiplier)
                .with_jitter(Jitter::Full);
            for index in [0, 1, 5, 1000, u32::MAX] {
                assert!(config.delay_for_retry(index, &mut rng) <= config.max_delay);
            }
        }
        let huge = RetryConfig::default()
            .with_max_delay(Duration::MAX)
            .with_jitter(Jitter::Equal);
        assert!(huge.delay_for_retry(2000, &mut rng) <= Duration::MAX);
    }
}
