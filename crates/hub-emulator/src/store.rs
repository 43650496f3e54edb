//! On-disk repository store.
//!
//! Layout under the data dir:
//!
//! ```text
//! repos/{models|datasets|spaces}/{ns}/{name}.json   repo metadata: branches, PR refs, every
//!                                                   commit with its full file list (path -> size,
//!                                                   git blob sha1, LFS sha256)
//! blobs/{sha1[0..2]}/{sha1}                          regular file contents, by git blob sha1
//! lfs/{sha256[0..2]}/{sha256}                        LFS objects, by sha256
//! tmp/                                               uploads in progress (emptied at start)
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// Model, dataset or space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoType {
    /// A model repo.
    Model,
    /// A dataset repo.
    Dataset,
    /// A Space.
    Space,
}

impl RepoType {
    /// `models`, `datasets`, `spaces` (API path segment).
    pub fn plural(self) -> &'static str {
        match self {
            RepoType::Model => "models",
            RepoType::Dataset => "datasets",
            RepoType::Space => "spaces",
        }
    }
    /// `model`, `dataset`, `space`.
    pub fn singular(self) -> &'static str {
        match self {
            RepoType::Model => "model",
            RepoType::Dataset => "dataset",
            RepoType::Space => "space",
        }
    }
    /// URL prefix for git/resolve URLs: `""`, `datasets/`, `spaces/`.
    pub fn url_prefix(self) -> &'static str {
        match self {
            RepoType::Model => "",
            RepoType::Dataset => "datasets/",
            RepoType::Space => "spaces/",
        }
    }
    /// Parse `models`/`datasets`/`spaces`.
    pub fn from_plural(s: &str) -> Option<RepoType> {
        match s {
            "models" => Some(RepoType::Model),
            "datasets" => Some(RepoType::Dataset),
            "spaces" => Some(RepoType::Space),
            _ => None,
        }
    }
    /// Parse `model`/`dataset`/`space`.
    pub fn from_singular(s: &str) -> Option<RepoType> {
        match s {
            "model" => Some(RepoType::Model),
            "dataset" => Some(RepoType::Dataset),
            "space" => Some(RepoType::Space),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct FileEntry {
    pub size: u64,
    /// Git blob sha1 of what git stores (content for regular files, the pointer for LFS).
    pub blob: String,
    /// sha256 of the LFS object, for LFS files.
    #[serde(default)]
    pub lfs: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Commit {
    pub oid: String,
    pub parents: Vec<String>,
    pub title: String,
    pub description: String,
    pub date: String,
    pub files: BTreeMap<String, FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PullRequest {
    pub head: String,
    pub title: String,
    pub target_branch: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Repo {
    pub repo_type: RepoType,
    pub ns: String,
    pub name: String,
    pub private: bool,
    pub created_at: String,
    pub branches: BTreeMap<String, String>,
    #[serde(default)]
    pub prs: BTreeMap<u64, PullRequest>,
    pub commits: HashMap<String, Commit>,
    #[serde(default)]
    pub counter: u64,
}

impl Repo {
    pub fn id(&self) -> String {
        format!("{}/{}", self.ns, self.name)
    }

    /// Resolve a revision: branch, `refs/heads/x`, `refs/pr/N`, or a (prefix of a) commit sha.
    pub fn resolve(&self, rev: &str) -> Option<&Commit> {
        let rev = rev.strip_prefix("refs/heads/").unwrap_or(rev);
        if let Some(oid) = self.branches.get(rev) {
            return self.commits.get(oid);
        }
        if let Some(n) = rev.strip_prefix("refs/pr/") {
            let pr = self.prs.get(&n.parse::<u64>().ok()?)?;
            return self.commits.get(&pr.head);
        }
        if rev.len() >= 7 && rev.len() <= 40 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
            let rev = rev.to_ascii_lowercase();
            if let Some(c) = self.commits.get(&rev) {
                return Some(c);
            }
            let mut it = self.commits.values().filter(|c| c.oid.starts_with(&rev));
            let first = it.next()?;
            if it.next().is_none() {
                return Some(first);
            }
        }
        None
    }

    /// Create a commit object (not yet referenced by any ref).
    pub fn new_commit(
        &mut self,
        parent: Option<&str>,
        title: &str,
        description: &str,
        files: BTreeMap<String, FileEntry>,
    ) -> String {
        self.counter += 1;
        let date = now_rfc3339();
        let mut h = Sha1::new();
        h.update(format!(
            "emulator-commit\n{}\n{}\n{}\n{}\n{}\n{}\n",
            self.id(),
            parent.unwrap_or(""),
            title,
            description,
            date,
            self.counter
        ));
        for (p, f) in &files {
            h.update(format!("{p}\0{}\0{}\n", f.blob, f.size));
        }
        let oid = hex::encode(h.finalize());
        self.commits.insert(
            oid.clone(),
            Commit {
                oid: oid.clone(),
                parents: parent.map(|p| vec![p.to_string()]).unwrap_or_default(),
                title: title.to_string(),
                description: description.to_string(),
                date,
                files,
            },
        );
        oid
    }
}

pub(crate) fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&f)
        .unwrap_or_else(|_| "2026-01-01T00:00:00.000Z".into())
}

/// The git blob sha1 of `content`.
pub(crate) fn git_blob_sha1(content: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", content.len()).as_bytes());
    h.update(content);
    hex::encode(h.finalize())
}

/// The git-lfs pointer file for an object.
pub(crate) fn lfs_pointer(sha256: &str, size: u64) -> String {
    format!("version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n")
}

/// The `.gitattributes` a new repo starts with (a subset of the Hub's default).
pub(crate) const DEFAULT_GITATTRIBUTES: &str = "\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.joblib filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
";

pub(crate) struct Store {
    pub root: PathBuf,
    pub repos: HashMap<(RepoType, String), Repo>,
}

impl Store {
    pub fn open(root: &Path) -> io::Result<Store> {
        for d in ["repos", "blobs", "lfs", "tmp"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        // Uploads in progress do not survive a restart.
        let _ = std::fs::remove_dir_all(root.join("tmp"));
        std::fs::create_dir_all(root.join("tmp"))?;
        let mut repos = HashMap::new();
        for t in [RepoType::Model, RepoType::Dataset, RepoType::Space] {
            let dir = root.join("repos").join(t.plural());
            let Ok(nss) = std::fs::read_dir(&dir) else {
                continue;
            };
            for ns in nss.flatten() {
                let Ok(files) = std::fs::read_dir(ns.path()) else {
                    continue;
                };
                for f in files.flatten() {
                    let p = f.path();
                    if p.extension().and_then(|e| e.to_str()) != Some("json") {
                        continue;
                    }
                    let text = std::fs::read(&p)?;
                    let repo: Repo = serde_json::from_slice(&text).map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display()))
                    })?;
                    repos.insert((repo.repo_type, repo.id()), repo);
                }
            }
        }
        Ok(Store {
            root: root.to_path_buf(),
            repos,
        })
    }

    pub fn save(&self, repo: &Repo) -> io::Result<()> {
        let dir = self
            .root
            .join("repos")
            .join(repo.repo_type.plural())
            .join(&repo.ns);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{}.json.tmp", repo.name));
        std::fs::write(&tmp, serde_json::to_vec(repo)?)?;
        std::fs::rename(&tmp, dir.join(format!("{}.json", repo.name)))
    }

    pub fn blob_path(root: &Path, sha1: &str) -> PathBuf {
        root.join("blobs").join(&sha1[..2]).join(sha1)
    }

    pub fn lfs_path(root: &Path, sha256: &str) -> PathBuf {
        root.join("lfs").join(&sha256[..2]).join(sha256)
    }
}

