//! GitHub Actions awareness: masks, annotations and the step summary.
//!
//! When `GITHUB_ACTIONS=true`, every token Preflight discovered is registered with
//! `::add-mask::` before anything else is printed; that is the one place a token value is
//! written, because GitHub needs the value to mask it. Failures become `::error` annotations
//! with the code and hint, warnings `::warning`, and a Markdown table of the checks is
//! appended to `$GITHUB_STEP_SUMMARY`.

use std::fmt::Write as _;
use std::io::Write as _;

use preflight_auth::{Env, Secret, TokenValidationResult};

/// True when running as a GitHub Actions step.
pub fn active(env: &dyn Env) -> bool {
    env.var("GITHUB_ACTIONS").as_deref() == Some("true")
}

/// `::add-mask::` lines for each secret, to be printed before any other output.
pub fn mask_commands(secrets: &[&Secret]) -> String {
    let mut text = String::new();
    for secret in secrets {
        let value = secret.expose();
        // A value with a line break would end the command early and leak its tail.
        for line in value.lines().filter(|line| !line.trim().is_empty()) {
            let _ = writeln!(text, "::add-mask::{}", escape_data(line));
        }
    }
    text
}

/// One `::error` annotation, escaped and redacted.
pub fn error_annotation(title: &str, message: &str) -> String {
    format!(
        "::error title={}::{}\n",
        escape_property(title),
        escape_data(&preflight_log::redact(message))
    )
}

/// `::error` / `::warning` annotations for the results.
pub fn annotations(results: &[TokenValidationResult]) -> String {
    let mut text = String::new();
    for result in results {
        for warning in &result.warnings {
            let _ = writeln!(
                text,
                "::warning title={}::{}",
                escape_property(&format!("preflight {}", result.provider)),
                escape_data(&preflight_log::redact(warning))
            );
        }
        if let Some(code) = result.code
            && !result.passed()
        {
            let mut body = result.message.clone();
            if let Some(permission) = &result.permission {
                let _ = write!(body, "\n{}", permission.reason);
            }
            if let Some(hint) = &result.remediation {
                let _ = write!(body, "\nhint: {hint}");
            }
            let _ = write!(body, "\nsee: {}", code.docs_anchor());
            let _ = writeln!(
                text,
                "::error title={}::{}",
                escape_property(&format!("{code} {} {}", result.provider, result.status)),
                escape_data(&preflight_log::redact(&body))
            );
        }
    }
    text
}

/// The Markdown table appended to `$GITHUB_STEP_SUMMARY`.
pub fn summary_markdown(results: &[TokenValidationResult]) -> String {
    let mut text = String::from(
        "### Preflight credential checks\n\n| Provider | Status | Source | Token | Identity | Permission | Code |\n|---|---|---|---|---|---|---|\n",
    );
    for result in results {
        let identity = result
            .identity
            .as_ref()
            .and_then(|identity| identity.name.clone().or(identity.workspace.clone()))
            .unwrap_or_else(|| "-".to_owned());
        let permission = result
            .permission
            .as_ref()
            .map(|check| format!("{} {}: {:?}", check.need, check.repo, check.verdict))
            .unwrap_or_else(|| "-".to_owned());
        let status = if result.passed() {
            format!("✅ {}", result.status)
        } else {
            format!("❌ {}", result.status)
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} |",
            result.provider,
            status,
            cell(result.source.as_deref().unwrap_or("-")),
            cell(result.masked_token.as_deref().unwrap_or("-")),
            cell(&identity),
            cell(&permission),
            result
                .code
                .map(|code| code.to_string())
                .unwrap_or_else(|| "-".to_owned()),
        );
    }
    preflight_log::redact(&text)
}

/// Appends the summary to `$GITHUB_STEP_SUMMARY`; a failure to write is a warning.
pub fn append_summary(env: &dyn Env, results: &[TokenValidationResult]) -> Option<String> {
    let path = env
        .var("GITHUB_STEP_SUMMARY")
        .filter(|path| !path.is_empty())?;
    let result = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(summary_markdown(results).as_bytes()));
    result
        .err()
        .map(|error| format!("could not append to GITHUB_STEP_SUMMARY ({path}): {error}"))
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Escapes a workflow command's message (`%`, CR, LF), as the runner expects.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command property value (also `:` and `,`).
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_auth::{MapEnv, Provider, TokenStatus};

    #[test]
    fn masks_each_line_of_a_secret() {
        let secret = Secret::new("hf_abc\nsecond");
        assert_eq!(
            mask_commands(&[&secret]),
            "::add-mask::hf_abc\n::add-mask::second\n"
        );
    }

    #[test]
    fn failures_become_error_annotations() {
        let mut result = TokenValidationResult::new(Provider::Hf, TokenStatus::Invalid, "rejected");
        result.code = Some(preflight_errors::Code::Pf003);
        result.remediation = Some("run `hf auth login`".into());
        let text = annotations(&[result.clone()]);
        assert!(text.starts_with("::error title=PF003 hf INVALID::rejected%0Ahint: run"));
        let summary = summary_markdown(&[result]);
        assert!(summary.contains("| hf | ❌ INVALID |"));
        assert!(active(&MapEnv::new().with("GITHUB_ACTIONS", "true")));
        assert!(!active(&MapEnv::new()));
    }
}
