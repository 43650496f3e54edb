//! Every rule of the Hugging Face discovery order, against `MapEnv` and temp dirs. No network:
//! the validator tests here end before any request (and point at a dead endpoint to prove it).

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use preflight_auth::hf::{DiscoveryError, MAX_TOKEN_FILE_BYTES, discover_hf_token_at};
use preflight_auth::{
    AuthValidator, HfOptions, MapEnv, Provider, TokenStatus, TokenValidationResult,
    discover_hf_token,
};
use preflight_errors::Code;
use preflight_test_support::assert_no_secret;
use preflight_test_support::tokens::{READ_TOKEN, REVOKED_TOKEN, WRITE_TOKEN};

// Fixture tokens, which no redaction pattern catches: a leak check fails on any copy of them.
/// In `HF_TOKEN`.
const TOKEN: &str = WRITE_TOKEN;
/// In `HUGGING_FACE_HUB_TOKEN`.
const LEGACY: &str = READ_TOKEN;
/// In the token file.
const FILE_TOKEN: &str = REVOKED_TOKEN;

fn exposed(found: &preflight_auth::HfTokenDiscovery) -> Option<&str> {
    found.token.as_ref().map(|secret| secret.expose())
}

/// A home directory with `~/.cache/huggingface/token` holding `FILE_TOKEN`.
fn home_with_token() -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join(".cache/huggingface");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("token"), FILE_TOKEN).expect("write");
    home
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

async fn validate(env: MapEnv) -> TokenValidationResult {
    validate_with(env, false).await
}

async fn validate_with(env: MapEnv, no_refresh: bool) -> TokenValidationResult {
    // A dead endpoint: any request would end UNKNOWN, so the statuses asserted below prove
    // that none was made.
    let options = HfOptions {
        endpoint: Some("http://127.0.0.1:9".into()),
        timeout: Duration::from_secs(2),
        no_refresh,
        ..HfOptions::default()
    };
    AuthValidator::new(Arc::new(env))
        .with_hf_options(options)
        .validate_hf_token()
        .await
}

#[test]
fn hf_token_wins_over_legacy_and_file() {
    let home = home_with_token();
    let env = MapEnv::new()
        .with_home(home.path())
        .with("HF_TOKEN", TOKEN)
        .with("HUGGING_FACE_HUB_TOKEN", LEGACY);
    let found = discover_hf_token(&env);
    assert_eq!(exposed(&found), Some(TOKEN));
    assert_eq!(found.source.as_deref(), Some("env:HF_TOKEN"));
    assert!(found.configured);
    assert_no_secret([("Debug", format!("{found:?}").as_str())], &[TOKEN, LEGACY]);
}

#[test]
fn legacy_variable_is_second() {
    let home = home_with_token();
    let env = MapEnv::new()
        .with_home(home.path())
        .with("HUGGING_FACE_HUB_TOKEN", format!("  {LEGACY}\n"));
    let found = discover_hf_token(&env);
    assert_eq!(exposed(&found), Some(LEGACY));
    assert_eq!(found.source.as_deref(), Some("env:HUGGING_FACE_HUB_TOKEN"));
}

#[test]
fn empty_values_fall_through_with_a_note() {
    let home = home_with_token();
    let env = MapEnv::new()
        .with_home(home.path())
        .with("HF_TOKEN", "")
        .with("HUGGING_FACE_HUB_TOKEN", " \r\n ");
    let found = discover_hf_token(&env);
    assert_eq!(exposed(&found), Some(FILE_TOKEN));
    let expected = home.path().join(".cache/huggingface/token");
    assert_eq!(found.source, Some(format!("file:{}", expected.display())));
    assert!(
        found
            .notes
            .iter()
            .any(|n| n == "HF_TOKEN is set but empty, so it is ignored")
    );
    assert!(
        found
            .notes
            .iter()
            .any(|n| n.starts_with("HUGGING_FACE_HUB_TOKEN is set but empty after removing"))
    );
}

#[tokio::test]
async fn empty_hf_token_and_nothing_else_is_missing_but_configured() {
    let home = tempfile::tempdir().expect("tempdir");
    let result = validate(MapEnv::new().with_home(home.path()).with("HF_TOKEN", "")).await;
    assert_eq!(result.status, TokenStatus::Missing);
    assert_eq!(result.code, Some(Code::Pf001));
    assert!(
        result.configured,
        "an empty HF_TOKEN is how a missing CI secret shows up"
    );
    assert!(
        result.message.contains("HF_TOKEN is set but empty"),
        "{}",
        result.message
    );
    assert!(result.message.contains("HUGGING_FACE_HUB_TOKEN is not set"));
    assert!(result.message.contains("no token file at"));
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("hf auth login")
    );
    assert_eq!(result.provider, Provider::Hf);
}

