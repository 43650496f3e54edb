//! Where the Hugging Face token comes from, decided exactly as `huggingface_hub` 2.x decides.
//!
//! [`discover_hf_token`] is a pure function of an [`Env`] and the filesystem: it never sends
//! anything and never panics on bad input. It reports what it found *and* why: every source it
//! looked at, every value it ignored, every file it could not read.
//!
//! # Order (as `get_token()` in huggingface_hub 2.4.0)
//!
//! | step | source | reported as | rule |
//! |---|---|---|---|
//! | 0 | `HF_OIDC_RESOURCE` non-empty | `oidc:HF_OIDC_ID_TOKEN` or `oidc:github` | Trusted Publishers: the id token in `HF_OIDC_ID_TOKEN`, else (under GitHub Actions) one minted from `ACTIONS_ID_TOKEN_REQUEST_URL`, is exchanged for a Hub token (see [`crate::hf::oidc`]). Nothing else is looked at: the official client raises instead of falling back |
//! | 1 | `HF_TOKEN or HUGGING_FACE_HUB_TOKEN` | `env:HF_TOKEN` / `env:HUGGING_FACE_HUB_TOKEN` | the variable is chosen by its **raw** value (Python `or`: the first non-empty one), *then* cleaned as `_clean_token` (every `\r`/`\n` removed, surrounding whitespace stripped). So an `HF_TOKEN` of only spaces or a newline hides the legacy variable, and the token file is used |
//! | 2 | the token file | `file:<path>` | same cleaning; missing file = no token; any other read failure (directory, not a regular file, larger than [`MAX_TOKEN_FILE_BYTES`], unreadable, not UTF-8) = [`DiscoveryError`] (PF008). An OAuth login stored there is refreshed first when due (see [`crate::hf::refresh`]) |
//!
//! # Token file path
//!
//! | condition | path |
//! |---|---|
//! | `HUGGINGFACE_CO_STAGING` truthy | `~/.cache/huggingface_staging/token` (overrides everything below, as in the official client) |
//! | `HF_TOKEN_PATH` set | that path, after `~` and `$VAR` expansion. If the file does not exist there is **no** token: the official client does not fall back to `$HF_HOME/token`, and a note says so |
//! | `HF_HOME` set | `$HF_HOME/token` |
//! | `XDG_CACHE_HOME` set | `$XDG_CACHE_HOME/huggingface/token` |
//! | otherwise | `~/.cache/huggingface/token` |
//!
//! `stored_tokens` is `dirname(token path)/stored_tokens`, an INI file (Python `configparser`,
//! no interpolation) with one section per saved token (`hf_token`, and for OAuth logins
//! `refresh_token` and `expires_at` in unix seconds). When the winning token is listed there
//! with an `expires_at` in the past it is reported expired (see [`StoredTokenInfo`]), whether
//! or not the official client could refresh it.
//!
//! # `HF_HUB_DISABLE_IMPLICIT_TOKEN`
//!
//! When truthy (`1`, `ON`, `YES`, `TRUE`, any case) the official client sends no token unless
//! the calling code passes one explicitly. Discovery honours that: the token it found is moved
//! to [`HfTokenDiscovery::withheld_token`], [`HfTokenDiscovery::token`] is `None`, and a note
//! says why. The validator then reports `MISSING` (PF001) naming the variable as the reason.

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use preflight_errors::Code;

use crate::Secret;
use crate::env::{Env, is_truthy, vars};

/// Largest token file read, in bytes. A token is ~40 bytes; anything above this is not a
/// token file and is reported as an error instead of being read into memory.
pub const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// Largest `stored_tokens` file read, in bytes.
pub const MAX_STORED_TOKENS_BYTES: u64 = 1024 * 1024;

/// Seconds before `expires_at` at which the official client refreshes an OAuth token
/// (`_OAUTH_REFRESH_MARGIN`).
pub const REFRESH_WINDOW_SECS: i64 = 24 * 60 * 60;

/// Where a Trusted Publishers id token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdTokenSource {
    /// `HF_OIDC_ID_TOKEN`, minted by the CI job itself; it cannot be re-minted.
    EnvIdToken,
    /// Minted from GitHub Actions' `ACTIONS_ID_TOKEN_REQUEST_URL` (possibly again later).
    GitHub,
}

