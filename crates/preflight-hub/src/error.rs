//! Errors: [`HubError`] for client construction, [`UploadError`] for uploads, and the
//! per-attempt error the retry loop classifies.

use std::error::Error as StdError;
use std::fmt;

use preflight_errors::Code;
use preflight_retry::{HttpStatusError, RetryError};

use crate::plan::PlanError;
use crate::state::StateError;

/// A [`HubClient`](crate::HubClient) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The endpoint is not an absolute http(s) URL.
    #[error("invalid Hub endpoint `{endpoint}`: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The token cannot be sent in an HTTP header.
    #[error("the Hugging Face token cannot be sent in an HTTP header")]
    InvalidToken,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// What one attempt of a network step failed with. Its `source()` chain carries the
/// `reqwest` error or [`HttpStatusError`] that the retry classifier judges.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AttemptError {
    /// Sending the request or reading its answer failed.
    #[error("{operation}: request to {url} failed")]
    Transport {
        operation: &'static str,
        /// Without query string.
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered 4xx/5xx.
    #[error("{operation} answered HTTP {}", source.status)]
    Status {
        operation: &'static str,
        #[source]
        source: HttpStatusError,
    },
    /// The answer does not follow the protocol (permanent: no transport error in the chain).
    #[error("{operation}: unexpected answer from {url}: {message}")]
    Protocol {
        operation: &'static str,
        url: String,
        message: String,
    },
    /// The local file could not be read, or changed while being sent (permanent).
    #[error("{message}")]
    Local { message: String, changed: bool },
    /// The Hub rejected the token (401) and no fresh one was obtained.
    #[error("{operation}: the Hub rejected the token and no fresh one was obtained: {message}")]
    TokenRenewal {
        operation: &'static str,
        unavailable: bool,
        message: String,
    },
    /// The branch moved away from the caller's `parentCommit` (permanent).
    #[error("{message}")]
    Conflict { message: String },
}

