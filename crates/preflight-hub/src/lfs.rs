//! Git LFS transfers: the batch call, basic PUT, multipart parts + completion, and verify.
//!
//! Bodies stream from disk in [`BUFFER_SIZE`](crate::hash::BUFFER_SIZE) pieces and are
//! re-opened for every attempt (a consumed stream cannot be replayed). A basic PUT checks the
//! open file's size and mtime against the hash pass when it opens the file and again before
//! its last chunk, counts the bytes it streams, and aborts the request before its last byte if
//! anything differs, so the server never stores the changed content (re-hashing every byte
//! while sending cost a third of the CPU of a large upload). Multipart parts are byte ranges
//! `[i × chunk, (i + 1) × chunk)`, each retried alone; the size + mtime check before the
//! commit covers them.

use std::collections::BTreeMap;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use preflight_retry::{Confirmation, Idempotency, RetryError, redact_url};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::Semaphore;

use crate::client::HubClient;
use crate::error::AttemptError;
use crate::hash::{BUFFER_SIZE, size_changed};
use crate::progress::{ProgressEvent, ProgressHandler};
use crate::repo::RepoType;

const LFS_JSON: &str = "application/vnd.git-lfs+json";

/// Objects per LFS batch call: the official client's chunk (`lfs.py`, 256 per call), which the
/// Hub accepts.
pub(crate) const LFS_BATCH_SIZE: usize = 256;

/// An LFS object to send.
#[derive(Debug, Clone)]
pub(crate) struct LfsObject {
    pub path_in_repo: String,
    pub local_path: PathBuf,
    /// The key of its resume-cache entry.
    pub relative_path: String,
    /// What the file looked like when it was hashed.
    pub stamp: crate::state::FileStamp,
    pub size: u64,
    pub sha256: String,
    /// The file's mtime (ns) when it was hashed.
    pub mtime: u64,
}

impl LfsObject {
    fn stamp(&self) -> Stamp {
        Stamp {
            size: self.size,
            mtime: self.mtime,
        }
    }
}

/// What a streamed file must still look like: its size and mtime when it was hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: u64,
}

#[derive(Debug, Clone, Deserialize)]
struct Action {
    href: String,
    #[serde(default)]
    header: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct Actions {
    upload: Option<Action>,
    verify: Option<Action>,
}

#[derive(Debug, Clone, Deserialize)]
struct ObjectError {
    code: i64,
    message: String,
}

#[derive(Debug, Clone, Deserialize)]
struct BatchObject {
    oid: String,
    #[serde(default)]
    actions: Option<Actions>,
    #[serde(default)]
    error: Option<ObjectError>,
}

#[derive(Debug, Clone, Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    transfer: Option<String>,
    objects: Vec<BatchObject>,
}

/// How an object must travel, per the batch answer.
#[derive(Debug, Clone)]
pub(crate) enum Transfer {
    /// The server already stores it; with `verify`, it wants the object confirmed.
    Stored { verify: Option<String> },
    /// One PUT.
    Basic {
        href: String,
        verify: Option<String>,
    },
    /// Numbered part PUTs, then a completion POST.
    Multipart {
        completion: String,
        chunk_size: u64,
        parts: Vec<String>,
        verify: Option<String>,
    },
    /// The server chose a transfer this client does not implement.
    Unsupported(String),
}