/// What a Trusted Publishers exchange needs, as discovery found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRequest {
    /// `HF_OIDC_RESOURCE`: a repo (`ns/name`, `datasets/ns/name`, …) or a bare username.
    pub resource: String,
    /// Where the id token comes from; `None` when none is available (PF010).
    pub id_source: Option<IdTokenSource>,
    /// The value of `HF_OIDC_ID_TOKEN`, when set and non-empty.
    pub id_token: Option<Secret>,
    /// True when `GITHUB_ACTIONS=true`.
    pub github_actions: bool,
    /// `ACTIONS_ID_TOKEN_REQUEST_URL`, when set and non-empty.
    pub request_url: Option<String>,
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, when set and non-empty.
    pub request_token: Option<Secret>,
}

impl OidcRequest {
    /// True when the resource is a bare username: the Hub then issues a read-only token.
    pub fn resource_is_user(&self) -> bool {
        !self.resource.contains('/')
    }
}

/// Which source the winning token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A Trusted Publishers exchange (`HF_OIDC_RESOURCE`).
    Oidc(IdTokenSource),
    /// The `HF_TOKEN` environment variable.
    EnvHfToken,
    /// The legacy `HUGGING_FACE_HUB_TOKEN` environment variable.
    EnvLegacy,
    /// The token file at this path.
    File(PathBuf),
}

impl TokenSource {
    /// The label used in results and logs: `env:HF_TOKEN`, `env:HUGGING_FACE_HUB_TOKEN`,
    /// `file:<path>`.
    pub fn label(&self) -> String {
        match self {
            TokenSource::Oidc(IdTokenSource::EnvIdToken) => {
                format!("oidc:{}", vars::HF_OIDC_ID_TOKEN)
            }
            TokenSource::Oidc(IdTokenSource::GitHub) => "oidc:github".to_owned(),
            TokenSource::EnvHfToken => format!("env:{}", vars::HF_TOKEN),
            TokenSource::EnvLegacy => format!("env:{}", vars::HUGGING_FACE_HUB_TOKEN),
            TokenSource::File(path) => format!("file:{}", path.display()),
        }
    }

    /// What to do when the Hub rejects a token from this source, with exact commands.
    pub fn rejected_remediation(&self) -> String {
        match self {
            TokenSource::Oidc(_) => "the token obtained by the Trusted Publishers exchange was rejected; \
                 run the job again so a new one is exchanged, and check HF_OIDC_RESOURCE"
                .to_owned(),
            TokenSource::EnvHfToken => "HF_TOKEN overrides the login stored by `hf auth login`: \
                 set HF_TOKEN to a valid token (create one at https://huggingface.co/settings/tokens), \
                 or run `unset HF_TOKEN` to fall back to the stored login"
                .to_owned(),
            TokenSource::EnvLegacy => "HUGGING_FACE_HUB_TOKEN (legacy name) overrides the login stored by \
                 `hf auth login`: replace it with a valid token in HF_TOKEN \
                 (`export HF_TOKEN=hf_...`), or run `unset HUGGING_FACE_HUB_TOKEN` to fall back to the stored login"
                .to_owned(),
            TokenSource::File(path) => format!(
                "run `hf auth login --force` to store a new token in {}, or write a valid token into that file",
                path.display()
            ),
        }
    }
}

/// What `stored_tokens` says about the winning token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTokenInfo {
    /// The section (token name) that holds the token.
    pub name: String,
    /// `expires_at`, unix seconds, when present and numeric.
    pub expires_at: Option<i64>,
    /// True when the entry has a non-empty `refresh_token` (an OAuth login).
    pub has_refresh_token: bool,
    /// True when `expires_at` is at or before the discovery time.
    pub expired: bool,
    /// True when the official client would refresh this token on its next use: it was read
    /// from the token file, has a `refresh_token`, and less than 24 h of validity remain.
    pub refresh_due: bool,
}

