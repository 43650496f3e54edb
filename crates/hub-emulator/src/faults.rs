//! Fault injection: rules, the shared plan, and the CLI/admin spec syntax.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What to do to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this status (JSON body `{"error": ..}` unless `body` is given).
    Status {
        /// HTTP status code.
        code: u16,
        /// `Retry-After` header value, verbatim (seconds or an HTTP date).
        #[serde(default)]
        retry_after: Option<String>,
        /// Response body, verbatim.
        #[serde(default)]
        body: Option<String>,
    },
    /// Wait, then serve normally.
    #[serde(with = "duration_ms")]
    Delay(Duration),
    /// Close the TCP connection with an RST before sending any response byte.
    ResetConnection,
    /// Never answer (until the emulator shuts down).
    Hang,
    /// Serve normally but cut the body after `after_bytes`, with the full
    /// `Content-Length` already sent (the connection is then closed).
    TruncateBody {
        /// Bytes of the real body sent before the cut.
        after_bytes: usize,
    },
    /// Like `TruncateBody` but the connection is reset (RST) after `after_bytes`.
    ResetDuringBody {
        /// Bytes of the real body sent before the reset.
        after_bytes: usize,
    },
    /// Wait `delay`, then answer `code`: a transfer that runs long, then fails (for clients
    /// whose retry deadline must not count the time spent sending).
    SlowStatus {
        /// How long the request runs before the answer.
        #[serde(with = "duration_ms")]
        delay: Duration,
        /// HTTP status code of the answer.
        code: u16,
    },
    /// 429 with `Retry-After: N` and `RateLimit: "api";r=0;t=N`.
    RateLimit {
        /// Seconds to advertise.
        retry_after_secs: u64,
    },
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

impl Fault {
    /// A short name for logs and the request record.
    pub fn name(&self) -> String {
        match self {
            Fault::Status { code, .. } => format!("status={code}"),
            Fault::Delay(d) => format!("delay={}ms", d.as_millis()),
            Fault::ResetConnection => "reset".into(),
            Fault::Hang => "hang".into(),
            Fault::TruncateBody { after_bytes } => format!("truncate={after_bytes}"),
            Fault::ResetDuringBody { after_bytes } => format!("reset-body={after_bytes}"),
            Fault::RateLimit { retry_after_secs } => format!("rate-limit={retry_after_secs}"),
            Fault::SlowStatus { delay, code } => {
                format!("slow-status={}ms:{code}", delay.as_millis())
            }
        }
    }
}

/// Which request paths a rule applies to. The path is the raw request path
/// (percent-encoded as sent, without the query string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    /// The whole path.
    Exact(String),
    /// A path prefix.
    Prefix(String),
    /// `*` matches any run of characters, including `/`; `?` one character.
    Glob(String),
    /// Every path (except the admin routes, which are never faulted).
    Any,
}

impl PathMatch {
    /// `*` (alone) = any; contains `*`/`?` = glob; ends with `/**`... = glob; otherwise exact.
    /// A `prefix:` prefix selects [`PathMatch::Prefix`].
    pub fn parse(s: &str) -> PathMatch {
        if s == "*" || s.is_empty() {
            PathMatch::Any
        } else if let Some(p) = s.strip_prefix("prefix:") {
            PathMatch::Prefix(p.to_string())
        } else if s.contains('*') || s.contains('?') {
            PathMatch::Glob(s.to_string())
        } else {
            PathMatch::Exact(s.to_string())
        }
    }

    /// Does `path` match?
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => p == path,
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
            PathMatch::Glob(g) => glob_match(g.as_bytes(), path.as_bytes()),
            PathMatch::Any => true,
        }
    }
}

fn glob_match(p: &[u8], s: &[u8]) -> bool {
    // Iterative wildcard match with backtracking on the last `*`.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// How many times a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Times {
    /// The next `n` matching requests, then the rule is removed.
    Next(u32),
    /// Every matching request.
    Always,
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// HTTP method (case-insensitive); `None` = any.
    #[serde(default)]
    pub method: Option<String>,
    /// Path matcher.
    pub path: PathMatch,
    /// What to do.
    pub fault: Fault,
    /// How often.
    #[serde(default = "always")]
    pub times: Times,
}

