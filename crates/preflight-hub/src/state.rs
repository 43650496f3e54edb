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
//!   leaves a stale lock. The lock file is never unlinked while held: [`ResumeState::finish`]
//!   removes `state.json` and keeps `lock`. After locking, the path's inode is compared with
//!   the locked file's, so a lock file replaced by someone else is never trusted.
//! - `state.json`: `{"version":2,"repo_id":…,"revision":…,"files":{"<relative path>":
//!   {"size":N,"mtime_ns":N,"ctime_ns":N,"inode":N,"device":N,"sha256":"<hex>"|null,
//!   "git_sha1":"<hex>"|null}}}`. The key is what git's index keeps ([`FileStamp`]: size,
//!   mtime and ctime with nanoseconds, inode, device): a file rewritten with the same size and
//!   the same mtime still changes its ctime (which no user call can set back), so its entry no
//!   longer matches and the file is re-hashed. An entry found wrong later (the content read for
//!   the commit has another hash) is dropped. Written atomically (`state.json.tmp` then
//!   rename), at most every half second while hashing and when the upload stops. An unreadable
//!   or foreign-version file is ignored (everything is re-hashed).
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

const STATE_VERSION: u32 = 2;
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

/// What identifies one version of a file, as git's index does: when any of it differs, a
/// cached hash is not used.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct FileStamp {
    /// Bytes.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: u64,
    /// Status-change time, ns since the epoch (0 where the platform has none).
    pub ctime_ns: u64,
    /// Inode number (0 where the platform has none).
    pub inode: u64,
    /// Device id (0 where the platform has none).
    pub device: u64,
}

impl FileStamp {
    /// The stamp of `metadata`.
    pub fn of(metadata: &fs::Metadata) -> FileStamp {
        #[cfg(unix)]
        let (ctime_ns, inode, device) = {
            use std::os::unix::fs::MetadataExt;
            let ctime = u64::try_from(metadata.ctime()).unwrap_or(0);
            let ctime_nsec = u64::try_from(metadata.ctime_nsec()).unwrap_or(0);
            (
                ctime
                    .saturating_mul(1_000_000_000)
                    .saturating_add(ctime_nsec),
                metadata.ino(),
                metadata.dev(),
            )
        };
        #[cfg(not(unix))]
        let (ctime_ns, inode, device) = (0, 0, 0);
        FileStamp {
            size: metadata.len(),
            mtime_ns: mtime_ns(metadata),
            ctime_ns,
            inode,
            device,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct CachedFile {
    #[serde(flatten)]
    stamp: FileStamp,
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
        let lock = lock_file(&lock_path)?;
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

    /// A cached digest, if the file still has this stamp.
    pub fn lookup(&self, relative: &str, stamp: &FileStamp, kind: HashKind) -> Option<String> {
        let entry = self.data.files.get(relative)?;
        if entry.stamp != *stamp {
            return None;
        }
        match kind {
            HashKind::Sha256 => entry.sha256.clone(),
            HashKind::GitSha1 => entry.git_sha1.clone(),
        }
    }

    /// Records a digest; saves if the last save is older than half a second.
    pub fn record(&mut self, relative: &str, stamp: &FileStamp, kind: HashKind, digest: &str) {
        let entry = self
            .data
            .files
            .entry(relative.to_owned())
            .or_insert_with(|| CachedFile {
                stamp: *stamp,
                sha256: None,
                git_sha1: None,
            });
        if entry.stamp != *stamp {
            *entry = CachedFile {
                stamp: *stamp,
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

    /// Drops the entry of a file found changed or wrongly cached: the next run re-hashes it.
    pub fn forget(&mut self, relative: &str) {
        if self.data.files.remove(relative).is_some() {
            self.dirty = true;
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

    /// Removes the cached hashes (the upload is committed). The lock file stays: unlinking
    /// it while held would let the next run lock a new file while a waiting one locks the old.
    pub fn finish(self) {
        for name in ["state.json", "state.json.tmp"] {
            let _ = fs::remove_file(self.dir.join(name));
        }
    }
}

/// Opens and locks `path`, failing fast when another run holds it. After locking, the path
/// must still name the locked file (same device and inode); a lock file that was replaced in
/// the meantime is opened again.
fn lock_file(path: &Path) -> Result<File, StateError> {
    let io_error = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    for _ in 0..8 {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StateError::Locked(path.to_path_buf())),
            Err(TryLockError::Error(source)) => return Err(io_error(source)),
        }
        let held = FileStamp::of(&lock.metadata().map_err(io_error)?);
        match fs::metadata(path) {
            Ok(now) => {
                let now = FileStamp::of(&now);
                if now.inode == held.inode && now.device == held.device {
                    return Ok(lock);
                }
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error(error)),
        }
    }
    Err(StateError::Locked(path.to_path_buf()))
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
        let stamp = FileStamp {
            size: 10,
            mtime_ns: now,
            ctime_ns: now,
            inode: 7,
            device: 1,
        };
        {
            let mut state = ResumeState::open(root.path(), &key, "ns/r", "main").unwrap();
            let second = ResumeState::open(root.path(), &key, "ns/r", "main");
            assert!(matches!(second, Err(StateError::Locked(_))));
            state.record("a.bin", &stamp, HashKind::Sha256, "abc");
            state.save().unwrap();
        }
        let state = ResumeState::open(root.path(), &key, "ns/r", "main").unwrap();
        assert_eq!(
            state.lookup("a.bin", &stamp, HashKind::Sha256).as_deref(),
            Some("abc")
        );
        assert_eq!(state.lookup("a.bin", &stamp, HashKind::GitSha1), None);
        for changed in [
            FileStamp { size: 11, ..stamp },
            FileStamp {
                mtime_ns: now + 1,
                ..stamp
            },
            FileStamp {
                ctime_ns: now + 1,
                ..stamp
            },
            FileStamp { inode: 8, ..stamp },
            FileStamp { device: 2, ..stamp },
        ] {
            assert_eq!(state.lookup("a.bin", &changed, HashKind::Sha256), None);
        }
        let dir = state.dir().to_path_buf();
        state.finish();
        assert!(!dir.join("state.json").exists());
        // The lock file outlives the state and is still the one runs lock.
        let lock = dir.join("lock");
        assert!(lock.exists());
        let again = ResumeState::open(root.path(), &key, "ns/r", "main").unwrap();
        assert!(matches!(
            ResumeState::open(root.path(), &key, "ns/r", "main"),
            Err(StateError::Locked(_))
        ));
        drop(again);
    }

    #[test]
    fn garbage_state_is_ignored() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("k")).unwrap();
        fs::write(root.path().join("k/state.json"), b"{not json").unwrap();
        let state = ResumeState::open(root.path(), "k", "ns/r", "main").unwrap();
        assert_eq!(
            state.lookup("x", &FileStamp::default(), HashKind::Sha256),
            None
        );
    }
}
