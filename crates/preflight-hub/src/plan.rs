//! The upload planner: which local files go where in the repository.
//!
//! Selection follows the official client's `upload_folder`
//! (`docs/protocol/hf-hub.md#folder-selection`):
//!
//! - the walk is sorted, files only, paths relative to the folder in POSIX form;
//! - `include`/`exclude` are fnmatch-like: `*` also matches `/`, a pattern ending in `/` gets
//!   `*` appended, `\` is read as `/`; a file is kept if it matches some include pattern (when
//!   any is given) and no exclude pattern;
//! - `.git` and `.cache/huggingface` (at any depth) are always left out;
//! - `path_in_repo` is prefixed after filtering, and every resulting path is checked like the
//!   client's `_validate_path_in_repo` (no `.`/`..` segment, no `.git` or `.cache` segment).
//!
//! Symlinks are followed only when their target stays inside the folder; a kept symlink that
//! leaves it (or dangles) is refused with [`PlanError::SymlinkEscapes`].

use std::path::{Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// Patterns that are always excluded (the official client's `DEFAULT_IGNORE_PATTERNS`).
pub const DEFAULT_IGNORE_PATTERNS: &[&str] = &[
    ".git",
    ".git/*",
    "*/.git",
    "**/.git/**",
    ".cache/huggingface",
    ".cache/huggingface/*",
    "*/.cache/huggingface",
    "**/.cache/huggingface/**",
];

/// One file of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Where the bytes are read from.
    pub local_path: PathBuf,
    /// Path relative to the source folder (`/`-separated); the file name for a file source.
    pub relative_path: String,
    /// Destination in the repository.
    pub path_in_repo: String,
    /// Size when planned.
    pub size: u64,
}

/// What would be uploaded, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadPlan {
    /// The files, sorted by path.
    pub files: Vec<PlannedFile>,
    /// Sum of their sizes.
    pub total_bytes: u64,
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The source does not exist.
    #[error("the upload source `{}` does not exist", .0.display())]
    SourceMissing(PathBuf),
    /// The source is neither a file nor a folder.
    #[error("the upload source `{}` is neither a file nor a folder", .0.display())]
    SourceNotFileOrFolder(PathBuf),
    /// A symlink points outside the folder (or nowhere).
    #[error("`{}` is a symlink to `{}`, outside the folder being uploaded", .link.display(), .target.display())]
    SymlinkEscapes {
        /// The link.
        link: PathBuf,
        /// Its target (as written in the link when it cannot be resolved).
        target: PathBuf,
    },
    /// A path in the repository would be invalid.
    #[error("invalid path in repo `{path}`: {reason}")]
    InvalidPathInRepo {
        /// The offending path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A local file name is not valid UTF-8.
    #[error("the file name `{}` is not valid UTF-8", .0.display())]
    NonUtf8Path(PathBuf),
    /// An include or exclude pattern does not parse.
    #[error("invalid glob pattern `{pattern}`")]
    Glob {
        /// The pattern.
        pattern: String,
        /// The parser's error.
        #[source]
        source: globset::Error,
    },
    /// Walking the folder failed.
    #[error("cannot read `{}`", .path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// What.
        #[source]
        source: std::io::Error,
    },
}

