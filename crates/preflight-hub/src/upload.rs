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
use crate::lfs::{LFS_BATCH_SIZE, LfsObject, Transfer};
use crate::plan::{PlannedFile, UploadPlan, plan_upload};
use crate::progress::{ProgressEvent, ProgressHandler, UploadMode};
use crate::repo::{RepoId, RepoType};
use crate::state::{FileStamp, ResumeState, state_key};

/// Bytes of each file sent to `preupload` as `sample`.
const SAMPLE_SIZE: usize = 512;

/// Files checked (and regular files read) per blocking task before the commit.
const RECHECK_BATCH: usize = 64;

/// Files up to this size are hashed inline on the async worker: a blocking-pool round trip
/// costs more than hashing them.
const INLINE_HASH_LIMIT: u64 = 1024 * 1024;

/// A batch group is sent once it holds this many LFS bytes, even with fewer than
/// `LFS_BATCH_SIZE` objects: large files start moving while the next ones are hashed.
const GROUP_BYTES: u64 = 256 * 1024 * 1024;

/// LFS batch groups transferring at once (their PUTs share the `concurrency` permits).
const MAX_GROUPS_IN_FLIGHT: usize = 2;

/// Files per commit, by default ([`UploadRequest::max_commit_files`]): the Hub documents
/// 25k LFS files per commit (`create_commit`'s docstring). Commits cost the server in proportion
/// to the repository's size, so fewer, larger commits are faster; memory is bounded by
/// [`MAX_COMMIT_INLINE_BYTES`] whatever the count.
pub const MAX_COMMIT_FILES: usize = 25_000;

