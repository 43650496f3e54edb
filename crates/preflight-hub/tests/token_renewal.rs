//! The upload's token handling against the Hub emulator: a 401 obtains a fresh token once
//! and resends that request; a source that cannot renew stops with PF220.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hub_emulator::{Emulator, EmulatorConfig, OAuthLogin, RunningEmulator, TokenRole, TokenSpec};
use preflight_errors::Code;
use preflight_hub::Secret;
use preflight_hub::{
    FreshToken, HubClient, NoProgress, RenewFailure, RenewFuture, TokenSource, UploadRequest,
    upload,
};
use preflight_retry::{RetryConfig, RetryManager};

const WRITE: &str = "hf_RenewalWriteTokenForHubTests0001";
const EXPIRED: &str = "oauth.expired-access-for-renewal";

/// Hands out `WRITE` (or refuses), counting the calls.
struct Counting {
    calls: AtomicUsize,
    available: bool,
}

impl TokenSource for Counting {
    fn renew<'a>(&'a self, _current: &'a Secret) -> RenewFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if self.available {
                Ok(FreshToken {
                    token: Secret::new(WRITE),
                    expires_at: None,
                })
            } else {
                Err(RenewFailure::Unavailable(
                    "a plain token cannot be renewed".to_owned(),
                ))
            }
        })
    }
}

async fn emulator() -> RunningEmulator {
    let emu = Emulator::start(EmulatorConfig {
        tokens: vec![TokenSpec::new(WRITE, "alice", TokenRole::Write)],
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    emu.add_oauth_login(OAuthLogin {
        user: "alice".into(),
        orgs: Vec::new(),
        role: TokenRole::Write,
        access_token: Some(EXPIRED.into()),
        refresh_token: "unused-refresh".into(),
        expires_at: None,
        expires_in: Some(-60),
        access_token_lifetime_secs: None,
    })
    .expect("login added");
    emu
}

fn client(emu: &RunningEmulator, state: &std::path::Path, source: Arc<Counting>) -> HubClient {
    let retry = RetryManager::new(RetryConfig::default().without_delays().with_max_attempts(2));
    HubClient::new(&emu.url(), Some(Secret::new(EXPIRED)), retry)
        .expect("client")
        .with_state_dir(state)
        .with_token_source(source, None)
}

#[tokio::test]
async fn a_401_renews_once_and_resends_the_request() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let source_dir = dir.path().join("ckpt");
    std::fs::create_dir_all(&source_dir).unwrap();
    std::fs::write(source_dir.join("config.json"), b"{\"step\": 7}").unwrap();
    let source = Arc::new(Counting {
        calls: AtomicUsize::new(0),
        available: true,
    });
    let hub = client(&emu, &dir.path().join("state"), source.clone());

    let outcome = upload(
        &hub,
        &UploadRequest::new(&source_dir, "alice/renewed"),
        &NoProgress,
    )
    .await
    .expect("the upload lands with the renewed token");
    assert!(outcome.commit_url.is_some());
    // Every later request carries the new token: one renewal for the whole upload.
    assert_eq!(source.calls.load(Ordering::SeqCst), 1);
    let landed = reqwest::get(format!(
        "{}alice/renewed/resolve/main/config.json",
        hub.endpoint()
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    assert_eq!(&landed[..], b"{\"step\": 7}");
}

#[tokio::test]
async fn a_source_that_cannot_renew_stops_with_pf220() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let source_dir = dir.path().join("ckpt");
    std::fs::create_dir_all(&source_dir).unwrap();
    std::fs::write(source_dir.join("config.json"), b"{}").unwrap();
    let source = Arc::new(Counting {
        calls: AtomicUsize::new(0),
        available: false,
    });
    let hub = client(&emu, &dir.path().join("state"), source.clone());

    let error = upload(
        &hub,
        &UploadRequest::new(&source_dir, "alice/refused"),
        &NoProgress,
    )
    .await
    .expect_err("no fresh token");
    assert_eq!(error.code(), Code::Pf220);
    assert_eq!(
        source.calls.load(Ordering::SeqCst),
        1,
        "renewed once, not retried"
    );
    let text = format!("{error:?} {}", preflight_hub::UploadError::hint(&error));
    assert!(!text.contains(EXPIRED) && !text.contains(WRITE), "{text}");
}
