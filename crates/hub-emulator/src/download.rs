//! Download routes: tree, refs, paths-info, resolve.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::routes::{RepoCall, revision_not_found};
use crate::server::{Reply, error, internal, json, query_flag, query_params, read_body};
use crate::store::{Commit, FileEntry, Repo, Store, lfs_pointer};

fn entry_not_found(path: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        Some("EntryNotFound"),
        &format!("Entry not found: {path}"),
    )
}

/// Look up a commit under the read check.
fn commit_at(call: &RepoCall<'_>, rev: &str) -> Result<Commit, Response> {
    call.read(|_, r| {
        r.resolve(rev)
            .cloned()
            .ok_or_else(|| revision_not_found(rev))
    })
}

fn file_item(path: &str, f: &FileEntry, c: &Commit, expand: bool) -> serde_json::Value {
    let mut v = serde_json::json!({"type": "file", "oid": f.blob, "size": f.size, "path": path});
    if let Some(sha) = &f.lfs {
        v["lfs"] = serde_json::json!({
            "oid": sha, "size": f.size, "pointerSize": lfs_pointer(sha, f.size).len(),
        });
    }
    if expand {
        v["lastCommit"] = serde_json::json!({"id": c.oid, "title": c.title, "date": c.date});
    }
    v
}

fn dir_item(path: &str, c: &Commit, expand: bool) -> serde_json::Value {
    let oid = hex::encode(Sha1::digest(format!("tree {}\0{path}", c.oid).as_bytes()));
    let mut v = serde_json::json!({"type": "directory", "oid": oid, "size": 0, "path": path});
    if expand {
        v["lastCommit"] = serde_json::json!({"id": c.oid, "title": c.title, "date": c.date});
    }
    v
}

fn dirs_of(files: &BTreeMap<String, FileEntry>) -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for p in files.keys() {
        let mut acc = String::new();
        let parts: Vec<&str> = p.split('/').collect();
        for seg in &parts[..parts.len() - 1] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(seg);
            dirs.insert(acc.clone());
        }
    }
    dirs
}

pub(crate) fn tree(call: &RepoCall<'_>, q: &[(String, String)], rev: &str, path: &str) -> Reply {
    let c = commit_at(call, rev)?;
    let recursive = query_flag(q, "recursive");
    let expand = query_flag(q, "expand");
    let path = path.trim_matches('/');
    let dirs = dirs_of(&c.files);
    if !path.is_empty() && !dirs.contains(path) {
        if let Some(f) = c.files.get(path) {
            return Ok(json(StatusCode::OK, &vec![file_item(path, f, &c, expand)]));
        }
        return Err(entry_not_found(path));
    }
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let under = |p: &str| -> bool {
        p.strip_prefix(prefix.as_str())
            .is_some_and(|rest| !rest.is_empty() && (recursive || !rest.contains('/')))
    };
    let mut items: Vec<serde_json::Value> = dirs
        .iter()
        .filter(|d| under(d))
        .map(|d| dir_item(d, &c, expand))
        .collect();
    items.extend(
        c.files
            .iter()
            .filter(|(p, _)| under(p))
            .map(|(p, f)| file_item(p, f, &c, expand)),
    );
    Ok(json(StatusCode::OK, &items))
}

pub(crate) fn refs(call: &RepoCall<'_>) -> Reply {
    call.read(|_, r| Ok(refs_json(r)))
}

fn refs_json(r: &Repo) -> Response {
    let branches: Vec<serde_json::Value> = r
        .branches
        .iter()
        .map(|(n, oid)| serde_json::json!({"name": n, "ref": format!("refs/heads/{n}"), "targetCommit": oid}))
        .collect();
    let prs: Vec<serde_json::Value> = r
        .prs
        .iter()
        .map(|(n, p)| serde_json::json!({"name": n.to_string(), "ref": format!("refs/pr/{n}"), "targetCommit": p.head}))
        .collect();
    json(
        StatusCode::OK,
        &serde_json::json!({"branches": branches, "converts": [], "tags": [], "pullRequests": prs}),
    )
}

pub(crate) async fn paths_info(call: &RepoCall<'_>, rev: &str, body: Body) -> Reply {
    let c = commit_at(call, rev)?;
    let raw = read_body(body, 16 << 20).await?;
    let text = String::from_utf8_lossy(&raw);
    let form = query_params(Some(&text));
    let expand = form
        .iter()
        .any(|(k, v)| k == "expand" && matches!(v.to_ascii_lowercase().as_str(), "1" | "true"));
    let dirs = dirs_of(&c.files);
    let mut out = Vec::new();
    for (k, p) in &form {
        if k != "paths" {
            continue;
        }
        let p = p.trim_matches('/');
        if let Some(f) = c.files.get(p) {
            out.push(file_item(p, f, &c, expand));
        } else if dirs.contains(p) {
            out.push(dir_item(p, &c, expand));
        }
    }
    Ok(json(StatusCode::OK, &out))
}

fn parse_range(h: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = h.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multi-range: serve the whole file
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (s, "") => (s.parse().map_err(|_| ())?, size.saturating_sub(1)),
        (s, e) => {
            let e: u64 = e.parse().map_err(|_| ())?;
            (s.parse().map_err(|_| ())?, e.min(size.saturating_sub(1)))
        }
    };
    if start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

pub(crate) async fn resolve(call: &RepoCall<'_>, m: &Method, rev: &str, path: &str) -> Reply {
    let (st, h) = (call.st, call.h);
    let c = commit_at(call, rev)?;
    let Some(f) = c.files.get(path) else {
        let mut r = entry_not_found(path);
        if let Ok(v) = HeaderValue::from_str(&c.oid) {
            r.headers_mut().insert("x-repo-commit", v);
        }
        return Err(r);
    };
    let (disk, etag) = match &f.lfs {
        Some(sha) => (Store::lfs_path(&st.data_dir, sha), sha.clone()),
        None => (Store::blob_path(&st.data_dir, &f.blob), f.blob.clone()),
    };
    let range = match parse_range(h, f.size) {
        Ok(r) => r,
        Err(()) => {
            let mut r = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                None,
                "Range not satisfiable",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", f.size)) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Err(r);
        }
    };
    let (status, start, len) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        None => (StatusCode::OK, 0, f.size),
    };
    let body = if *m == Method::HEAD {
        Body::empty()
    } else {
        let mut file = match tokio::fs::File::open(&disk).await {
            Ok(file) => file,
            Err(e) => return Err(internal(format!("stored content missing: {e}"))),
        };
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(internal)?;
        }
        Body::from_stream(tokio_util::io::ReaderStream::new(file.take(len)))
    };
    let mut r = (status, body).into_response();
    let hd = r.headers_mut();
    let set = |hd: &mut HeaderMap, k: header::HeaderName, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            hd.insert(k, v);
        }
    };
    set(
        hd,
        header::HeaderName::from_static("x-repo-commit"),
        c.oid.clone(),
    );
    set(hd, header::ETAG, format!("\"{etag}\""));
    set(hd, header::CONTENT_LENGTH, len.to_string());
    set(hd, header::ACCEPT_RANGES, "bytes".into());
    set(hd, header::CONTENT_TYPE, "application/octet-stream".into());
    if let Some((s, e)) = range {
        set(
            hd,
            header::CONTENT_RANGE,
            format!("bytes {s}-{e}/{}", f.size),
        );
    }
    Ok(r)
}
