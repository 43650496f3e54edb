//! Unit tests for the offline rules (one per rule of the module table).

use std::path::Path;

use super::*;
use crate::MapEnv;

const ID: &str = "ak-goodtoken0000000000";
const SECRET: &str = "as-goodsecret000000000";

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(config: Option<&str>) -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(config) = config {
            std::fs::write(dir.path().join(".modal.toml"), config).expect("write config");
        }
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> String {
        self.path().join(".modal.toml").display().to_string()
    }

    fn env(&self) -> MapEnv {
        MapEnv::new().with_home(self.path())
    }

    /// [`Home::env`] with the fixture token in `MODAL_TOKEN_ID` / `MODAL_TOKEN_SECRET`.
    fn env_with_token(&self) -> MapEnv {
        self.env()
            .with("MODAL_TOKEN_ID", ID)
            .with("MODAL_TOKEN_SECRET", SECRET)
    }

    /// Options for the CLI path with a stand-in `modal` here that runs `script` (sh).
    fn stand_in_cli(&self, script: &str) -> ModalOptions {
        let path = self.path().join("modal");
        std::fs::write(&path, format!("#!/bin/sh\n{script}")).expect("write the stand-in CLI");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        ModalOptions {
            cli_path: Some(path),
            timeout: Duration::from_secs(5),
            via: super::ModalVia::Cli,
        }
    }
}

fn good_profile(name: &str, active: bool) -> String {
    let active = if active { "active = true\n" } else { "" };
    format!("[{name}]\ntoken_id = \"{ID}\"\ntoken_secret = \"{SECRET}\"\n{active}\n")
}

fn code_of(discovery: &ModalDiscovery) -> Option<Code> {
    discovery.refusal.as_ref().map(|refusal| refusal.code)
}

#[test]
fn each_key_resolves_on_its_own() {
    let home = Home::new(Some(&good_profile("default", false)));
    let env = home
        .env()
        .with("MODAL_TOKEN_ID", "ak-envtoken00000000000000");
    let found = discover(&env);
    assert!(found.refusal.is_none(), "{:?}", found.refusal);
    assert_eq!(found.kind, Some(CredentialKind::Token));
    assert_eq!(
        found.source_label().as_deref(),
        Some(format!("env:MODAL_TOKEN_ID+file:{}[default]", home.config()).as_str())
    );
    assert_eq!(found.masked_id().as_deref(), Some("ak-…0000"));
    let details = found.details();
    assert_eq!(details["token_id_source"], "env:MODAL_TOKEN_ID");
    assert_eq!(
        details["token_secret_source"],
        format!("file:{}[default]", home.config())
    );
    assert!(
        found
            .warnings
            .iter()
            .any(|w| w.contains("MODAL_TOKEN_ID overrides")),
        "{:?}",
        found.warnings
    );
}

#[test]
fn empty_env_value_hides_the_file_value() {
    let home = Home::new(Some(&good_profile("default", false)));
    let found = discover(&home.env().with("MODAL_TOKEN_ID", ""));
    let refusal = found.refusal.as_ref().expect("refused");
    assert_eq!(refusal.code, Code::Pf102);
    assert_eq!(refusal.status, TokenStatus::Missing);
    assert!(
        refusal.message.contains("MODAL_TOKEN_ID is set but empty"),
        "{}",
        refusal.message
    );
    assert!(refusal.remediation.contains("unset MODAL_TOKEN_ID"));
    assert!(found.configured);

    let both = discover(
        &home
            .env()
            .with("MODAL_TOKEN_ID", "")
            .with("MODAL_TOKEN_SECRET", ""),
    );
    assert_eq!(code_of(&both), Some(Code::Pf101));
    assert!(both.refusal.unwrap().message.contains("hides"));
}

#[test]
fn env_only_tokens_work_without_a_file() {
    let home = Home::new(None);
    let found = discover(&home.env_with_token());
    assert!(found.refusal.is_none());
    assert_eq!(
        found.source_label().as_deref(),
        Some("env:MODAL_TOKEN_ID+env:MODAL_TOKEN_SECRET")
    );
    assert!(found.warnings.is_empty(), "{:?}", found.warnings);
}

#[test]
fn modal_profile_selects_the_table() {
    let config = format!(
        "{}{}",
        good_profile("work", true),
        "[play]\ntoken_id = \"ak-playtoken000000000000\"\ntoken_secret = \"as-playsecret00000000000\"\n"
    );
    let home = Home::new(Some(&config));
    let found = discover(&home.env().with("MODAL_PROFILE", "play"));
    assert!(found.refusal.is_none());
    assert_eq!(found.profile, "play");
    assert_eq!(found.profile_source, ProfileSource::Env);
    assert_eq!(found.masked_id().as_deref(), Some("ak-…0000"));
    assert!(found.source_label().unwrap().ends_with("[play]"));

    // An empty MODAL_PROFILE counts as unset.
    let unset = discover(&home.env().with("MODAL_PROFILE", ""));
    assert_eq!(unset.profile, "work");
    assert_eq!(unset.profile_source, ProfileSource::Active);
}