fn always() -> Times {
    Times::Always
}

impl FaultRule {
    /// A rule for `method` (`None` = any) and a path pattern parsed with [`PathMatch::parse`].
    pub fn new(method: Option<&str>, path: &str, fault: Fault, times: Times) -> FaultRule {
        FaultRule {
            method: method.map(str::to_string),
            path: PathMatch::parse(path),
            fault,
            times,
        }
    }

    /// Parse the CLI / admin spec syntax:
    ///
    /// ```text
    /// [METHOD] PATH ACTION [OPTION...]
    /// METHOD  GET|HEAD|POST|PUT|DELETE|...|*      (omitted or * = any)
    /// PATH    /exact/path | /glob/*/with/* | prefix:/some/prefix | *
    /// ACTION  status=CODE [retry-after=VALUE] [body=TEXT]
    ///         delay=DURATION        (e.g. 500ms, 2s; a bare number is milliseconds)
    ///         reset                 (TCP RST before any response)
    ///         hang                  (never answer)
    ///         truncate=BYTES        (full Content-Length, body cut after BYTES)
    ///         reset-body=BYTES      (RST after BYTES of the body)
    ///         rate-limit=SECS       (429 + Retry-After + RateLimit headers)
    /// OPTION  times=N | times=always   (default: always)
    /// ```
    ///
    /// Examples: `GET /api/whoami-v2 status=503 times=2`,
    /// `POST /api/models/*/commit/* reset times=1`, `PUT /_lfs/part/* truncate=0`.
    pub fn parse_spec(spec: &str) -> Result<FaultRule, String> {
        let mut words = spec.split_whitespace().peekable();
        let first = words.next().ok_or("empty fault spec")?;
        let is_path = |w: &str| w.starts_with('/') || w.starts_with("prefix:") || w == "*";
        let second_is_path = words.peek().is_some_and(|w| is_path(w));
        let (method, path) = if first.starts_with('/')
            || first.starts_with("prefix:")
            || (first == "*" && !second_is_path)
        {
            (None, first.to_string())
        } else {
            let path = words
                .next()
                .ok_or("fault spec needs a PATH after the METHOD")?;
            let m = if first == "*" {
                None
            } else if first.chars().all(|c| c.is_ascii_alphabetic()) {
                Some(first.to_ascii_uppercase())
            } else {
                return Err(format!("bad method {first:?}"));
            };
            (m, path.to_string())
        };
        let mut fault: Option<Fault> = None;
        let mut times = Times::Always;
        let mut retry_after = None;
        let mut body = None;
        let set = |f: &mut Option<Fault>, v: Fault| -> Result<(), String> {
            if f.is_some() {
                return Err("fault spec has more than one action".into());
            }
            *f = Some(v);
            Ok(())
        };
        for w in words {
            let (k, v) = match w.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (w, None),
            };
            let num = |v: Option<&str>| -> Result<u64, String> {
                v.ok_or(format!("{k} needs a value"))?
                    .parse::<u64>()
                    .map_err(|_| format!("{k}: not a number"))
            };
            match k {
                "status" => {
                    let code = num(v)?;
                    if !(100..=999).contains(&code) {
                        return Err(format!("status {code} out of range"));
                    }
                    set(
                        &mut fault,
                        Fault::Status {
                            code: code as u16,
                            retry_after: None,
                            body: None,
                        },
                    )?
                }
                "retry-after" | "retry_after" => retry_after = v.map(str::to_string),
                "body" => body = v.map(str::to_string),
                "delay" => set(
                    &mut fault,
                    Fault::Delay(parse_duration(v.ok_or("delay needs a value")?)?),
                )?,
                "slow-status" | "slow_status" => {
                    let (delay, code) = v
                        .and_then(|v| v.split_once(':'))
                        .ok_or("slow-status needs DURATION:CODE")?;
                    set(
                        &mut fault,
                        Fault::SlowStatus {
                            delay: parse_duration(delay)?,
                            code: code.parse().map_err(|_| format!("bad status {code:?}"))?,
                        },
                    )?;
                }
                "reset" => set(&mut fault, Fault::ResetConnection)?,
                "hang" => set(&mut fault, Fault::Hang)?,
                "truncate" => set(
                    &mut fault,
                    Fault::TruncateBody {
                        after_bytes: num(v)? as usize,
                    },
                )?,
                "reset-body" | "reset_body" => set(
                    &mut fault,
                    Fault::ResetDuringBody {
                        after_bytes: num(v)? as usize,
                    },
                )?,
                "rate-limit" | "rate_limit" => set(
                    &mut fault,
                    Fault::RateLimit {
                        retry_after_secs: num(v)?,
                    },
                )?,
                "times" => {
                    times = match v {
                        Some("always") => Times::Always,
                        _ => Times::Next(num(v)? as u32),
                    }
                }
                other => return Err(format!("unknown fault spec word {other:?}")),
            }
        }
        let mut fault = fault.ok_or(
            "fault spec needs an action: status=N, delay=D, reset, hang, truncate=N, reset-body=N or rate-limit=S",
        )?;
        if let Fault::Status {
            retry_after: ra,
            body: b,
            ..
        } = &mut fault
        {
            *ra = retry_after;
            *b = body;
        } else if retry_after.is_some() || body.is_some() {
            return Err("retry-after= and body= only go with status=".into());
        }
        Ok(FaultRule {
            method,
            path: PathMatch::parse(&path),
            fault,
            times,
        })
    }
}

