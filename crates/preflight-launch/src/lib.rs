//! Pre-flight, then spawn: signal forwarding and exit status.
//!
//! This crate starts the command behind `preflight run -- COMMAND [ARGS…]` (and
//! `preflight train`), once the CLI's credential checks have passed, and supervises it until
//! it ends. It does not run the checks itself: the CLI does that with `preflight_auth` and
//! passes a secret-free [`CheckSummary`] per passed check, which is logged in
//! `launch_started`. [`Requirements`] decides which checks a command needs (Modal whenever
//! the command is `modal …`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), preflight_launch::LaunchError> {
//! use preflight_launch::{LaunchSpec, launch};
//!
//! let spec = LaunchSpec::new("modal", ["run", "src/train_dit.py"]);
//! let report = launch(&spec).await?;
//! std::process::exit(i32::from(report.exit_code));
//! # }
//! ```
//!
//! # Process groups, the terminal and signals
//!
//! The child is started **in a process group of its own** (`process_group(0)`), with stdout
//! and stderr inherited, so it writes straight to the terminal and still sees a TTY there
//! (Rich progress output keeps working). The launcher stays in the terminal's foreground
//! process group. Consequences, and why:
//!
//! * **Ctrl-C typed at the terminal** reaches only the foreground group, i.e. the launcher,
//!   which forwards it to the child's group as one `SIGINT`. A `SIGINT` sent to the
//!   launcher's pid (`kill -INT`) takes the same path. So the child sees **each interrupt
//!   exactly once**, whichever way it was sent. (Had the child stayed in the launcher's group,
//!   a typed Ctrl-C would reach it directly *and* through the launcher: twice, which `modal`
//!   takes as "stop hard now".) The launcher, not the child, therefore knows that the user
//!   interrupted, which is what lets it report 130 instead of `modal`'s unreliable 0/1/130.
//! * **Each further `SIGINT`** is forwarded as a further `SIGINT` (a second one is `modal`'s
//!   own hard stop).
//! * **`SIGTERM`, `SIGHUP` and `SIGQUIT`** (Ctrl-\\) sent to the launcher are forwarded as
//!   **`SIGINT`**: `modal` has no `SIGTERM` handler and would die without telling the server
//!   to stop the app, whereas `SIGINT` disconnects it cleanly. Left to its default, `SIGQUIT`
//!   would kill the launcher and leave the child unsupervised.
//! * **Grace period.** The first forwarded interrupt starts a timer ([`LaunchSpec::kill_grace`],
//!   default [`DEFAULT_KILL_GRACE`], never 10 s or less for users because `modal` waits up to
//!   10 s for the final logs). If the child is still running when it ends, the **whole group**
//!   gets `SIGKILL` and the report carries a warning that the remote Modal app may still be
//!   running.
//! * **Nothing outlives the launch.** When the child ends, any process still in its group
//!   (a helper it left behind) is killed with `SIGKILL`. A process that leaves the group on
//!   purpose (`setsid`, a daemon) is out of reach, and so is everything if the launcher itself
//!   is killed with `SIGKILL` (no handler can run).
//!
//! **Trade-off: the terminal's input.** A process in a background process group that reads
//! the terminal is stopped by `SIGTTIN` (and one that changes terminal modes, by `SIGTTOU`),
//! which would hang the launch silently. The alternative, making the child's group the
//! terminal's foreground group with `tcsetpgrp`, would hand Ctrl-C to the child directly and
//! the launcher could no longer tell an interrupted run from a failed one, nor count
//! interrupts. `modal run` only writes to the terminal, so the launcher keeps the foreground
//! and, **when stdin is a terminal, gives the child `/dev/null` as stdin** (a prompt then sees
//! end-of-file and fails instead of hanging). When stdin is a pipe or file, it is inherited.
//! Interactive commands (`modal shell`, `modal run -i`, prompts) should be run directly,
//! after `preflight check modal`. If the user sets `stty tostop`, writes from the child would
//! stop it too; that is not the default.
//!
//! Job control (`Ctrl-Z`) stops only the launcher; the child keeps running until `fg`.
//!
//! Signals that arrive within microseconds of each other may be delivered to the launcher as
//! one (the kernel coalesces pending signals), so the child never sees *more* interrupts than
//! were sent, possibly fewer when they are sent back to back by a program.
//!
//! # Exit status
//!
//! | Situation | Status |
//! |---|---|
//! | The child exits by itself | its own code (0, 1, 3, …) |
//! | The child is killed by signal N (not after an interrupt from us) | 128 + N (137 for `SIGKILL`) |
//! | The launcher received `SIGINT` and forwarded it | **130**, whatever the child returned (`modal` returns 0, 1 or 130 after Ctrl-C) |
//! | The launcher received `SIGTERM` / `SIGHUP` (forwarded as `SIGINT`) | 143 / 129 |
//! | … and the child had to be killed after the grace period | the same 130 / 143 / 129, plus a warning |
//! | The command was not found (`PF301`) | [`EXIT_NOT_FOUND`] = 127 |
//! | The command was found but cannot be executed (`PF302`) | [`EXIT_NOT_EXECUTABLE`] = 126 |
//! | The launcher itself failed to start or supervise it (`PF303`) | [`EXIT_LAUNCH_FAILED`] = 125 |
//!
//! 125–127 are the launcher's own range (the same convention as `env`, `timeout` and
//! `docker run`). A child may of course exit with 125–127 itself; the launcher's own failures
//! are the ones that print an `error[PF30x]` block and log `launch_failed`.
//!
//! # Log events (target `preflight::launch`)
//!
//! | `event` | fields |
//! |---|---|
//! | `launch_started` | `command` (the program's file name, never its arguments), `child_pid`, `checks` (`modal,hf`), `identities` (masked tokens and identities of the passed checks), `kill_grace_ms`, `stdin` (`inherit`/`null`) |
//! | `launch_signal_forwarded` | `command`, `child_pid`, `received` (`SIGINT`/`SIGTERM`/`SIGHUP`), `sent` (`SIGINT`), `count` |
//! | `launch_killed` | `command`, `child_pid`, `grace_ms` (WARN: the remote app may still be running) |
//! | `launch_finished` | `command`, `child_pid`, `exit_status`, `duration_ms`, `signal` (the signal that ended the child, or empty), `interrupted_by`, `signals_forwarded`, `killed_after_grace`, `stray_processes_killed` |
//! | `launch_failed` | `command`, `code` (`PF301`…), `exit_status`, `reason` |
//! | `launch_refused` (logged by the CLI) | `command`, `checks`, `code` of the failed check: nothing was started |
//!
//! Arguments are never logged: `modal token set --token-secret …` would put a secret there.

mod error;
mod plan;
mod resolve;
mod status;
mod supervise;

pub use error::LaunchError;
pub use plan::{Requirements, invokes_modal};
pub use resolve::{DEFAULT_PATH, resolve_program};
pub use status::{ChildEnd, exit_code, signal_name};
pub use supervise::{
    CheckSummary, DEFAULT_KILL_GRACE, LaunchReport, LaunchSpec, MIN_KILL_GRACE, StdinMode,
    check_kill_grace, launch,
};

/// Exit status when the launcher itself could not start or supervise the command (PF303).
pub const EXIT_LAUNCH_FAILED: u8 = 125;
/// Exit status when the command exists but cannot be executed (PF302).
pub const EXIT_NOT_EXECUTABLE: u8 = 126;
/// Exit status when the command was not found (PF301).
pub const EXIT_NOT_FOUND: u8 = 127;
/// Exit status after a forwarded `SIGINT` (128 + 2).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The `tracing` target of every launch event.
pub const LOG_TARGET: &str = "preflight::launch";
