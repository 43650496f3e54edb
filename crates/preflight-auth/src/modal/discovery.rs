//! Offline discovery: which Modal credentials the Python client (modal 1.6.4) would use, and
//! whether it would refuse to start before talking to any server.
//!
//! Everything here is pure apart from reading the config file; it takes milliseconds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use preflight_errors::Code;

use crate::{Env, Secret, TokenStatus, mask_token, vars};

/// Where one resolved value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// An environment variable (`MODAL_TOKEN_ID`, …).
    Env(String),
    /// A key in a profile table of the config file.
    File {
        /// The config file.
        path: PathBuf,
        /// The profile table.
        profile: String,
    },
}

impl ValueSource {
    /// `env:MODAL_TOKEN_ID` or `file:/home/u/.modal.toml[default]`.
    pub fn label(&self) -> String {
        match self {
            ValueSource::Env(name) => format!("env:{name}"),
            ValueSource::File { path, profile } => {
                format!("file:{}[{profile}]", path.display())
            }
        }
    }
}

/// How the profile name was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSource {
    /// `MODAL_PROFILE` (non-empty).
    Env,
    /// The table with `active = true`.
    Active,
    /// Neither: the literal name `default`.
    Default,
}

impl ProfileSource {
    /// `env:MODAL_PROFILE`, `active` or `default`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileSource::Env => "env:MODAL_PROFILE",
            ProfileSource::Active => "active",
            ProfileSource::Default => "default",
        }
    }
}

/// One resolved credential key. The value is a [`Secret`]; the id is treated as one too.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The value (possibly empty, when an empty env var hides the file).
    pub value: Secret,
    /// Where it came from.
    pub source: ValueSource,
}

/// The credential kind the client would use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// `token_id` + `token_secret`.
    Token,
    /// `oauth_refresh_token` + `oauth_client_id` + one of client secret / JWT key.
    OAuth,
}

impl CredentialKind {
    /// `token` or `oauth`.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Token => "token",
            CredentialKind::OAuth => "oauth",
        }
    }
}

/// Why the client would refuse before any network call, with Preflight's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status Preflight reports.
    pub status: TokenStatus,
    /// The `PF1xx` code.
    pub code: Code,
    /// What happened (no secret in it).
    pub message: String,
    /// What to do, with the exact command.
    pub remediation: String,
}

/// Everything offline discovery found. Its `Debug` shows no credential values.
#[derive(Debug, Clone)]
pub struct ModalDiscovery {
    /// The config file consulted (`MODAL_CONFIG_PATH`, else `~/.modal.toml`).
    pub config_path: Option<PathBuf>,
    /// True when that file exists.
    pub config_exists: bool,
    /// Profile names in the file (sorted).
    pub profiles: Vec<String>,
    /// The selected profile.
    pub profile: String,
    /// How it was selected.
    pub profile_source: ProfileSource,
    /// Every credential key that resolved to something (possibly empty), by setting name
    /// (`token_id`, `token_secret`, `oauth_refresh_token`, …).
    pub values: BTreeMap<&'static str, Resolved>,
    /// The kind the client would use, when the credentials are complete.
    pub kind: Option<CredentialKind>,
    /// Set when the client would refuse; `None` means "ready to ask the server".
    pub refusal: Option<Refusal>,
    /// Things that did not fail the check.
    pub warnings: Vec<String>,
    /// True when any non-empty Modal credential was found (in use or hidden), or the config
    /// file exists but cannot be used.
    pub configured: bool,
    /// `server_url` as `Config.get` resolves it (env `MODAL_SERVER_URL` if present, even
    /// empty, else the profile's key, else the default list) and where it came from; set
    /// once discovery got past the profile checks.
    pub server_url: Option<(String, String)>,
}

/// The Python client's default `server_url` (two URLs, raced).
pub const DEFAULT_SERVER_URL: &str = "https://api.modal.com,https://api.modal2.com";

/// The credential settings the Python client reads, in `Config.get` key form.
pub(crate) const CREDENTIAL_KEYS: &[&str] = &[
    "token_id",
    "token_secret",
    "oauth_refresh_token",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_jwt_key",
];

const OAUTH_KEYS: &[&str] = &[
    "oauth_refresh_token",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_jwt_key",
];

/// `MODAL_<KEY>`.
pub(crate) fn env_name(key: &str) -> String {
    format!("MODAL_{}", key.to_ascii_uppercase())
}

pub(crate) const SET_COMMAND: &str = "modal token set --token-id ak-… --token-secret as-…";
const SETUP_HINT: &str = "Run `modal token new` (browser), or `modal token set --token-id ak-… --token-secret as-…`, or export MODAL_TOKEN_ID and MODAL_TOKEN_SECRET.";

