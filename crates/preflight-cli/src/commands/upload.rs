//! `preflight upload PATH --repo NS/NAME`: pre-flight, then a resumable, retried upload.
//!
//! The pre-flight comes first: the token must be valid *and* allowed to write the target
//! repo. On failure nothing but the one `whoami-v2` request has been sent, and the command
//! stops with the check's code and its fix.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use preflight_auth::{
    AuthValidator, Env, HfOptions, HfRenewal, OsEnv, RenewalError, RepoTarget, Secret,
};
use preflight_errors::{Code, ExitStatus};
use preflight_hub::{HubClient, ProgressEvent, ProgressHandler, RepoType, UploadRequest};
use preflight_retry::{RetryConfig, RetryManager};

use super::credentials::{MaskTo, env_duration, protect_secrets, secret_sink};
use crate::cli::parse_duration;
use crate::{github, render};

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// A file or a folder to upload
    pub path: PathBuf,

    /// Target repository (NAMESPACE/NAME); created if missing
    #[arg(long, value_name = "NS/NAME")]
    pub repo: String,

    /// Repository type
    #[arg(long, value_name = "TYPE", default_value = "model")]
    pub repo_type: String,

    /// Branch to commit to
    #[arg(long, default_value = "main")]
    pub revision: String,

    /// Where the files go inside the repo (a folder, or a path for a single file)
    #[arg(long, value_name = "PATH")]
    pub path_in_repo: Option<String>,

    /// Create the repository as private if it does not exist
    #[arg(long)]
    pub private: bool,

    /// Commit message
    #[arg(long, short = 'm')]
    pub message: Option<String>,

    /// Only upload files matching this glob (repeatable; `*` matches `/`)
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,

    /// Leave out files matching this glob (repeatable); `.git` and `.cache/huggingface` always are
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Open a pull request instead of committing to --revision
    #[arg(long)]
    pub create_pr: bool,

    /// Commit only if --revision still points at this commit (the Hub's compare-and-swap);
    /// by default the commit lands on the branch head, as with the official client
    #[arg(long, value_name = "SHA")]
    pub parent_commit: Option<String>,

    /// Run the pre-flight and print the plan; upload nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print progress and the result as JSON lines on stdout
    #[arg(long)]
    pub json: bool,

    /// Files and parts in flight at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Hub base URL [env: HF_ENDPOINT] [default: https://huggingface.co]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// Deadline of the pre-flight check [env: PREFLIGHT_TIMEOUT]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,

    /// Attempts per request, including the first [env: PREFLIGHT_RETRY_MAX_ATTEMPTS]
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,

    /// Overall time budget of one request's retries [env: PREFLIGHT_RETRY_DEADLINE_MS]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub retry_deadline: Option<Duration>,
}

