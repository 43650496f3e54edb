//! HTTP status errors that carry what the Hub says about them, and `Retry-After` parsing.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// At most this many bytes of an error body are read by [`error_for_status`].
pub const MAX_ERROR_BODY_BYTES: usize = 4 * 1024;

/// At most this many characters of a plain-text error body are kept as the server message.
const MAX_MESSAGE_CHARS: usize = 300;

/// A response with a 4xx or 5xx status, with the Hub's error headers.
///
/// `url` never contains a query string, fragment or user info: pre-signed upload URLs carry
/// signatures in the query. [`classify`](crate::classify) retries it when
/// [`is_transient_status`](crate::is_transient_status) says so, waiting `retry_after` if set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpStatusError {
    /// The status code.
    pub status: u16,
    /// The server's requested wait (429 and 503 only): see [`parse_retry_after`].
    pub retry_after: Option<Duration>,
    /// `X-Error-Code` (for example `RepoNotFound`).
    pub error_code: Option<String>,
    /// `X-Error-Message`, else the JSON body's `error` / `error_description`, else a short
    /// non-HTML text body.
    pub error_message: Option<String>,
    /// `X-Request-Id`, else `X-Amzn-Trace-Id`, else `x-amz-cf-id`.
    pub request_id: Option<String>,
    /// The request URL without query string, fragment or user info.
    pub url: String,
}

impl HttpStatusError {
    /// An error for `status` from `url`; the URL is stripped of secrets (see [`redact_url`]).
    pub fn new(status: u16, url: &str) -> Self {
        HttpStatusError {
            status,
            url: redact_url(url),
            ..HttpStatusError::default()
        }
    }

    /// The standard reason phrase, such as `Service Unavailable`, if the status has one.
    pub fn reason_phrase(&self) -> Option<&'static str> {
        reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|status| status.canonical_reason())
    }
}

