//! The Modal pre-flight against the real `modal` CLI (1.6.4) talking to the fake control
//! plane in `tools/fake-modal/fake_modal.py`.
//!
//! Needs the workspace venv (`scripts/test.sh` creates it): `PREFLIGHT_TEST_MODAL_CLI` and
//! `PREFLIGHT_TEST_PYTHON` override the default `<workspace>/.venv/bin/{modal,python}`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use preflight_auth::modal::ModalVia;
use preflight_auth::{
    MapEnv, ModalOptions, TokenStatus, TokenValidationResult, discover_modal, validate_modal,
};
use preflight_errors::Code;
use preflight_test_support::modal::{
    ALL_CREDENTIALS, BAD_ID, BAD_SECRET, FakeModal, GOOD_ID, GOOD_SECRET, OLD_ID, OLD_SECRET,
    modal_cli,
};
use tracing_subscriber::layer::SubscriberExt;

/// An isolated HOME plus the env map for one case.
fn case_env(home: &Path, fake: &FakeModal) -> MapEnv {
    MapEnv::new()
        .with_home(home)
        .with("PATH", "/usr/bin:/bin")
        .with("MODAL_SERVER_URL", fake.url.as_str())
}

/// The CLI path only (this file is about `modal token info`; the native path is in
/// modal_native.rs).
fn cli_only() -> ModalOptions {
    ModalOptions {
        via: ModalVia::Cli,
        ..ModalOptions::default()
    }
}

fn options() -> ModalOptions {
    ModalOptions {
        cli_path: Some(modal_cli()),
        timeout: Duration::from_secs(30),
        via: ModalVia::Cli,
    }
}

/// Every tracing event's fields, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

struct Visitor<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = BTreeMap::new();
        fields.insert("target".to_owned(), event.metadata().target().to_owned());
        event.record(&mut Visitor(&mut fields));
        self.0.lock().expect("lock").push(fields);
    }
}

/// All text a result can show: Debug, JSON, and the parts a renderer prints.
fn all_text(result: &TokenValidationResult) -> String {
    format!(
        "{result:?}\n{}\n{}\n{:?}",
        serde_json::to_string(result).expect("json"),
        result.message,
        result.remediation
    )
}

fn assert_no_secrets(text: &str) {
    for secret in ALL_CREDENTIALS {
        assert!(!text.contains(secret), "leaked {secret} in:\n{text}");
    }
}

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
}

