//! Refreshing an OAuth login stored by `hf auth login`, exactly as huggingface_hub 2.4.0's
//! `_refresh_oauth_token_if_needed` does it, so the two can share one login without racing.
//!
//! | step | official client | here |
//! |---|---|---|
//! | when | the token file's token is a `stored_tokens` entry with `refresh_token` and an integer `expires_at` less than 24 h away | same ([`crate::hf::StoredTokenInfo::refresh_due`]) |
//! | lock | `WeakFileLock("{stored_tokens}.lock", timeout=30)`, an exclusive `flock` | the same file, `flock` through `File::lock`, 30 s |
//! | re-read | under the lock; if the entry no longer holds our token, adopt the new one | same (no request) |
//! | request | `POST {endpoint}/oauth/token`, form `grant_type=refresh_token`, `refresh_token`, `client_id` (`HF_DEVICE_CODE_OAUTH_CLIENT_ID` or the built-in id) | same |
//! | save | the whole `stored_tokens` rewritten (sections sorted, `hf_token`, `refresh_token` (rotated or kept), `expires_at = now + expires_in`), mode 0600, dir 0700; then the token file, if it still holds the old token | same content and modes, written to a temporary file and renamed, so a crash never leaves half a file |
//! | `invalid_grant` | "run `hf auth login`" | [`RefreshError::Revoked`] (PF004) |
//! | anything else | retried later, nothing written | [`RefreshError::Transient`] (PF014), nothing written |

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::Secret;
use crate::env::{Env, vars};
use crate::hf::discovery::{MAX_STORED_TOKENS_BYTES, clean_token, parse_ini, read_capped};

/// `constants.DEVICE_CODE_OAUTH_CLIENT_ID`'s default.
pub const OFFICIAL_CLIENT_ID: &str = "26be6b09-91c5-47da-9861-d2d2bb7a7e36";

/// `stored_tokens` as sections of `(key, value)` fields, in file order.
type Sections = Vec<(String, Vec<(String, String)>)>;

/// How long the official client waits for the lock.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the login lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLogin {
    /// The token file (`HF_TOKEN_PATH`).
    pub token_path: PathBuf,
    /// `stored_tokens` next to it.
    pub stored_tokens_path: PathBuf,
    /// The entry (token name) that holds the login.
    pub name: String,
}

impl StoredLogin {
    /// `{stored_tokens}.lock`, the official client's lock file.
    pub fn lock_path(&self) -> PathBuf {
        let mut path = self.stored_tokens_path.clone().into_os_string();
        path.push(".lock");
        PathBuf::from(path)
    }
}

/// A refreshed (or adopted) access token.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The new access token.
    pub token: Secret,
    /// Its `expires_at`, unix seconds, when known.
    pub expires_at: Option<i64>,
    /// True when another process had refreshed it already (no request was sent).
    pub adopted: bool,
}

impl Refreshed {
    /// The result, announced by event `token_refreshed` (masked token only).
    fn logged(
        login: &StoredLogin,
        endpoint: &str,
        token: Secret,
        expires_at: Option<i64>,
        adopted: bool,
    ) -> Refreshed {
        tracing::info!(
            target: "preflight::auth",
            event = "token_refreshed",
            provider = "hf",
            source = %format!("file:{}", login.token_path.display()),
            stored_token_name = %login.name,
            masked_token = %token.masked(),
            expires_at,
            by_other_process = adopted,
            endpoint,
            "hf oauth token refreshed"
        );
        Refreshed {
            token,
            expires_at,
            adopted,
        }
    }

    /// When the new token expires, when known.
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires_at.and_then(unix_time)
    }
}

/// `seconds` since the epoch; `None` before it.
pub(crate) fn unix_time(seconds: i64) -> Option<SystemTime> {
    u64::try_from(seconds)
        .ok()
        .map(|seconds| UNIX_EPOCH + Duration::from_secs(seconds))
}

