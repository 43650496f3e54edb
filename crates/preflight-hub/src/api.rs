//! Hub API calls used by the upload: repo info and creation, the branch head,
//! `validate-yaml`, `preupload` and the tree listing. Each is one retried operation.

use std::collections::HashMap;

use base64::Engine as _;
use preflight_retry::{Idempotency, RetryError};
use serde::Deserialize;
use serde_json::json;

use crate::client::{HubClient, quote_segment};
use crate::error::AttemptError;
use crate::repo::RepoType;

/// Files per `preupload` call (the server's limit).
pub const PREUPLOAD_CHUNK: usize = 256;

/// What the repository lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RepoLookup {
    Exists,
    Missing,
}

impl HubClient {
    /// `GET /api/{type}s/{repo}`: does the repository exist (for this token)?
    pub(crate) async fn repo_exists(
        &self,
        repo_type: RepoType,
        repo_id: &str,
    ) -> Result<RepoLookup, RetryError<AttemptError>> {
        let url = self.api_repo_url(repo_type, repo_id, "");
        let result = self
            .retry
            .run("repo_info", Idempotency::Idempotent, |_| async {
                let request = self.authorize(self.http.get(&url), &url);
                self.send_bytes("repo_info", &url, request).await
            })
            .await;
        match result {
            Ok(_) => Ok(RepoLookup::Exists),
            Err(error) => {
                let missing = error.last_error().status().is_some_and(|status| {
                    status.status == 404 || status.error_code.as_deref() == Some("RepoNotFound")
                });
                if missing {
                    Ok(RepoLookup::Missing)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// `POST /api/repos/create`; `Ok(true)` when created, `Ok(false)` on 409 (exists).
    pub(crate) async fn create_repo(
        &self,
        repo_type: RepoType,
        repo_id: &str,
        private: bool,
    ) -> Result<bool, RetryError<AttemptError>> {
        let url = self.url("api/repos/create");
        let (organization, name) = match repo_id.split_once('/') {
            Some((namespace, name)) => (Some(namespace), name),
            None => (None, repo_id),
        };
        let mut body = json!({
            "name": name,
            "visibility": if private { "private" } else { "public" },
        });
        if let Some(organization) = organization {
            body["organization"] = json!(organization);
        }
        if repo_type != RepoType::Model {
            body["type"] = json!(repo_type.as_str());
        }
        if repo_type == RepoType::Space {
            // The Hub requires an SDK for Spaces; `static` needs no hardware.
            body["sdk"] = json!("static");
        }
        let result = self
            .retry
            .run("repo_create", Idempotency::Idempotent, |_| async {
                let request = self.authorize(self.http.post(&url).json(&body), &url);
                self.send_bytes("repo_create", &url, request).await
            })
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if error.last_error().status().is_some_and(|s| s.status == 409) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// `GET /api/{type}s/{repo}/revision/{rev}` → the commit sha, or `None` when the revision
    /// does not exist (an empty repository).
    pub(crate) async fn revision_sha(
        &self,
        repo_type: RepoType,
        repo_id: &str,
        revision: &str,
    ) -> Result<Option<String>, RetryError<AttemptError>> {
        #[derive(Deserialize)]
        struct Info {
            sha: Option<String>,
        }
        let url = self.api_repo_url(
            repo_type,
            repo_id,
            &format!("/revision/{}", quote_segment(revision)),
        );
        let result = self
            .retry
            .run("repo_info", Idempotency::Idempotent, |_| async {
                let request = self.authorize(self.http.get(&url), &url);
                self.send_json::<Info>("repo_info", &url, request).await
            })
            .await;
        match result {
            Ok(info) => Ok(info.sha),
            Err(error)
                if error
                    .last_error()
                    .status()
                    .is_some_and(|s| s.error_code.as_deref() == Some("RevisionNotFound")) =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// `POST /api/validate-yaml`: the server's errors about README metadata (empty when valid).
    pub(crate) async fn validate_yaml(
        &self,
        repo_type: RepoType,
        content: &str,
    ) -> Result<Vec<String>, RetryError<AttemptError>> {
        #[derive(Deserialize, Default)]
        struct Message {
            #[serde(default)]
            message: String,
        }
        #[derive(Deserialize, Default)]
        struct Answer {
            #[serde(default)]
            errors: Vec<Message>,
        }
        let url = self.url("api/validate-yaml");
        let body = json!({"content": content, "repoType": repo_type.as_str()});
        let result = self
            .retry
            .run("validate_yaml", Idempotency::Idempotent, |_| async {
                let request = self.authorize(self.http.post(&url).json(&body), &url);
                self.send_json::<Answer>("validate_yaml", &url, request)
                    .await
            })
            .await;
        match result {
            Ok(answer) => Ok(answer.errors.into_iter().map(|m| m.message).collect()),
            Err(error) if error.last_error().status().is_some_and(|s| s.status == 400) => {
                let message = error
                    .last_error()
                    .status()
                    .and_then(|s| s.error_message.clone())
                    .unwrap_or_else(|| "invalid metadata".to_owned());
                Ok(vec![message])
            }
            Err(error) => Err(error),
        }
    }

    /// `POST /api/{type}s/{repo}/preupload/{rev}` for up to [`PREUPLOAD_CHUNK`] files.
    pub(crate) async fn preupload(
        &self,
        repo_type: RepoType,
        repo_id: &str,
        revision: &str,
        create_pr: bool,
        files: &[PreuploadFile],
    ) -> Result<Vec<PreuploadAnswer>, RetryError<AttemptError>> {
        #[derive(Deserialize)]
        struct Answer {
            files: Vec<PreuploadAnswer>,
        }
        let mut url = self.api_repo_url(
            repo_type,
            repo_id,
            &format!("/preupload/{}", quote_segment(revision)),
        );
        if create_pr {
            url.push_str("?create_pr=1");
        }
        let body = json!({
            "files": files
                .iter()
                .map(|file| json!({
                    "path": file.path,
                    "sample": base64::engine::general_purpose::STANDARD.encode(&file.sample),
                    "size": file.size,
                }))
                .collect::<Vec<_>>(),
        });
        self.retry
            .run("preupload", Idempotency::Idempotent, |_| async {
                let request = self.authorize(self.http.post(&url).json(&body), &url);
                let answer: Answer = self.send_json("preupload", &url, request).await?;
                for file in &answer.files {
                    if file.upload_mode != "lfs" && file.upload_mode != "regular" {
                        return Err(AttemptError::Protocol {
                            operation: "preupload",
                            url: preflight_retry::redact_url(&url),
                            message: format!("unknown uploadMode `{}`", file.upload_mode),
                        });
                    }
                }
                Ok(answer.files)
            })
            .await
    }

    /// The files of a commit: path → (git blob oid, LFS sha256 if any). Follows `Link`
    /// pagination.
    pub(crate) async fn tree(
        &self,
        repo_type: RepoType,
        repo_id: &str,
        revision: &str,
    ) -> Result<HashMap<String, TreeEntry>, RetryError<AttemptError>> {
        #[derive(Deserialize)]
        struct Lfs {
            oid: String,
        }
        #[derive(Deserialize)]
        struct Item {
            #[serde(rename = "type")]
            kind: String,
            path: String,
            #[serde(default)]
            oid: Option<String>,
            #[serde(default)]
            lfs: Option<Lfs>,
        }
        let mut entries = HashMap::new();
        let mut next = Some(self.api_repo_url(
            repo_type,
            repo_id,
            &format!(
                "/tree/{}?recursive=true&expand=false",
                quote_segment(revision)
            ),
        ));
        while let Some(url) = next.take() {
            let (items, link) = self
                .retry
                .run("repo_tree", Idempotency::Idempotent, |_| async {
                    let request = self.authorize(self.http.get(&url), &url);
                    let response = self.send("repo_tree", &url, request).await?;
                    let link = response
                        .headers()
                        .get("link")
                        .and_then(|value| value.to_str().ok())
                        .and_then(next_link);
                    let bytes = response
                        .bytes()
                        .await
                        .map_err(|source| crate::client::transport("repo_tree", &url, source))?;
                    let items: Vec<Item> =
                        serde_json::from_slice(&bytes).map_err(|error| AttemptError::Protocol {
                            operation: "repo_tree",
                            url: preflight_retry::redact_url(&url),
                            message: format!("invalid JSON: {error}"),
                        })?;
                    Ok((items, link))
                })
                .await?;
            for item in items.into_iter().filter(|item| item.kind == "file") {
                entries.insert(
                    item.path,
                    TreeEntry {
                        oid: item.oid,
                        lfs_sha256: item.lfs.map(|lfs| lfs.oid),
                    },
                );
            }
            next = link.map(|href| self.fix_href(&href));
        }
        Ok(entries)
    }
}

/// One file of a tree listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeEntry {
    pub oid: Option<String>,
    pub lfs_sha256: Option<String>,
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| {
                p.trim().trim_matches('"') == "rel=\"next\""
                    || p.trim() == "rel=next"
                    || p.trim() == "rel=\"next\""
            })
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

/// One file of a `preupload` request.
#[derive(Debug, Clone)]
pub(crate) struct PreuploadFile {
    pub path: String,
    pub sample: Vec<u8>,
    pub size: u64,
}

/// The server's verdict on one file.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PreuploadAnswer {
    pub path: String,
    #[serde(rename = "uploadMode")]
    pub upload_mode: String,
    #[serde(rename = "shouldIgnore", default)]
    pub should_ignore: bool,
    #[serde(default)]
    pub oid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header() {
        assert_eq!(
            next_link("<http://h/api/x?cursor=abc>; rel=\"next\""),
            Some("http://h/api/x?cursor=abc".to_owned())
        );
        assert_eq!(next_link("<http://h/prev>; rel=\"prev\""), None);
    }
}