#[tokio::test]
async fn modal_real_cli_outcomes_against_the_fake() {
    let fake = FakeModal::start();
    let home = tempfile::tempdir().expect("home");
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut texts = Vec::new();

    // Good token → Valid with workspace and user.
    let env = case_env(home.path(), &fake)
        .with("MODAL_TOKEN_ID", GOOD_ID)
        .with("MODAL_TOKEN_SECRET", GOOD_SECRET);
    let valid = validate_modal(&env, &options()).await;
    assert_eq!(valid.status, TokenStatus::Valid, "{valid:#?}");
    let identity = valid.identity.clone().expect("identity");
    assert_eq!(identity.workspace.as_deref(), Some("fake-ws"));
    assert_eq!(identity.name.as_deref(), Some("fakeuser"));
    assert_eq!(valid.masked_token.as_deref(), Some("ak-…0000"));
    assert_eq!(
        valid.source.as_deref(),
        Some("env:MODAL_TOKEN_ID+env:MODAL_TOKEN_SECRET")
    );
    assert!(valid.configured);
    assert_eq!(valid.code, None);
    texts.push(all_text(&valid));

    // Bad token → Invalid; the fake echoes the token id, which must be scrubbed.
    let env = case_env(home.path(), &fake)
        .with("MODAL_TOKEN_ID", BAD_ID)
        .with("MODAL_TOKEN_SECRET", BAD_SECRET);
    let invalid = validate_modal(&env, &options()).await;
    assert_eq!(invalid.status, TokenStatus::Invalid, "{invalid:#?}");
    assert_eq!(invalid.code, Some(Code::Pf105));
    assert!(
        invalid.message.contains("Invalid token_id="),
        "{}",
        invalid.message
    );
    assert!(
        invalid
            .remediation
            .as_deref()
            .is_some_and(|hint| hint.contains("modal token set --token-id"))
    );
    texts.push(all_text(&invalid));

    // Past expiry (from the file this time) → Expired.
    std::fs::write(
        home.path().join(".modal.toml"),
        format!("[old]\ntoken_id = \"{OLD_ID}\"\ntoken_secret = \"{OLD_SECRET}\"\nactive = true\n"),
    )
    .expect("config");
    let expired = validate_modal(&case_env(home.path(), &fake), &options()).await;
    assert_eq!(expired.status, TokenStatus::Expired, "{expired:#?}");
    assert_eq!(expired.code, Some(Code::Pf106));
    assert_eq!(expired.details["profile"], "old");
    assert!(
        expired
            .remediation
            .as_deref()
            .unwrap()
            .contains("modal token new")
    );
    texts.push(all_text(&expired));

    // The server's own error saying so → Expired too.
    fake.control(r#"{"expired": "reject"}"#);
    let rejected = validate_modal(&case_env(home.path(), &fake), &options()).await;
    assert_eq!(rejected.status, TokenStatus::Expired, "{rejected:#?}");
    assert_eq!(rejected.code, Some(Code::Pf106));
    texts.push(all_text(&rejected));
    std::fs::remove_file(home.path().join(".modal.toml")).expect("rm");

    // Only TokenInfoGet reached the server: no ClientHello, no AppCreate.
    assert_eq!(fake.rpcs(), vec!["TokenInfoGet"; 4]);

    // `modal` found on the env's PATH (not the process's).
    let bin = tempfile::tempdir().expect("bin");
    std::os::unix::fs::symlink(modal_cli(), bin.path().join("modal")).expect("symlink");
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let env = case_env(home.path(), &fake)
        .with("PATH", path.as_str())
        .with("MODAL_TOKEN_ID", GOOD_ID)
        .with("MODAL_TOKEN_SECRET", GOOD_SECRET);
    let on_path = validate_modal(&env, &cli_only()).await;
    assert_eq!(on_path.status, TokenStatus::Valid, "{on_path:#?}");

    // Not on PATH, or a nonexistent cli_path → PF107 with the install command.
    let empty_bin = tempfile::tempdir().expect("empty");
    let env = case_env(home.path(), &fake)
        .with("PATH", empty_bin.path().as_os_str().to_owned())
        .with("MODAL_TOKEN_ID", GOOD_ID)
        .with("MODAL_TOKEN_SECRET", GOOD_SECRET);
    for options in [
        cli_only(),
        ModalOptions {
            cli_path: Some(home.path().join("no-such-modal")),
            ..cli_only()
        },
    ] {
        let missing_cli = validate_modal(&env, &options).await;
        assert_eq!(missing_cli.code, Some(Code::Pf107), "{missing_cli:#?}");
        assert_eq!(missing_cli.status, TokenStatus::Unknown);
        assert!(
            missing_cli
                .remediation
                .as_deref()
                .unwrap()
                .contains("pip install modal")
        );
        assert!(missing_cli.configured);
        texts.push(all_text(&missing_cli));
    }

    // No token anywhere → Missing, and the CLI is never started.
    let marker = home.path().join("cli-started");
    let stub = home.path().join("stub-modal");
    write_script(&stub, &format!("touch '{}'", marker.display()));
    let missing = validate_modal(
        &case_env(home.path(), &fake),
        &ModalOptions {
            cli_path: Some(stub.clone()),
            ..cli_only()
        },
    )
    .await;
    assert_eq!(missing.status, TokenStatus::Missing);
    assert_eq!(missing.code, Some(Code::Pf101));
    assert!(!missing.configured);
    assert!(!marker.exists(), "the CLI was started for a missing token");

    // The argv the child really gets holds no credential; the env does.
    let argv_file = home.path().join("argv.txt");
    write_script(
        &stub,
        &format!(
            "printf '%s\\n' \"$0\" \"$@\" > '{argv}'\n[ -n \"$MODAL_TOKEN_ID\" ] && echo env-has-id >> '{argv}'\necho 'Error: Token validation failed' >&2\nexit 1",
            argv = argv_file.display()
        ),
    );
    let env = case_env(home.path(), &fake)
        .with("MODAL_TOKEN_ID", GOOD_ID)
        .with("MODAL_TOKEN_SECRET", GOOD_SECRET);
    let stubbed = validate_modal(
        &env,
        &ModalOptions {
            cli_path: Some(stub),
            ..cli_only()
        },
    )
    .await;
    assert_eq!(stubbed.status, TokenStatus::Invalid);
    let argv = std::fs::read_to_string(&argv_file).expect("argv");
    let lines: Vec<&str> = argv.lines().collect();
    assert_eq!(&lines[1..], ["token", "info", "env-has-id"], "{argv}");
    assert_no_secrets(&argv);

    // No secret in any result or log line; one token_validated event per validation.
    for text in &texts {
        assert_no_secrets(text);
    }
    let events = captured.0.lock().expect("lock").clone();
    assert_no_secrets(&format!("{events:?}"));
    let validated: Vec<_> = events
        .iter()
        .filter(|event| event.get("event").map(String::as_str) == Some("token_validated"))
        .collect();
    assert_eq!(validated.len(), 9, "{events:#?}");
    let first = validated[0];
    assert_eq!(first["target"], "preflight::auth");
    assert_eq!(first["provider"], "modal");
    assert_eq!(first["status"], "VALID");
    assert_eq!(first["masked_token"], "ak-…0000");
    assert_eq!(first["source"], "env:MODAL_TOKEN_ID+env:MODAL_TOKEN_SECRET");
    assert_eq!(first["profile"], "default");
    assert!(first.contains_key("latency_ms"));
    assert_eq!(validated[1]["code"], "PF105");
    assert!(validated[2]["source"].contains(".modal.toml[old]"));
}

/// True when some live process has `needle` in its environment (i.e. a CLI child survived).
fn process_with_env(needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read(entry.path().join("environ")).is_ok_and(|bytes| {
            bytes
                .split(|byte| *byte == 0)
                .any(|var| var == needle.as_bytes())
        })
    })
}

