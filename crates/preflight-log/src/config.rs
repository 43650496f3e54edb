//! Where the auth log goes and how much of it is kept.
//!
//! The precedence is the usual one for Preflight settings: the `--auth-log` flag wins over the
//! `PREFLIGHT_AUTH_LOG` environment variable, which wins over the default `logs/auth.log`.
//! Environment access is injected ([`AuthLogConfig::resolve`] takes a lookup function), so tests
//! never mutate the process environment.

use std::path::PathBuf;

use tracing::Level;

/// The environment variable naming the auth log file (`PATH`, or `off`/`none`/`-` to disable).
pub const ENV_AUTH_LOG: &str = "PREFLIGHT_AUTH_LOG";

/// The environment variable setting the most verbose level written to the auth log file
/// (`error`, `warn`, `info`, `debug` or `trace`; default `info`).
pub const ENV_LOG_LEVEL: &str = "PREFLIGHT_LOG_LEVEL";

/// The default auth log path, relative to the working directory.
pub const DEFAULT_PATH: &str = "logs/auth.log";

/// The default size above which the log is rotated: 10 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// The default number of rotated files kept (`auth.log.1` … `auth.log.5`).
pub const DEFAULT_KEEP: usize = 5;

/// Where auth log lines are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDestination {
    /// Append JSON lines to this file (its parent directories are created as needed).
    File(PathBuf),
    /// Write no auth log at all.
    Disabled,
}

/// Settings for [`setup_auth_logging`](crate::setup_auth_logging).
///
/// Build it with [`AuthLogConfig::resolve`] (flag, then environment, then defaults) or with
/// `AuthLogConfig { .., ..AuthLogConfig::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthLogConfig {
    /// The JSON-lines file, or [`LogDestination::Disabled`].
    pub destination: LogDestination,
    /// Rotate the file before a write that would take it above this many bytes.
    /// `0` disables rotation.
    pub max_bytes: u64,
    /// How many rotated files (`auth.log.1` … `auth.log.{keep}`) are kept. With `0`, rotation
    /// simply starts a new file and the old contents are deleted.
    pub keep: usize,
    /// The most verbose level written to the file. Only events whose target starts with
    /// `preflight` are written, whatever the level.
    pub file_level: Level,
    /// Human-readable diagnostics on stderr at this level and above (`None` = off). Preflight's
    /// own targets are shown at this level; other crates' events only at `WARN` and above.
    pub stderr_level: Option<Level>,
}

impl Default for AuthLogConfig {
    fn default() -> Self {
        Self {
            destination: LogDestination::File(PathBuf::from(DEFAULT_PATH)),
            max_bytes: DEFAULT_MAX_BYTES,
            keep: DEFAULT_KEEP,
            file_level: Level::INFO,
            stderr_level: None,
        }
    }
}

impl AuthLogConfig {
    /// Resolves the configuration from the `--auth-log PATH|off` flag value and the environment.
    ///
    /// * The destination comes from `flag` if given and non-empty, else from
    ///   `PREFLIGHT_AUTH_LOG` if set and non-empty, else [`DEFAULT_PATH`]. In both places `off`,
    ///   `none` and `-` (any case) disable the log.
    /// * `file_level` comes from `PREFLIGHT_LOG_LEVEL` (`error|warn|info|debug|trace`, any case);
    ///   an unset, empty or unrecognised value means `info`.
    ///
    /// Everything else keeps its default; the caller sets `stderr_level` (for example from
    /// `-v`).
    pub fn resolve(flag: Option<&str>, env_lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut config = Self::default();
        let chosen = flag
            .map(str::to_owned)
            .filter(|value| !value.trim().is_empty())
            .or_else(|| env_lookup(ENV_AUTH_LOG).filter(|value| !value.trim().is_empty()));
        if let Some(value) = chosen {
            config.destination = parse_destination(&value);
        }
        if let Some(level) = env_lookup(ENV_LOG_LEVEL).and_then(|value| parse_level(&value)) {
            config.file_level = level;
        }
        config
    }