impl ModalDiscovery {
    /// The resolved value of `key`, if non-empty.
    pub fn get(&self, key: &str) -> Option<&Resolved> {
        self.values
            .get(key)
            .filter(|resolved| !resolved.value.is_empty())
    }

    /// The masked identifier for display: the token id, or the OAuth client id.
    pub fn masked_id(&self) -> Option<String> {
        let key = match self.kind {
            Some(CredentialKind::OAuth) => "oauth_client_id",
            _ => "token_id",
        };
        self.get(key).map(|resolved| resolved.value.masked())
    }

    /// The combined source label, for example `env:MODAL_TOKEN_ID+file:/p[default]`.
    pub fn source_label(&self) -> Option<String> {
        let keys: &[&str] = match self.kind {
            Some(CredentialKind::OAuth) => &["oauth_refresh_token", "oauth_client_id"],
            _ => &["token_id", "token_secret"],
        };
        let labels: Vec<String> = keys
            .iter()
            .filter_map(|key| self.get(key))
            .map(|resolved| resolved.source.label())
            .collect();
        if labels.is_empty() {
            None
        } else if labels.len() == 2 && labels[0] == labels[1] {
            Some(labels[0].clone())
        } else {
            Some(labels.join("+"))
        }
    }

    /// Facts for `TokenValidationResult::details`.
    pub fn details(&self) -> BTreeMap<String, String> {
        let mut details = BTreeMap::new();
        details.insert("profile".to_owned(), self.profile.clone());
        details.insert(
            "profile_source".to_owned(),
            self.profile_source.as_str().to_owned(),
        );
        if let Some(path) = &self.config_path {
            details.insert("config_path".to_owned(), path.display().to_string());
        }
        if let Some(kind) = self.kind {
            details.insert("credential_kind".to_owned(), kind.as_str().to_owned());
        }
        for (key, resolved) in &self.values {
            let label = if resolved.value.is_empty() {
                format!("{} (empty)", resolved.source.label())
            } else {
                resolved.source.label()
            };
            details.insert(format!("{key}_source"), label);
        }
        details
    }

    /// The exposed values of every non-empty credential, to scrub them from CLI output.
    pub(crate) fn secret_values(&self) -> Vec<&str> {
        self.values
            .values()
            .map(|resolved| resolved.value.expose())
            .filter(|value| !value.is_empty())
            .collect()
    }
}

/// The parsed config file.
struct Config {
    tables: Vec<(String, toml::Table)>,
}

impl Config {
    fn table(&self, name: &str) -> Option<&toml::Table> {
        self.tables
            .iter()
            .find(|(table, _)| table == name)
            .map(|(_, values)| values)
    }
}

