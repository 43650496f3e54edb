//! OAuth logins that refresh, Trusted Publishers (RFC 8693 token exchange), and a fake
//! GitHub Actions id-token issuer.
//!
//! Shapes follow the official client (`huggingface_hub` 2.4.0: `utils/_oauth_device.py`,
//! `_oidc.py`, `utils/_auth.py`) and the Hub's Trusted Publishers documentation.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::server::{
    AppState, Reply, St, bad_request, base_url, bearer, error, internal, json, query_params,
    read_body, read_json, unknown_admin_route,
};
use crate::tokens::{ScopedPermission, TokenRole, TokenSpec, valid_name};

/// The official client's OAuth client id (`constants.DEVICE_CODE_OAUTH_CLIENT_ID`).
pub const OFFICIAL_CLIENT_ID: &str = "26be6b09-91c5-47da-9861-d2d2bb7a7e36";
const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Default lifetime of an exchanged token, like the Hub's: one hour.
pub const DEFAULT_EXCHANGED_TOKEN_LIFETIME_SECS: u64 = 3600;
/// Default lifetime of access tokens issued by a refresh: 30 days, more than the official
/// client's 24-hour refresh margin, so a refreshed login is not refreshed again at once.
pub const DEFAULT_OAUTH_ACCESS_LIFETIME_SECS: u64 = 30 * 24 * 3600;
/// Default lifetime of a configured login's access token when neither `expires_at` nor
/// `expires_in` is given: 8 hours.
pub const DEFAULT_LOGIN_EXPIRES_IN_SECS: i64 = 8 * 3600;
/// Default lifetime of id tokens the fake GitHub endpoint mints.
pub const DEFAULT_ID_TOKEN_LIFETIME_SECS: u64 = 300;

/// Where the emulator's own issuer lives, below its URL.
pub(crate) const ISSUER_PATH: &str = "/_actions";

/// An OAuth login as `hf auth login` leaves it: an access token that expires and a refresh
/// token. `Debug` never prints either token.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OAuthLogin {
    /// The user name.
    pub user: String,
    /// Organisations the user belongs to.
    #[serde(default)]
    pub orgs: Vec<String>,
    /// What the access tokens may do (`read`, `write`, fine-grained).
    #[serde(default = "crate::tokens::default_role")]
    pub role: TokenRole,
    /// The current access token (may be omitted: then only the refresh token is known).
    #[serde(default)]
    pub access_token: Option<String>,
    /// The refresh token (usable once).
    pub refresh_token: String,
    /// Unix seconds at which `access_token` expires.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Alternative to `expires_at`: seconds from now (negative: already expired).
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// Lifetime of access tokens issued by refreshing this login.
    #[serde(default)]
    pub access_token_lifetime_secs: Option<u64>,
}

impl std::fmt::Debug for OAuthLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthLogin")
            .field("user", &self.user)
            .field("orgs", &self.orgs)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl OAuthLogin {
    /// Parse the CLI syntax
    /// `ACCESS=USER[+ORG...][:ROLE] refresh=R [expires_at=UNIX|expires_in=SECS] [lifetime=SECS]`.
    pub fn parse_cli(s: &str) -> Result<OAuthLogin, String> {
        let mut words = s.split_whitespace();
        let first = words
            .next()
            .ok_or("expected ACCESS=USER[:ROLE] refresh=R [expires_in=SECS]")?;
        let t = TokenSpec::parse_cli(first)?;
        let mut login = OAuthLogin {
            user: t.user,
            orgs: t.orgs,
            role: t.role,
            access_token: Some(t.token),
            refresh_token: String::new(),
            expires_at: None,
            expires_in: None,
            access_token_lifetime_secs: None,
        };
        for w in words {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| format!("expected KEY=VALUE, got {w:?}"))?;
            let int = |v: &str| {
                v.parse::<i64>()
                    .map_err(|_| format!("{k} must be an integer"))
            };
            match k {
                "refresh" => login.refresh_token = v.to_string(),
                "expires_at" => login.expires_at = Some(int(v)?),
                "expires_in" => login.expires_in = Some(int(v)?),
                "lifetime" => {
                    login.access_token_lifetime_secs = Some(
                        v.parse()
                            .map_err(|_| "lifetime must be a positive integer".to_string())?,
                    )
                }
                other => return Err(format!("unknown OAuth login field {other:?}")),
            }
        }
        login.validate()?;
        Ok(login)
    }

    fn validate(&self) -> Result<(), String> {
        if !valid_name(&self.user) {
            return Err(format!("invalid user name {:?}", self.user));
        }
        if self.refresh_token.is_empty() || self.refresh_token.contains(char::is_whitespace) {
            return Err("an OAuth login needs a refresh token without whitespace".into());
        }
        if self
            .access_token
            .as_deref()
            .is_some_and(|a| a.is_empty() || a.contains(char::is_whitespace))
        {
            return Err("the access token must be non-empty and contain no whitespace".into());
        }
        Ok(())
    }
}

