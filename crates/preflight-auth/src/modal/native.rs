//! The native Modal check: the one gRPC call `modal token info` makes
//! (`/modal.client.ModalClient/TokenInfoGet`, empty request), spoken from Rust with tonic and
//! prost over hyper's HTTP/2 client. No Python, no `modal` package, milliseconds.
//!
//! The wire layout is in `proto/token_info.proto` (the documented source of truth) and the
//! hand-written structs below; `tests/modal_native.rs` checks both against the wheel's
//! compiled descriptors. Connection, metadata and retries follow the Python client 1.6.4
//! (`modal/client.py`, `modal/_utils/grpc_utils.py`):
//!
//! * `MODAL_SERVER_URL` may be a comma-separated list: URL *i* starts after *i* × 3 s, or as
//!   soon as URL *i − 1* failed to connect; the first to connect answers, the others are
//!   dropped (`create_channel_with_fallbacks`). Connecting is retried, 0.1 s doubling to 5 s,
//!   until the deadline (the client's own budget is 63 s; ours is `--modal-timeout`).
//! * `https://` is TLS 1.2+ with ALPN `h2` through rustls, with the platform's roots plus
//!   any certificates in `SSL_CERT_FILE`; `http://` is plaintext HTTP/2 with prior knowledge.
//! * The call is retried on `DEADLINE_EXCEEDED`, `UNAVAILABLE`, `CANCELLED`, `INTERNAL`,
//!   `UNKNOWN` and on a lost connection: 3 retries, 0.1 s doubling to 1 s
//!   (`_retry_transient_errors` with the default `Retry()`), all inside the deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};

use crate::Secret;

/// `/modal.client.ModalClient/TokenInfoGet`.
pub(crate) const METHOD_PATH: &str = "/modal.client.ModalClient/TokenInfoGet";

/// `x-modal-client-type`: 1 = `CLIENT_TYPE_CLIENT`, the type the Python client sends. Only
/// for this type does the control plane read `x-modal-token-id`/`-secret` the way the CLI's
/// calls are read, so the verdict is the one `modal token info` would get.
pub const CLIENT_TYPE: &str = "1";

/// `x-modal-client-version`: the Python client whose rules Preflight's discovery mirrors
/// (modal 1.6.4, pinned in tests/requirements.txt). Sending that version makes the server
/// judge this request exactly as it judges that CLI's; when Modal retires 1.6.4 it answers
/// `FAILED_PRECONDITION` and `--modal-via auto` hands over to the installed, newer CLI.
/// `tests/modal_native.rs` fails when the pinned wheel and this constant disagree.
pub const CLIENT_VERSION: &str = "1.6.4";

/// The stagger between racing URLs (`stagger_delay` in `create_channel_with_fallbacks`).
pub(crate) const STAGGER: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------
// Messages (proto/token_info.proto).
// ---------------------------------------------------------------------------------------

/// `modal.client.TokenInfoGetRequest`: no fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TokenInfoGetRequest {}

/// `modal.client.TokenInfoGetResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TokenInfoGetResponse {
    #[prost(string, tag = "1")]
    pub token_id: String,
    #[prost(string, tag = "2")]
    pub workspace_id: String,
    #[prost(string, tag = "3")]
    pub workspace_name: String,
    #[prost(oneof = "TokenIdentity", tags = "4, 5")]
    pub identity: Option<TokenIdentity>,
    #[prost(message, optional, tag = "6")]
    pub created_at: Option<Timestamp>,
    #[prost(message, optional, tag = "7")]
    pub expires_at: Option<Timestamp>,
    #[prost(string, tag = "8")]
    pub token_name: String,
}

/// The `identity` oneof of `TokenInfoGetResponse`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum TokenIdentity {
    #[prost(message, tag = "4")]
    User(UserIdentity),
    #[prost(message, tag = "5")]
    ServiceUser(ServiceUserIdentity),
}

/// `modal.client.UserIdentity`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserIdentity {
    #[prost(string, tag = "1")]
    pub user_id: String,
    #[prost(string, tag = "2")]
    pub username: String,
}

