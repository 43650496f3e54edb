//! How the auth crate reads its environment.
//!
//! Discovery never calls `std::env` directly: it reads through [`Env`], so tests describe a
//! whole environment as a map ([`MapEnv`]) instead of mutating the process (which is
//! `unsafe` in Rust 2024 and racy under a parallel test runner).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// A source of environment variables and the home directory.
pub trait Env: Send + Sync {
    /// The raw value of `key`, if set (possibly empty).
    fn var_os(&self, key: &str) -> Option<OsString>;

    /// The user's home directory, for `~` expansion and default paths.
    fn home_dir(&self) -> Option<PathBuf>;

    /// The value of `key` as UTF-8, if set and valid UTF-8 (possibly empty).
    fn var(&self, key: &str) -> Option<String> {
        self.var_os(key).and_then(|value| value.into_string().ok())
    }
}

/// Names the type only: an environment holds credentials, so its values are never printed.
impl fmt::Debug for dyn Env {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Env")
    }
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEnv;

impl Env for OsEnv {
    fn var_os(&self, key: &str) -> Option<OsString> {
        std::env::var_os(key)
    }

    fn home_dir(&self) -> Option<PathBuf> {
        std::env::home_dir()
    }
}

/// An environment described by a map, for tests and for embedding.
#[derive(Debug, Clone, Default)]
pub struct MapEnv {
    vars: HashMap<String, OsString>,
    home: Option<PathBuf>,
}

impl MapEnv {
    /// An empty environment with no home directory.
    pub fn new() -> Self {
        MapEnv::default()
    }

    /// Sets `key` to `value`.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.vars.insert(key.to_owned(), value.into());
        self
    }

    /// Sets the home directory.
    #[must_use]
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }
}

impl Env for MapEnv {
    fn var_os(&self, key: &str) -> Option<OsString> {
        self.vars.get(key).cloned()
    }

    fn home_dir(&self) -> Option<PathBuf> {
        self.home.clone()
    }
}

/// Environment variable names read by the auth crate, in one place.
pub mod vars {
    /// Hugging Face token (highest precedence after OIDC).
    pub const HF_TOKEN: &str = "HF_TOKEN";
    /// Legacy Hugging Face token variable.
    pub const HUGGING_FACE_HUB_TOKEN: &str = "HUGGING_FACE_HUB_TOKEN";
    /// Path of the Hugging Face token file.
    pub const HF_TOKEN_PATH: &str = "HF_TOKEN_PATH";
    /// Hugging Face home (`$XDG_CACHE_HOME/huggingface` by default).
    pub const HF_HOME: &str = "HF_HOME";
    /// XDG cache directory.
    pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
    /// Hub base URL.
    pub const HF_ENDPOINT: &str = "HF_ENDPOINT";
    /// When truthy, the official client sends no token unless asked explicitly.
    pub const HF_HUB_DISABLE_IMPLICIT_TOKEN: &str = "HF_HUB_DISABLE_IMPLICIT_TOKEN";
    /// When set, the official client exchanges an OIDC token first.
    pub const HF_OIDC_RESOURCE: &str = "HF_OIDC_RESOURCE";
    /// A pre-minted OIDC id token to exchange (Trusted Publishers, any CI provider).
    pub const HF_OIDC_ID_TOKEN: &str = "HF_OIDC_ID_TOKEN";
    /// `true` under GitHub Actions.
    pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
    /// GitHub Actions' id-token endpoint; set only with `permissions: id-token: write`.
    pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
    /// The bearer token for [`ACTIONS_ID_TOKEN_REQUEST_URL`].
    pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
    /// The OAuth client id the official client refreshes with.
    pub const HF_DEVICE_CODE_OAUTH_CLIENT_ID: &str = "HF_DEVICE_CODE_OAUTH_CLIENT_ID";
    /// Staging switch of the official client.
    pub const HUGGINGFACE_CO_STAGING: &str = "HUGGINGFACE_CO_STAGING";
    /// Modal token id.
    pub const MODAL_TOKEN_ID: &str = "MODAL_TOKEN_ID";
    /// Modal token secret.
    pub const MODAL_TOKEN_SECRET: &str = "MODAL_TOKEN_SECRET";
    /// Modal profile to use.
    pub const MODAL_PROFILE: &str = "MODAL_PROFILE";
    /// Modal config file path (default `~/.modal.toml`).
    pub const MODAL_CONFIG_PATH: &str = "MODAL_CONFIG_PATH";
    /// Modal control plane URL.
    pub const MODAL_SERVER_URL: &str = "MODAL_SERVER_URL";
}

/// The official Python client's notion of a true boolean environment value
/// (`value.upper() in {"1","ON","YES","TRUE"}`).
pub fn is_truthy(value: &str) -> bool {
    matches!(
        value.to_ascii_uppercase().as_str(),
        "1" | "ON" | "YES" | "TRUE"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_env_reads_what_was_set() {
        let env = MapEnv::new().with("A", "1").with_home("/home/u");
        assert_eq!(env.var("A").as_deref(), Some("1"));
        assert_eq!(env.var("B"), None);
        assert_eq!(env.home_dir(), Some(PathBuf::from("/home/u")));
    }

    #[test]
    fn truthiness_matches_python() {
        for value in ["1", "on", "YES", "true", "True"] {
            assert!(is_truthy(value), "{value}");
        }
        for value in ["0", "", "no", "false", "2", " 1"] {
            assert!(!is_truthy(value), "{value}");
        }
    }
}