pub async fn run(args: &UploadArgs) -> u8 {
    let env: Arc<dyn Env> = Arc::new(OsEnv);
    // Discovery runs once; the upload sends the very token the pre-flight validated.
    let found = preflight_auth::discover_credentials(&*env);
    let in_actions = protect_secrets(&*env, &found, MaskTo::Stdout);
    let discovery = found.hf;

    let target = match RepoTarget::parse(&args.repo, &args.repo_type, "write") {
        Ok(target) => target,
        Err(error) => {
            return fail(
                Code::Pf009,
                &error.to_string(),
                "pass --repo NAMESPACE/NAME exactly as in the repo's URL, and --repo-type model, dataset or space",
            );
        }
    };
    let repo_type: RepoType = match args.repo_type.parse() {
        Ok(repo_type) => repo_type,
        Err(error) => {
            return fail(
                Code::Pf009,
                &error.to_string(),
                "use --repo-type model, dataset or space",
            );
        }
    };
    let valid_commit =
        |sha: &str| (5..=40).contains(&sha.len()) && sha.chars().all(|c| c.is_ascii_hexdigit());
    if args
        .parent_commit
        .as_deref()
        .is_some_and(|sha| !valid_commit(sha))
    {
        return fail(
            Code::Pf009,
            "--parent-commit is not a commit id",
            "pass 5 to 40 hex digits of the commit the branch must point at (or leave --parent-commit out)",
        );
    }
    let mut retry = match RetryConfig::from_env(|key| env.var(key)) {
        Ok(retry) => retry,
        Err(error) => {
            return fail(
                Code::Pf009,
                &error.to_string(),
                "fix or unset the PREFLIGHT_RETRY_* variable named above",
            );
        }
    };
    if let Some(attempts) = args.max_attempts {
        retry = retry.with_max_attempts(attempts.max(1));
    }
    if let Some(deadline) = args.retry_deadline {
        retry = retry.with_deadline(Some(deadline));
    }
    let timeout = match args.timeout {
        Some(timeout) => timeout,
        None => match env_duration(&*env, "PREFLIGHT_TIMEOUT") {
            Ok(timeout) => timeout.unwrap_or(Duration::from_secs(5)),
            Err((code, message, hint)) => return fail(code, &message, &hint),
        },
    };

    // 1. The pre-flight: one whoami, and the write-permission verdict.
    let options = HfOptions {
        endpoint: args.endpoint.clone(),
        timeout,
        target: Some(target),
        retry: retry.clone(),
        on_secret: Some(secret_sink(in_actions, MaskTo::Stdout)),
        ..HfOptions::default()
    };
    let validation = AuthValidator::new(env.clone())
        .with_hf_options(options)
        .validate_hf(discovery)
        .await;
    let check = validation.result;
    eprint!("{}", render::warnings(std::slice::from_ref(&check)));
    if !check.passed() {
        if in_actions {
            print!("{}", github::annotations(std::slice::from_ref(&check)));
        }
        if let Some(block) = render::failure(&check) {
            eprint!("{block}");
        }
        if args.json {
            let event = serde_json::json!({"event": "preflight_failed", "result": check});
            println!("{}", preflight_log::redact(&event.to_string()));
        }
        return check
            .code
            .map_or(ExitStatus::Failure, Code::exit_status)
            .code();
    }
    let Some(token) = validation.token else {
        return fail(
            Code::Pf001,
            "no Hugging Face token found",
            "set HF_TOKEN or run `hf auth login`",
        );
    };
    if !args.json {
        let who = check
            .identity
            .as_ref()
            .and_then(|identity| identity.name.clone())
            .unwrap_or_else(|| "?".to_owned());
        eprintln!(
            "pre-flight ok: {} ({}) may write {}",
            who,
            check.source.as_deref().unwrap_or("-"),
            args.repo
        );
    }

    // 2. The upload.
    let endpoint = args
        .endpoint
        .clone()
        .or_else(|| {
            env.var("HF_ENDPOINT")
                .filter(|value| !value.trim().is_empty())
        })
        .unwrap_or_else(|| "https://huggingface.co".to_owned());
    let expires_at = validation.renewal.expires_at;
    let client = match HubClient::new(&endpoint, Some(token), RetryManager::new(retry)) {
        Ok(client) => client.with_token_source(Arc::new(Renewer(validation.renewal)), expires_at),
        Err(error) => {
            return fail(
                Code::Pf006,
                &error.to_string(),
                "check --endpoint / HF_ENDPOINT",
            );
        }
    };
    let request = UploadRequest {
        source: args.path.clone(),
        repo_id: args.repo.clone(),
        repo_type,
        revision: args.revision.clone(),
        path_in_repo: args.path_in_repo.clone(),
        private: args.private,
        create_pr: args.create_pr,
        message: args.message.clone(),
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        dry_run: args.dry_run,
        concurrency: usize::from(args.concurrency),
        parent_commit: args.parent_commit.clone(),
        ..UploadRequest::default()
    };
    let progress: Box<dyn ProgressHandler> = if args.json {
        Box::new(JsonProgress)
    } else if std::io::stderr().is_terminal()
        && !in_actions
        && env.var("CI").is_none_or(|value| value.is_empty())
        && env.var("PREFLIGHT_NO_PROGRESS").is_none()
    {
        Box::new(Bars::new())
    } else {
        Box::new(preflight_hub::NoProgress)
    };
    let outcome = preflight_hub::upload(&client, &request, progress.as_ref()).await;
    drop(progress);
    match outcome {
        Ok(outcome) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "event": "result",
                        "commit_url": outcome.commit_url,
                        "commit_oid": outcome.commit_oid,
                        "pull_request_url": outcome.pull_request_url,
                        "files_uploaded": outcome.files_uploaded,
                        "files_skipped": outcome.files_skipped,
                        "bytes_sent": outcome.bytes_sent,
                        "repo_created": outcome.repo_created,
                        "retries": outcome.retries,
                        "duration_ms": outcome.duration.as_millis() as u64,
                        "dry_run": args.dry_run,
                    })
                );
            } else if args.dry_run {
                println!(
                    "dry run: {} files, {} bytes would be uploaded to {}",
                    outcome.plan.files.len(),
                    outcome.plan.total_bytes,
                    args.repo
                );
                for file in &outcome.plan.files {
                    println!("  {}  ({} bytes)", file.path_in_repo, file.size);
                }
            } else if let Some(url) = outcome
                .pull_request_url
                .as_ref()
                .or(outcome.commit_url.as_ref())
            {
                eprintln!(
                    "uploaded {} files ({} bytes sent, {} unchanged, {} retries) in {:.1} s",
                    outcome.files_uploaded,
                    outcome.bytes_sent,
                    outcome.files_skipped,
                    outcome.retries,
                    outcome.duration.as_secs_f64()
                );
                println!("{url}");
            } else {
                eprintln!(
                    "nothing to upload: the repo already has all {} files; no commit made",
                    outcome.files_skipped
                );
            }
            ExitStatus::Success.code()
        }
        Err(error) => {
            let code = error.code();
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!("\n  caused by: {cause}"));
                source = cause.source();
            }
            if in_actions {
                print!(
                    "{}",
                    github::error_annotation(&format!("{code} upload failed"), &error.to_string())
                );
            }
            if args.json {
                let event = serde_json::json!({"event": "failed", "code": code, "message": message, "hint": error.hint()});
                println!("{}", preflight_log::redact(&event.to_string()));
            }
            eprint!("{}", render::error_block(code, &message, &error.hint()));
            code.exit_status().code()
        }
    }
}

