//! The launcher against a stub `modal`: exit statuses, signal forwarding, the grace period,
//! cleanup, launch errors and what reaches the log.
//!
//! Signals are process-wide, so each test runs the launcher in a **separate process**: this
//! test binary re-executed with `PREFLIGHT_LAUNCH_HELPER=1`, which runs only
//! [`helper_launcher`]. The test then sends signals to that process's pid, as a user would
//! send them to `preflight run`. The stub is a small Python script named `modal` that records
//! every signal it receives to a file and exits with the code it is told to.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use preflight_launch::{LaunchSpec, StdinMode, launch};

const SECRET: &str = "as-TopSecretValue0123456789";

const STUB: &str = r#"
import os, signal, subprocess, sys, time
log = os.environ["STUB_LOG"]
mode = os.environ.get("STUB_MODE", "exit")
code = int(os.environ.get("STUB_EXIT", "0"))
after = int(os.environ.get("STUB_EXIT_AFTER", "1"))
def note(text):
    with open(log, "a") as handle:
        handle.write(text + "\n")
count = 0
def on_signal(number, frame):
    global count
    note(signal.Signals(number).name)
    if number == signal.SIGINT:
        count += 1
        if mode == "wait" and count >= after:
            sys.exit(code)
for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(number, on_signal)
note("ready %d %d" % (os.getpid(), os.getpgrp()))
if mode == "exit":
    sys.exit(code)
if mode == "selfkill":
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "stray":
    helper = subprocess.Popen(["sleep", "300"])
    note("stray %d" % helper.pid)
    sys.exit(code)
while True:
    time.sleep(0.05)
"#;