#[tokio::test]
async fn nothing_at_all_is_missing_and_unconfigured() {
    let home = tempfile::tempdir().expect("tempdir");
    let result = validate(MapEnv::new().with_home(home.path())).await;
    assert_eq!(result.status, TokenStatus::Missing);
    assert!(!result.configured);
    assert!(!result.passed());
}

#[test]
fn token_file_crlf_and_inner_newline_are_cleaned() {
    let home = tempfile::tempdir().expect("tempdir");
    let path = home.path().join("token");
    let env = MapEnv::new().with("HF_TOKEN_PATH", &path);
    fs::write(&path, format!("{FILE_TOKEN}\r\n")).expect("write");
    assert_eq!(exposed(&discover_hf_token(&env)), Some(FILE_TOKEN));
    let (head, tail) = FILE_TOKEN.split_at(10);
    fs::write(&path, format!("  {head}\n{tail}\r\n\n")).expect("write");
    assert_eq!(exposed(&discover_hf_token(&env)), Some(FILE_TOKEN));
    fs::write(&path, "\r\n  \n").expect("write");
    let found = discover_hf_token(&env);
    assert_eq!(exposed(&found), None);
    assert!(
        found
            .notes
            .iter()
            .any(|n| n.contains("exists but is empty"))
    );
    assert!(found.configured);
}

#[test]
fn hf_token_path_to_missing_file_does_not_fall_back() {
    let home = home_with_token();
    let missing = home.path().join("nope/token");
    let env = MapEnv::new()
        .with_home(home.path())
        .with("HF_TOKEN_PATH", &missing);
    let found = discover_hf_token(&env);
    assert_eq!(
        exposed(&found),
        None,
        "must not fall back to ~/.cache/huggingface/token"
    );
    assert_eq!(found.token_path.as_deref(), Some(missing.as_path()));
    assert!(
        found
            .notes
            .iter()
            .any(|n| n.contains("does not exist")
                && n.contains("does not fall back to $HF_HOME/token")),
        "{:?}",
        found.notes
    );
    assert!(!found.configured);
}

#[test]
fn hf_token_path_expands_user_and_vars() {
    let home = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(home.path().join("sub")).expect("mkdir");
    fs::write(home.path().join("sub/tok"), FILE_TOKEN).expect("write");
    let env = MapEnv::new()
        .with_home(home.path())
        .with("HF_TOKEN_PATH", "~/${DIR}/tok")
        .with("DIR", "sub");
    let found = discover_hf_token(&env);
    assert_eq!(exposed(&found), Some(FILE_TOKEN));
    assert_eq!(found.token_path, Some(home.path().join("sub/tok")));
    assert_eq!(
        found.stored_tokens_path,
        Some(home.path().join("sub/stored_tokens"))
    );
}

#[test]
fn hf_home_then_xdg_cache_then_default() {
    let home = tempfile::tempdir().expect("tempdir");
    let root = home.path();
    for dir in ["hfhome", "xdg/huggingface", ".cache/huggingface"] {
        fs::create_dir_all(root.join(dir)).expect("mkdir");
        fs::write(
            root.join(dir).join("token"),
            format!("hf_{}", dir.replace(['/', '.'], "")),
        )
        .expect("write");
    }
    let hf_home = MapEnv::new()
        .with_home(root)
        .with("HF_HOME", "$ROOT/hfhome")
        .with("ROOT", root)
        .with("XDG_CACHE_HOME", root.join("xdg"));
    assert_eq!(exposed(&discover_hf_token(&hf_home)), Some("hf_hfhome"));
    let xdg = MapEnv::new()
        .with_home(root)
        .with("XDG_CACHE_HOME", root.join("xdg"));
    let found = discover_hf_token(&xdg);
    assert_eq!(exposed(&found), Some("hf_xdghuggingface"));
    assert_eq!(found.token_path, Some(root.join("xdg/huggingface/token")));
    let default = MapEnv::new().with_home(root);
    assert_eq!(
        exposed(&discover_hf_token(&default)),
        Some("hf_cachehuggingface")
    );
    let homeless = MapEnv::new();
    let found = discover_hf_token(&homeless);
    assert_eq!(found.token_path, None);
    assert!(
        found
            .checked
            .iter()
            .any(|c| c.contains("home directory is unknown"))
    );
}