/// `validate_modal` with a 2 s deadline, and how long it took. Fails, instead of hanging,
/// if the check is still running after 30 s: with no deadline, a silent server keeps the CLI
/// waiting forever.
async fn validate_with_deadline(env: &MapEnv) -> (TokenValidationResult, Duration) {
    let options = ModalOptions {
        cli_path: Some(modal_cli()),
        timeout: Duration::from_secs(2),
        via: ModalVia::Cli,
    };
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(30), validate_modal(env, &options))
        .await
        .unwrap_or_else(|_| panic!("the check was still running 30 s in: its 2 s deadline did not stop `modal token info`"));
    (result, started.elapsed())
}

/// The deadline, not the CLI, ended the check: UNKNOWN, PF108, the deadline's own message.
fn assert_stopped_at_the_deadline(result: &TokenValidationResult, elapsed: Duration) {
    assert_eq!(result.status, TokenStatus::Unknown, "{result:#?}");
    assert_eq!(result.code, Some(Code::Pf108), "{result:#?}");
    assert!(
        result.message.contains("did not answer within 2.0 s")
            && result.message.contains("it was stopped"),
        "{}",
        result.message
    );
    assert!(
        elapsed < Duration::from_secs(15),
        "the 2 s deadline ended the check only after {elapsed:?}"
    );
    assert_no_secrets(&all_text(result));
}