/// A token file that exists but cannot be used. Every variant is PF008.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// `HF_TOKEN_PATH` is set to the empty string.
    #[error(
        "HF_TOKEN_PATH is set but empty; the official client would try to read the current directory as its token file and fail"
    )]
    EmptyTokenPath,
    /// The token path is a directory.
    #[error("the token file {} is a directory, not a file", path.display())]
    IsDirectory {
        /// The path.
        path: PathBuf,
    },
    /// The token path is a FIFO, socket or device.
    #[error("the token file {} is not a regular file", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },
    /// The token file is larger than [`MAX_TOKEN_FILE_BYTES`].
    #[error(
        "the token file {} is {size} bytes, more than the {limit} bytes a token file can hold; it was not read",
        path.display()
    )]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size (or the number of bytes read before giving up).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The token file cannot be opened or read.
    #[error("the token file {} cannot be read: {reason}", path.display())]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The token file is not UTF-8 text.
    #[error("the token file {} is not UTF-8 text", path.display())]
    NotUtf8 {
        /// The path.
        path: PathBuf,
    },
}

impl DiscoveryError {
    /// Always [`Code::Pf008`].
    pub fn code(&self) -> Code {
        Code::Pf008
    }

    /// What to do about it, with exact commands.
    pub fn remediation(&self) -> String {
        match self {
            DiscoveryError::EmptyTokenPath => {
                "run `unset HF_TOKEN_PATH`, or set it to the path of a token file".to_owned()
            }
            DiscoveryError::IsDirectory { path }
            | DiscoveryError::NotRegularFile { path }
            | DiscoveryError::TooLarge { path, .. }
            | DiscoveryError::NotUtf8 { path } => format!(
                "move {} out of the way and run `hf auth login --force`, or point HF_TOKEN_PATH at a file holding only the token",
                path.display()
            ),
            DiscoveryError::Unreadable { path, .. } => format!(
                "check the file's owner and mode (`ls -l {0}`; the official client writes it with `chmod 600 {0}`), or run `hf auth login --force`",
                path.display()
            ),
        }
    }
}

/// Everything discovery found out. It holds the token only inside [`Secret`]s, so `Debug`
/// output is safe to print.
#[derive(Debug, Clone, Default)]
pub struct HfTokenDiscovery {
    /// The token the official client would send implicitly. `None` when nothing was found, when
    /// the token file failed to read, or when `HF_HUB_DISABLE_IMPLICIT_TOKEN` is truthy.
    pub token: Option<Secret>,
    /// The winning source's label (`env:HF_TOKEN`, `env:HUGGING_FACE_HUB_TOKEN`,
    /// `file:<path>`); also set when the token was withheld or the file failed to read.
    pub source: Option<String>,
    /// The winning source, structured.
    pub token_source: Option<TokenSource>,
    /// A token that was found but is not sent because `HF_HUB_DISABLE_IMPLICIT_TOKEN` is truthy.
    pub withheld_token: Option<Secret>,
    /// True when `HF_HUB_DISABLE_IMPLICIT_TOKEN` is truthy.
    pub implicit_token_disabled: bool,
    /// The token file path the official client uses (even when it was not read).
    pub token_path: Option<PathBuf>,
    /// `dirname(token_path)/stored_tokens`.
    pub stored_tokens_path: Option<PathBuf>,
    /// What `stored_tokens` says about the winning token, when it is listed there.
    pub stored: Option<StoredTokenInfo>,
    /// True when some Hugging Face credential was configured at all: a token found, a token
    /// variable set (even to an empty value, which is how a missing CI secret shows up), or a
    /// token file that exists but cannot be read.
    pub configured: bool,
    /// True when `HUGGINGFACE_CO_STAGING` is truthy.
    pub staging: bool,
    /// True when `HF_OIDC_RESOURCE` is set (non-empty).
    pub oidc: bool,
    /// The Trusted Publishers exchange to perform, when `HF_OIDC_RESOURCE` is set. The token
    /// is then only known after the exchange: [`HfTokenDiscovery::token`] is `None`.
    pub oidc_request: Option<OidcRequest>,
    /// Facts that explain the outcome (`HF_TOKEN is set but empty`, …).
    pub notes: Vec<String>,
    /// Things that look wrong but did not stop discovery.
    pub warnings: Vec<String>,
    /// Each source looked at, in order, with what was there.
    pub checked: Vec<String>,
    /// Why the token file could not be used. Non-empty means PF008.
    pub errors: Vec<DiscoveryError>,
}

