//! A Hugging Face Hub emulator for tests and offline CI, with fault injection.
//!
//! It speaks enough of the Hub's HTTP protocol for the official Python client
//! (`huggingface_hub`, run with `HF_HUB_DISABLE_XET=1`) and for Preflight's own
//! client: token checks, repo creation, preupload, LFS basic + multipart
//! transfers, NDJSON commits, tree listing and downloads. It shares no types
//! with the Preflight client crates on purpose.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hub_emulator::EmulatorError> {
//! use hub_emulator::*;
//! let emu = Emulator::start(EmulatorConfig {
//!     tokens: vec![TokenSpec::parse_cli("hf_write=alice+acme:write").unwrap()],
//!     ..Default::default()
//! }).await?;
//! emu.faults().add(FaultRule::parse_spec("GET /api/whoami-v2 status=503 times=2").unwrap());
//! println!("HF_ENDPOINT={}", emu.url());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Routes
//!
//! `{t}` is `models|datasets|spaces`; `{p}` is the URL prefix `""|datasets/|spaces/`;
//! a revision is a branch, `refs/pr/N` (percent-encoded `refs%2Fpr%2FN` or plain) or a
//! commit sha (or unique prefix of at least 7 hex digits).
//!
//! | Route | Notes |
//! |---|---|
//! | `GET /api/whoami-v2` | whoami JSON for read/write/fineGrained tokens; 401 `{"error":"Invalid credentials in Authorization header"}` (same text in `X-Error-Message`) for a missing, unknown or revoked token |
//! | `POST /oauth/token` | form or JSON. `grant_type=refresh_token` (+ `refresh_token`, `client_id` = [`OFFICIAL_CLIENT_ID`]) -> a new `hf_oauth_…` access token and a rotated refresh token (each refresh token works once; reuse/revoked -> 400 `invalid_grant`; another client id -> 401 `invalid_client`). `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (+ `subject_token_type` id_token, `subject_token`, `resource`) -> a repo-scoped `hf_jwt_…` (or a read-only `hf_oauth_…` for a username resource) when a [`TrustedPublisher`] matches the verified id token; else 400 `invalid_grant` |
//! | `GET /_actions/id-token?audience=..` | the fake GitHub Actions id-token endpoint (`Authorization: Bearer <request token>`) -> `{"count":1,"value":JWT}`; `GET /_actions/.well-known/{jwks,openid-configuration}` |
//! | `POST /api/repos/create` | `{name, organization?, type?, private?, visibility?}` -> `{url,name,id}`; 409 with `url` if it exists; 403 if the token may not create in the namespace |
//! | `DELETE /api/repos/delete` | same body; needs write |
//! | `POST /api/validate-yaml` | always `{"errors":[],"warnings":[]}` |
//! | `GET /api/agent-harnesses` | 404 |
//! | `GET /api/{t}/{ns}/{n}[/revision/{rev}]` | `id`, `sha`, `private`, `siblings[]` (`rfilename`, `size`, `blobId`, `lfs{sha256,size,pointerSize}`); `X-Error-Code: RepoNotFound` (401 anonymous, 404 authenticated) or `RevisionNotFound` |
//! | `GET /api/{t}/{ns}/{n}/tree/{rev}[/{path}]` | `?recursive=`/`?expand=` (`true`/`True`/`1`); items with `oid` = git blob sha1 and `lfs.oid` = sha256; no pagination |
//! | `GET /api/{t}/{ns}/{n}/refs` | branches and `pullRequests` |
//! | `POST /api/{t}/{ns}/{n}/paths-info/{rev}` | form `paths=..` (repeated) |
//! | `POST /api/{t}/{ns}/{n}/preupload/{rev}` | `uploadMode` (`lfs` when size > `regular_max_size`, the 512-byte sample has a NUL byte, or `.gitattributes` says LFS), `shouldIgnore` (request `gitIgnore` or the committed `.gitignore`, minimal patterns), `oid` of the existing file |
//! | `POST /{p}{ns}/{n}.git/info/lfs/objects/batch` | `transfer:"basic"`; stored objects get no `actions`; size > `lfs_multipart_threshold` gets a multipart `header` (`chunk_size` + part URLs `"1".."n"`); offering only `xet` is a 400 |
//! | `PUT /_lfs/upload/{secret}/{oid}` | basic upload, no auth, streamed to disk, sha256 + size verified |
//! | `PUT /_lfs/part/{secret}/{oid}/{n}` | multipart part, answers a quoted `ETag` |
//! | `POST /_lfs/complete/{secret}/{oid}` | `{oid, parts:[{partNumber, etag}]}`; assembles and verifies |
//! | `POST /_lfs/verify/{secret}/{oid}` | auth required; `{oid,size}` -> 200 if stored, else 404 |
//! | `POST /api/{t}/{ns}/{n}/commit/{rev}` | NDJSON `header`/`file`/`lfsFile`/`deletedFile`/`deletedFolder`; atomic; a stale `parentCommit` is **412**; `?create_pr=1` opens `refs/pr/N` |
//! | `HEAD/GET /{p}{ns}/{n}/resolve/{rev}/{path}` | `X-Repo-Commit`, `ETag` (git sha1, or sha256 for LFS), `Content-Length`, `Range`; `X-Error-Code: EntryNotFound` |
//! | `GET /api/{t}/{ns}/{n}/xet-write-token/..` | 501: Xet is not emulated |
//!
//! Every response carries `X-Request-Id`. Write routes need a token with write access
//! to the repo (401 for a bad/missing token, 403 otherwise). Upload URLs need no auth
//! but contain a random secret. Request bodies have no size limit and uploads are
//! streamed to disk.
//!
//! # Permissions
//!
//! `read` tokens read public repos and the private repos of the user and their orgs.
//! `write` tokens also write and create there. `fineGrained` tokens read private repos
//! and write where a scoped entry grants `repo.content.read`/`repo.write` on the
//! namespace (`user`/`org` entity) or on the repo itself (`model`/`dataset`/`space`
//! entity `ns/name`); creating a repo needs `repo.write` on the namespace entity.
//!
//! # Faults
//!
//! A [`FaultPlan`] holds [`FaultRule`]s (method + [`PathMatch`] + [`Fault`] + [`Times`]);
//! the first matching rule fires. A seeded random mix can be added with
//! [`FaultPlan::random_mix`]. Admin routes are never faulted. The spec syntax used by
//! the CLI `--fault` flag and the admin API is documented at [`FaultRule::parse_spec`]:
//! `[METHOD] PATH ACTION [times=N|always]`, e.g. `GET /api/whoami-v2 status=503 times=2`,
//! `PUT /_lfs/part/* reset times=1`, `* * delay=200ms`.
//!
//! # Admin API (never faulted, never logged)
//!
//! | Route | Body / answer |
//! |---|---|
//! | `GET /_emulator/health` | `{"status":"ok","url":..}` |
//! | `POST /_emulator/faults` | a JSON [`FaultRule`] (e.g. `{"method":"GET","path":{"exact":"/api/whoami-v2"},"fault":{"status":{"code":503}},"times":{"next":2}}`) or `{"spec":"GET /api/whoami-v2 status=503 times=2"}` |
//! | `GET /_emulator/faults` / `DELETE /_emulator/faults` | list / clear rules (and the random mix) |
//! | `GET /_emulator/requests` / `DELETE /_emulator/requests` | the [`RequestRecord`] log as JSON / clear it |
//! | `POST /_emulator/tokens` | a JSON [`TokenSpec`] (e.g. `{"token":"hf_x","user":"alice","orgs":[],"role":"write"}`; fine-grained: `"role":{"fine_grained":{"scoped":[{"entity_type":"org","entity_name":"acme","permissions":["repo.write"]}],"global":[]}}`) |
//! | `POST /_emulator/tokens/revoke` | `{"token":"hf_x"}` |
//! | `POST /_emulator/oauth/logins` / `POST /_emulator/oauth/revoke` | a JSON [`OAuthLogin`] / `{"refresh_token":..,"access_token":..}` |
//! | `GET /_emulator/oauth` / `DELETE /_emulator/oauth` | [`OAuthCounters`] / reset them |
//! | `POST\|GET\|DELETE /_emulator/trusted-publishers` | a JSON [`TrustedPublisher`] / list / clear |
//! | `POST\|GET /_emulator/oidc` | [`OidcSettings`] (merged) |
//! | `POST /_emulator/oidc/id-token` | an [`IdTokenRequest`] -> `{"value":JWT}` |
//! | `POST /_emulator/oidc/issuers` | `{"issuer":URL,"jwks":{"keys":[..]}}` |
//!
//! OAuth and exchanged tokens expire (401 like a revoked token); see the crate README.
//!
//! # Data layout
//!
//! See the `store` module: `repos/{t}/{ns}/{name}.json` (refs and every commit's file
//! list), `blobs/{sha1[..2]}/{sha1}` (regular files), `lfs/{sha256[..2]}/{sha256}`
//! (LFS objects), `tmp/` (uploads in progress; emptied at start). A restarted emulator
//! with the same data dir keeps its repos.

