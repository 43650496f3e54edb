//! `preflight upload` end to end: the pre-flight gate, retries seen from the CLI, and resume
//! after `kill -9`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use hub_emulator::{Fault, FaultRule, Times};

use crate::support::{
    READ_TOKEN, REVOKED_TOKEN, Sandbox, WRITE_TOKEN, assert_no_token, emulator, run, write_file,
};

/// `preflight upload PATH` against `hub` with `token`, resume state inside the sandbox.
fn upload(
    sandbox: &Sandbox,
    hub: &hub_emulator::BackgroundEmulator,
    token: &str,
    path: &std::path::Path,
) -> std::process::Command {
    let mut command = sandbox.command();
    command
        .arg("upload")
        .arg(path)
        .env("HF_TOKEN", token)
        .env("HF_ENDPOINT", hub.url())
        .env("PREFLIGHT_STATE_DIR", sandbox.dir.path().join("state"));
    command
}

fn folder(sandbox: &Sandbox, files: usize, lfs_size: usize) -> std::path::PathBuf {
    let root = sandbox.dir.path().join("checkpoints");
    write_file(
        &root.join("README.md"),
        b"---\nlicense: mit\n---\n# DiT checkpoints\n",
    );
    write_file(&root.join("config.json"), b"{\"depth\": 28}\n");
    for index in 0..files {
        // `.bin` files travel as LFS objects (the Hub's default .gitattributes).
        let contents: Vec<u8> = (0..lfs_size)
            .map(|byte| ((byte * 31 + index * 7) % 251) as u8)
            .collect();
        write_file(
            &root.join(format!("shards/model-{index:02}.bin")),
            &contents,
        );
    }
    root
}

#[test]
fn a_rejected_or_read_only_token_stops_after_the_one_whoami() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let path = folder(&sandbox, 2, 4096);
    for (token, code, expected) in [
        (REVOKED_TOKEN, 11, "error[PF003]"),
        (READ_TOKEN, 13, "error[PF005]"),
    ] {
        hub.clear_requests();
        let started = Instant::now();
        let result = run(upload(&sandbox, &hub, token, &path).args(["--repo", "alice/dit"]));
        assert_eq!(result.code, code, "{}", result.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the plan's 5 s bound"
        );
        assert!(result.stderr.contains(expected), "{}", result.stderr);
        let requests = hub.requests();
        assert_eq!(requests.len(), 1, "only the whoami: {requests:?}");
        assert_eq!(requests[0].path, "/api/whoami-v2");
        assert_no_token(&result, &sandbox.log());
    }
    let log = sandbox.log();
    assert!(
        log.contains("\"token_validated\""),
        "the auth log records the pre-flight: {log}"
    );
}

#[test]
fn upload_retries_a_flaky_route_and_logs_each_retry() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let path = folder(&sandbox, 2, 4096);
    hub.faults().add(FaultRule::new(
        Some("POST"),
        "/api/models/alice/dit/preupload/main",
        Fault::Status {
            code: 503,
            retry_after: None,
            body: None,
        },
        Times::Next(2),
    ));
    let result = run(upload(&sandbox, &hub, WRITE_TOKEN, &path).args([
        "--repo",
        "alice/dit",
        "--message",
        "first checkpoints",
    ]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(
        result.stdout.contains("/commit/"),
        "prints the commit URL: {}",
        result.stdout
    );
    let preuploads: Vec<u16> = hub
        .requests()
        .iter()
        .filter(|request| request.path.ends_with("/preupload/main"))
        .map(|request| request.status)
        .collect();
    assert_eq!(
        preuploads,
        vec![503, 503, 200],
        "exactly 3 attempts on that route"
    );
    let log = sandbox.log();
    assert_eq!(
        log.matches("\"event\":\"retry\"").count(),
        2,
        "each retry logged: {log}"
    );
    assert!(log.contains("\"commit_landed\""), "{log}");
    assert_no_token(&result, &log);

    // The same upload again finds nothing to send and makes no commit.
    hub.clear_requests();
    let again = run(upload(&sandbox, &hub, WRITE_TOKEN, &path).args(["--repo", "alice/dit"]));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to upload"),
        "{}",
        again.stderr
    );
    assert!(
        hub.requests()
            .iter()
            .all(|request| !request.path.contains("/commit/") && request.method != "PUT"),
        "no PUT and no commit on a no-op re-upload"
    );
}

