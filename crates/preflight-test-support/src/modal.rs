//! The fake Modal control plane (`tools/fake-modal/fake_modal.py`, served over the stubs of
//! the pinned `modal` wheel), its fixture tokens, and the venv tools that talk to it.
//!
//! The fake and the real `modal` CLI (1.6.4) come from the workspace venv, which
//! `scripts/test.sh` creates: `PREFLIGHT_TEST_PYTHON` and `PREFLIGHT_TEST_MODAL_CLI` override
//! the default `<workspace>/.venv/bin/{python,modal}`.
//!
//! The fixture ids and secrets keep Modal's `ak-` / `as-` prefixes (so no "unusual shape"
//! warning), but no run of letters and digits after the prefix is long enough for the
//! redaction rule's `ak-…` / `as-…` pattern: only registration can keep them out of output.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// The token id the fake accepts as user `fakeuser` of workspace `fake-ws`, token name `laptop`.
pub const GOOD_ID: &str = "ak-good.fixture-0000";
/// The secret of [`GOOD_ID`].
pub const GOOD_SECRET: &str = "as-good.Zq7Nx-Vb4Lp.9Kd2";
/// A token the fake knows that expired in 2020 (user `olduser`, workspace `old-ws`).
pub const OLD_ID: &str = "ak-old.fixture-0001";
/// The secret of [`OLD_ID`].
pub const OLD_SECRET: &str = "as-old.Hs3Jd-Wq1Zy.7Mf4";
/// A service user's token (`ci-bot` in workspace `ci-ws`, token name `ci`, expires 2100).
pub const BOT_ID: &str = "ak-bot.fixture-0002";
/// The secret of [`BOT_ID`].
pub const BOT_SECRET: &str = "as-bot.Gt5Ke-Xr8Pn.4Qc0";
/// A token id the fake does not know (it answers UNAUTHENTICATED, echoing the id).
pub const BAD_ID: &str = "ak-bad.fixture-0003";
/// The secret of [`BAD_ID`].
pub const BAD_SECRET: &str = "as-bad.Tx2Lp-Rk5wQ.m8Yc";
/// Every fixture secret, for leak checks where a token id may legitimately appear (the fake's
/// own record of the `x-modal-token-id` it received).
pub const ALL_SECRETS: &[&str] = &[GOOD_SECRET, OLD_SECRET, BOT_SECRET, BAD_SECRET];
/// Every fixture id and secret, for leak checks of what Preflight prints and logs.
pub const ALL_CREDENTIALS: &[&str] = &[
    GOOD_ID,
    GOOD_SECRET,
    OLD_ID,
    OLD_SECRET,
    BOT_ID,
    BOT_SECRET,
    BAD_ID,
    BAD_SECRET,
];

/// The fake's `--token` specs (`ID:SECRET:WORKSPACE:USER[:EXPIRES_UNIX[:NAME]]`) for the good,
/// expired and service-user fixture tokens; [`BAD_ID`] is deliberately absent.
pub fn fixture_tokens() -> Vec<String> {
    vec![
        format!("{GOOD_ID}:{GOOD_SECRET}:fake-ws:fakeuser::laptop"),
        format!("{OLD_ID}:{OLD_SECRET}:old-ws:olduser:1600000000"),
        format!("{BOT_ID}:{BOT_SECRET}:ci-ws:service=ci-bot:4102444800:ci"),
    ]
}

/// The workspace root (where `tools/`, `examples/` and `.venv/` are).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A venv tool: `$var` when set and non-empty, else `<workspace>/.venv/bin/<default>`; fails,
/// saying how to get it, when the file does not exist.
#[track_caller]
pub fn venv_tool(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin").join(default));
    assert!(
        path.exists(),
        "{} not found; run scripts/test.sh, which creates the venv with modal==1.6.4 (or set {var})",
        path.display()
    );
    path
}

/// The real `modal` CLI (`PREFLIGHT_TEST_MODAL_CLI`, or the venv's).
#[track_caller]
pub fn modal_cli() -> PathBuf {
    venv_tool("PREFLIGHT_TEST_MODAL_CLI", "modal")
}

/// The venv's Python, which has the `modal` wheel (`PREFLIGHT_TEST_PYTHON`, or the venv's).
#[track_caller]
pub fn python() -> PathBuf {
    venv_tool("PREFLIGHT_TEST_PYTHON", "python")
}

/// How to start a [`FakeModal`]; [`FakeModal::builder`] makes one.
#[derive(Debug, Clone)]
#[must_use]
pub struct FakeModalBuilder {
    mode: Option<String>,
    tokens: Vec<String>,
    args: Vec<OsString>,
}

