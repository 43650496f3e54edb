//! OAuth refresh and Trusted Publishers exchange through `AuthValidator::validate_hf`, against
//! the Hub emulator's `/oauth/token` and fake GitHub id-token endpoint.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hub_emulator::{IdTokenRequest, OidcSettings, RunningEmulator, TrustedPublisher};
use preflight_auth::{
    AuthValidator, HfOptions, MapEnv, RepoTarget, Secret, SecretSink, TokenStatus,
};
use preflight_errors::Code;
use preflight_test_support::assert_no_secret;
use preflight_test_support::hub::{alice_oauth_login, start_alice_hub_async};
use preflight_test_support::tokens::{
    ACTIONS_REQUEST_TOKEN as REQUEST, OAUTH_ACCESS_TOKEN as ACCESS, OAUTH_REFRESH_TOKEN as REFRESH,
    WRITE_TOKEN as WRITE,
};

const SUB: &str = "repo:acme/train:ref:refs/heads/main";

/// Formats every event into a sink, so the refresh and exchange events are built as they are
/// for the auth log (a panic while formatting a field would fail the test). Installed once per
/// test process; later calls are no-ops.
fn capture_events() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .try_init();
}

async fn emulator() -> RunningEmulator {
    capture_events();
    let emu = start_alice_hub_async().await;
    emu.add_oauth_login(alice_oauth_login()).expect("login");
    emu.set_oidc(OidcSettings {
        request_token: Some(REQUEST.into()),
        ..OidcSettings::default()
    });
    for (resource, subject) in [
        ("alice/m1", SUB),
        ("alice/other", "repo:x/y:ref:refs/heads/main"),
        ("alice", SUB),
    ] {
        emu.add_trusted_publisher(TrustedPublisher {
            resource: resource.into(),
            issuer: None,
            subject: Some(subject.into()),
            claims: BTreeMap::new(),
            read_only: false,
            user: None,
        })
        .expect("publisher");
    }
    let client = reqwest::Client::new();
    for name in ["m1", "other"] {
        client
            .post(format!("{}/api/repos/create", emu.url()))
            .bearer_auth(WRITE)
            .json(&serde_json::json!({"name": name, "organization": "alice"}))
            .send()
            .await
            .expect("create repo");
    }
    emu
}

fn store_login(home: &Path) {
    let dir = home.join(".cache/huggingface");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("token"), ACCESS).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    fs::write(
        dir.join("stored_tokens"),
        format!(
            "[oauth-alice]\nhf_token = {ACCESS}\nrefresh_token = {REFRESH}\nexpires_at = {}\n",
            now - 60
        ),
    )
    .unwrap();
}

fn validator(
    env: MapEnv,
    emu: &RunningEmulator,
    target: Option<&str>,
    seen: Arc<Mutex<Vec<String>>>,
) -> AuthValidator {
    let options = HfOptions {
        endpoint: Some(emu.url()),
        timeout: Duration::from_secs(10),
        target: target.map(|repo| RepoTarget::parse(repo, "model", "write").unwrap()),
        on_secret: Some(SecretSink::new(move |secret: &Secret| {
            seen.lock().unwrap().push(secret.expose().to_owned());
        })),
        ..HfOptions::default()
    };
    AuthValidator::new(Arc::new(env)).with_hf_options(options)
}

#[tokio::test]
async fn an_expired_oauth_login_is_refreshed_and_can_be_refreshed_again() {
    let emu = emulator().await;
    let home = tempfile::tempdir().unwrap();
    store_login(home.path());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let auth = validator(
        MapEnv::new().with_home(home.path()),
        &emu,
        None,
        seen.clone(),
    );

    let validation = auth.validate_hf(auth.discover_hf()).await;
    assert_eq!(
        validation.result.status,
        TokenStatus::Valid,
        "{}",
        validation.result.message
    );
    assert_eq!(
        validation
            .result
            .details
            .get("refreshed")
            .map(String::as_str),
        Some("true")
    );
    let token = validation.token.expect("validated token");
    let file = fs::read_to_string(home.path().join(".cache/huggingface/token")).unwrap();
    assert_eq!(file, token.expose());
    let stored = fs::read_to_string(home.path().join(".cache/huggingface/stored_tokens")).unwrap();
    assert!(stored.contains(token.expose()) && !stored.contains(REFRESH));
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|value| value == token.expose()),
        "sink saw the new token"
    );
    assert!(validation.renewal.can_renew());

    // A forced renewal (a 401 mid-upload) refreshes again with the rotated refresh token.
    let (again, _) = validation.renewal.renew(&token).await.expect("renewed");
    assert_ne!(again.expose(), token.expose());
    assert_eq!(emu.oauth_counters().refreshes_granted, 2);
    let debug = format!("{:?}", validation.result);
    assert_no_secret(
        [("Debug", debug.as_str())],
        &[ACCESS, REFRESH, token.expose()],
    );
}

#[tokio::test]
async fn a_revoked_refresh_token_is_expired() {
    let emu = emulator().await;
    let home = tempfile::tempdir().unwrap();
    store_login(home.path());
    // Use the refresh token once elsewhere: it is rotated away.
    reqwest::Client::new()
        .post(format!("{}/oauth/token", emu.url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={REFRESH}&client_id=26be6b09-91c5-47da-9861-d2d2bb7a7e36"
        ))
        .send()
        .await
        .unwrap();
    let auth = validator(
        MapEnv::new().with_home(home.path()),
        &emu,
        None,
        Arc::default(),
    );
    let result = auth.validate_hf(auth.discover_hf()).await.result;
    assert_eq!(
        (result.status, result.code),
        (TokenStatus::Expired, Some(Code::Pf004))
    );
    assert!(
        result
            .remediation
            .unwrap_or_default()
            .contains("hf auth login")
    );
}

