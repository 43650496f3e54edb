//! `preflight demo`: the whole credential pre-flight on a machine with no credentials and
//! no network. It starts the bundled Hub emulator in-process, checks a good, a revoked and a
//! missing token against it, and prints what a user would see plus the auth log.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use hub_emulator::{EmulatorConfig, TokenRole, TokenSpec};
use preflight_auth::{
    AuthValidator, Env, HfOptions, MapEnv, RepoTarget, TokenStatus, TokenValidationResult,
};
use preflight_errors::ExitStatus;

use crate::render;

const REPO: &str = "demo-user/dit-checkpoints";

pub async fn run(auth_log_flag: Option<&str>) -> u8 {
    let workdir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("error: cannot create a temporary directory for the demo: {error}");
            return ExitStatus::Failure.code();
        }
    };
    let default_log = workdir.path().join("auth.log");
    // The flag and PREFLIGHT_AUTH_LOG still win (`off` included); only the default moves
    // into the demo's scratch directory.
    let guard = super::start_logging(auth_log_flag, Some(&default_log.display().to_string()));
    let log_path = guard.path().map(std::path::Path::to_path_buf);

    let good = demo_token();
    let revoked = demo_token();
    preflight_log::register_secret(&good);
    preflight_log::register_secret(&revoked);
    let config = EmulatorConfig {
        tokens: vec![
            TokenSpec {
                token: good.clone(),
                user: "demo-user".into(),
                orgs: vec!["demo-org".into()],
                role: TokenRole::Write,
                display_name: Some("demo-write".into()),
                revoked: false,
            },
            TokenSpec {
                token: revoked.clone(),
                user: "demo-user".into(),
                orgs: Vec::new(),
                role: TokenRole::Write,
                display_name: Some("rotated-last-week".into()),
                revoked: true,
            },
        ],
        ..EmulatorConfig::default()
    };
    let emulator = match hub_emulator::start_in_background(config) {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("error: cannot start the bundled Hub emulator: {error}");
            return ExitStatus::Failure.code();
        }
    };
    let endpoint = emulator.url();
    println!(
        "Preflight demo: a Hub emulator is running at {endpoint} (no network, no real tokens)."
    );
    println!(
        "Each scenario runs `preflight check hf --repo {REPO} --need write` with a different token.\n"
    );

    let scenarios: [(&str, Option<&str>, TokenStatus); 3] = [
        (
            "1. A valid write token in HF_TOKEN",
            Some(&good),
            TokenStatus::Valid,
        ),
        (
            "2. A revoked token in HF_TOKEN",
            Some(&revoked),
            TokenStatus::Invalid,
        ),
        ("3. No token anywhere", None, TokenStatus::Missing),
    ];
    let mut all_as_expected = true;
    for (title, token, expected) in scenarios {
        let home = workdir
            .path()
            .join(format!("home-{}", expected.as_str().to_lowercase()));
        let mut env = MapEnv::new()
            .with("HF_ENDPOINT", endpoint.clone())
            .with("HF_HOME", home.join(".cache/huggingface").into_os_string())
            .with_home(&home);
        if let Some(token) = token {
            env = env.with("HF_TOKEN", token);
        }
        let result = check(Arc::new(env), &endpoint).await;
        println!("── {title} ──");
        print!("{}", render::table(std::slice::from_ref(&result)));
        if let Some(block) = render::failure(&result) {
            for line in block.lines() {
                println!("  {line}");
            }
        }
        println!("  exit status: {}\n", exit_code(&result));
        all_as_expected &= result.status == expected;
    }
    drop(emulator);
    drop(guard);

    match &log_path {
        Some(path) => {
            println!("── The auth log ({}) ──", path.display());
            match std::fs::read_to_string(path) {
                Ok(text) => print!("{text}"),
                Err(error) => println!("(could not read the auth log: {error})"),
            }
        }
        None => println!("── The auth log is off (--auth-log off or PREFLIGHT_AUTH_LOG=off) ──"),
    }
    println!(
        "\nNo token value appears above: tokens are masked to their prefix and last 4 characters."
    );
    if all_as_expected {
        ExitStatus::Success.code()
    } else {
        eprintln!("error: a demo scenario did not end as expected; this is a bug in Preflight");
        ExitStatus::Failure.code()
    }
}

async fn check(env: Arc<dyn Env>, endpoint: &str) -> TokenValidationResult {
    let target = RepoTarget::parse(REPO, "model", "write").ok();
    let options = HfOptions {
        endpoint: Some(endpoint.to_owned()),
        timeout: Duration::from_secs(5),
        target,
        ..HfOptions::default()
    };
    AuthValidator::new(env)
        .with_hf_options(options)
        .validate_hf_token()
        .await
}

fn exit_code(result: &TokenValidationResult) -> u8 {
    if result.passed() {
        0
    } else {
        result.code.map_or(1, |code| code.exit_status().code())
    }
}

/// A fresh, well-shaped fake token (`hf_` + 34 letters) so nothing real is ever involved.
fn demo_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut token = String::from("hf_");
    let mut hasher = RandomState::new().build_hasher();
    for index in 0..34u64 {
        hasher.write_u64(index);
        let value = hasher.finish();
        token.push(char::from(
            ALPHABET[(value % ALPHABET.len() as u64) as usize],
        ));
    }
    token
}
