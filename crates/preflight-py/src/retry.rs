//! `RetryConfig` and the per-run planner behind `RetryManager` and `retry_with_backoff`.
//!
//! The Python loop calls the Python function and sleeps (or awaits), because only it can; what
//! to do after each failure comes from [`RetryPlanner`], the same code the Rust loop uses, and
//! the `retry` / `retry_gave_up` events come from [`FailedAttempt`], as the Rust loop's do.

use std::sync::Mutex;

use preflight_retry::{FailedAttempt, Jitter, RetryConfig as Config, RetryPlanner, Step};
use pyo3::prelude::*;
use pyo3::types::PyModule;

use crate::log::with_log;

/// The retry policy, in seconds. Immutable; see `preflight.RetryConfig`.
#[pyclass(name = "RetryConfig", module = "preflight._native", frozen)]
pub(crate) struct PyRetryConfig {
    config: Config,
}

#[pymethods]
impl PyRetryConfig {
    #[new]
    #[pyo3(signature = (max_attempts=3, initial_delay=1.0, max_delay=30.0, multiplier=2.0, jitter="equal", deadline=None, seed=None, max_retry_after=60.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        max_attempts: i64,
        initial_delay: f64,
        max_delay: f64,
        multiplier: f64,
        jitter: &str,
        deadline: Option<f64>,
        seed: Option<u64>,
        max_retry_after: f64,
    ) -> PyResult<Self> {
        let max_attempts = u32::try_from(max_attempts)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                crate::usage_error(
                    py,
                    format!("max_attempts must be an integer >= 1, not {max_attempts}"),
                    "pass max_attempts=1 for no retries, 3 for two retries",
                )
            })?;
        if !(multiplier.is_finite() && multiplier >= 1.0) {
            return Err(crate::usage_error(
                py,
                format!("multiplier must be a finite number >= 1, not {multiplier}"),
                "pass multiplier=2.0 to double each wait, 1.0 for a constant wait",
            ));
        }
        let jitter = match jitter.trim().to_ascii_lowercase().as_str() {
            "none" | "off" => Jitter::None,
            "full" => Jitter::Full,
            "equal" => Jitter::Equal,
            _ => {
                return Err(crate::usage_error(
                    py,
                    format!("jitter must be 'none', 'full' or 'equal', not {jitter:?}"),
                    "pass jitter='none' for exact delays (reproducible), 'equal' (the default) to spread clients",
                ));
            }
        };
        let deadline = deadline
            .map(|deadline| crate::seconds(py, "deadline", deadline))
            .transpose()?;
        let config = Config {
            max_attempts,
            initial_delay: crate::seconds(py, "initial_delay", initial_delay)?,
            multiplier,
            max_delay: crate::seconds(py, "max_delay", max_delay)?,
            jitter,
            deadline,
            max_retry_after: crate::seconds(py, "max_retry_after", max_retry_after)?,
            seed,
        };
        Ok(PyRetryConfig { config })
    }

    /// The `PREFLIGHT_RETRY_*` environment variables over the CLI's defaults (5 attempts,
    /// 1 s doubling to 8 s, equal jitter, 120 s deadline), exactly as the CLI reads them.
    #[staticmethod]
    fn from_env(py: Python<'_>) -> PyResult<Self> {
        Config::from_env(|key| std::env::var(key).ok())
            .map(|config| PyRetryConfig { config })
            .map_err(|error| {
                crate::usage_error(
                    py,
                    error.to_string(),
                    "fix or unset the PREFLIGHT_RETRY_* variable named above",
                )
            })
    }

    #[getter]
    fn max_attempts(&self) -> u32 {
        self.config.max_attempts
    }

    #[getter]
    fn initial_delay(&self) -> f64 {
        self.config.initial_delay.as_secs_f64()
    }

    #[getter]
    fn max_delay(&self) -> f64 {
        self.config.max_delay.as_secs_f64()
    }

    #[getter]
    fn multiplier(&self) -> f64 {
        self.config.multiplier
    }

    #[getter]
    fn jitter(&self) -> &'static str {
        self.config.jitter.as_str()
    }

    #[getter]
    fn deadline(&self) -> Option<f64> {
        self.config.deadline.map(|deadline| deadline.as_secs_f64())
    }

    #[getter]
    fn seed(&self) -> Option<u64> {
        self.config.seed
    }

    #[getter]
    fn max_retry_after(&self) -> f64 {
        self.config.max_retry_after.as_secs_f64()
    }

    /// The computed waits, in seconds, one per retry (`max_attempts - 1`): what the Rust
    /// policy sleeps for this config, jittered with `seed` (random without one). Ignores
    /// `Retry-After` and the deadline.
    fn delays(&self) -> Vec<f64> {
        self.config
            .schedule()
            .map(|delay| delay.as_secs_f64())
            .collect()
    }

    /// A planner for one run of the retry loop, naming `operation` in the log events.
    fn start(&self, operation: String) -> PyRetryRun {
        PyRetryRun {
            planner: Mutex::new(RetryPlanner::new(self.config.clone())),
            operation,
        }
    }

    fn __repr__(&self) -> String {
        let config = &self.config;
        let optional = |value: Option<String>| value.unwrap_or_else(|| "None".to_owned());
        format!(
            "RetryConfig(max_attempts={}, initial_delay={:?}, max_delay={:?}, multiplier={:?}, \
             jitter='{}', deadline={}, seed={}, max_retry_after={:?})",
            config.max_attempts,
            config.initial_delay.as_secs_f64(),
            config.max_delay.as_secs_f64(),
            config.multiplier,
            config.jitter.as_str(),
            optional(config.deadline.map(|d| format!("{:?}", d.as_secs_f64()))),
            optional(config.seed.map(|seed| seed.to_string())),
            config.max_retry_after.as_secs_f64(),
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyRetryConfig>()
            .is_ok_and(|other| other.get().config == self.config)
    }
}