/// A trusted publisher configured on a repo (or on a user, for a "username resource").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrustedPublisher {
    /// `ns/name`, `datasets/ns/name`, `spaces/ns/name`, `kernels/ns/name`, or a user name.
    pub resource: String,
    /// The id token's `iss`; `None` = the emulator's own issuer.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Short for `claims.sub`.
    #[serde(default)]
    pub subject: Option<String>,
    /// Claims that must equal the id token's claims exactly.
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    /// The exchanged token may only read the repo.
    #[serde(default)]
    pub read_only: bool,
    /// whoami name of exchanged tokens; default: the resource's namespace.
    #[serde(default)]
    pub user: Option<String>,
}

impl TrustedPublisher {
    /// A publisher for `resource` trusting `subject` from the emulator's own issuer.
    pub fn new(resource: impl Into<String>, subject: impl Into<String>) -> TrustedPublisher {
        TrustedPublisher {
            subject: Some(subject.into()),
            ..TrustedPublisher::any_subject(resource.into())
        }
    }

    /// A publisher for `resource` that requires no claim yet.
    fn any_subject(resource: String) -> TrustedPublisher {
        TrustedPublisher {
            resource,
            issuer: None,
            subject: None,
            claims: BTreeMap::new(),
            read_only: false,
            user: None,
        }
    }

    /// Parse the CLI syntax `RESOURCE [iss=URL] [sub=S] [CLAIM=VALUE..] [read-only] [user=NAME]`.
    pub fn parse_cli(s: &str) -> Result<TrustedPublisher, String> {
        let mut words = s.split_whitespace();
        let resource = words.next().ok_or("expected RESOURCE [sub=S] ...")?;
        let mut p = TrustedPublisher::any_subject(resource.to_string());
        for w in words {
            if w == "read-only" {
                p.read_only = true;
                continue;
            }
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| format!("expected CLAIM=VALUE or read-only, got {w:?}"))?;
            match k {
                "iss" | "issuer" => p.issuer = Some(v.to_string()),
                "sub" | "subject" => p.subject = Some(v.to_string()),
                "user" => p.user = Some(v.to_string()),
                claim => {
                    p.claims.insert(claim.to_string(), v.to_string());
                }
            }
        }
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), String> {
        parse_resource(&self.resource)?;
        if let Some(u) = &self.user
            && !valid_name(u)
        {
            return Err(format!("invalid user name {u:?}"));
        }
        Ok(())
    }

    /// Every claim this publisher requires, `sub` included.
    fn required_claims(&self) -> BTreeMap<String, String> {
        let mut c = self.claims.clone();
        if let Some(s) = &self.subject {
            c.insert("sub".into(), s.clone());
        }
        c
    }
}

/// Settings of the OIDC side; every field is optional, and setting them merges.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OidcSettings {
    /// Lifetime of exchanged tokens in seconds (default 3600).
    #[serde(default)]
    pub exchanged_token_lifetime_secs: Option<u64>,
    /// The `ACTIONS_ID_TOKEN_REQUEST_TOKEN` the fake GitHub endpoint accepts.
    #[serde(default)]
    pub request_token: Option<String>,
    /// The `iss` of minted id tokens (default `http://HOST:PORT/_actions`).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Lifetime of minted id tokens in seconds (default 300).
    #[serde(default)]
    pub id_token_lifetime_secs: Option<u64>,
    /// Claims of minted id tokens (merged over the GitHub-like defaults).
    #[serde(default)]
    pub claims: Option<BTreeMap<String, Value>>,
    /// Audiences accepted besides the emulator's own URL (e.g. `https://huggingface.co`).
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
    /// The OAuth client id refreshes must carry (default the official client's).
    #[serde(default)]
    pub client_id: Option<String>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field(
                "exchanged_token_lifetime_secs",
                &self.exchanged_token_lifetime_secs,
            )
            .field("request_token_set", &self.request_token.is_some())
            .field("issuer", &self.issuer)
            .field("id_token_lifetime_secs", &self.id_token_lifetime_secs)
            .field("claims", &self.claims)
            .field("audiences", &self.audiences)
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl OidcSettings {
    fn merge(&mut self, other: OidcSettings) {
        macro_rules! take {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f; } )* };
        }
        take!(
            exchanged_token_lifetime_secs,
            request_token,
            issuer,
            id_token_lifetime_secs,
            audiences,
            client_id
        );
        if let Some(c) = other.claims {
            self.claims.get_or_insert_with(BTreeMap::new).extend(c);
        }
    }

    fn public_json(&self) -> Value {
        json!({
            "exchanged_token_lifetime_secs": self.exchanged_token_lifetime_secs
                .unwrap_or(DEFAULT_EXCHANGED_TOKEN_LIFETIME_SECS),
            "request_token_set": self.request_token.is_some(),
            "issuer": self.issuer,
            "id_token_lifetime_secs": self.id_token_lifetime_secs.unwrap_or(DEFAULT_ID_TOKEN_LIFETIME_SECS),
            "claims": self.claims,
            "audiences": self.audiences.clone().unwrap_or_default(),
            "client_id": self.client_id.as_deref().unwrap_or(OFFICIAL_CLIENT_ID),
        })
    }
}