#![warn(missing_docs)]
// Handlers return `Err(Response)` for early exits, the usual axum style.
#![allow(clippy::result_large_err)]

mod download;
mod faults;
mod net;
mod oauth;
mod routes;
mod server;
mod store;
mod tokens;
mod upload;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub use faults::{Fault, FaultPlan, FaultRule, PathMatch, Times, parse_duration};
pub use oauth::{
    DEFAULT_EXCHANGED_TOKEN_LIFETIME_SECS, DEFAULT_ID_TOKEN_LIFETIME_SECS,
    DEFAULT_OAUTH_ACCESS_LIFETIME_SECS, IdTokenRequest, OAuthCounters, OAuthLogin,
    OFFICIAL_CLIENT_ID, OidcSettings, TrustedPublisher,
};
pub use server::{INVALID_CREDENTIALS, RequestRecord};
pub use store::RepoType;
pub use tokens::{ScopedPermission, TokenRole, TokenSpec};

/// Default `lfs_multipart_threshold`: 10 MiB.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 10 * 1024 * 1024;
/// Default `multipart_chunk_size`: 5 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 5 * 1024 * 1024;
/// Default `regular_max_size`: 10 MB, like the Hub.
pub const DEFAULT_REGULAR_MAX_SIZE: u64 = 10_000_000;

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where repos and objects live; `None` = a temp dir removed at shutdown.
    pub data_dir: Option<PathBuf>,
    /// Tokens accepted at start (more can be added at run time).
    pub tokens: Vec<TokenSpec>,
    /// LFS objects larger than this use multipart transfer.
    pub lfs_multipart_threshold: u64,
    /// Part size for multipart transfers.
    pub multipart_chunk_size: u64,
    /// Preupload answers `lfs` for files larger than this.
    pub regular_max_size: u64,
    /// Address to bind; default `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// The initial fault plan. The emulator uses this very handle, so a clone kept
    /// by the caller drives it.
    pub faults: FaultPlan,
    /// OAuth logins (access + refresh token) known at start.
    pub oauth_logins: Vec<OAuthLogin>,
    /// Trusted publishers known at start.
    pub trusted_publishers: Vec<TrustedPublisher>,
    /// OIDC settings: exchanged-token lifetime, GitHub request token, issuer, ...
    pub oidc: OidcSettings,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            data_dir: None,
            tokens: Vec::new(),
            lfs_multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            multipart_chunk_size: DEFAULT_CHUNK_SIZE,
            regular_max_size: DEFAULT_REGULAR_MAX_SIZE,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults: FaultPlan::new(),
            oauth_logins: Vec::new(),
            trusted_publishers: Vec::new(),
            oidc: OidcSettings::default(),
        }
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Binding, data dir or runtime I/O failed.
    #[error("hub-emulator I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Bad configuration.
    #[error("hub-emulator configuration error: {0}")]
    Config(String),
}

