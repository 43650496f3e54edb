//! `preflight run -- modal run …` and `preflight train` with the **real** `modal` CLI (1.6.4)
//! talking to the fake control plane in `tools/fake-modal/fake_modal.py`.
//!
//! The job is `examples/modal/hello_local.py`, an app with only a local entrypoint, which the
//! fake can take end to end (`AppCreate` … `AppClientDisconnect`, see tools/fake-modal/README.md).
//! Both the check (`modal token info` → `TokenInfoGet`) and the job go through the same fake,
//! whose `--record` file shows which RPCs each run made.
//!
//! Needs the workspace venv (`scripts/test.sh` creates it): `PREFLIGHT_TEST_MODAL_CLI` and
//! `PREFLIGHT_TEST_PYTHON` override the default `<workspace>/.venv/bin/{modal,python}`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use preflight_test_support::modal::{
    ALL_CREDENTIALS, BAD_ID, BAD_SECRET, FakeModal, GOOD_ID, GOOD_SECRET, modal_cli, workspace,
};
use tempfile::TempDir;

use crate::support::{Run, run};

const HELLO: &str = "examples/modal/hello_local.py";
const GREETING: &str = "hello from the local entrypoint";

/// Every RPC the fake answers for `modal token info` and a local-entrypoint `modal run`.
const ANSWERED: &[&str] = &[
    "TokenInfoGet",
    "AppCreate",
    "EnvironmentGetOrCreate",
    "AppPublish",
    "AppHeartbeat",
    "AppGetLogs",
    "AppClientDisconnect",
    "AppStop",
];

/// The directory holding the real `modal`, first on the job's PATH.
fn modal_bin_dir() -> PathBuf {
    modal_cli().parent().expect("modal's directory").to_owned()
}

/// A scratch HOME and auth log for one `preflight` run.
struct Case {
    dir: TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        Case { dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("auth.log")).unwrap_or_default()
    }

    /// `preflight ARGS` from the workspace root (so `examples/modal/…` resolves), with an
    /// empty environment except PATH (the real `modal` first), HOME, the fake and the token.
    fn preflight(&self, fake: &FakeModal, token: (&str, &str), args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_preflight"));
        command
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", modal_bin_dir().display()),
            )
            .env("HOME", self.dir.path().join("home"))
            .env("PREFLIGHT_AUTH_LOG", self.dir.path().join("auth.log"))
            .env("MODAL_SERVER_URL", &fake.url)
            .env("MODAL_TOKEN_ID", token.0)
            .env("MODAL_TOKEN_SECRET", token.1)
            // Importing the example must not leave a __pycache__ in the checkout.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(workspace())
            .args(args);
        command
    }
}

fn assert_no_modal_secret(result: &Run, log: &str) {
    preflight_test_support::assert_no_secret(
        [
            ("stdout", result.stdout.as_str()),
            ("stderr", result.stderr.as_str()),
            ("the auth log", log),
        ],
        ALL_CREDENTIALS,
    );
}

/// The check (`TokenInfoGet`) came first, then one full local-entrypoint app run, and nothing
/// the fake does not answer.
fn assert_checked_then_ran(rpcs: &[String]) {
    let position = |name: &str| {
        rpcs.iter()
            .position(|rpc| rpc == name)
            .unwrap_or_else(|| panic!("no {name} in {rpcs:?}"))
    };
    assert_eq!(
        rpcs.first().map(String::as_str),
        Some("TokenInfoGet"),
        "{rpcs:?}"
    );
    let created = position("AppCreate");
    assert!(created > 0, "{rpcs:?}");
    assert!(position("EnvironmentGetOrCreate") > 0, "{rpcs:?}");
    let published = position("AppPublish");
    assert!(created < published, "{rpcs:?}");
    assert!(published < position("AppClientDisconnect"), "{rpcs:?}");
    position("AppGetLogs");
    for rpc in rpcs {
        assert!(
            ANSWERED.contains(&rpc.as_str()),
            "`modal run` called {rpc}, which the fake does not answer: {rpcs:?}"
        );
    }
}

