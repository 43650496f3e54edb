//! Tokens known to the emulator, their CLI syntax, and the permission rules.

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// One access token the emulator accepts.
///
/// `Debug` never prints the token value.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenSpec {
    /// The secret value sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// The user name (the user's namespace).
    pub user: String,
    /// Organisations the user belongs to (write tokens may write there).
    #[serde(default)]
    pub orgs: Vec<String>,
    /// Classic read/write or fine-grained.
    #[serde(default = "default_role")]
    pub role: TokenRole,
    /// Token name shown in whoami (`auth.accessToken.displayName`).
    #[serde(default)]
    pub display_name: Option<String>,
    /// A revoked token is answered like an unknown one (401).
    #[serde(default)]
    pub revoked: bool,
}

/// The role of a token or login that names none.
pub(crate) fn default_role() -> TokenRole {
    TokenRole::Write
}

impl std::fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSpec")
            .field("token", &"<redacted>")
            .field("user", &self.user)
            .field("orgs", &self.orgs)
            .field("role", &self.role)
            .field("display_name", &self.display_name)
            .field("revoked", &self.revoked)
            .finish()
    }
}

/// The token's role, as reported by whoami-v2 `auth.accessToken.role`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenRole {
    /// `"read"`: read everything the user can see, write nothing.
    Read,
    /// `"write"`: read, and write/create in the user's and their orgs' namespaces.
    Write,
    /// `"fineGrained"`: only what `scoped` grants.
    FineGrained {
        /// Per-entity permissions.
        #[serde(default)]
        scoped: Vec<ScopedPermission>,
        /// Global permissions (reported, not enforced).
        #[serde(default)]
        global: Vec<String>,
    },
}

/// One `fineGrained.scoped[]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScopedPermission {
    /// `user`, `org`, `model`, `dataset` or `space`.
    pub entity_type: String,
    /// `alice`, `acme`, or `alice/m1` for repo entities.
    pub entity_name: String,
    /// e.g. `repo.content.read`, `repo.write`.
    pub permissions: Vec<String>,
}

impl TokenSpec {
    /// A classic token.
    pub fn new(token: impl Into<String>, user: impl Into<String>, role: TokenRole) -> TokenSpec {
        TokenSpec {
            token: token.into(),
            user: user.into(),
            orgs: Vec::new(),
            role,
            display_name: None,
            revoked: false,
        }
    }

    /// The same token, for a member of `orgs`.
    pub(crate) fn with_orgs(mut self, orgs: Vec<String>) -> TokenSpec {
        self.orgs = orgs;
        self
    }

    /// Parse the CLI syntax:
    ///
    /// ```text
    /// TOKEN=USER[+ORG...][:ROLE]
    /// ROLE := read | write | fine:ITEM[,ITEM...]
    /// ITEM := PERM@TYPE/NAME      scoped permission (TYPE: user|org|model|dataset|space;
    ///                             NAME is `ns` for user/org and `ns/name` for repos)
    ///       | PERM                global permission (e.g. discussion.write)
    /// ```
    ///
    /// The role defaults to `write`. Examples: `hf_r=alice:read`,
    /// `hf_w=alice+acme:write`,
    /// `hf_f=alice+acme:fine:repo.write@org/acme,repo.content.read@model/alice/m1`.
    /// Several items naming the same entity are merged into one scoped entry.
    pub fn parse_cli(s: &str) -> Result<TokenSpec, String> {
        let (token, rest) = s
            .split_once('=')
            .ok_or_else(|| "token spec must look like TOKEN=USER[:ROLE]".to_string())?;
        let token = token.trim();
        if token.is_empty() || token.chars().any(char::is_whitespace) {
            return Err("token value must be non-empty and contain no whitespace".into());
        }
        let (who, role) = match rest.split_once(':') {
            Some((w, r)) => (w, Some(r)),
            None => (rest, None),
        };
        let mut parts = who.split('+');
        let user = parts.next().unwrap_or("").trim().to_string();
        if !valid_name(&user) {
            return Err(format!("invalid user name {user:?} in token spec"));
        }
        let orgs: Vec<String> = parts.map(|o| o.trim().to_string()).collect();
        if let Some(bad) = orgs.iter().find(|o| !valid_name(o)) {
            return Err(format!("invalid org name {bad:?} in token spec"));
        }
        let role = match role.map(str::trim) {
            None | Some("write") => TokenRole::Write,
            Some("read") => TokenRole::Read,
            Some(r) if r == "fine" || r.starts_with("fine:") => {
                let items = r.strip_prefix("fine").unwrap_or("").trim_start_matches(':');
                parse_fine(items)?
            }
            Some(other) => {
                return Err(format!(
                    "unknown role {other:?}; expected read, write or fine:PERM@TYPE/NAME,..."
                ));
            }
        };
        Ok(TokenSpec::new(token, user, role).with_orgs(orgs))
    }

