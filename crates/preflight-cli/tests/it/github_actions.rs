use crate::support::{READ_TOKEN, REVOKED_TOKEN, Sandbox, WRITE_TOKEN, emulator, run};

/// Under GitHub Actions the token value may appear only on the `::add-mask::` line, which
/// must come before any other output.
fn assert_only_masked(stdout: &str, stderr: &str, token: &str) {
    let mut seen_other_output = false;
    for line in stdout.lines() {
        if line.starts_with("::add-mask::") {
            assert!(!seen_other_output, "add-mask must come first:\n{stdout}");
            continue;
        }
        seen_other_output = true;
        assert!(!line.contains(token), "token outside add-mask: {line}");
    }
    assert!(!stderr.contains(token), "token on stderr:\n{stderr}");
}

#[test]
fn actions_mode_masks_annotates_and_summarises() {
    let hub = emulator();
    let sandbox = Sandbox::new();
    let summary = sandbox.dir.path().join("summary.md");
    for (token, expected_code) in [(WRITE_TOKEN, 0), (READ_TOKEN, 13), (REVOKED_TOKEN, 11)] {
        let result = run(sandbox
            .command()
            .args(["check", "hf", "--repo", "alice/model", "--need", "write"])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("HF_TOKEN", token)
            .env("HF_ENDPOINT", hub.url()));
        assert_eq!(result.code, expected_code, "{}", result.stderr);
        assert!(
            result.stdout.starts_with(&format!("::add-mask::{token}\n")),
            "{}",
            result.stdout
        );
        assert_only_masked(&result.stdout, &result.stderr, token);
        if expected_code != 0 {
            assert!(
                result.stdout.contains("::error title=PF"),
                "{}",
                result.stdout
            );
        }
        let log = sandbox.log();
        assert!(
            log.contains("\"token_validated\""),
            "the auth log was written: {log}"
        );
        assert!(!log.contains(token), "token in the auth log");
    }
    let summary = std::fs::read_to_string(summary).expect("summary written");
    assert!(summary.contains("| Provider | Status |"), "{summary}");
    let statuses: Vec<&str> = summary
        .lines()
        .filter(|line| line.starts_with("| hf |"))
        .filter_map(|line| line.split('|').nth(2).map(str::trim))
        .collect();
    assert_eq!(
        statuses,
        ["✅ VALID", "❌ VALID", "❌ INVALID"],
        "{summary}"
    );
    assert!(summary.contains("PF003"), "{summary}");
}
