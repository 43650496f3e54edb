//! Finding the program the way a shell does, before anything is started, so "not found" and
//! "not executable" are reported as such (127 / 126) rather than as a generic spawn error.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::{AccessFlags, access};

use crate::LaunchError;

/// The search path used when `PATH` is unset (glibc's `confstr(_CS_PATH)`).
pub const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Resolves `program` against `path` (the `PATH` the child will get; [`DEFAULT_PATH`] when
/// `None`). A program containing `/` is taken as a path. The first executable regular file
/// wins; when only non-executable matches exist, the first of them is reported as
/// [`LaunchError::NotExecutable`], otherwise [`LaunchError::NotFound`].
pub fn resolve_program(program: &OsStr, path: Option<&OsStr>) -> Result<PathBuf, LaunchError> {
    let shown = program.to_string_lossy().into_owned();
    if program.is_empty() {
        return Err(LaunchError::NotFound {
            program: shown,
            searched: None,
        });
    }
    if program.as_bytes().contains(&b'/') {
        let candidate = PathBuf::from(program);
        return match check(&candidate) {
            Candidate::Executable => Ok(candidate),
            Candidate::Missing => Err(LaunchError::NotFound {
                program: shown,
                searched: None,
            }),
            Candidate::Directory => Err(LaunchError::NotExecutable {
                path: candidate,
                reason: "it is a directory".to_owned(),
            }),
            Candidate::NotExecutable => Err(LaunchError::NotExecutable {
                path: candidate,
                reason: "permission denied (no execute permission)".to_owned(),
            }),
        };
    }
    let search = path.unwrap_or_else(|| OsStr::new(DEFAULT_PATH));
    let mut not_executable: Option<PathBuf> = None;
    for dir in search.as_bytes().split(|byte| *byte == b':') {
        // An empty entry means the current directory, as in POSIX shells.
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(program);
        match check(&candidate) {
            Candidate::Executable => return Ok(candidate),
            Candidate::NotExecutable if not_executable.is_none() => {
                not_executable = Some(candidate);
            }
            _ => {}
        }
    }
    match not_executable {
        Some(path) => Err(LaunchError::NotExecutable {
            path,
            reason: "permission denied (no execute permission)".to_owned(),
        }),
        None => Err(LaunchError::NotFound {
            program: shown,
            searched: Some(search.to_string_lossy().into_owned()),
        }),
    }
}

enum Candidate {
    Executable,
    NotExecutable,
    Directory,
    Missing,
}

fn check(path: &Path) -> Candidate {
    match std::fs::metadata(path) {
        Err(_) => Candidate::Missing,
        Ok(metadata) if metadata.is_dir() => Candidate::Directory,
        Ok(_) if access(path, AccessFlags::X_OK).is_ok() => Candidate::Executable,
        Ok(_) => Candidate::NotExecutable,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn write(path: &Path, mode: u32) {
        std::fs::write(path, "#!/bin/sh\nexit 0\n").expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn searches_path_like_a_shell() {
        let first = tempfile::tempdir().expect("tempdir");
        let second = tempfile::tempdir().expect("tempdir");
        write(&first.path().join("tool"), 0o644);
        write(&second.path().join("tool"), 0o755);
        let path = std::env::join_paths([first.path(), second.path()]).expect("join");
        let found = resolve_program(OsStr::new("tool"), Some(&path)).expect("found");
        assert_eq!(found, second.path().join("tool"));

        let only_plain = first.path().as_os_str();
        let error = resolve_program(OsStr::new("tool"), Some(only_plain)).expect_err("not exec");
        assert!(
            matches!(error, LaunchError::NotExecutable { .. }),
            "{error}"
        );
        assert_eq!(error.exit_code(), 126);

        let error = resolve_program(OsStr::new("nope"), Some(&path)).expect_err("missing");
        assert!(matches!(error, LaunchError::NotFound { .. }), "{error}");
        assert_eq!(error.exit_code(), 127);
        assert!(error.to_string().contains("command not found"));
    }

    #[test]
    fn explicit_paths_are_checked_directly() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(&dir.path().join("plain"), 0o644);
        let plain = dir.path().join("plain");
        let error = resolve_program(plain.as_os_str(), None).expect_err("not exec");
        assert_eq!(error.exit_code(), 126);
        let error = resolve_program(dir.path().as_os_str(), None).expect_err("dir");
        assert!(error.to_string().contains("directory"), "{error}");
        let missing = dir.path().join("missing");
        let error = resolve_program(missing.as_os_str(), None).expect_err("missing");
        assert_eq!(error.exit_code(), 127);
        assert_eq!(
            resolve_program(OsStr::new(""), None)
                .expect_err("empty")
                .exit_code(),
            127
        );
    }
}