    /// The `role` string whoami reports.
    pub fn role_name(&self) -> &'static str {
        match self.role {
            TokenRole::Read => "read",
            TokenRole::Write => "write",
            TokenRole::FineGrained { .. } => "fineGrained",
        }
    }

    fn in_namespace(&self, ns: &str) -> bool {
        self.user == ns || self.orgs.iter().any(|o| o == ns)
    }

    fn scoped_allows(&self, ns: &str, repo_type: &str, repo_id: &str, perms: &[&str]) -> bool {
        let TokenRole::FineGrained { scoped, .. } = &self.role else {
            return false;
        };
        scoped.iter().any(|s| {
            let entity_ok = match s.entity_type.as_str() {
                "user" | "org" => s.entity_name == ns,
                t => t == repo_type && s.entity_name == repo_id,
            };
            entity_ok && s.permissions.iter().any(|p| perms.contains(&p.as_str()))
        })
    }

    /// May this token read a private repo `repo_id` (`ns/name`) of `repo_type` (`model`...)?
    pub fn can_read_private(&self, repo_type: &str, repo_id: &str) -> bool {
        let ns = repo_id.split('/').next().unwrap_or("");
        match self.role {
            TokenRole::Read | TokenRole::Write => self.in_namespace(ns),
            TokenRole::FineGrained { .. } => {
                self.scoped_allows(ns, repo_type, repo_id, &["repo.content.read", "repo.write"])
            }
        }
    }

    /// May this token write to the repo?
    pub fn can_write(&self, repo_type: &str, repo_id: &str) -> bool {
        let ns = repo_id.split('/').next().unwrap_or("");
        match self.role {
            TokenRole::Read => false,
            TokenRole::Write => self.in_namespace(ns),
            TokenRole::FineGrained { .. } => {
                self.scoped_allows(ns, repo_type, repo_id, &["repo.write"])
            }
        }
    }

    /// May this token create a repo in `ns`? Fine-grained tokens need `repo.write`
    /// on the namespace (user/org) entity; a repo-scoped grant is not enough.
    pub fn can_create_in(&self, ns: &str) -> bool {
        match &self.role {
            TokenRole::Read => false,
            TokenRole::Write => self.in_namespace(ns),
            TokenRole::FineGrained { scoped, .. } => scoped.iter().any(|s| {
                matches!(s.entity_type.as_str(), "user" | "org")
                    && s.entity_name == ns
                    && s.permissions.iter().any(|p| p == "repo.write")
            }),
        }
    }

    /// The whoami-v2 JSON body (`docs/protocol/hf-hub.md#whoami-v2`).
    pub fn whoami_json(&self) -> serde_json::Value {
        let orgs: Vec<serde_json::Value> = self
            .orgs
            .iter()
            .map(|o| {
                serde_json::json!({
                    "type": "org", "id": fake_id(&format!("org:{o}")), "name": o,
                    "fullname": o, "email": null, "canPay": false,
                    "avatarUrl": format!("/avatars/{o}.svg"), "periodEnd": null,
                    "roleInOrg": match self.role { TokenRole::Read => "read", _ => "write" },
                })
            })
            .collect();
        let mut access = serde_json::json!({
            "displayName": self.display_name.clone().unwrap_or_else(|| "hub-emulator".into()),
            "role": self.role_name(),
            "createdAt": "2026-01-01T00:00:00.000Z",
        });
        if let TokenRole::FineGrained { scoped, global } = &self.role {
            let scoped: Vec<serde_json::Value> = scoped
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "entity": {
                            "_id": fake_id(&format!("{}:{}", s.entity_type, s.entity_name)),
                            "type": s.entity_type,
                            "name": s.entity_name,
                        },
                        "permissions": s.permissions,
                    })
                })
                .collect();
            access["fineGrained"] = serde_json::json!({
                "canReadGatedRepos": true,
                "global": global,
                "scoped": scoped,
            });
        }
        serde_json::json!({
            "type": "user",
            "id": fake_id(&format!("user:{}", self.user)),
            "name": self.user,
            "fullname": self.user,
            "email": format!("{}@users.hub-emulator.invalid", self.user),
            "emailVerified": true,
            "canPay": false,
            "isPro": false,
            "periodEnd": null,
            "billingMode": "postpaid",
            "avatarUrl": format!("/avatars/{}.svg", self.user),
            "orgs": orgs,
            "auth": { "type": "access_token", "accessToken": access },
        })
    }
}

