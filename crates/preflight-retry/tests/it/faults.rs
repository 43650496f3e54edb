//! The retry loop against a real local HTTP server that injects faults. Real time, zero delays.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use preflight_retry::{
    GiveUpReason, HttpError, HttpStatusError, Idempotency, RetryConfig, RetryError, diagnose,
    error_for_status, retry_with_backoff,
};

/// Counts requests per test; each test starts its own server.
#[derive(Clone, Default)]
struct Hits(Arc<AtomicUsize>);

impl Hits {
    /// Records a request and returns its 1-based number.
    fn next(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

async fn serve(router: Router<Hits>) -> (String, Hits) {
    let hits = Hits::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = router.with_state(hits.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), hits)
}

fn fast_config() -> RetryConfig {
    RetryConfig::default().without_delays().with_seed(1)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// One full attempt: send, check the status, read the whole body.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<Bytes, HttpError> {
    let response = client.get(url).send().await?;
    let response = error_for_status(response).await?;
    Ok(response.bytes().await?)
}

async fn fetch_with_retries(
    config: &RetryConfig,
    idempotency: Idempotency,
    url: &str,
) -> Result<Bytes, RetryError<HttpError>> {
    let client = client();
    retry_with_backoff(config, idempotency, |_| fetch(&client, url)).await
}

fn status_of(error: &RetryError<HttpError>) -> u16 {
    match error.last_error() {
        HttpError::Status(status) => status.status,
        HttpError::Transport(other) => panic!("expected a status error, got {other:?}"),
    }
}

#[tokio::test]
async fn succeeds_after_two_503s_with_exactly_three_requests() {
    let router = Router::new().route(
        "/flaky",
        get(|State(hits): State<Hits>| async move {
            if hits.next() <= 2 {
                (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
            } else {
                "ok".into_response()
            }
        }),
    );
    let (base, hits) = serve(router).await;
    let body = fetch_with_retries(
        &fast_config(),
        Idempotency::Idempotent,
        &format!("{base}/flaky"),
    )
    .await
    .unwrap();
    assert_eq!(body, "ok");
    assert_eq!(hits.count(), 3);
}

fn status_router() -> Router<Hits> {
    Router::new().route(
        "/status/{code}",
        get(
            |State(hits): State<Hits>, Path(code): Path<u16>| async move {
                hits.next();
                let mut headers = HeaderMap::new();
                headers.insert("x-error-code", "RepoNotFound".parse().unwrap());
                headers.insert("x-request-id", "req-123".parse().unwrap());
                headers.insert("retry-after", "7".parse().unwrap());
                (
                    StatusCode::from_u16(code).unwrap(),
                    headers,
                    r#"{"error":"Repository Not Found"}"#,
                )
            },
        ),
    )
}

#[tokio::test]
async fn client_errors_fail_at_once_with_one_request() {
    let (base, hits) = serve(status_router()).await;
    for (round, code) in [401, 403, 404].into_iter().enumerate() {
        let url = format!("{base}/status/{code}?token=SECRET");
        let error = fetch_with_retries(&fast_config(), Idempotency::Idempotent, &url)
            .await
            .unwrap_err();
        assert_eq!(hits.count(), round + 1, "exactly one request for {code}");
        assert_eq!(error.attempts(), 1);
        assert_eq!(error.reason(), GiveUpReason::Permanent);
        assert_eq!(error.error_kind(), format!("status_{code}"));
        let HttpError::Status(status) = error.last_error() else {
            panic!("expected a status error");
        };
        assert_eq!(status.status, code);
        assert_eq!(status.error_code.as_deref(), Some("RepoNotFound"));
        assert_eq!(
            status.error_message.as_deref(),
            Some("Repository Not Found")
        );
        assert_eq!(status.request_id.as_deref(), Some("req-123"));
        assert_eq!(
            status.retry_after, None,
            "Retry-After only counts on 429/503"
        );
        // A single permanent failure reads as the error itself; the query is never shown.
        let shown = error.to_string();
        assert!(shown.starts_with(&format!("HTTP {code} ")), "{shown}");
        assert!(
            shown.ends_with(": Repository Not Found (request id: req-123)"),
            "{shown}"
        );
        assert!(!shown.contains("SECRET"));
        assert!(std::error::Error::source(&error).is_none());
    }
}

#[tokio::test]
async fn retry_after_is_read_on_429() {
    let (base, hits) = serve(status_router()).await;
    let config = fast_config().with_max_attempts(2);
    let error = fetch_with_retries(
        &config,
        Idempotency::Idempotent,
        &format!("{base}/status/429"),
    )
    .await
    .unwrap_err();
    assert_eq!(hits.count(), 2);
    assert_eq!(error.reason(), GiveUpReason::AttemptsExhausted);
    let HttpError::Status(status) = error.last_error() else {
        panic!("expected a status error");
    };
    assert_eq!(status.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn exhausted_attempts_keep_the_last_cause() {
    let router = Router::new().route(
        "/down",
        get(|State(hits): State<Hits>| async move {
            let n = hits.next();
            let mut headers = HeaderMap::new();
            headers.insert(
                "x-error-message",
                format!("overloaded #{n}").parse().unwrap(),
            );
            (StatusCode::BAD_GATEWAY, headers, "<html>bad gateway</html>")
        }),
    );
    let (base, hits) = serve(router).await;
    let config = fast_config().with_max_attempts(3);
    let error = fetch_with_retries(&config, Idempotency::Idempotent, &format!("{base}/down"))
        .await
        .unwrap_err();
    assert_eq!(hits.count(), 3);
    assert_eq!(error.attempts(), 3);
    assert_eq!(error.reason(), GiveUpReason::AttemptsExhausted);
    assert_eq!(status_of(&error), 502);
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert_eq!(
        cause,
        format!("HTTP 502 Bad Gateway from {base}/down: overloaded #3")
    );
    assert!(
        error.to_string().starts_with("failed after 3 attempts in "),
        "{error}"
    );
}

/// Headers promise 1000 bytes; the body sends 10, then fails, which cuts the connection.
/// The pause lets the headers and the first bytes reach the client first.
fn cut_body() -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"0123456789")),
        Err(std::io::Error::other("injected: body cut")),
    ];
    let stream = futures::stream::iter(chunks).then(|chunk| async move {
        if chunk.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        chunk
    });
    Response::builder()
        .header("content-length", "1000")
        .body(Body::from_stream(stream))
        .unwrap()
}