/// Runs only inside the re-executed helper process: launch what the environment says and
/// exit with the launcher's status, printing the report on stdout.
#[test]
fn helper_launcher() {
    if std::env::var_os("PREFLIGHT_LAUNCH_HELPER").is_none() {
        return;
    }
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .init();
    let program = std::env::var("HELPER_PROGRAM").expect("HELPER_PROGRAM");
    let args: Vec<String> = std::env::var("HELPER_ARGS")
        .unwrap_or_default()
        .split('\u{1f}')
        .filter(|arg| !arg.is_empty())
        .map(str::to_owned)
        .collect();
    let grace = std::env::var("HELPER_GRACE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(20), Duration::from_millis);
    let spec = LaunchSpec::new(program, args)
        .with_kill_grace_unchecked(grace)
        .with_stdin(StdinMode::Null)
        .with_checks(vec![preflight_launch::CheckSummary {
            provider: "modal".into(),
            masked_token: Some("ak-…7890".into()),
            identity: Some("alice @ ws".into()),
        }]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let code = match runtime.block_on(launch(&spec)) {
        Ok(report) => {
            println!(
                "REPORT exit={} forwarded={} killed={} stray={} pid={} warnings={:?}",
                report.exit_code,
                report.signals_forwarded,
                report.killed_after_grace,
                report.stray_processes_killed,
                report.pid,
                report.warnings
            );
            report.exit_code
        }
        Err(error) => {
            println!(
                "ERROR code={} exit={} message={error} hint={}",
                error.code(),
                error.exit_code(),
                error.hint()
            );
            error.exit_code()
        }
    };
    drop(runtime);
    std::process::exit(i32::from(code));
}

fn python() -> PathBuf {
    let system = PathBuf::from("/usr/bin/python3");
    if system.exists() {
        return system;
    }
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed for the stub");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let scene = Scene {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir(scene.bin()).expect("bin dir");
        let stub = format!("#!{}\n{STUB}", python().display());
        let path = scene.bin().join("modal");
        std::fs::write(&path, stub).expect("stub");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        scene
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("stub.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn lines(&self, wanted: &str) -> usize {
        self.log().lines().filter(|line| *line == wanted).count()
    }

    /// Starts the launcher helper for `modal ARGS` with the stub's mode and exit code.
    fn start(&self, mode: &str, exit: i32, extra: &[(&str, &str)]) -> Child {
        self.start_program("modal", &["run", "train_dit.py"], mode, exit, extra)
    }

    fn start_program(
        &self,
        program: &str,
        args: &[&str],
        mode: &str,
        exit: i32,
        extra: &[(&str, &str)],
    ) -> Child {
        let path = format!("{}:/usr/bin:/bin", self.bin().display());
        let mut command = Command::new(std::env::current_exe().expect("current exe"));
        command
            .args([
                "helper_launcher",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env_clear()
            .env("PATH", path)
            .env("PREFLIGHT_LAUNCH_HELPER", "1")
            .env("HELPER_PROGRAM", program)
            .env("HELPER_ARGS", args.join("\u{1f}"))
            .env("STUB_LOG", self.log_path())
            .env("STUB_MODE", mode)
            .env("STUB_EXIT", exit.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in extra {
            command.env(key, value);
        }
        command.spawn().expect("helper starts")
    }

    /// Waits until the stub has installed its handlers; returns its pid and process group.
    fn wait_ready(&self, helper: &mut Child) -> (i32, i32) {
        let line = wait_for(helper, || {
            self.log()
                .lines()
                .find(|line| line.starts_with("ready "))
                .map(str::to_owned)
        });
        let mut parts = line
            .split(' ')
            .skip(1)
            .map(|n| n.parse::<i32>().expect("number"));
        (parts.next().expect("pid"), parts.next().expect("pgid"))
    }
}

/// Polls `probe` for up to 20 s; on timeout kills the helper and panics.
fn wait_for<T>(helper: &mut Child, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() > deadline {
            let _ = helper.kill();
            panic!("timed out waiting for the stub");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Finished {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn finish(mut helper: Child) -> Finished {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = helper.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = helper.kill();
            panic!("the launcher did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    helper
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    helper
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    Finished {
        code: status.code().expect("the launcher exits, it is not killed"),
        stdout,
        stderr,
        took: started.elapsed(),
    }
}

fn send(helper: &Child, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(helper.id()).expect("pid"));
    kill(pid, signal).expect("signal the launcher");
}

/// Running = exists and is not a zombie.
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            state != Some('Z')
        }
    }
}

/// No live process is left in process group `pgid`.
fn group_is_gone(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // fields[0] = state, fields[2] = pgrp
        if fields.get(2) == Some(&pgid.to_string().as_str()) && fields.first() != Some(&"Z") {
            let _ = pid;
            return false;
        }
    }
    true
}

fn assert_no_secret(finished: &Finished) {
    assert!(!finished.stdout.contains(SECRET), "{}", finished.stdout);
    assert!(!finished.stderr.contains(SECRET), "{}", finished.stderr);
}

#[test]
fn own_exit_codes_pass_through() {
    for code in [0, 1, 3] {
        let scene = Scene::new();
        let finished = finish(scene.start("exit", code, &[]));
        assert_eq!(finished.code, code, "{}", finished.stderr);
        assert!(
            finished
                .stdout
                .contains(&format!("REPORT exit={code} forwarded=0 killed=false")),
            "{}",
            finished.stdout
        );
        assert_eq!(scene.lines("SIGINT"), 0);
    }
}

#[test]
fn a_child_killed_by_sigkill_gives_137() {
    let scene = Scene::new();
    let finished = finish(scene.start("selfkill", 0, &[]));
    assert_eq!(finished.code, 137, "{}", finished.stderr);
    assert!(
        finished.stderr.contains(r#""signal":"SIGKILL""#),
        "{}",
        finished.stderr
    );
}

#[test]
fn sigint_to_the_launcher_reaches_the_child_once_and_gives_130() {
    let scene = Scene::new();
    // modal may exit 0 after Ctrl-C: the launcher still reports the interrupt.
    let mut helper = scene.start("wait", 0, &[]);
    let (pid, pgid) = scene.wait_ready(&mut helper);
    assert_eq!(pid, pgid, "the child leads its own process group");
    assert_ne!(
        pgid,
        nix::unistd::getpgid(Some(Pid::from_raw(
            i32::try_from(helper.id()).expect("pid")
        )))
        .expect("launcher pgid")
        .as_raw(),
        "the child is not in the launcher's group"
    );
    send(&helper, Signal::SIGINT);
    let finished = finish(helper);
    assert_eq!(finished.code, 130, "{}", finished.stderr);
    assert_eq!(scene.lines("SIGINT"), 1, "{}", scene.log());
    assert!(
        finished.stdout.contains("forwarded=1"),
        "{}",
        finished.stdout
    );
    assert!(group_is_gone(pgid));
}

#[test]
fn sigterm_to_the_launcher_reaches_the_child_as_one_sigint() {
    let scene = Scene::new();
    let mut helper = scene.start("wait", 1, &[]);
    let (_, pgid) = scene.wait_ready(&mut helper);
    send(&helper, Signal::SIGTERM);
    let finished = finish(helper);
    assert_eq!(finished.code, 143, "{}", finished.stderr);
    assert_eq!(scene.lines("SIGINT"), 1, "{}", scene.log());
    assert_eq!(scene.lines("SIGTERM"), 0, "{}", scene.log());
    assert!(
        finished
            .stderr
            .contains(r#""received":"SIGTERM","sent":"SIGINT""#),
        "{}",
        finished.stderr
    );
    assert!(group_is_gone(pgid));
}

/// Ctrl-\\ at a terminal sends SIGQUIT to the launcher. Unhandled, it would kill the launcher
/// (status 131 from the shell) and leave the child running unsupervised in its own group.
#[test]
fn sigquit_to_the_launcher_reaches_the_child_as_one_sigint() {
    let scene = Scene::new();
    let mut helper = scene.start("wait", 1, &[]);
    let (child_pid, pgid) = scene.wait_ready(&mut helper);
    send(&helper, Signal::SIGQUIT);
    let finished = finish(helper);
    assert_eq!(finished.code, 131, "{}", finished.stderr);
    assert_eq!(scene.lines("SIGINT"), 1, "{}", scene.log());
    assert_eq!(scene.lines("SIGQUIT"), 0, "{}", scene.log());
    assert!(
        finished
            .stderr
            .contains(r#""received":"SIGQUIT","sent":"SIGINT""#),
        "{}",
        finished.stderr
    );
    assert!(!running(child_pid));
    assert!(group_is_gone(pgid));
}

#[test]
fn a_second_sigint_is_forwarded_as_a_second_sigint() {
    let scene = Scene::new();
    let mut helper = scene.start("wait", 1, &[("STUB_EXIT_AFTER", "2")]);
    let (_, pgid) = scene.wait_ready(&mut helper);
    send(&helper, Signal::SIGINT);
    wait_for(&mut helper, || (scene.lines("SIGINT") == 1).then_some(()));
    send(&helper, Signal::SIGINT);
    let finished = finish(helper);
    assert_eq!(finished.code, 130, "{}", finished.stderr);
    assert_eq!(scene.lines("SIGINT"), 2, "{}", scene.log());
    assert!(
        finished.stdout.contains("forwarded=2"),
        "{}",
        finished.stdout
    );
    assert!(group_is_gone(pgid));
}

#[test]
fn a_child_ignoring_sigint_is_killed_after_the_grace_period() {
    let scene = Scene::new();
    let mut helper = scene.start("ignore", 0, &[("HELPER_GRACE_MS", "700")]);
    let (pid, pgid) = scene.wait_ready(&mut helper);
    let sent = Instant::now();
    send(&helper, Signal::SIGINT);
    let finished = finish(helper);
    let took = sent.elapsed();
    assert_eq!(finished.code, 130, "{}", finished.stderr);
    assert!(
        took >= Duration::from_millis(700),
        "killed too early: {took:?}"
    );
    assert!(
        finished.stdout.contains("killed=true"),
        "{}",
        finished.stdout
    );
    assert!(
        finished.stdout.contains("remote app may still be running"),
        "{}",
        finished.stdout
    );
    assert!(finished.stderr.contains(r#""event":"launch_killed""#));
    assert_eq!(scene.lines("SIGINT"), 1, "{}", scene.log());
    assert!(!running(pid), "the child is gone");
    assert!(group_is_gone(pgid), "its group is gone");
    let _ = finished.took;
}

#[test]
fn processes_left_in_the_group_are_killed() {
    let scene = Scene::new();
    let helper = scene.start("stray", 0, &[]);
    let finished = finish(helper);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let log = scene.log();
    let stray: i32 = log
        .lines()
        .find_map(|line| line.strip_prefix("stray "))
        .expect("the stub started a helper")
        .parse()
        .expect("pid");
    assert!(
        finished.stdout.contains("stray=true"),
        "{}",
        finished.stdout
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(stray) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!running(stray), "the stray `sleep` was killed");
}

#[test]
fn a_missing_command_is_127_and_a_non_executable_one_126() {
    let scene = Scene::new();
    let finished = finish(scene.start_program("no-such-tool", &[], "exit", 0, &[]));
    assert_eq!(finished.code, 127, "{}", finished.stdout);
    assert!(
        finished.stdout.contains("ERROR code=PF301"),
        "{}",
        finished.stdout
    );
    assert!(finished.stdout.contains("command not found"));
    assert!(finished.stderr.contains(r#""event":"launch_failed""#));

    let plain = scene.bin().join("plain");
    std::fs::write(&plain, "#!/bin/sh\nexit 0\n").expect("write");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let finished = finish(scene.start_program("plain", &[], "exit", 0, &[]));
    assert_eq!(finished.code, 126, "{}", finished.stdout);
    assert!(
        finished.stdout.contains("ERROR code=PF302"),
        "{}",
        finished.stdout
    );
    assert!(finished.stdout.contains("chmod +x"), "{}", finished.stdout);

    let broken = scene.bin().join("broken");
    std::fs::write(&broken, "#!/nonexistent/python9\n").expect("write");
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let finished = finish(scene.start_program("broken", &[], "exit", 0, &[]));
    assert_eq!(finished.code, 126, "{}", finished.stdout);
    assert!(
        finished.stdout.contains("interpreter"),
        "{}",
        finished.stdout
    );
    assert_eq!(scene.log(), "", "nothing ran");
}

#[test]
fn the_log_names_the_command_but_never_its_arguments() {
    let scene = Scene::new();
    let args = [
        "token",
        "set",
        "--token-id",
        "ak-x",
        "--token-secret",
        SECRET,
    ];
    let finished = finish(scene.start_program("modal", &args, "exit", 0, &[]));
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert_no_secret(&finished);
    let started = finished
        .stderr
        .lines()
        .find(|line| line.contains(r#""event":"launch_started""#))
        .expect("launch_started is logged");
    assert!(started.contains(r#""command":"modal""#), "{started}");
    assert!(started.contains(r#""checks":"modal""#), "{started}");
    assert!(started.contains("ak-…7890 (alice @ ws)"), "{started}");
    assert!(!started.contains("token-secret"), "{started}");
    let done = finished
        .stderr
        .lines()
        .find(|line| line.contains(r#""event":"launch_finished""#))
        .expect("launch_finished is logged");
    assert!(done.contains(r#""exit_status":0"#), "{done}");
    assert!(done.contains("duration_ms"), "{done}");
}

#[test]
fn a_program_given_by_path_gets_its_arguments_intact() {
    let scene = Scene::new();
    let script = scene.bin().join("echoargs");
    std::fs::write(
        &script,
        "#!/bin/sh\nfor a in \"$@\"; do echo \"arg:$a\" >> \"$STUB_LOG\"; done\necho \"argv0:$0\" >> \"$STUB_LOG\"\n",
    )
    .expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let finished = finish(scene.start_program(
        script.to_str().expect("utf-8"),
        &["a b", "--x=1"],
        "exit",
        0,
        &[],
    ));
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let log = scene.log();
    assert!(log.contains("arg:a b\narg:--x=1\n"), "{log}");
    assert!(log.contains("argv0:"), "{log}");
    assert!(Path::new(&script).exists());
}
