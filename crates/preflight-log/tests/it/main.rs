//! Integration tests for the auth log.
//!
//! A process can install only one global subscriber, so most tests build a local subscriber
//! around [`preflight_log::auth_log_layer`] and use `tracing::dispatcher::with_default`. The
//! tests that need a whole process (the global `setup_auth_logging`, several writer processes)
//! re-run this test binary with `PREFLIGHT_LOG_TEST_CHILD` set; see [`child_process_entry`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;

use preflight_log::{
    AuthLogConfig, AuthLogGuard, LogDestination, auth_log_layer, register_secret,
    setup_auth_logging,
};
use serde_json::Value;
use tracing::Level;
use tracing::dispatcher::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

const CHILD_ENV: &str = "PREFLIGHT_LOG_TEST_CHILD";
const CHILD_PATH_ENV: &str = "PREFLIGHT_LOG_TEST_PATH";
const CHILD_ID_ENV: &str = "PREFLIGHT_LOG_TEST_ID";
const CHILD_EVENTS: usize = 200;

fn file_config(path: &Path) -> AuthLogConfig {
    AuthLogConfig {
        destination: LogDestination::File(path.to_owned()),
        ..AuthLogConfig::default()
    }
}

/// A local subscriber with only the auth log layer.
fn dispatch(config: &AuthLogConfig) -> (Dispatch, AuthLogGuard) {
    let (layer, guard) = auth_log_layer(config);
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

fn with_log(config: &AuthLogConfig, body: impl FnOnce()) -> AuthLogGuard {
    let (dispatch, guard) = dispatch(config);
    tracing::dispatcher::with_default(&dispatch, body);
    guard
}

/// Every line of `path`, parsed; panics on a line that is not a JSON object.
fn read_lines(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("torn or invalid line {line:?}: {error}"));
            assert!(value.is_object(), "not an object: {line}");
            value
        })
        .collect()
}

fn rotated(path: &Path, index: usize) -> PathBuf {
    PathBuf::from(format!("{}.{index}", path.display()))
}

fn emit_token_validated() {
    tracing::info!(
        target: "preflight::auth",
        event = "token_validated",
        provider = "hf",
        status = "VALID",
        source = "env:HF_TOKEN",
        masked_token = "hf_…abcd",
        latency_ms = 12u64,
        code = "PF003",
        identity = "alice",
        repo = "alice/m",
        permission = "allowed",
        can_write = true,
        offset = -3i64,
        ratio = 0.5f64,
    );
}

#[test]
fn envelope_has_fixed_keys_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/auth.log");
    let guard = with_log(&file_config(&path), || {
        emit_token_validated();
        tracing::warn!(
            target: "preflight::retry",
            event = "retry",
            operation = "whoami",
            attempt = 1u32,
            error_kind = "status_503",
            cause = "server said 503",
            delay_ms = 1000u64,
            remaining_ms = 4000u64,
        );
        tracing::info!(target: "preflight::launch", "child started after {} ms", 7);
        // Not ours, and below the level: neither is written.
        tracing::info!(target: "reqwest::connect", event = "noise");
        tracing::debug!(target: "preflight::auth", event = "too_verbose");
    });
    assert!(guard.warnings().is_empty(), "{:?}", guard.warnings());
    assert_eq!(guard.path(), Some(path.as_path()));

    let lines = read_lines(&path);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let first = &lines[0];
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected_keys = vec!["v", "ts", "level", "event", "target", "pid", "fields"];
    expected_keys.sort_unstable();
    let mut sorted_keys = keys.clone();
    sorted_keys.sort_unstable();
    assert_eq!(sorted_keys, expected_keys);

    assert_eq!(first["v"], 1);
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["event"], "token_validated");
    assert_eq!(first["target"], "preflight::auth");
    assert_eq!(first["pid"], u64::from(std::process::id()));
    let ts = first["ts"].as_str().unwrap();
    assert_timestamp(ts);

    let fields = first["fields"].as_object().unwrap();
    assert!(
        !fields.contains_key("event"),
        "event is lifted out of fields"
    );
    assert_eq!(fields["provider"], "hf");
    assert_eq!(fields["status"], "VALID");
    assert_eq!(fields["source"], "env:HF_TOKEN");
    assert_eq!(fields["masked_token"], "hf_…abcd");
    assert_eq!(fields["latency_ms"], 12);
    assert!(fields["latency_ms"].is_u64());
    assert_eq!(fields["can_write"], true);
    assert_eq!(fields["offset"], -3);
    assert_eq!(fields["ratio"], 0.5);
    assert_eq!(fields["identity"], "alice");

    let retry = &lines[1];
    assert_eq!(retry["level"], "WARN");
    assert_eq!(retry["event"], "retry");
    assert_eq!(retry["fields"]["attempt"], 1);
    assert_eq!(retry["fields"]["delay_ms"], 1000);

    let plain = &lines[2];
    assert_eq!(plain["event"], "message");
    assert_eq!(plain["fields"]["message"], "child started after 7 ms");

    // The raw text keeps the documented key order and one object per line.
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(r#"{"v":1,"ts":""#), "{text}");
    assert!(text.ends_with('\n'));
}