/// `modal.client.ServiceUserIdentity`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceUserIdentity {
    #[prost(string, tag = "1")]
    pub service_user_id: String,
    #[prost(string, tag = "2")]
    pub service_user_name: String,
    #[prost(message, optional, tag = "3")]
    pub created_by: Option<UserIdentity>,
}

/// `google.protobuf.Timestamp` (own copy: saves the `prost-types` dependency).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

// ---------------------------------------------------------------------------------------
// What the caller gets.
// ---------------------------------------------------------------------------------------

/// The credentials to send (never logged; `Secret` hides them from `Debug`).
pub(crate) enum Credentials {
    /// `x-modal-token-id` + `x-modal-token-secret`.
    Token { id: Secret, secret: Secret },
    /// `x-modal-refresh-token` + `x-modal-oauth-client-id` + `x-modal-oauth-client-secret`.
    OAuth {
        refresh_token: Secret,
        client_id: Secret,
        client_secret: Secret,
    },
}

/// How one native check ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The server answered OK.
    Answered {
        info: Box<TokenInfoGetResponse>,
        url: String,
    },
    /// The server answered with a non-OK status that is final (not retried, or retries ran
    /// out).
    Status {
        code: tonic::Code,
        message: String,
        url: String,
        attempts: u32,
    },
    /// No URL could be connected to before the deadline.
    Unreachable { errors: Vec<String> },
    /// Connected, but no final answer before the deadline.
    TimedOut { url: String, attempts: u32 },
    /// The native path cannot judge this setup; the CLI can (`auto` falls back).
    NeedsCli(String),
}

// ---------------------------------------------------------------------------------------
// Targets and TLS.
// ---------------------------------------------------------------------------------------

/// One entry of `MODAL_SERVER_URL`.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The URL as written (shown in messages; it holds no credential).
    pub url: String,
    tls: bool,
    host: String,
    port: u16,
}

/// Splits `server_url` on commas like `create_channel_with_fallbacks` and parses each entry
/// like `create_channel`. `Err` is a reason the native path cannot use the list.
pub(crate) fn parse_targets(server_url: &str) -> Result<Vec<Target>, String> {
    if server_url.trim().is_empty() {
        return Err("the server URL is empty".to_owned());
    }
    server_url
        .split(',')
        .map(str::trim)
        .map(|text| {
            let parsed = url::Url::parse(text)
                .map_err(|error| format!("`{text}` is not a URL ({error})"))?;
            let tls = match parsed.scheme() {
                "https" => true,
                "http" => false,
                other => {
                    return Err(format!(
                        "`{text}` uses the `{other}:` scheme, which only the modal CLI speaks"
                    ));
                }
            };
            let host = parsed
                .host_str()
                .ok_or_else(|| format!("`{text}` has no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = parsed.port().unwrap_or(if tls { 443 } else { 80 });
            Ok(Target {
                url: text.to_owned(),
                tls,
                host,
                port,
            })
        })
        .collect()
}

/// The rustls client configuration: platform roots (which honour `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` of the process) plus every certificate in the `SSL_CERT_FILE` the
/// caller's environment names; TLS 1.2+, ALPN `h2` only.
pub(crate) fn tls_config(ssl_cert_file: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut extra: Vec<CertificateDer<'static>> = Vec::new();
    if let Some(path) = ssl_cert_file.filter(|path| !path.is_empty()) {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|error| format!("SSL_CERT_FILE={path} cannot be read: {error}"))?;
        for cert in certs {
            extra.push(cert.map_err(|error| {
                format!("SSL_CERT_FILE={path} holds a bad certificate: {error}")
            })?);
        }
    }
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|error| format!("no usable TLS root certificates: {error}"))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS set-up failed: {error}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

// ---------------------------------------------------------------------------------------
// Connections.
// ---------------------------------------------------------------------------------------

type SendRequest = hyper::client::conn::http2::SendRequest<tonic::body::Body>;

/// An open HTTP/2 connection to one target; the connection task ends when this is dropped.
pub(crate) struct Connection {
    send: SendRequest,
    driver: tokio::task::JoinHandle<()>,
    target: Target,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// `tonic::client::Grpc` over one hyper HTTP/2 connection.
#[derive(Clone)]
struct H2Service(SendRequest);

impl tower::Service<http::Request<tonic::body::Body>> for H2Service {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(request))
    }
}