#[test]
fn active_true_selects_the_table() {
    let config = format!("{}{}", good_profile("a", false), good_profile("b", true));
    let home = Home::new(Some(&config));
    let found = discover(&home.env());
    assert!(found.refusal.is_none(), "{:?}", found.refusal);
    assert_eq!(found.profile, "b");
    assert_eq!(found.details()["profile_source"], "active");
}

#[test]
fn two_active_profiles_are_refused_even_with_env_tokens() {
    let config = format!("{}{}", good_profile("a", true), good_profile("b", true));
    let home = Home::new(Some(&config));
    let found = discover(&home.env_with_token());
    let refusal = found.refusal.expect("refused");
    assert_eq!(refusal.code, Code::Pf104);
    assert!(
        refusal
            .message
            .contains("More than one Modal profile is active")
    );
    assert!(refusal.remediation.contains("modal profile activate"));
    assert!(found.configured);
}

#[test]
fn none_active_among_several_is_refused_unless_modal_profile_names_one() {
    let config = format!("{}{}", good_profile("a", false), good_profile("b", false));
    let home = Home::new(Some(&config));
    let env_tokens = home.env_with_token();
    let refusal = discover(&env_tokens).refusal.expect("refused");
    assert_eq!(refusal.code, Code::Pf104);
    assert!(refusal.message.contains("No Modal profile is active"));
    assert!(refusal.remediation.contains("modal profile activate NAME"));
    assert!(
        discover(&home.env().with("MODAL_PROFILE", "a"))
            .refusal
            .is_none()
    );
    // MODAL_PROFILE=default is still "default": Python refuses too.
    assert_eq!(
        code_of(&discover(
            &env_tokens.clone().with("MODAL_PROFILE", "default")
        )),
        Some(Code::Pf104)
    );
}

#[test]
fn default_profile_is_used_when_nothing_is_active() {
    let home = Home::new(Some(&good_profile("default", false)));
    let found = discover(&home.env());
    assert!(found.refusal.is_none());
    assert_eq!(found.profile, "default");
    assert_eq!(found.profile_source, ProfileSource::Default);

    // A single non-active profile not named `default`: Token missing.
    let other = Home::new(Some(&good_profile("solo", false)));
    let found = discover(&other.env());
    assert_eq!(code_of(&found), Some(Code::Pf101));
}

#[test]
fn missing_named_profile_is_refused() {
    let home = Home::new(Some(&good_profile("work", true)));
    let found = discover(&home.env().with("MODAL_PROFILE", "nonexistent"));
    let refusal = found.refusal.expect("refused");
    assert_eq!(refusal.code, Code::Pf104);
    assert!(refusal.message.contains("'nonexistent'"));
    assert!(
        refusal
            .remediation
            .contains("modal token new --profile nonexistent")
    );
    // With env tokens a missing named profile is fine (the CLI uses the env).
    let with_env = home
        .env()
        .with("MODAL_PROFILE", "nonexistent")
        .with("MODAL_TOKEN_ID", ID)
        .with("MODAL_TOKEN_SECRET", SECRET);
    assert!(discover(&with_env).refusal.is_none());
}

#[test]
fn malformed_toml_and_non_table_values_are_refused() {
    for text in ["[default\ntoken_id = 1", "token_id = \"ak-x\"\n"] {
        let home = Home::new(Some(text));
        let found = discover(&home.env());
        let refusal = found.refusal.expect("refused");
        assert_eq!(refusal.code, Code::Pf103, "{text}");
        assert!(refusal.message.contains(&home.config()));
        assert!(found.configured);
    }
}

#[test]
fn unreadable_config_is_refused() {
    let home = Home::new(None);
    // A directory where the file should be: exists, cannot be read (works as root too).
    std::fs::create_dir(home.path().join(".modal.toml")).expect("mkdir");
    let refusal = discover(&home.env()).refusal.expect("refused");
    assert_eq!(refusal.code, Code::Pf103);
    assert!(
        refusal.message.contains("cannot read"),
        "{}",
        refusal.message
    );
}

#[test]
fn config_path_variable_is_honoured() {
    let home = Home::new(None);
    let other = home.path().join("elsewhere.toml");
    std::fs::write(&other, good_profile("default", false)).expect("write");
    let found = discover(
        &home
            .env()
            .with("MODAL_CONFIG_PATH", other.as_os_str().to_owned()),
    );
    assert!(found.refusal.is_none());
    assert_eq!(found.config_path.as_deref(), Some(other.as_path()));
}

