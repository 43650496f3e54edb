//! How results look: the table for people, JSON for machines, `error[PF…]` blocks for failures.
//!
//! Output is readable without colour; stdout carries data (table or JSON), stderr carries
//! diagnostics. Every string that reaches a terminal goes through the log crate's redactor
//! as a last line of defence against a token slipping into a message.

use std::fmt::Write as _;

use preflight_auth::{PermissionVerdict, TokenValidationResult};
use preflight_errors::Code;

/// The JSON document `preflight check --json` prints. `schema_version` changes only when a
/// field is removed or changes meaning; new fields may appear at any time.
pub const CHECK_SCHEMA_VERSION: u32 = 1;

/// Renders results as an aligned text table.
pub fn table(results: &[TokenValidationResult]) -> String {
    let header = [
        "PROVIDER",
        "STATUS",
        "SOURCE",
        "TOKEN",
        "IDENTITY",
        "PERMISSION",
        "LATENCY",
    ];
    let rows: Vec<[String; 7]> = results.iter().map(row).collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row.iter()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: &[String]| {
        let mut line = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths.iter()).enumerate() {
            if index + 1 == cells.len() {
                line.push_str(cell);
            } else {
                let pad = width.saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_row(&header.map(str::to_owned));
    for row in &rows {
        push_row(row);
    }
    preflight_log::redact(&out)
}

fn row(result: &TokenValidationResult) -> [String; 7] {
    let identity = result
        .identity
        .as_ref()
        .map(|identity| {
            let mut text = identity
                .name
                .clone()
                .or_else(|| identity.workspace.clone())
                .unwrap_or_else(|| "-".to_owned());
            if let Some(workspace) = &identity.workspace
                && identity.name.is_some()
            {
                let _ = write!(text, " @ {workspace}");
            }
            if !identity.orgs.is_empty() {
                let _ = write!(text, " (orgs: {})", identity.orgs.join(", "));
            }
            text
        })
        .unwrap_or_else(|| "-".to_owned());
    let role = result
        .token_role
        .as_deref()
        .map(|role| format!(" [{role}]"))
        .unwrap_or_default();
    let permission = result
        .permission
        .as_ref()
        .map(|check| {
            let verdict = match check.verdict {
                PermissionVerdict::Allowed => "allowed",
                PermissionVerdict::Forbidden => "FORBIDDEN",
                PermissionVerdict::Undetermined => "undetermined",
            };
            format!("{} {}: {verdict}", check.need, check.repo)
        })
        .unwrap_or_else(|| "-".to_owned());
    [
        result.provider.to_string(),
        result.status.to_string(),
        result.source.clone().unwrap_or_else(|| "-".to_owned()),
        result
            .masked_token
            .clone()
            .unwrap_or_else(|| "-".to_owned()),
        format!("{identity}{role}"),
        permission,
        format!("{} ms", result.latency.as_millis()),
    ]
}

/// The `error[PF…]` block for a failed result: what happened, what to do, where to read more.
pub fn failure(result: &TokenValidationResult) -> Option<String> {
    let code = result.code?;
    let mut text = format!("error[{code}]: {}: {}\n", result.provider, result.message);
    if let Some(permission) = &result.permission
        && permission.verdict == PermissionVerdict::Forbidden
    {
        let _ = writeln!(text, "  reason: {}", permission.reason);
    }
    if let Some(remediation) = &result.remediation {
        let _ = writeln!(text, "hint: {remediation}");
    }
    let _ = writeln!(text, "{}", see_also(code));
    Some(preflight_log::redact(&text))
}

/// The closing line of every error block.
pub fn see_also(code: Code) -> String {
    format!(
        "see: {} (or run `preflight explain {code}`)",
        code.docs_anchor()
    )
}

/// A generic error block for failures that are not a validation result.
pub fn error_block(code: Code, message: &str, hint: &str) -> String {
    preflight_log::redact(&format!(
        "error[{code}]: {message}\nhint: {hint}\n{}\n",
        see_also(code)
    ))
}

/// Warnings attached to results, one `warning:` line each.
pub fn warnings(results: &[TokenValidationResult]) -> String {
    let mut text = String::new();
    for result in results {
        for warning in &result.warnings {
            let _ = writeln!(text, "warning: {}: {warning}", result.provider);
        }
    }
    preflight_log::redact(&text)
}

/// The `--json` document.
pub fn json(results: &[TokenValidationResult], passed: bool) -> String {
    let document = serde_json::json!({
        "schema_version": CHECK_SCHEMA_VERSION,
        "passed": passed,
        "results": results,
    });
    let text = serde_json::to_string_pretty(&document).unwrap_or_else(|error| {
        format!("{{\"schema_version\":{CHECK_SCHEMA_VERSION},\"error\":\"{error}\"}}")
    });
    preflight_log::redact(&text)
}