impl HubClient {
    /// `POST {prefix}{repo}.git/info/lfs/objects/batch` for up to [`LFS_BATCH_SIZE`] objects
    /// at once; the answer's transfers come back in the order of `objects`. The same oid twice
    /// is asked for once; its later copies are [`Transfer::Stored`] (the first copy sends it,
    /// and the commit comes after every transfer).
    pub(crate) async fn lfs_batch(
        &self,
        repo_type: RepoType,
        repo_id: &str,
        revision: Option<&str>,
        objects: &[&LfsObject],
    ) -> Result<Vec<Transfer>, RetryError<AttemptError>> {
        let url = self.url(&format!(
            "{}{repo_id}.git/info/lfs/objects/batch",
            repo_type.url_prefix()
        ));
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&LfsObject> = objects
            .iter()
            .copied()
            .filter(|object| seen.insert(object.sha256.as_str()))
            .collect();
        let mut body = json!({
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": unique
                .iter()
                .map(|object| json!({"oid": object.sha256, "size": object.size}))
                .collect::<Vec<_>>(),
            "hash_algo": "sha256",
        });
        if let Some(revision) = revision {
            body["ref"] = json!({ "name": revision });
        }
        let body = body.to_string();
        let mut transfers = self
            .retry
            .run("lfs_batch", Idempotency::Idempotent, |_| async {
                let request = self.authorize(
                    self.http
                        .post(&url)
                        .header(ACCEPT, LFS_JSON)
                        .header(CONTENT_TYPE, LFS_JSON)
                        .body(body.clone()),
                    &url,
                );
                let answer: BatchAnswer = self.send_json("lfs_batch", &url, request).await?;
                self.interpret_batch(&url, answer, &unique)
            })
            .await?;
        let mut first = std::collections::HashSet::new();
        Ok(objects
            .iter()
            .map(|object| {
                if first.insert(object.sha256.as_str()) {
                    transfers
                        .remove(&object.sha256)
                        .unwrap_or(Transfer::Stored { verify: None })
                } else {
                    Transfer::Stored { verify: None }
                }
            })
            .collect())
    }