#[test]
fn a_route_that_keeps_failing_stops_with_the_last_cause_and_commits_nothing() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let path = folder(&sandbox, 1, 4096);
    hub.faults().add(FaultRule::new(
        Some("POST"),
        "/api/models/alice/dit/commit/main",
        Fault::Status {
            code: 503,
            retry_after: None,
            body: None,
        },
        Times::Always,
    ));
    let result = run(upload(&sandbox, &hub, WRITE_TOKEN, &path).args([
        "--repo",
        "alice/dit",
        "--max-attempts",
        "3",
    ]));
    assert_eq!(result.code, 20, "{}", result.stderr);
    assert!(result.stderr.contains("error[PF2"), "{}", result.stderr);
    assert!(
        result.stderr.contains("503"),
        "the last cause is shown: {}",
        result.stderr
    );
    assert!(result.stderr.contains("hint:"), "{}", result.stderr);
    let commits_ok = hub
        .requests()
        .iter()
        .filter(|request| request.path.contains("/commit/") && request.status == 200)
        .count();
    assert_eq!(commits_ok, 0, "nothing committed");
    assert!(
        sandbox.log().contains("\"upload_failed\""),
        "{}",
        sandbox.log()
    );
}

#[test]
fn kill_9_mid_upload_then_rerun_sends_no_stored_object_twice() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let path = folder(&sandbox, 6, 64 * 1024);
    let state = sandbox.dir.path().join("state");
    // Slow every LFS PUT so the kill lands mid-upload.
    hub.faults().add(FaultRule::new(
        Some("PUT"),
        "/_lfs/*",
        Fault::Delay(Duration::from_millis(400)),
        Times::Always,
    ));
    let mut child = upload(&sandbox, &hub, WRITE_TOKEN, &path)
        .args(["--repo", "alice/dit", "--concurrency", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = hub
            .requests()
            .iter()
            .filter(|request| request.method == "PUT" && request.status == 200)
            .count();
        if stored >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the upload never got going");
        assert!(
            child.try_wait().expect("poll").is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let first_run = hub.requests();
    assert!(
        first_run
            .iter()
            .all(|request| !(request.path.contains("/commit/") && request.status == 200)),
        "the killed run committed nothing"
    );
    hub.faults().clear();

    let result = run(upload(&sandbox, &hub, WRITE_TOKEN, &path).args(["--repo", "alice/dit"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    let mut stored_per_object = std::collections::HashMap::new();
    for request in hub.requests() {
        if request.method == "PUT" && request.status == 200 {
            let oid = request.lfs_oid.clone().expect("PUTs carry their oid");
            *stored_per_object.entry(oid).or_insert(0) += 1;
        }
    }
    assert_eq!(
        stored_per_object.len(),
        6,
        "every object stored: {stored_per_object:?}"
    );
    assert!(
        stored_per_object.values().all(|count| *count == 1),
        "an object was sent twice: {stored_per_object:?}"
    );
    // The cached hashes are removed once the commit landed; only the lock file stays (a held
    // lock is never unlinked).
    let leftover: Vec<_> = std::fs::read_dir(&state)
        .into_iter()
        .flatten()
        .flat_map(|entry| std::fs::read_dir(entry.expect("entry").path()).expect("read"))
        .map(|entry| entry.expect("entry").file_name())
        .filter(|name| name != "lock")
        .collect();
    assert!(
        leftover.is_empty(),
        "resume state removed once the commit landed: {leftover:?}"
    );
}

#[test]
fn dry_run_plans_without_uploading() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let path = folder(&sandbox, 2, 4096);
    let result = run(upload(&sandbox, &hub, WRITE_TOKEN, &path).args([
        "--repo",
        "alice/dit",
        "--dry-run",
        "--exclude",
        "*.md",
    ]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(
        result.stdout.contains("shards/model-00.bin"),
        "{}",
        result.stdout
    );
    assert!(!result.stdout.contains("README.md"), "{}", result.stdout);
    assert!(
        hub.requests()
            .iter()
            .all(|request| request.path == "/api/whoami-v2"),
        "a dry run sends only the pre-flight"
    );
}

#[test]
fn a_missing_path_is_a_clear_error() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let result = run(sandbox
        .command()
        .args(["upload", "does-not-exist", "--repo", "alice/dit"])
        .env("HF_TOKEN", WRITE_TOKEN)
        .env("HF_ENDPOINT", hub.url()));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(result.stderr.contains("error[PF201]"), "{}", result.stderr);
    assert!(!result.stderr.contains("panicked"));
}

#[test]
fn thirty_cli_uploads_under_a_seeded_random_fault_mix() {
    // 20% of all requests (the pre-flight whoami included) fail with 500/502/503, resets,
    // truncated bodies or 429 with a short Retry-After.
    let hub = emulator();
    let sandbox = Sandbox::new();
    hub.faults().set_random_mix(
        20_261_128,
        0.2,
        vec![
            Fault::Status {
                code: 500,
                retry_after: None,
                body: None,
            },
            Fault::Status {
                code: 502,
                retry_after: None,
                body: None,
            },
            Fault::Status {
                code: 503,
                retry_after: None,
                body: None,
            },
            Fault::ResetConnection,
            Fault::TruncateBody { after_bytes: 3 },
            Fault::Status {
                code: 429,
                retry_after: Some("1".to_owned()),
                body: None,
            },
        ],
    );
    let mut committed = Vec::new();
    let mut failures = Vec::new();
    for round in 0..30 {
        let root = sandbox.dir.path().join(format!("run-{round}"));
        write_file(
            &root.join("config.json"),
            format!("{{\"round\": {round}}}\n").as_bytes(),
        );
        let weights: Vec<u8> = (0..20_000)
            .map(|byte| ((byte * 17 + round * 3) % 251) as u8)
            .collect();
        write_file(&root.join("weights/model.bin"), &weights);
        let repo = format!("alice/chaos-{round}");
        let result = run(upload(&sandbox, &hub, WRITE_TOKEN, &root)
            .args(["--repo", &repo, "--max-attempts", "8"])
            .env("PREFLIGHT_RETRY_MAX_RETRY_AFTER_MS", "1000"));
        assert!(!result.stderr.contains("panicked"), "{}", result.stderr);
        assert_no_token(&result, &sandbox.log());
        if result.code == 0 {
            committed.push((repo, root));
        } else {
            assert!(
                result.stderr.contains("error[PF"),
                "a failure is explained: {}",
                result.stderr
            );
            assert!(result.stderr.contains("hint:"), "{}", result.stderr);
            failures.push(format!(
                "round {round}: exit {}: {}",
                result.code, result.stderr
            ));
        }
    }
    assert!(
        committed.len() >= 29,
        "only {}/30 committed:\n{}",
        committed.len(),
        failures.join("\n")
    );

    // Byte-identical on the server, read back with the faults switched off.
    hub.faults().set_random_mix(0, 0.0, Vec::new());
    for (repo, root) in committed {
        for path in ["config.json", "weights/model.bin"] {
            let expected = std::fs::read(root.join(path)).expect("read");
            let served = http_get(&hub.url(), &format!("/{repo}/resolve/main/{path}"));
            assert_eq!(served, expected, "{repo}/{path} differs");
        }
    }
}

/// A plain HTTP/1.1 GET (the emulator speaks HTTP on loopback; no client crate needed).
fn http_get(base: &str, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    response[split + 4..].to_vec()
}
