//! End-to-end uploads against a real `hub-emulator` on 127.0.0.1:0.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use hub_emulator::{EmulatorConfig, Fault, FaultRule, RunningEmulator, Times};
use preflight_hub::{
    HubClient, NoProgress, ProgressEvent, ProgressHandler, Timeouts, UploadError, UploadErrorKind,
    UploadOutcome, UploadRequest, upload,
};
use preflight_test_support::hub::{alice_config, files_under, start_hub_async};
use tempfile::TempDir;

mod common;
use common::{TOKEN, assert_files, count_requests, fetch, write_file};

const REGULAR_MAX: u64 = 1000;
const MULTIPART_THRESHOLD: u64 = 100 * 1024;
const CHUNK: u64 = 64 * 1024;

/// Logs to the test output when `RUST_LOG` is set.
fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

async fn emulator() -> RunningEmulator {
    init_tracing();
    start_hub_async(EmulatorConfig {
        regular_max_size: REGULAR_MAX,
        lfs_multipart_threshold: MULTIPART_THRESHOLD,
        multipart_chunk_size: CHUNK,
        ..alice_config()
    })
    .await
}

/// A client with short timeouts that makes at most `attempts` attempts per request.
fn client(emu: &RunningEmulator, state: &Path, attempts: u32) -> HubClient {
    common::hub_client(emu, TOKEN, state, common::fast_retry(attempts))
        .with_timeouts(Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(3),
        })
        .unwrap()
}

/// A test's emulator, the folder to upload and the resume-state folder.
struct Setup {
    emu: RunningEmulator,
    dir: TempDir,
    state: TempDir,
}

impl Setup {
    async fn new() -> Setup {
        Setup {
            emu: emulator().await,
            dir: tempfile::tempdir().unwrap(),
            state: tempfile::tempdir().unwrap(),
        }
    }
}

fn request(source: &Path, repo: &str) -> UploadRequest {
    UploadRequest::new(source, repo)
}

/// Uploads the folder `source` to `repo`, with the defaults and no progress handler.
async fn upload_to(
    client: &HubClient,
    source: &Path,
    repo: &str,
) -> Result<UploadOutcome, UploadError> {
    upload(client, &request(source, repo), &NoProgress).await
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The sample folder of the round-trip test; returns (path in repo, content).
fn sample_folder(root: &Path) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "README.md".into(),
            b"---\nlicense: mit\ntags:\n- test\n---\n# Model\n".to_vec(),
        ),
        ("config.json".into(), br#"{"hidden": 64}"#.to_vec()),
        ("empty.txt".into(), Vec::new()),
        (
            "weights/small.bin".into(),
            pattern(REGULAR_MAX as usize + 1, 1),
        ),
        (
            "weights/big.bin".into(),
            pattern(3 * CHUNK as usize + 1234, 2),
        ),
        ("deep/nested/dir/notes.txt".into(), b"nested\n".to_vec()),
        (
            "données/café ü.txt".into(),
            "non-ASCII ✓\n".as_bytes().to_vec(),
        ),
    ];
    for (path, content) in &files {
        write_file(root, path, content);
    }
    files
}

#[derive(Default)]
struct Recorder(Mutex<Vec<ProgressEvent>>);

