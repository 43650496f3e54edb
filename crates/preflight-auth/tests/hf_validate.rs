//! `validate_hf_token` against the real hub-emulator: identities, permissions, 401s, faults.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hub_emulator::{Fault, FaultRule, PathMatch, RunningEmulator, Times, TokenRole, TokenSpec};
use preflight_auth::{
    AuthValidator, HfOptions, MapEnv, PermissionVerdict, Provider, RepoTarget, TokenStatus,
    TokenValidationResult,
};
use preflight_errors::Code;
use preflight_retry::RetryConfig;
use preflight_test_support::assert_no_secret;
use preflight_test_support::hub::{TOKEN_NAME, count_requests, start_alice_hub_async};
use preflight_test_support::tokens::{
    OTHER_ORG_TOKEN as OTHER_ORG, READ_TOKEN as READ, REPO_SCOPED_TOKEN as REPO_SCOPED,
    REVOKED_TOKEN as REVOKED, UNKNOWN_TOKEN as UNKNOWN, WRITE_TOKEN as WRITE,
};

/// The emulator with the fixture tokens: `READ`, `WRITE`, `REVOKED`, `OTHER_ORG` (fine-grained,
/// org `other-org` only) and `REPO_SCOPED` (fine-grained, `acme/m1` only), all of `alice`.
async fn emulator() -> RunningEmulator {
    start_alice_hub_async().await
}

fn options(endpoint: &str) -> HfOptions {
    HfOptions {
        endpoint: Some(endpoint.to_owned()),
        retry: RetryConfig::default().without_delays(),
        ..HfOptions::default()
    }
}

fn target(repo: &str, need: &str) -> Option<RepoTarget> {
    Some(RepoTarget::parse(repo, "model", need).expect("valid target"))
}

async fn run(env: MapEnv, options: HfOptions) -> TokenValidationResult {
    AuthValidator::new(Arc::new(env))
        .with_hf_options(options)
        .validate_hf_token()
        .await
}

/// Fails if `token` is in the result's `Debug` or JSON form.
fn assert_no_leak(result: &TokenValidationResult, token: &str) {
    let debug = format!("{result:?}");
    let json = serde_json::to_string(result).expect("serializes");
    assert_no_secret(
        [("Debug", debug.as_str()), ("JSON", json.as_str())],
        &[token],
    );
}

fn whoami_requests(emu: &RunningEmulator) -> usize {
    count_requests(emu, "GET", "/api/whoami-v2")
}

#[tokio::test]
async fn valid_read_token_reads_but_cannot_write() {
    let emu = emulator().await;
    let env = MapEnv::new().with("HF_TOKEN", READ);
    let result = run(env.clone(), options(&emu.url())).await;
    assert_eq!(result.status, TokenStatus::Valid, "{}", result.message);
    assert!(result.passed());
    assert_eq!(result.token_role.as_deref(), Some("read"));
    assert_eq!(
        result.identity.as_ref().and_then(|i| i.name.as_deref()),
        Some("alice")
    );
    assert_eq!(result.source.as_deref(), Some("env:HF_TOKEN"));
    assert_eq!(result.masked_token.as_deref(), Some("hf_…Rk5w"));
    assert!(result.configured);
    assert!(result.code.is_none() && result.remediation.is_none());
    assert_eq!(whoami_requests(&emu), 1, "exactly one call");
    assert_no_leak(&result, READ);

    let mut write = options(&emu.url());
    write.target = target("alice/model", "write");
    let result = run(env, write).await;
    assert_eq!(result.status, TokenStatus::Valid);
    let permission = result.permission.as_ref().expect("checked");
    assert_eq!(permission.verdict, PermissionVerdict::Forbidden);
    assert!(permission.reason.contains("read token cannot write"));
    assert_eq!(result.code, Some(Code::Pf005));
    assert_ne!(Code::Pf005.exit_status(), Code::Pf003.exit_status());
    assert!(!result.passed());
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("repo.write on alice")
    );
    assert_no_leak(&result, READ);
}