impl HfTokenDiscovery {
    /// The token found, whether or not it would be sent implicitly.
    pub fn found_token(&self) -> Option<&Secret> {
        self.token.as_ref().or(self.withheld_token.as_ref())
    }

    /// The first error, if any.
    pub fn error(&self) -> Option<&DiscoveryError> {
        self.errors.first()
    }
}

/// Discovers the Hugging Face token as of now. See the [module docs](self) for the rules.
pub fn discover_hf_token(env: &dyn Env) -> HfTokenDiscovery {
    discover_hf_token_at(env, SystemTime::now())
}

/// Discovers the Hugging Face token, judging `stored_tokens` expiry against `now`.
pub fn discover_hf_token_at(env: &dyn Env, now: SystemTime) -> HfTokenDiscovery {
    let mut found = HfTokenDiscovery {
        staging: env
            .var(vars::HUGGINGFACE_CO_STAGING)
            .is_some_and(|value| is_truthy(&value)),
        ..HfTokenDiscovery::default()
    };
    if found.staging {
        found.notes.push(
            "HUGGINGFACE_CO_STAGING is set: the official client talks to https://hub-ci.huggingface.co \
             and reads its token from ~/.cache/huggingface_staging/token"
                .to_owned(),
        );
    }
    let token_path = resolve_token_path(env, &mut found);
    found.stored_tokens_path = token_path.as_ref().map(|path| {
        path.parent()
            .unwrap_or_else(|| Path::new(""))
            .join("stored_tokens")
    });
    found.token_path.clone_from(&token_path);

    if let Some(resource) = env
        .var(vars::HF_OIDC_RESOURCE)
        .filter(|value| !value.is_empty())
    {
        discover_oidc(env, resource, &mut found);
        return found;
    }

    let mut winner: Option<(String, TokenSource)> = None;
    // `os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")`: the first
    // variable with a non-empty *raw* value is chosen, and only then cleaned.
    let raw_hf = env.var_os(vars::HF_TOKEN);
    let raw_legacy = env.var_os(vars::HUGGING_FACE_HUB_TOKEN);
    let chosen = match (&raw_hf, &raw_legacy) {
        (Some(raw), _) if !raw.is_empty() => Some((vars::HF_TOKEN, raw, TokenSource::EnvHfToken)),
        (_, Some(raw)) => Some((vars::HUGGING_FACE_HUB_TOKEN, raw, TokenSource::EnvLegacy)),
        _ => None,
    };
    for (name, raw) in [
        (vars::HF_TOKEN, &raw_hf),
        (vars::HUGGING_FACE_HUB_TOKEN, &raw_legacy),
    ] {
        match raw {
            None => found.checked.push(format!("{name} is not set")),
            Some(_) => found.configured = true,
        }
    }
    if raw_hf.as_ref().is_some_and(|raw| raw.is_empty()) {
        let note = format!("{} is set but empty, so it is ignored", vars::HF_TOKEN);
        found.checked.push(note.clone());
        found.notes.push(note);
    }
    if let Some((name, raw, source)) = chosen {
        // A non-UTF-8 value is kept (lossily): it can never be sent, and the shape check
        // reports it as such instead of discovery silently skipping it.
        let cleaned = clean_token(&raw.to_string_lossy());
        if cleaned.is_empty() {
            let mut note = if raw.is_empty() {
                format!("{name} is set but empty, so it is ignored")
            } else {
                format!(
                    "{name} is set but empty after removing whitespace and newlines, so it is ignored"
                )
            };
            if name == vars::HF_TOKEN
                && raw_legacy
                    .as_ref()
                    .is_some_and(|legacy| !clean_token(&legacy.to_string_lossy()).is_empty())
            {
                note.push_str(
                    "; the official client picks HF_TOKEN over HUGGING_FACE_HUB_TOKEN before cleaning, \
                     so HUGGING_FACE_HUB_TOKEN is not used either and the token file decides",
                );
            }
            found.checked.push(note.clone());
            found.notes.push(note);
        } else {
            found.checked.push(format!("{name} is set"));
            winner = Some((cleaned, source));
        }
    }

    if winner.is_none() {
        match &token_path {
            None => found
                .checked
                .push("no token file path: the home directory is unknown".to_owned()),
            Some(path) => match read_token_file(path) {
                Ok(None) => {
                    found
                        .checked
                        .push(format!("no token file at {}", path.display()));
                    if env.var_os(vars::HF_TOKEN_PATH).is_some() && !found.staging {
                        found.notes.push(format!(
                            "HF_TOKEN_PATH points at {}, which does not exist; the official client \
                             does not fall back to $HF_HOME/token",
                            path.display()
                        ));
                    }
                }
                Ok(Some(text)) => {
                    found.configured = true;
                    let cleaned = clean_token(&text);
                    if cleaned.is_empty() {
                        let note = format!(
                            "the token file {} exists but is empty, so it is ignored",
                            path.display()
                        );
                        found.checked.push(note.clone());
                        found.notes.push(note);
                    } else {
                        found
                            .checked
                            .push(format!("token file {} holds a token", path.display()));
                        winner = Some((cleaned, TokenSource::File(path.clone())));
                    }
                }
                Err(error) => {
                    found.configured = true;
                    found.source = Some(TokenSource::File(path.clone()).label());
                    found.token_source = Some(TokenSource::File(path.clone()));
                    found.checked.push(error.to_string());
                    found.errors.push(error);
                }
            },
        }
    }

    let Some((token, source)) = winner else {
        return found;
    };
    found.configured = true;
    found.source = Some(source.label());

    if let Some(stored_path) = found.stored_tokens_path.clone() {
        found.stored = lookup_stored_token(&stored_path, &token, &source, now, &mut found);
    }
    found.token_source = Some(source);

    let disabled = env.var(vars::HF_HUB_DISABLE_IMPLICIT_TOKEN);
    if let Some(value) = disabled.filter(|value| is_truthy(value)) {
        found.implicit_token_disabled = true;
        found.notes.push(format!(
            "HF_HUB_DISABLE_IMPLICIT_TOKEN={value}: the official client sends no token unless the code \
             passes one explicitly, so the token from {} is not used",
            found.source.as_deref().unwrap_or("?")
        ));
        found.withheld_token = Some(Secret::new(token));
    } else {
        found.token = Some(Secret::new(token));
    }
    found
}