/// TCP (+ TLS) and the HTTP/2 preface: what grpclib's `Channel.__connect__` does. The server
/// is not waited for beyond that, so a server that accepts and stays silent "connects".
async fn connect(
    target: Target,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Connection, String> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|error| format!("{}: {error}", target.url))?;
    let _ = tcp.set_nodelay(true);
    if target.tls {
        let config = tls.ok_or_else(|| format!("{}: TLS is not set up", target.url))?;
        let name = rustls_pki_types::ServerName::try_from(target.host.clone())
            .map_err(|error| format!("{}: {error}", target.url))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|error| format!("{}: TLS handshake failed: {error}", target.url))?;
        if stream.get_ref().1.alpn_protocol() != Some(b"h2".as_slice()) {
            return Err(format!(
                "{}: the server does not speak HTTP/2 (ALPN)",
                target.url
            ));
        }
        handshake(stream, target).await
    } else {
        handshake(tcp, target).await
    }
}

async fn handshake<S>(stream: S, target: Target) -> Result<Connection, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("{}: HTTP/2 handshake failed: {error}", target.url))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Connection {
        send,
        driver,
        target,
    })
}

/// One staggered race over `count` candidates: candidate *i* starts after `i × stagger` or
/// as soon as candidate *i − 1* has failed; the first success wins and the rest are
/// cancelled. `Err` holds every candidate's failure, in order of failure.
pub(crate) async fn race<T, F, Fut>(
    count: usize,
    stagger: Duration,
    attempt: F,
) -> Result<T, Vec<String>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..count)
        .map(|_| tokio::sync::watch::channel(false))
        .unzip();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, failed) in senders.into_iter().enumerate() {
        let previous = index.checked_sub(1).map(|before| receivers[before].clone());
        let delay = stagger * u32::try_from(index).unwrap_or(u32::MAX);
        let future = attempt(index);
        tasks.spawn(async move {
            if let Some(mut previous) = previous {
                let _ = tokio::time::timeout(delay, previous.wait_for(|failed| *failed)).await;
            }
            let result = future.await;
            if result.is_err() {
                let _ = failed.send(true);
            }
            result
        });
    }
    let mut errors = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => errors.push(error),
            Err(error) => errors.push(format!("connection attempt failed: {error}")),
        }
    }
    Err(errors)
}