/// `500ms`, `2s`, `1.5s`, or a bare number of milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration {s:?} (use e.g. 500ms or 2s)");
    if let Some(ms) = s.strip_suffix("ms") {
        ms.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| bad())
    } else if let Some(secs) = s.strip_suffix('s') {
        secs.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(bad)
    } else {
        s.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| bad())
    }
}

#[derive(Debug)]
struct RandomMix {
    rng: fastrand::Rng,
    probability: f64,
    faults: Vec<Fault>,
}

#[derive(Debug, Default)]
struct PlanInner {
    rules: Vec<FaultRule>,
    random: Option<RandomMix>,
}

/// The shared, mutable fault plan. Cloning gives another handle to the same plan.
///
/// Rules are checked in insertion order; the first match fires (and is used up
/// if it is `Times::Next`). If no rule matches, the random mix (if any) may pick
/// a fault. Admin routes (`/_emulator/...`) are never faulted.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    inner: Arc<Mutex<PlanInner>>,
}

impl FaultPlan {
    /// An empty plan.
    pub fn new() -> FaultPlan {
        FaultPlan::default()
    }

    /// A plan whose only content is a seeded random mix: each request (admin
    /// routes excepted) gets, with `probability`, one of `faults` picked uniformly.
    /// The same seed and request order give the same faults.
    pub fn random_mix(seed: u64, probability: f64, faults: Vec<Fault>) -> FaultPlan {
        let plan = FaultPlan::new();
        plan.set_random_mix(seed, probability, faults);
        plan
    }

    /// Install (or replace) the random mix on this plan.
    pub fn set_random_mix(&self, seed: u64, probability: f64, faults: Vec<Fault>) {
        self.lock().random = Some(RandomMix {
            rng: fastrand::Rng::with_seed(seed),
            probability: probability.clamp(0.0, 1.0),
            faults,
        });
    }

    /// The default mix used by `--random-faults`: 500, 503 with Retry-After: 1,
    /// 429 rate limit (1 s), a connection reset, and a 200 ms delay.
    pub fn default_random_faults() -> Vec<Fault> {
        vec![
            Fault::Status {
                code: 500,
                retry_after: None,
                body: None,
            },
            Fault::Status {
                code: 503,
                retry_after: Some("1".into()),
                body: None,
            },
            Fault::RateLimit {
                retry_after_secs: 1,
            },
            Fault::ResetConnection,
            Fault::Delay(Duration::from_millis(200)),
        ]
    }

