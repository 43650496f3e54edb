//! Routing and the repo-level Hub routes (whoami, repo info, create, validate-yaml).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::server::{
    Caller, Reply, St, bad_request, base_url, caller, error, internal, invalid_credentials, json,
    pct_decode, query_params, read_json,
};
use crate::store::{
    Commit, DEFAULT_GITATTRIBUTES, FileEntry, Repo, RepoType, Store, now_rfc3339, put_blob,
};
use crate::tokens::{TokenSpec, fake_id, valid_name};

/// A repo addressed by a request.
pub(crate) struct RepoRef {
    pub t: RepoType,
    pub id: String,
}

impl RepoRef {
    pub fn key(&self) -> (RepoType, String) {
        (self.t, self.id.clone())
    }
}

pub(crate) async fn dispatch(st: &St, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let raw: Vec<&str> = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .collect();
    let mut segs = Vec::with_capacity(raw.len());
    for s in &raw {
        match pct_decode(s) {
            Some(d) => segs.push(d),
            None => return bad_request("malformed percent-encoding"),
        }
    }
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let q = query_params(parts.uri.query());
    let m = &parts.method;
    let h = &parts.headers;
    let head_or_get = *m == Method::GET || *m == Method::HEAD;
    match segs.as_slice() {
        ["api", "whoami-v2"] if head_or_get => whoami(st, h),
        ["api", "whoami"] => invalid_credentials(),
        ["oauth", "token"] if *m == Method::POST => crate::oauth::token_endpoint(st, h, body).await,
        ["_actions", rest @ ..] => crate::oauth::actions_routes(st, m, h, &q, rest),
        ["api", "repos", "create"] if *m == Method::POST => {
            create_repo(st, h, body).await.into_response()
        }
        ["api", "repos", "delete"] if *m == Method::DELETE => {
            delete_repo(st, h, body).await.into_response()
        }
        ["api", "validate-yaml"] if *m == Method::POST => json(
            StatusCode::OK,
            &serde_json::json!({"errors": [], "warnings": []}),
        ),
        ["api", "agent-harnesses"] => not_found(),
        ["api", t, ns, name, rest @ ..] if RepoType::from_plural(t).is_some() => {
            let call = RepoCall {
                st,
                h,
                repo: RepoRef {
                    t: RepoType::from_plural(t).expect("checked"),
                    id: format!("{ns}/{name}"),
                },
            };
            repo_api(&call, m, &q, rest, body).await.into_response()
        }
        ["_lfs", kind, secret, oid, rest @ ..] => {
            crate::upload::transfer(st, m, h, kind, secret, oid, rest, body)
                .await
                .into_response()
        }
        _ => git_routes(st, m, h, &q, &segs, body).await.into_response(),
    }
}

async fn repo_api(
    call: &RepoCall<'_>,
    m: &Method,
    q: &[(String, String)],
    rest: &[&str],
    body: Body,
) -> Reply {
    let get = *m == Method::GET || *m == Method::HEAD;
    let post = *m == Method::POST;
    match rest {
        [] if get => repo_info(call, "main"),
        ["revision", rev @ ..] if get && !rev.is_empty() => repo_info(call, &rev.join("/")),
        ["tree", rev, path @ ..] if get => crate::download::tree(call, q, rev, &path.join("/")),
        ["refs"] if get => crate::download::refs(call),
        ["paths-info", rev] if post => crate::download::paths_info(call, rev, body).await,
        ["preupload", rev] if post => crate::upload::preupload(call, rev, body).await,
        ["commit", rev] if post => crate::upload::commit(call, q, rev, body).await,
        ["xet-write-token" | "xet-read-token", ..] => Err(error(
            StatusCode::NOT_IMPLEMENTED,
            None,
            "hub-emulator does not emulate Xet; set HF_HUB_DISABLE_XET=1",
        )),
        _ => Err(not_found()),
    }
}

/// `/{prefix}{ns}/{name}.git/info/lfs/objects/batch` and `/{prefix}{ns}/{name}/resolve/{rev}/{path}`.
async fn git_routes(
    st: &St,
    m: &Method,
    h: &axum::http::HeaderMap,
    _q: &[(String, String)],
    segs: &[&str],
    body: Body,
) -> Reply {
    let (t, rest) = match segs.first() {
        Some(&"datasets") => (RepoType::Dataset, &segs[1..]),
        Some(&"spaces") => (RepoType::Space, &segs[1..]),
        _ => (RepoType::Model, segs),
    };
    let repo_call = |ns: &str, name: &str| RepoCall {
        st,
        h,
        repo: RepoRef {
            t,
            id: format!("{ns}/{name}"),
        },
    };
    match rest {
        [ns, name_git, "info", "lfs", "objects", "batch"] if *m == Method::POST => {
            let Some(name) = name_git.strip_suffix(".git") else {
                return Err(not_found());
            };
            crate::upload::lfs_batch(&repo_call(ns, name), body).await
        }
        [ns, name, "resolve", rev @ ..] if *m == Method::GET || *m == Method::HEAD => {
            // The revision is one (percent-encoded) segment, or the unencoded `refs/pr/N`.
            let (rev, path) = match rev {
                ["refs", "pr", n, path @ ..] => (format!("refs/pr/{n}"), path.join("/")),
                [rev, path @ ..] => (rev.to_string(), path.join("/")),
                [] => return Err(not_found()),
            };
            crate::download::resolve(&repo_call(ns, name), m, &rev, &path).await
        }
        _ => Err(not_found()),
    }
}