/// Builds the plan for `source` (a file or a folder).
pub fn plan_upload(
    source: &Path,
    path_in_repo: Option<&str>,
    include: &[String],
    exclude: &[String],
) -> Result<UploadPlan, PlanError> {
    let metadata = match std::fs::metadata(source) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(PlanError::SourceMissing(source.to_path_buf()));
        }
        Err(source_error) => {
            return Err(PlanError::Io {
                path: source.to_path_buf(),
                source: source_error,
            });
        }
    };
    let include_set = build_set(include.iter().map(String::as_str))?;
    let mut all_excludes: Vec<&str> = exclude.iter().map(String::as_str).collect();
    all_excludes.extend_from_slice(DEFAULT_IGNORE_PATTERNS);
    let exclude_set = build_set(all_excludes.into_iter())?;
    let keep = |relative: &str| {
        (include.is_empty() || include_set.is_match(relative)) && !exclude_set.is_match(relative)
    };

    let mut files = Vec::new();
    if metadata.is_file() {
        let name = source
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| PlanError::NonUtf8Path(source.to_path_buf()))?
            .to_owned();
        if keep(&name) {
            let destination = match path_in_repo {
                Some(path) if !path.is_empty() && !path.ends_with('/') => path.to_owned(),
                Some(prefix) => format!("{prefix}{name}"),
                None => name.clone(),
            };
            files.push(PlannedFile {
                local_path: source.to_path_buf(),
                relative_path: name,
                path_in_repo: validate_path_in_repo(&destination)?,
                size: metadata.len(),
            });
        }
    } else if metadata.is_dir() {
        let root = source.canonicalize().map_err(|error| PlanError::Io {
            path: source.to_path_buf(),
            source: error,
        })?;
        let prefix = path_in_repo
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty() && *p != ".");
        for entry in walkdir::WalkDir::new(source)
            .follow_links(false)
            .sort_by_file_name()
        {
            let entry = entry.map_err(|error| {
                let path = error.path().unwrap_or(source).to_path_buf();
                PlanError::Io {
                    path,
                    source: error.into(),
                }
            })?;
            let file_type = entry.file_type();
            if file_type.is_dir() {
                continue;
            }
            let relative = entry
                .path()
                .strip_prefix(source)
                .unwrap_or(entry.path())
                .to_str()
                .ok_or_else(|| PlanError::NonUtf8Path(entry.path().to_path_buf()))?
                .replace('\\', "/");
            if !keep(&relative) {
                continue;
            }
            let size = if file_type.is_symlink() {
                match resolve_symlink_inside(entry.path(), &root)? {
                    Some(size) => size,
                    // A link to a folder inside the tree: its files are reached directly.
                    None => continue,
                }
            } else if file_type.is_file() {
                entry
                    .metadata()
                    .map_err(|error| PlanError::Io {
                        path: entry.path().to_path_buf(),
                        source: error.into(),
                    })?
                    .len()
            } else {
                // Sockets, FIFOs, devices: never content.
                continue;
            };
            let destination = match prefix {
                Some(prefix) => format!("{prefix}/{relative}"),
                None => relative.clone(),
            };
            files.push(PlannedFile {
                local_path: entry.path().to_path_buf(),
                relative_path: relative,
                path_in_repo: validate_path_in_repo(&destination)?,
                size,
            });
        }
    } else {
        return Err(PlanError::SourceNotFileOrFolder(source.to_path_buf()));
    }
    files.sort_by(|a, b| a.path_in_repo.cmp(&b.path_in_repo));
    let total_bytes = files.iter().map(|file| file.size).sum();
    Ok(UploadPlan { files, total_bytes })
}

/// `Some(size)` for a link to a file inside `root`, `None` for a link to a folder inside it.
fn resolve_symlink_inside(link: &Path, root: &Path) -> Result<Option<u64>, PlanError> {
    let escape = || PlanError::SymlinkEscapes {
        link: link.to_path_buf(),
        target: std::fs::read_link(link).unwrap_or_default(),
    };
    let target = link.canonicalize().map_err(|_| escape())?;
    if !target.starts_with(root) {
        return Err(escape());
    }
    let metadata = std::fs::metadata(&target).map_err(|error| PlanError::Io {
        path: link.to_path_buf(),
        source: error,
    })?;
    Ok(metadata.is_file().then_some(metadata.len()))
}

fn build_set<'a>(patterns: impl Iterator<Item = &'a str>) -> Result<GlobSet, PlanError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(fnmatch_glob(pattern)?);
    }
    builder.build().map_err(|source| PlanError::Glob {
        pattern: "<set>".to_owned(),
        source,
    })
}

/// An fnmatch-like glob: `*` matches `/` too; a trailing `/` means "everything below".
fn fnmatch_glob(pattern: &str) -> Result<Glob, PlanError> {
    let mut normalized = pattern.replace('\\', "/");
    if normalized.ends_with('/') {
        normalized.push('*');
    }
    GlobBuilder::new(&normalized)
        .literal_separator(false)
        .backslash_escape(false)
        .build()
        .map_err(|source| PlanError::Glob {
            pattern: pattern.to_owned(),
            source,
        })
}

