//! [`upload`]: plan → repo → preupload → hash + LFS transfers → commit.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use tokio::sync::Semaphore;

use crate::api::{PREUPLOAD_CHUNK, PreuploadAnswer, PreuploadFile, RepoLookup};
use crate::client::HubClient;
use crate::commit::{CommitOperation, CommitRequest};
use crate::error::{UploadError, UploadErrorKind, chain_text, file_changed, local_io};
use crate::hash::{HashKind, git_sha1, hash_file};
use crate::lfs::{LfsObject, Transfer};
use crate::plan::{PlannedFile, UploadPlan, plan_upload};
use crate::progress::{ProgressEvent, ProgressHandler, UploadMode};
use crate::repo::{RepoId, RepoType};
use crate::state::{ResumeState, mtime_ns, state_key};

/// Bytes of each file sent to `preupload` as `sample`.
const SAMPLE_SIZE: usize = 512;

/// Files checked (and regular files read) per blocking task before the commit.
const RECHECK_BATCH: usize = 64;

/// Files up to this size are hashed inline on the async worker: a blocking-pool round trip
/// costs more than hashing them.
const INLINE_HASH_LIMIT: u64 = 1024 * 1024;

/// What to upload, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// A file or a folder.
    pub source: PathBuf,
    /// `namespace/name`.
    pub repo_id: String,
    /// Model, dataset or Space.
    pub repo_type: RepoType,
    /// Branch to commit to (`main`).
    pub revision: String,
    /// Destination folder (for a folder or a file when it ends in `/`) or path (for a file).
    pub path_in_repo: Option<String>,
    /// Create the repository as private if it does not exist.
    pub private: bool,
    /// Open a pull request instead of committing to `revision`.
    pub create_pr: bool,
    /// Commit summary; a default names the tool.
    pub message: Option<String>,
    /// fnmatch-like patterns of files to keep (all when empty).
    pub include: Vec<String>,
    /// fnmatch-like patterns of files to leave out.
    pub exclude: Vec<String>,
    /// Return the plan without touching the network.
    pub dry_run: bool,
    /// Files and parts in flight at once (at least 1; default 4).
    pub concurrency: usize,
}

impl UploadRequest {
    /// An upload of `source` to the model repository `repo_id`, with defaults elsewhere.
    pub fn new(source: impl Into<PathBuf>, repo_id: impl Into<String>) -> Self {
        UploadRequest {
            source: source.into(),
            repo_id: repo_id.into(),
            ..UploadRequest::default()
        }
    }
}