/// Why a refresh did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// `invalid_grant`: the refresh token is expired or revoked; only a new login helps.
    #[error("the Hub refused the refresh token (invalid_grant{}): the login expired or was revoked", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Revoked {
        /// The server's `error_description`.
        description: Option<String>,
    },
    /// No usable answer (network, 5xx, another OAuth error, a file that could not be saved).
    #[error("{reason}")]
    Transient {
        /// What happened (never a token).
        reason: String,
    },
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Refreshes `login` whose current access token is `current`, under the official lock.
/// `on_secret` sees every new credential (access and refresh token) before anything else
/// happens with it, so it can be registered for redaction.
pub async fn refresh_login(
    client: &reqwest::Client,
    endpoint: &str,
    env: &dyn Env,
    login: &StoredLogin,
    current: &Secret,
    timeout: Duration,
    on_secret: &(dyn Fn(&Secret) + Send + Sync),
) -> Result<Refreshed, RefreshError> {
    // Held until the refresh is written (or has failed): the official client's lock.
    let _lock = acquire_lock(login.lock_path()).await?;
    let mut sections = read_stored(&login.stored_tokens_path)?;
    let Some(index) = sections.iter().position(|(name, _)| *name == login.name) else {
        return Err(RefreshError::Transient {
            reason: format!(
                "the entry [{}] disappeared from {} while waiting for the lock",
                login.name,
                login.stored_tokens_path.display()
            ),
        });
    };
    let field = |fields: &[(String, String)], key: &str| {
        fields
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.clone())
    };
    let fields = sections[index].1.clone();
    let stored_token = field(&fields, "hf_token").unwrap_or_default();
    if stored_token != current.expose() && !stored_token.is_empty() {
        // Another process refreshed while we waited: adopt its result, send nothing.
        let token = Secret::new(stored_token);
        on_secret(&token);
        let expires_at = field(&fields, "expires_at").and_then(|at| at.trim().parse().ok());
        return Ok(Refreshed::logged(login, endpoint, token, expires_at, true));
    }
    let Some(refresh_token) = field(&fields, "refresh_token").map(Secret::new) else {
        return Err(RefreshError::Revoked {
            description: Some("the stored login has no refresh_token".to_owned()),
        });
    };
    on_secret(&refresh_token);

    let client_id = env
        .var(vars::HF_DEVICE_CODE_OAUTH_CLIENT_ID)
        .unwrap_or_else(|| OFFICIAL_CLIENT_ID.to_owned());
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token.expose())
        .append_pair("client_id", &client_id)
        .finish();
    let url = format!("{endpoint}/oauth/token");
    let now = unix_now();
    let sent = client
        .post(&url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .timeout(timeout)
        .send()
        .await;
    let response = sent.map_err(|error| RefreshError::Transient {
        reason: format!(
            "the refresh request to {url} got no answer: {}",
            error.without_url()
        ),
    })?;
    let status = response.status().as_u16();
    let answer: TokenAnswer = match response.json().await {
        Ok(answer) => answer,
        Err(_) => {
            return Err(RefreshError::Transient {
                reason: format!("{url} answered HTTP {status} without a JSON token response"),
            });
        }
    };
    let Some(access_token) = answer.access_token.filter(|token| !token.is_empty()) else {
        return match answer.error.as_deref() {
            Some("invalid_grant") => Err(RefreshError::Revoked {
                description: answer.error_description,
            }),
            other => Err(RefreshError::Transient {
                reason: format!(
                    "{url} answered HTTP {status} ({}) instead of a new access token",
                    other.unwrap_or("no error code")
                ),
            }),
        };
    };
    let token = Secret::new(access_token);
    on_secret(&token);
    let rotated = answer
        .refresh_token
        .filter(|value| !value.is_empty())
        .map(Secret::new);
    if let Some(rotated) = &rotated {
        on_secret(rotated);
    }
    let expires_at = answer.expires_in.map(|seconds| now + seconds);

    let mut new_fields = vec![("hf_token".to_owned(), token.expose().to_owned())];
    new_fields.push((
        "refresh_token".to_owned(),
        rotated
            .as_ref()
            .unwrap_or(&refresh_token)
            .expose()
            .to_owned(),
    ));
    if let Some(at) = expires_at {
        new_fields.push(("expires_at".to_owned(), at.to_string()));
    }
    sections[index].1 = new_fields;
    save_failed(write_secret(
        &login.stored_tokens_path,
        &configparser_text(&sections),
    ))?;
    let file_token = read_capped(&login.token_path, MAX_STORED_TOKENS_BYTES)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(|text| clean_token(&text));
    if file_token.as_deref() == Some(current.expose()) {
        save_failed(write_secret(&login.token_path, token.expose()))?;
    }
    Ok(Refreshed::logged(login, endpoint, token, expires_at, false))
}

