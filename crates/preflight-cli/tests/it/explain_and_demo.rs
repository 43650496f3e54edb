use crate::support::{Sandbox, run};

#[test]
fn explain_prints_the_guide_section() {
    let sandbox = Sandbox::new();
    let result = run(sandbox.command().args(["explain", "pf003"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(result.stdout.starts_with("## PF003"), "{}", result.stdout);
    assert!(result.stdout.contains("Resolution"), "{}", result.stdout);
    assert!(result.stdout.contains("docs/auth-troubleshooting.md#pf003"));
}

#[test]
fn explain_rejects_unknown_codes_with_the_list() {
    let sandbox = Sandbox::new();
    let result = run(sandbox.command().args(["explain", "PF999"]));
    assert_eq!(result.code, 2);
    assert!(result.stderr.contains("PF001"), "{}", result.stderr);
}

#[test]
fn demo_shows_good_bad_and_missing_and_the_log_without_tokens() {
    let sandbox = Sandbox::new();
    let result = run(sandbox.command().arg("demo"));
    assert_eq!(
        result.code, 0,
        "stdout: {}\nstderr: {}",
        result.stdout, result.stderr
    );
    for expected in [
        "VALID",
        "INVALID",
        "MISSING",
        "error[PF003]",
        "error[PF001]",
        "token_validated",
    ] {
        assert!(
            result.stdout.contains(expected),
            "missing {expected}:\n{}",
            result.stdout
        );
    }
    // The demo's tokens are random `hf_` + 34 letters; none may appear in full.
    let leaked = result.stdout.match_indices("hf_").any(|(index, _)| {
        result.stdout[index + 3..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .count()
            >= 20
    });
    assert!(
        !leaked,
        "a full token appears in the demo output:\n{}",
        result.stdout
    );
}

#[test]
fn version_names_the_commit_and_completions_generate() {
    let sandbox = Sandbox::new();
    let result = run(sandbox.command().arg("--version"));
    assert_eq!(result.code, 0);
    assert!(result.stdout.contains("commit"), "{}", result.stdout);
    let result = run(sandbox.command().args(["completions", "bash"]));
    assert_eq!(result.code, 0);
    assert!(result.stdout.contains("preflight"), "{}", result.stdout);
}