/// Counters of `/oauth/token` traffic that reached the emulator.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OAuthCounters {
    /// Refresh-grant requests, granted or not.
    pub refresh_requests: u64,
    /// Refreshes that issued a new access token.
    pub refreshes_granted: u64,
    /// Token-exchange requests, granted or not.
    pub exchange_requests: u64,
    /// Exchanges that issued a token.
    pub exchanges_granted: u64,
    /// Requests to the fake GitHub id-token endpoint, answered or not.
    pub id_token_requests: u64,
    /// Why the last refused refresh or exchange was refused.
    pub last_refusal: Option<String>,
    /// Every refusal reason, oldest first.
    pub refusals: Vec<String>,
}

/// A request to mint an id token directly (tests that pass `HF_OIDC_ID_TOKEN`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdTokenRequest {
    /// The `aud` claim; default the emulator's URL (what the official client requests).
    #[serde(default)]
    pub audience: Option<String>,
    /// Claims over the defaults (e.g. `iss`, `sub`, `repository`, `exp`).
    #[serde(default)]
    pub claims: BTreeMap<String, Value>,
    /// Lifetime in seconds (negative: already expired).
    #[serde(default)]
    pub lifetime_secs: Option<i64>,
    /// `trusted` (default; the key in the JWKS) or `untrusted` (a key nobody publishes).
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum IssuedKind {
    OAuth,
    Exchanged,
}

struct Issued {
    spec: TokenSpec,
    kind: IssuedKind,
    /// Unix seconds (fractional).
    expires_at: f64,
    created_at: String,
}

struct RefreshGrant {
    /// Who the access tokens issued by this grant are for (`token` is unused).
    spec: TokenSpec,
    lifetime: u64,
    used: bool,
    revoked: bool,
}

struct Keys {
    kid: String,
    trusted: EncodingKey,
    untrusted: EncodingKey,
    jwks: JwkSet,
}

fn generate_keys() -> Result<Keys, String> {
    let gen_key = || -> Result<(EncodingKey, Vec<u8>), String> {
        let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| "could not generate a P-256 key".to_string())?;
        let der = kp
            .to_pkcs8v1()
            .map_err(|_| "could not serialize the P-256 key".to_string())?;
        Ok((
            EncodingKey::from_ec_der(der.as_ref()),
            kp.public_key().as_ref().to_vec(),
        ))
    };
    let (trusted, public) = gen_key()?;
    let (untrusted, _) = gen_key()?;
    // An uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
    if public.len() != 65 || public[0] != 4 {
        return Err("unexpected P-256 public key encoding".into());
    }
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let kid = hex::encode(fastrand::u64(..).to_be_bytes());
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "EC", "crv": "P-256", "x": b64(&public[1..33]), "y": b64(&public[33..]),
        "kid": kid, "alg": "ES256", "use": "sig",
    }))
    .map_err(|e| format!("could not build the JWK: {e}"))?;
    Ok(Keys {
        kid,
        trusted,
        untrusted,
        jwks: JwkSet { keys: vec![jwk] },
    })
}

/// Everything the emulator knows about OAuth and Trusted Publishers.
pub(crate) struct OAuthState {
    issued: HashMap<String, Issued>,
    refresh: HashMap<String, RefreshGrant>,
    publishers: Vec<TrustedPublisher>,
    settings: OidcSettings,
    other_issuers: HashMap<String, JwkSet>,
    counters: OAuthCounters,
    keys: Keys,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn random_alnum(n: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(n)
        .collect()
}

fn iso(secs: f64) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos((secs * 1e9) as i128)
        .ok()
        .and_then(|t| t.format(&f).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into())
}

impl OAuthState {
    pub(crate) fn new(
        logins: &[OAuthLogin],
        publishers: &[TrustedPublisher],
        settings: &OidcSettings,
    ) -> Result<OAuthState, String> {
        let mut s = OAuthState {
            issued: HashMap::new(),
            refresh: HashMap::new(),
            publishers: Vec::new(),
            settings: settings.clone(),
            other_issuers: HashMap::new(),
            counters: OAuthCounters::default(),
            keys: generate_keys()?,
        };
        for l in logins {
            s.add_login(l.clone())?;
        }
        for p in publishers {
            s.add_publisher(p.clone())?;
        }
        Ok(s)
    }

    pub(crate) fn add_login(&mut self, l: OAuthLogin) -> Result<(), String> {
        l.validate()?;
        let now = now_secs();
        let expires_at = match (l.expires_at, l.expires_in) {
            (Some(at), _) => at as f64,
            (None, Some(inn)) => now + inn as f64,
            (None, None) => now + DEFAULT_LOGIN_EXPIRES_IN_SECS as f64,
        };
        let spec = TokenSpec::new(l.access_token.clone().unwrap_or_default(), l.user, l.role)
            .with_orgs(l.orgs);
        if l.access_token.is_some() {
            self.issue(spec.clone(), IssuedKind::OAuth, now, expires_at);
        }
        self.refresh.insert(
            l.refresh_token.clone(),
            RefreshGrant {
                spec,
                lifetime: l
                    .access_token_lifetime_secs
                    .unwrap_or(DEFAULT_OAUTH_ACCESS_LIFETIME_SECS),
                used: false,
                revoked: false,
            },
        );
        Ok(())
    }

