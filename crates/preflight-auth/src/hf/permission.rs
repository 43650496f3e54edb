//! "May this token do X to this repo?", decided from the whoami answer alone.
//!
//! The Hub enforces permissions server-side; the official client does not pre-check them
//! (`docs/protocol/hf-hub.md#the-write-permission-rule`). This is Preflight's heuristic, and
//! a server 403 stays authoritative. Names are compared case-insensitively, as the Hub resolves
//! repo ids.
//!
//! | role | need `write` | need `read` |
//! |---|---|---|
//! | `write` | allowed when the namespace is the user or one of its orgs (forbidden when the Hub reports the `read` role in that org) | allowed |
//! | `read` | forbidden | allowed |
//! | `fineGrained` | allowed when a `scoped[]` entry has `repo.write` on the namespace (`user`/`org` entity) or on the repo itself (entity type = repo type, name = repo id) | allowed; the reason says whether a scope covers the repo or only public repos can be read |
//! | none reported (OAuth/app) | allowed, with a reason saying it could not be checked | allowed |
//!
//! Creating a repo needs `repo.write` on the *namespace*: a repo-scoped token is allowed for an
//! existing repo, and its reason says creation would need namespace scope.

use crate::hf::repo::{Need, RepoTarget};
use crate::hf::whoami::{ScopedEntry, WhoAmI};
use crate::result::{PermissionCheck, PermissionVerdict};

const REPO_WRITE: &str = "repo.write";
const REPO_READ: &str = "repo.content.read";

/// Judges `target` against the whoami answer. See the [module docs](self).
pub fn check_permission(whoami: &WhoAmI, target: &RepoTarget) -> PermissionCheck {
    let (verdict, reason) = match target.need {
        Need::Write => write_verdict(whoami, target),
        Need::Read => read_verdict(whoami, target),
    };
    PermissionCheck {
        repo: target.repo_id.to_string(),
        repo_type: target.repo_type.as_str().to_owned(),
        need: target.need.as_str().to_owned(),
        verdict,
        reason,
    }
}

/// A check that could not be made because the token itself was not validated.
pub(crate) fn undetermined(target: &RepoTarget, why: &str) -> PermissionCheck {
    PermissionCheck {
        repo: target.repo_id.to_string(),
        repo_type: target.repo_type.as_str().to_owned(),
        need: target.need.as_str().to_owned(),
        verdict: PermissionVerdict::Undetermined,
        reason: why.to_owned(),
    }
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `namespace scope` entries: `user`/`org` entities named like the namespace.
fn on_namespace<'a>(
    whoami: &'a WhoAmI,
    namespace: &'a str,
) -> impl Iterator<Item = &'a ScopedEntry> {
    whoami.scoped().iter().filter(move |entry| {
        matches!(entry.entity.kind.as_str(), "user" | "org") && same(&entry.entity.name, namespace)
    })
}

/// `repo scope` entries: the repo itself.
fn on_repo<'a>(
    whoami: &'a WhoAmI,
    target: &'a RepoTarget,
) -> impl Iterator<Item = &'a ScopedEntry> {
    whoami.scoped().iter().filter(move |entry| {
        entry.entity.kind == target.repo_type.as_str() && same(&entry.entity.name, &target.repo_id)
    })
}

fn grants(entry: &ScopedEntry, permission: &str) -> bool {
    entry.permissions.iter().any(|p| p == permission)
}

fn user_label(whoami: &WhoAmI) -> String {
    match (&whoami.kind, &whoami.name) {
        (Some(kind), Some(name)) => format!("{kind} {name}"),
        (None, Some(name)) => format!("user {name}"),
        _ => "the token's owner".to_owned(),
    }
}

