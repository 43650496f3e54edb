//! `preflight run [--require modal,hf] [--repo NS/NAME] -- COMMAND [ARGS…]` and
//! `preflight train SCRIPT [-- ARGS…]`: check the credentials the command needs, then start
//! it with `preflight_launch` (own process group, interrupts forwarded, exit status passed
//! through). Nothing is started when a required check fails.
//!
//! Everything this command prints goes to **stderr**: stdout belongs to the child.

use std::ffi::{OsStr, OsString};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use preflight_auth::{Env, OsEnv, Provider, TokenValidationResult};
use preflight_errors::{Code, ExitStatus};
use preflight_launch::{CheckSummary, LaunchError, LaunchSpec, Requirements};

use super::credentials::{MaskTo, UsageError, build_validator, protect_secrets, secret_sink};
use crate::cli::{CredentialArgs, ProviderArg, parse_duration};
use crate::render;

/// Hidden, for tests only: a grace period in milliseconds that may be shorter than 10 s.
const TEST_GRACE_ENV: &str = "PREFLIGHT_TEST_KILL_GRACE_MS";

/// Options shared by `run` and `train`.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    #[command(flatten)]
    pub credentials: CredentialArgs,

    /// After the first interrupt, how long the command may take to stop before it is killed;
    /// more than 10s [env: PREFLIGHT_KILL_GRACE] [default: 30s]
    #[arg(long, value_parser = parse_grace, value_name = "DURATION")]
    pub kill_grace: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Checks that must pass first, comma-separated; Modal is always checked when COMMAND is
    /// `modal` (or `python -m modal`), HF whenever --repo is given
    #[arg(long, value_enum, value_delimiter = ',', value_name = "modal,hf")]
    pub require: Vec<ProviderArg>,

    #[command(flatten)]
    pub launch: LaunchArgs,

    /// The command to start and its arguments (after `--`)
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The Modal app file to run, e.g. src/train_dit.py (runs `modal run SCRIPT ARGS…`)
    pub script: OsString,

    #[command(flatten)]
    pub launch: LaunchArgs,

    /// Arguments for the script's local entrypoint (after `--`)
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<OsString>,
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    parse_duration(text).and_then(preflight_launch::check_kill_grace)
}

/// `preflight run`.
pub async fn run(args: &RunArgs) -> u8 {
    let Some((program, rest)) = args.command.split_first() else {
        return usage("no command was given: preflight run -- modal run src/train_dit.py");
    };
    let require_modal = args.require.contains(&ProviderArg::Modal);
    let require_hf = args.require.contains(&ProviderArg::Hf);
    launch_after_checks(program, rest, require_modal, require_hf, &args.launch).await
}

/// `preflight train SCRIPT [-- ARGS]` = `preflight run --require modal -- modal run SCRIPT ARGS`.
pub async fn train(args: &TrainArgs) -> u8 {
    let program = args
        .launch
        .credentials
        .modal_cli
        .clone()
        .map_or_else(|| OsString::from("modal"), OsString::from);
    let mut rest = vec![OsString::from("run"), args.script.clone()];
    rest.extend(args.args.iter().cloned());
    launch_after_checks(&program, &rest, true, false, &args.launch).await
}

async fn launch_after_checks(
    program: &OsStr,
    rest: &[OsString],
    require_modal: bool,
    require_hf: bool,
    options: &LaunchArgs,
) -> u8 {
    let env: Arc<dyn Env> = Arc::new(OsEnv);
    let name = std::path::Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned();

    // Resolve first: a missing `modal` is "command not found" (127), not a failed check.
    let resolved = match preflight_launch::resolve_program(program, env.var_os("PATH").as_deref()) {
        Ok(resolved) => resolved,
        Err(error) => return launch_failed(&name, &error),
    };

    let requirements = Requirements::for_command(
        program,
        rest,
        require_modal,
        require_hf,
        options.credentials.repo.is_some(),
    );
    // stdout belongs to the child; workflow commands are read from stderr too. Discovery
    // runs once: what is registered for redaction is what is validated.
    let found = preflight_auth::discover_credentials(&*env);
    let in_actions = protect_secrets(&*env, &found, MaskTo::Stderr);
    let sink = secret_sink(in_actions, MaskTo::Stderr);

    let results = match checks(
        env.clone(),
        options,
        &requirements,
        program,
        &resolved,
        found,
        sink,
    )
    .await
    {
        Ok(results) => results,
        Err((code, message, hint)) => {
            eprint!("{}", render::error_block(code, &message, &hint));
            return code.exit_status().code();
        }
    };
    if !results.is_empty() {
        eprint!("{}", render::table(&results));
        eprint!("{}", render::warnings(&results));
    }
    if let Some(failed) = results.iter().find(|result| !result.passed()) {
        for result in results.iter().filter(|result| !result.passed()) {
            if let Some(block) = render::failure(result) {
                eprint!("{block}");
            }
            eprint!("{}", setup_steps(result, options));
        }
        let code = failed.code.unwrap_or(Code::Pf101);
        tracing::warn!(
            target: "preflight::launch",
            event = "launch_refused",
            command = %name,
            checks = %requirements.names(),
            code = code.as_str(),
            "a required check failed; the command was not started"
        );
        eprintln!("error: `{name}` was not started because a required check failed (above)");
        return failed
            .code
            .map_or(ExitStatus::Failure, Code::exit_status)
            .code();
    }
    if results.is_empty() {
        eprintln!(
            "warning: no credential check applies to `{name}`; add --require modal,hf or --repo NS/NAME to check before it starts"
        );
    }

    let mut spec = LaunchSpec::new(program, rest.iter().cloned())
        .with_checks(results.iter().map(summary).collect());
    spec = match kill_grace(&*env, options) {
        Ok(Grace::Checked(grace)) => match spec.with_kill_grace(grace) {
            Ok(spec) => spec,
            Err(message) => return usage(&message),
        },
        Ok(Grace::Test(grace)) => spec.with_kill_grace_unchecked(grace),
        Ok(Grace::Default) => spec,
        Err(message) => return usage(&message),
    };
    match preflight_launch::launch(&spec).await {
        Ok(report) => {
            for warning in &report.warnings {
                eprintln!("{}", preflight_log::redact(&format!("warning: {warning}")));
            }
            report.exit_code
        }
        Err(error) => {
            eprint!(
                "{}",
                render::error_block(error.code(), &error.to_string(), &error.hint())
            );
            error.exit_code()
        }
    }
}