    #[expect(
        clippy::result_large_err,
        reason = "AttemptError is the retry loop's error type; boxing its status would hide it from the classifier"
    )]
    fn interpret_batch(
        &self,
        url: &str,
        answer: BatchAnswer,
        objects: &[&LfsObject],
    ) -> Result<std::collections::HashMap<String, Transfer>, AttemptError> {
        if let Some(transfer) = answer.transfer.as_deref()
            && transfer != "basic"
            && transfer != "multipart"
        {
            return Ok(objects
                .iter()
                .map(|object| {
                    (
                        object.sha256.clone(),
                        Transfer::Unsupported(transfer.to_owned()),
                    )
                })
                .collect());
        }
        let mut answers: std::collections::HashMap<String, BatchObject> = answer
            .objects
            .into_iter()
            .map(|object| (object.oid.clone(), object))
            .collect();
        objects
            .iter()
            .map(|object| {
                let found =
                    answers
                        .remove(&object.sha256)
                        .ok_or_else(|| AttemptError::Protocol {
                            operation: "lfs_batch",
                            url: redact_url(url),
                            message: format!("object {} missing from the answer", object.sha256),
                        })?;
                Ok((
                    object.sha256.clone(),
                    self.interpret_object(url, found, object)?,
                ))
            })
            .collect()
    }

    #[expect(
        clippy::result_large_err,
        reason = "AttemptError is the retry loop's error type; boxing its status would hide it from the classifier"
    )]
    fn interpret_object(
        &self,
        url: &str,
        found: BatchObject,
        object: &LfsObject,
    ) -> Result<Transfer, AttemptError> {
        let protocol = |message: String| AttemptError::Protocol {
            operation: "lfs_batch",
            url: redact_url(url),
            message,
        };
        if let Some(error) = found.error {
            return Err(protocol(format!(
                "the server refused object {} ({}): {}",
                object.sha256, error.code, error.message
            )));
        }
        let Some(actions) = found.actions else {
            return Ok(Transfer::Stored { verify: None });
        };
        let verify = actions.verify.map(|action| self.fix_href(&action.href));
        let Some(upload) = actions.upload else {
            // Only a verify action: the object is stored, the server wants it confirmed.
            return Ok(Transfer::Stored { verify });
        };
        let header = upload.header.unwrap_or_default();
        let Some(chunk_size) = header.get("chunk_size") else {
            return Ok(Transfer::Basic {
                href: self.fix_href(&upload.href),
                verify,
            });
        };
        let chunk_size = match chunk_size {
            serde_json::Value::String(text) => text.parse::<u64>().ok(),
            serde_json::Value::Number(number) => number.as_u64(),
            _ => None,
        }
        .filter(|size| *size > 0)
        .ok_or_else(|| protocol("invalid chunk_size".to_owned()))?;
        let mut numbered: Vec<(u64, String)> = header
            .iter()
            .filter_map(|(key, value)| {
                let number = key.parse::<u64>().ok()?;
                Some((number, self.fix_href(value.as_str()?)))
            })
            .collect();
        numbered.sort_by_key(|(number, _)| *number);
        let expected = object.size.div_ceil(chunk_size);
        if numbered.len() as u64 != expected {
            return Err(protocol(format!(
                "{} part URLs for {expected} parts of {chunk_size} bytes",
                numbered.len()
            )));
        }
        Ok(Transfer::Multipart {
            completion: self.fix_href(&upload.href),
            chunk_size,
            parts: numbered.into_iter().map(|(_, href)| href).collect(),
            verify,
        })
    }

    /// One basic PUT of the whole object (no auth: the URL is pre-signed).
    pub(crate) async fn lfs_put(
        &self,
        href: &str,
        object: &LfsObject,
        permits: &Semaphore,
        progress: &dyn ProgressHandler,
    ) -> Result<(), RetryError<AttemptError>> {
        self.retry
            .run_transfer("lfs_put", |_| async {
                let _permit = permits.acquire().await.expect("never closed");
                let tracker = Arc::new(SendTracker::default());
                let body = file_range_stream(
                    object.local_path.clone(),
                    0,
                    object.size,
                    Some(object.stamp()),
                    Arc::clone(&tracker),
                );
                let request = self
                    .http
                    .put(href)
                    .header(CONTENT_LENGTH, object.size)
                    .body(reqwest::Body::wrap_stream(body));
                let sending = self.send("lfs_put", href, request);
                let result = with_progress(sending, &tracker, &object.path_in_repo, progress).await;
                tracker.finish(&object.path_in_repo, progress, result.is_ok());
                tracker.check_local(result.map(drop))
            })
            .await
    }

    /// Multipart: every part (concurrently, bounded by `permits`), then the completion.
    #[expect(
        clippy::too_many_arguments,
        reason = "internal; each argument is distinct"
    )]
    pub(crate) async fn lfs_multipart(
        &self,
        target: (RepoType, &str, Option<&str>),
        completion: &str,
        chunk_size: u64,
        parts: &[String],
        object: &LfsObject,
        permits: &Semaphore,
        concurrency: usize,
        progress: &dyn ProgressHandler,
    ) -> Result<(), RetryError<AttemptError>> {
        let uploads: Vec<_> = parts
            .iter()
            .enumerate()
            .map(|(index, href)| self.lfs_part(index, href, chunk_size, object, permits, progress))
            .collect();
        let etags: Vec<(usize, String)> = futures::stream::iter(uploads)
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        let mut etags = etags;
        etags.sort_by_key(|(index, _)| *index);
        let body = json!({
            "oid": object.sha256,
            "parts": etags
                .iter()
                .map(|(index, etag)| json!({"partNumber": index + 1, "etag": etag}))
                .collect::<Vec<_>>(),
        })
        .to_string();
        // The object is assembled from the parts now: the file must still be the one hashed.
        let metadata = tokio::fs::metadata(&object.local_path)
            .await
            .map_err(|error| local_failure(object, &error.to_string(), false))?;
        if metadata.len() != object.size || crate::state::mtime_ns(&metadata) != object.mtime {
            return Err(local_failure(
                object,
                "changed while it was being uploaded (size or modification time differs from the hash pass)",
                true,
            ));
        }
        // A completion whose answer was lost may have assembled the object, and then a repeat
        // fails (the parts are gone): ask the batch whether it is stored before sending again.
        self.retry
            .run_confirmed(
                "lfs_complete",
                |_| async {
                    let request = self
                        .http
                        .post(completion)
                        .header(ACCEPT, LFS_JSON)
                        .header(CONTENT_TYPE, LFS_JSON)
                        .body(body.clone());
                    self.send_bytes("lfs_complete", completion, request)
                        .await
                        .map(drop)
                },
                |_| async {
                    let transfers = self
                        .lfs_batch(target.0, target.1, target.2, &[object])
                        .await
                        .map_err(RetryError::into_last_error)?;
                    Ok(match transfers.first() {
                        Some(Transfer::Stored { .. }) => {
                            tracing::info!(target: "preflight::hub", event = "lfs_complete_found", path = %object.path_in_repo, "the multipart object was assembled although the completion answer was lost");
                            Confirmation::Landed(())
                        }
                        _ => Confirmation::NotLanded,
                    })
                },
            )
            .await
    }

    /// One multipart part: the byte range `[index × chunk, (index + 1) × chunk)`, retried alone.
    async fn lfs_part(
        &self,
        index: usize,
        href: &str,
        chunk_size: u64,
        object: &LfsObject,
        permits: &Semaphore,
        progress: &dyn ProgressHandler,
    ) -> Result<(usize, String), RetryError<AttemptError>> {
        let offset = index as u64 * chunk_size;
        let length = chunk_size.min(object.size - offset);
        let etag = self
            .retry
            .run_transfer("lfs_part", |_| async {
                let _permit = permits.acquire().await.expect("never closed");
                let tracker = Arc::new(SendTracker::default());
                // Every part checks the file against the hash pass before and after its range:
                // a changed file stops the upload before the object is assembled.
                let body = file_range_stream(
                    object.local_path.clone(),
                    offset,
                    length,
                    Some(object.stamp()),
                    Arc::clone(&tracker),
                );
                let request = self
                    .http
                    .put(href)
                    .header(CONTENT_LENGTH, length)
                    .body(reqwest::Body::wrap_stream(body));
                let sending = self.send("lfs_part", href, request);
                let result = with_progress(sending, &tracker, &object.path_in_repo, progress).await;
                tracker.finish(&object.path_in_repo, progress, result.is_ok());
                let response = tracker.check_local(result)?;
                let etag = response
                    .headers()
                    .get("etag")
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| AttemptError::Protocol {
                        operation: "lfs_part",
                        url: redact_url(href),
                        message: "the part response has no ETag".to_owned(),
                    })?;
                // Drain the (tiny) body so the connection is reused.
                let _ = response.bytes().await;
                Ok(etag)
            })
            .await?;
        Ok((index, etag))
    }

    /// `POST <verify href>` with `{oid, size}` (authenticated on the endpoint's origin).
    pub(crate) async fn lfs_verify(
        &self,
        href: &str,
        object: &LfsObject,
    ) -> Result<(), RetryError<AttemptError>> {
        let body = json!({"oid": object.sha256, "size": object.size}).to_string();
        self.retry
            .run("lfs_verify", Idempotency::Idempotent, |_| async {
                let request = self.authorize(
                    self.http
                        .post(href)
                        .header(ACCEPT, LFS_JSON)
                        .header(CONTENT_TYPE, LFS_JSON)
                        .body(body.clone()),
                    href,
                );
                self.send_bytes("lfs_verify", href, request).await.map(drop)
            })
            .await
    }
}

