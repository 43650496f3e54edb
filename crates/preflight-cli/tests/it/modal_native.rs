//! `preflight check modal` speaking Modal's gRPC API itself (`--modal-via native|auto`),
//! against the fake control plane in `tools/fake-modal/fake_modal.py` (built on the modal
//! wheel's own stubs, so it speaks the real wire).
//!
//! The native runs get a `PATH` that is one empty directory: neither `modal` nor Python can
//! be found, so a pass proves the check needs neither. The parity test runs the real
//! `modal token info` (1.6.4) against the same fake for every setup.
//!
//! Needs the workspace venv (`scripts/test.sh` creates it): `PREFLIGHT_TEST_MODAL_CLI` and
//! `PREFLIGHT_TEST_PYTHON` override the default `<workspace>/.venv/bin/{modal,python}`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use preflight_test_support::modal::{
    ALL_CREDENTIALS, ALL_SECRETS, BAD_ID, BAD_SECRET, BOT_ID, BOT_SECRET, FakeModal, GOOD_ID,
    GOOD_SECRET, OLD_ID, OLD_SECRET, modal_cli,
};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{Run, run};

/// `FakeModal::builder().args(extra).start()`.
fn fake_with(extra: &[&str]) -> FakeModal {
    FakeModal::builder().args(extra.iter().copied()).start()
}

/// The metadata of every RPC the fake received, parsed.
fn metadata(fake: &FakeModal) -> Vec<Value> {
    fake.metadata()
        .iter()
        .map(|line| serde_json::from_str(line).expect("metadata line"))
        .collect()
}

/// A scratch HOME, auth log and empty `bin/` for one run.
struct Case {
    dir: TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        std::fs::create_dir_all(dir.path().join("empty-bin")).expect("bin");
        Case { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("auth.log")).unwrap_or_default()
    }

    /// `preflight check modal --json ARGS` with only PATH (`path`, or the empty `bin/`),
    /// HOME, the auth log and `vars` in its environment.
    fn check(&self, path: Option<&str>, vars: &[(&str, &str)], args: &[&str]) -> Run {
        run(&mut self.command(path, vars, args))
    }

    /// The command [`Case::check`] runs.
    fn command(&self, path: Option<&str>, vars: &[(&str, &str)], args: &[&str]) -> Command {
        let empty = self.dir.path().join("empty-bin");
        let mut command = Command::new(env!("CARGO_BIN_EXE_preflight"));
        command
            .env_clear()
            .env(
                "PATH",
                path.map_or_else(|| empty.display().to_string(), str::to_owned),
            )
            .env("HOME", self.home())
            .env("PREFLIGHT_AUTH_LOG", self.dir.path().join("auth.log"))
            .envs(vars.iter().copied())
            .args(["check", "modal", "--json"])
            .args(args);
        if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
            command.env("LLVM_PROFILE_FILE", profile);
        }
        command
    }
}