/// A 24-hex id (like a Mongo ObjectId), deterministic from `seed`.
pub(crate) fn fake_id(seed: &str) -> String {
    hex::encode(Sha1::digest(seed.as_bytes()))[..24].to_string()
}

pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 96
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !s.starts_with('.')
        && !s.contains("..")
}

fn parse_fine(items: &str) -> Result<TokenRole, String> {
    let mut scoped: Vec<ScopedPermission> = Vec::new();
    let mut global = Vec::new();
    for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match item.split_once('@') {
            None => global.push(item.to_string()),
            Some((perm, entity)) => {
                let (etype, ename) = entity
                    .split_once('/')
                    .ok_or_else(|| format!("scoped item {item:?} must be PERM@TYPE/NAME"))?;
                if !matches!(etype, "user" | "org" | "model" | "dataset" | "space") {
                    return Err(format!(
                        "entity type {etype:?} must be user, org, model, dataset or space"
                    ));
                }
                let repo_like = matches!(etype, "model" | "dataset" | "space");
                let parts: Vec<&str> = ename.split('/').collect();
                let ok = if repo_like {
                    parts.len() == 2 && parts.iter().all(|p| valid_name(p))
                } else {
                    parts.len() == 1 && valid_name(parts[0])
                };
                if !ok || perm.is_empty() {
                    return Err(format!("invalid scoped item {item:?}"));
                }
                match scoped
                    .iter_mut()
                    .find(|s| s.entity_type == etype && s.entity_name == ename)
                {
                    Some(s) => s.permissions.push(perm.to_string()),
                    None => scoped.push(ScopedPermission {
                        entity_type: etype.to_string(),
                        entity_name: ename.to_string(),
                        permissions: vec![perm.to_string()],
                    }),
                }
            }
        }
    }
    Ok(TokenRole::FineGrained { scoped, global })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_classic_and_fine() {
        let t = TokenSpec::parse_cli("hf_a=alice:read").unwrap();
        assert_eq!(t.role, TokenRole::Read);
        let t = TokenSpec::parse_cli("hf_a=alice+acme+x").unwrap();
        assert_eq!(t.role, TokenRole::Write);
        assert_eq!(t.orgs, vec!["acme", "x"]);
        let t = TokenSpec::parse_cli(
            "hf_f=alice:fine:repo.write@org/acme,repo.content.read@org/acme,repo.write@model/alice/m1,discussion.write",
        )
        .unwrap();
        let TokenRole::FineGrained { scoped, global } = &t.role else {
            panic!()
        };
        assert_eq!(scoped.len(), 2);
        assert_eq!(
            scoped[0].permissions,
            vec!["repo.write", "repo.content.read"]
        );
        assert_eq!(global, &vec!["discussion.write".to_string()]);
        assert!(t.can_write("model", "alice/m1"));
        assert!(!t.can_write("model", "alice/m2"));
        assert!(t.can_create_in("acme"));
        assert!(!t.can_create_in("alice"));
        for bad in [
            "nouser",
            "=alice",
            "t=",
            "t=alice:admin",
            "t=alice:fine:x@repo/a",
            "a b=c",
        ] {
            assert!(TokenSpec::parse_cli(bad).is_err(), "{bad}");
        }
        assert!(!format!("{t:?}").contains("hf_f"));
    }
}
