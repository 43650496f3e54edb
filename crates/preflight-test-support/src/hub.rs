//! The Hub emulator with the fixture tokens of [`crate::tokens`].

use hub_emulator::{BackgroundEmulator, EmulatorConfig, ScopedPermission, TokenRole, TokenSpec};

use crate::tokens::{OTHER_ORG_TOKEN, READ_TOKEN, REVOKED_TOKEN, WRITE_TOKEN};

/// The fixture tokens as the emulator knows them: all of user `alice`, member of `acme`.
pub fn alice_tokens() -> Vec<TokenSpec> {
    let token = |token: &str, role: TokenRole, revoked: bool| TokenSpec {
        token: token.to_owned(),
        user: "alice".to_owned(),
        orgs: vec!["acme".to_owned()],
        role,
        display_name: Some("test-token".to_owned()),
        revoked,
    };
    vec![
        token(WRITE_TOKEN, TokenRole::Write, false),
        token(READ_TOKEN, TokenRole::Read, false),
        token(REVOKED_TOKEN, TokenRole::Write, true),
        token(
            OTHER_ORG_TOKEN,
            TokenRole::FineGrained {
                scoped: vec![ScopedPermission {
                    entity_type: "org".to_owned(),
                    entity_name: "other-org".to_owned(),
                    permissions: vec!["repo.content.read".to_owned(), "repo.write".to_owned()],
                }],
                global: Vec::new(),
            },
            false,
        ),
    ]
}

/// A Hub emulator on `127.0.0.1:0`, on its own thread, knowing [`alice_tokens`].
pub fn start_alice_hub() -> BackgroundEmulator {
    start_hub(EmulatorConfig {
        tokens: alice_tokens(),
        ..EmulatorConfig::default()
    })
}

/// A Hub emulator on `127.0.0.1:0`, on its own thread, with `config`.
pub fn start_hub(config: EmulatorConfig) -> BackgroundEmulator {
    hub_emulator::start_in_background(config).expect("the Hub emulator starts")
}
