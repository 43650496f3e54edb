//! Running `modal token info` with a hard deadline, and reading what it printed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use time::{OffsetDateTime, PrimitiveDateTime, macros::format_description};
use tokio::io::AsyncReadExt;

use crate::{Env, vars};

/// The arguments passed to the CLI. Credentials never appear here: they travel in the
/// child's environment (or the CLI reads the config file itself).
pub const CLI_ARGS: &[&str] = &["token", "info"];

/// Variables copied from the caller's environment into the child's, when set (even empty:
/// an empty `MODAL_TOKEN_ID` changes the CLI's verdict, so it must be passed as is).
const PASSED_VARS: &[&str] = &[
    "PATH",
    vars::MODAL_TOKEN_ID,
    vars::MODAL_TOKEN_SECRET,
    vars::MODAL_PROFILE,
    vars::MODAL_CONFIG_PATH,
    vars::MODAL_SERVER_URL,
    "MODAL_OAUTH_REFRESH_TOKEN",
    "MODAL_OAUTH_CLIENT_ID",
    "MODAL_OAUTH_CLIENT_SECRET",
    "MODAL_OAUTH_JWT_KEY",
    "MODAL_ENVIRONMENT",
    "MODAL_IS_REMOTE",
    "MODAL_DISABLE_API_PROXY",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "VIRTUAL_ENV",
];

/// Variables forced in the child's environment so its output is stable and secret-free:
/// UTC timestamps (so `Expires at:` parses), no colour or wrapping, no traceback and no
/// debug logging even if the profile asks for them.
const FORCED_VARS: &[(&str, &str)] = &[
    ("TZ", "UTC"),
    ("NO_COLOR", "1"),
    ("TERM", "dumb"),
    ("COLUMNS", "200"),
    ("PYTHONIOENCODING", "utf-8"),
    ("MODAL_TRACEBACK", "0"),
    ("MODAL_LOGLEVEL", "WARNING"),
];

/// The child's complete environment, built from `env` (never from the process).
pub(crate) fn child_env(env: &dyn Env) -> Vec<(String, OsString)> {
    let mut out: Vec<(String, OsString)> = PASSED_VARS
        .iter()
        .filter_map(|name| env.var_os(name).map(|value| ((*name).to_owned(), value)))
        .collect();
    if !out.iter().any(|(name, _)| name == "PATH") {
        out.push(("PATH".to_owned(), preflight_launch::DEFAULT_PATH.into()));
    }
    if let Some(home) = env.home_dir() {
        out.push(("HOME".to_owned(), home.into_os_string()));
    }
    out.extend(
        FORCED_VARS
            .iter()
            .map(|(name, value)| ((*name).to_owned(), OsString::from(value))),
    );
    out
}

/// The executable to run: `cli_path` if given (must exist), else `modal` on the env's `PATH`,
/// found by the one program lookup the launcher uses too ([`preflight_launch::resolve_program`]).
pub(crate) fn locate(env: &dyn Env, cli_path: Option<&Path>) -> Result<PathBuf, String> {
    let program = cli_path.map_or_else(
        || OsString::from("modal"),
        |path| path.as_os_str().to_owned(),
    );
    let path_var = env.var_os("PATH");
    preflight_launch::resolve_program(&program, path_var.as_deref()).map_err(|error| match error {
        preflight_launch::LaunchError::NotFound { .. } if cli_path.is_some() => {
            format!("{} does not exist", program.to_string_lossy())
        }
        preflight_launch::LaunchError::NotFound { .. } => {
            "`modal` was not found on PATH".to_owned()
        }
        other => other.to_string(),
    })
}

/// What running the CLI produced.
#[derive(Debug)]
pub(crate) enum RunOutcome {
    /// It exited (or was killed by a signal: `code` is `None`).
    Exited {
        code: Option<i32>,
        stdout: String,
        stderr: String,
    },
    /// The deadline passed; the whole process group was killed.
    TimedOut,
    /// It could not be started.
    SpawnFailed(std::io::Error),
}

/// Kills the child's whole process group when dropped: at the deadline, or when the caller's
/// future is cancelled mid-run. Disarmed once the child has exited normally.
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