fn save_failed(result: std::io::Result<()>) -> Result<(), RefreshError> {
    result.map_err(|error| RefreshError::Transient {
        reason: format!("the refreshed login could not be saved: {error}"),
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// All sections of `stored_tokens` as `dict(config.items(name))`, in file order.
fn read_stored(path: &Path) -> Result<Sections, RefreshError> {
    let bytes = match read_capped(path, MAX_STORED_TOKENS_BYTES) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(RefreshError::Transient {
                reason: format!("{} cannot be read: {error}", path.display()),
            });
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| RefreshError::Transient {
        reason: format!("{} is not UTF-8 text", path.display()),
    })?;
    let sections = parse_ini(&text).map_err(|reason| RefreshError::Transient {
        reason: format!("{} is not a valid INI file ({reason})", path.display()),
    })?;
    Ok(sections
        .iter()
        .map(|section| (section.name.clone(), section.items()))
        .collect())
}

/// `configparser.ConfigParser.write`: sections sorted (as `_save_stored_tokens_full` adds
/// them), `key = value`, a blank line after each section, continuation lines tab-indented.
fn configparser_text(sections: &[(String, Vec<(String, String)>)]) -> String {
    let mut sorted: Vec<&(String, Vec<(String, String)>)> = sections.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut text = String::new();
    for (name, fields) in sorted {
        text.push_str(&format!("[{name}]\n"));
        for (key, value) in fields {
            text.push_str(&format!("{key} = {}\n", value.replace('\n', "\n\t")));
        }
        text.push('\n');
    }
    text
}

/// `_write_secret`, made atomic: the content goes to a temporary file (mode 0600) in the same
/// directory, which is then renamed over `path`; the directory is restricted to 0700.
fn write_secret(path: &Path, content: &str) -> std::io::Result<()> {
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(parent)?;
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = parent.join(format!(".{name}.preflight-{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(content.as_bytes())?;
        file.sync_all()?;
        fs::set_permissions(&temporary, fs::Permissions::from_mode(0o600))?;
        fs::rename(&temporary, path)
    };
    let result = write();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result?;
    // Best effort, as in the official client.
    let _ = fs::set_permissions(parent, fs::Permissions::from_mode(0o700));
    Ok(())
}

/// Takes the official client's lock (`flock`, exclusive), waiting up to [`LOCK_TIMEOUT`].
async fn acquire_lock(path: PathBuf) -> Result<fs::File, RefreshError> {
    let shown = path.display().to_string();
    let locked = tokio::task::spawn_blocking(move || -> std::io::Result<Option<fs::File>> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o664)
            .open(&path)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(file)),
                Err(fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => return Ok(None),
                Err(fs::TryLockError::Error(error)) => return Err(error),
            }
        }
    })
    .await;
    match locked {
        Ok(Ok(Some(file))) => Ok(file),
        Ok(Ok(None)) => Err(RefreshError::Transient {
            reason: format!(
                "another process held {shown} for more than {} s",
                LOCK_TIMEOUT.as_secs()
            ),
        }),
        Ok(Err(error)) => Err(RefreshError::Transient {
            reason: format!("the lock file {shown} cannot be used: {error}"),
        }),
        Err(error) => Err(RefreshError::Transient {
            reason: format!("the lock could not be taken: {error}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_configparser_writes() {
        let sections = vec![
            (
                "zeta".to_owned(),
                vec![("hf_token".to_owned(), "b".to_owned())],
            ),
            (
                "alpha".to_owned(),
                vec![
                    ("hf_token".to_owned(), "a".to_owned()),
                    ("expires_at".to_owned(), "12".to_owned()),
                ],
            ),
        ];
        assert_eq!(
            configparser_text(&sections),
            "[alpha]\nhf_token = a\nexpires_at = 12\n\n[zeta]\nhf_token = b\n\n"
        );
    }

    #[test]
    fn atomic_write_keeps_owner_only_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/token");
        write_secret(&path, "one").unwrap();
        write_secret(&path, "two").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }
}
