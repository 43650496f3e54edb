//! Starting the child in its own process group and supervising it: forwarding interrupts,
//! the grace period, cleanup and the exit status. See the crate docs for the rules.

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use crate::status::{ChildEnd, exit_code, signal_name};
use crate::{LaunchError, resolve_program};

/// The grace period must be longer than this: `modal run` waits up to 10 s for the app's
/// final logs after an interrupt before it exits.
pub const MIN_KILL_GRACE: Duration = Duration::from_secs(10);

/// The grace period between the first forwarded interrupt and `SIGKILL`, unless configured.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(30);

/// A secret-free summary of one check that passed, for the `launch_started` event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckSummary {
    /// `modal` or `hf`.
    pub provider: String,
    /// The masked credential (`ak-…1234`), never the credential.
    pub masked_token: Option<String>,
    /// Who it belongs to (`alice @ my-workspace`).
    pub identity: Option<String>,
}

impl CheckSummary {
    fn describe(&self) -> String {
        let mut text = format!(
            "{}:{}",
            self.provider,
            self.masked_token.as_deref().unwrap_or("-")
        );
        if let Some(identity) = &self.identity {
            text.push_str(&format!(" ({identity})"));
        }
        text
    }
}

/// What the child gets as standard input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StdinMode {
    /// `/dev/null` when the launcher's stdin is a terminal (a background process group
    /// reading the terminal would be stopped by `SIGTTIN`), inherited otherwise.
    #[default]
    Auto,
    /// Always inherit the launcher's stdin.
    Inherit,
    /// Always `/dev/null`.
    Null,
}

/// What to launch and how.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    program: OsString,
    args: Vec<OsString>,
    env: Option<Vec<(OsString, OsString)>>,
    kill_grace: Duration,
    checks: Vec<CheckSummary>,
    stdin: StdinMode,
}

/// Checks a user-chosen grace period: it must be longer than [`MIN_KILL_GRACE`].
pub fn check_kill_grace(grace: Duration) -> Result<Duration, String> {
    if grace > MIN_KILL_GRACE {
        Ok(grace)
    } else {
        Err(format!(
            "the kill grace period must be longer than {} s (modal waits up to 10 s for the app's final logs); got {:.1} s",
            MIN_KILL_GRACE.as_secs(),
            grace.as_secs_f64()
        ))
    }
}

impl LaunchSpec {
    /// `program` with `args`, the launcher's environment, the default grace period.
    pub fn new<P, I, A>(program: P, args: I) -> LaunchSpec
    where
        P: Into<OsString>,
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        LaunchSpec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: None,
            kill_grace: DEFAULT_KILL_GRACE,
            checks: Vec::new(),
            stdin: StdinMode::Auto,
        }
    }

    /// Sets the grace period before `SIGKILL`; it must be longer than [`MIN_KILL_GRACE`].
    pub fn with_kill_grace(mut self, grace: Duration) -> Result<LaunchSpec, String> {
        self.kill_grace = check_kill_grace(grace)?;
        Ok(self)
    }

    /// Sets any grace period, however short. For tests only (`PREFLIGHT_TEST_KILL_GRACE_MS`).
    #[doc(hidden)]
    #[must_use]
    pub fn with_kill_grace_unchecked(mut self, grace: Duration) -> LaunchSpec {
        self.kill_grace = grace;
        self
    }

    /// Replaces the child's whole environment (and the `PATH` the program is looked up in).
    #[must_use]
    pub fn with_env<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> LaunchSpec
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.env = Some(
            vars.into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
        );
        self
    }

    /// The checks that passed, for the `launch_started` event.
    #[must_use]
    pub fn with_checks(mut self, checks: Vec<CheckSummary>) -> LaunchSpec {
        self.checks = checks;
        self
    }

    /// What the child gets as stdin.
    #[must_use]
    pub fn with_stdin(mut self, stdin: StdinMode) -> LaunchSpec {
        self.stdin = stdin;
        self
    }

    /// The program as given.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// The grace period before `SIGKILL`.
    pub fn kill_grace(&self) -> Duration {
        self.kill_grace
    }

    /// The program's file name, which is all the log says about the command.
    pub fn command_name(&self) -> String {
        Path::new(&self.program)
            .file_name()
            .unwrap_or(&self.program)
            .to_string_lossy()
            .into_owned()
    }

    fn path_var(&self) -> Option<OsString> {
        match &self.env {
            Some(vars) => vars
                .iter()
                .rev()
                .find(|(key, _)| key == "PATH")
                .map(|(_, value)| value.clone()),
            None => std::env::var_os("PATH"),
        }
    }
}

