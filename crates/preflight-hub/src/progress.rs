//! Progress events: the library reports, the binary draws.
//!
//! # Event model
//!
//! One successful upload emits, in this order:
//!
//! 1. [`ProgressEvent::Planned`] once, with the number of planned files and their total size.
//! 2. Per file, concurrently with other files:
//!    - files the server already has (same oid), files the server says to ignore, and LFS
//!      objects the server already stores end with a single `FileDone { skipped: true }` (an
//!      already-stored LFS object is still committed, but no byte is sent);
//!    - other files get `FileStarted`, then any number of `BytesSent` (increments), then
//!      `FileDone { skipped: false }`. If an attempt fails and is retried, `BytesRewound`
//!      takes back what that attempt had reported, so `sum(BytesSent) - sum(BytesRewound)` is
//!      always the number of bytes the server holds. Regular (non-LFS) files travel inside the
//!      commit body: their `FileStarted` … `FileDone` are emitted just before `Committing`.
//! 3. [`ProgressEvent::Committing`] once, unless nothing changed.
//! 4. [`ProgressEvent::Complete`] once, with the commit URL (`None` when nothing changed and no
//!    commit was made).
//!
//! On error the sequence stops where it is: there is **no** `Complete`. A dry run emits only
//! `Planned` and `Complete { commit_url: None }`.
//!
//! Handlers are called from the upload's tasks and must never block: update an atomic or send
//! on a channel, and draw elsewhere.

use std::fmt;

/// How a file travels to the Hub, as decided by the server's `preupload` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadMode {
    /// Inline, base64 in the commit body (small text files).
    Regular,
    /// As a Git LFS object (basic PUT or multipart), referenced by sha256 in the commit.
    Lfs,
}

impl UploadMode {
    /// `regular` or `lfs`.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadMode::Regular => "regular",
            UploadMode::Lfs => "lfs",
        }
    }
}

impl fmt::Display for UploadMode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One step of an upload; see the [module docs](self) for the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// The plan is ready.
    Planned {
        /// Number of planned files.
        files: usize,
        /// Their total size in bytes.
        bytes: u64,
    },
    /// Sending a file starts.
    FileStarted {
        /// Path in the repository.
        path: String,
        /// File size.
        bytes: u64,
    },
    /// `bytes` more bytes of `path` reached the server (an increment, not a total).
    BytesSent {
        /// Path in the repository.
        path: String,
        /// Increment.
        bytes: u64,
    },
    /// A failed attempt is retried: take back `bytes` previously reported for `path`.
    BytesRewound {
        /// Path in the repository.
        path: String,
        /// Bytes to subtract.
        bytes: u64,
    },
    /// A file is done (sent, or skipped because the server has it or ignores it).
    FileDone {
        /// Path in the repository.
        path: String,
        /// File size.
        bytes: u64,
        /// How it travels.
        mode: UploadMode,
        /// No byte was sent.
        skipped: bool,
    },
    /// Every object is on the server; the commit is being sent.
    Committing {
        /// Files in the commit.
        files: usize,
    },
    /// The upload finished.
    Complete {
        /// The commit URL, or `None` when nothing changed.
        commit_url: Option<String>,
    },
}

/// Receives [`ProgressEvent`]s. Implementations must be cheap and never block.
pub trait ProgressHandler: Send + Sync {
    /// Called for each event, possibly from several tasks at once.
    fn on_event(&self, event: ProgressEvent);
}

/// A handler that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProgressHandler for NoProgress {
    fn on_event(&self, _event: ProgressEvent) {}
}

impl<F: Fn(ProgressEvent) + Send + Sync> ProgressHandler for F {
    fn on_event(&self, event: ProgressEvent) {
        self(event);
    }
}