/// One run of the Python retry loop; `after_failure` is asked after each failed attempt.
#[pyclass(name = "RetryRun", module = "preflight._native", frozen)]
pub(crate) struct PyRetryRun {
    planner: Mutex<RetryPlanner>,
    operation: String,
}

#[pymethods]
impl PyRetryRun {
    /// The attempt budget.
    #[getter]
    fn max_attempts(&self) -> u32 {
        self.planner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .max_attempts()
    }

    /// Attempt `attempt` (1-based) failed `elapsed` seconds after the first started, with an
    /// exception of class `error_kind` whose text is `cause`. Returns `(delay, None)` to retry
    /// after `delay` seconds, or `(None, reason)` to give up: `permanent`,
    /// `attempts_exhausted` or `deadline_reached`.
    #[pyo3(signature = (attempt, elapsed, retryable, error_kind, cause, retry_after=None))]
    #[allow(clippy::too_many_arguments)]
    fn after_failure(
        &self,
        py: Python<'_>,
        attempt: u32,
        elapsed: f64,
        retryable: bool,
        error_kind: &str,
        cause: &str,
        retry_after: Option<f64>,
    ) -> PyResult<(Option<f64>, Option<&'static str>)> {
        let elapsed = crate::seconds(py, "elapsed", elapsed.max(0.0))?;
        let retry_after = retry_after
            .map(|wait| crate::seconds(py, "retry_after", wait.max(0.0)))
            .transpose()?;
        let mut planner = self
            .planner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let step = planner.after_failure(attempt, elapsed, retryable, retry_after);
        let max_attempts = planner.max_attempts();
        let remaining = planner.remaining(elapsed);
        drop(planner);
        let failed = FailedAttempt {
            operation: self.operation.as_str(),
            attempt,
            error_kind,
            cause: &cause,
            elapsed,
        };
        with_log(|| match step {
            Step::Retry { delay } => failed.log_retry(max_attempts, delay, remaining),
            Step::GiveUp { reason, next_delay } => {
                failed.log_gave_up(reason, false, reason.as_str(), next_delay);
            }
        });
        Ok(match step {
            Step::Retry { delay } => (Some(delay.as_secs_f64()), None),
            Step::GiveUp { reason, .. } => (None, Some(reason.as_str())),
        })
    }
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyRetryConfig>()?;
    module.add_class::<PyRetryRun>()?;
    Ok(())
}
