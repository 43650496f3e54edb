use crate::support::{
    OTHER_ORG_TOKEN, READ_TOKEN, REVOKED_TOKEN, Sandbox, WRITE_TOKEN, assert_no_token, emulator,
    logged_statuses, run, table_status, write_file,
};

#[test]
fn valid_write_token_passes_with_identity_and_permission() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let result = run(sandbox
        .command()
        .args(["check", "hf", "--repo", "acme/dit", "--need", "write"])
        .env("HF_TOKEN", WRITE_TOKEN)
        .env("HF_ENDPOINT", hub.url()));
    assert_eq!(result.code, 0, "stderr: {}", result.stderr);
    assert_eq!(
        table_status(&result.stdout, "hf"),
        Some("VALID"),
        "{}",
        result.stdout
    );
    assert!(result.stdout.contains("env:HF_TOKEN"), "{}", result.stdout);
    assert!(result.stdout.contains("alice"), "{}", result.stdout);
    assert!(
        result.stdout.contains("write acme/dit: allowed"),
        "{}",
        result.stdout
    );
    let log = sandbox.log();
    assert!(
        log.contains("\"token_validated\""),
        "auth log records the check: {log}"
    );
    assert_eq!(logged_statuses(&log), ["VALID"], "{log}");
    assert_no_token(&result, &log);
}

#[test]
fn revoked_token_fails_after_one_request_naming_its_source() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let started = std::time::Instant::now();
    let result = run(sandbox
        .command()
        .args(["check", "hf"])
        .env("HF_TOKEN", REVOKED_TOKEN)
        .env("HF_ENDPOINT", hub.url()));
    assert_eq!(result.code, 11, "stderr: {}", result.stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the plan's 5 s bound"
    );
    assert!(result.stderr.contains("error[PF003]"), "{}", result.stderr);
    assert!(
        result.stderr.contains("HF_TOKEN"),
        "names the source: {}",
        result.stderr
    );
    assert!(result.stderr.contains("hint:"), "{}", result.stderr);
    assert!(
        result.stderr.contains("docs/auth-troubleshooting.md#pf003"),
        "{}",
        result.stderr
    );
    let whoami_calls = hub
        .requests()
        .iter()
        .filter(|request| request.path == "/api/whoami-v2")
        .count();
    assert_eq!(whoami_calls, 1, "exactly one request for an invalid token");
    assert_no_token(&result, &sandbox.log());
}

#[test]
fn read_token_is_valid_but_forbidden_to_write() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let result = run(sandbox
        .command()
        .args(["check", "hf", "--repo", "acme/dit"])
        .env("HF_TOKEN", READ_TOKEN)
        .env("HF_ENDPOINT", hub.url()));
    assert_eq!(result.code, 13, "stderr: {}", result.stderr);
    assert_eq!(
        table_status(&result.stdout, "hf"),
        Some("VALID"),
        "{}",
        result.stdout
    );
    assert!(result.stdout.contains("FORBIDDEN"), "{}", result.stdout);
    assert!(result.stderr.contains("error[PF005]"), "{}", result.stderr);
    assert_no_token(&result, &sandbox.log());
}

#[test]
fn fine_grained_token_for_another_org_is_forbidden() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let result = run(sandbox
        .command()
        .args(["check", "hf", "--repo", "acme/dit", "--json"])
        .env("HF_TOKEN", OTHER_ORG_TOKEN)
        .env("HF_ENDPOINT", hub.url()));
    assert_eq!(result.code, 13, "stderr: {}", result.stderr);
    let document: serde_json::Value = serde_json::from_str(&result.stdout).expect("JSON");
    assert_eq!(document["schema_version"], 1);
    assert_eq!(document["passed"], false);
    let hf = &document["results"][0];
    assert_eq!(hf["status"], "VALID");
    assert_eq!(hf["permission"]["verdict"], "forbidden");
    assert_eq!(hf["code"], "PF005");
    assert_no_token(&result, &sandbox.log());
}

#[test]
fn missing_token_fails_with_its_code_and_no_request() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let result = run(sandbox
        .command()
        .args(["check", "hf"])
        .env("HF_ENDPOINT", hub.url()));
    assert_eq!(result.code, 10, "stderr: {}", result.stderr);
    assert!(result.stdout.contains("MISSING"), "{}", result.stdout);
    assert!(result.stderr.contains("error[PF001]"), "{}", result.stderr);
    assert!(hub.requests().is_empty(), "nothing sent without a token");
}