/// A local problem found outside a retried attempt, as the retry loop's error.
fn local_failure(object: &LfsObject, message: &str, changed: bool) -> RetryError<AttemptError> {
    RetryError::single(
        "lfs_multipart",
        AttemptError::Local {
            message: format!("`{}`: {message}", object.local_path.display()),
            changed,
        },
    )
}

/// What one attempt's body stream has done: bytes handed to the connection, and a local
/// problem (read error, changed file) that must stop the retries.
#[derive(Debug, Default)]
struct SendTracker {
    sent: AtomicU64,
    reported: AtomicU64,
    local_error: Mutex<Option<(String, bool)>>,
}

impl SendTracker {
    fn fail(&self, message: String, changed: bool) {
        *self.local_error.lock().expect("not poisoned") = Some((message, changed));
    }

    fn report(&self, path: &str, progress: &dyn ProgressHandler) {
        let sent = self.sent.load(Ordering::Relaxed);
        let before = self.reported.swap(sent, Ordering::Relaxed);
        if sent > before {
            progress.on_event(ProgressEvent::BytesSent {
                path: path.to_owned(),
                bytes: sent - before,
            });
        }
    }

    /// Reports the rest on success; on failure takes back what this attempt reported.
    fn finish(&self, path: &str, progress: &dyn ProgressHandler, ok: bool) {
        if ok {
            self.report(path, progress);
        } else {
            let reported = self.reported.swap(0, Ordering::Relaxed);
            if reported > 0 {
                progress.on_event(ProgressEvent::BytesRewound {
                    path: path.to_owned(),
                    bytes: reported,
                });
            }
        }
    }

