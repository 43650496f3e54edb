//! The log file: append-only writes that several processes can share, and size-based rotation.
//!
//! # Concurrent appends
//!
//! Each line is built completely in memory and handed to the kernel with a single `write_all`
//! on a file opened with `O_APPEND`, with no `BufWriter` in between. On a local file system the
//! kernel then places each write at the current end of file as one unit, so lines from several
//! threads or processes interleave whole but never tear. (Network file systems such as NFS do
//! not promise this; keep the log on a local disk.)
//!
//! The file is opened for every line rather than kept open. The log is low-volume (a handful of
//! events per run), and reopening means a process never keeps writing into a file that another
//! process has just rotated away.
//!
//! # Rotation
//!
//! Before a write that would take the file above `max_bytes`, the writer takes an exclusive
//! advisory lock on `<file>.lock`, checks the size again (another process may have rotated in
//! the meantime), and renames `<file>.{keep-1}` → `<file>.{keep}`, …, `<file>` → `<file>.1`. The
//! oldest file falls off the end. Writes themselves take no lock; a line that races with a
//! rotation lands, whole, in either the old or the new file. Because the size check and the
//! write are not one atomic step, a file shared by several busy writers may end up above
//! `max_bytes` by about one line per other writer.
//!
//! # Permissions
//!
//! On Unix the log and its lock file are created with mode `0600`: they hold identities and
//! repository names.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An append-only, rotating JSON-lines file.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
}

impl LogFile {
    /// Creates the parent directories and checks the file can be opened for appending, so an
    /// unusable path is reported once, up front, instead of failing every event.
    pub(crate) fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<Self> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            fs::create_dir_all(parent)?;
        }
        let file = open_append(path)?;
        tighten_permissions(&file);
        Ok(Self {
            path: path.to_owned(),
            max_bytes,
            keep,
        })
    }

    /// The path lines are appended to.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one complete line (which must end in `\n`) with a single write.
    pub(crate) fn append(&self, line: &[u8]) -> io::Result<()> {
        if self.max_bytes > 0 {
            self.rotate_if_needed(line.len() as u64)?;
        }
        let mut file = match open_append(&self.path) {
            Ok(file) => file,
            // The directory was removed under us (a `rm -rf logs` mid-run): recreate it once.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    fs::create_dir_all(parent)?;
                }
                open_append(&self.path)?
            }
            Err(error) => return Err(error),
        };
        file.write_all(line)
    }

    fn rotate_if_needed(&self, incoming: u64) -> io::Result<()> {
        if !self.needs_rotation(incoming)? {
            return Ok(());
        }
        let lock = open_private(&sibling(&self.path, "lock"), false)?;
        lock.lock()?;
        // Another process may have rotated while we waited for the lock.
        let result = if self.needs_rotation(incoming)? {
            self.rotate()
        } else {
            Ok(())
        };
        lock.unlock()?;
        result
    }

    fn needs_rotation(&self, incoming: u64) -> io::Result<bool> {
        match fs::metadata(&self.path) {
            Ok(metadata) => {
                let current = metadata.len();
                Ok(current > 0 && current.saturating_add(incoming) > self.max_bytes)
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error),
        }
    }

    fn rotate(&self) -> io::Result<()> {
        if self.keep == 0 {
            return ignore_not_found(fs::remove_file(&self.path));
        }
        for index in (1..self.keep).rev() {
            let from = sibling(&self.path, &index.to_string());
            let to = sibling(&self.path, &(index + 1).to_string());
            ignore_not_found(fs::rename(from, to))?;
        }
        ignore_not_found(fs::rename(&self.path, sibling(&self.path, "1")))
    }
}

/// `auth.log` + `1` → `auth.log.1`.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn open_append(path: &Path) -> io::Result<File> {
    open_private(path, true)
}

fn open_private(path: &Path, append: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true);
    if append {
        options.append(true);
    } else {
        options.write(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// A log created by an older version (or by hand) may be group- or world-readable; make it
/// private. Best effort: a file we may append to but not chmod is still usable.
fn tighten_permissions(file: &File) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = file.metadata()
            && metadata.permissions().mode() & 0o077 != 0
        {
            let _ignored = file.set_permissions(fs::Permissions::from_mode(0o600));
        }
    }
    #[cfg(not(unix))]
    let _ = file;
}

fn ignore_not_found(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