/// Runs the Python client's offline rules against `env`.
pub fn discover(env: &dyn Env) -> ModalDiscovery {
    let config_path = env
        .var(vars::MODAL_CONFIG_PATH)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| env.home_dir().map(|home| home.join(".modal.toml")));
    let remote = env.var("MODAL_IS_REMOTE").as_deref() == Some("1");
    let env_profile = env
        .var(vars::MODAL_PROFILE)
        .filter(|profile| !profile.is_empty());

    let mut discovery = ModalDiscovery {
        config_exists: config_path.as_deref().is_some_and(Path::exists),
        config_path,
        profiles: Vec::new(),
        profile: env_profile.clone().unwrap_or_else(|| "default".to_owned()),
        profile_source: if env_profile.is_some() {
            ProfileSource::Env
        } else {
            ProfileSource::Default
        },
        values: BTreeMap::new(),
        kind: None,
        refusal: None,
        warnings: Vec::new(),
        configured: false,
        server_url: None,
    };

    // 1. The file is read at import time; any problem stops every command (`_read_user_config`).
    let config = if remote || !discovery.config_exists {
        Config { tables: Vec::new() }
    } else {
        let path = discovery.config_path.clone().unwrap_or_default();
        match read_config(&path) {
            Ok(config) => config,
            Err(problem) => {
                discovery.configured = true;
                discovery.refusal = Some(Refusal {
                    status: TokenStatus::Invalid,
                    code: Code::Pf103,
                    message: format!(
                        "Error when reading the modal configuration from `{}`: {problem} (the modal CLI refuses to start)",
                        path.display()
                    ),
                    remediation: format!(
                        "Fix {} so that every profile is a [table] of key = \"value\" lines, or move it away and run `modal token new`.",
                        path.display()
                    ),
                });
                return discovery;
            }
        }
    };
    discovery.profiles = config.tables.iter().map(|(name, _)| name.clone()).collect();
    let path_text = discovery
        .config_path
        .as_deref()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|| "~/.modal.toml".to_owned());

    // 2. Profile: MODAL_PROFILE (non-empty) → first `active` that is exactly `true` → "default".
    if env_profile.is_none()
        && let Some((name, _)) = config
            .tables
            .iter()
            .find(|(_, table)| table.get("active") == Some(&toml::Value::Boolean(true)))
    {
        discovery.profile = name.clone();
        discovery.profile_source = ProfileSource::Active;
    }
    if !config.tables.is_empty() {
        discovery.configured = true;
    }

    // 3. `_check_config`: runs before credentials are looked at, even with env credentials.
    let mut active_sum = 0.0_f64;
    for (name, table) in &config.tables {
        match table.get("active") {
            None => {}
            Some(toml::Value::Boolean(flag)) => active_sum += f64::from(u8::from(*flag)),
            #[allow(clippy::cast_precision_loss)]
            Some(toml::Value::Integer(number)) => active_sum += *number as f64,
            Some(toml::Value::Float(number)) => active_sum += number,
            Some(_) => {
                discovery.refusal = Some(Refusal {
                    status: TokenStatus::Invalid,
                    code: Code::Pf103,
                    message: format!(
                        "`active` in profile [{name}] of {path_text} is not a boolean (the modal CLI crashes on it)"
                    ),
                    remediation: format!(
                        "Write `active = true` (or remove the line) in [{name}], or run `modal profile activate {name}`."
                    ),
                });
                return discovery;
            }
        }
    }
    let names = discovery.profiles.join(", ");
    if active_sum > 1.0 {
        discovery.refusal = Some(Refusal {
            status: TokenStatus::Invalid,
            code: Code::Pf104,
            message: format!(
                "More than one Modal profile is active in {path_text} ({names}); the modal CLI refuses to choose."
            ),
            remediation: format!(
                "Run `modal profile activate NAME` with one of: {names} (it clears the other `active` lines)."
            ),
        });
        return discovery;
    }
    if config.tables.len() > 1 && active_sum == 0.0 && discovery.profile == "default" {
        discovery.refusal = Some(Refusal {
            status: TokenStatus::Invalid,
            code: Code::Pf104,
            message: format!(
                "No Modal profile is active among the {} profiles in {path_text} ({names}), and MODAL_PROFILE is unset; the modal CLI refuses to start even with MODAL_TOKEN_ID/MODAL_TOKEN_SECRET set.",
                config.tables.len()
            ),
            remediation: format!(
                "Run `modal profile activate NAME` with one of: {names}, or export MODAL_PROFILE=NAME."
            ),
        });
        return discovery;
    }

    // 4. Each key on its own: env `MODAL_<KEY>` if present (even empty) → profile table → unset.
    let profile_table = config.table(&discovery.profile);
    discovery.server_url = Some(
        match (
            env.var_os(vars::MODAL_SERVER_URL),
            profile_table.and_then(|table| table.get("server_url")),
        ) {
            (Some(value), _) => (
                value.to_string_lossy().into_owned(),
                format!("env:{}", vars::MODAL_SERVER_URL),
            ),
            (None, Some(toml::Value::String(value))) => (
                value.clone(),
                ValueSource::File {
                    path: discovery.config_path.clone().unwrap_or_default(),
                    profile: discovery.profile.clone(),
                }
                .label(),
            ),
            _ => (DEFAULT_SERVER_URL.to_owned(), "default".to_owned()),
        },
    );
    let mut hidden = Vec::new();
    for key in CREDENTIAL_KEYS {
        let name = env_name(key);
        let file_value = profile_table.and_then(|table| table.get(*key));
        if remote {
            if env.var_os(&name).is_some_and(|value| !value.is_empty()) {
                discovery.warnings.push(format!(
                    "{name} is ignored inside a Modal container (MODAL_IS_REMOTE=1)."
                ));
            }
            continue;
        }
        if let Some(value) = env.var_os(&name) {
            let value = value.to_string_lossy().into_owned();
            if value.is_empty()
                && let Some(file_value) = file_value
                && !is_empty_value(file_value)
            {
                hidden.push((name.clone(), *key));
                discovery.configured = true;
            }
            discovery.values.insert(
                key,
                Resolved {
                    value: Secret::new(value),
                    source: ValueSource::Env(name),
                },
            );
        } else if let Some(file_value) = file_value {
            let Some(text) = file_value.as_str() else {
                discovery.refusal = Some(Refusal {
                    status: TokenStatus::Invalid,
                    code: Code::Pf103,
                    message: format!(
                        "`{key}` in profile [{}] of {path_text} is not a string.",
                        discovery.profile
                    ),
                    remediation: format!(
                        "Quote the value in {path_text}, or rewrite the profile with `{SET_COMMAND}`."
                    ),
                });
                return discovery;
            };
            discovery.values.insert(
                key,
                Resolved {
                    value: Secret::new(text),
                    source: ValueSource::File {
                        path: discovery.config_path.clone().unwrap_or_default(),
                        profile: discovery.profile.clone(),
                    },
                },
            );
        }
    }
    if discovery
        .values
        .values()
        .any(|resolved| !resolved.value.is_empty())
    {
        discovery.configured = true;
    }
    let hidden_note = if hidden.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = hidden
            .iter()
            .map(|(name, key)| format!("{name} is set but empty, which hides `{key}` from profile [{}] of {path_text} (the Python client treats an empty variable as set)", discovery.profile))
            .collect();
        format!(" Note: {}.", list.join("; "))
    };
    let unset_hidden = if hidden.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = hidden.iter().map(|(name, _)| name.as_str()).collect();
        format!(
            "Unset {} (`unset {}`), or: ",
            names.join(" and "),
            names.join(" ")
        )
    };

    // 5. Credential kind (`_Client.from_env`).
    let has = |key: &str| discovery.get(key).is_some();
    let has_token = has("token_id") || has("token_secret");
    let has_oauth = OAUTH_KEYS.iter().any(|key| has(key));
    if remote {
        discovery.refusal = Some(Refusal {
            status: TokenStatus::Missing,
            code: Code::Pf101,
            message: "Inside a Modal container (MODAL_IS_REMOTE=1) the client ignores MODAL_TOKEN_* and the config file and authenticates as the container; there is no user token to check.".to_owned(),
            remediation: "Run the check outside the container, or unset MODAL_IS_REMOTE.".to_owned(),
        });
        return discovery;
    }
    if has_token && has_oauth {
        discovery.refusal = Some(Refusal {
            status: TokenStatus::Invalid,
            code: Code::Pf102,
            message: "Modal token credentials and OAuth credentials cannot both be configured (the modal CLI refuses).".to_owned(),
            remediation: "Keep one kind: unset MODAL_OAUTH_* (or remove the oauth_* keys), or unset MODAL_TOKEN_ID/MODAL_TOKEN_SECRET (or remove token_id/token_secret).".to_owned(),
        });
        return discovery;
    }
    if has_oauth {
        let complete = has("oauth_refresh_token")
            && has("oauth_client_id")
            && has("oauth_client_secret") != has("oauth_jwt_key");
        if complete {
            discovery.kind = Some(CredentialKind::OAuth);
            check_oauth_prefixes(&mut discovery);
        } else {
            let missing: Vec<String> = OAUTH_KEYS
                .iter()
                .filter(|key| !has(key))
                .map(|key| env_name(key))
                .collect();
            discovery.refusal = Some(Refusal {
                status: TokenStatus::Missing,
                code: Code::Pf102,
                message: format!(
                    "OAuth credentials are incomplete: the modal CLI needs a refresh token, a client id and exactly one of client secret or JWT key (not set: {}).{hidden_note}",
                    missing.join(", ")
                ),
                remediation: format!(
                    "{unset_hidden}Export MODAL_OAUTH_REFRESH_TOKEN, MODAL_OAUTH_CLIENT_ID and one of MODAL_OAUTH_CLIENT_SECRET / MODAL_OAUTH_JWT_KEY, or use a token: `{SET_COMMAND}`."
                ),
            });
        }
        return discovery;
    }
    match (has("token_id"), has("token_secret")) {
        (true, true) => {
            discovery.kind = Some(CredentialKind::Token);
            check_token_prefixes(&mut discovery);
            warn_env_overrides_file(&mut discovery, profile_table, &path_text);
        }
        (true, false) | (false, true) => {
            let (found, missing_key) = if has("token_id") {
                ("token_id", "token_secret")
            } else {
                ("token_secret", "token_id")
            };
            let found_label = discovery
                .get(found)
                .map(|resolved| resolved.source.label())
                .unwrap_or_default();
            let missing_env = env_name(missing_key);
            discovery.refusal = Some(Refusal {
                status: TokenStatus::Missing,
                code: Code::Pf102,
                message: format!(
                    "Only half of a Modal token was found: `{found}` from {found_label}, no `{missing_key}` in the environment or profile [{}] of {path_text}; the modal CLI reports \"Token missing\".{hidden_note}",
                    discovery.profile
                ),
                remediation: format!(
                    "{unset_hidden}Export {missing_env} (the matching {} value), or write both halves with `{SET_COMMAND}`.",
                    if missing_key == "token_secret" {
                        "as-…"
                    } else {
                        "ak-…"
                    }
                ),
            });
        }
        (false, false) => {
            if env_profile.is_some() && profile_table.is_none() {
                let known = if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.clone()
                };
                discovery.refusal = Some(Refusal {
                    status: TokenStatus::Invalid,
                    code: Code::Pf104,
                    message: format!(
                        "Modal profile '{}' (from MODAL_PROFILE) was not found in {path_text} (profiles: {known}), and no token is set in the environment.",
                        discovery.profile
                    ),
                    remediation: format!(
                        "Create it with `modal token new --profile {}`, or export MODAL_PROFILE with one of: {known}, or unset MODAL_PROFILE.",
                        discovery.profile
                    ),
                });
            } else {
                discovery.refusal = Some(Refusal {
                    status: TokenStatus::Missing,
                    code: Code::Pf101,
                    message: format!(
                        "No Modal credentials: neither MODAL_TOKEN_ID/MODAL_TOKEN_SECRET nor a token in profile [{}] of {path_text}.{hidden_note}",
                        discovery.profile
                    ),
                    remediation: format!("{unset_hidden}{SETUP_HINT}"),
                });
            }
        }
    }
    discovery
}

