//! The one classifier: is this error worth another attempt?
//!
//! [`diagnose`] walks the whole `source()` chain (looking inside `io::Error`'s custom payload,
//! which `io::Error::source` skips) and decides from what it finds:
//!
//! 1. The first HTTP status in the chain ([`HttpStatusError`] or a `reqwest` status error)
//!    decides alone: transient iff [`is_transient_status`].
//! 2. A TLS error anywhere in the chain (a `rustls::Error`, or any other error whose message
//!    mentions a certificate) is permanent: a bad certificate does not heal on retry, and retrying
//!    only hides the real problem (proxy or `SSL_CERT_FILE`).
//! 3. `reqwest` builder and redirect errors are permanent (our bug, or a redirect loop).
//! 4. Otherwise the error is transient if the chain shows a connect failure, a timeout, a
//!    truncated message (hyper incomplete/canceled), any HTTP/2 error, or one of the I/O kinds
//!    below; anything else (a JSON decode error of a complete body, …) is permanent.

use std::error::Error;
use std::io;
use std::sync::OnceLock;
use std::time::Duration;

use crate::http::{HttpError, HttpStatusError};

/// Whether an error is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transience {
    /// Retrying may succeed; wait `retry_after` if the server asked for it.
    Transient {
        /// The server's requested wait (`Retry-After` / `RateLimit`), if any.
        retry_after: Option<Duration>,
    },
    /// Retrying will fail the same way.
    Permanent,
}

impl Transience {
    /// `true` for [`Transience::Transient`].
    pub fn is_transient(&self) -> bool {
        matches!(self, Transience::Transient { .. })
    }

    /// A transient verdict without a requested wait.
    pub const TRANSIENT: Transience = Transience::Transient { retry_after: None };
}

/// The classifier's full verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagnosis {
    /// Retry or not.
    pub transience: Transience,
    /// A short machine-readable name for logs: `status_503`, `connect`, `dns`,
    /// `connect_timeout`, `timeout`, `body`, `reset`, `aborted`, `broken_pipe`, `eof`,
    /// `invalid_data`, `incomplete`, `canceled`, `h2`, `tls`, `builder`, `redirect`, `decode`,
    /// `other`.
    pub kind: &'static str,
    /// The error proves the request never reached the server (connection refused or failed
    /// in the connect phase, DNS failure, HTTP/2 `REFUSED_STREAM`), so even a non-idempotent
    /// request may be sent again. A connect timeout counts: no byte of the request was sent.
    pub never_sent: bool,
}