impl AttemptError {
    pub(crate) fn status(&self) -> Option<&HttpStatusError> {
        match self {
            AttemptError::Status { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What kind of failure an [`UploadError`] is; each maps to one [`Code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UploadErrorKind {
    /// The local source cannot be planned (missing path, escaping symlink, invalid path in
    /// repo, bad glob). PF201.
    Plan,
    /// The Hub rejected the token on an upload route (401). PF202.
    Unauthorized,
    /// The token may not write to this repository (403). PF203.
    Forbidden,
    /// The repository does not exist and could not be created. PF204.
    RepoCreate,
    /// The server offers only a transfer this client does not implement (Xet). PF205.
    UnsupportedTransfer,
    /// Network or server errors persisted through every retry. PF206.
    TransientGaveUp,
    /// A file changed between hashing and sending. PF207.
    FileChanged,
    /// The branch moved and our commit is not on it. PF208.
    CommitConflict,
    /// Another run of the same upload holds the resume lock. PF209.
    Locked,
    /// Reading local files or the resume state failed. PF210.
    LocalIo,
    /// The server refused a request or answered outside the protocol. PF211.
    Server,
    /// The Hub rejected the metadata block of `README.md`. PF212.
    InvalidMetadata,
    /// The token expired during the upload and no fresh one can be had (PF220).
    TokenExpired,
    /// The token expired during the upload and renewing it failed (PF221).
    TokenRenewalFailed,
}

/// Why an upload failed: what happened (`Display`), a stable [`code`](Self::code), what to do
/// ([`hint`](Self::hint)), and the cause chain (`source()`), which for network failures is the
/// retry loop's `failed after N attempts in X s` followed by the last error.
pub struct UploadError {
    kind: UploadErrorKind,
    message: String,
    state_kept: bool,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl UploadError {
    pub(crate) fn new(kind: UploadErrorKind, message: impl Into<String>) -> Self {
        UploadError {
            kind,
            message: message.into(),
            state_kept: false,
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub(crate) fn set_state_kept(&mut self, kept: bool) {
        self.state_kept = kept;
    }

    /// The kind of failure.
    pub fn kind(&self) -> UploadErrorKind {
        self.kind
    }

    /// True when local resume state was kept: running the same command again resumes.
    pub fn resumable(&self) -> bool {
        self.state_kept
    }

    /// The stable error code.
    pub fn code(&self) -> Code {
        match self.kind {
            UploadErrorKind::Plan => Code::Pf201,
            UploadErrorKind::Unauthorized => Code::Pf202,
            UploadErrorKind::Forbidden => Code::Pf203,
            UploadErrorKind::RepoCreate => Code::Pf204,
            UploadErrorKind::UnsupportedTransfer => Code::Pf205,
            UploadErrorKind::TransientGaveUp => Code::Pf206,
            UploadErrorKind::FileChanged => Code::Pf207,
            UploadErrorKind::CommitConflict => Code::Pf208,
            UploadErrorKind::Locked => Code::Pf209,
            UploadErrorKind::LocalIo => Code::Pf210,
            UploadErrorKind::Server => Code::Pf211,
            UploadErrorKind::InvalidMetadata => Code::Pf212,
            UploadErrorKind::TokenExpired => Code::Pf220,
            UploadErrorKind::TokenRenewalFailed => Code::Pf221,
        }
    }

    /// What to do about it, one line.
    pub fn hint(&self) -> String {
        let resume = if self.state_kept {
            " Progress is saved: run the same command again to resume."
        } else {
            ""
        };
        let text = match self.kind {
            UploadErrorKind::Plan => {
                "check the path, the --include/--exclude patterns and --path-in-repo; symlinks must point inside the folder"
            }
            UploadErrorKind::Unauthorized => {
                "the token was rejected: run `preflight check hf` and replace HF_TOKEN or run `hf auth login --force`"
            }
            UploadErrorKind::Forbidden => {
                "use a token with write access to this repository (a fine-grained token needs `repo.write` on it, or on its namespace to create it)"
            }
            UploadErrorKind::RepoCreate => {
                "create the repository on the Hub first, or check the name and namespace"
            }
            UploadErrorKind::UnsupportedTransfer => {
                "this server offers only Xet uploads, which preflight does not implement; use the `hf` CLI with hf_xet for this repository"
            }
            UploadErrorKind::TransientGaveUp => {
                "the Hub or the network kept failing; wait and run the same command again (raise PREFLIGHT_RETRY_MAX_ATTEMPTS for flaky links)"
            }
            UploadErrorKind::FileChanged => {
                "a file was modified during the upload; let the writer finish, then upload again"
            }
            UploadErrorKind::CommitConflict => {
                "someone else committed to the branch during the upload; run the same command again"
            }
            UploadErrorKind::Locked => {
                "another `preflight upload` with the same arguments is running; wait for it or stop it"
            }
            UploadErrorKind::LocalIo => {
                "check that the files and the state directory are readable and writable"
            }
            UploadErrorKind::Server => "the Hub refused the request; read the server message above",
            UploadErrorKind::InvalidMetadata => {
                "fix the YAML metadata block at the top of README.md"
            }
            UploadErrorKind::TokenExpired => {
                "the token stopped working during the upload and this credential cannot be renewed (a plain HF_TOKEN, \
                 or a pre-minted HF_OIDC_ID_TOKEN): provide a fresh token (or let the job mint one with \
                 `permissions: id-token: write`)"
            }
            UploadErrorKind::TokenRenewalFailed => {
                "the token expired during the upload and renewing it got no answer; check the network and the Hub's status"
            }
        };
        format!("{text}.{resume}")
    }

    /// Maps a retried network step's failure.
    pub(crate) fn from_retry(operation: &str, error: RetryError<AttemptError>) -> Self {
        let last = error.last_error();
        if let AttemptError::Local { message, changed } = last {
            let kind = if *changed {
                UploadErrorKind::FileChanged
            } else {
                UploadErrorKind::LocalIo
            };
            return UploadError::new(kind, message.clone());
        }
        if let AttemptError::TokenRenewal { unavailable, .. } = last {
            let kind = if *unavailable {
                UploadErrorKind::TokenExpired
            } else {
                UploadErrorKind::TokenRenewalFailed
            };
            let message = format!("the token expired during {operation}");
            return UploadError::new(kind, message).with_source(error);
        }
        let kind = match last.status().map(|status| status.status) {
            Some(401) => UploadErrorKind::Unauthorized,
            Some(403) => UploadErrorKind::Forbidden,
            _ if matches!(last, AttemptError::Protocol { .. }) => UploadErrorKind::Server,
            Some(status) if !preflight_retry::is_transient_status(status) => {
                UploadErrorKind::Server
            }
            _ => UploadErrorKind::TransientGaveUp,
        };
        let message = match kind {
            UploadErrorKind::Unauthorized => {
                format!("the Hub rejected the token during {operation}")
            }
            UploadErrorKind::Forbidden => {
                format!("the token may not write to this repository ({operation} answered 403)")
            }
            UploadErrorKind::Server => format!("{operation} failed"),
            _ => format!("{operation} did not succeed"),
        };
        UploadError::new(kind, message).with_source(error)
    }
}

impl From<PlanError> for UploadError {
    fn from(error: PlanError) -> Self {
        UploadError::new(UploadErrorKind::Plan, "cannot plan the upload").with_source(error)
    }
}

impl From<StateError> for UploadError {
    fn from(error: StateError) -> Self {
        match error {
            StateError::Locked(_) => UploadError::new(
                UploadErrorKind::Locked,
                "another upload of the same source to the same repository is in progress",
            )
            .with_source(error),
            StateError::Io { .. } => {
                UploadError::new(UploadErrorKind::LocalIo, "cannot use the resume state")
                    .with_source(error)
            }
        }
    }
}

/// A local file problem outside any network step.
pub(crate) fn local_io(path: &std::path::Path, error: std::io::Error) -> UploadError {
    let changed = error.kind() == std::io::ErrorKind::InvalidData;
    let kind = if changed {
        UploadErrorKind::FileChanged
    } else {
        UploadErrorKind::LocalIo
    };
    UploadError::new(kind, format!("cannot read `{}`", path.display())).with_source(error)
}

pub(crate) fn file_changed(path: &str) -> UploadError {
    UploadError::new(
        UploadErrorKind::FileChanged,
        format!("`{path}` changed while it was being uploaded; nothing was committed"),
    )
}

impl fmt::Display for UploadError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl fmt::Debug for UploadError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("UploadError")
            .field("code", &self.code().as_str())
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("state_kept", &self.state_kept)
            .field("source", &self.source)
            .finish()
    }
}

impl StdError for UploadError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// The full cause chain on one line, `a: b: c` (for logs).
pub(crate) fn chain_text(error: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut current = error.source();
    while let Some(cause) = current {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        current = cause.source();
    }
    parts.join(": ")
}
