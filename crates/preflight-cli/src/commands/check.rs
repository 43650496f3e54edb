//! `preflight check [hf|modal]...`: validate credentials and print the verdict.
//!
//! With no provider named, both are checked and shown, but only a provider that is
//! configured (some credential present) can fail the command, so an HF-only user is not
//! failed by Modal. When no provider is configured at all the command fails with the
//! Hugging Face "missing" code: a pre-flight that checked nothing must not pass.

use std::sync::Arc;
use std::time::Duration;

use preflight_auth::{
    AuthValidator, Env, HfOptions, OsEnv, Provider, RepoTarget, Secret, TokenValidationResult,
};
use preflight_errors::{Code, ExitStatus};
use preflight_retry::RetryConfig;

use crate::cli::{CheckArgs, ProviderArg, parse_duration};
use crate::{github, render};

pub async fn run(args: &CheckArgs) -> u8 {
    let env: Arc<dyn Env> = Arc::new(OsEnv);
    run_with_env(args, env).await
}

pub async fn run_with_env(args: &CheckArgs, env: Arc<dyn Env>) -> u8 {
    let in_actions = github::active(&*env);
    let discovered = discovered_secrets(&*env);
    for secret in &discovered {
        preflight_log::register_secret(secret.expose());
    }
    if in_actions {
        let secrets: Vec<&Secret> = discovered.iter().collect();
        print!("{}", github::mask_commands(&secrets));
    }

    let validator = match build_validator(args, env.clone()) {
        Ok(validator) => validator,
        Err((code, message, hint)) => {
            if in_actions {
                println!("::error title={code}::{message}");
            }
            eprint!("{}", render::error_block(code, &message, &hint));
            return code.exit_status().code();
        }
    };

    let wants_hf = args.providers.is_empty() || args.providers.contains(&ProviderArg::Hf);
    let wants_modal = args.providers.is_empty() || args.providers.contains(&ProviderArg::Modal);
    let results: Vec<TokenValidationResult> = match (wants_hf, wants_modal) {
        (true, true) => validator.validate_all_tokens().await,
        (true, false) => vec![validator.validate_hf_token().await],
        (false, true) => vec![validator.validate_modal_token().await],
        (false, false) => Vec::new(),
    };

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

fn build_validator(
    args: &CheckArgs,
    env: Arc<dyn Env>,
) -> Result<AuthValidator, (Code, String, String)> {
    let target = match &args.repo {
        Some(repo) => Some(
            RepoTarget::parse(repo, &args.repo_type, args.need.as_str()).map_err(|error| {
                (
                    Code::Pf009,
                    error.to_string(),
                    "pass --repo NAMESPACE/NAME exactly as in the repo's URL, and --repo-type model, dataset or space".to_owned(),
                )
            })?,
        ),
        None => None,
    };
    let timeout = match args.timeout {
        Some(timeout) => timeout,
        None => env_duration(&*env, "PREFLIGHT_TIMEOUT")?.unwrap_or(Duration::from_secs(5)),
    };
    let retry = RetryConfig::from_env(|key| env.var(key)).map_err(|error| {
        (
            Code::Pf009,
            error.to_string(),
            "fix or unset the PREFLIGHT_RETRY_* variable named above".to_owned(),
        )
    })?;
    let hf = HfOptions {
        endpoint: args.endpoint.clone(),
        timeout,
        target,
        retry,
        ..HfOptions::default()
    };
    let mut modal = preflight_auth::ModalOptions::default();
    if let Some(path) = &args.modal_cli {
        modal.cli_path = Some(path.clone());
    }
    if let Some(timeout) = args.modal_timeout {
        modal.timeout = timeout;
    } else if let Some(timeout) = env_duration(&*env, "PREFLIGHT_MODAL_TIMEOUT")? {
        modal.timeout = timeout;
    }
    Ok(AuthValidator::new(env)
        .with_hf_options(hf)
        .with_modal_options(modal))
}

fn env_duration(env: &dyn Env, key: &str) -> Result<Option<Duration>, (Code, String, String)> {
    match env.var(key).filter(|value| !value.trim().is_empty()) {
        None => Ok(None),
        Some(value) => parse_duration(&value).map(Some).map_err(|error| {
            (
                Code::Pf009,
                format!("{key}: {error}"),
                format!("set {key} to a duration such as 5s or 800ms, or unset it"),
            )
        }),
    }
}

/// Every credential value discovery can see, so it can be masked in CI logs and scrubbed
/// from our own output before anything is printed.
fn discovered_secrets(env: &dyn Env) -> Vec<Secret> {
    let mut secrets = Vec::new();
    if let Some(token) = preflight_auth::discover_hf_token(env).token {
        secrets.push(token);
    }
    secrets.extend(preflight_auth::discover_modal_secrets(env));
    secrets
}

fn is_required(args: &CheckArgs, result: &TokenValidationResult) -> bool {
    let named = match result.provider {
        Provider::Hf => args.providers.contains(&ProviderArg::Hf),
        Provider::Modal => args.providers.contains(&ProviderArg::Modal),
    };
    named || result.configured || (result.provider == Provider::Hf && args.repo.is_some())
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
