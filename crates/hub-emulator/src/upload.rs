//! Upload routes: preupload, LFS batch, basic/multipart transfers, verify, commit.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::routes::{RepoCall, RepoRef, revision_not_found, stored_repo};
use crate::server::{
    Reply, St, UploadTicket, bad_request, base_url, error, internal, json, query_flag, read_body,
    read_json,
};
use crate::store::{
    FileEntry, PullRequest, Store, git_blob_sha1, gitattributes_lfs, gitignore_match, lfs_pointer,
    put_blob, random_hex,
};

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn read_blob(root: &Path, sha1: &str) -> Option<Vec<u8>> {
    std::fs::read(Store::blob_path(root, sha1)).ok()
}

/// Text of a regular file at a commit, if present.
fn file_text(st: &St, files: &BTreeMap<String, FileEntry>, path: &str) -> Option<String> {
    let f = files.get(path)?;
    if f.lfs.is_some() {
        return None;
    }
    read_blob(&st.data_dir, &f.blob).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Path rules of `_validate_path_in_repo`.
fn valid_repo_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && s != ".git")
}

#[derive(Deserialize)]
struct PreuploadBody {
    files: Vec<PreuploadFile>,
    #[serde(default, rename = "gitIgnore")]
    git_ignore: Option<String>,
    #[serde(default, rename = "gitAttributes")]
    git_attributes: Option<String>,
}

#[derive(Deserialize)]
struct PreuploadFile {
    path: String,
    #[serde(default)]
    sample: String,
    size: u64,
}

pub(crate) async fn preupload(call: &RepoCall<'_>, rev: &str, body: Body) -> Reply {
    let (st, repo) = (call.st, &call.repo);
    call.check_write()?;
    let b: PreuploadBody = read_json(body).await?;
    let files = {
        let store = st.store();
        let r = stored_repo(&store, repo)?;
        match r.resolve(rev) {
            Some(c) => c.files.clone(),
            None => return Err(revision_not_found(rev)),
        }
    };
    let attrs = b
        .git_attributes
        .or_else(|| file_text(st, &files, ".gitattributes"))
        .unwrap_or_default();
    let ignore = b
        .git_ignore
        .or_else(|| file_text(st, &files, ".gitignore"))
        .unwrap_or_default();
    let mut out = Vec::with_capacity(b.files.len());
    for f in b.files {
        let sample = base64::engine::general_purpose::STANDARD
            .decode(f.sample.as_bytes())
            .unwrap_or_default();
        let lfs = f.size > st.limits.regular_max_size
            || sample.contains(&0)
            || gitattributes_lfs(&attrs, &f.path);
        let oid = files
            .get(&f.path)
            .map(|e| e.lfs.clone().unwrap_or_else(|| e.blob.clone()));
        out.push(serde_json::json!({
            "path": f.path,
            "uploadMode": if lfs { "lfs" } else { "regular" },
            "shouldIgnore": gitignore_match(&ignore, &f.path),
            "oid": oid,
        }));
    }
    Ok(json(StatusCode::OK, &serde_json::json!({ "files": out })))
}

#[derive(Deserialize)]
struct BatchBody {
    #[serde(default)]
    operation: String,
    #[serde(default)]
    transfers: Option<Vec<String>>,
    #[serde(default)]
    objects: Vec<serde_json::Value>,
}

fn lfs_json(status: StatusCode, v: &serde_json::Value) -> Response {
    let mut r = json(status, v);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.git-lfs+json"),
    );
    r
}