fn assert_timestamp(ts: &str) {
    // 2026-11-28T12:00:00.123Z
    let bytes = ts.as_bytes();
    assert_eq!(ts.len(), 24, "{ts}");
    for (index, byte) in bytes.iter().enumerate() {
        let expected = match index {
            4 | 7 => Some(b'-'),
            10 => Some(b'T'),
            13 | 16 => Some(b':'),
            19 => Some(b'.'),
            23 => Some(b'Z'),
            _ => None,
        };
        match expected {
            Some(separator) => assert_eq!(*byte, separator, "{ts}"),
            None => assert!(byte.is_ascii_digit(), "{ts}"),
        }
    }
}

#[test]
fn debug_events_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    let config = AuthLogConfig::resolve(Some(path.to_str().unwrap()), |name| {
        (name == "PREFLIGHT_LOG_LEVEL").then(|| String::from("debug"))
    });
    assert_eq!(config.file_level, Level::DEBUG);
    let _guard = with_log(&config, || {
        tracing::debug!(target: "preflight::hub", event = "preupload_batch", files = 3u64);
        tracing::trace!(target: "preflight::hub", event = "too_verbose");
    });
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["level"], "DEBUG");
    assert_eq!(lines[0]["event"], "preupload_batch");
}

#[derive(Debug)]
struct Wrapped(String);

impl std::fmt::Display for Wrapped {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "request failed with {}", self.0)
    }
}

impl std::error::Error for Wrapped {}

#[test]
fn secrets_are_redacted_in_every_string_field() {
    let registered = "modal-secret-registered-9f8e7d";
    let pattern_token = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    register_secret(registered);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    let _guard = with_log(&file_config(&path), || {
        let error = Wrapped(format!("Authorization: Bearer {pattern_token}"));
        tracing::error!(
            target: "preflight::hub",
            event = "upload_failed",
            cause = format!("PUT https://s3.local/x?X-Amz-Signature=deadbeef&a=1 sent {registered}").as_str(),
            url = %format!("https://user:{registered}@proxy.local/"),
            headers = ?vec![("authorization", format!("Bearer {registered}"))],
            error = &error as &(dyn std::error::Error + 'static),
            masked_token = "hf_…6789",
            modal = "token ak-AbCdEfGhIj0123 secret as-ZyXwVuTsRq9876",
        );
        tracing::info!(target: "preflight::auth", "token {} from env:HF_TOKEN", pattern_token);
    });
    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains(registered), "{text}");
    assert!(!text.contains(pattern_token), "{text}");
    assert!(!text.contains("deadbeef"), "{text}");
    assert!(!text.contains("AbCdEfGhIj0123"), "{text}");
    assert!(!text.contains("ZyXwVuTsRq9876"), "{text}");

    let lines = read_lines(&path);
    let fields = &lines[0]["fields"];
    assert_eq!(fields["masked_token"], "hf_…6789");
    assert_eq!(
        fields["cause"],
        "PUT https://s3.local/x?X-Amz-Signature=****&a=1 sent …8e7d"
    );
    assert_eq!(fields["url"], "https://user:****@proxy.local/");
    assert_eq!(
        fields["error"],
        "request failed with Authorization: Bearer ****"
    );
    assert_eq!(fields["modal"], "token ak-**** secret as-****");
    assert_eq!(
        lines[1]["fields"]["message"],
        "token hf_**** from env:HF_TOKEN"
    );
}