/// Runs the required checks: `[hf, modal]` order, as `check` does.
async fn checks(
    env: Arc<dyn Env>,
    options: &LaunchArgs,
    requirements: &Requirements,
    program: &OsStr,
    resolved: &std::path::Path,
    found: preflight_auth::Discovered,
    sink: preflight_auth::SecretSink,
) -> Result<Vec<TokenValidationResult>, UsageError> {
    if !requirements.modal && !requirements.hf {
        return Ok(Vec::new());
    }
    // Check with the very `modal` that will run the job.
    let modal_default = preflight_launch::invokes_modal(program, &[]).then(|| resolved.to_owned());
    let validator = build_validator(&options.credentials, env, modal_default, sink)?;
    Ok(validator
        .validate_selected(found, requirements.hf, requirements.modal)
        .await)
}

enum Grace {
    Default,
    Checked(Duration),
    Test(Duration),
}

fn kill_grace(env: &dyn Env, options: &LaunchArgs) -> Result<Grace, String> {
    if let Some(ms) = env.var(TEST_GRACE_ENV).filter(|ms| !ms.is_empty()) {
        let ms: u64 = ms
            .parse()
            .map_err(|_| format!("{TEST_GRACE_ENV} must be a number of milliseconds"))?;
        return Ok(Grace::Test(Duration::from_millis(ms)));
    }
    if let Some(grace) = options.kill_grace {
        return Ok(Grace::Checked(grace));
    }
    match env
        .var("PREFLIGHT_KILL_GRACE")
        .filter(|v| !v.trim().is_empty())
    {
        Some(text) => parse_grace(&text)
            .map(Grace::Checked)
            .map_err(|error| format!("PREFLIGHT_KILL_GRACE: {error}")),
        None => Ok(Grace::Default),
    }
}

fn usage(message: &str) -> u8 {
    eprintln!("error: {message}");
    ExitStatus::Usage.code()
}

fn launch_failed(name: &str, error: &LaunchError) -> u8 {
    tracing::error!(
        target: "preflight::launch",
        event = "launch_failed",
        command = %name,
        code = error.code().as_str(),
        exit_status = error.exit_code(),
        reason = %error,
        "the command could not be launched"
    );
    eprint!(
        "{}",
        render::error_block(error.code(), &error.to_string(), &error.hint())
    );
    error.exit_code()
}

/// Every credential value discovery can see, so our own output can be scrubbed of it.
/// What the log may say about a passed check: provider, masked token, identity.
fn summary(result: &TokenValidationResult) -> CheckSummary {
    let identity =
        result
            .identity
            .as_ref()
            .and_then(|identity| match (&identity.name, &identity.workspace) {
                (Some(name), Some(workspace)) => Some(format!("{name} @ {workspace}")),
                (Some(name), None) => Some(name.clone()),
                (None, Some(workspace)) => Some(workspace.clone()),
                (None, None) => None,
            });
    CheckSummary {
        provider: result.provider.as_str().to_owned(),
        masked_token: result.masked_token.clone(),
        identity,
    }
}

/// The setup steps printed after a failed check.
fn setup_steps(result: &TokenValidationResult, options: &LaunchArgs) -> String {
    match result.provider {
        Provider::Modal => "\
To set up Modal credentials, do one of:
  1. modal token new                    # browser sign-in; writes ~/.modal.toml
  2. modal token set --token-id ak-… --token-secret as-…   # a token from https://modal.com/settings/tokens
  3. export MODAL_TOKEN_ID=ak-… MODAL_TOKEN_SECRET=as-…    # CI; these override ~/.modal.toml
  With several profiles in ~/.modal.toml: modal profile activate NAME (or export MODAL_PROFILE=NAME).
  Then confirm with: preflight check modal
"
        .to_owned(),
        Provider::Hf => {
            let repo = options.credentials.repo.as_deref().unwrap_or("NS/NAME");
            let need = options.credentials.need.as_str();
            format!(
                "\
To set up the Hugging Face token, do one of:
  1. hf auth login                     # stores the token in ~/.cache/huggingface/token
  2. export HF_TOKEN=hf_…               # a token with write access to {repo} from https://huggingface.co/settings/tokens
  Then confirm with: preflight check hf --repo {repo} --need {need}
"
            )
        }
    }
}
