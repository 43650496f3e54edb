//! The Hub emulator with the fixture tokens of [`crate::tokens`], and helpers to build more
//! tokens and to read what the emulator was asked.

use hub_emulator::{
    BackgroundEmulator, Emulator, EmulatorConfig, EmulatorControl, OAuthLogin, RunningEmulator,
    ScopedPermission, TokenRole, TokenSpec,
};

use crate::tokens::{
    OAUTH_ACCESS_TOKEN, OAUTH_REFRESH_TOKEN, OTHER_ORG_TOKEN, READ_TOKEN, REPO_SCOPED_TOKEN,
    REVOKED_TOKEN, WRITE_TOKEN,
};

/// The display name (`auth.accessToken.displayName`) of every token built here.
pub const TOKEN_NAME: &str = "test-token";

/// A token of user `alice`, member of `acme`, named [`TOKEN_NAME`].
pub fn alice(token: &str, role: TokenRole) -> TokenSpec {
    TokenSpec {
        token: token.to_owned(),
        user: "alice".to_owned(),
        orgs: vec!["acme".to_owned()],
        role,
        display_name: Some(TOKEN_NAME.to_owned()),
        revoked: false,
    }
}

/// A fine-grained token of `alice` (see [`alice`]) with the `scoped` permissions, and the
/// global `discussion.write`, which lets it write to no repository.
pub fn fine(token: &str, scoped: Vec<ScopedPermission>) -> TokenSpec {
    alice(
        token,
        TokenRole::FineGrained {
            scoped,
            global: vec!["discussion.write".to_owned()],
        },
    )
}

/// One scoped permission of a fine-grained token: `permissions` on `entity_type`
/// (`user`, `org`, `model`, `dataset`, `space`) `entity_name`.
pub fn scope(entity_type: &str, entity_name: &str, permissions: &[&str]) -> ScopedPermission {
    ScopedPermission {
        entity_type: entity_type.to_owned(),
        entity_name: entity_name.to_owned(),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// The fixture tokens as the emulator knows them: all of user `alice`, member of `acme`.
pub fn alice_tokens() -> Vec<TokenSpec> {
    let mut revoked = alice(REVOKED_TOKEN, TokenRole::Write);
    revoked.revoked = true;
    vec![
        alice(WRITE_TOKEN, TokenRole::Write),
        alice(READ_TOKEN, TokenRole::Read),
        revoked,
        fine(
            OTHER_ORG_TOKEN,
            vec![scope(
                "org",
                "other-org",
                &["repo.content.read", "repo.write"],
            )],
        ),
        fine(
            REPO_SCOPED_TOKEN,
            vec![scope(
                "model",
                "acme/m1",
                &["repo.content.read", "repo.write"],
            )],
        ),
    ]
}

/// `alice`'s OAuth login as `hf auth login` leaves it, a minute after its access token
/// [`OAUTH_ACCESS_TOKEN`] expired; [`OAUTH_REFRESH_TOKEN`] renews it. Add it with
/// `add_oauth_login` or in [`EmulatorConfig::oauth_logins`].
pub fn alice_oauth_login() -> OAuthLogin {
    OAuthLogin {
        user: "alice".to_owned(),
        orgs: Vec::new(),
        role: TokenRole::Write,
        access_token: Some(OAUTH_ACCESS_TOKEN.to_owned()),
        refresh_token: OAUTH_REFRESH_TOKEN.to_owned(),
        expires_at: None,
        expires_in: Some(-60),
        access_token_lifetime_secs: None,
    }
}

/// An emulator configuration knowing [`alice_tokens`], otherwise the defaults; change fields
/// with `EmulatorConfig { regular_max_size: 1000, ..alice_config() }`.
pub fn alice_config() -> EmulatorConfig {
    EmulatorConfig {
        tokens: alice_tokens(),
        ..EmulatorConfig::default()
    }
}

/// A Hub emulator on `127.0.0.1:0`, on its own thread, knowing [`alice_tokens`].
pub fn start_alice_hub() -> BackgroundEmulator {
    start_hub(alice_config())
}

/// A Hub emulator on `127.0.0.1:0`, on its own thread, with `config`.
pub fn start_hub(config: EmulatorConfig) -> BackgroundEmulator {
    hub_emulator::start_in_background(config).expect("the Hub emulator starts")
}

/// A Hub emulator on `127.0.0.1:0` in the current tokio runtime, knowing [`alice_tokens`].
pub async fn start_alice_hub_async() -> RunningEmulator {
    start_hub_async(alice_config()).await
}

/// A Hub emulator on `127.0.0.1:0` in the current tokio runtime, with `config`.
pub async fn start_hub_async(config: EmulatorConfig) -> RunningEmulator {
    Emulator::start(config)
        .await
        .expect("the Hub emulator starts")
}

/// How many requests the emulator has recorded with `method` and a path containing `needle`
/// (since its start or the last `clear_requests`).
pub fn count_requests(emulator: &EmulatorControl, method: &str, needle: &str) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|request| request.method == method && request.path.contains(needle))
        .count()
}

/// Writes `content` to `root/relative`, creating the folders in between: one file of a
/// source folder to upload.
pub fn write_file(root: &std::path::Path, relative: &str, content: &[u8]) {
    let path = root.join(relative);
    let parent = path.parent().expect("a path under root");
    std::fs::create_dir_all(parent).expect("create the folders");
    std::fs::write(&path, content).expect("write the file");
}

/// Every file under `root`, as paths relative to it, in no particular order.
pub fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("under root");
                found.push(relative.display().to_string());
            }
        }
    }
    found
}