/// Statuses worth retrying: exactly 408, 429, 500, 502, 503 and 504 (the Hub client's set).
///
/// 501 and 505 are excluded: they never succeed on retry. Other 4xx mean the request itself is
/// wrong (or the token is: 401/403), which another attempt does not fix.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// [`diagnose`]'s verdict alone.
pub fn classify(error: &(dyn Error + 'static)) -> Transience {
    diagnose(error).transience
}

/// Classifies `error` by walking its source chain; see the module docs for the rules.
pub fn diagnose(error: &(dyn Error + 'static)) -> Diagnosis {
    // Pass 1: verdicts that do not depend on anything else in the chain.
    for link in chain(error) {
        if let Some(status) = link.downcast_ref::<HttpStatusError>() {
            return status_diagnosis(status.status, status.retry_after);
        }
        if let Some(reqwest_error) = link.downcast_ref::<reqwest::Error>() {
            if let Some(status) = reqwest_error.status() {
                return status_diagnosis(status.as_u16(), None);
            }
            if reqwest_error.is_builder() {
                return permanent("builder");
            }
            if reqwest_error.is_redirect() {
                return permanent("redirect");
            }
        }
        if is_tls_error(link) {
            return permanent("tls");
        }
    }

    // Pass 2: collect evidence of a transient transport failure.
    let mut connect = false;
    let mut dns = false;
    let mut timeout = false;
    let mut body = false;
    let mut never_sent = false;
    let mut low_level: Option<&'static str> = None;
    for link in chain(error) {
        if let Some(reqwest_error) = link.downcast_ref::<reqwest::Error>() {
            connect |= reqwest_error.is_connect();
            dns |= reqwest_error.is_dns();
            timeout |= reqwest_error.is_timeout();
            body |= reqwest_error.is_body() || reqwest_error.is_decode();
        } else if let Some(hyper_error) = link.downcast_ref::<hyper::Error>() {
            // The peer closed the connection before the message was complete, or hyper
            // dropped a request it had not started sending: both are network hiccups.
            if hyper_error.is_incomplete_message() {
                low_level.get_or_insert("incomplete");
            } else if hyper_error.is_canceled() {
                low_level.get_or_insert("canceled");
            }
            timeout |= hyper_error.is_timeout();
        } else if let Some(h2_error) = link.downcast_ref::<h2::Error>() {
            // HTTP/2 resets and GOAWAYs come from proxies and load balancers recycling
            // connections (uv treats every h2 error as transient for the same reason).
            low_level.get_or_insert("h2");
            // REFUSED_STREAM: "the stream was not processed", by definition (RFC 9113 §8.7).
            never_sent |= h2_error.reason() == Some(h2::Reason::REFUSED_STREAM);
        } else if let Some(io_error) = link.downcast_ref::<io::Error>() {
            let kind = match io_error.kind() {
                // Nothing listened on the port: the request cannot have been received.
                io::ErrorKind::ConnectionRefused => {
                    never_sent = true;
                    Some("connect")
                }
                io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                    Some("connect")
                }
                // Load balancers and proxies drop idle or overloaded connections.
                io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected => Some("reset"),
                io::ErrorKind::ConnectionAborted => Some("aborted"),
                // The server closed while we were still writing (mid-upload).
                io::ErrorKind::BrokenPipe => Some("broken_pipe"),
                // The body ended before its Content-Length: a cut connection.
                io::ErrorKind::UnexpectedEof => Some("eof"),
                io::ErrorKind::TimedOut => {
                    timeout = true;
                    None
                }
                // Garbled bytes from a broken proxy or a cut compressed stream (uv retries
                // these too). TLS certificate errors also travel as InvalidData, but pass 1
                // has already made those permanent.
                io::ErrorKind::InvalidData => Some("invalid_data"),
                _ => None,
            };
            if let Some(kind) = kind {
                low_level.get_or_insert(kind);
            }
        }
    }
    never_sent |= connect || dns;

    let kind = if dns {
        "dns"
    } else if connect && timeout {
        "connect_timeout"
    } else if connect {
        "connect"
    } else if timeout {
        "timeout"
    } else if body && low_level.is_some() {
        "body"
    } else if let Some(kind) = low_level {
        kind
    } else if body {
        return permanent("decode");
    } else {
        return permanent("other");
    };
    Diagnosis {
        transience: Transience::TRANSIENT,
        kind,
        never_sent,
    }
}

fn status_diagnosis(status: u16, retry_after: Option<Duration>) -> Diagnosis {
    Diagnosis {
        transience: if is_transient_status(status) {
            Transience::Transient { retry_after }
        } else {
            Transience::Permanent
        },
        kind: status_kind(status),
        never_sent: false,
    }
}

fn permanent(kind: &'static str) -> Diagnosis {
    Diagnosis {
        transience: Transience::Permanent,
        kind,
        never_sent: false,
    }
}

/// `status_NNN` as a `&'static str` (statuses outside 100..=599 give `status_other`).
fn status_kind(status: u16) -> &'static str {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    match status {
        100..=599 => {
            let names = NAMES.get_or_init(|| (100..600).map(|s| format!("status_{s}")).collect());
            &names[usize::from(status - 100)]
        }
        _ => "status_other",
    }
}

fn is_tls_error(link: &(dyn Error + 'static)) -> bool {
    if link.is::<rustls::Error>() {
        return true;
    }
    // Other TLS stacks (native-tls, a proxy's own error type) are recognised by their message.
    // Known types are skipped: their messages may quote a URL or a server's words.
    let known = link.is::<reqwest::Error>()
        || link.is::<io::Error>()
        || link.is::<hyper::Error>()
        || link.is::<h2::Error>()
        || link.is::<HttpError>();
    !known
        && link
            .to_string()
            .to_ascii_lowercase()
            .contains("certificate")
}

/// The error and its causes, looking inside `io::Error` custom payloads and [`HttpError`]
/// (whose `source()` skip their direct payload), at most 64 deep.
pub(crate) fn chain<'a>(
    error: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(error), |link| next_link(*link)).take(64)
}

