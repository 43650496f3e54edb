//! The NDJSON commit, and how it is retried without ever applying twice.
//!
//! A commit is not idempotent: sent twice, it could create two commits. It runs through
//! [`RetryManager::run_confirmed`](preflight_retry::RetryManager::run_confirmed): it is re-sent
//! on its own only when the request provably never reached the server (connection refused,
//! DNS). After any unclear failure (timeout, reset after sending, 5xx, 429, a cut response)
//! the branch head is re-read before anything is sent again:
//!
//! - the head's tree holds every file of our commit with our oids: it landed (the answer was
//!   lost), and the head is reported as the commit (event `retry_confirmed`);
//! - otherwise it did not land, and it is sent again, in the same deadline and attempt budget.
//!
//! Like the official client, the commit carries **no `parentCommit`** unless the caller asks
//! for one (`--parent-commit SHA`): the Hub applies it on top of the branch head at commit
//! time, so many uploaders can commit into one branch, and someone else's commit during an
//! upload is not an error. For the same paths the last commit wins. A conflict answer (409 or
//! 412, the Hub's answer when its ref moved under a concurrent commit) is then retried on the
//! new head, bounded by the same attempt budget.
//!
//! With a caller's `parentCommit`, the Hub's compare-and-swap decides: a 409/412 is
//! [`UploadErrorKind::CommitConflict`], and after an unclear failure a head still at the parent
//! means "not landed", a moved head without our files a conflict.
//!
//! With `create_pr` the commit creates a new pull-request ref that cannot be looked up this
//! way, so an unclear failure is reported rather than retried.

use std::collections::HashMap;

use base64::Engine as _;
use preflight_retry::{Confirmation, Idempotency, RetryError};
use serde::Deserialize;
use serde_json::json;

use crate::client::{HubClient, quote_segment};
use crate::error::{AttemptError, UploadError, UploadErrorKind};
use crate::repo::RepoType;

/// One line of the commit body after the header.
#[derive(Debug, Clone)]
pub(crate) enum CommitOperation {
    /// A regular file, inline.
    File {
        path: String,
        content: Vec<u8>,
        git_sha1: String,
    },
    /// An LFS pointer.
    Lfs {
        path: String,
        sha256: String,
        size: u64,
    },
}

impl CommitOperation {
    /// The file's path in the repository.
    pub(crate) fn path(&self) -> &str {
        match self {
            CommitOperation::File { path, .. } | CommitOperation::Lfs { path, .. } => path,
        }
    }
}

/// What the commit produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitResult {
    pub oid: String,
    pub url: String,
    pub pull_request_url: Option<String>,
}

/// The commit's parameters.
pub(crate) struct CommitRequest<'a> {
    pub repo_type: RepoType,
    pub repo_id: &'a str,
    pub revision: &'a str,
    pub create_pr: bool,
    pub summary: &'a str,
    pub parent: Option<&'a str>,
    pub operations: &'a [CommitOperation],
}

/// The NDJSON body: a header line, then one `file` or `lfsFile` line per operation.
pub(crate) fn ndjson_body(
    summary: &str,
    parent: Option<&str>,
    operations: &[CommitOperation],
) -> Vec<u8> {
    let mut header = json!({"summary": summary, "description": ""});
    if let Some(parent) = parent {
        header["parentCommit"] = json!(parent);
    }
    let mut lines = vec![json!({"key": "header", "value": header})];
    for operation in operations {
        lines.push(match operation {
            CommitOperation::File { path, content, .. } => json!({
                "key": "file",
                "value": {
                    "content": base64::engine::general_purpose::STANDARD.encode(content),
                    "path": path,
                    "encoding": "base64",
                },
            }),
            CommitOperation::Lfs { path, sha256, size } => json!({
                "key": "lfsFile",
                "value": {"path": path, "algo": "sha256", "oid": sha256, "size": size},
            }),
        });
    }
    let mut body = Vec::new();
    for line in lines {
        body.extend_from_slice(line.to_string().as_bytes());
        body.push(b'\n');
    }
    body
}

#[derive(Debug, Deserialize)]
struct CommitAnswer {
    #[serde(rename = "commitOid")]
    commit_oid: String,
    #[serde(rename = "commitUrl")]
    commit_url: Option<String>,
    #[serde(rename = "pullRequestUrl", default)]
    pull_request_url: Option<String>,
}