/// Races the targets, and retries the race like `@retry(n_attempts=18, base_delay=0.1,
/// max_delay=5, attempt_timeout=10)` on `create_channel_with_fallbacks`, until `deadline`.
async fn connect_any(
    targets: &[Target],
    tls: Option<Arc<rustls::ClientConfig>>,
    deadline: Instant,
) -> Result<Connection, Vec<String>> {
    let mut delay = Duration::from_millis(100);
    let mut errors = Vec::new();
    for _ in 0..18 {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        let attempt = race(targets.len(), STAGGER, |index| {
            connect(targets[index].clone(), tls.clone())
        });
        match tokio::time::timeout(remaining.min(Duration::from_secs(10)), attempt).await {
            Ok(Ok(connection)) => return Ok(connection),
            Ok(Err(failures)) => errors = failures,
            Err(_) => errors = vec!["no connection within the attempt's time".to_owned()],
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining <= delay {
            break;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    Err(errors)
}

// ---------------------------------------------------------------------------------------
// The call.
// ---------------------------------------------------------------------------------------

fn ascii(value: &str) -> Result<AsciiMetadataValue, String> {
    AsciiMetadataValue::try_from(value).map_err(|_| {
        "a credential holds characters that cannot be sent in a gRPC header".to_owned()
    })
}

fn sensitive(value: &Secret) -> Result<AsciiMetadataValue, String> {
    let mut value = ascii(value.expose())?;
    value.set_sensitive(true);
    Ok(value)
}

/// The metadata `_get_metadata` builds for a CLIENT, minus the Python-only keys
/// (`x-modal-python-version`, `x-modal-node`, `x-modal-platform`: there is no Python here,
/// and the libmodal Go/JS clients omit them too).
fn base_metadata(credentials: &Credentials) -> Result<MetadataMap, String> {
    let mut metadata = MetadataMap::new();
    metadata.insert(
        "x-modal-client-type",
        AsciiMetadataValue::from_static(CLIENT_TYPE),
    );
    metadata.insert(
        "x-modal-client-version",
        AsciiMetadataValue::from_static(CLIENT_VERSION),
    );
    match credentials {
        Credentials::Token { id, secret } => {
            metadata.insert("x-modal-token-id", sensitive(id)?);
            metadata.insert("x-modal-token-secret", sensitive(secret)?);
        }
        Credentials::OAuth {
            refresh_token,
            client_id,
            client_secret,
        } => {
            metadata.insert("x-modal-refresh-token", sensitive(refresh_token)?);
            metadata.insert("x-modal-oauth-client-id", sensitive(client_id)?);
            metadata.insert("x-modal-oauth-client-secret", sensitive(client_secret)?);
        }
    }
    Ok(metadata)
}

/// A per-process random key for `x-idempotency-key` (the client sends a UUID4).
fn idempotency_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut text = String::with_capacity(32);
    for part in 0..2u8 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(part);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos()),
        );
        text.push_str(&format!("{:016x}", hasher.finish()));
    }
    text
}

enum Attempt {
    Answer(Box<TokenInfoGetResponse>),
    Final(tonic::Status),
    Retry(tonic::Status),
}

fn retryable(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::DeadlineExceeded
            | tonic::Code::Unavailable
            | tonic::Code::Cancelled
            | tonic::Code::Internal
            | tonic::Code::Unknown
    )
}

/// prost's decode error, as tonic-prost reports it: the answer does not fit our messages.
fn is_decode_error(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Internal
        && status
            .message()
            .starts_with("failed to decode Protobuf message")
}

async fn call_once(
    connection: &Connection,
    metadata: &MetadataMap,
    retry: u32,
    key: &str,
    started: f64,
) -> Attempt {
    let origin = format!(
        "{}://{}",
        if connection.target.tls {
            "https"
        } else {
            "http"
        },
        authority(&connection.target)
    );
    let Ok(origin) = origin.parse::<http::Uri>() else {
        return Attempt::Final(tonic::Status::invalid_argument(format!(
            "`{}` cannot be used as a request URI",
            connection.target.url
        )));
    };
    let mut grpc = tonic::client::Grpc::with_origin(H2Service(connection.send.clone()), origin);
    if let Err(error) = grpc.ready().await {
        return Attempt::Retry(tonic::Status::unavailable(format!(
            "the connection to {} closed: {error}",
            connection.target.url
        )));
    }
    let mut request = tonic::Request::new(TokenInfoGetRequest {});
    let headers = request.metadata_mut();
    *headers = metadata.clone();
    if let Ok(host) = ascii(&connection.target.host) {
        headers.insert("x-modal-host", host);
    }
    for (name, value) in [
        ("x-idempotency-key", key.to_owned()),
        ("x-retry-attempt", retry.to_string()),
        ("x-throttle-retry-attempt", "0".to_owned()),
        ("x-modal-timestamp", format!("{started:.6}")),
    ] {
        if let Ok(value) = ascii(&value) {
            headers.insert(name, value);
        }
    }
    if let Ok(value) = ascii(concat!("preflight/", env!("CARGO_PKG_VERSION"))) {
        headers.insert("user-agent", value);
    }
    let codec = tonic_prost::ProstCodec::<TokenInfoGetRequest, TokenInfoGetResponse>::default();
    match grpc
        .unary(request, PathAndQuery::from_static(METHOD_PATH), codec)
        .await
    {
        Ok(response) => Attempt::Answer(Box::new(response.into_inner())),
        Err(status) if is_decode_error(&status) => Attempt::Final(status),
        Err(status) if retryable(status.code()) => Attempt::Retry(status),
        Err(status) => Attempt::Final(status),
    }
}