#[tokio::test]
async fn valid_write_token_writes_to_user_and_org() {
    let emu = emulator().await;
    // Endpoint from HF_ENDPOINT this time, with a trailing slash.
    let env = MapEnv::new()
        .with("HUGGING_FACE_HUB_TOKEN", WRITE)
        .with("HF_ENDPOINT", format!("{}/", emu.url()));
    for repo in ["alice/m", "acme/m"] {
        let mut opts = options(&emu.url());
        opts.endpoint = None;
        opts.target = target(repo, "write");
        let result = run(env.clone(), opts).await;
        assert_eq!(result.status, TokenStatus::Valid, "{}", result.message);
        assert_eq!(result.token_role.as_deref(), Some("write"));
        assert_eq!(result.source.as_deref(), Some("env:HUGGING_FACE_HUB_TOKEN"));
        assert_eq!(
            result.identity.as_ref().map(|i| i.orgs.clone()),
            Some(vec!["acme".to_owned()])
        );
        assert_eq!(
            result.permission.as_ref().map(|p| p.verdict),
            Some(PermissionVerdict::Allowed)
        );
        assert!(result.passed());
        assert_no_leak(&result, WRITE);
    }
    let mut opts = options(&emu.url());
    opts.target = target("bob/m", "write");
    let result = run(env, opts).await;
    assert_eq!(result.code, Some(Code::Pf005));
    assert!(
        result
            .message
            .contains("bob is neither the user nor one of its orgs"),
        "{}",
        result.message
    );
}

#[tokio::test]
async fn fine_grained_token_scoped_to_another_org_is_forbidden() {
    let emu = emulator().await;
    let mut opts = options(&emu.url());
    opts.target = target("acme/m1", "write");
    let result = run(MapEnv::new().with("HF_TOKEN", OTHER_ORG), opts).await;
    assert_eq!(result.status, TokenStatus::Valid);
    assert_eq!(result.token_role.as_deref(), Some("fineGrained"));
    assert_eq!(result.scopes.len(), 1);
    assert_eq!(result.scopes[0].entity_name, "other-org");
    assert_eq!(
        result
            .identity
            .as_ref()
            .and_then(|i| i.token_name.as_deref()),
        Some(TOKEN_NAME)
    );
    let permission = result.permission.as_ref().expect("checked");
    assert_eq!(permission.verdict, PermissionVerdict::Forbidden);
    assert!(
        permission
            .reason
            .contains("fine-grained token scoped to org other-org has no repo.write on acme"),
        "{}",
        permission.reason
    );
    assert_eq!(result.code, Some(Code::Pf005));
    assert_no_leak(&result, OTHER_ORG);
}

#[tokio::test]
async fn repo_scoped_token_is_allowed_only_on_its_repo() {
    let emu = emulator().await;
    let env = MapEnv::new().with("HF_TOKEN", REPO_SCOPED);
    let mut opts = options(&emu.url());
    opts.target = target("acme/m1", "write");
    let result = run(env.clone(), opts).await;
    let permission = result.permission.as_ref().expect("checked");
    assert_eq!(permission.verdict, PermissionVerdict::Allowed);
    assert!(
        permission
            .reason
            .contains("creating it needs repo.write on namespace acme")
    );
    assert!(result.passed());

    let mut opts = options(&emu.url());
    opts.target = target("acme/m2", "write");
    let result = run(env, opts).await;
    assert_eq!(
        result.permission.as_ref().map(|p| p.verdict),
        Some(PermissionVerdict::Forbidden)
    );
    assert_eq!(result.code, Some(Code::Pf005));
    assert_no_leak(&result, REPO_SCOPED);
}

