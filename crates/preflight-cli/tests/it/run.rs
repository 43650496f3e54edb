//! `preflight run` / `preflight train` end to end with a stub `modal` on PATH.
//!
//! The stub is a Python script that answers `modal token info` like the real CLI (so the
//! Modal check can pass against it) and otherwise plays the job: it records its arguments
//! and every signal it receives to a file, and exits with the code it is told to.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{READ_TOKEN, Sandbox, WRITE_TOKEN, assert_no_token, emulator, run};

const TOKEN_ID: &str = "ak-StubTokenId00000000";
const TOKEN_SECRET: &str = "as-StubTokenSecret0000";

const STUB: &str = r#"
import os, signal, sys, time
log = os.environ.get("STUB_LOG", "/dev/null")
def note(text):
    with open(log, "a") as handle:
        handle.write(text + "\n")
if sys.argv[1:3] == ["token", "info"]:
    note("token-info")
    print("(Using MODAL_TOKEN_ID and MODAL_TOKEN_SECRET environment variables)")
    print("Token: " + os.environ.get("MODAL_TOKEN_ID", "?"))
    print("Workspace: stub-ws (ac-stub)")
    print("User: alice (us-stub)")
    sys.exit(0)
mode = os.environ.get("STUB_MODE", "exit")
code = int(os.environ.get("STUB_EXIT", "0"))
interrupts = 0
def on_signal(number, frame):
    global interrupts
    note(signal.Signals(number).name)
    if number == signal.SIGINT:
        interrupts += 1
        if mode == "wait" or (mode == "wait2" and interrupts == 2):
            sys.exit(code)
for number in (signal.SIGINT, signal.SIGTERM):
    signal.signal(number, on_signal)
note("job " + " ".join(sys.argv[1:]))
note("ready")
if mode == "exit":
    sys.exit(code)
while True:
    time.sleep(0.05)
"#;

struct Stub {
    sandbox: Sandbox,
}

impl Stub {
    fn new() -> Stub {
        let sandbox = Sandbox::new();
        let bin = sandbox.dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let python = if std::path::Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3".to_owned()
        } else {
            let output = Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .expect("python3");
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        };
        let path = bin.join("modal");
        std::fs::write(&path, format!("#!{python}\n{STUB}")).expect("stub");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Stub { sandbox }
    }

    fn stub_log_path(&self) -> PathBuf {
        self.sandbox.dir.path().join("stub.log")
    }

    fn stub_log(&self) -> String {
        std::fs::read_to_string(self.stub_log_path()).unwrap_or_default()
    }

    /// `preflight` with an empty environment: PATH = the stub + the system, no Modal config.
    fn command(&self) -> Command {
        let mut command = self.sandbox.command();
        let bin = self.sandbox.dir.path().join("bin");
        command
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env(
                "MODAL_CONFIG_PATH",
                self.sandbox.dir.path().join("missing.toml"),
            )
            .env("STUB_LOG", self.stub_log_path())
            // The stub plays `modal token info`; these tests are about launching, so the check
            // goes through the CLI path (the native one is in modal_native.rs).
            .env("PREFLIGHT_MODAL_VIA", "cli");
        command
    }

    fn with_modal_token(&self) -> Command {
        let mut command = self.command();
        command
            .env("MODAL_TOKEN_ID", TOKEN_ID)
            .env("MODAL_TOKEN_SECRET", TOKEN_SECRET);
        command
    }
}

fn assert_no_modal_secret(output: &str) {
    assert!(
        !output.contains(TOKEN_SECRET),
        "the Modal secret leaked:\n{output}"
    );
}