    /// The log file path, or `None` when the log is disabled.
    pub fn path(&self) -> Option<&std::path::Path> {
        match &self.destination {
            LogDestination::File(path) => Some(path),
            LogDestination::Disabled => None,
        }
    }
}

/// `off`, `none` and `-` disable the log; anything else is a path, taken verbatim.
fn parse_destination(value: &str) -> LogDestination {
    let trimmed = value.trim();
    if ["off", "none", "-"]
        .iter()
        .any(|word| trimmed.eq_ignore_ascii_case(word))
    {
        LogDestination::Disabled
    } else {
        LogDestination::File(PathBuf::from(value))
    }
}

fn parse_level(value: &str) -> Option<Level> {
    match value.trim().to_ascii_lowercase().as_str() {
        "error" => Some(Level::ERROR),
        "warn" | "warning" => Some(Level::WARN),
        "info" => Some(Level::INFO),
        "debug" => Some(Level::DEBUG),
        "trace" => Some(Level::TRACE),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use tracing::Level;

    use super::{AuthLogConfig, DEFAULT_PATH, LogDestination};

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    fn file(path: &str) -> LogDestination {
        LogDestination::File(PathBuf::from(path))
    }

    #[test]
    fn default_is_logs_auth_log_at_info() {
        let config = AuthLogConfig::resolve(None, env(&[]));
        assert_eq!(config, AuthLogConfig::default());
        assert_eq!(config.destination, file(DEFAULT_PATH));
        assert_eq!(config.max_bytes, 10 * 1024 * 1024);
        assert_eq!(config.keep, 5);
        assert_eq!(config.file_level, Level::INFO);
        assert_eq!(config.stderr_level, None);
    }

    #[test]
    fn flag_wins_over_env() {
        let lookup = env(&[("PREFLIGHT_AUTH_LOG", "/env/auth.log")]);
        let config = AuthLogConfig::resolve(Some("/flag/auth.log"), &lookup);
        assert_eq!(config.destination, file("/flag/auth.log"));
        let config = AuthLogConfig::resolve(Some("off"), &lookup);
        assert_eq!(config.destination, LogDestination::Disabled);
    }

    #[test]
    fn env_wins_over_default() {
        let config = AuthLogConfig::resolve(None, env(&[("PREFLIGHT_AUTH_LOG", "x/a.log")]));
        assert_eq!(config.destination, file("x/a.log"));
    }

    #[test]
    fn off_words_disable_in_flag_and_env() {
        for word in ["off", "OFF", "none", "None", "-", " off "] {
            let config = AuthLogConfig::resolve(Some(word), env(&[]));
            assert_eq!(
                config.destination,
                LogDestination::Disabled,
                "flag {word:?}"
            );
            let config = AuthLogConfig::resolve(None, env(&[("PREFLIGHT_AUTH_LOG", word)]));
            assert_eq!(config.destination, LogDestination::Disabled, "env {word:?}");
        }
        // The env says off but the flag names a file: the flag wins.
        let config = AuthLogConfig::resolve(Some("a.log"), env(&[("PREFLIGHT_AUTH_LOG", "off")]));
        assert_eq!(config.destination, file("a.log"));
    }

    #[test]
    fn empty_values_fall_through() {
        let lookup = env(&[("PREFLIGHT_AUTH_LOG", "e.log")]);
        assert_eq!(
            AuthLogConfig::resolve(Some(""), &lookup).destination,
            file("e.log")
        );
        let config = AuthLogConfig::resolve(None, env(&[("PREFLIGHT_AUTH_LOG", "")]));
        assert_eq!(config.destination, file(DEFAULT_PATH));
    }

    #[test]
    fn log_level_from_env() {
        let config = AuthLogConfig::resolve(None, env(&[("PREFLIGHT_LOG_LEVEL", "DEBUG")]));
        assert_eq!(config.file_level, Level::DEBUG);
        let config = AuthLogConfig::resolve(None, env(&[("PREFLIGHT_LOG_LEVEL", "loud")]));
        assert_eq!(config.file_level, Level::INFO);
    }
}