#[tokio::test]
async fn revoked_token_is_invalid_after_exactly_one_request() {
    let emu = emulator().await;
    let mut opts = options(&emu.url());
    opts.target = target("alice/m", "write");
    let started = Instant::now();
    let result = run(MapEnv::new().with("HF_TOKEN", REVOKED), opts).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(result.status, TokenStatus::Invalid);
    assert_eq!(result.code, Some(Code::Pf003));
    assert_eq!(whoami_requests(&emu), 1, "a 401 is never retried");
    assert!(
        result.message.contains("env:HF_TOKEN"),
        "{}",
        result.message
    );
    assert!(
        result
            .message
            .contains("does not tell an expired token from a revoked")
    );
    assert!(
        result
            .message
            .contains("Invalid credentials in Authorization header")
    );
    let remediation = result.remediation.as_deref().unwrap_or("");
    assert!(remediation.contains("HF_TOKEN overrides the login stored by `hf auth login`"));
    assert!(remediation.contains("unset HF_TOKEN"));
    let permission = result.permission.as_ref().expect("asked for");
    assert_eq!(permission.verdict, PermissionVerdict::Undetermined);
    assert_no_leak(&result, REVOKED);
}

#[tokio::test]
async fn unknown_token_from_file_names_the_file_and_login() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("token");
    std::fs::write(&path, format!("{UNKNOWN}\n")).expect("write");
    let result = run(
        MapEnv::new().with("HF_TOKEN_PATH", &path),
        options(&emu.url()),
    )
    .await;
    assert_eq!(result.status, TokenStatus::Invalid);
    assert!(result.message.contains(&format!("file:{}", path.display())));
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("hf auth login --force")
    );
    assert_eq!(whoami_requests(&emu), 1);
    assert_no_leak(&result, UNKNOWN);
}

#[tokio::test]
async fn legacy_source_remediation() {
    let emu = emulator().await;
    let result = run(
        MapEnv::new().with("HUGGING_FACE_HUB_TOKEN", UNKNOWN),
        options(&emu.url()),
    )
    .await;
    assert_eq!(result.code, Some(Code::Pf003));
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("unset HUGGING_FACE_HUB_TOKEN")
    );
}

fn whoami_fault(emu: &RunningEmulator, fault: Fault, times: Times) {
    emu.faults().add(FaultRule {
        method: Some("GET".into()),
        path: PathMatch::Exact("/api/whoami-v2".into()),
        fault,
        times,
    });
}

#[tokio::test]
async fn hanging_route_is_unknown_within_the_deadline() {
    let emu = emulator().await;
    whoami_fault(&emu, Fault::Hang, Times::Always);
    let mut opts = options(&emu.url());
    opts.timeout = Duration::from_millis(500);
    let started = Instant::now();
    let result = run(MapEnv::new().with("HF_TOKEN", WRITE), opts).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded by the deadline"
    );
    assert_eq!(result.status, TokenStatus::Unknown);
    assert_eq!(result.code, Some(Code::Pf006));
    assert!(
        result.message.contains("within 500 ms"),
        "{}",
        result.message
    );
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("--timeout")
    );
    assert_no_leak(&result, WRITE);
}

#[tokio::test]
async fn two_503s_then_200_is_valid_after_three_requests() {
    let emu = emulator().await;
    whoami_fault(
        &emu,
        Fault::Status {
            code: 503,
            retry_after: None,
            body: None,
        },
        Times::Next(2),
    );
    let result = run(MapEnv::new().with("HF_TOKEN", WRITE), options(&emu.url())).await;
    assert_eq!(result.status, TokenStatus::Valid, "{}", result.message);
    let statuses: Vec<u16> = emu
        .requests()
        .iter()
        .filter(|r| r.path == "/api/whoami-v2")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![503, 503, 200]);
    assert!(emu.requests().iter().all(|r| r.auth_present));
}

