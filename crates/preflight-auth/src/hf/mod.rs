//! Hugging Face credentials: discovery with the official client's rules, an offline shape
//! check, `GET /api/whoami-v2`, and the write-permission verdict for a target repo.
//!
//! The pieces are usable on their own (the upload crate calls [`discover_hf_token`] and
//! [`check_permission`] directly); [`crate::AuthValidator::validate_hf_token`] chains them.
//!
//! # Discovery order
//!
//! The first non-empty value wins, exactly as `huggingface_hub` 2.x `get_token()` decides
//! (see [`discovery`] for the details of each step):
//!
//! | # | source | reported as | notes |
//! |---|---|---|---|
//! | 0 | `HF_OIDC_RESOURCE` | `oidc:HF_OIDC_ID_TOKEN` / `oidc:github` | Trusted Publishers exchange ([`oidc`]); nothing else is looked at |
//! | 1 | `HF_TOKEN or HUGGING_FACE_HUB_TOKEN` | `env:HF_TOKEN` / `env:HUGGING_FACE_HUB_TOKEN` | chosen by raw value, then cleaned like `_clean_token`; empty after cleaning = the token file decides |
//! | 2 | token file | `file:<path>` | `HF_TOKEN_PATH`, else `$HF_HOME/token`, else `$XDG_CACHE_HOME/huggingface/token`, else `~/.cache/huggingface/token`; an OAuth login due for a refresh is refreshed ([`refresh`]) |
//!
//! Then `stored_tokens` (next to the token file) is consulted for the winning token's
//! `expires_at`/`refresh_token`, and `HF_HUB_DISABLE_IMPLICIT_TOKEN` decides whether the
//! token would be sent at all.

pub mod discovery;
pub mod oidc;
pub mod permission;
pub mod refresh;
pub mod repo;
pub mod shape;
pub mod whoami;

pub use discovery::{
    DiscoveryError, HfTokenDiscovery, IdTokenSource, MAX_TOKEN_FILE_BYTES, OidcRequest,
    StoredTokenInfo, TokenSource, clean_token, discover_hf_token, discover_hf_token_at,
};
pub use permission::check_permission;
pub use repo::{Need, RepoId, RepoTarget, RepoTargetError, RepoType};
pub use shape::{ShapeCheck, TokenKind, UnsendableToken, check_shape};
pub use whoami::{
    AccessTokenInfo, AuthInfo, DEFAULT_ENDPOINT, FineGrainedInfo, OrgInfo, STAGING_ENDPOINT,
    ScopedEntity, ScopedEntry, WhoAmI, WhoamiError, fetch_whoami, resolve_endpoint,
};