#[test]
fn unwritable_paths_are_warnings_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    fs::write(&blocker, "x").unwrap();
    let is_dir = dir.path().join("a-directory");
    fs::create_dir(&is_dir).unwrap();
    let mut cases = vec![
        ("parent cannot be created", blocker.join("logs/auth.log")),
        ("path is a directory", is_dir.clone()),
    ];
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked");
        fs::create_dir(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o500)).unwrap();
        // Root ignores directory permissions; only test the denial where it can happen.
        if fs::write(locked.join("probe"), "x").is_err() {
            cases.push(("permission denied", locked.join("auth.log")));
        }
    }
    for (case, path) in cases {
        let guard = with_log(&file_config(&path), emit_token_validated);
        assert_eq!(guard.warnings().len(), 1, "{case}: {:?}", guard.warnings());
        let warning = &guard.warnings()[0];
        assert!(
            warning.starts_with("auth log disabled"),
            "{case}: {warning}"
        );
        assert!(
            warning.contains(&path.display().to_string()),
            "{case}: {warning}"
        );
        assert_eq!(guard.path(), None, "{case}");
        assert_eq!(guard.write_failure(), None, "{case}");
    }
}

#[test]
fn disabled_log_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = AuthLogConfig::resolve(Some("off"), |_| None);
    let guard = with_log(&config, emit_token_validated);
    assert!(guard.warnings().is_empty());
    assert_eq!(guard.path(), None);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn write_errors_after_setup_are_reported_on_the_guard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    let (dispatch, guard) = dispatch(&file_config(&path));
    // The file turns into a directory mid-run: every append now fails.
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        emit_token_validated();
        emit_token_validated();
    });
    let failure = guard.write_failure().expect("a failure is recorded");
    assert!(
        failure.contains("could not write to the auth log"),
        "{failure}"
    );
    assert!(failure.ends_with("(2 lines lost)"), "{failure}");
}

#[cfg(unix)]
#[test]
fn log_and_lock_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    // A pre-existing world-readable log is tightened too.
    fs::write(&path, "").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let config = AuthLogConfig {
        max_bytes: 1,
        ..file_config(&path)
    };
    let _guard = with_log(&config, || {
        emit_token_validated();
        emit_token_validated();
    });
    for file in [
        path.clone(),
        rotated(&path, 1),
        PathBuf::from(format!("{}.lock", path.display())),
    ] {
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

#[test]
fn rotation_keeps_the_configured_number_of_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    let config = AuthLogConfig {
        max_bytes: 1000,
        keep: 3,
        ..file_config(&path)
    };
    let _guard = with_log(&config, || {
        for sequence in 0..100u64 {
            tracing::info!(target: "preflight::auth", event = "token_validated", sequence);
        }
    });
    assert!(path.exists());
    for index in 1..=3 {
        assert!(rotated(&path, index).exists(), "auth.log.{index} is kept");
    }
    assert!(!rotated(&path, 4).exists(), "only 3 rotated files are kept");

    // Newest in auth.log, then .1, .2, .3, each within the size limit, none empty.
    let mut previous_first = u64::MAX;
    for file in [
        path.clone(),
        rotated(&path, 1),
        rotated(&path, 2),
        rotated(&path, 3),
    ] {
        assert!(
            fs::metadata(&file).unwrap().len() <= 1000,
            "{}",
            file.display()
        );
        let sequences: Vec<u64> = read_lines(&file)
            .iter()
            .map(|line| line["fields"]["sequence"].as_u64().unwrap())
            .collect();
        assert!(!sequences.is_empty());
        assert!(sequences.windows(2).all(|pair| pair[0] + 1 == pair[1]));
        assert!(*sequences.last().unwrap() < previous_first);
        assert_eq!(sequences.last().unwrap() + 1, previous_first.min(100));
        previous_first = sequences[0];
    }
}

#[test]
fn concurrent_threads_never_tear_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    let config = file_config(&path);
    let (shared, _guard) = dispatch(&config);
    let padding = "x".repeat(3000);
    thread::scope(|scope| {
        for writer in 0..4u64 {
            // Half the threads share one subscriber, half have their own (their own handle).
            let own = dispatch(&config);
            let dispatch = if writer % 2 == 0 {
                shared.clone()
            } else {
                own.0
            };
            let padding = padding.as_str();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for sequence in 0..100u64 {
                        tracing::info!(
                            target: "preflight::hub",
                            event = "upload_file_done",
                            writer,
                            sequence,
                            padding,
                        );
                    }
                });
            });
        }
    });
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 400);
    for writer in 0..4u64 {
        let count = lines
            .iter()
            .filter(|line| line["fields"]["writer"] == writer)
            .count();
        assert_eq!(count, 100, "writer {writer}");
    }
}