    pub(crate) fn add_publisher(&mut self, p: TrustedPublisher) -> Result<(), String> {
        p.validate()?;
        self.publishers.push(p);
        Ok(())
    }

    pub(crate) fn set_settings(&mut self, s: OidcSettings) {
        self.settings.merge(s);
    }

    pub(crate) fn issuer_setting(&self) -> Option<String> {
        self.settings.issuer.clone()
    }

    pub(crate) fn counters(&self) -> OAuthCounters {
        self.counters.clone()
    }

    /// The spec of an issued token that is still valid; `Err(())` for one that expired or
    /// was revoked; `Ok(None)` for a token this module never issued.
    pub(crate) fn lookup(&self, token: &str) -> Result<Option<TokenSpec>, ()> {
        match self.issued.get(token) {
            None => Ok(None),
            Some(i) if i.spec.revoked || now_secs() >= i.expires_at => Err(()),
            Some(i) => Ok(Some(i.spec.clone())),
        }
    }

    /// The whoami-v2 `auth` block for an issued token, as the Hub answers for its kind.
    pub(crate) fn whoami(&self, token: &str) -> Option<Value> {
        let i = self.issued.get(token)?;
        let mut v = i.spec.whoami_json();
        let mut access = v["auth"]["accessToken"].clone();
        let (kind, display_name) = match i.kind {
            // OAuth tokens have no display name: the official client then names the
            // login `oauth-USER` (`_login.py::_validate_and_save_token`).
            IssuedKind::OAuth => ("oauth", None),
            IssuedKind::Exchanged => ("access_token", Some("Trusted Publisher (OIDC)")),
        };
        if let Some(o) = access.as_object_mut() {
            match display_name {
                None => o.remove("displayName"),
                Some(n) => o.insert("displayName".into(), json!(n)),
            };
            o.insert("createdAt".into(), json!(i.created_at));
            if i.kind == IssuedKind::Exchanged {
                o.insert("expiration".into(), json!(iso(i.expires_at)));
            }
        }
        v["auth"] = json!({
            "type": kind,
            "expiresAt": iso(i.expires_at),
            "accessToken": access,
        });
        Some(v)
    }

    /// Remember `spec` as issued at `now` (Unix seconds), valid until `expires_at`.
    fn issue(&mut self, spec: TokenSpec, kind: IssuedKind, now: f64, expires_at: f64) {
        self.issued.insert(
            spec.token.clone(),
            Issued {
                spec,
                kind,
                expires_at,
                created_at: iso(now),
            },
        );
    }

    /// Refuse a `/oauth/token` request: count `reason` (for tests) and answer the OAuth
    /// error `code` with `description` (what the client sees).
    fn deny(&mut self, reason: impl Into<String>, code: &str, description: &str) -> Response {
        let reason = reason.into();
        tracing::info!(reason = %reason, "oauth/token refused");
        self.counters.last_refusal = Some(reason.clone());
        self.counters.refusals.push(reason);
        oauth_error(code, description)
    }

    fn effective_issuer(&self, base: &str) -> String {
        self.settings
            .issuer
            .clone()
            .unwrap_or_else(|| format!("{base}{ISSUER_PATH}"))
    }

    fn mint(&self, base: &str, req: &IdTokenRequest) -> Result<String, String> {
        let now = now_secs() as i64;
        let lifetime = req.lifetime_secs.unwrap_or(
            self.settings
                .id_token_lifetime_secs
                .unwrap_or(DEFAULT_ID_TOKEN_LIFETIME_SECS) as i64,
        );
        let mut claims: BTreeMap<String, Value> = [
            ("sub", "repo:acme/train:ref:refs/heads/main"),
            ("repository", "acme/train"),
            ("repository_owner", "acme"),
            ("ref", "refs/heads/main"),
            ("ref_type", "branch"),
            ("workflow", "publish.yml"),
            (
                "job_workflow_ref",
                "acme/train/.github/workflows/publish.yml@refs/heads/main",
            ),
            ("actor", "alice"),
            ("event_name", "push"),
            ("runner_environment", "github-hosted"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
        if let Some(c) = &self.settings.claims {
            claims.extend(c.clone());
        }
        claims.insert("iss".into(), json!(self.effective_issuer(base)));
        claims.insert(
            "aud".into(),
            json!(req.audience.clone().unwrap_or_else(|| base.to_string())),
        );
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now - 1));
        claims.insert("exp".into(), json!(now + lifetime));
        claims.insert("jti".into(), json!(random_alnum(24)));
        claims.extend(req.claims.clone());
        let key = match req.key.as_deref() {
            None | Some("trusted") => &self.keys.trusted,
            Some("untrusted") => &self.keys.untrusted,
            Some(other) => return Err(format!("key must be trusted or untrusted, not {other:?}")),
        };
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(self.keys.kid.clone());
        h.typ = Some("JWT".into());
        jsonwebtoken::encode(&h, &claims, key).map_err(|e| format!("signing failed: {e}"))
    }
}

/// Mint an id token (admin API and Rust API).
pub(crate) fn mint_id_token(
    st: &AppState,
    base: &str,
    req: &IdTokenRequest,
) -> Result<String, String> {
    st.oauth().mint(base, req)
}