#[tokio::test]
async fn disabled_implicit_token_is_missing_and_says_why() {
    let env = MapEnv::new()
        .with("HF_TOKEN", TOKEN)
        .with("HF_HUB_DISABLE_IMPLICIT_TOKEN", "yes");
    let found = discover_hf_token(&env);
    assert!(found.token.is_none());
    assert_eq!(
        found.withheld_token.as_ref().map(|s| s.expose()),
        Some(TOKEN)
    );
    assert_eq!(found.found_token().map(|s| s.expose()), Some(TOKEN));
    assert!(found.implicit_token_disabled);

    let result = validate(env).await;
    assert_eq!(result.status, TokenStatus::Missing);
    assert_eq!(result.code, Some(Code::Pf001));
    assert!(result.configured);
    assert_eq!(result.source.as_deref(), Some("env:HF_TOKEN"));
    assert_eq!(result.masked_token.as_deref(), Some("hf_…3Lm2"));
    assert!(
        result.message.contains("HF_HUB_DISABLE_IMPLICIT_TOKEN=yes"),
        "{}",
        result.message
    );
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("unset HF_HUB_DISABLE_IMPLICIT_TOKEN")
    );
    assert_no_leak(&result, TOKEN);

    let falsy = MapEnv::new()
        .with("HF_TOKEN", TOKEN)
        .with("HF_HUB_DISABLE_IMPLICIT_TOKEN", "0");
    assert_eq!(exposed(&discover_hf_token(&falsy)), Some(TOKEN));
}

fn stored_tokens(dir: &Path, entries: &str) {
    fs::write(dir.join("stored_tokens"), entries).expect("write stored_tokens");
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[tokio::test]
async fn stored_tokens_past_expiry_with_refresh_token() {
    let home = home_with_token();
    let dir = home.path().join(".cache/huggingface");
    stored_tokens(
        &dir,
        &format!(
            "[other]\nhf_token = hf_other\n\n[oauth-alice]\nhf_token = {FILE_TOKEN}\nrefresh_token = r123\nexpires_at = {}\n",
            now_unix() - 3600
        ),
    );
    let env = MapEnv::new().with_home(home.path());
    let found = discover_hf_token(&env);
    let stored = found.stored.clone().expect("listed");
    assert_eq!(stored.name, "oauth-alice");
    assert!(stored.expired && stored.has_refresh_token && stored.refresh_due);

    // --no-refresh: reported, nothing sent (the endpoint is dead) and nothing written.
    let before = fs::read_to_string(dir.join("stored_tokens")).expect("read");
    let result = validate_with(env.clone(), true).await;
    assert_eq!(result.status, TokenStatus::Expired);
    assert_eq!(result.code, Some(Code::Pf004));
    assert!(
        result.message.contains("would refresh it now"),
        "{}",
        result.message
    );
    assert_eq!(
        fs::read_to_string(dir.join("stored_tokens")).expect("read"),
        before
    );

    // A refresh that gets no answer: UNKNOWN, and still nothing written.
    let unanswered = validate(env).await;
    assert_eq!(unanswered.status, TokenStatus::Unknown);
    assert_eq!(unanswered.code, Some(Code::Pf014));
    assert!(unanswered.message.contains("nothing was written"));
    assert_eq!(
        fs::read_to_string(dir.join("stored_tokens")).expect("read"),
        before
    );
    assert_no_leak(&unanswered, "r123");
    assert!(result.message.contains("[oauth-alice]"));
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("hf auth")
    );
    assert_no_leak(&result, FILE_TOKEN);
}

#[tokio::test]
async fn stored_tokens_past_expiry_without_refresh_token() {
    let home = home_with_token();
    let dir = home.path().join(".cache/huggingface");
    stored_tokens(
        &dir,
        &format!("[t]\nhf_token = {FILE_TOKEN}\nexpires_at = 1000\n"),
    );
    let result = validate(MapEnv::new().with_home(home.path())).await;
    assert_eq!(result.status, TokenStatus::Expired);
    assert!(
        result.message.contains("1970-01-01T00:16:40Z"),
        "{}",
        result.message
    );
    assert!(result.message.contains("cannot refresh it"));
    assert_eq!(
        result.remediation.as_deref(),
        Some("run `hf auth login --force` to log in again")
    );
}