/// Regular-file content per commit: the commit body holds it base64-encoded (4/3 of it),
/// which bounds the upload's memory whatever the tree's size.
pub const MAX_COMMIT_INLINE_BYTES: u64 = 16 * 1024 * 1024;

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
    /// Opt into the Hub's compare-and-swap: the first commit must apply on top of this commit
    /// (`parentCommit`), or the upload fails with PF208. `None` (the default, as in the official
    /// client) commits on the branch head at commit time.
    pub parent_commit: Option<String>,
    /// Files per commit (at least 1; default [`MAX_COMMIT_FILES`]): larger trees are committed
    /// in several commits, in path order.
    pub max_commit_files: usize,
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
            parent_commit: None,
            max_commit_files: MAX_COMMIT_FILES,
        }
    }
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOutcome {
    /// The commit's web URL; `None` when nothing changed (or a dry run).
    pub commit_url: Option<String>,
    /// The (last) commit oid; `None` when nothing changed.
    pub commit_oid: Option<String>,
    /// Commits made: large trees are committed in parts of at most [`MAX_COMMIT_FILES`] files.
    pub commits: usize,
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

/// A file after preupload: its index in the plan, how it travels, the server's oid.
#[derive(Debug, Clone)]
struct Prepared {
    index: usize,
    mode: UploadMode,
    remote_oid: Option<String>,
}

/// A file ready for a commit (an LFS object already sent).
#[derive(Debug)]
struct Pending {
    operation: CommitOperation,
    local: PathBuf,
    relative: String,
    stamp: FileStamp,
}

/// What hashing decided for one file.
#[derive(Debug)]
enum Hashed {
    Skipped,
    Regular(Pending),
    Lfs(LfsObject),
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
        commits: 0,
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

    // 3. Preupload: which files are LFS, ignored, or already there. Answers are used chunk by
    // chunk, so only one chunk's answers are held at a time.
    let mut prepared = Vec::new();
    for (chunk_number, chunk) in outcome.plan.files.chunks(PREUPLOAD_CHUNK).enumerate() {
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
        drop(files);
        let mut answers: HashMap<String, PreuploadAnswer> = chunk_answers
            .into_iter()
            .map(|answer| (answer.path.clone(), answer))
            .collect();
        for (offset, file) in chunk.iter().enumerate() {
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
                index: chunk_number * PREUPLOAD_CHUNK + offset,
                mode,
                remote_oid: answer.oid,
            });
        }
    }

    // 4. Hash and compare, `concurrency` files at a time; LFS objects go to the server in
    // batches of up to `LFS_BATCH_SIZE` objects (one batch call each), their PUTs run
    // concurrently while the next files are hashed.
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
    let plan = &outcome.plan;
    let mut hashed = futures::stream::iter(prepared)
        .map(|item| shared.hash_step(&plan.files[item.index], item))
        .buffer_unordered(concurrency);
    let mut groups = futures::stream::FuturesUnordered::new();
    let mut group: Vec<LfsObject> = Vec::new();
    let mut group_bytes = 0_u64;
    let mut hashing_done = false;
    let mut pending: Vec<Pending> = Vec::new();
    let mut skipped = 0;
    let mut bytes_sent = 0;
    loop {
        let full = group.len() >= LFS_BATCH_SIZE || group_bytes >= GROUP_BYTES;
        if (full || (hashing_done && !group.is_empty())) && groups.len() < MAX_GROUPS_IN_FLIGHT {
            groups.push(shared.send_group(std::mem::take(&mut group)));
            group_bytes = 0;
            continue;
        }
        if hashing_done && groups.is_empty() {
            break;
        }
        let can_hash = !hashing_done && !full;
        tokio::select! {
            next = hashed.next(), if can_hash => match next {
                None => hashing_done = true,
                Some(result) => match result? {
                    Hashed::Skipped => skipped += 1,
                    Hashed::Regular(item) => pending.push(item),
                    Hashed::Lfs(object) => {
                        group_bytes += object.size;
                        group.push(object);
                    }
                },
            },
            Some(sent) = groups.next(), if !groups.is_empty() => {
                let (sent, items) = sent?;
                bytes_sent += sent;
                pending.extend(items);
            },
        }
    }
    drop(hashed);
    outcome.files_skipped += skipped;
    outcome.bytes_sent += bytes_sent;
    if let Err(error) = state.lock().expect("not poisoned").save() {
        tracing::warn!(target: "preflight::hub", error = %error, "cannot save resume state");
    }
    if pending.is_empty() {
        return Ok(());
    }

    // 5 + 6. Commits of at most `max_commit_files` files and `MAX_COMMIT_INLINE_BYTES` of
    // regular content each, in path order: memory stays bounded whatever the tree's size, and
    // a rerun after a failed later commit finds the earlier commits' files on the server.
    pending.sort_by(|a, b| a.operation.path().cmp(b.operation.path()));
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
    let mut chunks: Vec<Vec<Pending>> = Vec::new();
    let mut inline = 0_u64;
    for item in pending {
        let regular = matches!(item.operation, CommitOperation::File { .. });
        let start_new = chunks.last().is_none_or(|chunk| {
            chunk.len() >= request.max_commit_files.max(1)
                || (regular && inline + item.stamp.size > MAX_COMMIT_INLINE_BYTES && inline > 0)
        });
        if start_new {
            chunks.push(Vec::new());
            inline = 0;
        }
        if regular {
            inline += item.stamp.size;
        }
        chunks.last_mut().expect("pushed above").push(item);
    }
    let total_commits = chunks.len();
    for (number, chunk) in chunks.into_iter().enumerate() {
        let commit_operations = recheck_and_read(progress, state, chunk, outcome).await?;
        progress.on_event(ProgressEvent::Committing {
            files: commit_operations.len(),
        });
        let part_summary = if number == 0 {
            summary.clone()
        } else {
            format!("{summary} (part {})", number + 1)
        };
        let commit = client
            .commit(&CommitRequest {
                repo_type,
                repo_id,
                revision: &request.revision,
                create_pr: request.create_pr,
                summary: &part_summary,
                // Like the official client's multi-commit upload: the caller's parent guards
                // the first commit only; the later ones follow our own.
                parent: if number == 0 {
                    request.parent_commit.as_deref()
                } else {
                    None
                },
                operations: &commit_operations,
            })
            .await?;
        tracing::info!(
            target: "preflight::hub",
            event = "commit_part_landed",
            repo = %repo_id,
            commit = %commit.oid,
            part = number + 1,
            parts = total_commits,
            files = commit_operations.len(),
            "commit {} of {total_commits} landed",
            number + 1,
        );
        outcome.files_uploaded += commit_operations.len();
        outcome.commits += 1;
        outcome.commit_oid = Some(commit.oid);
        outcome.commit_url = Some(commit.url);
        if commit.pull_request_url.is_some() {
            outcome.pull_request_url = commit.pull_request_url;
        }
    }
    Ok(())
}

