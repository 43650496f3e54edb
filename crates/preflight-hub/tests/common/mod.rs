//! Setup shared by preflight-hub's test binaries: clients of the Hub emulator holding the
//! fixture write token of `alice`, and reading back what landed. General helpers (the
//! emulator, fixture tokens, counting requests, writing files) come from
//! `preflight-test-support`.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code, unused_imports)]

use std::path::Path;

use hub_emulator::EmulatorControl;
use preflight_hub::{HubClient, Secret};
use preflight_retry::{RetryConfig, RetryManager};

pub use preflight_test_support::hub::{count_requests, write_file};
pub use preflight_test_support::tokens::WRITE_TOKEN as TOKEN;

/// Retries without waiting between attempts, at most `attempts` of them.
pub fn fast_retry(attempts: u32) -> RetryConfig {
    RetryConfig::default()
        .without_delays()
        .with_max_attempts(attempts)
}

/// A client of `emu` sending `token`, keeping its resume state under `state`.
pub fn hub_client(
    emu: &EmulatorControl,
    token: &str,
    state: &Path,
    retry: RetryConfig,
) -> HubClient {
    HubClient::new(
        &emu.url(),
        Some(Secret::new(token)),
        RetryManager::new(retry),
    )
    .expect("client")
    .with_state_dir(state)
}

/// The content of `path` in `repo` (a model) at `revision`, downloaded with [`TOKEN`];
/// fails unless the Hub answers 200.
pub async fn fetch(emu: &EmulatorControl, repo: &str, revision: &str, path: &str) -> Vec<u8> {
    let quoted: Vec<String> = path
        .split('/')
        .map(|segment| {
            url::form_urlencoded::byte_serialize(segment.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        })
        .collect();
    let revision = url::form_urlencoded::byte_serialize(revision.as_bytes()).collect::<String>();
    let url = format!(
        "{}/{repo}/resolve/{revision}/{}",
        emu.url(),
        quoted.join("/")
    );
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the download is answered");
    assert_eq!(response.status(), 200, "GET {url}");
    response.bytes().await.expect("a body").to_vec()
}

/// Fails unless every `(path, content)` of `files` is in `repo` at `revision`.
pub async fn assert_files(
    emu: &EmulatorControl,
    repo: &str,
    revision: &str,
    files: &[(String, Vec<u8>)],
) {
    for (path, content) in files {
        assert_eq!(
            &fetch(emu, repo, revision, path).await,
            content,
            "{path} at {revision}"
        );
    }
}