fn write_verdict(whoami: &WhoAmI, target: &RepoTarget) -> (PermissionVerdict, String) {
    let namespace = target.namespace();
    let repo = &target.repo_id;
    match whoami.role() {
        Some("write") => {
            if whoami
                .name
                .as_deref()
                .is_some_and(|name| same(name, namespace))
            {
                return (
                    PermissionVerdict::Allowed,
                    format!(
                        "write token of {}: {namespace} is its own namespace",
                        user_label(whoami)
                    ),
                );
            }
            if let Some(org) = whoami.orgs.iter().find(|org| same(&org.name, namespace)) {
                if org.role_in_org.as_deref() == Some("read") {
                    return (
                        PermissionVerdict::Forbidden,
                        format!(
                            "write token of {}, but its role in org {namespace} is read, so it cannot write to {repo}",
                            user_label(whoami)
                        ),
                    );
                }
                return (
                    PermissionVerdict::Allowed,
                    format!(
                        "write token of {}, a member of org {namespace} (the Hub still enforces the member's role in the org)",
                        user_label(whoami)
                    ),
                );
            }
            let orgs: Vec<&str> = whoami.orgs.iter().map(|org| org.name.as_str()).collect();
            let orgs = if orgs.is_empty() {
                "it belongs to no org".to_owned()
            } else {
                format!("its orgs are {}", orgs.join(", "))
            };
            (
                PermissionVerdict::Forbidden,
                format!(
                    "write token of {} cannot write to {repo}: {namespace} is neither the user nor one of its orgs ({orgs})",
                    user_label(whoami)
                ),
            )
        }
        Some("read") => (
            PermissionVerdict::Forbidden,
            format!(
                "read token cannot write: the token of {} has the read role, so it cannot write to {repo}",
                user_label(whoami)
            ),
        ),
        Some("fineGrained") => {
            if on_namespace(whoami, namespace).any(|entry| grants(entry, REPO_WRITE)) {
                return (
                    PermissionVerdict::Allowed,
                    format!(
                        "fine-grained token has repo.write on namespace {namespace} (enough to create {repo} too)"
                    ),
                );
            }
            if on_repo(whoami, target).any(|entry| grants(entry, REPO_WRITE)) {
                return (
                    PermissionVerdict::Allowed,
                    format!(
                        "fine-grained token has repo.write on {} {repo}; if the repo does not exist yet, creating it needs repo.write on namespace {namespace}",
                        target.repo_type
                    ),
                );
            }
            let scopes: Vec<String> = whoami
                .scoped()
                .iter()
                .map(|entry| format!("{} {}", entry.entity.kind, entry.entity.name))
                .collect();
            let scoped_to = if scopes.is_empty() {
                "fine-grained token has no scoped permissions, so it".to_owned()
            } else {
                format!("fine-grained token scoped to {}", scopes.join(", "))
            };
            (
                PermissionVerdict::Forbidden,
                format!(
                    "{scoped_to} has no repo.write on {namespace} or on {} {repo}; creating the repo would need repo.write on namespace {namespace}",
                    target.repo_type
                ),
            )
        }
        Some(other) => (
            PermissionVerdict::Allowed,
            format!(
                "the Hub reported an unknown token role `{other}`; write access to {repo} cannot be checked ahead, the Hub decides at upload time"
            ),
        ),
        None => (
            PermissionVerdict::Allowed,
            format!(
                "the Hub reported no token role (an OAuth or app token); write access to {repo} cannot be checked ahead, the Hub decides at upload time"
            ),
        ),
    }
}