impl FakeModalBuilder {
    /// `--mode MODE`: `normal` (the default), `hang`, `unauthenticated-all`, `close` or
    /// `silent`. [`FakeModal::set_mode`] changes it while the fake runs.
    pub fn mode(mut self, mode: &str) -> Self {
        self.mode = Some(mode.to_owned());
        self
    }

    /// The accepted tokens, `ID:SECRET:WORKSPACE:USER[:EXPIRES_UNIX[:NAME]]`, instead of
    /// [`fixture_tokens`].
    pub fn tokens<S: Into<String>>(mut self, tokens: impl IntoIterator<Item = S>) -> Self {
        self.tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// More options for `fake_modal.py`, as given (`--port 0:close`, `--fail-first 2:UNAVAILABLE`,
    /// `--tls-cert PATH`, …). Without a `--port` here the fake listens on one free port.
    pub fn args<S: Into<OsString>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Starts the fake and waits until it listens.
    #[track_caller]
    pub fn start(self) -> FakeModal {
        let dir = tempfile::tempdir().expect("tempdir for the fake");
        let record = dir.path().join("rpcs.txt");
        let metadata = dir.path().join("metadata.jsonl");
        let control = dir.path().join("control.json");
        let mut command = Command::new(python());
        command.arg(workspace().join("tools/fake-modal/fake_modal.py"));
        for token in &self.tokens {
            command.arg("--token").arg(token);
        }
        if let Some(mode) = &self.mode {
            command.args(["--mode", mode]);
        }
        command
            .arg("--record")
            .arg(&record)
            .arg("--record-metadata")
            .arg(&metadata)
            .arg("--control-file")
            .arg(&control)
            .args(&self.args);
        if !self.args.iter().any(|arg| arg == "--port") {
            command.args(["--port", "0"]);
        }
        let mut child = command
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start fake_modal.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("the fake's stdout"))
            .read_line(&mut line)
            .expect("read the fake's banner");
        let Some(url) = line.trim().strip_prefix("fake-modal listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unexpected banner from fake_modal.py: {line:?}");
        };
        FakeModal {
            url: url.to_owned(),
            child,
            record,
            metadata,
            control,
            _dir: dir,
        }
    }
}

/// A running fake Modal control plane on `127.0.0.1`; killed on drop.
///
/// It records every RPC's method name ([`FakeModal::rpcs`]) and metadata, secrets redacted
/// ([`FakeModal::metadata`]), and re-reads a control file ([`FakeModal::set_mode`]).
#[derive(Debug)]
pub struct FakeModal {
    /// A ready `MODAL_SERVER_URL`: one URL per `--port`, comma-separated.
    pub url: String,
    child: Child,
    record: PathBuf,
    metadata: PathBuf,
    control: PathBuf,
    _dir: TempDir,
}

impl FakeModal {
    /// The fake with the [`fixture_tokens`], in mode `normal`, on one free port.
    #[track_caller]
    pub fn start() -> FakeModal {
        FakeModal::builder().start()
    }

    /// Options for starting the fake: by default the [`fixture_tokens`], mode `normal`, one
    /// free port.
    pub fn builder() -> FakeModalBuilder {
        FakeModalBuilder {
            mode: None,
            tokens: fixture_tokens(),
            args: Vec::new(),
        }
    }

    /// Each URL of [`FakeModal::url`].
    pub fn urls(&self) -> Vec<&str> {
        self.url.split(',').collect()
    }

    /// The method names of the RPCs received so far, in order.
    pub fn rpcs(&self) -> Vec<String> {
        lines(&self.record)
    }

    /// [`FakeModal::rpcs`], and a fresh record for the next run.
    pub fn take_rpcs(&self) -> Vec<String> {
        let rpcs = self.rpcs();
        let _ = std::fs::remove_file(&self.record);
        rpcs
    }

    /// One JSON line per RPC received so far (`{"method": …, "metadata": {…}}`), with the
    /// secret headers replaced by `<redacted>` by the fake itself.
    pub fn metadata(&self) -> Vec<String> {
        lines(&self.metadata)
    }

    /// The raw metadata record, to search for leaked secrets.
    pub fn metadata_text(&self) -> String {
        std::fs::read_to_string(&self.metadata).unwrap_or_default()
    }

    /// Switches the running fake to `mode` (`normal`, `hang`, `unauthenticated-all`, `close`).
    pub fn set_mode(&self, mode: &str) {
        self.control(&format!("{{\"mode\": \"{mode}\"}}"));
    }

    /// Writes the control file (`{"mode": …, "expired": "report"|"reject"}`) and gives the fake
    /// time to read it (it polls every 100 ms).
    pub fn control(&self, json: &str) {
        std::fs::write(&self.control, json).expect("write the fake's control file");
        std::thread::sleep(Duration::from_millis(400));
    }
}

impl Drop for FakeModal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