#[tokio::test]
async fn modal_silent_or_closed_server_is_unknown_within_the_deadline() {
    let fake = FakeModal::builder().mode("hang").start();
    let home = tempfile::tempdir().expect("home");
    let env = case_env(home.path(), &fake)
        .with("MODAL_TOKEN_ID", GOOD_ID)
        .with("MODAL_TOKEN_SECRET", GOOD_SECRET);
    let needle = format!("MODAL_SERVER_URL={}", fake.url);

    // The server takes the call and never answers; the CLI would wait forever.
    let (hung, elapsed) = validate_with_deadline(&env).await;
    assert_stopped_at_the_deadline(&hung, elapsed);
    assert!(
        !process_with_env(&needle),
        "a modal process outlived the deadline"
    );
    // On an idle machine the CLI reaches the server within the deadline; under heavy load it
    // may still be importing, which is also a deadline the wrapper must enforce.
    eprintln!("RPCs the fake saw before the deadline: {:?}", fake.rpcs());

    // Closed port: the CLI would retry for ~58 s, then say it could not connect (also PF108,
    // but not the deadline's message); the deadline still holds.
    fake.set_mode("close");
    let (closed, elapsed) = validate_with_deadline(&env).await;
    assert_stopped_at_the_deadline(&closed, elapsed);
    assert!(
        !process_with_env(&needle),
        "a modal process outlived the deadline"
    );
}

/// Coarse verdicts both sides can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accepted,
    TokenMissing,
    ProfileError,
    ConfigError,
    CredentialConflict,
}

fn ours(env: &MapEnv) -> Verdict {
    let discovery = discover_modal(env);
    match discovery
        .refusal
        .map(|refusal| (refusal.code, refusal.status))
    {
        None => Verdict::Accepted,
        Some((Code::Pf101, _)) | Some((Code::Pf102, TokenStatus::Missing)) => Verdict::TokenMissing,
        Some((Code::Pf102, _)) => Verdict::CredentialConflict,
        Some((Code::Pf104, _)) => Verdict::ProfileError,
        Some((Code::Pf103, _)) => Verdict::ConfigError,
        Some(other) => panic!("unexpected offline refusal {other:?}"),
    }
}