#[tokio::test]
async fn stored_tokens_expiry_applies_to_env_tokens_but_refresh_does_not() {
    let home = home_with_token();
    let dir = home.path().join(".cache/huggingface");
    stored_tokens(
        &dir,
        &format!("[t]\nhf_token = {TOKEN}\nrefresh_token = r\nexpires_at = 1000\n"),
    );
    let result = validate(MapEnv::new().with_home(home.path()).with("HF_TOKEN", TOKEN)).await;
    assert_eq!(result.status, TokenStatus::Expired);
    assert!(
        result
            .message
            .contains("refreshes only the token read from the token file")
    );
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("replace HF_TOKEN")
    );
}

#[test]
fn stored_tokens_future_expiry() {
    let home = home_with_token();
    let dir = home.path().join(".cache/huggingface");
    let env = MapEnv::new().with_home(home.path());
    // Within 24 h, with refresh_token: the official client would refresh it now.
    stored_tokens(
        &dir,
        &format!(
            "[t]\nhf_token = {FILE_TOKEN}\nrefresh_token = r\nexpires_at = {}\n",
            now_unix() + 600
        ),
    );
    let found = discover_hf_token(&env);
    let stored = found.stored.clone().expect("listed");
    assert!(!stored.expired && stored.refresh_due);
    assert!(found.notes.iter().any(|n| n.contains("would refresh it")));
    // Far away, no refresh_token: nothing to say.
    stored_tokens(
        &dir,
        &format!(
            "[t]\nhf_token = {FILE_TOKEN}\nexpires_at = {}\n",
            now_unix() + 864_000
        ),
    );
    let found = discover_hf_token(&env);
    let stored = found.stored.clone().expect("listed");
    assert!(!stored.expired && !stored.refresh_due && !stored.has_refresh_token);
    // Judged against the given clock.
    let later = SystemTime::now() + Duration::from_secs(900_000);
    assert!(
        discover_hf_token_at(&env, later)
            .stored
            .expect("listed")
            .expired
    );
}

#[test]
fn stored_tokens_problems_are_warnings() {
    let home = home_with_token();
    let dir = home.path().join(".cache/huggingface");
    let env = MapEnv::new().with_home(home.path());
    stored_tokens(&dir, &format!("hf_token = {FILE_TOKEN}\n"));
    let found = discover_hf_token(&env);
    assert_eq!(exposed(&found), Some(FILE_TOKEN));
    assert!(
        found
            .warnings
            .iter()
            .any(|w| w.contains("not a valid INI file"))
    );
    assert!(!found.warnings.iter().any(|w| w.contains(FILE_TOKEN)));
    stored_tokens(
        &dir,
        &format!("[t]\nhf_token = {FILE_TOKEN}\nexpires_at = soon\n"),
    );
    let found = discover_hf_token(&env);
    assert!(
        found
            .warnings
            .iter()
            .any(|w| w.contains("not unix seconds"))
    );
    assert!(!found.stored.expect("listed").expired);
    fs::write(dir.join("stored_tokens"), [0xff, 0xfe]).expect("write");
    assert!(
        discover_hf_token(&env)
            .warnings
            .iter()
            .any(|w| w.contains("not UTF-8"))
    );
    fs::remove_file(dir.join("stored_tokens")).expect("rm");
    fs::create_dir(dir.join("stored_tokens")).expect("mkdir");
    assert!(
        discover_hf_token(&env)
            .warnings
            .iter()
            .any(|w| w.contains("not a regular file"))
    );
}

#[test]
fn oidc_and_staging_are_reported() {
    let home = tempfile::tempdir().expect("tempdir");
    let staging_dir = home.path().join(".cache/huggingface_staging");
    fs::create_dir_all(&staging_dir).expect("mkdir");
    fs::write(staging_dir.join("token"), FILE_TOKEN).expect("write");
    let env = MapEnv::new()
        .with_home(home.path())
        .with("HF_OIDC_RESOURCE", "https://huggingface.co")
        .with("HUGGINGFACE_CO_STAGING", "1")
        .with("HF_TOKEN_PATH", "/ignored/in/staging");
    let found = discover_hf_token(&env);
    assert!(found.oidc && found.staging);
    // OIDC wins outright, as in `get_token()`: the token file is not the answer.
    assert_eq!(found.source.as_deref(), Some("oidc:HF_OIDC_ID_TOKEN"));
    assert!(
        found
            .oidc_request
            .as_ref()
            .is_some_and(|r| r.id_source.is_none())
    );
    assert!(
        found
            .notes
            .iter()
            .any(|n| n.contains("hub-ci.huggingface.co"))
    );
    assert!(
        found
            .notes
            .iter()
            .any(|n| n.contains("overrides HF_TOKEN_PATH"))
    );
    assert_eq!(exposed(&found), None);
}