impl ProgressHandler for Recorder {
    fn on_event(&self, event: ProgressEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorder {
    fn events(&self) -> Vec<ProgressEvent> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn folder_round_trip_then_noop_reupload() {
    let Setup { emu, dir, state } = Setup::new().await;
    let files = sample_folder(dir.path());
    let client = client(&emu, state.path(), 5);
    let recorder = Recorder::default();

    let outcome = upload(&client, &request(dir.path(), "alice/round-trip"), &recorder)
        .await
        .expect("upload succeeds");
    assert!(outcome.repo_created);
    assert_eq!(outcome.files_uploaded, files.len());
    assert_eq!(outcome.files_skipped, 0);
    let oid = outcome.commit_oid.clone().expect("a commit");
    assert!(outcome.commit_url.as_deref().unwrap().contains(&oid));
    for (path, content) in &files {
        assert_eq!(
            &fetch(&emu, "alice/round-trip", "main", path).await,
            content,
            "{path}"
        );
    }
    // Multipart was used for the big file, basic for the small LFS one.
    assert_eq!(count_requests(&emu, "PUT", "/_lfs/part/"), 4);
    assert_eq!(count_requests(&emu, "PUT", "/_lfs/upload/"), 1);
    assert!(count_requests(&emu, "POST", "/api/validate-yaml") >= 1);
    // Pre-signed URLs never get the token.
    assert!(
        emu.requests()
            .iter()
            .filter(|r| r.path.starts_with("/_lfs/upload") || r.path.starts_with("/_lfs/part"))
            .all(|r| !r.auth_present)
    );

    let events = recorder.events();
    assert!(matches!(
        events.first(),
        Some(ProgressEvent::Planned { files: 7, .. })
    ));
    assert!(matches!(
        events.last(),
        Some(ProgressEvent::Complete {
            commit_url: Some(_)
        })
    ));
    let sent: u64 = events
        .iter()
        .map(|e| match e {
            ProgressEvent::BytesSent { bytes, .. } => *bytes,
            _ => 0,
        })
        .sum();
    let rewound: u64 = events
        .iter()
        .map(|e| match e {
            ProgressEvent::BytesRewound { bytes, .. } => *bytes,
            _ => 0,
        })
        .sum();
    assert_eq!(sent - rewound, outcome.plan.total_bytes);
    assert_eq!(outcome.bytes_sent, outcome.plan.total_bytes);
    // The cached hashes are gone once the commit landed; only the (unlocked) lock file stays,
    // since unlinking a held lock would let two runs each hold "the" lock.
    let left: Vec<String> = files_under(state.path());
    assert!(left.iter().all(|name| name.ends_with("/lock")), "{left:?}");

    // Same folder again: nothing is sent, no commit is made.
    emu.clear_requests();
    let again = upload_to(&client, dir.path(), "alice/round-trip")
        .await
        .unwrap();
    assert_eq!(again.commit_oid, None);
    assert_eq!(again.commit_url, None);
    assert_eq!(again.files_skipped, files.len());
    assert_eq!(again.bytes_sent, 0);
    assert!(!again.repo_created);
    assert_eq!(count_requests(&emu, "PUT", "/_lfs/"), 0);
    assert_eq!(count_requests(&emu, "POST", "/commit/"), 0);
    assert_eq!(count_requests(&emu, "POST", "/info/lfs/objects/batch"), 0);
    emu.shutdown().await;
}

fn status(code: u16) -> Fault {
    Fault::Status {
        code,
        retry_after: None,
        body: None,
    }
}

fn small_folder(root: &Path, seed: u8) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "a.txt".into(),
            format!("file a, seed {seed}\n").into_bytes(),
        ),
        (
            "sub/b.txt".into(),
            format!("file b, seed {seed}\n").into_bytes(),
        ),
        (
            "model.bin".into(),
            pattern(REGULAR_MAX as usize + 500, seed),
        ),
        (
            "large.bin".into(),
            pattern(MULTIPART_THRESHOLD as usize + 10, seed.wrapping_add(7)),
        ),
    ];
    for (path, content) in &files {
        write_file(root, path, content);
    }
    files
}