#[test]
fn token_file_is_found_and_reported() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let token_path = sandbox.home().join(".cache/huggingface/token");
    write_file(&token_path, format!("{WRITE_TOKEN}\r\n").as_bytes());
    let result = run(sandbox
        .command()
        .args(["check", "hf"])
        .env("HF_ENDPOINT", hub.url()));
    assert_eq!(result.code, 0, "stderr: {}", result.stderr);
    assert!(result.stdout.contains("file:"), "{}", result.stdout);
    assert_no_token(&result, &sandbox.log());
}

#[test]
fn bad_repo_ids_are_usage_errors() {
    let sandbox = Sandbox::new();
    for repo in ["a/b/c", "../x", ""] {
        let result = run(sandbox
            .command()
            .args(["check", "hf", "--repo", repo])
            .env("HF_TOKEN", WRITE_TOKEN)
            .env("HF_ENDPOINT", "http://127.0.0.1:9"));
        assert_eq!(result.code, 2, "{repo:?}: {}", result.stderr);
        assert!(
            result.stderr.contains("error[PF009]"),
            "{repo:?}: {}",
            result.stderr
        );
        assert!(!result.stderr.contains("panicked"), "{}", result.stderr);
        assert_no_token(&result, &sandbox.log());
    }
}

#[test]
fn unreachable_hub_is_unknown_not_a_hang() {
    let sandbox = Sandbox::new();
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let result = run(sandbox
        .command()
        .args(["check", "hf", "--timeout", "2s"])
        .env("HF_TOKEN", WRITE_TOKEN)
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{dead_port}")));
    assert_eq!(result.code, 14, "stderr: {}", result.stderr);
    assert!(result.stdout.contains("UNKNOWN"), "{}", result.stdout);
    assert!(result.stderr.contains("error[PF006]"), "{}", result.stderr);
    assert_no_token(&result, &sandbox.log());
}

#[test]
fn no_argument_check_does_not_fail_an_hf_only_user_on_modal() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let result = run(sandbox
        .command()
        .arg("check")
        .env("HF_TOKEN", WRITE_TOKEN)
        .env("HF_ENDPOINT", hub.url())
        .env("MODAL_CONFIG_PATH", sandbox.dir.path().join("absent.toml")));
    assert_eq!(
        result.code, 0,
        "stdout: {}\nstderr: {}",
        result.stdout, result.stderr
    );
    assert!(
        result.stdout.contains("modal"),
        "Modal is shown: {}",
        result.stdout
    );
    assert!(result.stdout.contains("MISSING"), "{}", result.stdout);
    assert_no_token(&result, &sandbox.log());
}

#[test]
fn nothing_configured_at_all_fails() {
    let sandbox = Sandbox::new();
    let result = run(sandbox
        .command()
        .arg("check")
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env("MODAL_CONFIG_PATH", sandbox.dir.path().join("absent.toml")));
    assert_eq!(result.code, 10, "stderr: {}", result.stderr);
    assert!(
        result.stderr.contains("no credentials are configured"),
        "{}",
        result.stderr
    );
}

#[test]
fn an_auth_log_that_fails_mid_run_is_a_warning_not_a_failure() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let result = run(sandbox
        .command()
        .args(["check", "hf"])
        .env("HF_TOKEN", WRITE_TOKEN)
        .env("HF_ENDPOINT", hub.url())
        // Opens fine, then every write fails with "no space left on device".
        .env("PREFLIGHT_AUTH_LOG", "/dev/full"));
    assert_eq!(result.code, 0, "the check itself passed: {}", result.stderr);
    assert!(
        result.stderr.contains("warning: auth log:") && result.stderr.contains("line"),
        "lost lines are reported: {}",
        result.stderr
    );
    // Nothing reached a log file here; stdout and stderr are still searched.
    assert_no_token(&result, "");
}

/// A token pasted where the repo goes is quoted back in the usage error. No credential
/// pattern matches the fixture tokens, so only the command's registration of the token it
/// discovered (`register_secret`) keeps it out of stderr, stdout and the log.
#[test]
fn a_token_pasted_as_the_repo_is_masked_in_the_error() {
    let hub = emulator();
    for args in [
        vec!["check", "hf", "--repo", WRITE_TOKEN],
        vec!["check", "hf", "--repo", WRITE_TOKEN, "--json"],
        vec!["upload", ".", "--repo", WRITE_TOKEN, "--dry-run"],
    ] {
        let sandbox = Sandbox::new();
        let result = run(sandbox
            .command()
            .args(&args)
            .env("HF_TOKEN", WRITE_TOKEN)
            .env("HF_ENDPOINT", hub.url()));
        assert_eq!(result.code, 2, "{args:?}: {}", result.stderr);
        assert!(
            result
                .stderr
                .contains("error[PF009]: repo id `hf_…3Lm2` is not valid"),
            "{args:?}: {}",
            result.stderr
        );
        assert_no_token(&result, &sandbox.log());
    }
}