/// Step 0: `HF_OIDC_RESOURCE` is set, so the token is whatever the exchange returns.
fn discover_oidc(env: &dyn Env, resource: String, found: &mut HfTokenDiscovery) {
    found.oidc = true;
    found.configured = true;
    let non_empty = |key: &str| env.var(key).filter(|value| !value.is_empty());
    let id_token = non_empty(vars::HF_OIDC_ID_TOKEN).map(Secret::new);
    let github_actions = env.var(vars::GITHUB_ACTIONS).as_deref() == Some("true");
    let id_source = if id_token.is_some() {
        Some(IdTokenSource::EnvIdToken)
    } else if github_actions {
        Some(IdTokenSource::GitHub)
    } else {
        None
    };
    let source = TokenSource::Oidc(id_source.clone().unwrap_or(IdTokenSource::EnvIdToken));
    found.checked.push(format!(
        "HF_OIDC_RESOURCE is set ({resource}): the official client uses only a Trusted Publishers token"
    ));
    found.source = Some(source.label());
    found.token_source = Some(source);
    found.oidc_request = Some(OidcRequest {
        resource,
        id_source,
        id_token,
        github_actions,
        request_url: non_empty(vars::ACTIONS_ID_TOKEN_REQUEST_URL),
        request_token: non_empty(vars::ACTIONS_ID_TOKEN_REQUEST_TOKEN).map(Secret::new),
    });
}

/// Cleans a token value exactly as `huggingface_hub`'s `_clean_token`: removes every `\r` and
/// `\n` anywhere, then strips leading and trailing whitespace (Python's `str.strip()` set).
pub fn clean_token(raw: &str) -> String {
    let joined: String = raw.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    joined.trim_matches(is_python_space).to_owned()
}