fn github(emu: &RunningEmulator, resource: &str) -> MapEnv {
    MapEnv::new()
        .with("HF_OIDC_RESOURCE", resource)
        .with("GITHUB_ACTIONS", "true")
        .with(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/_actions/id-token?api-version=2.0", emu.url()),
        )
        .with("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST)
}

#[tokio::test]
async fn trusted_publishers_exchange_and_its_failures() {
    let emu = emulator().await;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let auth = validator(
        github(&emu, "alice/m1"),
        &emu,
        Some("alice/m1"),
        seen.clone(),
    );
    let validation = auth.validate_hf(auth.discover_hf()).await;
    assert_eq!(
        validation.result.status,
        TokenStatus::Valid,
        "{}",
        validation.result.message
    );
    assert_eq!(validation.result.code, None);
    assert_eq!(validation.result.source.as_deref(), Some("oidc:github"));
    let token = validation.token.clone().expect("exchanged");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|value| value == token.expose())
    );
    let (renewed, expires) = validation
        .renewal
        .renew(&token)
        .await
        .expect("re-exchanged");
    assert_ne!(renewed.expose(), token.expose());
    assert!(expires.is_some());

    let id_token = emu.mint_id_token(&IdTokenRequest::default()).unwrap();
    let env = MapEnv::new()
        .with("HF_OIDC_RESOURCE", "alice/m1")
        .with("HF_OIDC_ID_TOKEN", &id_token);
    let auth = validator(env, &emu, Some("alice/m1"), Arc::default());
    let result = auth.validate_hf(auth.discover_hf()).await.result;
    assert_eq!(result.status, TokenStatus::Valid, "{}", result.message);
    assert_eq!(result.source.as_deref(), Some("oidc:HF_OIDC_ID_TOKEN"));
    assert_no_secret([("Debug", format!("{result:?}").as_str())], &[&id_token]);

    let auth = validator(
        github(&emu, "alice/other"),
        &emu,
        Some("alice/other"),
        Arc::default(),
    );
    let refused = auth.validate_hf(auth.discover_hf()).await.result;
    assert_eq!(
        (refused.status, refused.code),
        (TokenStatus::Invalid, Some(Code::Pf011))
    );
    assert!(
        refused
            .remediation
            .unwrap_or_default()
            .contains("alice/other")
    );

    let auth = validator(
        github(&emu, "alice"),
        &emu,
        Some("alice/m1"),
        Arc::default(),
    );
    let user = auth.validate_hf(auth.discover_hf()).await.result;
    assert_eq!(user.code, Some(Code::Pf012));

    // A pre-minted id token cannot be re-minted: renewal after it was refused is unavailable.
    let expired_id = emu
        .mint_id_token(&IdTokenRequest {
            lifetime_secs: Some(-10),
            ..IdTokenRequest::default()
        })
        .unwrap();
    let env = MapEnv::new()
        .with("HF_OIDC_RESOURCE", "alice/m1")
        .with("HF_OIDC_ID_TOKEN", &expired_id);
    let auth = validator(env, &emu, None, Arc::default());
    let expired = auth.validate_hf(auth.discover_hf()).await;
    assert_eq!(expired.result.code, Some(Code::Pf011));

    // No answer at all: UNKNOWN.
    let dead = HfOptions {
        endpoint: Some("http://127.0.0.1:9".into()),
        timeout: Duration::from_secs(2),
        ..HfOptions::default()
    };
    let env = MapEnv::new()
        .with("HF_OIDC_RESOURCE", "alice/m1")
        .with("HF_OIDC_ID_TOKEN", &id_token);
    let unanswered = AuthValidator::new(Arc::new(env))
        .with_hf_options(dead)
        .validate_hf_token()
        .await;
    assert_eq!(
        (unanswered.status, unanswered.code),
        (TokenStatus::Unknown, Some(Code::Pf013))
    );
}

/// A refresh that gets no usable answer (an error that is not `invalid_grant`, or no JSON at
/// all) is UNKNOWN (PF014) and writes nothing: the login stays as it was, for the next try.
#[tokio::test]
async fn a_refresh_without_a_usable_answer_is_unknown_and_writes_nothing() {
    for body in [r#"{"error":"server_error"}"#, "<html>maintenance</html>"] {
        let emu = emulator().await;
        emu.faults().add(hub_emulator::FaultRule {
            method: Some("POST".into()),
            path: hub_emulator::PathMatch::Exact("/oauth/token".into()),
            fault: hub_emulator::Fault::Status {
                code: 400,
                retry_after: None,
                body: Some(body.to_owned()),
            },
            times: hub_emulator::Times::Always,
        });
        let home = tempfile::tempdir().unwrap();
        store_login(home.path());
        let token_path = home.path().join(".cache/huggingface/token");
        let stored_path = home.path().join(".cache/huggingface/stored_tokens");
        let (token_before, stored_before) = (
            fs::read_to_string(&token_path).unwrap(),
            fs::read_to_string(&stored_path).unwrap(),
        );
        let auth = validator(
            MapEnv::new().with_home(home.path()),
            &emu,
            None,
            Arc::new(Mutex::new(Vec::new())),
        );
        let validation = auth.validate_hf(auth.discover_hf()).await;
        assert_eq!(
            (validation.result.status, validation.result.code),
            (TokenStatus::Unknown, Some(Code::Pf014)),
            "{body}: {}",
            validation.result.message
        );
        assert_eq!(fs::read_to_string(&token_path).unwrap(), token_before);
        assert_eq!(fs::read_to_string(&stored_path).unwrap(), stored_before);
        let text = format!("{:?}", validation.result);
        assert_no_secret([("Debug", text.as_str())], &[ACCESS, REFRESH]);
    }
}
