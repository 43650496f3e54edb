//! Shared fixtures: the binary, an emulator with known tokens, and leak assertions.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hub_emulator::BackgroundEmulator;
pub use preflight_test_support::tokens::{
    ALL_TOKENS, OTHER_ORG_TOKEN, READ_TOKEN, REVOKED_TOKEN, WRITE_TOKEN,
};
use tempfile::TempDir;

/// The Hub emulator with the fixture tokens of `alice` (org `acme`).
pub fn emulator() -> BackgroundEmulator {
    preflight_test_support::hub::start_alice_hub()
}

/// A scratch home with no credentials, and the auth log inside it.
pub struct Sandbox {
    pub dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("logs/auth.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `preflight` with an empty environment except PATH, HOME and the auth log.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_preflight"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("PREFLIGHT_AUTH_LOG", self.log_path())
            .env("PREFLIGHT_TEST_NO_RETRY_DELAY", "1")
            .current_dir(self.dir.path());
        // Under `cargo llvm-cov` the binary is instrumented; keep its profile output path so
        // the CLI's own lines count towards coverage (the variable holds no secret).
        if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
            command.env("LLVM_PROFILE_FILE", profile);
        }
        command
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("preflight runs");
    Run {
        code: status.code().expect("exited normally, not by a signal"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Fails if any fixture token appears in the output or the log.
pub fn assert_no_token(run: &Run, log: &str) {
    preflight_test_support::assert_no_secret(
        [
            ("stdout", run.stdout.as_str()),
            ("stderr", run.stderr.as_str()),
            ("the auth log", log),
        ],
        ALL_TOKENS,
    );
}

/// The STATUS column of `provider`'s row in `preflight check`'s table (`VALID`, `INVALID`, …),
/// so a test tells `VALID` from `INVALID` instead of matching a substring of both.
pub fn table_status<'a>(stdout: &'a str, provider: &str) -> Option<&'a str> {
    stdout.lines().find_map(|line| {
        let mut columns = line.split_whitespace();
        (columns.next() == Some(provider))
            .then(|| columns.next())
            .flatten()
    })
}

/// The `status` of every `token_validated` event in the auth log, in order.
pub fn logged_statuses(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "token_validated")
        .filter_map(|event| event["fields"]["status"].as_str().map(str::to_owned))
        .collect()
}

pub fn write_file(path: &Path, contents: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, contents).expect("write");
}