    /// A local problem wins over the transport error it caused.
    #[expect(
        clippy::result_large_err,
        reason = "AttemptError is the retry loop's error type; boxing its status would hide it from the classifier"
    )]
    fn check_local<T>(&self, result: Result<T, AttemptError>) -> Result<T, AttemptError> {
        if let Some((message, changed)) = self.local_error.lock().expect("not poisoned").take() {
            return Err(AttemptError::Local { message, changed });
        }
        result
    }
}

/// Drives `future`, reporting the tracker's progress every 100 ms meanwhile.
async fn with_progress<T>(
    future: impl std::future::Future<Output = T>,
    tracker: &SendTracker,
    path: &str,
    progress: &dyn ProgressHandler,
) -> T {
    tokio::pin!(future);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        tokio::select! {
            output = &mut future => return output,
            _ = tick.tick() => tracker.report(path, progress),
        }
    }
}

/// Streams `length` bytes of `path` from `offset`; with `stamp`, the open file's size and mtime
/// must match it when the file is opened and before the last chunk, and the file must not
/// have grown, or the stream fails before its last chunk.
fn file_range_stream(
    path: PathBuf,
    offset: u64,
    length: u64,
    stamp: Option<Stamp>,
    tracker: Arc<SendTracker>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    struct State {
        path: PathBuf,
        file: Option<tokio::fs::File>,
        offset: u64,
        remaining: u64,
        length: u64,
        stamp: Option<Stamp>,
        tracker: Arc<SendTracker>,
        done: bool,
    }
    let state = State {
        path,
        file: None,
        offset,
        remaining: length,
        length,
        stamp,
        tracker,
        done: false,
    };
    futures::stream::try_unfold(state, |mut state| async move {
        if state.done || (state.remaining == 0 && state.length > 0) {
            return Ok(None);
        }
        let fail = |state: &State, message: String, changed: bool| {
            state.tracker.fail(message.clone(), changed);
            std::io::Error::other(message)
        };
        if state.file.is_none() {
            let mut file = tokio::fs::File::open(&state.path).await.map_err(|error| {
                fail(
                    &state,
                    format!("cannot read `{}`: {error}", state.path.display()),
                    false,
                )
            })?;
            file.seek(SeekFrom::Start(state.offset))
                .await
                .map_err(|error| {
                    fail(
                        &state,
                        format!("cannot read `{}`: {error}", state.path.display()),
                        false,
                    )
                })?;
            state.file = Some(file);
            check_stamp(&state.file, state.stamp, &state.path)
                .await
                .map_err(|(message, changed)| fail(&state, message, changed))?;
        }
        let want = usize::try_from(state.remaining.min(BUFFER_SIZE as u64)).unwrap_or(BUFFER_SIZE);
        let mut buffer = vec![0_u8; want];
        let mut filled = 0;
        while filled < want {
            let file = state.file.as_mut().expect("opened above");
            let read = file.read(&mut buffer[filled..]).await.map_err(|error| {
                fail(
                    &state,
                    format!("cannot read `{}`: {error}", state.path.display()),
                    false,
                )
            })?;
            if read == 0 {
                let found = state.length - state.remaining + filled as u64;
                let error = size_changed(state.length, found);
                return Err(fail(
                    &state,
                    format!("`{}`: {error}", state.path.display()),
                    true,
                ));
            }
            filled += read;
        }
        state.remaining -= filled as u64;
        if state.remaining == 0 {
            state.done = true;
            // The whole object was read: it must not have grown, nor changed size or mtime.
            let mut probe = [0_u8; 1];
            let file = state.file.as_mut().expect("opened above");
            let ends_file = state
                .stamp
                .is_some_and(|stamp| state.offset + state.length == stamp.size);
            if ends_file && matches!(file.read(&mut probe).await, Ok(n) if n > 0) {
                let error = size_changed(state.length, state.length + 1);
                return Err(fail(
                    &state,
                    format!("`{}`: {error}", state.path.display()),
                    true,
                ));
            }
            check_stamp(&state.file, state.stamp, &state.path)
                .await
                .map_err(|(message, changed)| fail(&state, message, changed))?;
        }
        state
            .tracker
            .sent
            .fetch_add(filled as u64, Ordering::Relaxed);
        Ok(Some((Bytes::from(buffer), state)))
    })
}

