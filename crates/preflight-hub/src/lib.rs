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
//!    repository it may write. Then `GET …/revision/{rev}` gives the `parentCommit`.
//! 4. **`validate-yaml`** when a root `README.md` is part of the upload.
//! 5. **`preupload`** in chunks of 256 (size + 512-byte sample): the server says `lfs` or
//!    `regular`, whether to ignore the file, and the oid it already has.
//! 6. **Hash, compare, send**, `concurrency` files at a time: each file is hashed (sha256 for LFS,
//!    git blob sha1 for regular files; streamed, 256 KiB buffers) unless the resume cache has
//!    it; a file whose oid equals the server's is skipped. An LFS file then gets its own LFS
//!    batch call: no `actions` means the server stores it already (nothing sent); `basic` is one
//!    streamed PUT; `multipart` sends the numbered parts as file ranges, concurrently, then the
//!    completion with the ETags; `verify` follows when offered. While one file is sent, the next
//!    is hashed. Every byte is read from disk at most twice (hash, send). A server that offers
//!    only Xet is refused with [`UploadErrorKind::UnsupportedTransfer`].
//! 7. **Checks**: every file must still have the size and mtime it was hashed with; regular files
//!    are read into the commit and their git sha1 re-checked; a basic PUT checks the open file's
//!    size and mtime when it starts and before its last chunk, and aborts before the last byte
//!    on a mismatch ([`UploadErrorKind::FileChanged`]).
//! 8. **Commit**: NDJSON (`header` with `parentCommit`, `file` base64, `lfsFile`), with
//!    `?create_pr=1` for a pull request. Nothing to commit means no commit.
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
//! **The commit is special**: it is not idempotent, so it is re-sent blindly only when it
//! provably never reached the server. After an unclear failure the branch head is re-read: if
//! it is unchanged the commit is sent again; if it moved and holds our files the commit landed
//! (its answer was lost); otherwise it is a conflict. See the `commit` module source docs.
//!
//! # Resume
//!
//! Run the same command again. Local hashes are cached by path + size + mtime in the state
//! directory ([`state`] documents where and the format), so unchanged files are not re-hashed;
//! LFS objects already stored are reported by the batch call without `actions` and are not sent
//! again. Part URLs belong to one batch answer, so an object cut off mid-way restarts. The state
//! is removed once the commit lands.
//!
//! # Progress and logs
//!
//! Progress is the [`ProgressHandler`] trait; [`progress`] documents the event sequence. Logs
//! are `tracing` events with target `preflight::hub` and an `event` field: `upload_started`
//! (`repo`, `files`, `bytes`), `upload_file_done` (`path`, `bytes`, `mode`, `skipped`),
//! `commit_landed` (`commit`, `duration_ms`, `throughput` in bytes/s), `upload_unchanged`,
//! `commit_retry`, `commit_found`, `upload_failed` (`code`, `cause`, `resumable`). URLs are
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
pub use upload::{UploadOutcome, UploadRequest, upload};

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
