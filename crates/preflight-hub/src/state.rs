//! Resume state: cached local hashes and the lock that keeps two runs of the same upload apart.
//!
//! # Location
//!
//! `<root>/<key>/` where `<root>` is, in order, [`HubClient::with_state_dir`](crate::HubClient::with_state_dir),
//! `$PREFLIGHT_STATE_DIR`, `$XDG_STATE_HOME/preflight/uploads`, `~/.local/state/preflight/uploads`
//! (or the temp dir when there is no home). `<key>` is the first 16 hex digits of the sha256
//! of the endpoint, repo type, repo id, revision, `create_pr`, canonical source path and
//! `path_in_repo`: the same arguments find the same state. Keeping the state out of the
//! source folder lets read-only folders and single files be uploaded.
//!
//! # Files
//!
//! - `lock`: empty; held with an exclusive `flock`-style lock ([`std::fs::File::try_lock`]) for
//!   the whole upload. A second run of the same upload fails fast with
//!   [`StateError::Locked`]. The OS drops the lock when the process dies, so `kill -9` never
//!   leaves a stale lock.
//! - `state.json`: `{"version":1,"repo_id":…,"revision":…,"files":{"<relative path>":
//!   {"size":N,"mtime_ns":N,"sha256":"<hex>"|null,"git_sha1":"<hex>"|null}}}`. An entry is used
//!   only while the file's size and modification time are unchanged. Written atomically
//!   (`state.json.tmp` then rename), at most every half second while hashing and when the
//!   upload stops. An unreadable or foreign-version file is ignored (everything is re-hashed).
//!
//! Uploaded LFS objects need no record: the LFS batch omits `actions` for objects the server
//! already stores, so a rerun skips them by asking. The directory is removed once the commit
//! lands (or nothing needed committing).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hash::HashKind;

const STATE_VERSION: u32 = 1;
const SAVE_INTERVAL: Duration = Duration::from_millis(500);

/// Why the resume state could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Another run holds the lock.
    #[error("another upload with the same arguments is running (lock `{}` is held)", .0.display())]
    Locked(PathBuf),
    /// Reading or writing the state directory failed.
    #[error("cannot use the resume state directory `{}`", .path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// What.
        #[source]
        source: io::Error,
    },
}

/// The default state root; see the module docs.
pub fn default_state_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("PREFLIGHT_STATE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("preflight").join("uploads");
    }
    match std::env::home_dir() {
        Some(home) => home.join(".local/state/preflight/uploads"),
        None => std::env::temp_dir().join("preflight-uploads"),
    }
}

/// The directory name for one upload's state.
pub fn state_key(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0_u8]);
    }
    hex::encode(hasher.finalize())[..16].to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct CachedFile {
    size: u64,
    mtime_ns: u64,
    sha256: Option<String>,
    git_sha1: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    repo_id: String,
    revision: String,
    files: BTreeMap<String, CachedFile>,
}

/// The locked state of one upload.
#[derive(Debug)]
pub struct ResumeState {
    dir: PathBuf,
    // Held for the lifetime of the state: dropping the file releases the lock.
    _lock: File,
    data: StateFile,
    dirty: bool,
    last_save: Instant,
}