#[test]
fn without_modal_credentials_the_command_is_never_started() {
    let stub = Stub::new();
    let result = run(stub
        .command()
        .args(["run", "--", "modal", "run", "src/train_dit.py"]));
    assert_eq!(
        result.code, 10,
        "PF101's exit status; stderr:\n{}",
        result.stderr
    );
    assert!(
        !stub.stub_log().contains("job"),
        "stub started: {}",
        stub.stub_log()
    );
    for step in [
        "error[PF101]",
        "modal token new",
        "modal token set --token-id",
        "MODAL_TOKEN_ID",
        "modal profile activate",
        "was not started",
    ] {
        assert!(
            result.stderr.contains(step),
            "missing `{step}`:\n{}",
            result.stderr
        );
    }
    assert!(
        result.stdout.is_empty(),
        "stdout belongs to the child: {}",
        result.stdout
    );
    let log = stub.sandbox.log();
    assert!(log.contains(r#""event":"launch_refused""#), "{log}");
    assert!(!log.contains(r#""event":"launch_started""#), "{log}");
}

#[test]
fn train_is_run_require_modal() {
    let stub = Stub::new();
    let result = run(stub.command().args(["train", "src/train_dit.py"]));
    assert_eq!(result.code, 10, "{}", result.stderr);
    assert!(!stub.stub_log().contains("job"));

    let result = run(stub.with_modal_token().env("STUB_EXIT", "3").args([
        "train",
        "src/train_dit.py",
        "--",
        "--epochs",
        "2",
    ]));
    assert_eq!(result.code, 3, "{}", result.stderr);
    assert!(
        stub.stub_log()
            .contains("job run src/train_dit.py --epochs 2"),
        "{}",
        stub.stub_log()
    );
}

#[test]
fn a_passed_check_starts_the_command_and_passes_its_status_through() {
    for code in [0, 1, 3] {
        let stub = Stub::new();
        let result = run(stub
            .with_modal_token()
            .env("STUB_EXIT", code.to_string())
            .args(["run", "--", "modal", "run", "src/train_dit.py"]));
        assert_eq!(result.code, code, "{}", result.stderr);
        let stub_log = stub.stub_log();
        assert!(stub_log.contains("job run src/train_dit.py"), "{stub_log}");
        let log = stub.sandbox.log();
        // The check (`modal token info` against the same stub) came first and passed.
        let checked = log
            .find(r#""event":"token_validated""#)
            .expect("the Modal check is logged");
        let started = log
            .find(r#""event":"launch_started""#)
            .expect("launch_started is logged");
        assert!(checked < started, "{log}");
        assert!(
            log[checked..started].contains(r#""status":"VALID""#),
            "{log}"
        );
        assert!(log.contains(r#""event":"launch_finished""#), "{log}");
        assert!(log.contains(&format!(r#""exit_status":{code}"#)), "{log}");
        assert!(log.contains("alice @ stub-ws"), "identity is logged: {log}");
        assert_no_modal_secret(&result.stderr);
        assert_no_modal_secret(&result.stdout);
        assert_no_modal_secret(&log);
    }
}

#[test]
fn ctrl_c_sent_to_preflight_reaches_the_job_once_and_exits_130() {
    let stub = Stub::new();
    let mut child: Child = stub
        .with_modal_token()
        .env("STUB_MODE", "wait")
        .env("STUB_EXIT", "0")
        .args(["run", "--", "modal", "run", "src/train_dit.py"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("preflight starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stub.stub_log().contains("ready") {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the job never started: {}", stub.stub_log());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("preflight did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert_eq!(status.code(), Some(130), "{stderr}");
    let received = stub.stub_log().lines().filter(|l| *l == "SIGINT").count();
    assert_eq!(received, 1, "{}", stub.stub_log());
    let log = stub.sandbox.log();
    assert!(
        log.contains(r#""event":"launch_signal_forwarded""#),
        "{log}"
    );
    assert!(log.contains(r#""interrupted_by":"SIGINT""#), "{log}");
}

#[test]
fn a_missing_command_is_127_before_any_check() {
    let stub = Stub::new();
    let result = run(stub
        .command()
        .args(["run", "--require", "modal", "--", "no-such-tool"]));
    assert_eq!(result.code, 127, "{}", result.stderr);
    assert!(result.stderr.contains("error[PF301]"), "{}", result.stderr);
    assert!(
        result.stderr.contains("command not found"),
        "{}",
        result.stderr
    );

    let plain = stub.sandbox.dir.path().join("bin/plain");
    std::fs::write(&plain, "#!/bin/sh\n").expect("write");
    let result = run(stub.command().args(["run", "--", "plain"]));
    assert_eq!(result.code, 126, "{}", result.stderr);
    assert!(result.stderr.contains("error[PF302]"), "{}", result.stderr);
}

#[test]
fn a_grace_period_of_ten_seconds_or_less_is_refused() {
    let stub = Stub::new();
    let result = run(stub.with_modal_token().args([
        "run",
        "--kill-grace",
        "5s",
        "--",
        "modal",
        "run",
        "x.py",
    ]));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result.stderr.contains("longer than 10 s"),
        "{}",
        result.stderr
    );
    assert!(!stub.stub_log().contains("job"));
}

#[test]
fn repo_requires_a_write_capable_hf_token_before_the_job_starts() {
    let hub = emulator();
    let stub = Stub::new();
    // No HF token: refused, with the HF setup steps.
    let result = run(stub.command().env("HF_ENDPOINT", hub.url()).args([
        "run",
        "--repo",
        "acme/dit",
        "--",
        "python3",
        "-c",
        "print('job')",
    ]));
    assert_eq!(result.code, 10, "{}", result.stderr);
    assert!(result.stderr.contains("error[PF001]"), "{}", result.stderr);
    for line in [
        "\nTo set up the Hugging Face token, do one of:\n  1. hf auth login ",
        "\n  2. export HF_TOKEN=hf_…               # a token with write access to acme/dit from",
        "\n  Then confirm with: preflight check hf --repo acme/dit --need write\n",
    ] {
        assert!(result.stderr.contains(line), "{line:?}:\n{}", result.stderr);
    }
    assert!(!result.stdout.contains("job"));

    // A valid read-only token: forbidden to write, so the job never starts.
    let result = run(stub
        .command()
        .env("HF_ENDPOINT", hub.url())
        .env("HF_TOKEN", READ_TOKEN)
        .args([
            "run",
            "--repo",
            "acme/dit",
            "--",
            "python3",
            "-c",
            "print('job')",
        ]));
    assert_eq!(result.code, 13, "{}", result.stderr);
    assert!(result.stderr.contains("error[PF005]"), "{}", result.stderr);
    assert!(!result.stdout.contains("job"));
    let log = stub.sandbox.log();
    assert!(log.contains("\"token_validated\""), "{log}");
    assert_no_token(&result, &log);

    // A write token: the job runs and its stdout is its own.
    let result = run(stub
        .command()
        .env("HF_ENDPOINT", hub.url())
        .env("HF_TOKEN", WRITE_TOKEN)
        .args([
            "run",
            "--repo",
            "acme/dit",
            "--",
            "python3",
            "-c",
            "print('job')",
        ]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.stdout, "job\n");
    assert_no_token(&result, &stub.sandbox.log());
}

/// Drives `preflight run` inside a pseudo-terminal and types Ctrl-C twice: the job (in its own
/// process group) must get exactly one SIGINT per keypress, through the launcher.
const PTY_DRIVER: &str = r#"
import os, pty, select, sys, time
binary, log = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(binary, [binary, "run", "--", "modal", "run", "x.py"])
out = b""
def pump(seconds):
    global out
    end = time.time() + seconds
    while time.time() < end:
        try:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                out += os.read(fd, 4096)
        except OSError:
            return
def lines():
    return open(log).read().splitlines() if os.path.exists(log) else []
for _ in range(300):
    pump(0.1)
    if "ready" in lines():
        break
os.write(fd, b"\x03")
for _ in range(100):
    pump(0.05)
    if lines().count("SIGINT") >= 1:
        break
os.write(fd, b"\x03")
pump(0.5)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"#;

#[test]
fn ctrl_c_typed_at_a_terminal_reaches_the_job_once_per_keypress() {
    let stub = Stub::new();
    let driver = stub.sandbox.dir.path().join("drive.py");
    std::fs::write(&driver, PTY_DRIVER).expect("driver");
    let output = Command::new("python3")
        .arg(&driver)
        .arg(env!("CARGO_BIN_EXE_preflight"))
        .arg(stub.stub_log_path())
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:/usr/bin:/bin",
                stub.sandbox.dir.path().join("bin").display()
            ),
        )
        .env("HOME", stub.sandbox.home())
        .env(
            "MODAL_CONFIG_PATH",
            stub.sandbox.dir.path().join("missing.toml"),
        )
        .env("MODAL_TOKEN_ID", TOKEN_ID)
        .env("MODAL_TOKEN_SECRET", TOKEN_SECRET)
        .env("PREFLIGHT_AUTH_LOG", stub.sandbox.log_path())
        .env("STUB_LOG", stub.stub_log_path())
        .env("PREFLIGHT_MODAL_VIA", "cli")
        .env("STUB_MODE", "wait2")
        .env("STUB_EXIT", "1")
        .output()
        .expect("python3 drives the pty");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.trim(),
        "130",
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stub_log = stub.stub_log();
    assert_eq!(
        stub_log.lines().filter(|line| *line == "SIGINT").count(),
        2,
        "{stub_log}"
    );
    let log = stub.sandbox.log();
    assert!(
        log.contains(r#""stdin":"null""#),
        "stdin is a terminal, so the job gets /dev/null: {log}"
    );
    assert!(log.contains(r#""signals_forwarded":2"#), "{log}");
}