#[tokio::test]
async fn persistent_rate_limit_and_server_errors_are_unknown_pf007() {
    let emu = emulator().await;
    whoami_fault(
        &emu,
        Fault::RateLimit {
            retry_after_secs: 0,
        },
        Times::Always,
    );
    let mut opts = options(&emu.url());
    opts.retry = RetryConfig::default().without_delays().with_max_attempts(3);
    let result = run(MapEnv::new().with("HF_TOKEN", WRITE), opts.clone()).await;
    assert_eq!(result.status, TokenStatus::Unknown);
    assert_eq!(result.code, Some(Code::Pf007));
    assert!(
        result.message.contains("rate-limited"),
        "{}",
        result.message
    );
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("wait a minute")
    );
    assert_eq!(whoami_requests(&emu), 3);

    emu.faults().clear();
    whoami_fault(
        &emu,
        Fault::Status {
            code: 502,
            retry_after: None,
            body: Some("{\"error\":\"bad gateway\"}".into()),
        },
        Times::Always,
    );
    let result = run(MapEnv::new().with("HF_TOKEN", WRITE), opts).await;
    assert_eq!(result.code, Some(Code::Pf007));
    assert!(
        result
            .message
            .contains("HTTP 502 (server error) after 3 attempt(s)"),
        "{}",
        result.message
    );
}

#[tokio::test]
async fn unexpected_status_and_non_json_body_are_pf007() {
    let emu = emulator().await;
    whoami_fault(
        &emu,
        Fault::Status {
            code: 404,
            retry_after: None,
            body: None,
        },
        Times::Next(1),
    );
    let env = MapEnv::new().with("HF_TOKEN", WRITE);
    let result = run(env.clone(), options(&emu.url())).await;
    assert_eq!(result.code, Some(Code::Pf007));
    assert!(
        result.message.contains("unexpected HTTP 404"),
        "{}",
        result.message
    );

    whoami_fault(
        &emu,
        Fault::Status {
            code: 200,
            retry_after: None,
            body: Some("<html>captive portal</html>".into()),
        },
        Times::Next(1),
    );
    let result = run(env, options(&emu.url())).await;
    assert_eq!(result.status, TokenStatus::Unknown);
    assert_eq!(result.code, Some(Code::Pf007));
    assert!(
        result.message.contains("not a whoami-v2 answer"),
        "{}",
        result.message
    );
}

#[tokio::test]
async fn reset_connection_is_unknown_pf006() {
    let emu = emulator().await;
    whoami_fault(&emu, Fault::ResetConnection, Times::Always);
    let mut opts = options(&emu.url());
    opts.retry = RetryConfig::default().without_delays().with_max_attempts(2);
    let result = run(MapEnv::new().with("HF_TOKEN", WRITE), opts).await;
    assert_eq!(result.status, TokenStatus::Unknown);
    assert_eq!(result.code, Some(Code::Pf006), "{}", result.message);
    assert_no_leak(&result, WRITE);
}

#[tokio::test]
async fn a_reset_connection_is_retried_like_any_flaky_path() {
    let emu = emulator().await;
    whoami_fault(&emu, Fault::ResetConnection, Times::Next(1));
    let mut opts = options(&emu.url());
    opts.retry = RetryConfig::default().without_delays();
    let result = run(MapEnv::new().with("HF_TOKEN", WRITE), opts).await;
    assert_eq!(result.status, TokenStatus::Valid, "{}", result.message);
    assert_eq!(whoami_requests(&emu), 2, "one reset, one success");
    assert_no_leak(&result, WRITE);
}

#[tokio::test]
async fn connection_refused_is_unknown_at_once() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let started = Instant::now();
    let result = run(
        MapEnv::new().with("HF_TOKEN", WRITE),
        options(&format!("http://127.0.0.1:{port}")),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(result.status, TokenStatus::Unknown);
    assert_eq!(result.code, Some(Code::Pf006));
    assert!(
        result.message.contains("could not reach"),
        "{}",
        result.message
    );
    assert_no_leak(&result, WRITE);
}

#[tokio::test]
async fn unresolvable_host_is_unknown() {
    let mut opts = options("http://nonexistent.invalid");
    opts.timeout = Duration::from_secs(3);
    let result = run(MapEnv::new().with("HF_TOKEN", WRITE), opts).await;
    assert_eq!(result.status, TokenStatus::Unknown);
    assert_eq!(result.code, Some(Code::Pf006), "{}", result.message);
    assert!(result.message.contains("nonexistent.invalid"));
    assert_no_leak(&result, WRITE);
}