#[tokio::test]
async fn oidc_with_nothing_else_mentions_it_in_missing() {
    let home = tempfile::tempdir().expect("tempdir");
    let result = validate(
        MapEnv::new()
            .with_home(home.path())
            .with("HF_OIDC_RESOURCE", "x"),
    )
    .await;
    assert_eq!(result.status, TokenStatus::Missing);
    assert_eq!(result.code, Some(Code::Pf010));
    assert!(
        result.message.contains("HF_OIDC_ID_TOKEN is not set"),
        "{}",
        result.message
    );
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("HF_OIDC_ID_TOKEN")
    );

    // Under GitHub Actions without the permission, the fix is named.
    let home = tempfile::tempdir().expect("tempdir");
    let actions = validate(
        MapEnv::new()
            .with_home(home.path())
            .with("HF_OIDC_RESOURCE", "acme/dit-xl")
            .with("GITHUB_ACTIONS", "true"),
    )
    .await;
    assert_eq!(actions.code, Some(Code::Pf010));
    assert_eq!(actions.source.as_deref(), Some("oidc:github"));
    assert!(
        actions.message.contains("id-token: write"),
        "{}",
        actions.message
    );
    assert!(
        actions
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("id-token: write")
    );
}

#[tokio::test]
async fn token_file_that_is_a_directory() {
    let home = tempfile::tempdir().expect("tempdir");
    let path = home.path().join("token");
    fs::create_dir(&path).expect("mkdir");
    let env = MapEnv::new().with("HF_TOKEN_PATH", &path);
    let found = discover_hf_token(&env);
    assert!(matches!(
        found.error(),
        Some(DiscoveryError::IsDirectory { .. })
    ));
    let result = validate(env).await;
    assert_eq!(result.status, TokenStatus::Invalid);
    assert_eq!(result.code, Some(Code::Pf008));
    assert!(result.message.contains("is a directory"));
    assert!(result.configured);
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("hf auth login --force")
    );
}

#[tokio::test]
async fn ten_megabyte_token_file_is_refused_unread() {
    let home = tempfile::tempdir().expect("tempdir");
    let path = home.path().join("token");
    fs::write(&path, vec![b'a'; 10 * 1024 * 1024]).expect("write");
    let env = MapEnv::new().with("HF_TOKEN_PATH", &path);
    match discover_hf_token(&env).error() {
        Some(DiscoveryError::TooLarge { size, limit, .. }) => {
            assert_eq!(*size, 10 * 1024 * 1024);
            assert_eq!(*limit, MAX_TOKEN_FILE_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let result = validate(env).await;
    assert_eq!(result.code, Some(Code::Pf008));
    assert!(
        result.message.contains("more than the 65536 bytes"),
        "{}",
        result.message
    );
}

#[tokio::test]
async fn unreadable_token_file() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().expect("tempdir");
    let path = home.path().join("token");
    fs::write(&path, FILE_TOKEN).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).expect("chmod");
    if fs::read(&path).is_ok() {
        // Running as root: mode 000 does not stop reads, so the "unreadable" case cannot be
        // produced this way. The path through `Unreadable` is still covered below by a path
        // whose parent is a regular file (ENOTDIR).
        eprintln!("running as root: skipping the chmod 000 assertion");
    } else {
        let result = validate(MapEnv::new().with("HF_TOKEN_PATH", &path)).await;
        assert_eq!(result.status, TokenStatus::Invalid);
        assert_eq!(result.code, Some(Code::Pf008));
        assert!(
            result.message.contains("cannot be read"),
            "{}",
            result.message
        );
    }
    let below_file = path.join("token");
    let found = discover_hf_token(&MapEnv::new().with("HF_TOKEN_PATH", &below_file));
    assert!(
        matches!(found.error(), Some(DiscoveryError::Unreadable { .. })),
        "{found:?}"
    );
    let result = validate(MapEnv::new().with("HF_TOKEN_PATH", &below_file)).await;
    assert_eq!(result.code, Some(Code::Pf008));
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("chmod 600")
    );
}