/// Write a regular blob (content-addressed; a no-op if present). Returns its sha1.
pub(crate) fn put_blob(root: &Path, content: &[u8]) -> io::Result<String> {
    let sha = git_blob_sha1(content);
    let p = Store::blob_path(root, &sha);
    if !p.exists() {
        std::fs::create_dir_all(p.parent().expect("blob path has a parent"))?;
        let tmp = root.join("tmp").join(format!("blob-{}", random_hex(8)));
        std::fs::write(&tmp, content)?;
        std::fs::rename(&tmp, &p)?;
    }
    Ok(sha)
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        s.push_str(&format!("{:02x}", fastrand::u8(..)));
    }
    s
}

/// `*` within a segment, `**` across segments, `?` one char (not `/`).
pub(crate) fn path_glob(p: &str, s: &str) -> bool {
    fn rec(p: &[u8], s: &[u8]) -> bool {
        if p.is_empty() {
            return s.is_empty();
        }
        if p.starts_with(b"**") {
            let rest = if p.len() > 2 && p[2] == b'/' {
                &p[3..]
            } else {
                &p[2..]
            };
            return (0..=s.len()).any(|i| rec(rest, &s[i..]));
        }
        match p[0] {
            b'*' => {
                for i in 0..=s.len() {
                    if rec(&p[1..], &s[i..]) {
                        return true;
                    }
                    if i < s.len() && s[i] == b'/' {
                        break;
                    }
                }
                false
            }
            b'?' => !s.is_empty() && s[0] != b'/' && rec(&p[1..], &s[1..]),
            c => !s.is_empty() && s[0] == c && rec(&p[1..], &s[1..]),
        }
    }
    rec(p.as_bytes(), s.as_bytes())
}