/// Runs `program token info` in its own process group with `env` as its whole environment.
pub(crate) async fn run(
    program: &Path,
    env: Vec<(String, OsString)>,
    deadline: Duration,
) -> RunOutcome {
    let mut command = tokio::process::Command::new(program);
    command
        .args(CLI_ARGS)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => return RunOutcome::SpawnFailed(error),
    };
    let guard = GroupGuard(
        child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw),
    );
    let stdout = child.stdout.take().map(|pipe| tokio::spawn(read_all(pipe)));
    let stderr = child.stderr.take().map(|pipe| tokio::spawn(read_all(pipe)));

    let status = match tokio::time::timeout(deadline, child.wait()).await {
        Ok(Ok(status)) => {
            // Reaped: the group id may be free for reuse, so it must not be signalled now.
            guard.disarm();
            status
        }
        Ok(Err(error)) => return RunOutcome::SpawnFailed(error),
        Err(_elapsed) => {
            // Kill the whole group while the leader is unreaped (its id cannot be reused),
            // then reap it so nothing lingers.
            drop(guard);
            let _ = child.wait().await;
            abort(stdout);
            abort(stderr);
            return RunOutcome::TimedOut;
        }
    };
    RunOutcome::Exited {
        code: status.code(),
        stdout: collect(stdout).await,
        stderr: collect(stderr).await,
    }
}

async fn read_all<R: tokio::io::AsyncRead + Unpin>(mut pipe: R) -> String {
    let mut bytes = Vec::new();
    // Bounded: the CLI prints a few lines; a runaway child must not exhaust memory.
    let _ = (&mut pipe).take(1 << 20).read_to_end(&mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

async fn collect(task: Option<tokio::task::JoinHandle<String>>) -> String {
    let Some(task) = task else {
        return String::new();
    };
    match tokio::time::timeout(Duration::from_secs(2), task).await {
        Ok(Ok(text)) => text,
        _ => String::new(),
    }
}

fn abort(task: Option<tokio::task::JoinHandle<String>>) {
    if let Some(task) = task {
        task.abort();
    }
}

/// How the CLI's answer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Exit 0 with a `Workspace:` line.
    Valid(TokenInfo),
    /// Exit 0 with `Expires at:` in the past, or an error that says "expired".
    Expired {
        info: Option<TokenInfo>,
        message: String,
    },
    /// The server rejected the credentials.
    Invalid(String),
    /// "Token missing".
    Missing(String),
    /// Profile selection or lookup failed.
    Profile(String),
    /// The config file could not be read, or the installation is broken.
    Config(String),
    /// OAuth/token mix or incomplete OAuth.
    Incomplete(String),
    /// "Could not connect to the Modal server."
    Network(String),
    /// Anything else.
    Unknown(String),
}

/// What `modal token info` printed on success.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TokenInfo {
    pub workspace: Option<String>,
    pub user: Option<String>,
    pub service_user: bool,
    pub token_name: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub expires_text: Option<String>,
}

/// A token Modal described: valid, or expired if its expiry is not after `now`.
pub(crate) fn judge(info: TokenInfo, now: OffsetDateTime) -> Verdict {
    if let Some(expires) = info.expires_at
        && expires <= now
    {
        let message = format!(
            "The Modal token expired at {}.",
            info.expires_text.clone().unwrap_or_default()
        );
        return Verdict::Expired {
            info: Some(info),
            message,
        };
    }
    Verdict::Valid(info)
}