/// Entry point.
pub struct Emulator;

impl Emulator {
    /// Bind (default `127.0.0.1:0`) and serve in the current tokio runtime.
    pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
        if config.multipart_chunk_size == 0 {
            return Err(EmulatorError::Config(
                "multipart_chunk_size must be > 0".into(),
            ));
        }
        let (tempdir, data_dir) = match &config.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new().prefix("hub-emulator-").tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let oauth = oauth::OAuthState::new(
            &config.oauth_logins,
            &config.trusted_publishers,
            &config.oidc,
        )
        .map_err(EmulatorError::Config)?;
        std::fs::create_dir_all(&data_dir)?;
        let store = store::Store::open(&data_dir)?;
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        let tokens: HashMap<String, TokenSpec> = config
            .tokens
            .iter()
            .map(|t| (t.token.clone(), t.clone()))
            .collect();
        let state = Arc::new(server::AppState {
            limits: server::Limits {
                lfs_multipart_threshold: config.lfs_multipart_threshold,
                multipart_chunk_size: config.multipart_chunk_size,
                regular_max_size: config.regular_max_size,
            },
            tokens: RwLock::new(tokens),
            faults: config.faults.clone(),
            log: Mutex::new(Vec::new()),
            store: Mutex::new(store),
            uploads: Mutex::new(HashMap::new()),
            data_dir,
            shutdown: rx,
            local_addr: addr,
            counter: AtomicU64::new(1),
            oauth: Mutex::new(oauth),
        });
        let app = axum::Router::new()
            .fallback(server::entry)
            .with_state(state.clone());
        let mut stop = tx.subscribe();
        let serve = axum::serve(
            net::KillableListener { inner: listener },
            app.into_make_service_with_connect_info::<net::ConnCtl>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|v| *v).await;
        });
        let task = tokio::spawn(async move {
            if let Err(e) = serve.await {
                tracing::error!("hub-emulator server error: {e}");
            }
        });
        tracing::info!("hub-emulator listening on http://{addr}");
        Ok(RunningEmulator {
            control: EmulatorControl { state, addr },
            stop: tx,
            task,
            _tempdir: tempdir,
        })
    }
}