#[tokio::test]
async fn body_cut_mid_read_is_retried() {
    let router = Router::new().route(
        "/cut",
        get(|State(hits): State<Hits>| async move {
            if hits.next() <= 2 {
                cut_body()
            } else {
                "x".repeat(1000).into_response()
            }
        }),
    );
    let (base, hits) = serve(router).await;
    let url = format!("{base}/cut");

    // The failure surfaces at read time, after `send()` succeeded, and is transient.
    let client = client();
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let error = response.bytes().await.unwrap_err();
    let diagnosis = diagnose(&error);
    assert!(diagnosis.transience.is_transient(), "{error:?}");
    assert_eq!(diagnosis.kind, "body", "{error:?}");
    assert!(!diagnosis.never_sent);

    // The retry loop therefore reads the whole body on the next attempt.
    let body = fetch_with_retries(&fast_config(), Idempotency::Idempotent, &url)
        .await
        .unwrap();
    assert_eq!(body.len(), 1000);
    assert_eq!(hits.count(), 3);
}

async fn dead_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/x")
}

#[tokio::test]
async fn connection_refused_is_retried_even_when_not_idempotent() {
    let url = dead_port_url().await;
    let config = fast_config().with_max_attempts(3);
    for idempotency in [Idempotency::Idempotent, Idempotency::NotIdempotent] {
        let mut attempts = Vec::new();
        let client = client();
        let error = retry_with_backoff(&config, idempotency, |attempt| {
            attempts.push(attempt.number);
            let request = client.post(&url).body("commit");
            async move { request.send().await.map(drop) }
        })
        .await
        .unwrap_err();
        assert_eq!(attempts, [1, 2, 3], "{idempotency:?}");
        assert_eq!(error.reason(), GiveUpReason::AttemptsExhausted);
        assert_eq!(error.error_kind(), "connect");
        assert!(error.last_error().is_connect());
    }
}