/// How a launch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchReport {
    /// The status the launcher should exit with (see the crate docs' table).
    pub exit_code: u8,
    /// How the child itself ended.
    pub child: ChildEnd,
    /// The child's pid, which is also its process group id.
    pub pid: u32,
    /// The first signal the launcher received and forwarded (`SIGINT`, `SIGTERM`, `SIGHUP`,
    /// `SIGQUIT`).
    pub interrupted_by: Option<i32>,
    /// How many `SIGINT`s were sent to the child's group.
    pub signals_forwarded: u32,
    /// The child outlived the grace period and its group was killed with `SIGKILL`.
    pub killed_after_grace: bool,
    /// Processes were still in the child's group after it ended and were killed.
    pub stray_processes_killed: bool,
    /// From start to end.
    pub duration: Duration,
    /// Things the user must know (the remote app may still be running).
    pub warnings: Vec<String>,
}

/// Resolves the program, starts it in its own process group and supervises it to the end.
/// Errors are the launcher's own failures (nothing was started, or it was killed).
pub async fn launch(spec: &LaunchSpec) -> Result<LaunchReport, LaunchError> {
    let command = spec.command_name();
    let result = run(spec, &command).await;
    if let Err(error) = &result {
        tracing::error!(
            target: "preflight::launch",
            event = "launch_failed",
            command = %command,
            code = error.code().as_str(),
            exit_status = error.exit_code(),
            reason = %error,
            "the command could not be launched"
        );
    }
    result
}

async fn run(spec: &LaunchSpec, command_name: &str) -> Result<LaunchReport, LaunchError> {
    let path_var = spec.path_var();
    let resolved = resolve_program(&spec.program, path_var.as_deref())?;

    // Handlers go in before the child exists, so no interrupt can kill the launcher and
    // leave the child behind.
    let mut sigint = signal(SignalKind::interrupt()).map_err(LaunchError::Signals)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(LaunchError::Signals)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(LaunchError::Signals)?;
    // Ctrl-\ sends SIGQUIT to the foreground group, i.e. the launcher: left to its default it
    // would kill the launcher and leave `modal run` unsupervised in its own group.
    let mut sigquit = signal(SignalKind::quit()).map_err(LaunchError::Signals)?;

    let stdin_null = match spec.stdin {
        StdinMode::Auto => std::io::stdin().is_terminal(),
        StdinMode::Inherit => false,
        StdinMode::Null => true,
    };
    let mut command = tokio::process::Command::new(&resolved);
    command
        .arg0(&spec.program)
        .args(&spec.args)
        .process_group(0)
        .stdin(if stdin_null {
            Stdio::null()
        } else {
            Stdio::inherit()
        })
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    if let Some(vars) = &spec.env {
        command.env_clear();
        command.envs(vars.iter().map(|(key, value)| (key, value)));
    }

    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|error| spawn_error(spec, &resolved, error))?;
    // The child's pid is its process group's id. Group 0 (or a pid that does not fit) must
    // never reach killpg: 0 means the launcher's own group.
    let Some((pid, group)) = child
        .id()
        .and_then(|pid| Some((pid, i32::try_from(pid).ok().filter(|raw| *raw > 0)?)))
        .map(|(pid, raw)| (pid, Pid::from_raw(raw)))
    else {
        let _ = child.start_kill();
        return Err(LaunchError::Spawn {
            program: command_name.to_owned(),
            source: std::io::Error::other("the started process has no usable process id"),
        });
    };
    let checks: Vec<&str> = spec.checks.iter().map(|c| c.provider.as_str()).collect();
    let identities: Vec<String> = spec.checks.iter().map(CheckSummary::describe).collect();
    tracing::info!(
        target: "preflight::launch",
        event = "launch_started",
        command = %command_name,
        child_pid = pid,
        checks = %checks.join(","),
        identities = %identities.join(", "),
        kill_grace_ms = u64::try_from(spec.kill_grace.as_millis()).unwrap_or(u64::MAX),
        stdin = if stdin_null { "null" } else { "inherit" },
        "command started"
    );

    let mut state = Supervision {
        group,
        pid,
        command: command_name,
        interrupted_by: None,
        forwarded: 0,
        kill_at: None,
        killed: false,
    };
    let wait = child.wait();
    tokio::pin!(wait);
    let status = loop {
        let grace = async {
            match state.kill_at {
                Some(at) if !state.killed => tokio::time::sleep_until(at).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            status = &mut wait => break status,
            Some(()) = sigint.recv() => state.forward(Signal::SIGINT, spec.kill_grace),
            Some(()) = sigterm.recv() => state.forward(Signal::SIGTERM, spec.kill_grace),
            Some(()) = sighup.recv() => state.forward(Signal::SIGHUP, spec.kill_grace),
            Some(()) = sigquit.recv() => state.forward(Signal::SIGQUIT, spec.kill_grace),
            () = grace => state.kill(spec.kill_grace),
        }
    };
    let status = match status {
        Ok(status) => status,
        Err(source) => {
            let _ = killpg(group, Signal::SIGKILL);
            return Err(LaunchError::Wait {
                program: spec.program.to_string_lossy().into_owned(),
                pid,
                source,
            });
        }
    };

    // The child is reaped; anything still in its group was left behind by it.
    let stray_processes_killed = killpg(group, None).is_ok();
    if stray_processes_killed {
        let _ = killpg(group, Signal::SIGKILL);
    }

    let child_end = ChildEnd::from_status(status);
    let exit = exit_code(child_end, state.interrupted_by);
    let duration = started.elapsed();
    let mut warnings = Vec::new();
    if state.killed {
        warnings.push(format!(
            "`{command_name}` did not stop within {:.0} s of the interrupt and was killed (SIGKILL); if it was `modal run`, the remote app may still be running: check `modal app list` and stop it with `modal app stop APP_ID`",
            spec.kill_grace.as_secs_f64()
        ));
    }
    if stray_processes_killed {
        warnings.push(format!(
            "`{command_name}` left processes running in its process group; they were killed"
        ));
    }
    tracing::info!(
        target: "preflight::launch",
        event = "launch_finished",
        command = %command_name,
        child_pid = pid,
        exit_status = exit,
        duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        signal = %child_end.signal().map(signal_name).unwrap_or_default(),
        interrupted_by = %state.interrupted_by.map(signal_name).unwrap_or_default(),
        signals_forwarded = state.forwarded,
        killed_after_grace = state.killed,
        stray_processes_killed,
        "command finished"
    );
    Ok(LaunchReport {
        exit_code: exit,
        child: child_end,
        pid,
        interrupted_by: state.interrupted_by,
        signals_forwarded: state.forwarded,
        killed_after_grace: state.killed,
        stray_processes_killed,
        duration,
        warnings,
    })
}