/// Normalises and checks a path in the repository like the official client's
/// `_validate_path_in_repo`: strips a leading `/` and `./`; refuses empty paths, `.` and `..`
/// segments, and any `.git` or `.cache` segment.
pub fn validate_path_in_repo(path: &str) -> Result<String, PlanError> {
    let invalid = |reason| PlanError::InvalidPathInRepo {
        path: path.to_owned(),
        reason,
    };
    let mut normalized = path.replace('\\', "/");
    if let Some(rest) = normalized.strip_prefix('/') {
        normalized = rest.to_owned();
    }
    if let Some(rest) = normalized.strip_prefix("./") {
        normalized = rest.to_owned();
    }
    if normalized.is_empty() || normalized == "." {
        return Err(invalid("it is empty"));
    }
    for segment in normalized.split('/') {
        match segment {
            ".." => return Err(invalid("it contains a `..` segment")),
            "." => return Err(invalid("it contains a `.` segment")),
            "" => return Err(invalid("it contains an empty segment")),
            ".git" | ".cache" => {
                return Err(invalid("`.git` and `.cache` folders cannot be uploaded"));
            }
            _ => {}
        }
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, content: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn paths(plan: &UploadPlan) -> Vec<&str> {
        plan.files.iter().map(|f| f.path_in_repo.as_str()).collect()
    }

    #[test]
    fn path_validation_table() {
        let ok = [
            ("a.txt", "a.txt"),
            ("/a/b.txt", "a/b.txt"),
            ("./a.txt", "a.txt"),
            ("dir/.gitignore", "dir/.gitignore"),
            ("caché/ü.bin", "caché/ü.bin"),
        ];
        for (input, expected) in ok {
            assert_eq!(validate_path_in_repo(input).unwrap(), expected, "{input}");
        }
        for bad in [
            "",
            ".",
            "a/../b",
            "../x",
            ".git/config",
            "x/.cache/y",
            "a//b",
            "a/./b",
        ] {
            assert!(validate_path_in_repo(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn walks_sorted_filters_and_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "b.txt", "b");
        write(root, "a/x.bin", "xx");
        write(root, "a/y.txt", "y");
        write(root, ".git/HEAD", "ref");
        write(root, "sub/.git/HEAD", "ref");
        write(root, ".cache/huggingface/state", "s");
        write(root, "logs/run.log", "l");
        let plan = plan_upload(root, None, &[], &[]).unwrap();
        assert_eq!(
            paths(&plan),
            ["a/x.bin", "a/y.txt", "b.txt", "logs/run.log"]
        );
        assert_eq!(plan.total_bytes, 5);

        let plan = plan_upload(root, Some("/models/v1/"), &["*.txt".into()], &[]).unwrap();
        assert_eq!(paths(&plan), ["models/v1/a/y.txt", "models/v1/b.txt"]);

        // `*` matches `/`, a trailing `/` means "everything below".
        let plan = plan_upload(root, None, &[], &["logs/".into(), "a*bin".into()]).unwrap();
        assert_eq!(paths(&plan), ["a/y.txt", "b.txt"]);

        let single = plan_upload(&root.join("b.txt"), Some("docs/"), &[], &[]).unwrap();
        assert_eq!(paths(&single), ["docs/b.txt"]);
        let single = plan_upload(&root.join("b.txt"), Some("renamed.txt"), &[], &[]).unwrap();
        assert_eq!(paths(&single), ["renamed.txt"]);
    }

    #[test]
    fn errors_are_specific() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            plan_upload(&dir.path().join("nope"), None, &[], &[]),
            Err(PlanError::SourceMissing(_))
        ));
        write(dir.path(), "a.txt", "a");
        assert!(matches!(
            plan_upload(dir.path(), Some(".git"), &[], &[]),
            Err(PlanError::InvalidPathInRepo { .. })
        ));
        assert!(matches!(
            plan_upload(dir.path(), None, &["[".into()], &[]),
            Err(PlanError::Glob { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_inside_are_followed_outside_refused() {
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.txt", "s");
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "real/data.txt", "data");
        std::os::unix::fs::symlink(
            dir.path().join("real/data.txt"),
            dir.path().join("link.txt"),
        )
        .unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("linkdir")).unwrap();
        let plan = plan_upload(dir.path(), None, &[], &[]).unwrap();
        assert_eq!(paths(&plan), ["link.txt", "real/data.txt"]);
        assert_eq!(plan.files[0].size, 4);

        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            dir.path().join("leak.txt"),
        )
        .unwrap();
        let error = plan_upload(dir.path(), None, &[], &[]).unwrap_err();
        assert!(matches!(error, PlanError::SymlinkEscapes { .. }), "{error}");
        // Excluded links are not judged.
        plan_upload(dir.path(), None, &[], &["leak.txt".into()]).unwrap();
    }
}