/// With a stamp, the open file (`fstat`) must still have the stamp's size and mtime.
async fn check_stamp(
    file: &Option<tokio::fs::File>,
    stamp: Option<Stamp>,
    path: &std::path::Path,
) -> Result<(), (String, bool)> {
    let (Some(file), Some(stamp)) = (file, stamp) else {
        return Ok(());
    };
    let metadata = file
        .metadata()
        .await
        .map_err(|error| (format!("cannot read `{}`: {error}", path.display()), false))?;
    if metadata.len() != stamp.size || crate::state::mtime_ns(&metadata) != stamp.mtime {
        return Err((
            format!(
                "`{}` changed while it was being uploaded (size or modification time differs from the hash pass)",
                path.display()
            ),
            true,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(
        path: PathBuf,
        offset: u64,
        length: u64,
        stamp: Option<Stamp>,
    ) -> (Result<Vec<u8>, std::io::Error>, Arc<SendTracker>) {
        let tracker = Arc::new(SendTracker::default());
        let stream = file_range_stream(path, offset, length, stamp, Arc::clone(&tracker));
        let result = stream
            .try_fold(Vec::new(), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await;
        (result, tracker)
    }

    #[test]
    #[expect(clippy::result_large_err, reason = "test helper closure")]
    fn batch_answers() {
        let client = HubClient::new(
            "http://127.0.0.1:9",
            None,
            preflight_retry::RetryManager::default(),
        )
        .unwrap();
        let object = LfsObject {
            path_in_repo: "x.bin".into(),
            local_path: PathBuf::from("x.bin"),
            size: 5,
            sha256: "ab".repeat(32),
            mtime: 0,
            relative_path: "x.bin".into(),
            stamp: crate::state::FileStamp::default(),
        };
        let parse = |text: &str| {
            client
                .interpret_batch(
                    "http://h/b",
                    serde_json::from_str(text).unwrap(),
                    &[&object],
                )
                .map(|mut answers| answers.remove(&object.sha256).unwrap())
        };
        let oid = "ab".repeat(32);
        assert!(
            matches!(parse(&format!(r#"{{"transfer":"xet","objects":[{{"oid":"{oid}","size":5}}]}}"#)), Ok(Transfer::Unsupported(name)) if name == "xet")
        );
        assert!(matches!(
            parse(&format!(r#"{{"objects":[{{"oid":"{oid}","size":5}}]}}"#)),
            Ok(Transfer::Stored { verify: None })
        ));
        assert!(matches!(
            parse(&format!(r#"{{"objects":[{{"oid":"{oid}","size":5,"actions":{{"verify":{{"href":"https://huggingface.co/v"}}}}}}]}}"#)),
            Ok(Transfer::Stored { verify: Some(href) }) if href == "http://127.0.0.1:9/v"
        ));
        // An object missing from a many-object answer is a protocol error.
        let other = LfsObject {
            sha256: "cd".repeat(32),
            ..object.clone()
        };
        assert!(
            client
                .interpret_batch(
                    "http://h/b",
                    serde_json::from_str(&format!(r#"{{"objects":[{{"oid":"{oid}","size":5}}]}}"#))
                        .unwrap(),
                    &[&object, &other],
                )
                .is_err()
        );
        assert!(matches!(
            parse(&format!(r#"{{"transfer":"basic","objects":[{{"oid":"{oid}","size":5,"actions":{{"upload":{{"href":"https://huggingface.co/u"}}}}}}]}}"#)),
            Ok(Transfer::Basic { href, verify: None }) if href == "http://127.0.0.1:9/u"
        ));
        assert!(matches!(
            parse(&format!(r#"{{"objects":[{{"oid":"{oid}","size":5,"actions":{{"upload":{{"href":"c","header":{{"chunk_size":"2","1":"p1","2":"p2","3":"p3"}}}}}}}}]}}"#)),
            Ok(Transfer::Multipart { chunk_size: 2, ref parts, .. }) if parts == &["p1", "p2", "p3"]
        ));
        // Wrong part count, per-object error: protocol errors.
        assert!(parse(&format!(r#"{{"objects":[{{"oid":"{oid}","size":5,"actions":{{"upload":{{"href":"c","header":{{"chunk_size":"2","1":"p1"}}}}}}}}]}}"#)).is_err());
        assert!(parse(&format!(r#"{{"objects":[{{"oid":"{oid}","size":5,"error":{{"code":422,"message":"bad"}}}}]}}"#)).is_err());
    }

    #[tokio::test]
    async fn ranges_and_change_detection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let content: Vec<u8> = (0..(BUFFER_SIZE * 2 + 100))
            .map(|i| (i % 253) as u8)
            .collect();
        std::fs::write(&path, &content).unwrap();
        let stamp_of = |path: &std::path::Path| {
            let metadata = std::fs::metadata(path).unwrap();
            Stamp {
                size: metadata.len(),
                mtime: crate::state::mtime_ns(&metadata),
            }
        };
        let stamp = stamp_of(&path);
        // A same-size rewrite; the mtime is moved on if the clock's granularity hid the write.
        let rewrite = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            if stamp_of(&path).mtime == stamp.mtime {
                let later = std::fs::metadata(&path).unwrap().modified().unwrap()
                    + std::time::Duration::from_secs(1);
                std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_modified(later)
                    .unwrap();
            }
        };

        let (all, tracker) = collect(path.clone(), 0, content.len() as u64, Some(stamp)).await;
        assert_eq!(all.unwrap(), content);
        assert_eq!(tracker.sent.load(Ordering::Relaxed), content.len() as u64);
        let (part, tracker) = collect(path.clone(), 1000, 5000, None).await;
        assert_eq!(part.unwrap(), &content[1000..6000]);
        assert_eq!(tracker.sent.load(Ordering::Relaxed), 5000);

        // Changed while being sent (same size, other content): the last chunk is never
        // produced.
        let mut changed = content.clone();
        changed[10] ^= 1;
        let tracker = Arc::new(SendTracker::default());
        let mut stream = Box::pin(file_range_stream(
            path.clone(),
            0,
            content.len() as u64,
            Some(stamp),
            Arc::clone(&tracker),
        ));
        assert!(stream.next().await.unwrap().is_ok());
        rewrite(&changed);
        let mut failed = false;
        while let Some(chunk) = stream.next().await {
            if chunk.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "the change is detected before the last chunk");
        assert!(matches!(
            tracker.check_local(Ok::<(), AttemptError>(())),
            Err(AttemptError::Local { changed: true, .. })
        ));

        // Changed before the send started: nothing is sent.
        let (result, tracker) = collect(path.clone(), 0, content.len() as u64, Some(stamp)).await;
        assert!(result.is_err());
        assert_eq!(tracker.sent.load(Ordering::Relaxed), 0);
        assert!(matches!(
            tracker.check_local(Ok::<(), AttemptError>(())),
            Err(AttemptError::Local { changed: true, .. })
        ));
        // Shorter file.
        std::fs::write(&path, &content[..100]).unwrap();
        let (result, tracker) = collect(path.clone(), 0, content.len() as u64, Some(stamp)).await;
        assert!(result.is_err());
        assert!(tracker.local_error.lock().unwrap().as_ref().unwrap().1);
    }
}