#[tokio::test]
async fn unusual_shape_warns_but_is_still_checked() {
    let emu = emulator().await;
    emu.add_token(TokenSpec::new(
        "hf_short_but_real",
        "alice",
        TokenRole::Write,
    ));
    let result = run(
        MapEnv::new().with("HF_TOKEN", "hf_short_but_real"),
        options(&emu.url()),
    )
    .await;
    assert_eq!(result.status, TokenStatus::Valid);
    assert!(
        result
            .warnings
            .iter()
            .any(|w| w.contains("usually hf_ followed by 34"))
    );
    assert_no_leak(&result, "hf_short_but_real");
}

#[tokio::test]
async fn custom_client_and_all_tokens() {
    let emu = emulator().await;
    let mut opts = options(&emu.url());
    opts.client = Some(reqwest::Client::new());
    let validator = AuthValidator::new(Arc::new(MapEnv::new().with("HF_TOKEN", WRITE)))
        .with_hf_options(opts)
        .with_modal_options(preflight_auth::ModalOptions::default());
    assert!(format!("{validator:?}").contains("AuthValidator"));
    assert_no_secret([("Debug", format!("{validator:?}").as_str())], &[WRITE]);
    assert_eq!(validator.hf_options().timeout, Duration::from_secs(5));
    let results = validator.validate_all_tokens().await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].provider, Provider::Hf);
    assert_eq!(results[0].status, TokenStatus::Valid);
    assert_eq!(results[1].provider, Provider::Modal);
    assert!(results[0].latency > Duration::ZERO);
}

/// A `tracing` writer that keeps everything written to it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn one_masked_event_per_validation() {
    let emu = emulator().await;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut opts = options(&emu.url());
    opts.target = target("acme/m1", "write");
    run(MapEnv::new().with("HF_TOKEN", OTHER_ORG), opts).await;
    let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf8");
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|event: &serde_json::Value| event["fields"]["event"] == "token_validated")
        .collect();
    assert_eq!(events.len(), 1, "{text}");
    let fields = &events[0]["fields"];
    assert_eq!(events[0]["target"], "preflight::auth");
    assert_eq!(fields["provider"], "hf");
    assert_eq!(fields["status"], "VALID");
    assert_eq!(fields["source"], "env:HF_TOKEN");
    assert_eq!(fields["masked_token"], "hf_…4Qc0");
    assert_eq!(fields["code"], "PF005");
    assert_eq!(fields["identity"], "alice");
    assert_eq!(fields["repo"], "acme/m1");
    assert_eq!(fields["permission"], "forbidden");
    assert!(fields["latency_ms"].is_u64());
    assert_no_secret([("the log", text.as_str())], &[OTHER_ORG]);
}

#[tokio::test]
async fn truncated_body_is_unknown_and_header_unsafe_tokens_are_never_sent() {
    let emu = emulator().await;
    whoami_fault(&emu, Fault::TruncateBody { after_bytes: 10 }, Times::Always);
    let mut opts = options(&emu.url());
    opts.retry = RetryConfig::default().without_delays().with_max_attempts(2);
    let result = run(MapEnv::new().with("HF_TOKEN", WRITE), opts).await;
    assert_eq!(result.status, TokenStatus::Unknown, "{}", result.message);
    assert_no_leak(&result, WRITE);

    // The public whoami call refuses a token that cannot be a header value, before sending.
    emu.clear_requests();
    let error = preflight_auth::hf::fetch_whoami(
        &reqwest::Client::new(),
        &emu.url(),
        &preflight_auth::Secret::new("hf_bad\nvalue"),
        &RetryConfig::default(),
        Duration::from_secs(1),
    )
    .await
    .expect_err("unsendable");
    assert_eq!(error.code(), Code::Pf002);
    assert!(emu.requests().is_empty());
}