/// What a `resource` names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    /// entity type (`model`, `dataset`, `space`, `kernel`) and `ns/name`.
    Repo(&'static str, String),
    User(String),
}

fn parse_resource(r: &str) -> Result<Resource, String> {
    let parts: Vec<&str> = r.split('/').collect();
    let repo = |t: &'static str, ns: &str, name: &str| {
        if valid_name(ns) && valid_name(name) {
            Ok(Resource::Repo(t, format!("{ns}/{name}")))
        } else {
            Err(format!("invalid resource {r:?}"))
        }
    };
    match parts.as_slice() {
        [user] if valid_name(user) => Ok(Resource::User(user.to_string())),
        [ns, name] => repo("model", ns, name),
        ["datasets", ns, name] => repo("dataset", ns, name),
        ["spaces", ns, name] => repo("space", ns, name),
        ["kernels", ns, name] => repo("kernel", ns, name),
        _ => Err(format!(
            "invalid resource {r:?}: expected namespace/name, datasets/namespace/name, \
             spaces/namespace/name, kernels/namespace/name or a username"
        )),
    }
}

/// An OAuth error answer (RFC 6749 section 5.2): 401 for `invalid_client`, else 400.
fn oauth_error(code: &str, description: &str) -> Response {
    let status = if code == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    json(
        status,
        &json!({"error": code, "error_description": description}),
    )
}

/// `POST /oauth/token`: the body as string fields, from JSON or a form.
async fn token_fields(h: &HeaderMap, body: Body) -> Result<HashMap<String, String>, Response> {
    let bytes = read_body(body, 1 << 20).await?;
    let is_json = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
        || bytes.first() == Some(&b'{');
    if is_json {
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| oauth_error("invalid_request", &format!("invalid JSON body: {e}")))?;
        let Some(o) = v.as_object() else {
            return Err(oauth_error(
                "invalid_request",
                "the body must be a JSON object",
            ));
        };
        Ok(o.iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect())
    } else {
        let text = String::from_utf8_lossy(&bytes);
        Ok(query_params(Some(&text)).into_iter().collect())
    }
}

pub(crate) async fn token_endpoint(st: &St, h: &HeaderMap, body: Body) -> Response {
    let f = match token_fields(h, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    match f.get("grant_type").map(String::as_str) {
        Some("refresh_token") => refresh(st, &f),
        Some(TOKEN_EXCHANGE_GRANT) => exchange(st, h, &f),
        Some(other) => oauth_error(
            "unsupported_grant_type",
            &format!("Unsupported grant_type: {other}"),
        ),
        None => oauth_error("invalid_request", "Missing grant_type"),
    }
}

fn refresh(st: &St, f: &HashMap<String, String>) -> Response {
    let mut s = st.oauth();
    s.counters.refresh_requests += 1;
    let client_id = s
        .settings
        .client_id
        .clone()
        .unwrap_or_else(|| OFFICIAL_CLIENT_ID.to_string());
    if f.get("client_id") != Some(&client_id) {
        return s.deny(
            "refresh: unknown client_id",
            "invalid_client",
            "Invalid client_id",
        );
    }
    let Some(rt) = f.get("refresh_token").filter(|r| !r.is_empty()) else {
        return s.deny(
            "refresh: no refresh_token",
            "invalid_request",
            "Missing refresh_token",
        );
    };
    // (why, what the client is told) for a refresh token that cannot be used.
    let grant = match s.refresh.get_mut(rt) {
        None => Err(("unknown refresh token", "Invalid refresh token")),
        Some(g) if g.revoked => Err((
            "refresh token revoked",
            "The refresh token has been revoked",
        )),
        Some(g) if g.used => Err((
            "refresh token already used",
            "The refresh token has already been used",
        )),
        Some(g) => {
            g.used = true;
            Ok((g.spec.clone(), g.lifetime))
        }
    };
    let (spec, lifetime) = match grant {
        Ok(g) => g,
        Err((why, description)) => {
            return s.deny(format!("refresh: {why}"), "invalid_grant", description);
        }
    };
    let now = now_secs();
    let access = format!("hf_oauth_{}", random_alnum(40));
    let new_refresh = format!("hf_oauth_refresh_{}", random_alnum(40));
    let scope = match spec.role {
        TokenRole::Read => "openid profile read-repos",
        _ => "openid profile read-repos write-repos manage-repos",
    };
    let issued = TokenSpec {
        token: access.clone(),
        ..spec.clone()
    };
    s.issue(issued, IssuedKind::OAuth, now, now + lifetime as f64);
    s.refresh.insert(
        new_refresh.clone(),
        RefreshGrant {
            spec,
            lifetime,
            used: false,
            revoked: false,
        },
    );
    s.counters.refreshes_granted += 1;
    json(
        StatusCode::OK,
        &json!({
            "access_token": access,
            "token_type": "bearer",
            "expires_in": lifetime,
            "refresh_token": new_refresh,
            "scope": scope,
        }),
    )
}

/// Why an exchange was refused: the reason for tests, the Hub's generic description for
/// the client (the Hub does not say which check failed).
struct Refusal(String);

fn verify_id_token(
    s: &OAuthState,
    base: &str,
    local: &str,
    token: &str,
) -> Result<BTreeMap<String, Value>, Refusal> {
    let hdr = jsonwebtoken::decode_header(token)
        .map_err(|e| Refusal(format!("id token is not a JWT: {e}")))?;
    let unverified: BTreeMap<String, Value> =
        jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|e| Refusal(format!("id token claims unreadable: {e}")))?;
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| Refusal("id token has no iss".into()))?
        .to_string();
    let own = [
        s.effective_issuer(base),
        format!("{base}{ISSUER_PATH}"),
        format!("{local}{ISSUER_PATH}"),
    ];
    let jwks = if own.contains(&iss) {
        &s.keys.jwks
    } else {
        s.other_issuers
            .get(&iss)
            .ok_or_else(|| Refusal(format!("issuer {iss} is unknown (no JWKS)")))?
    };
    let jwk = match &hdr.kid {
        Some(kid) => jwks.find(kid),
        None => jwks.keys.first(),
    }
    .ok_or_else(|| Refusal(format!("no key of issuer {iss} matches kid {:?}", hdr.kid)))?;
    if !matches!(hdr.alg, Algorithm::ES256 | Algorithm::RS256) {
        return Err(Refusal(format!("algorithm {:?} is not accepted", hdr.alg)));
    }
    let key =
        DecodingKey::from_jwk(jwk).map_err(|e| Refusal(format!("unusable issuer key: {e}")))?;
    let mut audiences = vec![base.to_string(), local.to_string()];
    audiences.extend(s.settings.audiences.clone().unwrap_or_default());
    let mut v = Validation::new(hdr.alg);
    v.leeway = 0;
    v.set_issuer(&[&iss]);
    v.set_audience(&audiences);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    jsonwebtoken::decode::<BTreeMap<String, Value>>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            Refusal(match e.kind() {
                K::InvalidSignature => "id token signature does not verify".into(),
                K::ExpiredSignature => "id token expired".into(),
                K::ImmatureSignature => "id token not yet valid (nbf)".into(),
                K::InvalidAudience => format!(
                    "audience {} is not the endpoint {base}",
                    unverified
                        .get("aud")
                        .map(Value::to_string)
                        .unwrap_or_default()
                ),
                K::InvalidIssuer => format!("issuer {iss} rejected"),
                other => format!("id token rejected: {other:?}"),
            })
        })
}