#[tokio::test]
async fn not_idempotent_requests_are_not_retried_after_a_503() {
    let (base, hits) = serve(status_router()).await;
    let error = fetch_with_retries(
        &fast_config(),
        Idempotency::NotIdempotent,
        &format!("{base}/status/503"),
    )
    .await
    .unwrap_err();
    assert_eq!(hits.count(), 1);
    assert_eq!(error.reason(), GiveUpReason::Permanent);
    assert!(error.blocked_by_idempotency());
    assert_eq!(status_of(&error), 503);
    let shown = error.to_string();
    assert!(
        shown.ends_with(
            ", not retried because the request is not idempotent and may have reached the server"
        ),
        "{shown}"
    );
    assert!(std::error::Error::source(&error).is_some());
}

#[tokio::test]
async fn timeouts_are_retried_only_when_idempotent() {
    let router = Router::new().route(
        "/slow",
        get(|State(hits): State<Hits>| async move {
            hits.next();
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let (base, hits) = serve(router).await;
    let url = format!("{base}/slow");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let config = fast_config().with_max_attempts(2);
    let error = retry_with_backoff(&config, Idempotency::Idempotent, |_| fetch(&client, &url))
        .await
        .unwrap_err();
    assert_eq!(error.error_kind(), "timeout");
    assert_eq!(error.attempts(), 2);
    let error = retry_with_backoff(&config, Idempotency::NotIdempotent, |_| {
        fetch(&client, &url)
    })
    .await
    .unwrap_err();
    assert_eq!(error.attempts(), 1);
    assert!(error.blocked_by_idempotency());
    assert_eq!(hits.count(), 3);
}

#[tokio::test]
async fn tls_failures_are_not_retried() {
    // An https request to a plain-HTTP server fails inside rustls.
    let (base, _hits) = serve(status_router()).await;
    let url = base.replace("http://", "https://") + "/status/200";
    let error = fetch_with_retries(&fast_config(), Idempotency::Idempotent, &url)
        .await
        .unwrap_err();
    assert_eq!(error.attempts(), 1, "{error:?}");
    assert_eq!(error.error_kind(), "tls", "{error:?}");
}

#[tokio::test]
async fn error_for_status_passes_success_through_and_bounds_the_body() {
    let router = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/big",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "y".repeat(100_000)) }),
        )
        .route(
            "/limited",
            get(|| async {
                let mut headers = HeaderMap::new();
                headers.insert("ratelimit", "\"api\";r=0;t=12".parse().unwrap());
                (StatusCode::TOO_MANY_REQUESTS, headers, "slow down")
            }),
        );
    let (base, _hits) = serve(router).await;
    let client = client();
    let ok = client.get(format!("{base}/ok")).send().await.unwrap();
    let ok = error_for_status(ok).await.unwrap();
    assert_eq!(ok.text().await.unwrap(), "fine");

    let big = client.get(format!("{base}/big")).send().await.unwrap();
    let error: HttpStatusError = error_for_status(big).await.unwrap_err();
    assert_eq!(error.status, 500);
    assert!(error.error_message.unwrap().starts_with("yyyy"));

    let limited = client.get(format!("{base}/limited")).send().await.unwrap();
    let error = error_for_status(limited).await.unwrap_err();
    assert_eq!(error.retry_after, Some(Duration::from_secs(12)));
    assert_eq!(error.error_message.as_deref(), Some("slow down"));
}