fn read_verdict(whoami: &WhoAmI, target: &RepoTarget) -> (PermissionVerdict, String) {
    let namespace = target.namespace();
    let repo = &target.repo_id;
    if whoami.role() == Some("fineGrained") {
        let covers = |entry: &ScopedEntry| grants(entry, REPO_READ) || grants(entry, REPO_WRITE);
        let reason = if on_repo(whoami, target).any(covers)
            || on_namespace(whoami, namespace).any(covers)
        {
            format!("fine-grained token has read access to {repo}")
        } else {
            format!(
                "fine-grained token has no read scope on {repo} or {namespace}: it can read the repo only if it is public"
            )
        };
        return (PermissionVerdict::Allowed, reason);
    }
    let owns = whoami
        .name
        .as_deref()
        .is_some_and(|name| same(name, namespace))
        || whoami.orgs.iter().any(|org| same(&org.name, namespace));
    let reason = if owns {
        format!("{namespace} is the token owner's namespace")
    } else {
        format!(
            "any valid token can read public repos; if {repo} is private or gated the Hub decides"
        )
    };
    (PermissionVerdict::Allowed, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hf::repo::RepoTarget;

    fn whoami(json: &str) -> WhoAmI {
        serde_json::from_str(json).expect("whoami json")
    }

    fn target(repo: &str, repo_type: &str, need: &str) -> RepoTarget {
        RepoTarget::parse(repo, repo_type, need).expect("target")
    }

    fn fine(scoped: &str) -> WhoAmI {
        whoami(&format!(
            r#"{{"type":"user","name":"alice","orgs":[{{"name":"acme"}}],"auth":{{"accessToken":{{"role":"fineGrained","fineGrained":{{"scoped":[{scoped}]}}}}}}}}"#
        ))
    }

    #[test]
    fn write_role_follows_namespaces() {
        let who = whoami(
            r#"{"name":"alice","orgs":[{"name":"acme"},{"name":"ro","roleInOrg":"read"}],"auth":{"accessToken":{"role":"write"}}}"#,
        );
        let own = check_permission(&who, &target("Alice/m", "model", "write"));
        assert_eq!(own.verdict, PermissionVerdict::Allowed);
        assert!(own.reason.contains("own namespace"));
        let org = check_permission(&who, &target("acme/m", "dataset", "write"));
        assert_eq!(org.verdict, PermissionVerdict::Allowed);
        assert_eq!(org.repo_type, "dataset");
        let read_org = check_permission(&who, &target("ro/m", "model", "write"));
        assert_eq!(read_org.verdict, PermissionVerdict::Forbidden);
        let other = check_permission(&who, &target("bob/m", "model", "write"));
        assert_eq!(other.verdict, PermissionVerdict::Forbidden);
        assert!(other.reason.contains("acme, ro"), "{}", other.reason);
        let lonely = whoami(r#"{"name":"alice","auth":{"accessToken":{"role":"write"}}}"#);
        assert!(
            check_permission(&lonely, &target("bob/m", "model", "write"))
                .reason
                .contains("no org")
        );
    }

    #[test]
    fn read_role_cannot_write_but_reads() {
        let who = whoami(r#"{"name":"alice","auth":{"accessToken":{"role":"read"}}}"#);
        let write = check_permission(&who, &target("alice/m", "model", "write"));
        assert_eq!(write.verdict, PermissionVerdict::Forbidden);
        assert!(write.reason.contains("read token cannot write"));
        let read = check_permission(&who, &target("alice/m", "model", "read"));
        assert_eq!(read.verdict, PermissionVerdict::Allowed);
        assert!(read.reason.contains("owner's namespace"));
        let public = check_permission(&who, &target("bob/m", "model", "read"));
        assert!(public.reason.contains("public"));
    }

    #[test]
    fn fine_grained_scopes() {
        let other_org =
            fine(r#"{"entity":{"type":"org","name":"other-org"},"permissions":["repo.write"]}"#);
        let denied = check_permission(&other_org, &target("acme/m", "model", "write"));
        assert_eq!(denied.verdict, PermissionVerdict::Forbidden);
        assert!(
            denied
                .reason
                .contains("fine-grained token scoped to org other-org has no repo.write on acme"),
            "{}",
            denied.reason
        );
        assert!(
            denied
                .reason
                .contains("creating the repo would need repo.write on namespace acme")
        );

        let namespace =
            fine(r#"{"entity":{"type":"org","name":"acme"},"permissions":["repo.write"]}"#);
        assert_eq!(
            check_permission(&namespace, &target("acme/m", "model", "write")).verdict,
            PermissionVerdict::Allowed
        );

        let repo = fine(
            r#"{"entity":{"type":"model","name":"acme/m"},"permissions":["repo.content.read","repo.write"]}"#,
        );
        let allowed = check_permission(&repo, &target("acme/m", "model", "write"));
        assert_eq!(allowed.verdict, PermissionVerdict::Allowed);
        assert!(
            allowed
                .reason
                .contains("creating it needs repo.write on namespace acme")
        );
        assert_eq!(
            check_permission(&repo, &target("acme/m", "dataset", "write")).verdict,
            PermissionVerdict::Forbidden
        );
        assert_eq!(
            check_permission(&repo, &target("acme/other", "model", "write")).verdict,
            PermissionVerdict::Forbidden
        );
        assert!(
            check_permission(&repo, &target("acme/m", "model", "read"))
                .reason
                .contains("has read access")
        );
        assert!(
            check_permission(&repo, &target("acme/x", "model", "read"))
                .reason
                .contains("only if it is public")
        );

        let empty = fine("");
        assert!(
            check_permission(&empty, &target("acme/m", "model", "write"))
                .reason
                .contains("no scoped permissions")
        );
    }

    #[test]
    fn unknown_roles_do_not_block() {
        let oauth = whoami(r#"{"name":"alice","auth":{}}"#);
        let check = check_permission(&oauth, &target("acme/m", "model", "write"));
        assert_eq!(check.verdict, PermissionVerdict::Allowed);
        assert!(check.reason.contains("no token role"));
        let odd = whoami(r#"{"auth":{"accessToken":{"role":"admin"}}}"#);
        assert!(
            check_permission(&odd, &target("acme/m", "model", "write"))
                .reason
                .contains("unknown token role")
        );
        let no_name = whoami(r#"{"auth":{"accessToken":{"role":"read"}}}"#);
        assert!(
            check_permission(&no_name, &target("acme/m", "model", "write"))
                .reason
                .contains("the token's owner")
        );
        let undetermined = undetermined(&target("acme/m", "model", "write"), "not validated");
        assert_eq!(undetermined.verdict, PermissionVerdict::Undetermined);
    }
}
