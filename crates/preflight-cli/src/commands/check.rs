//! `preflight check [hf|modal]...`: validate credentials and print the verdict.
//!
//! With no provider named, both are checked and shown, but only a provider that is
//! configured (some credential present) can fail the command, so an HF-only user is not
//! failed by Modal. When no provider is configured at all the command fails with the
//! Hugging Face "missing" code: a pre-flight that checked nothing must not pass.

use std::sync::Arc;

use preflight_auth::{Env, OsEnv, Provider, TokenValidationResult};
use preflight_errors::{Code, ExitStatus};

use super::credentials::{MaskTo, build_validator, protect_secrets, secret_sink};
use crate::cli::{CheckArgs, ProviderArg};
use crate::{github, render};

pub async fn run(args: &CheckArgs) -> u8 {
    let env: Arc<dyn Env> = Arc::new(OsEnv);
    run_with_env(args, env).await
}

pub async fn run_with_env(args: &CheckArgs, env: Arc<dyn Env>) -> u8 {
    // Discovery runs once: what is registered for redaction is what is validated.
    let found = preflight_auth::discover_credentials(&*env);
    let in_actions = protect_secrets(&*env, &found, MaskTo::Stdout);
    let sink = secret_sink(in_actions, MaskTo::Stdout);

    let validator = match build_validator(&args.credentials, env.clone(), None, sink) {
        Ok(validator) => validator,
        Err((code, message, hint)) => {
            if in_actions {
                print!("{}", github::error_annotation(code.as_str(), &message));
            }
            eprint!("{}", render::error_block(code, &message, &hint));
            return code.exit_status().code();
        }
    };

    let wants_hf = args.providers.is_empty() || args.providers.contains(&ProviderArg::Hf);
    let wants_modal = args.providers.is_empty() || args.providers.contains(&ProviderArg::Modal);
    let results = validator
        .validate_selected(found, wants_hf, wants_modal)
        .await;

    let status = exit_status(args, &results);
    let passed = status == ExitStatus::Success.code();
    if args.json {
        println!("{}", render::json(&results, passed));
    } else {
        print!("{}", render::table(&results));
    }
    eprint!("{}", render::warnings(&results));
    for result in &results {
        if is_required(args, result)
            && !result.passed()
            && let Some(block) = render::failure(result)
        {
            eprint!("{block}");
        }
    }
    if !passed && results.iter().all(|result| !is_required(args, result)) {
        eprint!(
            "{}",
            render::error_block(
                Code::Pf001,
                "no credentials are configured for Hugging Face or Modal",
                "set HF_TOKEN or run `hf auth login`; for Modal run `modal token new`",
            )
        );
    }
    if in_actions {
        print!("{}", github::annotations(&results));
        if let Some(warning) = github::append_summary(&*env, &results) {
            eprintln!("warning: {warning}");
        }
    }
    status
}

fn is_required(args: &CheckArgs, result: &TokenValidationResult) -> bool {
    let named = match result.provider {
        Provider::Hf => args.providers.contains(&ProviderArg::Hf),
        Provider::Modal => args.providers.contains(&ProviderArg::Modal),
    };
    named
        || result.configured
        || (result.provider == Provider::Hf && args.credentials.repo.is_some())
}

/// The exit status: the first required failure's code decides; with nothing configured at
/// all, the Hugging Face "missing" status.
fn exit_status(args: &CheckArgs, results: &[TokenValidationResult]) -> u8 {
    if let Some(failed) = results
        .iter()
        .find(|result| is_required(args, result) && !result.passed())
    {
        return failed
            .code
            .map_or(ExitStatus::Failure, Code::exit_status)
            .code();
    }
    if results.iter().any(|result| is_required(args, result)) {
        ExitStatus::Success.code()
    } else {
        ExitStatus::Missing.code()
    }
}