impl ResumeState {
    /// Locks and loads `<root>/<key>/`, creating it.
    pub fn open(root: &Path, key: &str, repo_id: &str, revision: &str) -> Result<Self, StateError> {
        let dir = root.join(key);
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io { path, source }
        };
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StateError::Locked(lock_path)),
            Err(TryLockError::Error(source)) => {
                return Err(StateError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        let state_path = dir.join("state.json");
        let data = match fs::read(&state_path) {
            Ok(bytes) => match serde_json::from_slice::<StateFile>(&bytes) {
                Ok(data) if data.version == STATE_VERSION && data.repo_id == repo_id => data,
                _ => {
                    tracing::debug!(target: "preflight::hub", path = %state_path.display(), "ignoring unreadable resume state");
                    StateFile::default()
                }
            },
            Err(error) if error.kind() == io::ErrorKind::NotFound => StateFile::default(),
            Err(source) => {
                return Err(StateError::Io {
                    path: state_path,
                    source,
                });
            }
        };
        let resumed = !data.files.is_empty();
        if resumed {
            tracing::info!(target: "preflight::hub", event = "resume_state_loaded", files = data.files.len(), "resuming with cached hashes");
        }
        Ok(ResumeState {
            dir,
            _lock: lock,
            data: StateFile {
                version: STATE_VERSION,
                repo_id: repo_id.to_owned(),
                revision: revision.to_owned(),
                files: data.files,
            },
            dirty: false,
            last_save: Instant::now(),
        })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A cached digest, if the file still has this size and modification time.
    pub fn lookup(
        &self,
        relative: &str,
        size: u64,
        mtime_ns: u64,
        kind: HashKind,
    ) -> Option<String> {
        let entry = self.data.files.get(relative)?;
        if entry.size != size || entry.mtime_ns != mtime_ns {
            return None;
        }
        match kind {
            HashKind::Sha256 => entry.sha256.clone(),
            HashKind::GitSha1 => entry.git_sha1.clone(),
        }
    }

    /// Records a digest; saves if the last save is older than half a second.
    pub fn record(
        &mut self,
        relative: &str,
        size: u64,
        mtime_ns: u64,
        kind: HashKind,
        digest: &str,
    ) {
        let entry = self
            .data
            .files
            .entry(relative.to_owned())
            .or_insert_with(|| CachedFile {
                size,
                mtime_ns,
                sha256: None,
                git_sha1: None,
            });
        if entry.size != size || entry.mtime_ns != mtime_ns {
            *entry = CachedFile {
                size,
                mtime_ns,
                sha256: None,
                git_sha1: None,
            };
        }
        match kind {
            HashKind::Sha256 => entry.sha256 = Some(digest.to_owned()),
            HashKind::GitSha1 => entry.git_sha1 = Some(digest.to_owned()),
        }
        self.dirty = true;
        if self.last_save.elapsed() >= SAVE_INTERVAL
            && let Err(error) = self.save()
        {
            tracing::warn!(target: "preflight::hub", error = %error, "cannot save resume state");
        }
    }

    /// Writes `state.json` atomically if anything changed.
    pub fn save(&mut self) -> Result<(), StateError> {
        if !self.dirty {
            return Ok(());
        }
        let path = self.dir.join("state.json");
        let temporary = self.dir.join("state.json.tmp");
        let write = || -> io::Result<()> {
            let mut file = File::create(&temporary)?;
            file.write_all(&serde_json::to_vec(&self.data).map_err(io::Error::other)?)?;
            file.sync_all()?;
            fs::rename(&temporary, &path)
        };
        write().map_err(|source| StateError::Io {
            path: path.clone(),
            source,
        })?;
        self.dirty = false;
        self.last_save = Instant::now();
        Ok(())
    }

    /// Removes the state directory (the upload is committed).
    pub fn finish(self) {
        for name in ["state.json", "state.json.tmp", "lock"] {
            let _ = fs::remove_file(self.dir.join(name));
        }
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Modification time in nanoseconds since the epoch (0 when unknown).
pub fn mtime_ns(metadata: &fs::Metadata) -> u64 {
    metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |duration| {
            u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// `mtime_ns` of a `SystemTime`, for tests.
#[cfg(test)]
fn nanos(time: std::time::SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_lock_is_exclusive() {
        let root = tempfile::tempdir().unwrap();
        let key = state_key(&["a", "b"]);
        assert_eq!(key.len(), 16);
        assert_ne!(key, state_key(&["ab", ""]));
        let now = nanos(std::time::SystemTime::now());
        {
            let mut state = ResumeState::open(root.path(), &key, "ns/r", "main").unwrap();
            let second = ResumeState::open(root.path(), &key, "ns/r", "main");
            assert!(matches!(second, Err(StateError::Locked(_))));
            state.record("a.bin", 10, now, HashKind::Sha256, "abc");
            state.save().unwrap();
        }
        let state = ResumeState::open(root.path(), &key, "ns/r", "main").unwrap();
        assert_eq!(
            state.lookup("a.bin", 10, now, HashKind::Sha256).as_deref(),
            Some("abc")
        );
        assert_eq!(state.lookup("a.bin", 10, now, HashKind::GitSha1), None);
        assert_eq!(state.lookup("a.bin", 11, now, HashKind::Sha256), None);
        assert_eq!(state.lookup("a.bin", 10, now + 1, HashKind::Sha256), None);
        let dir = state.dir().to_path_buf();
        state.finish();
        assert!(!dir.exists());
    }

    #[test]
    fn garbage_state_is_ignored() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("k")).unwrap();
        fs::write(root.path().join("k/state.json"), b"{not json").unwrap();
        let state = ResumeState::open(root.path(), "k", "ns/r", "main").unwrap();
        assert_eq!(state.lookup("x", 1, 1, HashKind::Sha256), None);
    }
}