/// Python's `str.isspace()`: Unicode white space plus the ASCII separators U+001C–U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn resolve_token_path(env: &dyn Env, found: &mut HfTokenDiscovery) -> Option<PathBuf> {
    let home = env.home_dir();
    if found.staging {
        if env.var_os(vars::HF_TOKEN_PATH).is_some() {
            found.notes.push(
                "HUGGINGFACE_CO_STAGING overrides HF_TOKEN_PATH in the official client".to_owned(),
            );
        }
        return home.map(|home| home.join(".cache/huggingface_staging/token"));
    }
    let expanded = if let Some(raw) = env.var_os(vars::HF_TOKEN_PATH) {
        if raw.is_empty() {
            found.errors.push(DiscoveryError::EmptyTokenPath);
            found.configured = true;
            return None;
        }
        expand(env, raw)
    } else {
        let hf_home = match env.var_os(vars::HF_HOME) {
            Some(value) => value,
            None => {
                let cache = match env.var_os(vars::XDG_CACHE_HOME) {
                    Some(value) => value,
                    None => OsString::from("~/.cache"),
                };
                let mut joined = PathBuf::from(cache);
                joined.push("huggingface");
                joined.into_os_string()
            }
        };
        let mut path = PathBuf::from(expand(env, hf_home)?);
        path.push("token");
        Some(path.into_os_string())
    };
    expanded.map(PathBuf::from)
}

/// `os.path.expandvars(os.path.expanduser(value))`, reading variables through `env`. Returns
/// `None` when the value needs the home directory and it is unknown.
fn expand(env: &dyn Env, value: OsString) -> Option<OsString> {
    let text = match value.into_string() {
        Ok(text) => text,
        // Not UTF-8: nothing to expand that we could read; Python keeps it as is.
        Err(raw) => return Some(raw),
    };
    let user_expanded = if text == "~" || text.starts_with("~/") {
        let home = env.home_dir()?;
        let rest = text[1..].trim_start_matches('/');
        let joined = if rest.is_empty() {
            home
        } else {
            home.join(rest)
        };
        joined.into_os_string().into_string().ok()?
    } else {
        text
    };
    Some(OsString::from(expand_vars(env, &user_expanded)))
}