#[tokio::test]
async fn transient_503_twice_then_success_takes_three_attempts() {
    let Setup { emu, dir, state } = Setup::new().await;
    let files = small_folder(dir.path(), 1);
    let faults = emu.faults();
    faults.add(FaultRule::new(
        Some("POST"),
        "/api/models/alice/flaky/preupload/main",
        status(503),
        Times::Next(2),
    ));
    // One multipart part fails twice: only that part is sent again.
    faults.add(FaultRule::new(
        Some("PUT"),
        "/_lfs/part/*/2",
        status(503),
        Times::Next(2),
    ));
    let client = client(&emu, state.path(), 5);
    let outcome = upload_to(&client, dir.path(), "alice/flaky")
        .await
        .expect("recovers");
    assert_eq!(count_requests(&emu, "POST", "/preupload/"), 3);
    let parts = (MULTIPART_THRESHOLD + 10).div_ceil(CHUNK) as usize;
    assert_eq!(count_requests(&emu, "PUT", "/_lfs/part/"), parts + 2);
    let part_two: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.part == Some(2))
        .map(|r| r.status)
        .collect();
    assert_eq!(part_two, [503, 503, 200]);
    assert_eq!(outcome.retries, 4);
    assert_files(&emu, "alice/flaky", "main", &files).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn persistent_failure_stops_after_max_attempts_with_the_cause() {
    let Setup { emu, dir, state } = Setup::new().await;
    small_folder(dir.path(), 2);
    emu.faults().add(FaultRule::new(
        Some("POST"),
        "/api/models/alice/down/preupload/main",
        status(503),
        Times::Always,
    ));
    let client = client(&emu, state.path(), 4);
    let error = upload_to(&client, dir.path(), "alice/down")
        .await
        .expect_err("gives up");
    assert_eq!(error.kind(), UploadErrorKind::TransientGaveUp);
    assert_eq!(error.code().as_str(), "PF206");
    assert!(error.resumable());
    let chain = error_chain(&error);
    assert!(chain.contains("failed after 4 attempts"), "{chain}");
    assert!(chain.contains("HTTP 503"), "{chain}");
    assert_eq!(count_requests(&emu, "POST", "/preupload/"), 4);
    assert_eq!(count_requests(&emu, "POST", "/commit/"), 0);
    emu.shutdown().await;
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(" <- ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn interrupted_upload_resumes_without_resending_stored_objects() {
    let Setup { emu, dir, state } = Setup::new().await;
    let files = small_folder(dir.path(), 3);
    // The commit route dies after every LFS object went up.
    emu.faults().add(FaultRule::new(
        Some("POST"),
        "/api/models/alice/resume/commit/main",
        Fault::ResetConnection,
        Times::Always,
    ));
    let client = client(&emu, state.path(), 3);
    let error = upload_to(&client, dir.path(), "alice/resume")
        .await
        .expect_err("commit cannot land");
    assert!(error.resumable(), "{error:?}");
    let first_puts = count_requests(&emu, "PUT", "/_lfs/");
    assert!(first_puts > 0);
    // Resume state (cached hashes) is on disk, and its lock is free again.
    assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 1);

    emu.faults().clear();
    emu.clear_requests();
    let outcome = upload_to(&client, dir.path(), "alice/resume")
        .await
        .expect("resumes");
    assert!(outcome.commit_oid.is_some());
    assert_eq!(
        count_requests(&emu, "PUT", "/_lfs/"),
        0,
        "no stored object is sent twice"
    );
    let inline: u64 = files
        .iter()
        .filter(|(p, _)| p.ends_with(".txt"))
        .map(|(_, c)| c.len() as u64)
        .sum();
    assert_eq!(outcome.bytes_sent, inline, "only the inline files travel");
    assert_files(&emu, "alice/resume", "main", &files).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn aborted_upload_resumes_and_a_concurrent_run_fails_fast() {
    let Setup { emu, dir, state } = Setup::new().await;
    let files = small_folder(dir.path(), 4);
    // The last part hangs: the first run is stuck mid-upload, holding the lock.
    emu.faults().add(FaultRule::new(
        Some("PUT"),
        "/_lfs/part/*/2",
        Fault::Hang,
        Times::Next(1),
    ));
    let client = client(&emu, state.path(), 3);
    let stuck = {
        let client = client.clone();
        let source = dir.path().to_path_buf();
        tokio::spawn(async move { upload_to(&client, &source, "alice/abort").await })
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        while count_requests(&emu, "PUT", "/_lfs/part/") < 2
            || count_requests(&emu, "PUT", "/_lfs/upload/") < 1
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the first run reaches the parts and the basic object");
    let second = upload_to(&client, dir.path(), "alice/abort")
        .await
        .expect_err("the lock is held");
    assert_eq!(second.kind(), UploadErrorKind::Locked);
    assert_eq!(second.code().as_str(), "PF209");
    // Ctrl-C: the future is dropped mid-upload.
    stuck.abort();
    let _ = stuck.await;
    let basic_puts = count_requests(&emu, "PUT", "/_lfs/upload/");
    emu.clear_requests();
    let outcome = upload_to(&client, dir.path(), "alice/abort")
        .await
        .expect("resumes");
    assert!(outcome.commit_oid.is_some());
    // The basic object finished in the first run and is not sent again; the cut multipart
    // object restarts (its part URLs belonged to the old batch).
    assert!(basic_puts > 0, "the basic object was sent in the first run");
    assert_eq!(count_requests(&emu, "PUT", "/_lfs/upload/"), 0);
    assert_files(&emu, "alice/abort", "main", &files).await;
    emu.shutdown().await;
}

struct ChangeOnStart {
    path: std::path::PathBuf,
    target: String,
}

impl ProgressHandler for ChangeOnStart {
    fn on_event(&self, event: ProgressEvent) {
        if let ProgressEvent::FileStarted { path, bytes } = event
            && path == self.target
        {
            // Same size, different bytes: only the sha256 of the send pass can tell.
            std::fs::write(&self.path, pattern(bytes as usize, 99)).unwrap();
        }
    }
}

#[tokio::test]
async fn a_file_changed_between_hash_and_send_is_not_committed() {
    let Setup { emu, dir, state } = Setup::new().await;
    small_folder(dir.path(), 5);
    let client = client(&emu, state.path(), 5);
    let handler = ChangeOnStart {
        path: dir.path().join("model.bin"),
        target: "model.bin".into(),
    };
    let error = upload(&client, &request(dir.path(), "alice/changing"), &handler)
        .await
        .expect_err("the change is detected");
    assert_eq!(error.kind(), UploadErrorKind::FileChanged, "{error:?}");
    assert_eq!(error.code().as_str(), "PF207");
    assert_eq!(count_requests(&emu, "POST", "/commit/"), 0);
    // The failed PUT is not retried (a local change is permanent), and never completes.
    assert!(count_requests(&emu, "PUT", "/_lfs/upload/") <= 1);

    // A regular file changed after hashing is caught before the commit as well.
    let handler = ChangeOnStart {
        path: dir.path().join("a.txt"),
        target: "a.txt".into(),
    };
    let error = upload(&client, &request(dir.path(), "alice/changing"), &handler)
        .await
        .expect_err("the change is detected");
    assert_eq!(error.kind(), UploadErrorKind::FileChanged, "{error:?}");
    assert_eq!(count_requests(&emu, "POST", "/commit/"), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn create_pr_opens_a_pull_request() {
    let Setup { emu, dir, state } = Setup::new().await;
    let first = small_folder(dir.path(), 6);
    let client = client(&emu, state.path(), 5);
    upload_to(&client, dir.path(), "alice/pr").await.unwrap();

    let changed = vec![("a.txt".to_owned(), b"changed in a PR\n".to_vec())];
    write_file(dir.path(), "a.txt", &changed[0].1);
    let mut pr_request = request(dir.path(), "alice/pr");
    pr_request.create_pr = true;
    pr_request.message = Some("Propose a change".into());
    let outcome = upload(&client, &pr_request, &NoProgress).await.unwrap();
    let pr_url = outcome.pull_request_url.expect("a pull request");
    let number = pr_url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(outcome.files_uploaded, 1);
    assert_files(&emu, "alice/pr", &format!("refs/pr/{number}"), &changed).await;
    // main is untouched.
    assert_files(&emu, "alice/pr", "main", &first).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn dry_run_and_plan_errors_touch_no_network() {
    let Setup { emu, dir, state } = Setup::new().await;
    small_folder(dir.path(), 7);
    let client = client(&emu, state.path(), 5);
    let mut dry = request(dir.path(), "alice/dry");
    dry.dry_run = true;
    dry.path_in_repo = Some("v1".into());
    dry.exclude = vec!["*.bin".into()];
    let outcome = upload(&client, &dry, &NoProgress).await.unwrap();
    let paths: Vec<_> = outcome
        .plan
        .files
        .iter()
        .map(|f| f.path_in_repo.as_str())
        .collect();
    assert_eq!(paths, ["v1/a.txt", "v1/sub/b.txt"]);
    assert_eq!(outcome.commit_url, None);

    let missing = upload_to(&client, &dir.path().join("nope"), "alice/dry")
        .await
        .unwrap_err();
    assert_eq!(missing.code().as_str(), "PF201");
    assert!(!missing.hint().is_empty());
    assert!(emu.requests().is_empty());
    emu.shutdown().await;
}

#[tokio::test]
async fn random_fault_mix_thirty_uploads() {
    let emu = emulator().await;
    let state = tempfile::tempdir().unwrap();
    let client = client(&emu, state.path(), 8);
    let mix = vec![
        status(500),
        status(502),
        status(503),
        Fault::ResetConnection,
        Fault::TruncateBody { after_bytes: 3 },
        Fault::RateLimit {
            retry_after_secs: 1,
        },
    ];
    let mut committed = 0;
    let mut failures = Vec::new();
    for round in 0..30_u8 {
        let dir = tempfile::tempdir().unwrap();
        let files = small_folder(dir.path(), round);
        let repo = format!("alice/mix-{}", round % 3);
        emu.faults()
            .set_random_mix(u64::from(round) + 1000, 0.2, mix.clone());
        let result = upload_to(&client, dir.path(), &repo).await;
        emu.faults().clear();
        match result {
            Ok(outcome) => {
                assert!(
                    outcome.commit_oid.is_some(),
                    "round {round}: something changed"
                );
                committed += 1;
                assert_files(&emu, &repo, "main", &files).await;
            }
            Err(error) => {
                // A clean, explained failure: a code, a hint and a cause.
                assert!(!error.hint().is_empty());
                failures.push(format!(
                    "round {round}: [{}] {}",
                    error.code(),
                    error_chain(&error)
                ));
            }
        }
    }
    eprintln!("{committed}/30 committed; failures: {failures:#?}");
    assert!(
        committed >= 29,
        "{committed} committed; failures: {failures:#?}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_commit_whose_answer_is_lost_is_found_not_repeated() {
    let Setup { emu, dir, state } = Setup::new().await;
    let files = small_folder(dir.path(), 8);
    // The server applies the commit, then the answer is cut after 3 bytes.
    emu.faults().add(FaultRule::new(
        Some("POST"),
        "/api/models/alice/lost-answer/commit/main",
        Fault::TruncateBody { after_bytes: 3 },
        Times::Next(1),
    ));
    let client = client(&emu, state.path(), 5);
    let outcome = upload_to(&client, dir.path(), "alice/lost-answer")
        .await
        .expect("the landed commit is recognised");
    assert_eq!(
        count_requests(&emu, "POST", "/commit/"),
        1,
        "the commit is not sent twice"
    );
    assert!(
        count_requests(&emu, "GET", "/tree/") >= 1,
        "the new head's tree was checked"
    );
    assert!(outcome.commit_oid.is_some());
    assert_files(&emu, "alice/lost-answer", "main", &files).await;

    // A 503 (nothing applied) is re-sent after the head is found unchanged.
    write_file(dir.path(), "a.txt", b"second version\n");
    emu.clear_requests();
    emu.faults().add(FaultRule::new(
        Some("POST"),
        "/api/models/alice/lost-answer/commit/main",
        status(503),
        Times::Next(1),
    ));
    upload_to(&client, dir.path(), "alice/lost-answer")
        .await
        .expect("re-sent");
    assert_eq!(count_requests(&emu, "POST", "/commit/"), 2);
    assert_eq!(
        fetch(&emu, "alice/lost-answer", "main", "a.txt").await,
        b"second version\n"
    );
    emu.shutdown().await;
}

/// A client whose retry deadline is `deadline`.
fn client_with_deadline(emu: &RunningEmulator, state: &Path, deadline: Duration) -> HubClient {
    let retry = common::fast_retry(5).with_deadline(Some(deadline));
    common::hub_client(emu, TOKEN, state, retry)
}

/// Waits until the emulator has answered a request matching `method` and `needle`.
async fn wait_for_request(emu: &RunningEmulator, method: &str, needle: &str) {
    for _ in 0..500 {
        if count_requests(emu, method, needle) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no {method} {needle} request seen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_concurrent_uploads_of_different_folders_into_one_branch_all_land() {
    let emu = emulator().await;
    let state = tempfile::tempdir().unwrap();
    let mut folders = Vec::new();
    let mut tasks = Vec::new();
    for shard in 0..6_u8 {
        let dir = tempfile::tempdir().unwrap();
        let files = small_folder(dir.path(), shard);
        let client = client(&emu, state.path(), 3);
        let mut request = request(dir.path(), "alice/shards");
        request.path_in_repo = Some(format!("shard-{shard}"));
        tasks.push(tokio::spawn(async move {
            upload(&client, &request, &NoProgress).await
        }));
        folders.push((dir, files));
    }
    for task in tasks {
        let outcome = task.await.unwrap().expect("every uploader lands");
        assert!(outcome.commit_oid.is_some());
    }
    for (shard, (_dir, files)) in folders.iter().enumerate() {
        let prefixed: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(path, content)| (format!("shard-{shard}/{path}"), content.clone()))
            .collect();
        assert_files(&emu, "alice/shards", "main", &prefixed).await;
    }
    // No commit carried a parentCommit, so none could be refused for a moved branch.
    assert!(
        emu.requests()
            .iter()
            .all(|r| !(r.path.contains("/commit/") && r.status == 412))
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_during_which_someone_else_commits_lands_and_keeps_their_file() {
    let Setup { emu, dir, state } = Setup::new().await;
    let files = small_folder(dir.path(), 3);
    // Create the repo with a first commit, so the branch has a head to move.
    let first_client = client(&emu, state.path(), 3);
    upload_to(&first_client, dir.path(), "alice/busy")
        .await
        .unwrap();
    let changed: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(path, content)| {
            let mut content = content.clone();
            content.push(b'!');
            (path.clone(), content)
        })
        .collect();
    for (path, content) in &changed {
        write_file(dir.path(), path, content);
    }
    // The upload's first LFS PUT is held for 1.5 s; meanwhile someone edits a file on "the
    // website" (a plain commit from another client).
    emu.clear_requests();
    emu.faults().add(FaultRule::new(
        Some("PUT"),
        "prefix:/_lfs/",
        Fault::Delay(Duration::from_millis(1500)),
        Times::Next(1),
    ));
    let client = client(&emu, state.path(), 3);
    let source = dir.path().to_path_buf();
    let running = tokio::spawn(async move { upload_to(&client, &source, "alice/busy").await });
    wait_for_request(&emu, "POST", "/info/lfs/objects/batch").await;
    let body = concat!(
        r#"{"key":"header","value":{"summary":"Edit on the website"}}"#,
        "\n",
        r#"{"key":"file","value":{"path":"WEBSITE.md","content":"edited","encoding":"utf-8"}}"#,
        "\n"
    );
    let foreign = reqwest::Client::new()
        .post(format!("{}/api/models/alice/busy/commit/main", emu.url()))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 200);
    assert_eq!(
        count_requests(&emu, "POST", "/api/models/alice/busy/commit/"),
        1
    );
    let outcome = running
        .await
        .unwrap()
        .expect("the upload lands on the new head");
    assert!(outcome.commit_oid.is_some());
    assert_eq!(
        fetch(&emu, "alice/busy", "main", "WEBSITE.md").await,
        b"edited"
    );
    assert_files(&emu, "alice/busy", "main", &changed).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_concurrent_uploads_of_the_same_target_one_runs_the_others_fail_fast() {
    let Setup { emu, dir, state } = Setup::new().await;
    let files = small_folder(dir.path(), 9);
    // The one that runs is held for a while at its first PUT.
    emu.faults().add(FaultRule::new(
        Some("PUT"),
        "prefix:/_lfs/",
        Fault::Delay(Duration::from_millis(1500)),
        Times::Next(1),
    ));
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let client = client(&emu, state.path(), 3);
        let source = dir.path().to_path_buf();
        tasks.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = upload_to(&client, &source, "alice/same-target").await;
            (result, started.elapsed())
        }));
    }
    let mut ran = 0;
    let mut locked = 0;
    for task in tasks {
        match task.await.unwrap() {
            (Ok(_), _) => ran += 1,
            (Err(error), elapsed) => {
                assert_eq!(error.kind(), UploadErrorKind::Locked, "{error}");
                assert_eq!(error.code().as_str(), "PF209");
                assert!(elapsed < Duration::from_secs(1), "fails fast: {elapsed:?}");
                locked += 1;
            }
        }
    }
    assert_eq!((ran, locked), (1, 2));
    assert_files(&emu, "alice/same-target", "main", &files).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn two_thousand_lfs_files_take_one_batch_call_per_256_objects() {
    let Setup { emu, dir, state } = Setup::new().await;
    let files: Vec<(String, Vec<u8>)> = (0..2000_u32)
        .map(|i| {
            let mut content = pattern(REGULAR_MAX as usize + 24, (i % 251) as u8);
            content[..4].copy_from_slice(&i.to_le_bytes());
            (format!("lfs/{i:04}.bin"), content)
        })
        .collect();
    for (path, content) in &files {
        write_file(dir.path(), path, content);
    }
    let client = client(&emu, state.path(), 3);
    let mut request = request(dir.path(), "alice/many-lfs");
    request.concurrency = 8;
    request.max_commit_files = 1000;
    let outcome = upload(&client, &request, &NoProgress).await.unwrap();
    assert_eq!(outcome.files_uploaded, 2000);
    let batches = count_requests(&emu, "POST", "/info/lfs/objects/batch");
    assert!(batches <= 2000 / 50, "{batches} batch calls");
    assert_eq!(batches, 2000_usize.div_ceil(256));
    assert_eq!(count_requests(&emu, "PUT", "/_lfs/upload/"), 2000);
    // 2,000 files make two commits of at most 1,000 files.
    assert_eq!(count_requests(&emu, "POST", "/commit/"), 2);
    assert_eq!(outcome.commits, 2);
    let sample: Vec<(String, Vec<u8>)> = files.iter().step_by(97).cloned().collect();
    assert_files(&emu, "alice/many-lfs", "main", &sample).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn a_part_whose_transfer_outlasts_the_retry_deadline_then_fails_is_retried() {
    let Setup { emu, dir, state } = Setup::new().await;
    let files = small_folder(dir.path(), 21);
    // The retry deadline is 1 s; the first part runs 1.5 s, then fails with a 503.
    emu.faults().add(FaultRule::new(
        Some("PUT"),
        "prefix:/_lfs/part/",
        Fault::SlowStatus {
            delay: Duration::from_millis(1500),
            code: 503,
        },
        Times::Next(1),
    ));
    let client = client_with_deadline(&emu, state.path(), Duration::from_secs(1));
    let outcome = upload_to(&client, dir.path(), "alice/slow-part")
        .await
        .expect("the slow, failed part is sent again");
    assert!(outcome.retries >= 1);
    let parts = usize::try_from((MULTIPART_THRESHOLD + 10).div_ceil(CHUNK)).unwrap();
    assert_eq!(count_requests(&emu, "PUT", "/_lfs/part/"), parts + 1);
    assert_files(&emu, "alice/slow-part", "main", &files).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn thirty_percent_fault_mix_twenty_multipart_uploads_land_whole_or_not_at_all() {
    let emu = emulator().await;
    let state = tempfile::tempdir().unwrap();
    let client = client(&emu, state.path(), 8);
    let mix = vec![
        status(500),
        status(502),
        status(503),
        Fault::ResetConnection,
        Fault::TruncateBody { after_bytes: 3 },
        Fault::RateLimit {
            retry_after_secs: 1,
        },
    ];
    let mut landed = 0;
    let mut failures = Vec::new();
    for round in 0..20_u8 {
        let dir = tempfile::tempdir().unwrap();
        let files = small_folder(dir.path(), round.wrapping_add(100));
        let repo = format!("alice/mix30-{round}");
        emu.faults()
            .set_random_mix(u64::from(round) + 5000, 0.3, mix.clone());
        let result = upload_to(&client, dir.path(), &repo).await;
        emu.faults().clear();
        match result {
            Ok(_) => {
                assert_files(&emu, &repo, "main", &files).await;
                landed += 1;
            }
            Err(error) => {
                // Nothing partial: the branch holds none of this round's files.
                for (path, _) in &files {
                    let response =
                        reqwest::get(format!("{}/{repo}/resolve/main/{path}", emu.url()))
                            .await
                            .unwrap();
                    assert_ne!(response.status(), 200, "round {round}: {path} is partial");
                }
                failures.push(format!(
                    "round {round}: [{}] {}",
                    error.code(),
                    error_chain(&error)
                ));
            }
        }
    }
    eprintln!("{landed}/20 landed; failures: {failures:#?}");
    assert!(landed >= 19, "{landed} landed; failures: {failures:#?}");
    emu.shutdown().await;
}

/// Refuses the second commit of an upload: adds a one-time 422 when it starts.
struct FailSecondCommit {
    faults: hub_emulator::FaultPlan,
    commits: Mutex<usize>,
}

impl ProgressHandler for FailSecondCommit {
    fn on_event(&self, event: ProgressEvent) {
        if let ProgressEvent::Committing { .. } = event {
            let mut commits = self.commits.lock().unwrap();
            *commits += 1;
            if *commits == 2 {
                self.faults.add(FaultRule::new(
                    Some("POST"),
                    "prefix:/api/models/alice/parts/commit/",
                    status(422),
                    Times::Next(1),
                ));
            }
        }
    }
}

#[tokio::test]
async fn a_large_tree_is_committed_in_parts_and_a_rerun_resumes_after_the_last_landed_part() {
    let Setup { emu, dir, state } = Setup::new().await;
    let files: Vec<(String, Vec<u8>)> = (0..2100_u32)
        .map(|i| {
            (
                format!("d{}/f{i:05}.txt", i / 500),
                format!("file {i}\n").into_bytes(),
            )
        })
        .collect();
    for (path, content) in &files {
        write_file(dir.path(), path, content);
    }
    let client = client(&emu, state.path(), 3);
    let failing = FailSecondCommit {
        faults: emu.faults(),
        commits: Mutex::new(0),
    };
    let mut parts = request(dir.path(), "alice/parts");
    parts.max_commit_files = 1000;
    let error = upload(&client, &parts, &failing).await.unwrap_err();
    assert!(error.resumable(), "{error}");
    // The first 1,000 files landed; the rerun skips them and commits the other 1,100 in two.
    emu.clear_requests();
    let outcome = upload(&client, &parts, &NoProgress).await.unwrap();
    assert_eq!(outcome.files_skipped, 1000);
    assert_eq!(outcome.files_uploaded, 1100);
    assert_eq!(outcome.commits, 2);
    assert_eq!(count_requests(&emu, "POST", "/commit/"), 2);
    let sample: Vec<(String, Vec<u8>)> = files.iter().step_by(53).cloned().collect();
    assert_files(&emu, "alice/parts", "main", &sample).await;
    emu.shutdown().await;
}