impl Default for UploadRequest {
    fn default() -> Self {
        UploadRequest {
            source: PathBuf::new(),
            repo_id: String::new(),
            repo_type: RepoType::Model,
            revision: "main".to_owned(),
            path_in_repo: None,
            private: false,
            create_pr: false,
            message: None,
            include: Vec::new(),
            exclude: Vec::new(),
            dry_run: false,
            concurrency: 4,
        }
    }
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOutcome {
    /// The commit's web URL; `None` when nothing changed (or a dry run).
    pub commit_url: Option<String>,
    /// The commit oid; `None` when nothing changed.
    pub commit_oid: Option<String>,
    /// The pull request, with `create_pr`.
    pub pull_request_url: Option<String>,
    /// The plan that was executed.
    pub plan: UploadPlan,
    /// Files in the commit.
    pub files_uploaded: usize,
    /// Files left out: the server had them (same oid) or ignores them.
    pub files_skipped: usize,
    /// Bytes sent: LFS bodies (retries count once) plus inline file contents.
    pub bytes_sent: u64,
    /// The repository was created by this upload.
    pub repo_created: bool,
    /// Retries made (all steps).
    pub retries: u64,
    /// Wall time.
    pub duration: Duration,
}

/// A file after preupload and hashing.
#[derive(Debug, Clone)]
struct Prepared {
    file: PlannedFile,
    mode: UploadMode,
    remote_oid: Option<String>,
}

/// What happened to one file.
#[derive(Debug)]
enum FileResult {
    Skipped,
    Commit {
        operation: CommitOperation,
        local: PathBuf,
        size: u64,
        mtime: u64,
        sent: u64,
    },
}

/// Uploads `request.source` to the Hub in one commit; see the crate docs for the sequence.
pub async fn upload(
    client: &HubClient,
    request: &UploadRequest,
    progress: &dyn ProgressHandler,
) -> Result<UploadOutcome, UploadError> {
    let started = Instant::now();
    let retries_before = client.retry.stats().retries;
    let result = run(client, request, progress, started, retries_before).await;
    if let Err(error) = &result {
        tracing::error!(
            target: "preflight::hub",
            event = "upload_failed",
            repo = %request.repo_id,
            code = error.code().as_str(),
            cause = %chain_text(error),
            resumable = error.resumable(),
            "upload failed: {error}",
        );
    }
    result
}

async fn run(
    client: &HubClient,
    request: &UploadRequest,
    progress: &dyn ProgressHandler,
    started: Instant,
    retries_before: u64,
) -> Result<UploadOutcome, UploadError> {
    check_repo_id(&request.repo_id)?;
    let plan = plan_upload(
        &request.source,
        request.path_in_repo.as_deref(),
        &request.include,
        &request.exclude,
    )?;
    progress.on_event(ProgressEvent::Planned {
        files: plan.files.len(),
        bytes: plan.total_bytes,
    });
    let mut outcome = UploadOutcome {
        commit_url: None,
        commit_oid: None,
        pull_request_url: None,
        plan,
        files_uploaded: 0,
        files_skipped: 0,
        bytes_sent: 0,
        repo_created: false,
        retries: 0,
        duration: Duration::ZERO,
    };
    if request.dry_run {
        progress.on_event(ProgressEvent::Complete { commit_url: None });
        outcome.duration = started.elapsed();
        return Ok(outcome);
    }
    tracing::info!(
        target: "preflight::hub",
        event = "upload_started",
        repo = %request.repo_id,
        repo_type = request.repo_type.as_str(),
        revision = %request.revision,
        files = outcome.plan.files.len(),
        bytes = outcome.plan.total_bytes,
        "uploading {} files ({} bytes) to {}",
        outcome.plan.files.len(),
        outcome.plan.total_bytes,
        request.repo_id,
    );

    let canonical = request
        .source
        .canonicalize()
        .map_err(|error| local_io(&request.source, error))?;
    let key = state_key(&[
        client.endpoint(),
        request.repo_type.as_str(),
        &request.repo_id,
        &request.revision,
        if request.create_pr { "pr" } else { "" },
        &canonical.to_string_lossy(),
        request.path_in_repo.as_deref().unwrap_or(""),
    ]);
    let state = ResumeState::open(
        &client.state_root,
        &key,
        &request.repo_id,
        &request.revision,
    )?;
    let state = Arc::new(Mutex::new(state));

    let result = execute(client, request, progress, &state, &mut outcome).await;
    let state = Arc::try_unwrap(state)
        .map(|mutex| mutex.into_inner().expect("not poisoned"))
        .ok();
    match result {
        Ok(()) => {
            if let Some(state) = state {
                state.finish();
            }
            outcome.retries = client.retry.stats().retries - retries_before;
            outcome.duration = started.elapsed();
            if let Some(oid) = &outcome.commit_oid {
                let millis = outcome.duration.as_millis().max(1);
                tracing::info!(
                    target: "preflight::hub",
                    event = "commit_landed",
                    repo = %request.repo_id,
                    commit = %oid,
                    duration_ms = u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
                    throughput = u64::try_from(u128::from(outcome.bytes_sent) * 1000 / millis).unwrap_or(u64::MAX),
                    bytes = outcome.bytes_sent,
                    files = outcome.files_uploaded,
                    retries = outcome.retries,
                    "committed {oid}",
                );
            } else {
                tracing::info!(target: "preflight::hub", event = "upload_unchanged", repo = %request.repo_id, "nothing changed; no commit made");
            }
            progress.on_event(ProgressEvent::Complete {
                commit_url: outcome.commit_url.clone(),
            });
            Ok(outcome)
        }
        Err(mut error) => {
            if let Some(mut state) = state {
                match state.save() {
                    Ok(()) => error.set_state_kept(true),
                    Err(save_error) => {
                        tracing::warn!(target: "preflight::hub", error = %save_error, "cannot save resume state");
                    }
                }
            }
            Err(error)
        }
    }
}

fn check_repo_id(repo_id: &str) -> Result<(), UploadError> {
    RepoId::parse(repo_id)
        .map(drop)
        .map_err(|error| UploadError::new(UploadErrorKind::Plan, error.message))
}

async fn execute(
    client: &HubClient,
    request: &UploadRequest,
    progress: &dyn ProgressHandler,
    state: &Mutex<ResumeState>,
    outcome: &mut UploadOutcome,
) -> Result<(), UploadError> {
    let repo_type = request.repo_type;
    let repo_id = request.repo_id.as_str();

    // 1. The repository: look before creating (a repo-scoped token may not create).
    match client
        .repo_exists(repo_type, repo_id)
        .await
        .map_err(|error| UploadError::from_retry("repo_info", error))?
    {
        RepoLookup::Exists => {}
        RepoLookup::Missing => {
            outcome.repo_created = client
                .create_repo(repo_type, repo_id, request.private)
                .await
                .map_err(|error| {
                    let mapped = UploadError::from_retry("repo_create", error);
                    match mapped.kind() {
                        UploadErrorKind::Server => UploadError::new(
                            UploadErrorKind::RepoCreate,
                            format!("cannot create the repository `{repo_id}`"),
                        )
                        .with_source(mapped),
                        _ => mapped,
                    }
                })?;
        }
    }
    let parent = client
        .revision_sha(repo_type, repo_id, &request.revision)
        .await
        .map_err(|error| UploadError::from_retry("repo_info", error))?;

    // 2. README metadata, before any hashing.
    if let Some(readme) = outcome
        .plan
        .files
        .iter()
        .find(|f| f.path_in_repo == "README.md")
    {
        let content = tokio::fs::read(&readme.local_path)
            .await
            .map_err(|error| local_io(&readme.local_path, error))?;
        let text = String::from_utf8_lossy(&content);
        let errors = client
            .validate_yaml(repo_type, &text)
            .await
            .map_err(|error| UploadError::from_retry("validate_yaml", error))?;
        if !errors.is_empty() {
            return Err(UploadError::new(
                UploadErrorKind::InvalidMetadata,
                format!("invalid metadata in README.md: {}", errors.join("; ")),
            ));
        }
    }

    // 3. Preupload: which files are LFS, ignored, or already there.
    let mut answers: HashMap<String, PreuploadAnswer> = HashMap::new();
    for chunk in outcome.plan.files.chunks(PREUPLOAD_CHUNK) {
        let files = read_samples(chunk).await?;
        let chunk_answers = client
            .preupload(
                repo_type,
                repo_id,
                &request.revision,
                request.create_pr,
                &files,
            )
            .await
            .map_err(|error| UploadError::from_retry("preupload", error))?;
        answers.extend(chunk_answers.into_iter().map(|a| (a.path.clone(), a)));
    }
    let mut prepared = Vec::new();
    for file in &outcome.plan.files {
        let Some(answer) = answers.remove(&file.path_in_repo) else {
            return Err(UploadError::new(
                UploadErrorKind::Server,
                format!("preupload did not answer for `{}`", file.path_in_repo),
            ));
        };
        // Empty files are always regular (the official client does the same).
        let mode = if answer.upload_mode == "lfs" && file.size > 0 {
            UploadMode::Lfs
        } else {
            UploadMode::Regular
        };
        if answer.should_ignore {
            done(progress, &file.path_in_repo, file.size, mode, true);
            outcome.files_skipped += 1;
            continue;
        }
        prepared.push(Prepared {
            file: file.clone(),
            mode,
            remote_oid: answer.oid,
        });
    }

    // 4. Hash, compare and send, `concurrency` files at a time.
    let concurrency = request.concurrency.max(1);
    let transfer_permits = Semaphore::new(concurrency);
    let hash_permits = Semaphore::new(
        std::thread::available_parallelism()
            .map_or(2, usize::from)
            .min(concurrency),
    );
    let batch_revision = (!request.create_pr).then_some(request.revision.as_str());
    let shared = Shared {
        client,
        progress,
        state,
        transfer_permits: &transfer_permits,
        hash_permits: &hash_permits,
        concurrency,
        repo_type,
        repo_id,
        batch_revision,
    };
    let results: Vec<FileResult> = futures::stream::iter(prepared)
        .map(|item| shared.process(item))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    if let Err(error) = state.lock().expect("not poisoned").save() {
        tracing::warn!(target: "preflight::hub", error = %error, "cannot save resume state");
    }

    let mut operations = Vec::new();
    for result in results {
        match result {
            FileResult::Skipped => outcome.files_skipped += 1,
            FileResult::Commit {
                operation,
                local,
                size,
                mtime,
                sent,
            } => {
                outcome.bytes_sent += sent;
                operations.push((operation, local, size, mtime));
            }
        }
    }
    if operations.is_empty() {
        return Ok(());
    }

    // 5. Last checks before committing: nothing changed since hashing.
    // One blocking task per `RECHECK_BATCH` files: a `tokio::fs` round trip per check and per
    // read cost more than the reads. Each regular file still gets `FileStarted` before it is
    // read and `BytesSent` + `FileDone` after.
    let mut commit_operations = Vec::with_capacity(operations.len());
    let mut operations = operations.into_iter().peekable();
    while operations.peek().is_some() {
        let batch: Vec<_> = operations.by_ref().take(RECHECK_BATCH).collect();
        for (operation, _, size, _) in &batch {
            if let CommitOperation::File { path, .. } = operation {
                progress.on_event(ProgressEvent::FileStarted {
                    path: path.clone(),
                    bytes: *size,
                });
            }
        }
        for (operation, size) in blocking(move || recheck(batch)).await? {
            if let CommitOperation::File { path, .. } = &operation {
                progress.on_event(ProgressEvent::BytesSent {
                    path: path.clone(),
                    bytes: size,
                });
                done(progress, path, size, UploadMode::Regular, false);
                outcome.bytes_sent += size;
            }
            commit_operations.push(operation);
        }
    }
    commit_operations.sort_by(|a, b| a.path().cmp(b.path()));

    // 6. The commit.
    progress.on_event(ProgressEvent::Committing {
        files: commit_operations.len(),
    });
    let summary = request.message.clone().unwrap_or_else(|| {
        if request.source.is_dir() {
            "Upload folder using preflight".to_owned()
        } else {
            format!(
                "Upload {} with preflight",
                outcome
                    .plan
                    .files
                    .first()
                    .map_or("file", |f| f.path_in_repo.as_str())
            )
        }
    });
    let commit = client
        .commit(&CommitRequest {
            repo_type,
            repo_id,
            revision: &request.revision,
            create_pr: request.create_pr,
            summary: &summary,
            parent: parent.as_deref(),
            operations: &commit_operations,
        })
        .await?;
    outcome.files_uploaded = commit_operations.len();
    outcome.commit_oid = Some(commit.oid);
    outcome.commit_url = Some(commit.url);
    outcome.pull_request_url = commit.pull_request_url;
    Ok(())
}

fn done(progress: &dyn ProgressHandler, path: &str, bytes: u64, mode: UploadMode, skipped: bool) {
    tracing::info!(
        target: "preflight::hub",
        event = "upload_file_done",
        path,
        bytes,
        mode = mode.as_str(),
        skipped,
    );
    progress.on_event(ProgressEvent::FileDone {
        path: path.to_owned(),
        bytes,
        mode,
        skipped,
    });
}

/// The preupload entries of `chunk`: one blocking task reads every file's first
/// [`SAMPLE_SIZE`] bytes (one `tokio::fs` round trip per file cost more than the reads).
async fn read_samples(chunk: &[PlannedFile]) -> Result<Vec<PreuploadFile>, UploadError> {
    let entries: Vec<(PathBuf, String, u64)> = chunk
        .iter()
        .map(|file| {
            (
                file.local_path.clone(),
                file.path_in_repo.clone(),
                file.size,
            )
        })
        .collect();
    blocking(move || {
        entries
            .into_iter()
            .map(|(local, path, size)| {
                let sample = read_sample(&local).map_err(|error| local_io(&local, error))?;
                Ok(PreuploadFile { path, sample, size })
            })
            .collect()
    })
    .await
}

fn read_sample(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut sample = Vec::with_capacity(SAMPLE_SIZE);
    std::fs::File::open(path)?
        .take(SAMPLE_SIZE as u64)
        .read_to_end(&mut sample)?;
    Ok(sample)
}

/// Runs `work` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, UploadError> + Send + 'static,
) -> Result<T, UploadError> {
    tokio::task::spawn_blocking(work).await.map_err(|join| {
        UploadError::new(UploadErrorKind::LocalIo, "a file-reading task failed").with_source(join)
    })?
}