pub(crate) async fn lfs_batch(call: &RepoCall<'_>, body: Body) -> Reply {
    let (st, h, repo) = (call.st, call.h, &call.repo);
    call.check_write()?;
    let b: BatchBody = read_json(body).await?;
    if b.operation != "upload" {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            "hub-emulator only supports the LFS \"upload\" operation; download with /resolve/",
        ));
    }
    if let Some(t) = &b.transfers
        && !t.iter().any(|t| t == "basic" || t == "multipart")
    {
        return Err(bad_request(
            "hub-emulator supports only the \"basic\" and \"multipart\" LFS transfers, not xet; set HF_HUB_DISABLE_XET=1",
        ));
    }
    let base = base_url(st, h);
    let mut out = Vec::with_capacity(b.objects.len());
    for o in b.objects {
        let oid = o
            .get("oid")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let size = o.get("size").and_then(|v| v.as_u64());
        let Some(size) = size.filter(|_| is_sha256(&oid)) else {
            out.push(serde_json::json!({
                "oid": oid, "size": o.get("size").cloned().unwrap_or(serde_json::json!(0)),
                "error": {"code": 422, "message": "oid must be a lowercase sha256 hex and size a non-negative integer"},
            }));
            continue;
        };
        let stored = Store::lfs_path(&st.data_dir, &oid);
        if let Ok(meta) = std::fs::metadata(&stored) {
            if meta.len() == size {
                out.push(serde_json::json!({"oid": oid, "size": size}));
            } else {
                out.push(serde_json::json!({
                    "oid": oid, "size": size,
                    "error": {"code": 422, "message": format!("object {oid} is already stored with size {}", meta.len())},
                }));
            }
            continue;
        }
        let secret = random_hex(16);
        let multipart = size > st.limits.lfs_multipart_threshold;
        let chunk = st.limits.multipart_chunk_size;
        let verify = format!("{base}/_lfs/verify/{secret}/{oid}");
        let actions = if multipart {
            let n = size.div_ceil(chunk);
            let mut header = serde_json::Map::new();
            header.insert("chunk_size".into(), serde_json::json!(chunk.to_string()));
            for i in 1..=n {
                header.insert(
                    i.to_string(),
                    serde_json::json!(format!("{base}/_lfs/part/{secret}/{oid}/{i}")),
                );
            }
            serde_json::json!({
                "upload": {"href": format!("{base}/_lfs/complete/{secret}/{oid}"), "header": header},
                "verify": {"href": verify},
            })
        } else {
            serde_json::json!({
                "upload": {"href": format!("{base}/_lfs/upload/{secret}/{oid}")},
                "verify": {"href": verify},
            })
        };
        st.uploads().insert(
            secret,
            UploadTicket {
                oid: oid.clone(),
                size,
                repo: repo.key(),
                chunk_size: multipart.then_some(chunk),
                parts: HashMap::new(),
            },
        );
        out.push(serde_json::json!({"oid": oid, "size": size, "authenticated": true, "actions": actions}));
    }
    Ok(lfs_json(
        StatusCode::OK,
        &serde_json::json!({"transfer": "basic", "objects": out, "hash_algo": "sha256"}),
    ))
}

/// Stream a request body to `dest`, returning (size, sha256 hex).
async fn stream_to_file(body: Body, dest: &Path, max: u64) -> Result<(u64, String), Response> {
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(internal)?;
    }
    let mut file = tokio::fs::File::create(dest).await.map_err(internal)?;
    let mut hasher = Sha256::new();
    let mut n: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) if n + c.len() as u64 <= max => c,
            refused => {
                drop(file);
                let _ = tokio::fs::remove_file(dest).await;
                let why = match refused {
                    Err(e) => format!("upload body interrupted: {e}"),
                    Ok(_) => format!("upload is larger than the announced {max} bytes"),
                };
                return Err(bad_request(&why));
            }
        };
        n += chunk.len() as u64;
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    Ok((n, hex::encode(hasher.finalize())))
}