    /// Add a rule (checked after the existing ones).
    pub fn add(&self, rule: FaultRule) {
        self.lock().rules.push(rule);
    }

    /// Remove every rule and the random mix.
    pub fn clear(&self) {
        let mut g = self.lock();
        g.rules.clear();
        g.random = None;
    }

    /// The rules still active.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock().rules.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PlanInner> {
        crate::server::unpoisoned(self.inner.lock())
    }

    /// Pick the fault for a request, consuming one use of the matching rule.
    pub(crate) fn take(&self, method: &str, path: &str) -> Option<Fault> {
        let mut g = self.lock();
        let idx = g.rules.iter().position(|r| {
            r.method
                .as_deref()
                .is_none_or(|m| m == "*" || m.eq_ignore_ascii_case(method))
                && r.path.matches(path)
        });
        if let Some(i) = idx {
            let fault = g.rules[i].fault.clone();
            if let Times::Next(n) = &mut g.rules[i].times {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    g.rules.remove(i);
                }
            }
            return Some(fault);
        }
        let mix = g.random.as_mut()?;
        if mix.faults.is_empty() || mix.rng.f64() >= mix.probability {
            return None;
        }
        let i = mix.rng.usize(..mix.faults.len());
        Some(mix.faults[i].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parsing() {
        let r = FaultRule::parse_spec("GET /api/whoami-v2 status=503 times=2").unwrap();
        assert_eq!(r.method.as_deref(), Some("GET"));
        assert_eq!(r.path, PathMatch::Exact("/api/whoami-v2".into()));
        assert_eq!(r.times, Times::Next(2));
        let r = FaultRule::parse_spec("POST /api/models/*/commit/* reset times=1").unwrap();
        assert_eq!(r.fault, Fault::ResetConnection);
        assert!(r.path.matches("/api/models/alice/m1/commit/main"));
        assert!(!r.path.matches("/api/models/alice/m1/preupload/main"));
        let r = FaultRule::parse_spec("/x status=429 retry-after=3 body=nope").unwrap();
        assert_eq!(r.method, None);
        assert_eq!(
            r.fault,
            Fault::Status {
                code: 429,
                retry_after: Some("3".into()),
                body: Some("nope".into())
            }
        );
        assert_eq!(
            FaultRule::parse_spec("* hang").unwrap().path,
            PathMatch::Any
        );
        assert_eq!(
            FaultRule::parse_spec("* * delay=1.5s").unwrap().fault,
            Fault::Delay(Duration::from_millis(1500))
        );
        for bad in [
            "",
            "GET",
            "GET /x",
            "GET /x hang reset",
            "GET /x bogus",
            "/x delay=abc",
            "/x hang body=1",
        ] {
            assert!(FaultRule::parse_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn next_n_is_consumed_and_random_is_seeded() {
        let p = FaultPlan::new();
        p.add(FaultRule::parse_spec("GET /a status=503 times=2").unwrap());
        assert!(p.take("GET", "/a").is_some());
        assert!(p.take("POST", "/a").is_none());
        assert!(p.take("GET", "/a").is_some());
        assert!(p.take("GET", "/a").is_none());
        let run = || {
            let p = FaultPlan::random_mix(7, 0.5, FaultPlan::default_random_faults());
            (0..50)
                .map(|_| p.take("GET", "/x").map(|f| f.name()))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(Option::is_some) && a.iter().any(Option::is_none));
    }

    #[test]
    fn json_shape() {
        let r: FaultRule = serde_json::from_str(
            r#"{"method":"GET","path":{"glob":"/api/*"},"fault":{"status":{"code":503}},"times":{"next":2}}"#,
        )
        .unwrap();
        assert_eq!(r.times, Times::Next(2));
        let r: FaultRule = serde_json::from_str(r#"{"path":"any","fault":{"delay":20}}"#).unwrap();
        assert_eq!(r.fault, Fault::Delay(Duration::from_millis(20)));
    }
}