fn next_link<'a>(link: &'a (dyn Error + 'static)) -> Option<&'a (dyn Error + 'static)> {
    if let Some(io_error) = link.downcast_ref::<io::Error>()
        && let Some(inner) = io_error.get_ref()
    {
        return Some(inner);
    }
    if let Some(http_error) = link.downcast_ref::<HttpError>() {
        return Some(match http_error {
            HttpError::Transport(inner) => inner,
            HttpError::Status(inner) => inner,
        });
    }
    link.source()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    /// A wrapper whose `source()` is `inner`, like a `#[source]` field.
    #[derive(Debug)]
    struct Context<E>(E);

    impl<E: Error + 'static> fmt::Display for Context<E> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("while talking to the Hub")
        }
    }

    impl<E: Error + 'static> Error for Context<E> {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Message(&'static str);

    #[test]
    fn retried_statuses() {
        let mut retried = Vec::new();
        let mut kinds = std::collections::BTreeSet::new();
        for status in 100..=599 {
            let error = HttpStatusError::new(status, "http://127.0.0.1/x");
            let diagnosis = diagnose(&error);
            assert_eq!(
                diagnosis.transience.is_transient(),
                is_transient_status(status)
            );
            assert_eq!(diagnosis.kind, format!("status_{status}"));
            assert!(!diagnosis.never_sent);
            kinds.insert(diagnosis.kind);
            if classify(&error).is_transient() {
                retried.push(status.to_string());
            }
        }
        assert_eq!(kinds.len(), 500);
        insta::assert_snapshot!(retried.join("\n"));
    }

    #[test]
    fn status_outside_the_range_has_a_kind() {
        assert_eq!(
            diagnose(&HttpStatusError::new(99, "http://h/")).kind,
            "status_other"
        );
        assert_eq!(
            diagnose(&HttpStatusError::new(600, "http://h/")).kind,
            "status_other"
        );
    }

    #[test]
    fn status_retry_after_is_carried() {
        let mut error = HttpStatusError::new(429, "http://h/");
        error.retry_after = Some(Duration::from_secs(3));
        assert_eq!(
            classify(&Context(error)),
            Transience::Transient {
                retry_after: Some(Duration::from_secs(3))
            }
        );
    }

    fn io(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "boom")
    }

    #[test]
    fn io_kinds_table() {
        use io::ErrorKind as K;
        let cases: &[(K, Option<&str>, bool)] = &[
            (K::ConnectionRefused, Some("connect"), true),
            (K::HostUnreachable, Some("connect"), false),
            (K::NetworkUnreachable, Some("connect"), false),
            (K::ConnectionReset, Some("reset"), false),
            (K::NotConnected, Some("reset"), false),
            (K::ConnectionAborted, Some("aborted"), false),
            (K::BrokenPipe, Some("broken_pipe"), false),
            (K::UnexpectedEof, Some("eof"), false),
            (K::TimedOut, Some("timeout"), false),
            (K::InvalidData, Some("invalid_data"), false),
            (K::NotFound, None, false),
            (K::PermissionDenied, None, false),
            (K::Other, None, false),
        ];
        for (kind, expected, never_sent) in cases {
            // Directly, wrapped in context, and nested inside another io::Error's payload.
            let nested = io::Error::other(io(*kind));
            for diagnosis in [
                diagnose(&io(*kind)),
                diagnose(&Context(io(*kind))),
                diagnose(&nested),
            ] {
                match expected {
                    Some(name) => {
                        assert!(diagnosis.transience.is_transient(), "{kind:?}");
                        assert_eq!(diagnosis.kind, *name, "{kind:?}");
                    }
                    None => assert_eq!(diagnosis, permanent("other"), "{kind:?}"),
                }
                assert_eq!(diagnosis.never_sent, *never_sent, "{kind:?}");
            }
        }
    }

    #[test]
    fn tls_errors_are_permanent_even_inside_transient_looking_io() {
        let certificate =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let error = Context(io::Error::new(io::ErrorKind::InvalidData, certificate));
        assert_eq!(diagnose(&error), permanent("tls"));
        let error = io::Error::new(
            io::ErrorKind::ConnectionReset,
            Message("certificate verify failed"),
        );
        assert_eq!(diagnose(&error), permanent("tls"));
        // A server message mentioning certificates inside a status error is just a status.
        let mut status = HttpStatusError::new(503, "http://h/");
        status.error_message = Some("certificate service down".into());
        assert!(classify(&status).is_transient());
    }

    #[test]
    fn h2_errors_are_transient_and_refused_stream_was_never_sent() {
        let reset = diagnose(&h2::Error::from(h2::Reason::INTERNAL_ERROR));
        assert_eq!(reset.kind, "h2");
        assert!(reset.transience.is_transient());
        assert!(!reset.never_sent);
        let refused = diagnose(&Context(h2::Error::from(h2::Reason::REFUSED_STREAM)));
        assert!(refused.transience.is_transient());
        assert!(refused.never_sent);
    }

    #[test]
    fn unknown_errors_are_permanent() {
        assert_eq!(diagnose(&Message("disk full")), permanent("other"));
        assert_eq!(classify(&Context(Message("nope"))), Transience::Permanent);
    }

    #[test]
    fn http_error_is_looked_into() {
        let error = HttpError::from(HttpStatusError::new(502, "http://h/"));
        assert_eq!(diagnose(&error).kind, "status_502");
        assert!(classify(&Context(error)).is_transient());
    }

    #[test]
    fn self_referencing_chain_terminates() {
        #[derive(Debug)]
        struct Loop;
        impl fmt::Display for Loop {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("loop")
            }
        }
        impl Error for Loop {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&Loop)
            }
        }
        assert_eq!(chain(&Loop).count(), 64);
        assert_eq!(classify(&Loop), Transience::Permanent);
    }

    #[test]
    fn reqwest_builder_errors_are_permanent() {
        let error = reqwest::Client::new().get("not a url").build().unwrap_err();
        assert_eq!(diagnose(&error), permanent("builder"));
    }
}