/// Keep the file at `tmp` as LFS object `oid` if it is what the upload announced
/// (`size` bytes with sha256 `oid`), else remove it. `what` names the content in the error.
async fn keep_object(
    st: &St,
    tmp: &Path,
    oid: &str,
    size: u64,
    (got, sha): (u64, String),
    what: &str,
) -> Result<(), Response> {
    if got != size || sha != oid {
        let _ = tokio::fs::remove_file(tmp).await;
        return Err(bad_request(&format!(
            "{what} does not match: expected sha256 {oid} and {size} bytes, got {sha} and {got} bytes"
        )));
    }
    let dest = Store::lfs_path(&st.data_dir, oid);
    if let Some(p) = dest.parent() {
        tokio::fs::create_dir_all(p).await.map_err(internal)?;
    }
    tokio::fs::rename(tmp, &dest).await.map_err(internal)
}

fn tmp_path(st: &St, what: &str) -> PathBuf {
    st.data_dir
        .join("tmp")
        .join(format!("{what}-{}", random_hex(8)))
}

fn parts_dir(st: &St, secret: &str) -> PathBuf {
    st.data_dir.join("tmp").join(format!("parts-{secret}"))
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn transfer(
    st: &St,
    m: &Method,
    h: &HeaderMap,
    kind: &str,
    secret: &str,
    oid: &str,
    rest: &[&str],
    body: Body,
) -> Reply {
    let ticket = {
        let up = st.uploads();
        up.get(secret)
            .filter(|t| t.oid == oid)
            .map(|t| (t.size, t.chunk_size, t.repo.clone()))
    };
    let Some((size, chunk, repo_key)) = ticket else {
        return Err(error(
            StatusCode::NOT_FOUND,
            None,
            "unknown or expired upload URL",
        ));
    };
    match (kind, m.clone(), rest) {
        ("upload", Method::PUT, []) if chunk.is_none() => {
            let tmp = tmp_path(st, "put");
            let got = stream_to_file(body, &tmp, size).await?;
            keep_object(st, &tmp, oid, size, got, "uploaded content").await?;
            Ok(StatusCode::OK.into_response())
        }
        ("part", Method::PUT, [n]) => {
            let chunk = chunk.ok_or_else(not_multipart)?;
            let count = size.div_ceil(chunk);
            let Some(part) = n
                .parse::<u32>()
                .ok()
                .filter(|p| *p >= 1 && u64::from(*p) <= count)
            else {
                return Err(error(StatusCode::NOT_FOUND, None, "no such part"));
            };
            let expected = chunk.min(size - (u64::from(part) - 1) * chunk);
            let dir = parts_dir(st, secret);
            let tmp = dir.join(format!("{part}.tmp-{}", random_hex(4)));
            let (got, sha) = stream_to_file(body, &tmp, expected).await?;
            if got != expected {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(bad_request(&format!(
                    "part {part} must be {expected} bytes, got {got}"
                )));
            }
            tokio::fs::rename(&tmp, dir.join(part.to_string()))
                .await
                .map_err(internal)?;
            let etag = format!("\"{}\"", &sha[..32]);
            if let Some(t) = st.uploads().get_mut(secret) {
                t.parts.insert(part, etag.clone());
            }
            let mut r = StatusCode::OK.into_response();
            if let Ok(v) = HeaderValue::from_str(&etag) {
                r.headers_mut().insert(header::ETAG, v);
            }
            Ok(r)
        }
        ("complete", Method::POST, []) => complete(st, secret, oid, size, chunk, body).await,
        ("verify", Method::POST, []) => {
            let call = RepoCall {
                st,
                h,
                repo: RepoRef {
                    t: repo_key.0,
                    id: repo_key.1,
                },
            };
            call.check_write()?;
            #[derive(Deserialize)]
            struct Verify {
                oid: String,
                size: u64,
            }
            let v: Verify = read_json(body).await?;
            let ok = v.oid == oid
                && std::fs::metadata(Store::lfs_path(&st.data_dir, oid))
                    .is_ok_and(|m| m.len() == v.size);
            if ok {
                Ok(json(
                    StatusCode::OK,
                    &serde_json::json!({"message": "Object verified"}),
                ))
            } else {
                Err(error(
                    StatusCode::NOT_FOUND,
                    None,
                    &format!("object {} with size {} is not stored", v.oid, v.size),
                ))
            }
        }
        _ => Err(error(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            "method not allowed on this upload URL",
        )),
    }
}

fn not_multipart() -> Response {
    bad_request("not a multipart upload")
}

async fn complete(
    st: &St,
    secret: &str,
    oid: &str,
    size: u64,
    chunk: Option<u64>,
    body: Body,
) -> Reply {
    let chunk = chunk.ok_or_else(not_multipart)?;
    #[derive(Deserialize)]
    struct Part {
        #[serde(rename = "partNumber")]
        part_number: u32,
        etag: String,
    }
    #[derive(Deserialize)]
    struct Completion {
        oid: String,
        parts: Vec<Part>,
    }
    let c: Completion = read_json(body).await?;
    if c.oid != oid {
        return Err(bad_request("completion oid does not match the upload URL"));
    }
    let count = size.div_ceil(chunk);
    let received = st
        .uploads()
        .get(secret)
        .map(|t| t.parts.clone())
        .unwrap_or_default();
    if c.parts.len() as u64 != count {
        return Err(bad_request(&format!(
            "expected {count} parts in the completion, got {}",
            c.parts.len()
        )));
    }
    for (i, p) in c.parts.iter().enumerate() {
        if p.part_number as usize != i + 1 {
            return Err(bad_request("parts must be listed in order 1..n"));
        }
        match received.get(&p.part_number) {
            Some(e) if *e == p.etag => {}
            Some(_) => {
                return Err(bad_request(&format!(
                    "etag mismatch for part {}",
                    p.part_number
                )));
            }
            None => {
                return Err(bad_request(&format!(
                    "part {} was never uploaded",
                    p.part_number
                )));
            }
        }
    }
    let dir = parts_dir(st, secret);
    let tmp = tmp_path(st, "assemble");
    // One blocking task with std::fs and a few-MiB buffer: thousands of small tokio::fs
    // round trips through the blocking pool made this the slowest step of a large upload.
    let assembled = {
        let dir = dir.clone();
        let tmp = tmp.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut out =
                std::io::BufWriter::with_capacity(4 * 1024 * 1024, std::fs::File::create(&tmp)?);
            let mut hasher = Sha256::new();
            let mut total = 0u64;
            let mut buf = vec![0u8; 4 * 1024 * 1024];
            for i in 1..=count {
                let mut f = std::fs::File::open(dir.join(i.to_string()))?;
                loop {
                    let n = match f.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    hasher.update(&buf[..n]);
                    out.write_all(&buf[..n])?;
                    total += n as u64;
                }
            }
            out.flush()?;
            Ok::<_, std::io::Error>((total, hex::encode(hasher.finalize())))
        })
        .await
        .unwrap_or_else(|join| Err(std::io::Error::other(join)))
    };
    let got = match assembled {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(bad_request(&format!("could not assemble parts: {e}")));
        }
    };
    keep_object(st, &tmp, oid, size, got, "assembled object").await?;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"message": "Object assembled"}),
    ))
}