fn whoami(st: &St, h: &axum::http::HeaderMap) -> Response {
    match caller(st, h) {
        Ok(Caller::Token(t)) => {
            let issued = st.oauth().whoami(&t.token);
            json(StatusCode::OK, &issued.unwrap_or_else(|| t.whoami_json()))
        }
        Ok(Caller::Anonymous) | Err(_) => invalid_credentials(),
    }
}

/// The Hub's plain 404 for a route it does not have.
pub(crate) fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, None, "Not Found")
}

/// RepoNotFound: 401 for an anonymous caller, 404 for an authenticated one.
pub(crate) fn repo_not_found(anonymous: bool) -> Response {
    let status = if anonymous {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::NOT_FOUND
    };
    error(status, Some("RepoNotFound"), "Repository not found")
}

/// The repo in the store, or RepoNotFound (404) when it went away after the access check.
pub(crate) fn stored_repo<'a>(store: &'a Store, repo: &RepoRef) -> Result<&'a Repo, Response> {
    store
        .repos
        .get(&repo.key())
        .ok_or_else(|| repo_not_found(false))
}

pub(crate) fn revision_not_found(rev: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        Some("RevisionNotFound"),
        &format!("Invalid rev id: {rev}"),
    )
}

/// A request to one repo's routes: the headers say who asks, `repo` about what.
pub(crate) struct RepoCall<'a> {
    pub st: &'a St,
    pub h: &'a axum::http::HeaderMap,
    pub repo: RepoRef,
}

impl RepoCall<'_> {
    /// Look up the repo and check the caller may read it (private repos), then run `f`
    /// on the caller and the repo under the store lock.
    /// Errors: 401 bad token; RepoNotFound (401 anonymous / 404 authenticated).
    pub fn read<T>(
        &self,
        f: impl FnOnce(Caller, &Repo) -> Result<T, Response>,
    ) -> Result<T, Response> {
        let (st, repo) = (self.st, &self.repo);
        let c = caller(st, self.h)?;
        let store = st.store();
        let readable = store.repos.get(&repo.key()).filter(|r| {
            !r.private
                || c.token()
                    .is_some_and(|t| t.can_read_private(repo.t.singular(), &repo.id))
        });
        match readable {
            Some(r) => f(c, r),
            None => Err(repo_not_found(c.token().is_none())),
        }
    }

    /// Check the caller may write the repo, returning the token.
    pub fn check_write(&self) -> Result<TokenSpec, Response> {
        let repo = &self.repo;
        let Caller::Token(t) = self.read(|c, _| Ok(c))? else {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                None,
                "You must be authenticated (Authorization: Bearer <token>) to write to this repository",
            ));
        };
        if !t.can_write(repo.t.singular(), &repo.id) {
            return Err(error(
                StatusCode::FORBIDDEN,
                None,
                &format!(
                    "You don't have write access to {} {} (token role: {})",
                    repo.t.singular(),
                    repo.id,
                    t.role_name()
                ),
            ));
        }
        Ok(t)
    }
}

fn repo_info(call: &RepoCall<'_>, rev: &str) -> Reply {
    call.read(|_, r| {
        let c = r.resolve(rev).ok_or_else(|| revision_not_found(rev))?;
        Ok(repo_info_json(&call.repo, r, c))
    })
}

fn repo_info_json(repo: &RepoRef, r: &Repo, c: &Commit) -> Response {
    let siblings: Vec<serde_json::Value> = c
        .files
        .iter()
        .map(|(p, f)| {
            let mut s = serde_json::json!({"rfilename": p, "size": f.size, "blobId": f.blob});
            if let Some(sha) = &f.lfs {
                s["lfs"] = serde_json::json!({
                    "sha256": sha, "size": f.size,
                    "pointerSize": crate::store::lfs_pointer(sha, f.size).len(),
                });
            }
            s
        })
        .collect();
    let used: u64 = c.files.values().map(|f| f.size).sum();
    let mut v = serde_json::json!({
        "_id": fake_id(&format!("repo:{}:{}", repo.t.singular(), repo.id)),
        "id": repo.id,
        "author": r.ns,
        "sha": c.oid,
        "lastModified": c.date,
        "createdAt": r.created_at,
        "private": r.private,
        "gated": false,
        "disabled": false,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
        "usedStorage": used,
    });
    if repo.t == RepoType::Model {
        v["modelId"] = serde_json::json!(repo.id);
    }
    json(StatusCode::OK, &v)
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default)]
    organization: Option<String>,
    #[serde(default, rename = "type")]
    repo_type: Option<String>,
    #[serde(default)]
    private: Option<bool>,
    #[serde(default)]
    visibility: Option<String>,
}