/// [`run`], but fails instead of hanging: kills the command if it still runs after `bound`.
fn run_within(command: &mut Command, bound: Duration) -> Run {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("preflight starts");
    let pid = child.id().to_string();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let Ok(output) = receiver.recv_timeout(bound) else {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        panic!("preflight was still running after {bound:?}: the deadline did not end the check");
    };
    let output = output.expect("preflight runs");
    Run {
        code: output
            .status
            .code()
            .expect("exited normally, not by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn result_of(run: &Run) -> Value {
    let document: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}\n{}", run.stdout, run.stderr));
    document["results"][0].clone()
}

/// No fixture id or secret in the run's output or the auth log, and no secret in what the fake
/// recorded (it saw the token id, which it was sent).
fn assert_no_secret(run: &Run, log: &str, fake: &FakeModal) {
    preflight_test_support::assert_no_secret(
        [
            ("stdout", run.stdout.as_str()),
            ("stderr", run.stderr.as_str()),
            ("the auth log", log),
        ],
        ALL_CREDENTIALS,
    );
    preflight_test_support::assert_no_secret(
        [("the fake's metadata record", fake.metadata_text().as_str())],
        ALL_SECRETS,
    );
}

fn token(id: &str, secret: &str, url: &str) -> Vec<(String, String)> {
    vec![
        ("MODAL_TOKEN_ID".to_owned(), id.to_owned()),
        ("MODAL_TOKEN_SECRET".to_owned(), secret.to_owned()),
        ("MODAL_SERVER_URL".to_owned(), url.to_owned()),
    ]
}

fn refs(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn native_check_needs_neither_modal_nor_python() {
    let fake = FakeModal::start();
    let case = Case::new();
    let native = ["--modal-via", "native"];

    // Good token → 0, VALID, the workspace, user and token name; no process started.
    let good = case.check(
        None,
        &refs(&token(GOOD_ID, GOOD_SECRET, &fake.url)),
        &native,
    );
    assert_eq!(good.code, 0, "{}", good.stderr);
    let result = result_of(&good);
    assert_eq!(result["status"], "VALID");
    assert_eq!(result["identity"]["workspace"], "fake-ws");
    assert_eq!(result["identity"]["name"], "fakeuser");
    assert_eq!(result["identity"]["token_name"], "laptop");
    assert_eq!(result["details"]["via"], "native");
    assert_eq!(result["masked_token"], "ak-…0000");
    assert_no_secret(&good, &case.log(), &fake);

    // The default (`auto`) is native too, and a service user is named as such.
    let bot = case.check(None, &refs(&token(BOT_ID, BOT_SECRET, &fake.url)), &[]);
    assert_eq!(bot.code, 0, "{}", bot.stderr);
    let result = result_of(&bot);
    assert_eq!(result["details"]["via"], "native");
    assert_eq!(result["details"]["service_user"], "true");
    assert_eq!(result["identity"]["name"], "ci-bot");
    assert_eq!(result["identity"]["token_name"], "ci");
    assert_eq!(result["details"]["expires_at"], "2100-01-01 00:00:00 UTC");

    // Bad token → 11, INVALID with the server's message (the token id it echoes is masked).
    let bad = case.check(None, &refs(&token(BAD_ID, BAD_SECRET, &fake.url)), &native);
    assert_eq!(bad.code, 11, "{}", bad.stderr);
    let result = result_of(&bad);
    assert_eq!(result["status"], "INVALID");
    assert_eq!(result["code"], "PF105");
    let message = result["message"].as_str().expect("message");
    assert!(message.contains("Invalid token_id="), "{message}");
    assert!(!message.contains(BAD_ID), "{message}");
    assert!(bad.stderr.contains("error[PF105]"), "{}", bad.stderr);
    assert_no_secret(&bad, &case.log(), &fake);

    // A past expiry → 12, EXPIRED.
    let old = case.check(None, &refs(&token(OLD_ID, OLD_SECRET, &fake.url)), &native);
    assert_eq!(old.code, 12, "{}", old.stderr);
    assert_eq!(result_of(&old)["code"], "PF106");

    // One TokenInfoGet per check, carrying the client type and version, and no Python-only
    // headers (nothing here is Python).
    assert_eq!(fake.rpcs(), vec!["TokenInfoGet"; 4]);
    for request in metadata(&fake) {
        let metadata = &request["metadata"];
        assert_eq!(request["method"], "TokenInfoGet");
        assert_eq!(metadata["x-modal-client-type"], "1");
        assert_eq!(
            metadata["x-modal-client-version"],
            preflight_auth::modal::CLIENT_VERSION
        );
        assert_eq!(metadata["x-modal-token-secret"], "<redacted>");
        assert_eq!(metadata["x-retry-attempt"], "0");
        assert!(
            metadata.get("x-modal-python-version").is_none(),
            "{metadata}"
        );
    }

    // The log's token_validated event names the path taken.
    let log = case.log();
    assert!(
        log.lines()
            .filter(|line| line.contains("\"token_validated\""))
            .all(|line| line.contains("\"via\":\"native\"")),
        "{log}"
    );
}

#[test]
fn a_silent_server_is_unknown_within_the_deadline() {
    let case = Case::new();
    // Accepts TCP and never speaks; then HTTP/2 that takes the call and never answers.
    for extra in [&["--port", "0:silent"][..], &["--mode", "hang"][..]] {
        let fake = fake_with(extra);
        let started = Instant::now();
        let silent = run_within(
            &mut case.command(
                None,
                &refs(&token(GOOD_ID, GOOD_SECRET, &fake.url)),
                &["--modal-timeout", "2s"],
            ),
            Duration::from_secs(60),
        );
        let elapsed = started.elapsed();
        assert_eq!(silent.code, 14, "{extra:?}: {}", silent.stderr);
        let result = result_of(&silent);
        assert_eq!(result["status"], "UNKNOWN");
        assert_eq!(result["code"], "PF108");
        assert!(
            result["message"]
                .as_str()
                .is_some_and(|message| message.contains("did not answer")),
            "{result}"
        );
        assert!(
            elapsed < Duration::from_secs(10),
            "{extra:?} took {elapsed:?}"
        );
        assert_no_secret(&silent, &case.log(), &fake);
    }
}

#[test]
fn a_dead_first_url_is_answered_by_the_second_well_under_five_seconds() {
    let fake = fake_with(&["--port", "0:close", "--port", "0"]);
    let urls = fake.urls();
    assert_eq!(urls.len(), 2, "{}", fake.url);
    let case = Case::new();
    let started = Instant::now();
    let raced = case.check(None, &refs(&token(GOOD_ID, GOOD_SECRET, &fake.url)), &[]);
    let elapsed = started.elapsed();
    assert_eq!(raced.code, 0, "{}", raced.stderr);
    let result = result_of(&raced);
    assert_eq!(result["details"]["server"], urls[1]);
    // The second URL starts as soon as the first is refused, not after its 3 s stagger.
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert_eq!(fake.rpcs(), ["TokenInfoGet"]);
}

#[test]
fn auto_asks_the_cli_only_when_modal_refuses_the_native_client() {
    // A server that wants the Python version (as Modal's own test servicer does) refuses the
    // native client with FAILED_PRECONDITION; the real CLI sends it and is accepted.
    let fake = fake_with(&["--require-python-version"]);
    let case = Case::new();
    let vars = token(GOOD_ID, GOOD_SECRET, &fake.url);
    let modal_dir = modal_cli().parent().expect("bin").display().to_string();
    let with_modal = format!("{modal_dir}:/usr/bin:/bin");

    // A generous deadline: the CLI needs seconds to import on a loaded 2-CPU machine.
    let fallback = case.check(Some(&with_modal), &refs(&vars), &["--modal-timeout", "60s"]);
    assert_eq!(fallback.code, 0, "{}", fallback.stderr);
    let result = result_of(&fallback);
    assert_eq!(result["details"]["via"], "cli");
    assert!(
        result["details"]["native_fallback"]
            .as_str()
            .is_some_and(|why| why.contains("FAILED_PRECONDITION")),
        "{result}"
    );
    assert!(
        case.log().contains("\"modal_native_fallback\""),
        "{}",
        case.log()
    );

    // No CLI to ask: UNKNOWN saying why (PF109), exit 14.
    let alone = case.check(None, &refs(&vars), &[]);
    assert_eq!(alone.code, 14, "{}", alone.stderr);
    let result = result_of(&alone);
    assert_eq!(result["code"], "PF109");
    assert!(
        result["message"]
            .as_str()
            .is_some_and(|message| message.contains("not found on PATH")),
        "{result}"
    );
    // `native` never asks the CLI, even when it is there.
    let native = case.check(Some(&with_modal), &refs(&vars), &["--modal-via", "native"]);
    assert_eq!(native.code, 14, "{}", native.stderr);
    assert_eq!(result_of(&native)["code"], "PF109");
    assert!(alone.stderr.contains("error[PF109]"), "{}", alone.stderr);
    assert_no_secret(&fallback, &case.log(), &fake);

    // A server without the method: UNIMPLEMENTED is PF109 as well.
    let bare = fake_with(&["--unimplemented", "TokenInfoGet"]);
    let vars = token(GOOD_ID, GOOD_SECRET, &bare.url);
    let unimplemented = case.check(None, &refs(&vars), &[]);
    assert_eq!(result_of(&unimplemented)["code"], "PF109");

    // A bad PREFLIGHT_MODAL_VIA is a usage error, before any check.
    let mut usage = refs(&vars);
    usage.push(("PREFLIGHT_MODAL_VIA", "python"));
    let wrong = case.check(None, &usage, &[]);
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("PREFLIGHT_MODAL_VIA"),
        "{}",
        wrong.stderr
    );
}

/// One credential setup: its name, a config file (or none), and env vars; `<url>` in either
/// is replaced by the fake's URL. `MODAL_SERVER_URL` is set to it unless the file sets it.
type Setup = (
    &'static str,
    Option<String>,
    Vec<(&'static str, &'static str)>,
);

#[test]
fn native_verdicts_match_modal_token_info() {
    let fake = FakeModal::start();
    let profile = |name: &str, id: &str, secret: &str, active: bool| {
        format!(
            "[{name}]\ntoken_id = \"{id}\"\ntoken_secret = \"{secret}\"\n{}\n",
            if active { "active = true" } else { "" }
        )
    };
    let good = |name: &str, active: bool| profile(name, GOOD_ID, GOOD_SECRET, active);
    let env_pair = vec![
        ("MODAL_TOKEN_ID", GOOD_ID),
        ("MODAL_TOKEN_SECRET", GOOD_SECRET),
    ];
    let setups: Vec<Setup> = vec![
        ("env pair", None, env_pair.clone()),
        ("half a pair", None, vec![("MODAL_TOKEN_ID", GOOD_ID)]),
        (
            "bad pair",
            None,
            vec![
                ("MODAL_TOKEN_ID", BAD_ID),
                ("MODAL_TOKEN_SECRET", BAD_SECRET),
            ],
        ),
        (
            "good id, wrong secret",
            None,
            vec![
                ("MODAL_TOKEN_ID", GOOD_ID),
                ("MODAL_TOKEN_SECRET", BAD_SECRET),
            ],
        ),
        ("one profile", Some(good("default", false)), vec![]),
        (
            "env id with file secret",
            Some(format!("[default]\ntoken_secret = \"{GOOD_SECRET}\"\n")),
            vec![("MODAL_TOKEN_ID", GOOD_ID)],
        ),
        (
            "empty env hides the file",
            Some(good("default", false)),
            vec![("MODAL_TOKEN_ID", "")],
        ),
        (
            "unknown MODAL_PROFILE",
            Some(good("work", true)),
            vec![("MODAL_PROFILE", "nonexistent")],
        ),
        (
            "two active profiles",
            Some(format!("{}{}", good("a", true), good("b", true))),
            vec![],
        ),
        (
            "two profiles, none active",
            Some(format!("{}{}", good("a", false), good("b", false))),
            vec![],
        ),
        (
            "MODAL_PROFILE chooses one",
            Some(format!(
                "{}{}",
                profile("a", BAD_ID, BAD_SECRET, true),
                good("b", false)
            )),
            vec![("MODAL_PROFILE", "b")],
        ),
        (
            "server_url from the profile",
            Some(format!(
                "[default]\ntoken_id = \"{GOOD_ID}\"\ntoken_secret = \"{GOOD_SECRET}\"\nserver_url = \"<url>\"\n"
            )),
            vec![],
        ),
        (
            "service user in an active profile",
            Some(profile("ci", BOT_ID, BOT_SECRET, true)),
            vec![],
        ),
    ];
    assert!(setups.len() >= 10);

    let outcomes: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = setups
            .chunks(5)
            .map(|chunk| {
                let fake = &fake;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, config, vars)| compare(fake, name, config.as_deref(), vars))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("thread"))
            .collect()
    });
    let failures: Vec<&String> = outcomes
        .iter()
        .filter(|line| line.starts_with("MISMATCH"))
        .collect();
    eprintln!("{}", outcomes.join("\n"));
    assert!(failures.is_empty(), "{failures:#?}");
    // Both kinds of verdict occurred, so the comparison means something.
    assert!(outcomes.iter().any(|line| line.contains("both pass")));
    assert!(outcomes.iter().any(|line| line.contains("both fail")));
}