#[test]
fn oauth_credentials_are_recognised() {
    let home = Home::new(None);
    let env = home
        .env()
        .with("MODAL_OAUTH_REFRESH_TOKEN", "refresh-0000000000000")
        .with("MODAL_OAUTH_CLIENT_ID", "oc-client00000000000000")
        .with("MODAL_OAUTH_CLIENT_SECRET", "ov-secret00000000000000");
    let found = discover(&env);
    assert!(found.refusal.is_none(), "{:?}", found.refusal);
    assert_eq!(found.kind, Some(CredentialKind::OAuth));
    assert_eq!(found.masked_id().as_deref(), Some("…0000"));
    assert!(found.configured);

    let incomplete = discover(
        &home
            .env()
            .with("MODAL_OAUTH_CLIENT_ID", "oc-client00000000000000"),
    );
    let refusal = incomplete.refusal.expect("refused");
    assert_eq!(
        (refusal.code, refusal.status),
        (Code::Pf102, TokenStatus::Missing)
    );

    let both = discover(&env.clone().with("MODAL_TOKEN_ID", ID));
    let refusal = both.refusal.expect("refused");
    assert_eq!(
        (refusal.code, refusal.status),
        (Code::Pf102, TokenStatus::Invalid)
    );
    assert!(refusal.message.contains("cannot both be configured"));
}

#[test]
fn unusual_prefixes_are_warnings_not_failures() {
    let home = Home::new(None);
    let found = discover(
        &home
            .env()
            .with("MODAL_TOKEN_ID", "tok-0000000000000000000")
            .with("MODAL_TOKEN_SECRET", "ws-000000000000000000000"),
    );
    assert!(found.refusal.is_none());
    assert_eq!(found.warnings.len(), 2, "{:?}", found.warnings);
    assert!(found.warnings[0].contains("does not start with `ak-`"));
    assert!(found.warnings[1].contains("proxy"));
    for warning in &found.warnings {
        assert!(!warning.contains("tok-0000000000000000000"));
    }
}

#[test]
fn nothing_anywhere_is_missing_and_unconfigured() {
    let home = Home::new(None);
    let found = discover(&home.env());
    let refusal = found.refusal.as_ref().expect("refused");
    assert_eq!(
        (refusal.code, refusal.status),
        (Code::Pf101, TokenStatus::Missing)
    );
    assert!(refusal.remediation.contains("modal token new"));
    assert!(refusal.remediation.contains("MODAL_TOKEN_ID"));
    assert!(!found.configured);
}

#[test]
fn debug_of_discovery_shows_no_secret() {
    let home = Home::new(Some(&good_profile("default", false)));
    let found = discover(&home.env());
    let debug = format!("{found:?}");
    assert!(!debug.contains(ID) && !debug.contains(SECRET), "{debug}");
}

#[tokio::test]
async fn missing_never_starts_the_cli() {
    let home = Home::new(None);
    let marker = home.path().join("started");
    let options = home.stand_in_cli(&format!("touch '{}'\n", marker.display()));
    let result = validate(&home.env(), &options).await;
    assert_eq!(result.status, TokenStatus::Missing);
    assert_eq!(result.code, Some(Code::Pf101));
    assert!(!result.configured);
    assert!(!marker.exists(), "the CLI was started");
}

/// The CLI path passes credentials in the environment only: a stand-in `modal` (no real CLI is
/// needed to see what it was started with) records its argument list, and neither the token id
/// nor the secret may be in it, while the environment must carry both.
#[tokio::test]
async fn argv_never_holds_credentials() {
    let home = Home::new(None);
    let argv_file = home.path().join("argv");
    let env_file = home.path().join("env");
    let options = home.stand_in_cli(&format!(
        "printf '%s\\n' \"$0\" \"$@\" > '{}'\nenv > '{}'\necho 'Invalid token' >&2\nexit 1\n",
        argv_file.display(),
        env_file.display()
    ));
    let env = home.env_with_token();
    let result = validate(&env, &options).await;
    assert_ne!(result.status, TokenStatus::Valid);
    let argv = std::fs::read_to_string(&argv_file).expect("the stand-in CLI ran");
    assert!(argv.contains("token\ninfo"), "{argv}");
    assert!(!argv.contains(ID) && !argv.contains(SECRET), "{argv}");
    let child_env = std::fs::read_to_string(&env_file).expect("env recorded");
    assert!(child_env.contains(&format!("MODAL_TOKEN_ID={ID}")));
    assert!(child_env.contains(&format!("MODAL_TOKEN_SECRET={SECRET}")));
}