/// `posixpath.expandvars`: `$NAME` and `${NAME}` replaced when set, left as is otherwise.
fn expand_vars(env: &dyn Env, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find('$') {
        out.push_str(&rest[..index]);
        let after = &rest[index + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match env.var(name).filter(|_| !name.is_empty()) {
            Some(value) => out.push_str(&value),
            None => {
                out.push('$');
                out.push_str(&after[..len]);
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// Reads the token file. `Ok(None)` when it does not exist.
pub(crate) fn read_token_file(path: &Path) -> Result<Option<String>, DiscoveryError> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(DiscoveryError::Unreadable {
                path: path.to_owned(),
                reason: error.to_string(),
            });
        }
    };
    if metadata.is_dir() {
        return Err(DiscoveryError::IsDirectory {
            path: path.to_owned(),
        });
    }
    if !metadata.is_file() {
        // Checked before opening: opening a FIFO would block.
        return Err(DiscoveryError::NotRegularFile {
            path: path.to_owned(),
        });
    }
    let too_large = |size| DiscoveryError::TooLarge {
        path: path.to_owned(),
        size,
        limit: MAX_TOKEN_FILE_BYTES,
    };
    if metadata.len() > MAX_TOKEN_FILE_BYTES {
        return Err(too_large(metadata.len()));
    }
    let bytes =
        read_capped(path, MAX_TOKEN_FILE_BYTES).map_err(|error| DiscoveryError::Unreadable {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| DiscoveryError::NotUtf8 {
            path: path.to_owned(),
        })
}

/// Reads at most `limit + 1` bytes, so a file that grows past the limit is still caught.
pub(crate) fn read_capped(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn lookup_stored_token(
    path: &Path,
    token: &str,
    source: &TokenSource,
    now: SystemTime,
    found: &mut HfTokenDiscovery,
) -> Option<StoredTokenInfo> {
    let metadata = fs::metadata(path).ok()?;
    if !metadata.is_file() || metadata.len() > MAX_STORED_TOKENS_BYTES {
        found.warnings.push(format!(
            "{} is not a regular file of at most {MAX_STORED_TOKENS_BYTES} bytes; token expiry was not checked",
            path.display()
        ));
        return None;
    }
    let parsed = read_capped(path, MAX_STORED_TOKENS_BYTES)
        .map_err(|error| error.to_string())
        .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned()))
        .map_err(|reason| format!("cannot be read ({reason})"))
        .and_then(|text| {
            parse_ini(&text).map_err(|reason| {
                format!(
                    "is not a valid INI file ({reason}); the official client may fail to read it"
                )
            })
        });
    let sections = match parsed {
        Ok(sections) => sections,
        Err(problem) => {
            found.warnings.push(format!(
                "{} {problem}; token expiry was not checked",
                path.display()
            ));
            return None;
        }
    };
    let section = sections
        .iter()
        .find(|section| section.get("hf_token") == Some(token))?;
    let now_unix = now
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let expires_at = match section.get("expires_at") {
        None | Some("") => None,
        Some(raw) => match parse_unix_seconds(raw) {
            Some(value) => Some(value),
            None => {
                found.warnings.push(format!(
                    "stored token [{}] has an expires_at that is not unix seconds; expiry was not checked",
                    section.name
                ));
                None
            }
        },
    };
    let has_refresh_token = section.get("refresh_token").is_some_and(|v| !v.is_empty());
    let expired = expires_at.is_some_and(|at| at <= now_unix);
    let from_file = matches!(source, TokenSource::File(_));
    // `_parse_expires_at` is Python `int(...)`: a float there disables the refresh.
    let refreshable_expiry = section
        .get("expires_at")
        .and_then(|raw| raw.trim().parse::<i64>().ok());
    let refresh_due = from_file
        && section.get("refresh_token").is_some()
        && refreshable_expiry.is_some_and(|at| at - REFRESH_WINDOW_SECS <= now_unix);
    if refresh_due && !expired {
        found.notes.push(format!(
            "stored token [{}] expires within 24 h; the official client would refresh it on its next use",
            section.name
        ));
    }
    Some(StoredTokenInfo {
        name: section.name.clone(),
        expires_at,
        has_refresh_token,
        expired,
        refresh_due,
    })
}

/// Parses `1752192000` (also `1752192000.0`, as Python may write a float).
fn parse_unix_seconds(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(value) = raw.parse::<i64>() {
        return Some(value);
    }
    raw.parse::<f64>()
        .ok()
        .filter(|value| value.is_finite())
        .map(|value| value as i64)
}

/// One INI section with `DEFAULT` values folded in.
pub(crate) struct IniSection {
    pub(crate) name: String,
    entries: Vec<(String, String)>,
    defaults: Vec<(String, String)>,
}

impl IniSection {
    /// `dict(config.items(name))`: defaults first, the section's own values over them.
    pub(crate) fn items(&self) -> Vec<(String, String)> {
        let mut merged: Vec<(String, String)> = Vec::new();
        for (key, value) in self.defaults.iter().chain(self.entries.iter()) {
            match merged.iter_mut().find(|(name, _)| name == key) {
                Some(slot) => slot.1.clone_from(value),
                None => merged.push((key.clone(), value.clone())),
            }
        }
        merged
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .chain(self.defaults.iter().rev())
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

/// A `configparser.ConfigParser(interpolation=None)` reader for what `stored_tokens` holds:
/// `[section]` headers, `key = value` / `key: value` options (keys lower-cased, values
/// stripped), full-line `#`/`;` comments, indented continuation lines, and `[DEFAULT]`.
/// Errors name a line number only: lines may hold tokens.
pub(crate) fn parse_ini(text: &str) -> Result<Vec<IniSection>, String> {
    let mut sections: Vec<IniSection> = Vec::new();
    let mut defaults: Vec<(String, String)> = Vec::new();
    let mut in_default = false;
    let mut have_section = false;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let stripped = line.trim();
        if stripped.is_empty() || stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        let current: Option<&mut Vec<(String, String)>> = if in_default {
            Some(&mut defaults)
        } else {
            sections.last_mut().map(|section| &mut section.entries)
        };
        if indented
            && let Some(entries) = current
            && let Some((_, value)) = entries.last_mut()
        {
            value.push('\n');
            value.push_str(stripped);
            continue;
        }
        if let Some(inner) = stripped.strip_prefix('[')
            && let Some(end) = inner.rfind(']')
        {
            let name = &inner[..end];
            if name.is_empty() {
                return Err(format!("line {number}: empty section header"));
            }
            have_section = true;
            if name == "DEFAULT" {
                in_default = true;
            } else {
                if sections.iter().any(|section| section.name == name) {
                    return Err(format!("line {number}: duplicate section"));
                }
                in_default = false;
                sections.push(IniSection {
                    name: name.to_owned(),
                    entries: Vec::new(),
                    defaults: Vec::new(),
                });
            }
            continue;
        }
        if !have_section {
            return Err(format!("line {number}: option before any section header"));
        }
        let Some(split) = stripped.find(['=', ':']) else {
            return Err(format!("line {number}: expected `key = value`"));
        };
        let key = stripped[..split].trim().to_lowercase();
        let value = stripped[split + 1..].trim().to_owned();
        if key.is_empty() {
            return Err(format!("line {number}: empty key"));
        }
        let entries = if in_default {
            &mut defaults
        } else {
            match sections.last_mut() {
                Some(section) => &mut section.entries,
                None => return Err(format!("line {number}: option before any section header")),
            }
        };
        entries.push((key, value));
    }
    for section in &mut sections {
        section.defaults.clone_from(&defaults);
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    #[test]
    fn cleaning_matches_python() {
        assert_eq!(clean_token("  hf_a\r\nb \n"), "hf_ab");
        assert_eq!(clean_token("hf_a\nb"), "hf_ab");
        assert_eq!(clean_token("\u{1c}hf_x\u{a0}"), "hf_x");
        assert_eq!(clean_token(" \r\n\t "), "");
        assert_eq!(clean_token("hf_a b"), "hf_a b");
    }

    #[test]
    fn expands_vars_like_posixpath() {
        let env = MapEnv::new().with("A", "/a").with("B_1", "b");
        assert_eq!(expand_vars(&env, "$A/x"), "/a/x");
        assert_eq!(expand_vars(&env, "${A}/${B_1}"), "/a/b");
        assert_eq!(expand_vars(&env, "$NOPE/x"), "$NOPE/x");
        assert_eq!(expand_vars(&env, "${NOPE}/x"), "${NOPE}/x");
        assert_eq!(expand_vars(&env, "a$"), "a$");
        assert_eq!(expand_vars(&env, "${A"), "${A");
        assert_eq!(expand_vars(&env, "x$$A"), "x$/a");
    }

    #[test]
    fn ini_parser_handles_configparser_forms() {
        let text = "\u{feff}# comment\n[DEFAULT]\nrefresh_token = d\n[b]\nHF_TOKEN: tok\n  more\n; c\n[a]\nhf_token = other\n";
        let sections = parse_ini(text).expect("parses");
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].get("hf_token"), Some("tok\nmore"));
        assert_eq!(sections[1].get("refresh_token"), Some("d"));
        assert!(parse_ini("key = v\n").is_err());
        assert!(parse_ini("[a]\nnovalue\n").is_err());
        assert!(parse_ini("[a]\n[a]\n").is_err());
        assert!(parse_ini("[]\n").is_err());
        assert!(parse_ini("[a]\n = v\n").is_err());
        assert!(parse_ini("  indented = before\n").is_err());
    }

    #[test]
    fn unix_seconds_accept_python_floats() {
        assert_eq!(parse_unix_seconds(" 12 "), Some(12));
        assert_eq!(parse_unix_seconds("12.5"), Some(12));
        assert_eq!(parse_unix_seconds("soon"), None);
        assert_eq!(parse_unix_seconds("inf"), None);
    }
}
