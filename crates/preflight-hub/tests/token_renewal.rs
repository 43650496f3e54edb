//! The upload's token handling against the Hub emulator: a 401 obtains a fresh token once
//! and resends that request; a source that cannot renew stops with PF220.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hub_emulator::RunningEmulator;
use preflight_errors::Code;
use preflight_hub::Secret;
use preflight_hub::{
    FreshToken, HubClient, NoProgress, RenewFailure, RenewFuture, TokenSource, UploadRequest,
    upload,
};
use preflight_test_support::assert_no_secret;
use preflight_test_support::hub::{alice_oauth_login, start_alice_hub_async};
use preflight_test_support::tokens::OAUTH_ACCESS_TOKEN as EXPIRED;

mod common;
use common::TOKEN as WRITE;

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
    let emu = start_alice_hub_async().await;
    // An expired OAuth access token: the Hub answers 401 to it.
    emu.add_oauth_login(alice_oauth_login())
        .expect("login added");
    emu
}

fn client(emu: &RunningEmulator, state: &std::path::Path, source: Arc<Counting>) -> HubClient {
    common::hub_client(emu, EXPIRED, state, common::fast_retry(2)).with_token_source(source, None)
}

#[tokio::test]
async fn a_401_renews_once_and_resends_the_request() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let source_dir = dir.path().join("ckpt");
    common::write_file(&source_dir, "config.json", b"{\"step\": 7}");
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
    let landed = common::fetch(&emu, "alice/renewed", "main", "config.json").await;
    assert_eq!(landed, b"{\"step\": 7}");
}

#[tokio::test]
async fn a_source_that_cannot_renew_stops_with_pf220() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let source_dir = dir.path().join("ckpt");
    common::write_file(&source_dir, "config.json", b"{}");
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
    assert_no_secret([("the error", text.as_str())], &[EXPIRED, WRITE]);
}