struct Supervision<'a> {
    group: Pid,
    pid: u32,
    command: &'a str,
    interrupted_by: Option<i32>,
    forwarded: u32,
    kill_at: Option<Instant>,
    killed: bool,
}

impl Supervision<'_> {
    /// One signal received, one `SIGINT` sent to the child's group.
    fn forward(&mut self, received: Signal, grace: Duration) {
        self.interrupted_by.get_or_insert(received as i32);
        self.kill_at.get_or_insert_with(|| Instant::now() + grace);
        if self.killed {
            return;
        }
        match killpg(self.group, Signal::SIGINT) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(error) => tracing::warn!(
                target: "preflight::launch",
                event = "launch_signal_failed",
                command = %self.command,
                child_pid = self.pid,
                error = %error,
                "could not forward the interrupt"
            ),
        }
        self.forwarded += 1;
        tracing::info!(
            target: "preflight::launch",
            event = "launch_signal_forwarded",
            command = %self.command,
            child_pid = self.pid,
            received = received.as_str(),
            sent = "SIGINT",
            count = self.forwarded,
            "interrupt forwarded to the command"
        );
    }

    /// The grace period is over: kill the whole group.
    fn kill(&mut self, grace: Duration) {
        self.killed = true;
        let _ = killpg(self.group, Signal::SIGKILL);
        tracing::warn!(
            target: "preflight::launch",
            event = "launch_killed",
            command = %self.command,
            child_pid = self.pid,
            grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
            "the command ignored the interrupt and was killed; a remote Modal app may still be running"
        );
    }
}

fn spawn_error(spec: &LaunchSpec, resolved: &Path, error: std::io::Error) -> LaunchError {
    let program = spec.program.to_string_lossy().into_owned();
    match error.raw_os_error() {
        // The file was found, so ENOENT here is its `#!` interpreter.
        Some(libc::ENOENT) => LaunchError::NotExecutable {
            path: resolved.to_owned(),
            reason: "its interpreter (the `#!` line) was not found".to_owned(),
        },
        Some(libc::EACCES) | Some(libc::EPERM) => LaunchError::NotExecutable {
            path: resolved.to_owned(),
            reason: "permission denied".to_owned(),
        },
        Some(libc::ENOEXEC) => LaunchError::NotExecutable {
            path: resolved.to_owned(),
            reason: "not a program the system can run (exec format error)".to_owned(),
        },
        _ => LaunchError::Spawn {
            program,
            source: error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_must_exceed_ten_seconds() {
        assert!(check_kill_grace(Duration::from_secs(10)).is_err());
        assert!(check_kill_grace(Duration::from_millis(10_001)).is_ok());
        let spec = LaunchSpec::new("modal", ["run", "x.py"]);
        assert_eq!(spec.kill_grace(), DEFAULT_KILL_GRACE);
        assert!(
            spec.clone()
                .with_kill_grace(Duration::from_secs(5))
                .is_err()
        );
        assert_eq!(
            spec.with_kill_grace_unchecked(Duration::from_millis(50))
                .kill_grace(),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn command_name_is_the_file_name_only() {
        let spec = LaunchSpec::new(
            "/opt/venv/bin/modal",
            ["token", "set", "--token-secret", "x"],
        );
        assert_eq!(spec.command_name(), "modal");
    }

    #[test]
    fn summaries_describe_masked_values() {
        let summary = CheckSummary {
            provider: "modal".into(),
            masked_token: Some("ak-…1234".into()),
            identity: Some("alice @ ws".into()),
        };
        assert_eq!(summary.describe(), "modal:ak-…1234 (alice @ ws)");
    }
}
