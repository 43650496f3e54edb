//! Request entry point: request ids, fault injection, the request log, the admin
//! API, and routing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultPlan, FaultRule};
use crate::net::ConnCtl;
use crate::store::{RepoType, Store};
use crate::tokens::TokenSpec;

/// The exact text the Hub uses for a bad, revoked or missing token.
pub const INVALID_CREDENTIALS: &str = "Invalid credentials in Authorization header";

/// One entry of the request log. Never contains a token value or a query string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Request path, as sent (percent-encoded), without the query string.
    pub path: String,
    /// Response status; `0` when no HTTP response was sent (reset, hang).
    pub status: u16,
    /// Whether an `Authorization` header was present (its value is never recorded).
    pub auth_present: bool,
    /// For LFS transfer URLs: the object's sha256.
    pub lfs_oid: Option<String>,
    /// For multipart part PUTs: the part number (1-based).
    pub part: Option<u32>,
    /// The injected fault, if any (e.g. `status=503`, `reset`).
    pub fault: Option<String>,
}

pub(crate) struct Limits {
    pub lfs_multipart_threshold: u64,
    pub multipart_chunk_size: u64,
    pub regular_max_size: u64,
}

pub(crate) struct UploadTicket {
    pub oid: String,
    pub size: u64,
    pub repo: (RepoType, String),
    /// `Some(chunk)` for multipart uploads.
    pub chunk_size: Option<u64>,
    /// Part number -> ETag (quoted) of the received part.
    pub parts: HashMap<u32, String>,
}

pub(crate) struct AppState {
    pub limits: Limits,
    pub tokens: RwLock<HashMap<String, TokenSpec>>,
    pub faults: FaultPlan,
    pub log: Mutex<Vec<RequestRecord>>,
    pub store: Mutex<Store>,
    pub uploads: Mutex<HashMap<String, UploadTicket>>,
    pub data_dir: PathBuf,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub local_addr: SocketAddr,
    pub counter: AtomicU64,
    pub oauth: Mutex<crate::oauth::OAuthState>,
}

/// A lock's guard even when a panicking holder poisoned it: the state stays usable.
pub(crate) fn unpoisoned<G>(r: std::sync::LockResult<G>) -> G {
    r.unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        unpoisoned(self.store.lock())
    }
    pub fn uploads(&self) -> std::sync::MutexGuard<'_, HashMap<String, UploadTicket>> {
        unpoisoned(self.uploads.lock())
    }
    pub fn log(&self) -> std::sync::MutexGuard<'_, Vec<RequestRecord>> {
        unpoisoned(self.log.lock())
    }
    pub fn oauth(&self) -> std::sync::MutexGuard<'_, crate::oauth::OAuthState> {
        unpoisoned(self.oauth.lock())
    }
    pub fn add_token(&self, spec: TokenSpec) {
        unpoisoned(self.tokens.write()).insert(spec.token.clone(), spec);
    }
    pub fn revoke_token(&self, token: &str) {
        if let Some(t) = unpoisoned(self.tokens.write()).get_mut(token) {
            t.revoked = true;
        }
    }
}

pub(crate) type St = Arc<AppState>;

/// Who is calling.
pub(crate) enum Caller {
    Anonymous,
    Token(TokenSpec),
}

impl Caller {
    pub fn token(&self) -> Option<&TokenSpec> {
        match self {
            Caller::Anonymous => None,
            Caller::Token(t) => Some(t),
        }
    }
}

/// Resolve the caller, or the Hub's 401 for an unknown/revoked/malformed token.
pub(crate) fn caller(st: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Ok(Caller::Anonymous);
    }
    let tok = bearer(headers).unwrap_or_default();
    {
        let tokens = unpoisoned(st.tokens.read());
        match tokens.get(&tok) {
            Some(t) if !tok.is_empty() && !t.revoked => return Ok(Caller::Token(t.clone())),
            Some(_) => return Err(invalid_credentials()),
            None => {}
        }
    }
    // OAuth and exchanged tokens: an expired one is answered like a revoked one.
    match st.oauth().lookup(&tok) {
        Ok(Some(t)) if !tok.is_empty() => Ok(Caller::Token(t)),
        _ => Err(invalid_credentials()),
    }
}