/// Classifies one run. `now` is injected for the expiry comparison.
pub(crate) fn classify(
    code: Option<i32>,
    stdout: &str,
    stderr: &str,
    now: OffsetDateTime,
) -> Verdict {
    if code == Some(0) {
        let info = parse_info(stdout);
        if info.workspace.is_none() {
            return Verdict::Unknown(
                "`modal token info` exited 0 but printed no `Workspace:` line".to_owned(),
            );
        }
        return judge(info, now);
    }
    let error = error_text(stderr);
    let all = format!("{stdout}\n{stderr}");
    if all.contains("Something with the Modal installation seems broken")
        || all.contains("Error when reading the modal configuration")
    {
        let detail = if error.is_empty() {
            last_line(stderr)
        } else {
            error
        };
        return Verdict::Config(detail);
    }
    if code == Some(2) {
        return Verdict::Unknown(format!(
            "the modal CLI rejected `modal token info` as a usage error (exit 2): {}",
            if error.is_empty() {
                last_line(stderr)
            } else {
                error
            }
        ));
    }
    if error.is_empty() {
        let tail = last_line(stderr);
        return Verdict::Unknown(match code {
            Some(code) => format!("the modal CLI exited {code} without an error message ({tail})"),
            None => "the modal CLI was killed by a signal".to_owned(),
        });
    }
    let lower = error.to_ascii_lowercase();
    if error.starts_with("Token missing") {
        Verdict::Missing(error)
    } else if lower.contains("modal profile")
        && (lower.contains("was not found")
            || lower.contains("is active")
            || lower.contains("more than one"))
    {
        Verdict::Profile(error)
    } else if lower.contains("oauth")
        && (lower.contains("cannot both") || lower.contains("must be"))
    {
        Verdict::Incomplete(error)
    } else if lower.contains("could not connect") {
        Verdict::Network(error)
    } else if lower.contains("expired") {
        Verdict::Expired {
            info: None,
            message: error,
        }
    } else if ["token", "auth", "credential", "unauthenticated"]
        .iter()
        .any(|word| lower.contains(word))
    {
        Verdict::Invalid(error)
    } else {
        Verdict::Unknown(error)
    }
}

/// The text after `Error: ` on stderr (with any continuation lines), or empty.
fn error_text(stderr: &str) -> String {
    let Some(start) = stderr.find("Error: ") else {
        return String::new();
    };
    let text = stderr[start + "Error: ".len()..].trim();
    let text: String = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    truncate(&text, 600)
}

fn last_line(text: &str) -> String {
    truncate(
        text.lines()
            .rev()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or(""),
        300,
    )
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

fn parse_info(stdout: &str) -> TokenInfo {
    let mut info = TokenInfo::default();
    for line in stdout.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Workspace:") {
            info.workspace = Some(strip_id(rest));
        } else if let Some(rest) = line.strip_prefix("User:") {
            info.user = Some(strip_id(rest));
        } else if let Some(rest) = line.strip_prefix("Service User:") {
            info.user = Some(strip_id(rest));
            info.service_user = true;
        } else if let Some(rest) = line.strip_prefix("Name:") {
            info.token_name = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("Expires at:") {
            let rest = rest.trim();
            info.expires_text = Some(rest.to_owned());
            info.expires_at = parse_timestamp(rest);
        }
    }
    info
}

/// `fake-ws (ac-fake)` → `fake-ws`.
fn strip_id(text: &str) -> String {
    let text = text.trim();
    match text.rfind(" (") {
        Some(index) if text.ends_with(')') => text[..index].trim().to_owned(),
        _ => text.to_owned(),
    }
}