/// Step 5 for every operation at once, on the blocking pool: each file must still have the
/// size and mtime it was hashed with, and a regular file is read into the commit body and
/// must still have its git blob id.
fn recheck(
    operations: Vec<(CommitOperation, PathBuf, u64, u64)>,
) -> Result<Vec<(CommitOperation, u64)>, UploadError> {
    operations
        .into_iter()
        .map(|(operation, local, size, mtime)| {
            let metadata = std::fs::metadata(&local).map_err(|error| local_io(&local, error))?;
            if metadata.len() != size || mtime_ns(&metadata) != mtime {
                return Err(file_changed(operation.path()));
            }
            let operation = match operation {
                CommitOperation::File {
                    path,
                    git_sha1: expected,
                    ..
                } => {
                    let content = std::fs::read(&local).map_err(|error| local_io(&local, error))?;
                    if git_sha1(&content) != expected {
                        return Err(file_changed(&path));
                    }
                    CommitOperation::File {
                        path,
                        content,
                        git_sha1: expected,
                    }
                }
                lfs => lfs,
            };
            Ok((operation, size))
        })
        .collect()
}

/// Borrowed context of the per-file pipeline.
struct Shared<'a> {
    client: &'a HubClient,
    progress: &'a dyn ProgressHandler,
    state: &'a Mutex<ResumeState>,
    transfer_permits: &'a Semaphore,
    hash_permits: &'a Semaphore,
    concurrency: usize,
    repo_type: RepoType,
    repo_id: &'a str,
    batch_revision: Option<&'a str>,
}

