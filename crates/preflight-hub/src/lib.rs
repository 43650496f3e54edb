//! The Hugging Face Hub upload client: repos, preupload, LFS (basic + multipart), commits,
//! with retries, resumption, structured logs and progress events.
//!
//! The entry point is [`upload`] with a [`HubClient`] and an [`UploadRequest`].
//!
//! # The upload sequence
//!
//! 1. **Plan** ([`plan_upload`]): walk the file or folder, apply include/exclude globs, leave
//!    out `.git` and `.cache/huggingface`, refuse symlinks that leave the folder, prefix and
//!    validate `path_in_repo`. A dry run stops here and touches no network.
//! 2. **Lock** the resume state ([`state`]); a concurrent run of the same upload fails fast.
//! 3. **Repository**: `GET /api/{t}s/{repo}`; only if missing, `POST /api/repos/create` (409 =
//!    exists). Looking first matters: a repo-scoped token gets 403 from `repos/create` even for a
//!    repository it may write.
//! 4. **`validate-yaml`** when a root `README.md` is part of the upload.
//! 5. **`preupload`** in chunks of 256 (size + 512-byte sample): the server says `lfs` or
//!    `regular`, whether to ignore the file, and the oid it already has.
//! 6. **Hash, compare, send**, `concurrency` files at a time: each file is hashed (sha256 for LFS,
//!    git blob sha1 for regular files; streamed, 256 KiB buffers) unless the resume cache has
//!    it; a file whose oid equals the server's is skipped. LFS objects are announced in **batch
//!    calls of up to 256 objects** (the official client's chunk; a group is also sent once it
//!    holds 256 MiB), two groups in flight while the next files are hashed: no `actions` means
//!    the server stores it already (nothing sent); `basic` is one streamed PUT; `multipart`
//!    sends the numbered parts as file ranges, concurrently, then the completion with the
//!    ETags; `verify` follows when offered. PUTs share `concurrency` permits and the client's
//!    pool of keep-alive connections (HTTP/2 where the server offers it by ALPN). Every byte is
//!    read from disk at most twice (hash, send). A server that offers only Xet is refused with
//!    [`UploadErrorKind::UnsupportedTransfer`].
//! 7. **Checks**: every file must still have the stamp it was hashed with
//!    ([`state::FileStamp`]: size, mtime and ctime in ns, inode, device); regular files are
//!    read into the commit (a stale cached sha1 is replaced by the content's and its cache entry
//!    dropped: `hash_cache_stale`); a basic PUT and **every multipart part** check the open
//!    file's size and mtime when they start and before their last chunk, and the multipart
//!    completion checks the file again, so a changed file is never assembled
//!    ([`UploadErrorKind::FileChanged`]).
//! 8. **Commits**: NDJSON (`header`, `file` base64, `lfsFile`), with `?create_pr=1` for a pull
//!    request. No `parentCommit` unless [`UploadRequest::parent_commit`] asks for the Hub's
//!    compare-and-swap: like the official client, the commit applies on the branch head at
//!    commit time, so many uploaders into one branch all land (same paths: last writer wins).
//!    A tree is committed in parts of at most [`MAX_COMMIT_FILES`] files and
//!    [`MAX_COMMIT_INLINE_BYTES`] of inline content, in path order (`… (part N)`, event
//!    `commit_part_landed`). Nothing to commit means no commit.
//!
//! # Memory
//!
//! About 1 KiB per planned file (its paths, sizes and digests, and its resume-cache entry) plus
//! a constant independent of the tree: one commit's inline content (≤ 16 MiB) and its base64
//! body, `concurrency` read buffers of 256 KiB, two batch groups of ≤ 256 objects. 100,000
//! small files stay under 150 MiB of peak RSS (see `docs/benchmarks.md`).
//!
//! # What is retried
//!
//! Every HTTP step goes through the client's [`preflight_retry::RetryManager`], which retries
//! transient failures (408/429/5xx, resets, timeouts, cut bodies) with backoff and `Retry-After`
//! and logs each retry under the operation name: `repo_info`, `repo_create`, `validate_yaml`,
//! `preupload`, `lfs_batch`, `lfs_put`, `lfs_part`, `lfs_complete`, `lfs_verify`, `repo_tree`,
//! `commit`. Upload bodies are re-opened from disk for each attempt; a failed multipart part is
//! retried alone. A local problem (unreadable or changed file) is never retried.
//!
//! **The commit and the multipart completion are special**: their effect must be confirmed
//! before a re-send, so they run through
//! [`RetryManager::run_confirmed`](preflight_retry::RetryManager::run_confirmed) in the same
//! deadline and attempt budget. After an unclear commit failure the branch head is re-read: if
//! its tree holds our files with our oids, the commit landed (its answer was lost); otherwise it
//! is sent again. Someone else's commit in between is not an error. A 409/412 without
//! `parent_commit` is retried on the new head; with it, it is a conflict (PF208). After an
//! unclear completion, the LFS batch is asked whether the object is stored. See the `commit`
//! module source docs.
//!
//! LFS PUTs and parts use
//! [`RetryManager::run_transfer`](preflight_retry::RetryManager::run_transfer): the deadline
//! counts only the waits between attempts, not the time spent moving bytes (each attempt is
//! bounded by the read timeout, an idle timeout), so a part that fails after minutes is retried.
//!
//! # Resume
//!
//! Run the same command again. Local hashes are cached by path and [`state::FileStamp`] in the
//! state directory ([`state`] documents where and the format), so unchanged files are not
//! re-hashed and rewritten ones always are;
//! LFS objects already stored are reported by the batch call without `actions` and are not sent
//! again; files of commits that already landed are skipped by preupload's oid. Part URLs belong
//! to one batch answer, so an object cut off mid-way restarts. The cached hashes are removed
//! once every commit landed (the lock file stays: see [`state`]).
//!
//! # Progress and logs
//!
//! Progress is the [`ProgressHandler`] trait; [`progress`] documents the event sequence. Logs
//! are `tracing` events with target `preflight::hub` and an `event` field: `upload_started`
//! (`repo`, `files`, `bytes`), `upload_file_done` (`path`, `bytes`, `mode`, `skipped`),
//! `commit_part_landed`, `commit_landed` (`commit`, `duration_ms`, `throughput` in bytes/s),
//! `upload_unchanged`, `commit_found`, `lfs_complete_found`, `hash_cache_stale`, `upload_failed` (`code`, `cause`, `resumable`). URLs are
//! logged without query strings (pre-signed URLs carry signatures) and the token never appears.

pub use client::{HubClient, Timeouts};
pub use credential::{FreshToken, RenewFailure, RenewFuture, TokenSource};
pub use error::{HubError, UploadError, UploadErrorKind};
pub use plan::{
    DEFAULT_IGNORE_PATTERNS, PlanError, PlannedFile, UploadPlan, plan_upload, validate_path_in_repo,
};
pub use preflight_types::Secret;
pub use progress::{NoProgress, ProgressEvent, ProgressHandler, UploadMode};
pub use repo::{RepoId, RepoType};
pub use upload::{MAX_COMMIT_FILES, MAX_COMMIT_INLINE_BYTES, UploadOutcome, UploadRequest, upload};

mod api;
mod client;
mod commit;
pub mod credential;
mod error;
pub mod hash;
mod lfs;
mod plan;
pub mod progress;
mod repo;
pub mod state;
mod upload;