/// The auth crate's renewal, as the hub client asks for it.
struct Renewer(HfRenewal);

impl preflight_hub::TokenSource for Renewer {
    fn renew<'a>(&'a self, current: &'a Secret) -> preflight_hub::RenewFuture<'a> {
        Box::pin(async move {
            match self.0.renew(current).await {
                Ok((token, expires_at)) => Ok(preflight_hub::FreshToken { token, expires_at }),
                Err(RenewalError::Unavailable(reason)) => {
                    Err(preflight_hub::RenewFailure::Unavailable(reason))
                }
                Err(RenewalError::Failed(reason)) => {
                    Err(preflight_hub::RenewFailure::Failed(reason))
                }
            }
        })
    }
}

fn fail(code: Code, message: &str, hint: &str) -> u8 {
    eprint!("{}", render::error_block(code, message, hint));
    code.exit_status().code()
}

/// JSON progress events, one per line on stdout.
struct JsonProgress;

impl ProgressHandler for JsonProgress {
    fn on_event(&self, event: ProgressEvent) {
        let value = match event {
            ProgressEvent::Planned { files, bytes } => {
                serde_json::json!({"event": "planned", "files": files, "bytes": bytes})
            }
            ProgressEvent::FileStarted { path, bytes } => {
                serde_json::json!({"event": "file_started", "path": path, "bytes": bytes})
            }
            ProgressEvent::BytesSent { path, bytes } => {
                serde_json::json!({"event": "bytes_sent", "path": path, "bytes": bytes})
            }
            ProgressEvent::BytesRewound { path, bytes } => {
                serde_json::json!({"event": "bytes_rewound", "path": path, "bytes": bytes})
            }
            ProgressEvent::FileDone {
                path,
                bytes,
                mode,
                skipped,
            } => {
                serde_json::json!({"event": "file_done", "path": path, "bytes": bytes, "mode": mode.as_str(), "skipped": skipped})
            }
            ProgressEvent::Committing { files } => {
                serde_json::json!({"event": "committing", "files": files})
            }
            ProgressEvent::Complete { commit_url } => {
                serde_json::json!({"event": "complete", "commit_url": commit_url})
            }
        };
        println!("{value}");
    }
}

/// Progress bars on a terminal: one overall bar and one per file in flight.
struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    files: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template(
                "{prefix:>8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        total.set_prefix("total");
        Bars {
            multi,
            total,
            files: Mutex::new(HashMap::new()),
        }
    }
}

impl ProgressHandler for Bars {
    fn on_event(&self, event: ProgressEvent) {
        let Ok(mut files) = self.files.lock() else {
            return;
        };
        match event {
            ProgressEvent::Planned { bytes, .. } => self.total.set_length(bytes),
            ProgressEvent::FileStarted { path, bytes } => {
                let bar = self.multi.add(ProgressBar::new(bytes));
                bar.set_style(
                    ProgressStyle::with_template("  {msg:30!} [{bar:20}] {bytes}/{total_bytes}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_message(path.clone());
                files.insert(path, bar);
            }
            ProgressEvent::BytesSent { path, bytes } => {
                self.total.inc(bytes);
                if let Some(bar) = files.get(&path) {
                    bar.inc(bytes);
                }
            }
            ProgressEvent::BytesRewound { path, bytes } => {
                self.total
                    .set_position(self.total.position().saturating_sub(bytes));
                if let Some(bar) = files.get(&path) {
                    bar.set_position(bar.position().saturating_sub(bytes));
                }
            }
            ProgressEvent::FileDone {
                path,
                bytes,
                skipped,
                ..
            } => {
                if let Some(bar) = files.remove(&path) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                if skipped {
                    self.total.inc(bytes);
                }
            }
            ProgressEvent::Committing { files: count } => {
                self.total.set_message(format!("committing {count} files"));
            }
            ProgressEvent::Complete { .. } => self.total.finish_and_clear(),
        }
    }
}