/// Step 5 for one commit's files: nothing changed since hashing (every file still has its
/// stamp), and regular files are read into the commit. One blocking task per
/// `RECHECK_BATCH` files: a `tokio::fs` round trip per check and per read cost more than the
/// reads. Each regular file gets `FileStarted` before it is read and `BytesSent` + `FileDone`
/// after.
async fn recheck_and_read(
    progress: &dyn ProgressHandler,
    state: &Mutex<ResumeState>,
    chunk: Vec<Pending>,
    outcome: &mut UploadOutcome,
) -> Result<Vec<CommitOperation>, UploadError> {
    let mut commit_operations = Vec::with_capacity(chunk.len());
    let mut items = chunk.into_iter().peekable();
    while items.peek().is_some() {
        let batch: Vec<_> = items.by_ref().take(RECHECK_BATCH).collect();
        for item in &batch {
            if let CommitOperation::File { path, .. } = &item.operation {
                progress.on_event(ProgressEvent::FileStarted {
                    path: path.clone(),
                    bytes: item.stamp.size,
                });
            }
        }
        let checked = blocking(move || Ok(recheck(batch))).await?;
        for result in checked {
            let (operation, size, stale) = match result {
                Ok(checked) => checked,
                Err((relative, error)) => {
                    state.lock().expect("not poisoned").forget(&relative);
                    return Err(error);
                }
            };
            if let Some(relative) = stale {
                state.lock().expect("not poisoned").forget(&relative);
            }
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
    Ok(commit_operations)
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

/// The result of checking one file before its commit: the operation, its size, and (for a
/// regular file whose cached hash was wrong) the relative path whose cache entry to drop; or
/// the relative path and the error.
type Checked = Result<(CommitOperation, u64, Option<String>), (String, UploadError)>;

/// Step 5 for a batch of files, on the blocking pool: each file must still have the stamp it
/// was hashed with, and a regular file is read into the commit body. A regular file whose
/// content no longer has the cached git blob id although its stamp is unchanged (a cache
/// fooled by a rewrite the stamp cannot see) is committed with what it holds now, and its
/// cache entry is dropped: a stale entry is never a dead end.
fn recheck(items: Vec<Pending>) -> Vec<Checked> {
    items
        .into_iter()
        .map(|item| {
            let Pending {
                operation,
                local,
                relative,
                stamp,
            } = item;
            let fail = |error| (relative.clone(), error);
            let metadata = std::fs::metadata(&local).map_err(|error| fail(local_io(&local, error)))?;
            if FileStamp::of(&metadata) != stamp {
                return Err(fail(file_changed(operation.path())));
            }
            let mut stale = None;
            let operation = match operation {
                CommitOperation::File {
                    path,
                    git_sha1: expected,
                    ..
                } => {
                    let content =
                        std::fs::read(&local).map_err(|error| fail(local_io(&local, error)))?;
                    if content.len() as u64 != stamp.size {
                        return Err(fail(file_changed(&path)));
                    }
                    let actual = git_sha1(&content);
                    if actual != expected {
                        tracing::warn!(target: "preflight::hub", event = "hash_cache_stale", path = %path, "the cached hash was wrong; committing the file's current content");
                        stale = Some(relative.clone());
                    }
                    CommitOperation::File {
                        path,
                        content,
                        git_sha1: actual,
                    }
                }
                lfs => lfs,
            };
            Ok((operation, stamp.size, stale))
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
    /// Hash → compare with the server's oid: skipped, a regular file for the commit, or an
    /// LFS object for the next batch.
    async fn hash_step(&self, file: &PlannedFile, item: Prepared) -> Result<Hashed, UploadError> {
        let kind = match item.mode {
            UploadMode::Lfs => HashKind::Sha256,
            UploadMode::Regular => HashKind::GitSha1,
        };
        let (digest, stamp) = self.hash(file, kind).await?;
        if item.remote_oid.as_deref() == Some(digest.as_str()) {
            done(
                self.progress,
                &file.path_in_repo,
                file.size,
                item.mode,
                true,
            );
            return Ok(Hashed::Skipped);
        }
        if item.mode == UploadMode::Regular {
            return Ok(Hashed::Regular(Pending {
                operation: CommitOperation::File {
                    path: file.path_in_repo.clone(),
                    content: Vec::new(),
                    git_sha1: digest,
                },
                local: file.local_path.clone(),
                relative: file.relative_path.clone(),
                stamp,
            }));
        }
        Ok(Hashed::Lfs(LfsObject {
            path_in_repo: file.path_in_repo.clone(),
            local_path: file.local_path.clone(),
            relative_path: file.relative_path.clone(),
            size: file.size,
            sha256: digest,
            mtime: stamp.mtime_ns,
            stamp,
        }))
    }

    /// One LFS batch call for `group`, then every transfer, `concurrency` at a time. Returns
    /// the bytes sent and the commit entries.
    async fn send_group(&self, group: Vec<LfsObject>) -> Result<(u64, Vec<Pending>), UploadError> {
        let objects: Vec<&LfsObject> = group.iter().collect();
        let transfers = self
            .client
            .lfs_batch(self.repo_type, self.repo_id, self.batch_revision, &objects)
            .await
            .map_err(|error| UploadError::from_retry("lfs_batch", error))?;
        let results: Vec<(u64, Pending)> = futures::stream::iter(group.into_iter().zip(transfers))
            .map(|(object, transfer)| async move {
                let sent = self
                    .send_object(&object, transfer)
                    .await
                    .inspect_err(|error| {
                        if error.kind() == UploadErrorKind::FileChanged {
                            self.state
                                .lock()
                                .expect("not poisoned")
                                .forget(&object.relative_path);
                        }
                    })?;
                Ok::<_, UploadError>((
                    sent,
                    Pending {
                        operation: CommitOperation::Lfs {
                            path: object.path_in_repo.clone(),
                            sha256: object.sha256.clone(),
                            size: object.size,
                        },
                        local: object.local_path,
                        relative: object.relative_path,
                        stamp: object.stamp,
                    },
                ))
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let sent = results.iter().map(|(sent, _)| sent).sum();
        Ok((sent, results.into_iter().map(|(_, item)| item).collect()))
    }

    /// Sends one LFS object as the batch said, then verifies it when asked; returns the bytes
    /// sent.
    async fn send_object(
        &self,
        object: &LfsObject,
        transfer: Transfer,
    ) -> Result<u64, UploadError> {
        let client = self.client;
        let (sent, verify) = match transfer {
            Transfer::Stored { verify } => {
                tracing::debug!(target: "preflight::hub", path = %object.path_in_repo, "LFS object already stored");
                (0, verify)
            }
            Transfer::Unsupported(name) => {
                return Err(UploadError::new(
                    UploadErrorKind::UnsupportedTransfer,
                    format!(
                        "the server chose the `{name}` LFS transfer; preflight supports only `basic` and `multipart`"
                    ),
                ));
            }
            Transfer::Basic { href, verify } => {
                self.started(object);
                client
                    .lfs_put(&href, object, self.transfer_permits, self.progress)
                    .await
                    .map_err(|error| UploadError::from_retry("lfs_put", error))?;
                (object.size, verify)
            }
            Transfer::Multipart {
                completion,
                chunk_size,
                parts,
                verify,
            } => {
                self.started(object);
                client
                    .lfs_multipart(
                        (self.repo_type, self.repo_id, self.batch_revision),
                        &completion,
                        chunk_size,
                        &parts,
                        object,
                        self.transfer_permits,
                        self.concurrency,
                        self.progress,
                    )
                    .await
                    .map_err(|error| UploadError::from_retry("lfs_multipart", error))?;
                (object.size, verify)
            }
        };
        if let Some(verify) = verify {
            client
                .lfs_verify(&verify, object)
                .await
                .map_err(|error| UploadError::from_retry("lfs_verify", error))?;
        }
        done(
            self.progress,
            &object.path_in_repo,
            object.size,
            UploadMode::Lfs,
            sent == 0,
        );
        Ok(sent)
    }

    fn started(&self, object: &LfsObject) {
        self.progress.on_event(ProgressEvent::FileStarted {
            path: object.path_in_repo.clone(),
            bytes: object.size,
        });
    }

    /// The digest of `file` (from the resume cache when its stamp is unchanged) and the stamp
    /// it belongs to.
    async fn hash(
        &self,
        file: &PlannedFile,
        kind: HashKind,
    ) -> Result<(String, FileStamp), UploadError> {
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
        let stamp = FileStamp::of(&metadata);
        let cached =
            self.state
                .lock()
                .expect("not poisoned")
                .lookup(&file.relative_path, &stamp, kind);
        if let Some(digest) = cached {
            return Ok((digest, stamp));
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
        self.state
            .lock()
            .expect("not poisoned")
            .record(&file.relative_path, &stamp, kind, &digest);
        Ok((digest, stamp))
    }
}