impl Shared<'_> {
    /// Hash → compare with the server's oid → (LFS) batch, send, verify.
    async fn process(&self, item: Prepared) -> Result<FileResult, UploadError> {
        let file = &item.file;
        let kind = match item.mode {
            UploadMode::Lfs => HashKind::Sha256,
            UploadMode::Regular => HashKind::GitSha1,
        };
        let (digest, mtime) = self.hash(file, kind).await?;
        if item.remote_oid.as_deref() == Some(digest.as_str()) {
            done(
                self.progress,
                &file.path_in_repo,
                file.size,
                item.mode,
                true,
            );
            return Ok(FileResult::Skipped);
        }
        if item.mode == UploadMode::Regular {
            return Ok(FileResult::Commit {
                operation: CommitOperation::File {
                    path: file.path_in_repo.clone(),
                    content: Vec::new(),
                    git_sha1: digest,
                },
                local: file.local_path.clone(),
                size: file.size,
                mtime,
                sent: 0,
            });
        }
        let object = LfsObject {
            path_in_repo: file.path_in_repo.clone(),
            local_path: file.local_path.clone(),
            size: file.size,
            sha256: digest.clone(),
            mtime,
        };
        let client = self.client;
        let transfer = client
            .lfs_batch(self.repo_type, self.repo_id, self.batch_revision, &object)
            .await
            .map_err(|error| UploadError::from_retry("lfs_batch", error))?;
        let (sent, verify) = match transfer {
            Transfer::Stored => {
                tracing::debug!(target: "preflight::hub", path = %file.path_in_repo, "LFS object already stored");
                (0, None)
            }
            Transfer::Unsupported(name) => {
                return Err(UploadError::new(
                    UploadErrorKind::UnsupportedTransfer,
                    format!(
                        "the server chose the `{name}` LFS transfer; preflight supports only `basic` and `multipart`"
                    ),
                ));
            }
            Transfer::Basic { href, verify } if href.is_empty() => (0, verify),
            Transfer::Basic { href, verify } => {
                self.started(file);
                client
                    .lfs_put(&href, &object, self.transfer_permits, self.progress)
                    .await
                    .map_err(|error| UploadError::from_retry("lfs_put", error))?;
                (file.size, verify)
            }
            Transfer::Multipart {
                completion,
                chunk_size,
                parts,
                verify,
            } => {
                self.started(file);
                let result = client
                    .lfs_multipart(
                        &completion,
                        chunk_size,
                        &parts,
                        &object,
                        self.transfer_permits,
                        self.concurrency,
                        self.progress,
                    )
                    .await;
                if let Err(error) = result {
                    // A completion whose answer was lost may have assembled the object: the
                    // repeat then fails (the parts are gone). Ask the batch whether the
                    // object is stored before calling it a failure.
                    let recheck = error.operation() == "lfs_complete" && error.attempts() > 1;
                    let stored = recheck
                        && matches!(
                            client
                                .lfs_batch(
                                    self.repo_type,
                                    self.repo_id,
                                    self.batch_revision,
                                    &object
                                )
                                .await,
                            Ok(Transfer::Stored)
                        );
                    if !stored {
                        return Err(UploadError::from_retry("lfs_multipart", error));
                    }
                    tracing::info!(target: "preflight::hub", event = "lfs_complete_found", path = %file.path_in_repo, "the multipart object was assembled although the completion answer was lost");
                }
                (file.size, verify)
            }
        };
        if let Some(verify) = verify {
            client
                .lfs_verify(&verify, &object)
                .await
                .map_err(|error| UploadError::from_retry("lfs_verify", error))?;
        }
        done(
            self.progress,
            &file.path_in_repo,
            file.size,
            UploadMode::Lfs,
            sent == 0,
        );
        Ok(FileResult::Commit {
            operation: CommitOperation::Lfs {
                path: file.path_in_repo.clone(),
                sha256: digest,
                size: file.size,
            },
            local: file.local_path.clone(),
            size: file.size,
            mtime,
            sent,
        })
    }

    fn started(&self, file: &PlannedFile) {
        self.progress.on_event(ProgressEvent::FileStarted {
            path: file.path_in_repo.clone(),
            bytes: file.size,
        });
    }

    /// The digest of `file` (from the resume cache when size and mtime are unchanged) and the
    /// mtime it belongs to.
    async fn hash(&self, file: &PlannedFile, kind: HashKind) -> Result<(String, u64), UploadError> {
        let small = file.size <= INLINE_HASH_LIMIT;
        let metadata = if small {
            std::fs::metadata(&file.local_path)
        } else {
            tokio::fs::metadata(&file.local_path).await
        }
        .map_err(|error| local_io(&file.local_path, error))?;
        if metadata.len() != file.size {
            return Err(file_changed(&file.path_in_repo));
        }
        let mtime = mtime_ns(&metadata);
        let cached = self.state.lock().expect("not poisoned").lookup(
            &file.relative_path,
            file.size,
            mtime,
            kind,
        );
        if let Some(digest) = cached {
            return Ok((digest, mtime));
        }
        let digest = if small {
            // Microseconds of work: cheaper here than a permit and a blocking-pool round trip.
            hash_file(&file.local_path, kind, file.size)
                .map_err(|error| local_io(&file.local_path, error))?
        } else {
            let _permit = self.hash_permits.acquire().await.expect("never closed");
            let path = file.local_path.clone();
            let size = file.size;
            tokio::task::spawn_blocking(move || hash_file(&path, kind, size))
                .await
                .map_err(|join| {
                    UploadError::new(UploadErrorKind::LocalIo, "the hashing task failed")
                        .with_source(join)
                })?
                .map_err(|error| local_io(&file.local_path, error))?
        };
        self.state.lock().expect("not poisoned").record(
            &file.relative_path,
            file.size,
            mtime,
            kind,
            &digest,
        );
        Ok((digest, mtime))
    }
}
