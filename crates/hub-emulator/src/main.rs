//! `hub-emulator`: run the Hub emulator as a process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use hub_emulator::{
    DEFAULT_CHUNK_SIZE, DEFAULT_MULTIPART_THRESHOLD, DEFAULT_REGULAR_MAX_SIZE, Emulator,
    EmulatorConfig, FaultPlan, FaultRule, OAuthLogin, OidcSettings, TokenSpec, TrustedPublisher,
};

const AFTER_HELP: &str = "\
TOKEN SPEC (--token):
  TOKEN=USER[+ORG...][:ROLE]            ROLE: read | write (default) | fine:ITEMS
  ITEMS: comma-separated PERM@TYPE/NAME (scoped; TYPE user|org|model|dataset|space,
         NAME `ns` or `ns/name`) or bare PERM (global)
  e.g.  hf_r=alice:read   hf_w=alice+acme:write
        hf_f=alice:fine:repo.write@org/acme,repo.content.read@model/alice/m1

TOKENS FILE (--tokens): a JSON list of
  {\"token\":\"hf_x\",\"user\":\"alice\",\"orgs\":[\"acme\"],\"role\":\"write\",
   \"display_name\":null,\"revoked\":false}
  role is \"read\", \"write\" or {\"fine_grained\":{\"scoped\":[{\"entity_type\":\"org\",
  \"entity_name\":\"acme\",\"permissions\":[\"repo.write\"]}],\"global\":[]}}

FAULT SPEC (--fault):  [METHOD] PATH ACTION [times=N|always]
  METHOD  GET, POST, ... or * (any; may be omitted)
  PATH    /exact/path | /glob/*/path (* matches anything, also /) | prefix:/p | *
  ACTION  status=CODE [retry-after=V] [body=TEXT] | delay=500ms|2s | reset | hang
          | truncate=BYTES | reset-body=BYTES | rate-limit=SECS
          | slow-status=DELAY:CODE (wait, then answer CODE)
  times defaults to always. e.g.
    'GET /api/whoami-v2 status=503 times=2'   'GET /api/whoami-v2 hang'
    'POST /api/models/*/commit/* reset times=1'   'PUT /_lfs/part/* truncate=0'

RANDOM FAULTS (--random-faults SEED:PROB): each non-admin request gets, with
  probability PROB, one of: 500, 503 (Retry-After: 1), 429 rate limit, reset, 200ms delay.

ADMIN API (never faulted): GET /_emulator/health; POST|GET|DELETE /_emulator/faults
  (JSON rule or {\"spec\":\"...\"}); GET|DELETE /_emulator/requests;
  POST /_emulator/tokens (JSON TokenSpec); POST /_emulator/tokens/revoke {\"token\":..}

OAUTH LOGIN (--oauth-login):
  'ACCESS=USER[+ORG...][:ROLE] refresh=R [expires_at=UNIX|expires_in=SECS] [lifetime=SECS]'
  The access token expires (default in 8 h; negative expires_in = already expired); R can
  be used once at POST /oauth/token (grant_type=refresh_token, the official client id);
  refreshed access tokens live `lifetime` seconds (default 30 days).

TRUSTED PUBLISHER (--trusted-publisher):
  'RESOURCE [iss=URL] [sub=S] [CLAIM=VALUE...] [read-only] [user=NAME]'
  RESOURCE: ns/name | datasets/ns/name | spaces/ns/name | kernels/ns/name | USER.
  iss defaults to the emulator's issuer (http://HOST:PORT/_actions); claims match exactly.
  e.g. 'acme/m sub=repo:acme/train:ref:refs/heads/main'

FAKE GITHUB ID-TOKEN ENDPOINT: GET /_actions/id-token?audience=AUD with
  Authorization: Bearer <--actions-request-token> -> {\"count\":1,\"value\":JWT};
  JWKS at /_actions/.well-known/jwks.

OAUTH ADMIN API: POST /_emulator/oauth/logins, POST /_emulator/oauth/revoke,
  GET|DELETE /_emulator/oauth (counters), POST|GET|DELETE /_emulator/trusted-publishers,
  POST|GET /_emulator/oidc (settings), POST /_emulator/oidc/id-token (mint),
  POST /_emulator/oidc/issuers (trust another JWKS). See crates/hub-emulator/README.md.

On start, prints exactly one line to stdout:  hub-emulator listening on http://HOST:PORT
Logs go to stderr (RUST_LOG, default info); token values are never logged.";

/// A Hugging Face Hub-compatible server for tests and offline CI, with fault injection.
#[derive(Parser, Debug)]
#[command(name = "hub-emulator", version, after_help = AFTER_HELP)]
struct Cli {
    /// Address to listen on (port 0 = pick a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Data directory (repos persist across restarts); default: a temp dir removed on exit.
    #[arg(long)]
    data: Option<PathBuf>,
    /// JSON file with a list of tokens.
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// A token, TOKEN=USER[+ORG...][:ROLE] (repeatable; see below).
    #[arg(long = "token", value_name = "SPEC", value_parser = TokenSpec::parse_cli)]
    token: Vec<TokenSpec>,
    /// A fault rule (repeatable; see below).
    #[arg(long = "fault", value_name = "SPEC", value_parser = FaultRule::parse_spec)]
    fault: Vec<FaultRule>,
    /// LFS objects larger than this (bytes) use multipart upload.
    #[arg(long, default_value_t = DEFAULT_MULTIPART_THRESHOLD)]
    lfs_multipart_threshold: u64,
    /// Multipart part size in bytes.
    #[arg(long, default_value_t = DEFAULT_CHUNK_SIZE)]
    chunk_size: u64,
    /// Preupload answers "lfs" for files larger than this (bytes).
    #[arg(long, default_value_t = DEFAULT_REGULAR_MAX_SIZE)]
    regular_max_size: u64,
    /// Seeded random faults on every non-admin route: SEED:PROBABILITY (e.g. 42:0.1).
    #[arg(long, value_name = "SEED:PROB", value_parser = parse_random)]
    random_faults: Option<(u64, f64)>,
    /// An OAuth login with a refresh token (repeatable; see below).
    #[arg(long = "oauth-login", value_name = "SPEC", value_parser = OAuthLogin::parse_cli)]
    oauth_login: Vec<OAuthLogin>,
    /// A trusted publisher (repeatable; see below).
    #[arg(long = "trusted-publisher", value_name = "SPEC", value_parser = TrustedPublisher::parse_cli)]
    trusted_publisher: Vec<TrustedPublisher>,
    /// Lifetime of exchanged (Trusted Publisher) tokens in seconds [default: 3600].
    #[arg(long, value_name = "SECS")]
    exchanged_token_lifetime: Option<u64>,
    /// The ACTIONS_ID_TOKEN_REQUEST_TOKEN the fake GitHub id-token endpoint accepts.
    #[arg(long, value_name = "TOKEN")]
    actions_request_token: Option<String>,
    /// The `iss` of id tokens the emulator mints [default: http://HOST:PORT/_actions].
    #[arg(long, value_name = "URL")]
    oidc_issuer: Option<String>,
    /// An audience accepted besides the emulator's own URL (repeatable).
    #[arg(long = "oidc-audience", value_name = "AUD")]
    oidc_audience: Vec<String>,
    /// The OAuth client id refreshes must carry [default: the official client's].
    #[arg(long, value_name = "ID")]
    oauth_client_id: Option<String>,
}

fn parse_random(s: &str) -> Result<(u64, f64), String> {
    let (seed, p) = s.split_once(':').ok_or("expected SEED:PROB, e.g. 42:0.1")?;
    let seed = seed.parse::<u64>().map_err(|_| "SEED must be an integer")?;
    let p = p.parse::<f64>().map_err(|_| "PROB must be a number")?;
    if !(0.0..=1.0).contains(&p) {
        return Err("PROB must be between 0 and 1".into());
    }
    Ok((seed, p))
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hub-emulator: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut tokens = Vec::new();
    if let Some(f) = &cli.tokens {
        let text = std::fs::read(f)
            .map_err(|e| anyhow::anyhow!("reading tokens file {}: {e}", f.display()))?;
        let list: Vec<TokenSpec> = serde_json::from_slice(&text).map_err(|e| {
            anyhow::anyhow!(
                "tokens file {} is not a JSON list of tokens: {e}",
                f.display()
            )
        })?;
        tokens.extend(list);
    }
    tokens.extend(cli.token);
    let faults = FaultPlan::new();
    for r in cli.fault {
        faults.add(r);
    }
    if let Some((seed, p)) = cli.random_faults {
        faults.set_random_mix(seed, p, FaultPlan::default_random_faults());
    }
    let config = EmulatorConfig {
        data_dir: cli.data,
        tokens,
        lfs_multipart_threshold: cli.lfs_multipart_threshold,
        multipart_chunk_size: cli.chunk_size,
        regular_max_size: cli.regular_max_size,
        bind: cli.addr,
        faults,
        oauth_logins: cli.oauth_login,
        trusted_publishers: cli.trusted_publisher,
        oidc: OidcSettings {
            exchanged_token_lifetime_secs: cli.exchanged_token_lifetime,
            request_token: cli.actions_request_token,
            issuer: cli.oidc_issuer,
            audiences: (!cli.oidc_audience.is_empty()).then_some(cli.oidc_audience),
            client_id: cli.oauth_client_id,
            ..OidcSettings::default()
        },
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let emu = Emulator::start(config).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "hub-emulator listening on {}", emu.url())?;
            out.flush()?;
        }
        wait_for_signal().await;
        tracing::info!("shutting down");
        emu.shutdown().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