fn is_empty_value(value: &toml::Value) -> bool {
    value.as_str().is_some_and(str::is_empty)
}

fn read_config(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read it: {error}"))?;
    let document: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| format!("malformed TOML: {}", error.message()))?;
    // `toml::Table` iterates in key order, not file order. "First active" only matters when
    // several are active, which `_check_config` rejects anyway, so the order is immaterial.
    let mut tables = Vec::new();
    for (name, value) in document {
        let toml::Value::Table(table) = value else {
            return Err("TOML file must contain table sections for each profile.".to_owned());
        };
        tables.push((name, table));
    }
    Ok(Config { tables })
}

fn check_token_prefixes(discovery: &mut ModalDiscovery) {
    let id = discovery
        .get("token_id")
        .map(|r| r.value.expose().to_owned());
    let secret = discovery
        .get("token_secret")
        .map(|r| r.value.expose().to_owned());
    if let Some(id) = id {
        if id.starts_with("wk-") {
            discovery.warnings.push(format!(
                "The token id {} looks like a web-endpoint proxy token (wk-); the Modal API needs an API token (ak-).",
                mask_token(&id)
            ));
        } else if !id.starts_with("ak-") {
            discovery.warnings.push(format!(
                "The token id {} does not start with `ak-` as Modal API token ids do.",
                mask_token(&id)
            ));
        }
    }
    if let Some(secret) = secret {
        if secret.starts_with("ws-") {
            discovery.warnings.push(
                "The token secret looks like a web-endpoint proxy secret (ws-); the Modal API needs an API token secret (as-).".to_owned(),
            );
        } else if !secret.starts_with("as-") {
            discovery.warnings.push(
                "The token secret does not start with `as-` as Modal API token secrets do."
                    .to_owned(),
            );
        }
    }
}