/// The bearer token of a request (`Bearer` or `bearer`), trimmed.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(|t| t.trim().to_string())
}

pub(crate) fn invalid_credentials() -> Response {
    error(StatusCode::UNAUTHORIZED, None, INVALID_CREDENTIALS)
}

/// A Hub-style error: JSON `{"error": msg}`, `X-Error-Message`, optional `X-Error-Code`.
pub(crate) fn error(status: StatusCode, code: Option<&str>, msg: &str) -> Response {
    let mut r = (status, axum::Json(serde_json::json!({ "error": msg }))).into_response();
    let ascii: String = msg
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&ascii) {
        r.headers_mut().insert("x-error-message", v);
    }
    if let Some(c) = code
        && let Ok(v) = HeaderValue::from_str(c)
    {
        r.headers_mut().insert("x-error-code", v);
    }
    r
}

/// A 400 for a request the emulator cannot use, saying why.
pub(crate) fn bad_request(msg: &str) -> Response {
    error(StatusCode::BAD_REQUEST, None, msg)
}

/// A 500 for a failure of the emulator itself (disk, signing), with the failure's text.
pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, None, &e.to_string())
}

/// What a handler answers: `Err` is an early exit (an error response). Both are sent as
/// they are (`Result<Response, Response>` is itself a response).
pub(crate) type Reply = Result<Response, Response>;

pub(crate) fn json<T: Serialize>(status: StatusCode, v: &T) -> Response {
    (status, axum::Json(v)).into_response()
}

/// `http://host:port` as the client reached us (Host header), else the bound address.
pub(crate) fn base_url(st: &AppState, headers: &HeaderMap) -> String {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(h) if !h.is_empty() && !h.contains(['/', ' ']) => format!("http://{h}"),
        _ => format!("http://{}", st.local_addr),
    }
}

/// Read a whole (small) body.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, Response> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            &format!("could not read request body: {e}"),
        )
    })
}

pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, Response> {
    let b = read_body(body, 64 << 20).await?;
    serde_json::from_slice(&b).map_err(|e| bad_request(&format!("invalid JSON body: {e}")))
}

/// Percent-decode one path segment (`+` is kept literally).
pub(crate) fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Query parameters (decoded; `+` means space).
pub(crate) fn query_params(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| pct_decode(&s.replace('+', " ")).unwrap_or_default();
            (d(k), d(v))
        })
        .collect()
}