/// Does a `.gitattributes` text mark `path` as LFS?
pub(crate) fn gitattributes_lfs(attrs: &str, path: &str) -> bool {
    let mut lfs = false;
    for line in attrs.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(pat) = words.next() else { continue };
        let pat = pat.replace("[[:space:]]", " ");
        let rest: Vec<&str> = words.collect();
        let matched = if let Some(anchored) = pat.strip_prefix('/') {
            path_glob(anchored, path)
        } else if pat.contains('/') {
            path_glob(&pat, path)
        } else {
            let base = path.rsplit('/').next().unwrap_or(path);
            path_glob(&pat, base)
        };
        if matched {
            if rest.contains(&"filter=lfs") {
                lfs = true;
            } else if rest.contains(&"-filter") || rest.contains(&"!filter") {
                lfs = false;
            }
        }
    }
    lfs
}

/// Minimal `.gitignore`: blank/`#` lines skipped, `!` negation unsupported (ignored),
/// trailing `/` = directories only, leading or inner `/` = anchored to the root,
/// otherwise the pattern matches any path component.
pub(crate) fn gitignore_match(gitignore: &str, path: &str) -> bool {
    let comps: Vec<&str> = path.split('/').collect();
    for line in gitignore.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (pat, dir_only) = match line.strip_suffix('/') {
            Some(p) => (p, true),
            None => (line, false),
        };
        // Candidates: the full path, and every directory prefix.
        let n = if dir_only {
            comps.len() - 1
        } else {
            comps.len()
        };
        if pat.contains('/') {
            let pat = pat.trim_start_matches('/');
            for i in 1..=n {
                if path_glob(pat, &comps[..i].join("/")) {
                    return true;
                }
            }
        } else {
            for c in &comps[..n] {
                if path_glob(pat, c) {
                    return true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_attributes() {
        assert!(path_glob("*.bin", "a.bin"));
        assert!(!path_glob("*.bin", "d/a.bin"));
        assert!(path_glob("saved_model/**/*", "saved_model/x/y"));
        assert!(gitattributes_lfs(
            DEFAULT_GITATTRIBUTES,
            "sub/w.safetensors"
        ));
        assert!(!gitattributes_lfs(DEFAULT_GITATTRIBUTES, "README.md"));
        assert!(gitattributes_lfs(
            "big.dat filter=lfs diff=lfs merge=lfs -text\n",
            "big.dat"
        ));
        assert!(gitattributes_lfs(
            "a[[:space:]]b.dat filter=lfs\n",
            "a b.dat"
        ));
        assert!(gitignore_match("*.log\n", "x/y.log"));
        assert!(gitignore_match("build/\n", "build/a.txt"));
        assert!(!gitignore_match("build/\n", "build"));
        assert!(gitignore_match("/secret.txt\n", "secret.txt"));
        assert!(!gitignore_match("/secret.txt\n", "a/secret.txt"));
        assert_eq!(
            git_blob_sha1(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}