#[derive(Deserialize)]
struct Line {
    key: String,
    #[serde(default)]
    value: serde_json::Value,
}

enum Op {
    Put(String, FileEntry),
    Delete(String),
    DeleteFolder(String),
}

pub(crate) async fn commit(
    call: &RepoCall<'_>,
    q: &[(String, String)],
    rev: &str,
    body: Body,
) -> Reply {
    let (st, h, repo) = (call.st, call.h, &call.repo);
    call.check_write()?;
    let raw = read_body(body, usize::MAX).await?;
    let mut summary = String::new();
    let mut description = String::new();
    let mut parent: Option<String> = None;
    let mut ops = Vec::new();
    let mut lfs_paths = Vec::new();
    for (i, line) in raw.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let l: Line = match serde_json::from_slice(line) {
            Ok(l) => l,
            Err(e) => {
                return Err(bad_request(&format!(
                    "commit line {}: invalid JSON: {e}",
                    i + 1
                )));
            }
        };
        let v = &l.value;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let path = s("path").unwrap_or_default();
        if l.key != "header" && !valid_repo_path(path.trim_end_matches('/')) {
            return Err(bad_request(&format!(
                "commit line {}: invalid path {path:?}",
                i + 1
            )));
        }
        match l.key.as_str() {
            "header" => {
                summary = s("summary").unwrap_or_default();
                description = s("description").unwrap_or_default();
                parent = s("parentCommit");
            }
            "file" => {
                let content = s("content").unwrap_or_default();
                let data = match s("encoding").as_deref() {
                    Some("base64") => {
                        match base64::engine::general_purpose::STANDARD.decode(content.as_bytes()) {
                            Ok(d) => d,
                            Err(e) => {
                                return Err(bad_request(&format!(
                                    "{path}: invalid base64 content: {e}"
                                )));
                            }
                        }
                    }
                    _ => content.into_bytes(),
                };
                let blob = put_blob(&st.data_dir, &data).map_err(internal)?;
                ops.push(Op::Put(
                    path,
                    FileEntry {
                        size: data.len() as u64,
                        blob,
                        lfs: None,
                    },
                ));
            }
            "lfsFile" => {
                let oid = s("oid").unwrap_or_default();
                if s("algo").is_some_and(|a| a != "sha256") || !is_sha256(&oid) {
                    return Err(bad_request(&format!(
                        "{path}: lfsFile needs algo sha256 and a sha256 oid"
                    )));
                }
                let stored =
                    std::fs::metadata(Store::lfs_path(&st.data_dir, &oid)).map(|m| m.len());
                let Ok(stored) = stored else {
                    return Err(bad_request(&format!(
                        "{path}: LFS object {oid} was never uploaded (or its upload was not completed)"
                    )));
                };
                let size = v.get("size").and_then(|x| x.as_u64()).unwrap_or(stored);
                if size != stored {
                    return Err(bad_request(&format!(
                        "{path}: LFS object {oid} has size {stored}, but the commit says {size}"
                    )));
                }
                let blob = git_blob_sha1(lfs_pointer(&oid, size).as_bytes());
                lfs_paths.push(path.clone());
                ops.push(Op::Put(
                    path,
                    FileEntry {
                        size,
                        blob,
                        lfs: Some(oid),
                    },
                ));
            }
            "deletedFile" => ops.push(Op::Delete(path)),
            "deletedFolder" => ops.push(Op::DeleteFolder(path.trim_end_matches('/').to_string())),
            other => {
                return Err(bad_request(&format!(
                    "commit line {}: unknown key {other:?}",
                    i + 1
                )));
            }
        }
    }
    if summary.trim().is_empty() {
        summary = "Upload files with hub-emulator".into();
    }
    let create_pr = query_flag(q, "create_pr");

    // From here on the store lock is held: validation and the ref update are atomic.
    let mut store = st.store();
    let r = stored_repo(&store, repo)?;
    // Target ref: a branch, or refs/pr/N.
    let pr_target: Option<u64> = rev.strip_prefix("refs/pr/").and_then(|n| n.parse().ok());
    let branch = rev.strip_prefix("refs/heads/").unwrap_or(rev).to_string();
    let head = match pr_target {
        Some(n) => r.prs.get(&n).map(|p| p.head.clone()),
        None => r.branches.get(&branch).cloned(),
    };
    let Some(head) = head else {
        if r.resolve(rev).is_some() {
            return Err(bad_request(&format!(
                "cannot commit to {rev}: not a branch or pull request ref"
            )));
        }
        return Err(revision_not_found(rev));
    };
    // Like the Hub: without `parentCommit` the commit applies on the head at commit time
    // (concurrent uploaders to different paths all land); with it, a branch commit is a
    // compare-and-swap, and a new pull request starts from that parent.
    let opens_pr = create_pr && pr_target.is_none();
    let head = match &parent {
        Some(p) if opens_pr => match r.resolve(p) {
            Some(c) => c.oid.clone(),
            None => {
                return Err(bad_request(&format!(
                    "parentCommit {p} is not a commit of this repository"
                )));
            }
        },
        _ => head,
    };
    if let Some(p) = &parent
        && !opens_pr
        && !head.starts_with(&p.to_ascii_lowercase())
    {
        return Err(error(
            StatusCode::PRECONDITION_FAILED,
            None,
            &format!(
                "A commit has happened since {p}: the head of {rev} is now {head}. Please refresh and try again."
            ),
        ));
    }
    let mut files = r
        .commits
        .get(&head)
        .map(|c| c.files.clone())
        .unwrap_or_default();
    for op in ops {
        match op {
            Op::Put(p, e) => {
                files.insert(p, e);
            }
            Op::Delete(p) => {
                if files.remove(&p).is_none() {
                    return Err(error(
                        StatusCode::NOT_FOUND,
                        Some("EntryNotFound"),
                        &format!("A file with this name doesn't exist: {p}"),
                    ));
                }
            }
            Op::DeleteFolder(p) => {
                let prefix = format!("{p}/");
                let before = files.len();
                files.retain(|k, _| !k.starts_with(&prefix));
                if files.len() == before {
                    return Err(error(
                        StatusCode::NOT_FOUND,
                        Some("EntryNotFound"),
                        &format!("A folder with this name doesn't exist: {p}"),
                    ));
                }
            }
        }
    }
    // Like the Hub: make sure .gitattributes routes every LFS file to LFS.
    if !lfs_paths.is_empty() {
        let mut attrs = files
            .get(".gitattributes")
            .filter(|f| f.lfs.is_none())
            .and_then(|f| read_blob(&st.data_dir, &f.blob))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let before = attrs.len();
        for p in &lfs_paths {
            if !gitattributes_lfs(&attrs, p) {
                if !attrs.is_empty() && !attrs.ends_with('\n') {
                    attrs.push('\n');
                }
                attrs.push_str(&format!(
                    "{} filter=lfs diff=lfs merge=lfs -text\n",
                    p.replace(' ', "[[:space:]]")
                ));
            }
        }
        if attrs.len() != before {
            let blob = put_blob(&st.data_dir, attrs.as_bytes()).map_err(internal)?;
            files.insert(
                ".gitattributes".into(),
                FileEntry {
                    size: attrs.len() as u64,
                    blob,
                    lfs: None,
                },
            );
        }
    }
    let mut repo_mut = r.clone();
    let oid = repo_mut.new_commit(Some(&head), &summary, &description, files);
    let base = base_url(st, h);
    let prefix = format!("{base}/{}{}", repo.t.url_prefix(), repo.id);
    let mut pr_url = serde_json::Value::Null;
    if create_pr && pr_target.is_none() {
        let num = repo_mut.prs.keys().next_back().copied().unwrap_or(0) + 1;
        repo_mut.prs.insert(
            num,
            PullRequest {
                head: oid.clone(),
                title: summary.clone(),
                target_branch: branch.clone(),
            },
        );
        pr_url = serde_json::json!(format!("{prefix}/discussions/{num}"));
    } else if let Some(n) = pr_target {
        if let Some(pr) = repo_mut.prs.get_mut(&n) {
            pr.head = oid.clone();
        }
        pr_url = serde_json::json!(format!("{prefix}/discussions/{n}"));
    } else {
        repo_mut.branches.insert(branch, oid.clone());
    }
    store.save(&repo_mut).map_err(internal)?;
    store.repos.insert(repo.key(), repo_mut);
    drop(store);
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "success": true,
            "commitOid": oid,
            "commitUrl": format!("{prefix}/commit/{oid}"),
            "pullRequestUrl": pr_url,
            "hookOutput": "",
        }),
    ))
}