/// What both handles of a running emulator offer: its address, the fault plan, the request
/// log and the admin operations. [`RunningEmulator`] and [`BackgroundEmulator`] dereference
/// to it.
pub struct EmulatorControl {
    state: Arc<server::AppState>,
    addr: SocketAddr,
}

impl EmulatorControl {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// A handle to the shared fault plan.
    pub fn faults(&self) -> FaultPlan {
        self.state.faults.clone()
    }
    /// The request log so far (admin routes excluded).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.log().clone()
    }
    /// Forget the request log.
    pub fn clear_requests(&self) {
        self.state.log().clear();
    }
    /// Accept another token (replaces one with the same value).
    pub fn add_token(&self, spec: TokenSpec) {
        self.state.add_token(spec);
    }
    /// Mark a token revoked (it then gets 401 like an unknown token).
    pub fn revoke_token(&self, token: &str) {
        self.state.revoke_token(token);
    }
    /// Register an OAuth login (access token that expires + refresh token).
    pub fn add_oauth_login(&self, login: OAuthLogin) -> Result<(), String> {
        self.state.oauth().add_login(login)
    }
    /// Register a trusted publisher.
    pub fn add_trusted_publisher(&self, publisher: TrustedPublisher) -> Result<(), String> {
        self.state.oauth().add_publisher(publisher)
    }
    /// Merge OIDC settings (exchanged-token lifetime, request token, issuer, claims, ...).
    pub fn set_oidc(&self, settings: OidcSettings) {
        self.state.oauth().set_settings(settings);
    }
    /// Counters of `/oauth/token` and id-token traffic.
    pub fn oauth_counters(&self) -> OAuthCounters {
        self.state.oauth().counters()
    }
    /// Mint an id token signed by the emulator's issuer (default audience: [`Self::url`]).
    pub fn mint_id_token(&self, request: &IdTokenRequest) -> Result<String, String> {
        oauth::mint_id_token(&self.state, &format!("http://{}", self.addr), request)
    }
    /// The emulator's default OIDC issuer URL (`{url}/_actions`), unless set otherwise.
    pub fn oidc_issuer(&self) -> String {
        self.state
            .oauth()
            .issuer_setting()
            .unwrap_or_else(|| format!("http://{}/_actions", self.addr))
    }
    /// The data directory in use.
    pub fn data_dir(&self) -> PathBuf {
        self.state.data_dir.clone()
    }
}

impl std::ops::Deref for RunningEmulator {
    type Target = EmulatorControl;

    fn deref(&self) -> &EmulatorControl {
        &self.control
    }
}

impl std::ops::Deref for BackgroundEmulator {
    type Target = EmulatorControl;

    fn deref(&self) -> &EmulatorControl {
        &self.control
    }
}

/// A running emulator (in the caller's tokio runtime). Dropping it stops the
/// server without waiting; prefer [`RunningEmulator::shutdown`].
pub struct RunningEmulator {
    control: EmulatorControl,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _tempdir: Option<tempfile::TempDir>,
}

impl RunningEmulator {
    /// Stop serving: hanging requests are released, open connections closed.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let task = &mut self.task;
        if tokio::time::timeout(Duration::from_secs(3), &mut *task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// An emulator on its own thread and runtime, for synchronous callers. Stops on drop.
pub struct BackgroundEmulator {
    control: EmulatorControl,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Start an emulator on a background thread with its own tokio runtime.
pub fn start_in_background(config: EmulatorConfig) -> Result<BackgroundEmulator, EmulatorError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("hub-emulator".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(EmulatorError::Io(e)));
                    return;
                }
            };
            rt.block_on(async move {
                match Emulator::start(config).await {
                    Ok(emu) => {
                        let _ = ready_tx.send(Ok((emu.url(), emu.addr(), emu.state.clone())));
                        let _ = stop_rx.await;
                        emu.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        })?;
    match ready_rx.recv() {
        Ok(Ok((_url, addr, state))) => Ok(BackgroundEmulator {
            control: EmulatorControl { state, addr },
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(EmulatorError::Config(
            "emulator thread exited before starting".into(),
        )),
    }
}

impl Drop for BackgroundEmulator {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