impl fmt::Display for HttpStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(reason) = self.reason_phrase() {
            write!(f, " {reason}")?;
        }
        write!(f, " from {}", self.url)?;
        match (&self.error_message, &self.error_code) {
            (Some(message), _) => write!(f, ": {message}")?,
            (None, Some(code)) => write!(f, ": {code}")?,
            (None, None) => {}
        }
        if let Some(request_id) = &self.request_id {
            write!(f, " (request id: {request_id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpStatusError {}

/// Either a transport failure or an unsuccessful status: a ready-made error type for
/// operations that send a request, check its status and read its body.
///
/// `Display` is the inner error's; [`classify`](crate::classify) looks inside it.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Sending the request or reading the body failed.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
    /// The server answered 4xx/5xx.
    #[error(transparent)]
    Status(#[from] HttpStatusError),
}

/// `Ok(response)` for statuses below 400; otherwise an [`HttpStatusError`] built from the
/// headers and at most [`MAX_ERROR_BODY_BYTES`] of the body (read errors are ignored: the status
/// is the error being reported).
pub async fn error_for_status(
    response: reqwest::Response,
) -> Result<reqwest::Response, HttpStatusError> {
    let status = response.status().as_u16();
    if status < 400 {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let mut error = HttpStatusError::new(status, response.url().as_str());
    if status == 429 || status == 503 {
        error.retry_after = parse_retry_after(&headers, SystemTime::now());
    }
    error.error_code = header_text(&headers, "x-error-code");
    error.request_id = header_text(&headers, "x-request-id")
        .or_else(|| header_text(&headers, "x-amzn-trace-id"))
        .or_else(|| header_text(&headers, "x-amz-cf-id"));
    let is_html = header_text(&headers, "content-type").is_some_and(|t| t.contains("html"));
    let body = read_prefix(response, MAX_ERROR_BODY_BYTES).await;
    error.error_message =
        header_text(&headers, "x-error-message").or_else(|| message_from_body(&body, is_html));
    Err(error)
}

/// Strips query string, fragment and user info from `url` (left as is if it does not parse).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            // Fails only for URLs that cannot have user info, which then have none.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

/// The wait a response asks for, from its headers, or `None`.
///
/// In order (the Hub client's order, `docs/protocol/hf-hub.md#retries-and-rate-limits`):
/// 1. `RateLimit: "<policy>";r=<remaining>;t=<seconds>` with `r=0`: `t` seconds. The older draft
///    form `limit=…, remaining=0, reset=<seconds>` is also understood. An item with `r>0` asks for
///    nothing.
/// 2. `Retry-After: <seconds>`.
/// 3. `Retry-After: <HTTP-date>` (the time left until then, measured from `now`).
///
/// Past dates, negative numbers and garbage are ignored. The result is not capped here; the
/// retry loop caps it at [`RetryConfig::max_retry_after`](crate::RetryConfig::max_retry_after).
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    for value in headers.get_all("ratelimit") {
        if let Some(wait) = value.to_str().ok().and_then(parse_rate_limit) {
            return Some(wait);
        }
    }
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    date.duration_since(now).ok()
}

/// Parses one `RateLimit` header value; `Some(t)` only when the quota is used up (`r=0`).
fn parse_rate_limit(value: &str) -> Option<Duration> {
    // Structured-field form: `"api";r=0;t=55`, possibly several items separated by commas.
    let mut exhausted_wait: Option<u64> = None;
    for item in value.split(',') {
        let mut remaining = None;
        let mut reset = None;
        for param in item.split(';') {
            let Some((key, val)) = param.split_once('=') else {
                continue;
            };
            let val = val.trim().trim_matches('"');
            match key.trim() {
                "r" | "remaining" => remaining = val.parse::<u64>().ok(),
                "t" | "reset" => reset = val.parse::<u64>().ok(),
                _ => {}
            }
        }
        if let (Some(0), Some(seconds)) = (remaining, reset) {
            exhausted_wait = Some(exhausted_wait.map_or(seconds, |w| w.max(seconds)));
        }
    }
    if exhausted_wait.is_some() {
        return exhausted_wait.map(Duration::from_secs);
    }
    // Older draft: separate comma-separated members `limit=100, remaining=0, reset=55`.
    let mut remaining = None;
    let mut reset = None;
    for member in value.split(',') {
        if let Some((key, val)) = member.split_once('=') {
            match key.trim() {
                "remaining" => remaining = val.trim().parse::<u64>().ok(),
                "reset" => reset = val.trim().parse::<u64>().ok(),
                _ => {}
            }
        }
    }
    match (remaining, reset) {
        (Some(0), Some(seconds)) => Some(Duration::from_secs(seconds)),
        _ => None,
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

async fn read_prefix(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - body.len());
                body.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// The server's message from an error body: JSON `error` (string or list), `error_description`
/// or `errors[].message`; else a short plain-text body.
fn message_from_body(body: &[u8], is_html: bool) -> Option<String> {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let from_json = match &json["error"] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(items) => {
                let parts: Vec<String> = items.iter().filter_map(text).collect();
                (!parts.is_empty()).then(|| parts.join("; "))
            }
            _ => None,
        }
        .or_else(|| text(&json["error_description"]))
        .or_else(|| {
            let parts: Vec<String> = json["errors"]
                .as_array()?
                .iter()
                .filter_map(|e| text(&e["message"]))
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        });
        return from_json.filter(|m| !m.trim().is_empty());
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || is_html || text.starts_with('<') {
        return None;
    }
    let mut message: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    if message.len() < text.len() {
        message.push('…');
    }
    Some(message.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_table() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let secs = |s| Some(Duration::from_secs(s));
        type Headers<'a> = &'a [(&'static str, &'a str)];
        let cases: &[(Headers<'_>, Option<Duration>)] = &[
            (&[], None),
            (&[("retry-after", "7")], secs(7)),
            (&[("retry-after", " 0 ")], secs(0)),
            (
                &[("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT")],
                secs(30),
            ),
            (&[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")], None),
            (&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], secs(0)),
            (&[("retry-after", "-5")], None),
            (&[("retry-after", "1.5")], None),
            (&[("retry-after", "soon")], None),
            (&[("retry-after", "")], None),
            (&[("ratelimit", "\"api\";r=0;t=55")], secs(55)),
            (&[("ratelimit", "\"api\";r=12;t=55")], None),
            (
                &[("ratelimit", "\"api\";r=12;t=55"), ("retry-after", "3")],
                secs(3),
            ),
            (
                &[("ratelimit", "\"api\";r=0;t=55"), ("retry-after", "3")],
                secs(55),
            ),
            (&[("ratelimit", "\"api\";r=0")], None),
            (&[("ratelimit", "\"api\";r=0;t=soon")], None),
            (
                &[("ratelimit", "\"a\";r=5;t=1, \"b\";r=0;t=20, \"c\";r=0;t=9")],
                secs(20),
            ),
            (
                &[("ratelimit", "limit=100, remaining=0, reset=42")],
                secs(42),
            ),
            (&[("ratelimit", "limit=100, remaining=3, reset=42")], None),
            (&[("ratelimit", "garbage")], None),
        ];
        for (pairs, expected) in cases {
            assert_eq!(
                parse_retry_after(&headers(pairs), now),
                *expected,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn non_ascii_header_is_ignored() {
        let mut map = HeaderMap::new();
        map.insert("retry-after", HeaderValue::from_bytes(b"\xff7").unwrap());
        assert_eq!(parse_retry_after(&map, SystemTime::now()), None);
    }

    #[test]
    fn display_reads_well() {
        let mut error = HttpStatusError::new(503, "http://user:pw@host:8080/api/x?sig=SECRET#frag");
        assert_eq!(error.url, "http://host:8080/api/x");
        assert_eq!(
            error.to_string(),
            "HTTP 503 Service Unavailable from http://host:8080/api/x"
        );
        error.error_code = Some("Busy".into());
        assert_eq!(
            error.to_string(),
            "HTTP 503 Service Unavailable from http://host:8080/api/x: Busy"
        );
        error.error_message = Some("try later".into());
        error.request_id = Some("abc".into());
        assert_eq!(
            error.to_string(),
            "HTTP 503 Service Unavailable from http://host:8080/api/x: try later (request id: abc)"
        );
        assert_eq!(
            HttpStatusError::new(599, "http://h/").to_string(),
            "HTTP 599 from http://h/"
        );
    }

    #[test]
    fn redact_url_handles_unparsable_input() {
        assert_eq!(redact_url("not a url?token=x"), "not a url");
        assert_eq!(redact_url("https://h/p?X-Amz-Signature=abc"), "https://h/p");
    }

    #[test]
    fn messages_from_bodies() {
        let cases: &[(&str, bool, Option<&str>)] = &[
            (
                r#"{"error":"Repository not found"}"#,
                false,
                Some("Repository not found"),
            ),
            (r#"{"error":["a","b"]}"#, false, Some("a; b")),
            (
                r#"{"error_description":"bad grant"}"#,
                false,
                Some("bad grant"),
            ),
            (
                r#"{"errors":[{"message":"x"},{"message":"y"}]}"#,
                false,
                Some("x; y"),
            ),
            (r#"{"error":""}"#, false, None),
            (r#"{"other":1}"#, false, None),
            ("plain  text\nbody", false, Some("plain text body")),
            ("<html>oops</html>", false, None),
            ("oops", true, None),
            ("   ", false, None),
        ];
        for (body, html, expected) in cases {
            assert_eq!(
                message_from_body(body.as_bytes(), *html).as_deref(),
                *expected,
                "{body}"
            );
        }
        let long = "x".repeat(1000);
        let message = message_from_body(long.as_bytes(), false).unwrap();
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(message.ends_with('…'));
    }
}