/// Runs the real `modal token info` with exactly the case's environment, and reads its
/// verdict from its exit status and text (independently of the crate's classifier).
fn theirs(vars: &[(&str, &str)], home: &Path, fake: &FakeModal) -> (Verdict, String) {
    let output = Command::new(modal_cli())
        .args(["token", "info"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("MODAL_SERVER_URL", &fake.url)
        .envs(vars.iter().copied())
        .output()
        .expect("run modal");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = format!("exit {:?}\n{stdout}\n{stderr}", output.status.code());
    let verdict = if output.status.success() && stdout.contains("Workspace: fake-ws") {
        Verdict::Accepted
    } else if stderr.contains("Error: Token missing") {
        Verdict::TokenMissing
    } else if stderr.contains("Modal profile") {
        Verdict::ProfileError
    } else if stdout.contains("Something with the Modal installation seems broken") {
        Verdict::ConfigError
    } else if stderr.contains("cannot both be configured") {
        Verdict::CredentialConflict
    } else {
        panic!("unclassified CLI result:\n{text}")
    };
    (verdict, text)
}

/// (name, config file (`None` = absent, `"<dir>"` = a directory), env, expected verdict)
type Case<'a> = (&'a str, Option<String>, Vec<(&'a str, &'a str)>, Verdict);

#[test]
fn modal_config_verdicts_match_the_real_cli() {
    let fake = FakeModal::start();
    let good = |name: &str, active: bool| {
        format!(
            "[{name}]\ntoken_id = \"{GOOD_ID}\"\ntoken_secret = \"{GOOD_SECRET}\"\n{}\n",
            if active { "active = true" } else { "" }
        )
    };
    let two_none = format!("{}{}", good("a", false), good("b", false));
    let two_active = format!("{}{}", good("a", true), good("b", true));
    let env_token: &[(&str, &str)] = &[
        ("MODAL_TOKEN_ID", GOOD_ID),
        ("MODAL_TOKEN_SECRET", GOOD_SECRET),
    ];
    let cases: Vec<Case> = vec![
        ("(a) no token", None, vec![], Verdict::TokenMissing),
        (
            "2 profiles, none active, env token",
            Some(two_none.clone()),
            env_token.to_vec(),
            Verdict::ProfileError,
        ),
        (
            "2 profiles, none active, MODAL_PROFILE=default",
            Some(two_none.clone()),
            vec![("MODAL_PROFILE", "default")],
            Verdict::ProfileError,
        ),
        (
            "2 profiles, none active, MODAL_PROFILE=b",
            Some(two_none.clone()),
            vec![("MODAL_PROFILE", "b")],
            Verdict::Accepted,
        ),
        (
            "2 profiles active",
            Some(two_active),
            vec![],
            Verdict::ProfileError,
        ),
        (
            "MODAL_PROFILE=nonexistent, no env token",
            Some(good("work", true)),
            vec![("MODAL_PROFILE", "nonexistent")],
            Verdict::ProfileError,
        ),
        (
            "MODAL_PROFILE=nonexistent, env token",
            Some(good("work", true)),
            [env_token, &[("MODAL_PROFILE", "nonexistent")]].concat(),
            Verdict::Accepted,
        ),
        (
            "MODAL_TOKEN_ID empty with a good file",
            Some(good("default", false)),
            vec![("MODAL_TOKEN_ID", "")],
            Verdict::TokenMissing,
        ),
        (
            "MODAL_PROFILE empty counts as unset",
            Some(good("work", true)),
            vec![("MODAL_PROFILE", "")],
            Verdict::Accepted,
        ),
        (
            "malformed TOML",
            Some("[default\ntoken_id = ".to_owned()),
            vec![],
            Verdict::ConfigError,
        ),
        (
            "top-level value is not a table",
            Some(format!("token_id = \"{GOOD_ID}\"\n")),
            vec![],
            Verdict::ConfigError,
        ),
        (
            "unreadable (a directory)",
            Some("<dir>".to_owned()),
            env_token.to_vec(),
            Verdict::ConfigError,
        ),
        (
            "good default profile",
            Some(good("default", false)),
            vec![],
            Verdict::Accepted,
        ),
        (
            "single non-default profile, not active",
            Some(good("solo", false)),
            vec![],
            Verdict::TokenMissing,
        ),
        (
            "env id + file secret",
            Some(format!("[default]\ntoken_secret = \"{GOOD_SECRET}\"\n")),
            vec![("MODAL_TOKEN_ID", GOOD_ID)],
            Verdict::Accepted,
        ),
        (
            "env id only",
            None,
            vec![("MODAL_TOKEN_ID", GOOD_ID)],
            Verdict::TokenMissing,
        ),
        (
            "token and OAuth both",
            None,
            [
                env_token,
                &[("MODAL_OAUTH_CLIENT_ID", "oc-client00000000000000")],
            ]
            .concat(),
            Verdict::CredentialConflict,
        ),
        (
            "MODAL_CONFIG_PATH elsewhere",
            Some(good("default", false)),
            vec![("MODAL_CONFIG_PATH", "<elsewhere>")],
            Verdict::TokenMissing,
        ),
    ];

    let results: Vec<(String, Verdict, Verdict, Verdict, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .chunks(6)
            .map(|chunk| {
                let fake = &fake;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, config, vars, expected)| {
                            let home = tempfile::tempdir().expect("home");
                            let config_path = home.path().join(".modal.toml");
                            match config.as_deref() {
                                None => {}
                                Some("<dir>") => std::fs::create_dir(&config_path).expect("dir"),
                                Some(text) => std::fs::write(&config_path, text).expect("write"),
                            }
                            let elsewhere = home.path().join("missing.toml");
                            let elsewhere = elsewhere.to_str().expect("utf8");
                            let vars: Vec<(&str, &str)> = vars
                                .iter()
                                .map(|(k, v)| {
                                    (*k, if *v == "<elsewhere>" { elsewhere } else { *v })
                                })
                                .collect();
                            let mut env = case_env(home.path(), fake);
                            for (key, value) in &vars {
                                env = env.with(key, *value);
                            }
                            let started = Instant::now();
                            let (cli, text) = theirs(&vars, home.path(), fake);
                            eprintln!("{name}: {:?}", started.elapsed());
                            ((*name).to_owned(), *expected, ours(&env), cli, text)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("thread"))
            .collect()
    });
    let mut failures = Vec::new();
    for (name, expected, ours, cli, text) in &results {
        if ours != cli || ours != expected {
            failures.push(format!(
                "{name}: expected {expected:?}, ours {ours:?}, CLI {cli:?}\n{text}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}