/// What `repos/create` and `repos/delete` name, read once the caller's token is known.
struct RepoRequest {
    t: TokenSpec,
    b: CreateBody,
    rt: RepoType,
    ns: String,
    name: String,
}

async fn repo_request(
    st: &St,
    h: &axum::http::HeaderMap,
    body: Body,
) -> Result<RepoRequest, Response> {
    let Caller::Token(t) = caller(st, h)? else {
        return Err(invalid_credentials());
    };
    let b: CreateBody = read_json(body).await?;
    let rt = match b.repo_type.as_deref() {
        None => RepoType::Model,
        Some(s) => RepoType::from_singular(s)
            .ok_or_else(|| bad_request(&format!("invalid repo type {s:?}")))?,
    };
    // 0.x may send "ns/name" in `name`.
    let (ns, name) = match (b.name.split_once('/'), &b.organization) {
        (Some((ns, name)), None) => (ns.to_string(), name.to_string()),
        (_, Some(org)) => (org.clone(), b.name.clone()),
        (None, None) => (t.user.clone(), b.name.clone()),
    };
    if !valid_name(&ns) || !valid_name(&name) {
        return Err(bad_request(&format!("invalid repo id {ns}/{name}")));
    }
    Ok(RepoRequest { t, b, rt, ns, name })
}

async fn create_repo(st: &St, h: &axum::http::HeaderMap, body: Body) -> Reply {
    let RepoRequest { t, b, rt, ns, name } = repo_request(st, h, body).await?;
    let id = format!("{ns}/{name}");
    let url = format!("{}/{}{}", base_url(st, h), rt.url_prefix(), id);
    if !t.can_create_in(&ns) {
        return Err(error(
            StatusCode::FORBIDDEN,
            None,
            &format!(
                "You don't have the rights to create a {} under the namespace \"{ns}\"",
                rt.singular()
            ),
        ));
    }
    let private = match b.visibility.as_deref() {
        Some("private") | Some("protected") => true,
        Some(_) => false,
        None => b.private.unwrap_or(false),
    };
    let attrs_blob = put_blob(&st.data_dir, DEFAULT_GITATTRIBUTES.as_bytes()).map_err(internal)?;
    let mut store = st.store();
    if store.repos.contains_key(&(rt, id.clone())) {
        let mut r = json(
            StatusCode::CONFLICT,
            &serde_json::json!({
                "error": format!("You already created this {} repo", rt.singular()),
                "url": url,
            }),
        );
        if let Ok(v) = format!("You already created this {} repo", rt.singular()).parse() {
            r.headers_mut().insert("x-error-message", v);
        }
        return Err(r);
    }
    let mut repo = Repo {
        repo_type: rt,
        ns: ns.clone(),
        name: name.clone(),
        private,
        created_at: now_rfc3339(),
        branches: Default::default(),
        prs: Default::default(),
        commits: Default::default(),
        counter: 0,
    };
    let mut files = std::collections::BTreeMap::new();
    files.insert(
        ".gitattributes".to_string(),
        FileEntry {
            size: DEFAULT_GITATTRIBUTES.len() as u64,
            blob: attrs_blob,
            lfs: None,
        },
    );
    let oid = repo.new_commit(None, "initial commit", "", files);
    repo.branches.insert("main".into(), oid);
    store.save(&repo).map_err(internal)?;
    store.repos.insert((rt, id.clone()), repo);
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"url": url, "name": id, "id": fake_id(&format!("repo:{}:{id}", rt.singular()))}),
    ))
}

async fn delete_repo(st: &St, h: &axum::http::HeaderMap, body: Body) -> Reply {
    let RepoRequest { rt, ns, name, .. } = repo_request(st, h, body).await?;
    let call = RepoCall {
        st,
        h,
        repo: RepoRef {
            t: rt,
            id: format!("{ns}/{name}"),
        },
    };
    call.check_write()?;
    let mut store = st.store();
    store.repos.remove(&call.repo.key());
    let p = store
        .root
        .join("repos")
        .join(rt.plural())
        .join(&ns)
        .join(format!("{name}.json"));
    let _ = std::fs::remove_file(p);
    drop(store);
    Ok(StatusCode::OK.into_response())
}