fn spawn_children(mode: &str, path: &Path, count: usize) -> Vec<std::process::Child> {
    let exe = std::env::current_exe().unwrap();
    (0..count)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "child_process_entry",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, mode)
                .env(CHILD_PATH_ENV, path)
                .env(CHILD_ID_ENV, id.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn wait_all(children: Vec<std::process::Child>) -> Vec<std::process::Output> {
    children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "child failed: {output:?}");
            output
        })
        .collect()
}

#[test]
fn concurrent_processes_never_tear_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/auth.log");
    wait_all(spawn_children("append", &path, 4));
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 4 * CHILD_EVENTS);
    let pids: std::collections::BTreeSet<u64> = lines
        .iter()
        .map(|line| line["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 4, "four writer processes");
}

#[test]
fn concurrent_processes_rotate_without_losing_or_tearing_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    wait_all(spawn_children("rotate", &path, 3));
    // keep = 1000 is far more than needed, so every line survives somewhere.
    let mut total = 0;
    let mut files = 0;
    for index in 0..1000 {
        let file = if index == 0 {
            path.clone()
        } else {
            rotated(&path, index)
        };
        if !file.exists() {
            break;
        }
        files += 1;
        total += read_lines(&file).len();
        // Writers check the size without the lock, so each of the other two processes may
        // add one line (about 2.2 KB) after the check: the documented overshoot.
        let limit = 64 * 1024 + 2 * 4096;
        assert!(
            fs::metadata(&file).unwrap().len() <= limit,
            "{}",
            file.display()
        );
    }
    assert!(files > 3, "rotation happened ({files} files)");
    assert_eq!(total, 3 * CHILD_EVENTS);
}

#[test]
fn setup_installs_the_global_subscriber_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    let outputs = wait_all(spawn_children("setup", &path, 1));
    let stderr = String::from_utf8_lossy(&outputs[0].stderr);
    // The human layer saw the event, redacted.
    assert!(stderr.contains("token_validated"), "{stderr}");
    assert!(stderr.contains("Bearer ****"), "{stderr}");
    assert!(!stderr.contains("registered-child-secret"), "{stderr}");
    assert!(stderr.contains("SECOND_CALL_WARNED"), "{stderr}");
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["fields"]["cause"], "Bearer ****");
}

/// Not a test of its own: the body of the child processes spawned above. Without
/// `PREFLIGHT_LOG_TEST_CHILD` it does nothing.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(std::env::var(CHILD_PATH_ENV).unwrap());
    let id: u64 = std::env::var(CHILD_ID_ENV).unwrap().parse().unwrap();
    let padding = "y".repeat(2000);
    match mode.as_str() {
        "append" | "rotate" => {
            let config = AuthLogConfig {
                max_bytes: if mode == "rotate" { 64 * 1024 } else { 0 },
                keep: 1000,
                ..file_config(&path)
            };
            let guard = with_log(&config, || {
                for sequence in 0..CHILD_EVENTS as u64 {
                    tracing::info!(
                        target: "preflight::hub",
                        event = "upload_file_done",
                        child = id,
                        sequence,
                        padding = padding.as_str(),
                    );
                }
            });
            assert!(guard.warnings().is_empty(), "{:?}", guard.warnings());
            assert_eq!(guard.write_failure(), None);
        }
        "setup" => {
            register_secret("registered-child-secret");
            let config = AuthLogConfig {
                stderr_level: Some(Level::INFO),
                ..file_config(&path)
            };
            let guard = setup_auth_logging(&config);
            assert!(guard.warnings().is_empty(), "{:?}", guard.warnings());
            tracing::info!(
                target: "preflight::auth",
                event = "token_validated",
                cause = "Bearer registered-child-secret",
            );
            let second = setup_auth_logging(&config);
            assert_eq!(second.warnings().len(), 1);
            eprintln!("SECOND_CALL_WARNED");
        }
        other => panic!("unknown child mode {other}"),
    }
}