fn assert_launch_events(log: &str, exit_status: i32) {
    let started = log
        .find(r#""event":"launch_started""#)
        .unwrap_or_else(|| panic!("no launch_started:\n{log}"));
    let finished = log
        .find(r#""event":"launch_finished""#)
        .unwrap_or_else(|| panic!("no launch_finished:\n{log}"));
    assert!(started < finished, "{log}");
    let line = log[finished..].lines().next().unwrap_or_default();
    assert!(
        line.contains(&format!(r#""exit_status":{exit_status}"#)),
        "{line}"
    );
}

/// How long the bare `modal` takes to start here (`import modal` dominates).
fn modal_startup() -> Duration {
    let started = Instant::now();
    let status = Command::new(modal_bin_dir().join("modal"))
        .arg("--version")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdout(Stdio::null())
        .status()
        .expect("modal --version");
    assert!(status.success());
    started.elapsed()
}

#[test]
fn real_modal_bad_token_stops_the_launch_before_modal_run() {
    let fake = FakeModal::start();
    let startup = modal_startup();
    let case = Case::new();

    let started = Instant::now();
    let result = run(&mut case.preflight(
        &fake,
        (BAD_ID, BAD_SECRET),
        &["run", "--", "modal", "run", HELLO],
    ));
    let elapsed = started.elapsed();

    assert_eq!(
        result.code, 11,
        "Invalid's exit status (PF105); stderr:\n{}",
        result.stderr
    );
    let rpcs = fake.take_rpcs();
    assert!(rpcs.contains(&"TokenInfoGet".to_owned()), "{rpcs:?}");
    assert!(
        !rpcs.contains(&"AppCreate".to_owned()),
        "`modal run` was started: {rpcs:?}"
    );
    for step in [
        "PF105",
        "modal token new",
        "modal token set --token-id",
        "was not started",
    ] {
        assert!(
            result.stderr.contains(step),
            "missing `{step}`:\n{}",
            result.stderr
        );
    }
    assert!(
        !result.stdout.contains(GREETING),
        "the job ran:\n{}",
        result.stdout
    );
    let log = case.log();
    assert!(log.contains(r#""event":"launch_refused""#), "{log}");
    assert!(!log.contains(r#""event":"launch_started""#), "{log}");
    assert_no_modal_secret(&result, &log);

    // The plan's bound is 5 s. The check is one `modal token info`, so it cannot beat the CLI's
    // own start-up; on a loaded machine allow three start-ups when that is more.
    let bound = Duration::from_secs(5).max(startup * 3);
    assert!(
        elapsed < bound,
        "refused after {elapsed:?} (bound {bound:?}; `modal --version` took {startup:?})"
    );
}

#[test]
fn real_modal_good_token_runs_the_local_entrypoint_to_completion() {
    let fake = FakeModal::start();

    // `preflight run -- modal run …`
    let case = Case::new();
    let result = run(&mut case.preflight(
        &fake,
        (GOOD_ID, GOOD_SECRET),
        &["run", "--", "modal", "run", HELLO],
    ));
    assert_eq!(result.code, 0, "stderr:\n{}", result.stderr);
    assert!(
        result.stdout.contains(&format!("{GREETING}, preflight")),
        "stdout:\n{}\nstderr:\n{}",
        result.stdout,
        result.stderr
    );
    assert!(
        !result
            .stderr
            .contains("Timed out waiting for final app logs"),
        "the fake left AppGetLogs open:\n{}",
        result.stderr
    );
    assert_checked_then_ran(&fake.take_rpcs());
    let log = case.log();
    assert!(log.contains(r#""event":"token_validated""#), "{log}");
    // The check was the native call: `modal`, and so Python, started only for the job.
    assert!(log.contains(r#""via":"native""#), "{log}");
    assert_launch_events(&log, 0);
    assert_no_modal_secret(&result, &log);

    // `preflight train SCRIPT -- ARGS` is `modal run SCRIPT ARGS` with the Modal check.
    let case = Case::new();
    let result = run(&mut case.preflight(
        &fake,
        (GOOD_ID, GOOD_SECRET),
        &["train", HELLO, "--", "--name", "train"],
    ));
    assert_eq!(result.code, 0, "stderr:\n{}", result.stderr);
    assert!(
        result.stdout.contains(&format!("{GREETING}, train")),
        "stdout:\n{}\nstderr:\n{}",
        result.stdout,
        result.stderr
    );
    assert_checked_then_ran(&fake.take_rpcs());
    let log = case.log();
    assert_launch_events(&log, 0);
    assert_no_modal_secret(&result, &log);
}

#[test]
fn real_modal_failing_entrypoint_status_passes_through() {
    let fake = FakeModal::start();
    let case = Case::new();
    let result = run(&mut case.preflight(
        &fake,
        (GOOD_ID, GOOD_SECRET),
        &["run", "--", "modal", "run", HELLO, "--fail"],
    ));
    assert_eq!(result.code, 1, "stderr:\n{}", result.stderr);
    assert!(result.stdout.contains(GREETING), "{}", result.stdout);
    assert!(
        result.stderr.contains("failed on purpose"),
        "the entrypoint's exception reaches stderr:\n{}",
        result.stderr
    );
    // The check passed and the app was disconnected cleanly after the local exception.
    assert_checked_then_ran(&fake.take_rpcs());
    let log = case.log();
    assert_launch_events(&log, 1);
    assert_no_modal_secret(&result, &log);
}

#[test]
fn real_modal_check_reports_workspace_and_rejects_a_bad_token() {
    let fake = FakeModal::start();
    let case = Case::new();
    let good =
        run(&mut case.preflight(&fake, (GOOD_ID, GOOD_SECRET), &["check", "modal", "--json"]));
    assert_eq!(good.code, 0, "stderr:\n{}", good.stderr);
    let document: serde_json::Value = serde_json::from_str(&good.stdout).expect("JSON");
    let modal = &document["results"][0];
    assert_eq!(modal["provider"], "modal");
    assert_eq!(modal["status"], "VALID");
    assert!(modal["identity"]["workspace"].is_string(), "{modal}");
    assert_eq!(
        modal["source"]
            .as_str()
            .map(|source| source.contains("env:MODAL_TOKEN_ID")),
        Some(true),
        "{modal}"
    );

    let bad = run(&mut case.preflight(&fake, (BAD_ID, BAD_SECRET), &["check", "modal"]));
    assert_eq!(bad.code, 11, "stderr:\n{}", bad.stderr);
    assert!(bad.stdout.contains("INVALID"), "{}", bad.stdout);
    assert!(bad.stderr.contains("error[PF105]"), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("modal token"),
        "the setup command is in the hint: {}",
        bad.stderr
    );

    let log = case.log();
    assert!(
        log.contains(r#""provider":"modal""#),
        "the auth log records Modal checks: {log}"
    );
    assert_no_modal_secret(&good, &log);
    assert_no_modal_secret(&bad, &log);
}