fn authority(target: &Target) -> String {
    if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    }
}

/// Connects (racing the URLs) and calls `TokenInfoGet`, retrying as the Python client does,
/// all before `timeout` has passed.
pub(crate) async fn token_info(
    targets: &[Target],
    tls: Option<Arc<rustls::ClientConfig>>,
    credentials: &Credentials,
    timeout: Duration,
) -> Outcome {
    let deadline = Instant::now() + timeout;
    let metadata = match base_metadata(credentials) {
        Ok(metadata) => metadata,
        Err(why) => return Outcome::NeedsCli(why),
    };
    let key = idempotency_key();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64());
    let mut connection: Option<Connection> = None;
    let mut delay = Duration::from_millis(100);
    let mut retries = 0u32;
    let mut last_url = targets.first().map(|t| t.url.clone()).unwrap_or_default();
    loop {
        if connection.is_none() {
            match connect_any(targets, tls.clone(), deadline).await {
                Ok(open) => connection = Some(open),
                Err(errors) => {
                    return if retries == 0 {
                        Outcome::Unreachable { errors }
                    } else {
                        Outcome::TimedOut {
                            url: last_url,
                            attempts: retries,
                        }
                    };
                }
            }
        }
        let Some(open) = connection.as_ref() else {
            continue;
        };
        last_url = open.target.url.clone();
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt = tokio::time::timeout(
            remaining,
            call_once(open, &metadata, retries, &key, started),
        )
        .await;
        let status = match attempt {
            Err(_) => {
                return Outcome::TimedOut {
                    url: last_url,
                    attempts: retries + 1,
                };
            }
            Ok(Attempt::Answer(info)) => {
                return Outcome::Answered {
                    info,
                    url: last_url,
                };
            }
            Ok(Attempt::Final(status)) => {
                return Outcome::Status {
                    code: status.code(),
                    message: status.message().to_owned(),
                    url: last_url,
                    attempts: retries + 1,
                };
            }
            Ok(Attempt::Retry(status)) => status,
        };
        let out_of_time = deadline.saturating_duration_since(Instant::now()) <= delay;
        if retries >= 3 || out_of_time {
            return Outcome::Status {
                code: status.code(),
                message: status.message().to_owned(),
                url: last_url,
                attempts: retries + 1,
            };
        }
        // A lost connection is opened again (racing the URLs again); a server status keeps it.
        if connection
            .as_ref()
            .is_some_and(|open| open.send.is_closed())
        {
            connection = None;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
        retries += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn targets_parse_like_create_channel() {
        let targets = parse_targets("https://api.modal.com, http://127.0.0.1:9").expect("ok");
        assert_eq!(targets.len(), 2);
        assert!(targets[0].tls);
        assert_eq!(
            (targets[0].host.as_str(), targets[0].port),
            ("api.modal.com", 443)
        );
        assert!(!targets[1].tls);
        assert_eq!(targets[1].port, 9);
        assert_eq!(targets[1].url, "http://127.0.0.1:9");
        assert!(parse_targets("").is_err());
        assert!(
            parse_targets("unix:///tmp/modal.sock")
                .unwrap_err()
                .contains("unix")
        );
        assert!(parse_targets("not a url").is_err());
        assert_eq!(parse_targets("http://[::1]:80").expect("v6")[0].host, "::1");
    }

    #[test]
    fn response_round_trips_with_every_field() {
        let response = TokenInfoGetResponse {
            token_id: "ak-1".to_owned(),
            workspace_id: "ac-1".to_owned(),
            workspace_name: "ws".to_owned(),
            identity: Some(TokenIdentity::ServiceUser(ServiceUserIdentity {
                service_user_id: "su-1".to_owned(),
                service_user_name: "bot".to_owned(),
                created_by: Some(UserIdentity {
                    user_id: "us-1".to_owned(),
                    username: "alice".to_owned(),
                }),
            })),
            created_at: Some(Timestamp {
                seconds: 1,
                nanos: 2,
            }),
            expires_at: Some(Timestamp {
                seconds: 3,
                nanos: 0,
            }),
            token_name: "ci".to_owned(),
        };
        let bytes = response.encode_to_vec();
        assert_eq!(
            TokenInfoGetResponse::decode(bytes.as_slice()).expect("decode"),
            response
        );
        assert!(TokenInfoGetRequest {}.encode_to_vec().is_empty());
        // Field 3 as a varint instead of a string: an answer we cannot read, reported as such.
        assert!(TokenInfoGetResponse::decode([0x18_u8, 0x01].as_slice()).is_err());
    }

    #[test]
    fn metadata_is_marked_sensitive_and_carries_the_client_identity() {
        let metadata = base_metadata(&Credentials::Token {
            id: Secret::new("ak-id"),
            secret: Secret::new("zz-secret"),
        })
        .expect("metadata");
        assert_eq!(metadata.get("x-modal-client-type").expect("type"), "1");
        assert_eq!(
            metadata.get("x-modal-client-version").expect("v"),
            CLIENT_VERSION
        );
        assert!(
            metadata
                .get("x-modal-token-secret")
                .expect("secret")
                .is_sensitive()
        );
        assert!(!format!("{metadata:?}").contains("zz-secret"));
        assert!(
            base_metadata(&Credentials::Token {
                id: Secret::new("ak-\nline"),
                secret: Secret::new("x"),
            })
            .is_err()
        );
    }

    #[tokio::test]
    async fn race_staggers_and_starts_early_after_a_failure() {
        // Candidate 0 never connects; candidate 1 waits out its stagger, then wins.
        let stagger = Duration::from_millis(200);
        let begun = Instant::now();
        let winner = race(2, stagger, |index| async move {
            if index == 0 {
                std::future::pending::<()>().await;
            }
            Ok::<_, String>((index, Instant::now()))
        })
        .await
        .expect("winner");
        assert_eq!(winner.0, 1);
        assert!(winner.1 - begun >= stagger);

        // Candidate 0 fails at once: candidate 1 starts then, long before its 30 s stagger.
        let begun = Instant::now();
        let winner = race(3, Duration::from_secs(30), |index| async move {
            if index == 0 {
                return Err("refused".to_owned());
            }
            if index == 2 {
                std::future::pending::<()>().await;
            }
            Ok((index, Instant::now()))
        })
        .await
        .expect("winner");
        assert_eq!(winner.0, 1);
        assert!(winner.1 - begun < Duration::from_secs(5));

        // All fail: every error is reported.
        let errors = race(2, STAGGER, |index| async move {
            Err::<(), _>(format!("refused {index}"))
        })
        .await
        .expect_err("all failed");
        assert_eq!(errors, ["refused 0", "refused 1"]);
    }

    #[test]
    fn retried_statuses_match_the_python_client() {
        for code in [
            tonic::Code::DeadlineExceeded,
            tonic::Code::Unavailable,
            tonic::Code::Cancelled,
            tonic::Code::Internal,
            tonic::Code::Unknown,
        ] {
            assert!(retryable(code), "{code:?}");
        }
        for code in [
            tonic::Code::Unauthenticated,
            tonic::Code::PermissionDenied,
            tonic::Code::FailedPrecondition,
            tonic::Code::Unimplemented,
            tonic::Code::NotFound,
        ] {
            assert!(!retryable(code), "{code:?}");
        }
        assert!(is_decode_error(&tonic::Status::internal(
            "failed to decode Protobuf message: buffer underflow"
        )));
    }
}