fn claim_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn match_publisher<'a>(
    s: &'a OAuthState,
    base: &str,
    resource: &Resource,
    raw_resource: &str,
    claims: &BTreeMap<String, Value>,
) -> Result<&'a TrustedPublisher, Refusal> {
    let iss = claim_str(claims.get("iss")).unwrap_or_default();
    let candidates: Vec<&TrustedPublisher> = s
        .publishers
        .iter()
        .filter(|p| parse_resource(&p.resource).as_ref() == Ok(resource))
        .collect();
    if candidates.is_empty() {
        return Err(Refusal(format!(
            "no trusted publisher is configured for {raw_resource}"
        )));
    }
    let same_issuer: Vec<&TrustedPublisher> = candidates
        .iter()
        .copied()
        .filter(|p| p.issuer.clone().unwrap_or_else(|| s.effective_issuer(base)) == iss)
        .collect();
    if same_issuer.is_empty() {
        return Err(Refusal(format!(
            "issuer mismatch: id token iss {iss}, the publishers of {raw_resource} trust {}",
            candidates
                .iter()
                .map(|p| p.issuer.clone().unwrap_or_else(|| s.effective_issuer(base)))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut first_mismatch = None;
    for p in same_issuer {
        let mismatch = p
            .required_claims()
            .into_iter()
            .find(|(k, want)| claim_str(claims.get(k)).as_deref() != Some(want.as_str()));
        match mismatch {
            None => return Ok(p),
            Some((k, want)) => {
                first_mismatch.get_or_insert_with(|| {
                    format!(
                        "claim {k} mismatch for {raw_resource}: id token has {}, publisher wants {want:?}",
                        claim_str(claims.get(&k))
                            .map(|v| format!("{v:?}"))
                            .unwrap_or_else(|| "none".into())
                    )
                });
            }
        }
    }
    Err(Refusal(first_mismatch.unwrap_or_default()))
}

fn exchange(st: &St, h: &HeaderMap, f: &HashMap<String, String>) -> Response {
    let base = base_url(st, h);
    let local = format!("http://{}", st.local_addr);
    let mut s = st.oauth();
    s.counters.exchange_requests += 1;
    let field = |k: &str| f.get(k).filter(|v| !v.is_empty());
    let (Some(subject), Some(raw_resource)) = (field("subject_token"), field("resource")) else {
        return s.deny(
            "exchange: subject_token or resource missing",
            "invalid_request",
            "subject_token and resource are required",
        );
    };
    if field("subject_token_type").map(String::as_str) != Some(ID_TOKEN_TYPE) {
        return s.deny(
            "exchange: subject_token_type is not id_token",
            "invalid_request",
            &format!("subject_token_type must be {ID_TOKEN_TYPE}"),
        );
    }
    let resource = match parse_resource(raw_resource) {
        Ok(r) => r,
        Err(e) => return s.deny(format!("exchange: {e}"), "invalid_request", &e),
    };
    let verified = verify_id_token(&s, &base, &local, subject).and_then(|claims| {
        match_publisher(&s, &base, &resource, raw_resource, &claims).map(|p| (p.clone(), claims))
    });
    let (publisher, claims) = match verified {
        Ok(v) => v,
        Err(Refusal(reason)) => {
            return s.deny(
                format!("exchange: {reason}"),
                "invalid_grant",
                &format!(
                    "Token exchange failed for resource '{raw_resource}': the id token does not \
                     match a trusted publisher of this resource"
                ),
            );
        }
    };
    let now = now_secs();
    let lifetime = s
        .settings
        .exchanged_token_lifetime_secs
        .unwrap_or(DEFAULT_EXCHANGED_TOKEN_LIFETIME_SECS);
    let (access, spec) = match &resource {
        Resource::Repo(entity_type, id) => {
            let ns = id.split('/').next().unwrap_or_default().to_string();
            let mut permissions = vec!["repo.content.read".to_string()];
            if !publisher.read_only {
                permissions.push("repo.write".into());
            }
            let inner = json!({
                "iss": base, "sub": claim_str(claims.get("sub")), "resource": raw_resource,
                "iat": now as i64, "exp": (now as i64) + lifetime as i64, "jti": random_alnum(16),
            });
            let mut hdr = Header::new(Algorithm::ES256);
            hdr.kid = Some(s.keys.kid.clone());
            let jwt = match jsonwebtoken::encode(&hdr, &inner, &s.keys.trusted) {
                Ok(j) => j,
                Err(e) => return internal(format!("signing failed: {e}")),
            };
            let access = format!("hf_jwt_{jwt}");
            let spec = TokenSpec::new(
                access.clone(),
                publisher.user.clone().unwrap_or(ns),
                TokenRole::FineGrained {
                    scoped: vec![ScopedPermission {
                        entity_type: entity_type.to_string(),
                        entity_name: id.clone(),
                        permissions,
                    }],
                    global: Vec::new(),
                },
            );
            (access, spec)
        }
        Resource::User(user) => {
            let access = format!("hf_oauth_{}", random_alnum(40));
            let spec = TokenSpec::new(
                access.clone(),
                publisher.user.clone().unwrap_or_else(|| user.clone()),
                TokenRole::FineGrained {
                    scoped: Vec::new(),
                    global: vec!["gated-repos".into()],
                },
            );
            (access, spec)
        }
    };
    s.issue(spec, IssuedKind::Exchanged, now, now + lifetime as f64);
    s.counters.exchanges_granted += 1;
    json(
        StatusCode::OK,
        &json!({
            "access_token": access,
            "token_type": "bearer",
            "expires_in": lifetime,
            "issued_token_type": ACCESS_TOKEN_TYPE,
        }),
    )
}

/// The fake GitHub Actions issuer: `/_actions/...`.
pub(crate) fn actions_routes(
    st: &St,
    m: &Method,
    h: &HeaderMap,
    q: &[(String, String)],
    rest: &[&str],
) -> Response {
    let base = base_url(st, h);
    if *m != Method::GET && *m != Method::HEAD {
        return error(StatusCode::METHOD_NOT_ALLOWED, None, "use GET");
    }
    match rest {
        ["id-token"] => {
            let mut s = st.oauth();
            s.counters.id_token_requests += 1;
            let expected = s.settings.request_token.clone();
            let got = bearer(h);
            if expected.is_none() || got.is_none() || got.as_deref() != expected.as_deref() {
                return error(
                    StatusCode::UNAUTHORIZED,
                    None,
                    "Bad credentials: the request token does not match ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                );
            }
            let owner = s
                .settings
                .claims
                .as_ref()
                .and_then(|c| c.get("repository_owner"))
                .and_then(Value::as_str)
                .unwrap_or("acme")
                .to_string();
            let audience = q
                .iter()
                .find(|(k, _)| k == "audience")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| format!("https://github.com/{owner}"));
            let req = IdTokenRequest {
                audience: Some(audience),
                ..Default::default()
            };
            match s.mint(&base, &req) {
                Ok(jwt) => json(StatusCode::OK, &json!({"count": 1, "value": jwt})),
                Err(e) => internal(e),
            }
        }
        [".well-known", "jwks"] => json(StatusCode::OK, &st.oauth().keys.jwks),
        [".well-known", "openid-configuration"] => {
            let issuer = st.oauth().effective_issuer(&base);
            json(
                StatusCode::OK,
                &json!({
                    "issuer": issuer,
                    "jwks_uri": format!("{base}{ISSUER_PATH}/.well-known/jwks"),
                    "response_types_supported": ["id_token"],
                    "subject_types_supported": ["public", "pairwise"],
                    "id_token_signing_alg_values_supported": ["ES256"],
                    "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf",
                        "repository", "repository_owner", "ref", "workflow", "job_workflow_ref",
                        "actor", "event_name"],
                }),
            )
        }
        _ => crate::routes::not_found(),
    }
}

/// Admin routes below `/_emulator/oauth`, `/_emulator/trusted-publishers`, `/_emulator/oidc`.
pub(crate) async fn admin(st: &St, m: &Method, path: &str, h: &HeaderMap, body: Body) -> Reply {
    Ok(match (m.clone(), path) {
        (Method::POST, "/_emulator/oauth/logins") => {
            let l: OAuthLogin = read_json(body).await?;
            let user = l.user.clone();
            match st.oauth().add_login(l) {
                Ok(()) => json(StatusCode::CREATED, &json!({"user": user})),
                Err(e) => bad_request(&e),
            }
        }
        (Method::POST, "/_emulator/oauth/revoke") => {
            #[derive(Deserialize)]
            struct Revoke {
                #[serde(default)]
                refresh_token: Option<String>,
                #[serde(default)]
                access_token: Option<String>,
            }
            let r: Revoke = read_json(body).await?;
            let mut s = st.oauth();
            if let Some(g) = r.refresh_token.and_then(|t| s.refresh.get_mut(&t)) {
                g.revoked = true;
            }
            if let Some(i) = r.access_token.and_then(|t| s.issued.get_mut(&t)) {
                i.spec.revoked = true;
            }
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::GET, "/_emulator/oauth") => json(StatusCode::OK, &st.oauth().counters()),
        (Method::DELETE, "/_emulator/oauth") => {
            st.oauth().counters = OAuthCounters::default();
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::POST, "/_emulator/trusted-publishers") => {
            let p: TrustedPublisher = read_json(body).await?;
            match st.oauth().add_publisher(p.clone()) {
                Ok(()) => json(StatusCode::CREATED, &p),
                Err(e) => bad_request(&e),
            }
        }
        (Method::GET, "/_emulator/trusted-publishers") => {
            json(StatusCode::OK, &st.oauth().publishers)
        }
        (Method::DELETE, "/_emulator/trusted-publishers") => {
            st.oauth().publishers.clear();
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::POST, "/_emulator/oidc") => {
            let o: OidcSettings = read_json(body).await?;
            let mut s = st.oauth();
            s.set_settings(o);
            json(StatusCode::OK, &s.settings.public_json())
        }
        (Method::GET, "/_emulator/oidc") => {
            json(StatusCode::OK, &st.oauth().settings.public_json())
        }
        (Method::POST, "/_emulator/oidc/id-token") => {
            let req: IdTokenRequest = read_json(body).await?;
            match mint_id_token(st, &base_url(st, h), &req) {
                Ok(jwt) => json(StatusCode::OK, &json!({"value": jwt})),
                Err(e) => bad_request(&e),
            }
        }
        (Method::POST, "/_emulator/oidc/issuers") => {
            #[derive(Deserialize)]
            struct Issuer {
                issuer: String,
                jwks: JwkSet,
            }
            let i: Issuer = read_json(body).await?;
            st.oauth().other_issuers.insert(i.issuer, i.jwks);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => return Err(unknown_admin_route()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_specs() {
        let l = OAuthLogin::parse_cli("hf_a=alice+acme:read refresh=r1 expires_in=-5 lifetime=9")
            .unwrap();
        assert_eq!(l.user, "alice");
        assert_eq!(l.orgs, vec!["acme"]);
        assert_eq!(l.role, TokenRole::Read);
        assert_eq!(l.refresh_token, "r1");
        assert_eq!(l.expires_in, Some(-5));
        assert_eq!(l.access_token_lifetime_secs, Some(9));
        assert!(!format!("{l:?}").contains("r1"));
        assert!(
            OAuthLogin::parse_cli("hf_a=alice").is_err(),
            "needs refresh"
        );
        assert!(OAuthLogin::parse_cli("hf_a=alice refresh=r bogus=1").is_err());

        let p = TrustedPublisher::parse_cli(
            "datasets/acme/d iss=https://gitlab.example sub=project_path:acme/x:ref_type:branch:ref:main repository=acme/x read-only",
        )
        .unwrap();
        assert_eq!(p.issuer.as_deref(), Some("https://gitlab.example"));
        assert_eq!(
            p.subject.as_deref(),
            Some("project_path:acme/x:ref_type:branch:ref:main")
        );
        assert_eq!(
            p.claims.get("repository").map(String::as_str),
            Some("acme/x")
        );
        assert!(p.read_only);
        assert!(TrustedPublisher::parse_cli("a/b/c/d sub=x").is_err());
        assert!(TrustedPublisher::parse_cli("alice").is_ok());
    }

    #[test]
    fn resources_parse_like_the_hub() {
        assert_eq!(
            parse_resource("acme/m"),
            Ok(Resource::Repo("model", "acme/m".into()))
        );
        assert_eq!(
            parse_resource("spaces/acme/s"),
            Ok(Resource::Repo("space", "acme/s".into()))
        );
        assert_eq!(parse_resource("alice"), Ok(Resource::User("alice".into())));
        assert!(parse_resource("models/acme/m").is_err());
        assert!(parse_resource("").is_err());
    }
}