impl HubClient {
    /// Sends the commit; see the module docs for the retry rule.
    pub(crate) async fn commit(
        &self,
        request: &CommitRequest<'_>,
    ) -> Result<CommitResult, UploadError> {
        let mut url = self.api_repo_url(
            request.repo_type,
            request.repo_id,
            &format!("/commit/{}", quote_segment(request.revision)),
        );
        if request.create_pr {
            url.push_str("?create_pr=1");
        }
        let body = bytes::Bytes::from(ndjson_body(
            request.summary,
            request.parent,
            request.operations,
        ));
        let send = |_| async {
            let http = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
                .body(body.clone());
            let http = self.authorize(http, &url);
            let answer = self.send_json::<CommitAnswer>("commit", &url, http).await?;
            let url = answer.commit_url.unwrap_or_else(|| {
                self.commit_url(request.repo_type, request.repo_id, &answer.commit_oid)
            });
            Ok(CommitResult {
                oid: answer.commit_oid,
                url,
                pull_request_url: answer.pull_request_url,
            })
        };
        let result = if request.create_pr {
            self.retry
                .run("commit", Idempotency::NotIdempotent, send)
                .await
        } else if request.parent.is_none() {
            // No compare-and-swap asked for: a conflict is the Hub's ref moving under a
            // concurrent commit, worth another try on the new head.
            let retry = self.retry.clone().with_predicate(|link| {
                link.downcast_ref::<preflight_retry::HttpStatusError>()
                    .filter(|status| matches!(status.status, 409 | 412))
                    .map(|_| preflight_retry::Transience::Transient { retry_after: None })
            });
            retry
                .run_confirmed("commit", send, |_| self.confirm_commit(request))
                .await
        } else {
            self.retry
                .run_confirmed("commit", send, |_| self.confirm_commit(request))
                .await
        };
        result.map_err(|error| {
            let conflict = matches!(error.last_error(), AttemptError::Conflict { .. })
                || matches!(
                    error.last_error().status().map(|status| status.status),
                    Some(409 | 412)
                );
            if conflict {
                let message = if request.parent.is_some() {
                    format!(
                        "the branch `{}` moved away from the requested parent commit",
                        request.revision
                    )
                } else {
                    format!(
                        "the Hub kept refusing the commit to `{}` with a conflict",
                        request.revision
                    )
                };
                UploadError::new(UploadErrorKind::CommitConflict, message).with_source(error)
            } else {
                UploadError::from_retry("commit", error)
            }
        })
    }

    /// After an unclear failure: did the commit land? See the module docs.
    async fn confirm_commit(
        &self,
        request: &CommitRequest<'_>,
    ) -> Result<Confirmation<CommitResult>, AttemptError> {
        let head = self
            .revision_sha(request.repo_type, request.repo_id, request.revision)
            .await
            .map_err(RetryError::into_last_error)?;
        let Some(head) = head else {
            return Ok(Confirmation::NotLanded);
        };
        if request
            .parent
            .is_some_and(|parent| head.starts_with(parent))
        {
            return Ok(Confirmation::NotLanded);
        }
        let tree = self
            .tree(request.repo_type, request.repo_id, &head)
            .await
            .map_err(RetryError::into_last_error)?;
        if contains(&tree, request.operations) {
            tracing::info!(target: "preflight::hub", event = "commit_found", commit = %head, "the commit landed although its answer was lost");
            return Ok(Confirmation::Landed(CommitResult {
                url: self.commit_url(request.repo_type, request.repo_id, &head),
                oid: head,
                pull_request_url: None,
            }));
        }
        if request.parent.is_some() {
            return Err(AttemptError::Conflict {
                message: format!(
                    "the branch `{}` moved to {head} and does not contain this upload's files",
                    request.revision
                ),
            });
        }
        Ok(Confirmation::NotLanded)
    }
}

fn contains(tree: &HashMap<String, crate::api::TreeEntry>, operations: &[CommitOperation]) -> bool {
    operations.iter().all(|operation| {
        let Some(entry) = tree.get(operation.path()) else {
            return false;
        };
        match operation {
            CommitOperation::File { git_sha1, .. } => {
                entry.oid.as_deref() == Some(git_sha1.as_str())
            }
            CommitOperation::Lfs { sha256, .. } => {
                entry.lfs_sha256.as_deref() == Some(sha256.as_str())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TreeEntry;

    #[test]
    fn ndjson_lines() {
        let operations = vec![
            CommitOperation::File {
                path: "a.txt".into(),
                content: b"hi".to_vec(),
                git_sha1: crate::hash::git_sha1(b"hi"),
            },
            CommitOperation::Lfs {
                path: "big.bin".into(),
                sha256: "ab".repeat(32),
                size: 5,
            },
        ];
        let body = String::from_utf8(ndjson_body("msg", Some("p1"), &operations)).unwrap();
        let lines: Vec<serde_json::Value> = body
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert!(body.ends_with('\n'));
        assert_eq!(
            lines[0],
            json!({"key":"header","value":{"summary":"msg","description":"","parentCommit":"p1"}})
        );
        assert_eq!(lines[1]["key"], "file");
        assert_eq!(lines[1]["value"]["content"], "aGk=");
        assert_eq!(lines[1]["value"]["encoding"], "base64");
        assert_eq!(
            lines[2],
            json!({"key":"lfsFile","value":{"path":"big.bin","algo":"sha256","oid":"ab".repeat(32),"size":5}})
        );
        let no_parent = String::from_utf8(ndjson_body("m", None, &[])).unwrap();
        assert!(!no_parent.contains("parentCommit"));

        let mut tree = HashMap::new();
        tree.insert(
            "a.txt".to_owned(),
            TreeEntry {
                oid: Some(crate::hash::git_sha1(b"hi")),
                lfs_sha256: None,
            },
        );
        assert!(!contains(&tree, &operations));
        tree.insert(
            "big.bin".to_owned(),
            TreeEntry {
                oid: Some("x".into()),
                lfs_sha256: Some("ab".repeat(32)),
            },
        );
        assert!(contains(&tree, &operations));
    }
}