/// `2020-09-13 12:26:40 UTC`: the child runs with `TZ=UTC`, so the zone is UTC.
fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let head = text.get(..19)?;
    let zone = text.get(19..).unwrap_or("").trim();
    if !(zone.is_empty() || zone == "UTC" || zone == "GMT" || zone == "+0000") {
        return None;
    }
    PrimitiveDateTime::parse(head, &format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// Every known credential value, and anything credential-shaped, masked by the one
/// redaction rule ([`crate::redact`]). Applied to all CLI text before it reaches a message.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    crate::redact(text, secrets).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-09-01 00:00:00 UTC);

    #[test]
    fn success_output_is_valid_with_workspace_and_user() {
        let stdout = "(Using MODAL_TOKEN_ID and MODAL_TOKEN_SECRET environment variables)\nToken: ak-goodtoken0000000000\nWorkspace: fake-ws (ac-fake)\nUser: fakeuser (us-fake)\nCreated at: 2023-11-14 22:13:20 UTC\nExpires at: 2030-01-01 00:00:00 UTC\n";
        let Verdict::Valid(info) = classify(Some(0), stdout, "", NOW) else {
            panic!("not valid")
        };
        assert_eq!(info.workspace.as_deref(), Some("fake-ws"));
        assert_eq!(info.user.as_deref(), Some("fakeuser"));
        assert_eq!(info.expires_at, Some(datetime!(2030-01-01 00:00:00 UTC)));
    }

    #[test]
    fn past_expiry_is_expired() {
        let stdout = "Token: ak-x\nWorkspace: w (ac-w)\nUser: u (us-u)\nExpires at: 2020-09-13 12:26:40 UTC\n";
        assert!(matches!(
            classify(Some(0), stdout, "", NOW),
            Verdict::Expired { info: Some(_), .. }
        ));
    }

    #[test]
    fn service_user_and_name_are_read() {
        let stdout = "Token: ak-x\nName: ci\nWorkspace: w (ac-w)\nService User: bot (su-1)\nCreated By: alice (us-1)\n";
        let Verdict::Valid(info) = classify(Some(0), stdout, "", NOW) else {
            panic!()
        };
        assert_eq!(info.user.as_deref(), Some("bot"));
        assert!(info.service_user);
        assert_eq!(info.token_name.as_deref(), Some("ci"));
    }

    type Check = fn(&Verdict) -> bool;

    #[test]
    fn errors_are_told_apart() {
        let cases: &[(&str, Check)] = &[
            (
                "Error: Token missing. Could not authenticate client.",
                |v| matches!(v, Verdict::Missing(_)),
            ),
            (
                "Error: Modal profile 'x' was not found in /h/.modal.toml. Run …",
                |v| matches!(v, Verdict::Profile(_)),
            ),
            (
                "Error: More than one Modal profile is active. Please fix",
                |v| matches!(v, Verdict::Profile(_)),
            ),
            (
                "Error: No Modal profile is active.\n\nPlease fix by running",
                |v| matches!(v, Verdict::Profile(_)),
            ),
            ("Error: Could not connect to the Modal server.", |v| {
                matches!(v, Verdict::Network(_))
            }),
            ("Error: Token has expired.", |v| {
                matches!(v, Verdict::Expired { info: None, .. })
            }),
            ("Error: Token validation failed", |v| {
                matches!(v, Verdict::Invalid(_))
            }),
            ("Error: Token ID is malformed", |v| {
                matches!(v, Verdict::Invalid(_))
            }),
            ("Error: Old client", |v| matches!(v, Verdict::Unknown(_))),
            ("\nAborted!", |v| matches!(v, Verdict::Unknown(_))),
            (
                "Error: Modal token credentials and OAuth credentials cannot both be configured.",
                |v| matches!(v, Verdict::Incomplete(_)),
            ),
        ];
        for (stderr, check) in cases {
            let verdict = classify(Some(1), "", stderr, NOW);
            assert!(check(&verdict), "{stderr:?} → {verdict:?}");
        }
        let broken = classify(
            Some(1),
            "# Something with the Modal installation seems broken.",
            "Traceback …\nInvalidError: \nError when reading the modal configuration from `/x`.",
            NOW,
        );
        assert!(matches!(broken, Verdict::Config(_)), "{broken:?}");
        assert!(matches!(
            classify(Some(2), "", "Error: No such command 'info'.", NOW),
            Verdict::Unknown(_)
        ));
        assert!(matches!(classify(None, "", "", NOW), Verdict::Unknown(_)));
    }

    #[test]
    fn scrub_masks_known_values_and_token_shapes() {
        let text = "Invalid token_id=ak-goodtoken0000000000 for x; secret=as-zzzzzzzzzzzzzzzzzz plain=hunter2hunter2";
        let out = scrub(text, &["hunter2hunter2"]);
        assert!(!out.contains("ak-goodtoken0000000000"), "{out}");
        assert!(!out.contains("as-zzzzzzzzzzzzzzzzzz"), "{out}");
        assert!(!out.contains("hunter2hunter2"), "{out}");
        assert!(out.contains("ak-****"), "{out}");
        assert_eq!(scrub("mask-me not", &[]), "mask-me not");
    }
}