/// Runs both sides for one setup; "MISMATCH …" when their pass/fail differ.
fn compare(fake: &FakeModal, name: &str, config: Option<&str>, vars: &[(&str, &str)]) -> String {
    let case = Case::new();
    let config_sets_url = config.is_some_and(|text| text.contains("<url>"));
    if let Some(text) = config {
        std::fs::write(
            case.home().join(".modal.toml"),
            text.replace("<url>", &fake.url),
        )
        .expect("config");
    }
    let mut env: Vec<(&str, &str)> = vars.to_vec();
    if !config_sets_url {
        env.push(("MODAL_SERVER_URL", fake.url.as_str()));
    }
    let ours = case.check(None, &env, &["--modal-via", "native"]);
    let output = Command::new(modal_cli())
        .args(["token", "info"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", case.home())
        .envs(env.iter().copied())
        .output()
        .expect("run modal token info");
    let theirs_pass = output.status.success();
    let ours_pass = ours.code == 0;
    assert_no_secret(&ours, &case.log(), fake);
    let verdict = match (ours_pass, theirs_pass) {
        (true, true) => "both pass".to_owned(),
        (false, false) => "both fail".to_owned(),
        _ => format!(
            "MISMATCH: preflight exit {} vs modal exit {:?}\n{}\n{}",
            ours.code,
            output.status.code(),
            ours.stdout,
            String::from_utf8_lossy(&output.stderr)
        ),
    };
    if verdict.starts_with("MISMATCH") {
        verdict.replacen("MISMATCH", &format!("MISMATCH {name}"), 1)
    } else {
        format!("{name}: {verdict} (preflight exit {})", ours.code)
    }
}

/// A CA and a leaf for 127.0.0.1 signed by it, made with the `openssl` CLI.
fn test_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (apt-get install openssl)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=fake-modal test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

#[test]
fn tls_trusts_the_platform_roots_and_ssl_cert_file() {
    let certs = tempfile::tempdir().expect("certs");
    test_certificates(certs.path());
    let cert = certs.path().join("leaf.pem").display().to_string();
    let key = certs.path().join("leaf.key").display().to_string();
    let fake = fake_with(&["--tls-cert", &cert, "--tls-key", &key]);
    assert!(fake.url.starts_with("https://"), "{}", fake.url);
    let case = Case::new();
    let ca = certs.path().join("ca.pem").display().to_string();

    // The test CA through SSL_CERT_FILE: a verified TLS connection, ALPN h2, VALID.
    let mut vars = token(GOOD_ID, GOOD_SECRET, &fake.url);
    vars.push(("SSL_CERT_FILE".to_owned(), ca));
    let trusted = case.check(None, &refs(&vars), &[]);
    assert_eq!(trusted.code, 0, "{}", trusted.stderr);
    assert_eq!(result_of(&trusted)["details"]["server"], fake.url);

    // Without it the certificate is not trusted: UNKNOWN, and the hint names SSL_CERT_FILE.
    let untrusted = case.check(
        None,
        &refs(&token(GOOD_ID, GOOD_SECRET, &fake.url)),
        &["--modal-timeout", "1s"],
    );
    assert_eq!(untrusted.code, 14, "{}", untrusted.stderr);
    let result = result_of(&untrusted);
    assert_eq!(result["code"], "PF108");
    assert!(
        result["remediation"]
            .as_str()
            .is_some_and(|hint| hint.contains("SSL_CERT_FILE")),
        "{result}"
    );

    // An unreadable SSL_CERT_FILE is named, at once.
    let mut vars = token(GOOD_ID, GOOD_SECRET, &fake.url);
    vars.push(("SSL_CERT_FILE".to_owned(), "/nonexistent/ca.pem".to_owned()));
    let unreadable = case.check(None, &refs(&vars), &[]);
    assert_eq!(unreadable.code, 14, "{}", unreadable.stderr);
    assert!(
        result_of(&unreadable)["message"]
            .as_str()
            .is_some_and(|message| message.contains("/nonexistent/ca.pem")),
        "{}",
        unreadable.stdout
    );
    assert_eq!(fake.rpcs(), ["TokenInfoGet"]);
    assert_no_secret(&trusted, &case.log(), &fake);
}

#[test]
fn transient_statuses_are_retried_like_the_python_client() {
    let case = Case::new();
    // Two UNAVAILABLE answers, then service: the third attempt answers, on the same request key.
    let flaky = fake_with(&["--fail-first", "2:UNAVAILABLE"]);
    let recovered = case.check(None, &refs(&token(GOOD_ID, GOOD_SECRET, &flaky.url)), &[]);
    assert_eq!(recovered.code, 0, "{}", recovered.stderr);
    let attempts: Vec<Value> = metadata(&flaky)
        .iter()
        .map(|request| request["metadata"]["x-retry-attempt"].clone())
        .collect();
    assert_eq!(attempts, ["0", "1", "2"]);
    let keys: std::collections::BTreeSet<String> = metadata(&flaky)
        .iter()
        .map(|request| request["metadata"]["x-idempotency-key"].to_string())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");

    // Always INTERNAL: 3 retries (4 attempts), then UNKNOWN with the server's status.
    let broken = fake_with(&["--fail-first", "100:INTERNAL"]);
    let gave_up = case.check(None, &refs(&token(GOOD_ID, GOOD_SECRET, &broken.url)), &[]);
    assert_eq!(gave_up.code, 14, "{}", gave_up.stderr);
    let result = result_of(&gave_up);
    assert_eq!(result["code"], "PF108");
    assert_eq!(result["details"]["grpc_status"], "Internal");
    assert_eq!(broken.rpcs().len(), 4, "{:?}", broken.rpcs());

    // UNAUTHENTICATED is final: one attempt.
    let bad = FakeModal::start();
    let rejected = case.check(None, &refs(&token(BAD_ID, BAD_SECRET, &bad.url)), &[]);
    assert_eq!(rejected.code, 11, "{}", rejected.stderr);
    assert_eq!(bad.rpcs().len(), 1);
    assert_no_secret(&rejected, &case.log(), &bad);
}