fn check_oauth_prefixes(discovery: &mut ModalDiscovery) {
    if let Some(id) = discovery.get("oauth_client_id")
        && !id.value.expose().starts_with("oc-")
    {
        let masked = id.value.masked();
        discovery.warnings.push(format!(
            "The OAuth client id {masked} does not start with `oc-`."
        ));
    }
    if let Some(secret) = discovery.get("oauth_client_secret")
        && !secret.value.expose().starts_with("ov-")
    {
        discovery
            .warnings
            .push("The OAuth client secret does not start with `ov-`.".to_owned());
    }
}

/// modal-labs/modal-client#3073: an env token silently overrides a different file token.
fn warn_env_overrides_file(
    discovery: &mut ModalDiscovery,
    profile_table: Option<&toml::Table>,
    path_text: &str,
) {
    let Some(table) = profile_table else { return };
    for key in ["token_id", "token_secret"] {
        let Some(resolved) = discovery.get(key) else {
            continue;
        };
        if let (ValueSource::Env(name), Some(file_value)) = (&resolved.source, table.get(key))
            && file_value
                .as_str()
                .is_some_and(|file| file != resolved.value.expose())
        {
            let message = format!(
                "{name} overrides a different `{key}` in profile [{}] of {path_text}.",
                discovery.profile
            );
            discovery.warnings.push(message);
        }
    }
}