#[tokio::test]
async fn non_utf8_empty_path_and_fifo() {
    let home = tempfile::tempdir().expect("tempdir");
    let path = home.path().join("token");
    fs::write(&path, [b'h', b'f', b'_', 0xff, 0xfe]).expect("write");
    let found = discover_hf_token(&MapEnv::new().with("HF_TOKEN_PATH", &path));
    assert!(matches!(
        found.error(),
        Some(DiscoveryError::NotUtf8 { .. })
    ));

    let empty = MapEnv::new().with("HF_TOKEN_PATH", "");
    assert_eq!(
        discover_hf_token(&empty).error(),
        Some(&DiscoveryError::EmptyTokenPath)
    );
    let result = validate(empty).await;
    assert_eq!(result.code, Some(Code::Pf008));
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("unset HF_TOKEN_PATH")
    );

    let fifo = home.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|status| status.success());
    if made {
        let found = discover_hf_token(&MapEnv::new().with("HF_TOKEN_PATH", &fifo));
        assert!(matches!(
            found.error(),
            Some(DiscoveryError::NotRegularFile { .. })
        ));
    }
}

#[tokio::test]
async fn unsendable_tokens_are_invalid_without_echo() {
    for (raw, fragment) in [
        ("hf_abc def1234567890", "a space at position 7"),
        ("hf_abcdéf1234567890", "non-ASCII character"),
        ("hf_abc\u{7}def123456", "control character"),
    ] {
        let result = validate(MapEnv::new().with("HF_TOKEN", raw)).await;
        assert_eq!(result.status, TokenStatus::Invalid, "{raw:?}");
        assert_eq!(result.code, Some(Code::Pf002));
        assert!(result.message.contains(fragment), "{}", result.message);
        assert!(result.message.contains("env:HF_TOKEN"));
        assert!(result.message.contains("it was not sent"));
        assert!(
            result
                .remediation
                .as_deref()
                .unwrap_or("")
                .contains("set HF_TOKEN again")
        );
        assert_no_leak(&result, raw);
    }
    let home = tempfile::tempdir().expect("tempdir");
    let path = home.path().join("token");
    fs::write(&path, "hf_with space inside0000").expect("write");
    let result = validate(MapEnv::new().with("HF_TOKEN_PATH", &path)).await;
    assert_eq!(result.code, Some(Code::Pf002));
    assert!(
        result
            .remediation
            .as_deref()
            .unwrap_or("")
            .contains("hf auth login --force")
    );
}

#[cfg(unix)]
#[tokio::test]
async fn non_utf8_env_token_is_unsendable() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let raw = OsString::from_vec(vec![b'h', b'f', b'_', 0xff, b'a']);
    let result = validate(MapEnv::new().with("HF_TOKEN", raw)).await;
    assert_eq!(result.status, TokenStatus::Invalid);
    assert_eq!(result.code, Some(Code::Pf002));
}

#[test]
fn hf_token_of_only_whitespace_hides_the_legacy_variable_as_get_token_does() {
    // `os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")` picks the raw
    // value: " " and "\n" are truthy, so the legacy variable is never looked at and the
    // cleaned-away HF_TOKEN leaves the token file to decide.
    for blank in [" ", "\n", "\r\n", " \t "] {
        let home = home_with_token();
        let env = MapEnv::new()
            .with_home(home.path())
            .with("HF_TOKEN", blank)
            .with("HUGGING_FACE_HUB_TOKEN", LEGACY);
        let found = discover_hf_token(&env);
        assert_eq!(exposed(&found), Some(FILE_TOKEN), "HF_TOKEN={blank:?}");
        assert!(found.source.as_deref().unwrap_or("").starts_with("file:"));
        assert!(
            found
                .notes
                .iter()
                .any(|n| n.contains("HUGGING_FACE_HUB_TOKEN is not used")),
            "{:?}",
            found.notes
        );
    }
    // An empty HF_TOKEN is falsy: the legacy variable is used.
    let home = home_with_token();
    let env = MapEnv::new()
        .with_home(home.path())
        .with("HF_TOKEN", "")
        .with("HUGGING_FACE_HUB_TOKEN", format!(" {LEGACY}\r\n"));
    let found = discover_hf_token(&env);
    assert_eq!(exposed(&found), Some(LEGACY));
    assert_eq!(found.source.as_deref(), Some("env:HUGGING_FACE_HUB_TOKEN"));
}