/// Every verdict of the CLI path, each from a stand-in `modal` that prints what the real CLI
/// prints in that case (the real CLI cannot be made to produce most of them on demand): the
/// status, the code, and a message that never holds the secret.
#[tokio::test]
async fn each_cli_verdict_maps_to_its_status_and_code() {
    use TokenStatus::{Expired, Invalid, Missing, Unknown};
    #[rustfmt::skip] // a table: one case a line
    let cases = [
        ("Error: Token missing. Could not authenticate client.", 1, Missing, Code::Pf101),
        ("Error: Modal profile 'ghost' was not found.", 1, Invalid, Code::Pf104),
        ("Error when reading the modal configuration", 1, Invalid, Code::Pf103),
        ("Error: OAuth and token credentials cannot both be set.", 1, Invalid, Code::Pf102),
        ("Error: Could not connect to the Modal server.", 1, Unknown, Code::Pf108),
        ("Error: the token has expired", 1, Expired, Code::Pf106),
        ("Error: Invalid token credentials", 1, Invalid, Code::Pf105),
        ("Error: something nobody expected", 1, Unknown, Code::Pf108),
        ("", 3, Unknown, Code::Pf108),
    ];
    for (stderr, exit, status, code) in cases {
        let home = Home::new(None);
        let options = home.stand_in_cli(&format!("echo \"{stderr} {SECRET}\" >&2\nexit {exit}\n"));
        let env = home.env_with_token();
        let result = validate(&env, &options).await;
        assert_eq!(
            (result.status, result.code),
            (status, Some(code)),
            "{stderr}: {result:#?}"
        );
        assert!(result.remediation.is_some(), "{stderr}: a hint");
        let text = format!(
            "{} {:?} {:?}",
            result.message, result.remediation, result.details
        );
        assert!(!text.contains(SECRET), "{stderr}: {text}");
    }
}

#[test]
fn modal_via_parses_and_prints_its_three_ways() {
    for via in [
        super::ModalVia::Auto,
        super::ModalVia::Native,
        super::ModalVia::Cli,
    ] {
        assert_eq!(super::ModalVia::parse(via.as_str()), Some(via));
        assert_eq!(
            super::ModalVia::parse(&format!(" {} ", via.as_str().to_uppercase())),
            Some(via)
        );
    }
    assert_eq!(super::ModalVia::parse("grpc"), None);
}

/// An empty `MODAL_SERVER_URL` would make the CLI retry for a minute; the native check says at
/// once what to unset, without a request.
#[tokio::test]
async fn an_empty_server_url_is_unknown_with_the_variable_named() {
    let home = Home::new(None);
    let env = home.env_with_token().with("MODAL_SERVER_URL", "");
    let options = ModalOptions {
        cli_path: None,
        timeout: Duration::from_secs(5),
        via: super::ModalVia::Native,
    };
    let result = validate(&env, &options).await;
    assert_eq!(
        (result.status, result.code),
        (TokenStatus::Unknown, Some(Code::Pf108)),
        "{result:#?}"
    );
    assert!(
        result
            .remediation
            .as_deref()
            .is_some_and(|hint| hint.contains("unset MODAL_SERVER_URL")),
        "{result:#?}"
    );
}

/// A config file whose values have the wrong type is PF103 (`INVALID`), saying where.
fn config_error(config: &str) -> Refusal {
    let found = discover(&Home::new(Some(config)).env());
    let refusal = found.refusal.clone().expect("refused");
    assert_eq!(
        (refusal.code, refusal.status),
        (Code::Pf103, TokenStatus::Invalid)
    );
    assert!(!format!("{found:?}").contains(SECRET));
    refusal
}

#[test]
fn a_non_boolean_active_is_a_config_error_naming_the_profile() {
    let refusal = config_error(&format!(
        "[main]\ntoken_id = \"{ID}\"\ntoken_secret = \"{SECRET}\"\nactive = \"yes\"\n"
    ));
    assert!(refusal.message.contains("[main]") && refusal.message.contains("not a boolean"));
    assert!(refusal.remediation.contains("active = true"));
}

#[test]
fn a_non_string_token_value_is_a_config_error() {
    let refusal = config_error(&format!(
        "[default]\ntoken_id = 12345\ntoken_secret = \"{SECRET}\"\n"
    ));
    assert!(refusal.message.contains("`token_id`") && refusal.message.contains("not a string"));
}

#[test]
fn inside_a_modal_container_env_tokens_are_ignored_with_a_warning() {
    let home = Home::new(Some(&good_profile("default", false)));
    let env = home
        .env()
        .with("MODAL_IS_REMOTE", "1")
        .with("MODAL_TOKEN_ID", "ak-envtoken00000000000000");
    let found = discover(&env);
    assert!(
        found
            .warnings
            .iter()
            .any(|warning| warning.contains("MODAL_TOKEN_ID is ignored inside a Modal container")),
        "{:?}",
        found.warnings
    );
}
