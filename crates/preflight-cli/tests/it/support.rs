//! Shared fixtures: the binary, an emulator with known tokens, and leak assertions.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hub_emulator::{BackgroundEmulator, EmulatorConfig, ScopedPermission, TokenRole, TokenSpec};
use tempfile::TempDir;

pub const WRITE_TOKEN: &str = "hf_WriteTokenAbcdefghijklmnopqrstuvwxyzAB";
pub const READ_TOKEN: &str = "hf_ReadTokenAbcdefghijklmnopqrstuvwxyzABC";
pub const REVOKED_TOKEN: &str = "hf_RevokedTokenAbcdefghijklmnopqrstuvwxy";
pub const OTHER_ORG_TOKEN: &str = "hf_OtherOrgTokenAbcdefghijklmnopqrstuvwx";
pub const ALL_TOKENS: &[&str] = &[WRITE_TOKEN, READ_TOKEN, REVOKED_TOKEN, OTHER_ORG_TOKEN];

pub fn emulator() -> BackgroundEmulator {
    let token = |token: &str, role: TokenRole, revoked: bool| TokenSpec {
        token: token.to_owned(),
        user: "alice".to_owned(),
        orgs: vec!["acme".to_owned()],
        role,
        display_name: Some("test-token".to_owned()),
        revoked,
    };
    let config = EmulatorConfig {
        tokens: vec![
            token(WRITE_TOKEN, TokenRole::Write, false),
            token(READ_TOKEN, TokenRole::Read, false),
            token(REVOKED_TOKEN, TokenRole::Write, true),
            token(
                OTHER_ORG_TOKEN,
                TokenRole::FineGrained {
                    scoped: vec![ScopedPermission {
                        entity_type: "org".to_owned(),
                        entity_name: "other-org".to_owned(),
                        permissions: vec!["repo.content.read".to_owned(), "repo.write".to_owned()],
                    }],
                    global: Vec::new(),
                },
                false,
            ),
        ],
        ..EmulatorConfig::default()
    };
    hub_emulator::start_in_background(config).expect("emulator starts")
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

/// Fails if any known token appears in the output or the log.
pub fn assert_no_token(run: &Run, log: &str) {
    for token in ALL_TOKENS {
        assert!(
            !run.stdout.contains(token),
            "token leaked to stdout:\n{}",
            run.stdout
        );
        assert!(
            !run.stderr.contains(token),
            "token leaked to stderr:\n{}",
            run.stderr
        );
        assert!(!log.contains(token), "token leaked to the auth log:\n{log}");
    }
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