pub(crate) fn query_flag(q: &[(String, String)], key: &str) -> bool {
    q.iter()
        .any(|(k, v)| k == key && matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

fn upload_ids(path: &str) -> (Option<String>, Option<u32>) {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["_lfs", "part", _, oid, n] => (Some(oid.to_string()), n.parse().ok()),
        ["_lfs", _, _, oid] => (Some(oid.to_string()), None),
        _ => (None, None),
    }
}

/// The single handler behind every route.
pub(crate) async fn entry(
    State(st): State<St>,
    ConnectInfo(conn): ConnectInfo<ConnCtl>,
    req: Request,
) -> Response {
    let n = st.counter.fetch_add(1, Ordering::Relaxed);
    let rid = format!("emu-{:08x}-{n}", fastrand::u32(..));
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (parts, body) = req.into_parts();
    let body = Arc::new(Mutex::new(Some(body)));
    let req = Request::from_parts(
        parts,
        Body::from_stream(SharedBody {
            inner: body.clone(),
        }),
    );
    let mut resp = if path == "/_emulator" || path.starts_with("/_emulator/") {
        admin(&st, req).await.into_response()
    } else {
        faulted(&st, conn.clone(), req, &method, &path).await
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let rest = unpoisoned(body.lock()).take();
    if let Some(rest) = rest
        && !rest.is_end_stream()
        && !conn.is_killed()
    {
        tokio::spawn(drain_unread(rest, method, path));
    }
    resp
}

/// The request body as handlers see it. The real body stays in a slot that
/// [`entry`] takes back once the handler has answered, so a body the handler
/// did not (fully) read can be drained.
struct SharedBody {
    inner: Arc<Mutex<Option<Body>>>,
}

impl futures::Stream for SharedBody {
    type Item = Result<bytes::Bytes, axum::Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let mut slot = unpoisoned(self.inner.lock());
        let Some(body) = slot.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            return match std::pin::Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Poll::Ready(Some(Ok(data))),
                    // Trailers: nothing a handler uses.
                    Err(_) => continue,
                },
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// How much of an unread request body is drained after the response.
const DRAIN_MAX_BYTES: u64 = 1 << 30;
/// How long the rest of an unread request body may take to arrive.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Read and discard what is left of a request body the handler answered without
/// reading (validate-yaml, errors, injected status faults, ...).
///
/// hyper closes a keep-alive connection whose request body was dropped unread
/// unless the rest of the body happens to be in its buffer already, and it does
/// so *without* `Connection: close` on the response. A client that sent the
/// headers and the body in two writes (httpx/httpcore does) then reuses the
/// connection for its next request and gets "Server disconnected without sending
/// a response" whenever the body had not arrived by the time the handler
/// answered. Real servers read the body (or drain it, like nginx's lingering
/// close), so the emulator keeps the body alive and drains it in the background
/// while hyper writes the response; the connection then stays usable.
async fn drain_unread(mut body: Body, method: Method, path: String) {
    let mut seen = 0u64;
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(frame) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            match frame {
                Ok(f) => {
                    seen += f.data_ref().map_or(0, |d| d.len() as u64);
                    if seen > DRAIN_MAX_BYTES {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    tracing::debug!(%method, %path, bytes = seen, complete = drained, "drained unread request body");
}

async fn faulted(st: &St, conn: ConnCtl, req: Request, method: &Method, path: &str) -> Response {
    let fault = st.faults.take(method.as_str(), path);
    let (lfs_oid, part) = upload_ids(path);
    let mut rec = RequestRecord {
        method: method.to_string(),
        path: path.to_string(),
        status: 0,
        auth_present: req.headers().contains_key(header::AUTHORIZATION),
        lfs_oid,
        part,
        fault: fault.as_ref().map(Fault::name),
    };
    let finish = |rec: &mut RequestRecord, status: u16| {
        rec.status = status;
        tracing::info!(
            method = %rec.method, path = %rec.path, status,
            fault = rec.fault.as_deref().unwrap_or("-"), "request"
        );
        st.log().push(rec.clone());
    };
    let mut cut = None;
    match fault {
        None => {}
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::SlowStatus { delay, code }) => {
            tokio::time::sleep(delay).await;
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            finish(&mut rec, code);
            return error(
                status,
                None,
                &format!("hub-emulator injected fault: status {code} after a slow transfer"),
            );
        }
        Some(Fault::Status {
            code,
            retry_after,
            body,
        }) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = match body {
                Some(b) => (status, b).into_response(),
                None => error(
                    status,
                    None,
                    &format!("hub-emulator injected fault: status {code}"),
                ),
            };
            if let Some(ra) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                r.headers_mut().insert(header::RETRY_AFTER, ra);
            }
            finish(&mut rec, code);
            return r;
        }
        Some(Fault::RateLimit { retry_after_secs }) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "You have exceeded our hourly quotas for action: api. (hub-emulator injected fault)",
            );
            let h = r.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            if let Ok(v) = HeaderValue::from_str(&format!("\"api\";r=0;t={retry_after_secs}")) {
                h.insert("ratelimit", v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!(
                "\"fixed window\";\"api\";q=1000;w={retry_after_secs}"
            )) {
                h.insert("ratelimit-policy", v);
            }
            finish(&mut rec, 429);
            return r;
        }
        Some(Fault::ResetConnection) => {
            conn.kill();
            finish(&mut rec, 0);
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Some(Fault::Hang) => {
            finish(&mut rec, 0);
            let mut rx = st.shutdown.clone();
            let _ = rx.wait_for(|v| *v).await;
            conn.kill();
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Some(Fault::TruncateBody { after_bytes }) => cut = Some((after_bytes, false)),
        Some(Fault::ResetDuringBody { after_bytes }) => cut = Some((after_bytes, true)),
    }
    let resp = crate::routes::dispatch(st, req).await;
    finish(&mut rec, resp.status().as_u16());
    match cut {
        Some((n, rst)) => truncate(resp, n, rst, conn).await,
        None => resp,
    }
}

async fn truncate(resp: Response, after: usize, rst: bool, conn: ConnCtl) -> Response {
    let (mut parts, body) = resp.into_parts();
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let head = full.slice(..after.min(full.len()));
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    let stream = futures::stream::unfold(0u8, move |state| {
        let head = head.clone();
        let conn = conn.clone();
        async move {
            match state {
                0 => Some((Ok::<_, std::io::Error>(head), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if rst {
                        conn.kill();
                    }
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::BrokenPipe,
                            "hub-emulator injected truncation",
                        )),
                        2,
                    ))
                }
                _ => None,
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FaultInput {
    Spec { spec: String },
    Rule(FaultRule),
}

async fn admin(st: &St, req: Request) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if [
        "/_emulator/oauth",
        "/_emulator/trusted-publishers",
        "/_emulator/oidc",
    ]
    .iter()
    .any(|p| path == *p || path.starts_with(&format!("{p}/")))
    {
        let (parts, body) = req.into_parts();
        return crate::oauth::admin(st, &method, &path, &parts.headers, body).await;
    }
    Ok(match (method, path.as_str()) {
        (Method::GET, "/_emulator/health") => json(
            StatusCode::OK,
            &serde_json::json!({"status": "ok", "url": format!("http://{}", st.local_addr)}),
        ),
        (Method::GET, "/_emulator/requests") => json(StatusCode::OK, &*st.log()),
        (Method::DELETE, "/_emulator/requests") => {
            st.log().clear();
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::GET, "/_emulator/faults") => json(StatusCode::OK, &st.faults.rules()),
        (Method::POST, "/_emulator/faults") => {
            let input: FaultInput = read_json(req.into_body()).await?;
            let rule = match input {
                FaultInput::Rule(r) => r,
                FaultInput::Spec { spec } => match FaultRule::parse_spec(&spec) {
                    Ok(r) => r,
                    Err(e) => return Err(bad_request(&e)),
                },
            };
            st.faults.add(rule.clone());
            json(StatusCode::CREATED, &rule)
        }
        (Method::DELETE, "/_emulator/faults") => {
            st.faults.clear();
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::POST, "/_emulator/tokens") => {
            let spec: TokenSpec = read_json(req.into_body()).await?;
            if spec.token.is_empty() || !crate::tokens::valid_name(&spec.user) {
                return Err(bad_request("token and a valid user are required"));
            }
            let user = spec.user.clone();
            st.add_token(spec);
            json(StatusCode::CREATED, &serde_json::json!({"user": user}))
        }
        (Method::POST, "/_emulator/tokens/revoke") => {
            #[derive(Deserialize)]
            struct Revoke {
                token: String,
            }
            let r: Revoke = read_json(req.into_body()).await?;
            st.revoke_token(&r.token);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => return Err(unknown_admin_route()),
    })
}

pub(crate) fn unknown_admin_route() -> Response {
    error(StatusCode::NOT_FOUND, None, "unknown admin route")
}
