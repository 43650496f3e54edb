//! `/oauth/token` (refresh and RFC 8693 token exchange), expiring OAuth and exchanged tokens,
//! trusted publishers, the fake GitHub Actions id-token endpoint, and their admin API.

use std::time::Duration;

use base64::Engine;
use hub_emulator::*;
use serde_json::{Value, json};

const INVALID: &str = "Invalid credentials in Authorization header";
const W: &str = "hf_classic_write";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const SUB: &str = "repo:acme/train:ref:refs/heads/main";
const REQUEST_TOKEN: &str = "gh-request-token-1";

fn c() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// An `application/x-www-form-urlencoded` body, as httpx sends `data=`.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn start(extra: impl FnOnce(&mut EmulatorConfig)) -> RunningEmulator {
    let mut config = EmulatorConfig {
        tokens: vec![TokenSpec::parse_cli(&format!("{W}=alice+acme:write")).unwrap()],
        ..Default::default()
    };
    extra(&mut config);
    let emu = Emulator::start(config).await.unwrap();
    for (repo, private) in [
        ("alice/m1", false),
        ("alice/other", false),
        ("alice/secret", true),
    ] {
        let (ns, name) = repo.split_once('/').unwrap();
        let r = c()
            .post(format!("{}/api/repos/create", emu.url()))
            .bearer_auth(W)
            .json(&json!({"name": name, "organization": ns, "private": private}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "create {repo}");
    }
    emu
}

async fn whoami(emu: &RunningEmulator, token: &str) -> (u16, Value) {
    let r = c()
        .get(format!("{}/api/whoami-v2", emu.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn commit(emu: &RunningEmulator, token: &str, repo: &str) -> u16 {
    let lines = [
        json!({"key": "header", "value": {"summary": "up", "description": ""}}),
        json!({"key": "file", "value": {"path": "a.txt", "encoding": "base64",
            "content": base64::engine::general_purpose::STANDARD.encode(b"hello")}}),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    c().post(format!("{}/api/models/{repo}/commit/main", emu.url()))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The refresh grant exactly as `huggingface_hub.utils._oauth_device.refresh_access_token` sends it.
async fn refresh(emu: &RunningEmulator, refresh_token: &str, client_id: &str) -> (u16, Value) {
    let r = c()
        .post(format!("{}/oauth/token", emu.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ]))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The exchange exactly as `huggingface_hub._oidc.exchange_oidc_token` sends it (JSON).
async fn exchange(emu: &RunningEmulator, id_token: &str, resource: &str) -> (u16, Value) {
    let r = c()
        .post(format!("{}/oauth/token", emu.url()))
        .json(&json!({
            "grant_type": EXCHANGE,
            "subject_token_type": ID_TOKEN,
            "subject_token": id_token,
            "resource": resource,
        }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn login(access: &str, refresh: &str, expires_in: i64) -> OAuthLogin {
    OAuthLogin {
        user: "alice".into(),
        orgs: vec!["acme".into()],
        role: TokenRole::Write,
        access_token: Some(access.into()),
        refresh_token: refresh.into(),
        expires_at: None,
        expires_in: Some(expires_in),
        access_token_lifetime_secs: None,
    }
}

fn mint(emu: &RunningEmulator, claims: Value) -> String {
    let claims = claims.as_object().cloned().unwrap_or_default();
    emu.mint_id_token(&IdTokenRequest {
        claims: claims.into_iter().collect(),
        ..Default::default()
    })
    .unwrap()
}

async fn counters(emu: &RunningEmulator) -> Value {
    c().get(format!("{}/_emulator/oauth", emu.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_rotates_and_each_refresh_token_works_once() {
    let emu = start(|c| c.oauth_logins = vec![login("oauth_old_access", "rt-1", -5)]).await;
    // The expired access token is refused like a revoked one.
    let (s, v) = whoami(&emu, "oauth_old_access").await;
    assert_eq!((s, v["error"].as_str()), (401, Some(INVALID)));

    let (s, v) = refresh(&emu, "rt-1", OFFICIAL_CLIENT_ID).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], DEFAULT_OAUTH_ACCESS_LIFETIME_SECS);
    let access = v["access_token"].as_str().unwrap().to_string();
    let rotated = v["refresh_token"].as_str().unwrap().to_string();
    assert!(access.starts_with("hf_oauth_"), "{access}");
    assert_ne!(rotated, "rt-1");

    let (s, who) = whoami(&emu, &access).await;
    assert_eq!(s, 200);
    assert_eq!(who["name"], "alice");
    assert_eq!(who["auth"]["type"], "oauth");
    assert!(who["auth"]["expiresAt"].is_string());
    assert_eq!(who["auth"]["accessToken"]["role"], "write");
    assert!(who["auth"]["accessToken"].get("displayName").is_none());
    assert_eq!(commit(&emu, &access, "alice/m1").await, 200);

    // Reuse of the consumed refresh token: invalid_grant; the rotated one works once.
    let (s, v) = refresh(&emu, "rt-1", OFFICIAL_CLIENT_ID).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    assert!(v["error_description"].is_string());
    let (s, _) = refresh(&emu, &rotated, OFFICIAL_CLIENT_ID).await;
    assert_eq!(s, 200);
    let (s, v) = refresh(&emu, &rotated, OFFICIAL_CLIENT_ID).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));

    let n = emu.oauth_counters();
    assert_eq!((n.refresh_requests, n.refreshes_granted), (4, 2));
    assert_eq!(
        n.last_refusal.as_deref(),
        Some("refresh: refresh token already used")
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn refresh_refusals() {
    let emu = start(|c| {
        c.oauth_logins = vec![
            login("oauth_a", "rt-live", 3600),
            login("oauth_b", "rt-revoked", 3600),
        ]
    })
    .await;
    let (s, v) = refresh(&emu, "rt-live", "some-other-client").await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
    let (s, v) = refresh(&emu, "", OFFICIAL_CLIENT_ID).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")));
    let (s, v) = refresh(&emu, "never-issued", OFFICIAL_CLIENT_ID).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));

    let r = c()
        .post(format!("{}/_emulator/oauth/revoke", emu.url()))
        .json(&json!({"refresh_token": "rt-revoked", "access_token": "oauth_b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, v) = refresh(&emu, "rt-revoked", OFFICIAL_CLIENT_ID).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(whoami(&emu, "oauth_b").await.0, 401);
    // The live login was not consumed by the refused attempts.
    assert_eq!(whoami(&emu, "oauth_a").await.0, 200);
    assert_eq!(refresh(&emu, "rt-live", OFFICIAL_CLIENT_ID).await.0, 200);

    let r = c()
        .post(format!("{}/oauth/token", emu.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("grant_type", "password")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "unsupported_grant_type");

    let n = counters(&emu).await;
    assert_eq!(n["refresh_requests"], 5);
    assert_eq!(n["refreshes_granted"], 1);
    let r = c()
        .delete(format!("{}/_emulator/oauth", emu.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(counters(&emu).await["refresh_requests"], 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn logins_via_admin_api_with_short_lifetime() {
    let emu = start(|_| {}).await;
    let r = c()
        .post(format!("{}/_emulator/oauth/logins", emu.url()))
        .json(
            &json!({"user": "alice", "role": "read", "access_token": "oauth_admin",
            "refresh_token": "rt-admin", "expires_at": 1, "access_token_lifetime_secs": 1}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        whoami(&emu, "oauth_admin").await.0,
        401,
        "expires_at in 1970"
    );
    let (s, v) = refresh(&emu, "rt-admin", OFFICIAL_CLIENT_ID).await;
    assert_eq!(s, 200);
    assert_eq!(v["expires_in"], 1);
    let access = v["access_token"].as_str().unwrap().to_string();
    let (s, who) = whoami(&emu, &access).await;
    assert_eq!(
        (s, who["auth"]["accessToken"]["role"].as_str()),
        (200, Some("read"))
    );
    assert_eq!(commit(&emu, &access, "alice/m1").await, 403, "read role");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(whoami(&emu, &access).await.0, 401, "expired after 1 s");

    let r = c()
        .post(format!("{}/_emulator/oauth/logins", emu.url()))
        .json(&json!({"user": "not a name", "refresh_token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn exchange_gives_a_repo_scoped_token_that_expires() {
    let emu = start(|c| {
        c.trusted_publishers = vec![TrustedPublisher::new("alice/m1", SUB)];
        c.oidc.exchanged_token_lifetime_secs = Some(2);
    })
    .await;
    let id = mint(&emu, json!({}));
    let (s, v) = exchange(&emu, &id, "alice/m1").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 2);
    assert_eq!(
        v["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    let token = v["access_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("hf_jwt_"), "{token}");

    let (s, who) = whoami(&emu, &token).await;
    assert_eq!(s, 200);
    let at = &who["auth"]["accessToken"];
    assert_eq!(at["role"], "fineGrained");
    let scoped = at["fineGrained"]["scoped"].as_array().unwrap();
    assert_eq!(scoped.len(), 1);
    assert_eq!(scoped[0]["entity"]["type"], "model");
    assert_eq!(scoped[0]["entity"]["name"], "alice/m1");
    assert_eq!(
        scoped[0]["permissions"],
        json!(["repo.content.read", "repo.write"])
    );

    assert_eq!(commit(&emu, &token, "alice/m1").await, 200);
    assert_eq!(commit(&emu, &token, "alice/other").await, 403);
    let r = c()
        .get(format!("{}/api/models/alice/secret", emu.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "other private repos stay hidden");
    let r = c()
        .post(format!("{}/api/repos/create", emu.url()))
        .bearer_auth(&token)
        .json(&json!({"name": "new", "organization": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (s, v) = whoami(&emu, &token).await;
    assert_eq!((s, v["error"].as_str()), (401, Some(INVALID)));
    assert_eq!(commit(&emu, &token, "alice/m1").await, 401);
    let n = emu.oauth_counters();
    assert_eq!((n.exchange_requests, n.exchanges_granted), (1, 1));
    emu.shutdown().await;
}

#[tokio::test]
async fn exchange_refusals_are_invalid_grant_with_the_reason_recorded() {
    let emu = start(|c| {
        c.trusted_publishers = vec![
            TrustedPublisher::new("alice/m1", SUB),
            TrustedPublisher {
                claims: [("repository".to_string(), "acme/train".to_string())].into(),
                issuer: Some("https://gitlab.example".into()),
                ..TrustedPublisher::new("datasets/alice/d", "project_path:acme/train")
            },
        ];
    })
    .await;
    let url = emu.url();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong subject",
            mint(&emu, json!({"sub": "repo:evil/fork:ref:refs/heads/main"})),
            "claim sub mismatch",
        ),
        (
            "wrong repo (no publisher)",
            mint(&emu, json!({})),
            "no trusted publisher is configured for alice/other",
        ),
        (
            "wrong issuer",
            mint(
                &emu,
                json!({"iss": "https://token.actions.githubusercontent.com"}),
            ),
            "issuer https://token.actions.githubusercontent.com is unknown",
        ),
        (
            "issuer the publisher does not trust",
            mint(&emu, json!({})),
            "issuer mismatch",
        ),
        (
            "bad signature",
            emu.mint_id_token(&IdTokenRequest {
                key: Some("untrusted".into()),
                ..Default::default()
            })
            .unwrap(),
            "signature does not verify",
        ),
        (
            "wrong audience",
            emu.mint_id_token(&IdTokenRequest {
                audience: Some("https://huggingface.co".into()),
                ..Default::default()
            })
            .unwrap(),
            "audience",
        ),
        (
            "expired id token",
            emu.mint_id_token(&IdTokenRequest {
                lifetime_secs: Some(-2),
                ..Default::default()
            })
            .unwrap(),
            "id token expired",
        ),
        ("not a JWT", "not-a-jwt".to_string(), "not a JWT"),
    ];
    for (what, id, reason) in &cases {
        let resource = match *what {
            "wrong repo (no publisher)" => "alice/other",
            "issuer the publisher does not trust" => "datasets/alice/d",
            _ => "alice/m1",
        };
        let (s, v) = exchange(&emu, id, resource).await;
        assert_eq!(s, 400, "{what}: {v}");
        assert_eq!(v["error"], "invalid_grant", "{what}");
        let desc = v["error_description"].as_str().unwrap();
        assert!(
            desc.contains(resource),
            "{what}: names the resource: {desc}"
        );
        let last = emu.oauth_counters().last_refusal.unwrap_or_default();
        assert!(last.contains(reason), "{what}: {last}");
    }

    // Malformed requests are invalid_request.
    let id = mint(&emu, json!({}));
    for body in [
        json!({"grant_type": EXCHANGE, "subject_token_type": ID_TOKEN, "subject_token": id}),
        json!({"grant_type": EXCHANGE, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "subject_token": id, "resource": "alice/m1"}),
        json!({"grant_type": EXCHANGE, "subject_token_type": ID_TOKEN, "subject_token": id,
            "resource": "a/b/c/d"}),
    ] {
        let r = c()
            .post(format!("{url}/oauth/token"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_request", "{body}");
    }
    let n = emu.oauth_counters();
    assert_eq!(n.exchange_requests, cases.len() as u64 + 3);
    assert_eq!(n.exchanges_granted, 0);

    // The same token for the right resource still works, form-encoded too.
    let r = c()
        .post(format!("{url}/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", EXCHANGE),
            ("subject_token_type", ID_TOKEN),
            ("subject_token", &id),
            ("resource", "alice/m1"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn other_issuer_with_registered_jwks_and_exact_claims() {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let emu = start(|_| {}).await;
    // A test CI provider: its own P-256 key, published to the emulator as a JWKS.
    let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let public = kp.public_key().as_ref().to_vec();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "ci-1", "alg": "ES256",
        "x": b64(&public[1..33]), "y": b64(&public[33..])}]});
    let r = c()
        .post(format!("{}/_emulator/oidc/issuers", emu.url()))
        .json(&json!({"issuer": "https://ci.example", "jwks": jwks}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c()
        .post(format!("{}/_emulator/trusted-publishers", emu.url()))
        .json(
            &json!({"resource": "spaces/alice/s", "issuer": "https://ci.example",
            "claims": {"sub": "project:acme/x", "ref": "main"}, "read_only": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let listed: Value = c()
        .get(format!("{}/_emulator/trusted-publishers", emu.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["resource"], "spaces/alice/s");

    let key = jsonwebtoken::EncodingKey::from_ec_der(kp.to_pkcs8v1().unwrap().as_ref());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("ci-1".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |r: &str| {
        jsonwebtoken::encode(
            &header,
            &json!({"iss": "https://ci.example", "aud": emu.url(), "sub": "project:acme/x",
                "ref": r, "iat": now, "exp": now + 60}),
            &key,
        )
        .unwrap()
    };
    // Claims match exactly: `main-backup` is not `main`.
    let (s, _) = exchange(&emu, &sign("main-backup"), "spaces/alice/s").await;
    assert_eq!(s, 400);
    assert!(
        emu.oauth_counters()
            .last_refusal
            .unwrap()
            .contains("claim ref mismatch")
    );
    let (s, v) = exchange(&emu, &sign("main"), "spaces/alice/s").await;
    assert_eq!(s, 200, "{v}");
    let (_, who) = whoami(&emu, v["access_token"].as_str().unwrap()).await;
    let scoped = &who["auth"]["accessToken"]["fineGrained"]["scoped"][0];
    assert_eq!(scoped["entity"]["type"], "space");
    assert_eq!(
        scoped["permissions"],
        json!(["repo.content.read"]),
        "read_only"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn username_resource_gives_a_read_only_token() {
    let emu = start(|c| c.trusted_publishers = vec![TrustedPublisher::new("alice", SUB)]).await;
    let (s, v) = exchange(&emu, &mint(&emu, json!({})), "alice").await;
    assert_eq!(s, 200, "{v}");
    let token = v["access_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("hf_oauth_"), "{token}");
    let (s, who) = whoami(&emu, &token).await;
    assert_eq!(s, 200);
    assert_eq!(who["name"], "alice");
    let at = &who["auth"]["accessToken"];
    assert_eq!(at["role"], "fineGrained");
    assert_eq!(at["fineGrained"]["scoped"], json!([]));
    assert_eq!(at["fineGrained"]["global"], json!(["gated-repos"]));
    assert_eq!(commit(&emu, &token, "alice/m1").await, 403);
    let r = c()
        .get(format!("{}/api/models/alice/secret", emu.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "cannot read private repos");
    let r = c()
        .get(format!("{}/api/models/alice/m1", emu.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "reads public repos");
    emu.shutdown().await;
}

#[tokio::test]
async fn github_id_token_endpoint_and_jwks() {
    let emu = start(|c| {
        c.oidc.request_token = Some(REQUEST_TOKEN.into());
        c.trusted_publishers = vec![TrustedPublisher::new("alice/m1", SUB)];
    })
    .await;
    let url = emu.url();
    // As GitHub hands it out: the URL already carries a query; the client adds `audience`.
    let request_url = format!("{url}/_actions/id-token?api-version=2.0");
    let get = |auth: Option<&'static str>| {
        let mut r = c().get(&request_url).query(&[("audience", url.as_str())]);
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        r.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 401);
    assert_eq!(get(Some("wrong")).await.unwrap().status(), 401);
    let r = get(Some(REQUEST_TOKEN)).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let id = v["value"].as_str().unwrap().to_string();

    // The token verifies against the published JWKS, found through discovery.
    let conf: Value = c()
        .get(format!("{url}/_actions/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(conf["issuer"], format!("{url}/_actions"));
    assert_eq!(emu.oidc_issuer(), format!("{url}/_actions"));
    let jwks: jsonwebtoken::jwk::JwkSet = c()
        .get(conf["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&id).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[&url]);
    validation.set_issuer(&[format!("{url}/_actions")]);
    let claims = jsonwebtoken::decode::<Value>(
        &id,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], SUB);
    assert_eq!(claims["repository"], "acme/train");

    assert_eq!(exchange(&emu, &id, "alice/m1").await.0, 200);
    // The id-token route is an ordinary (faultable, logged) route.
    emu.faults()
        .add(FaultRule::parse_spec("GET /_actions/id-token status=503 times=1").unwrap());
    assert_eq!(get(Some(REQUEST_TOKEN)).await.unwrap().status(), 503);
    assert!(
        emu.requests()
            .iter()
            .any(|r| r.path == "/_actions/id-token" && r.status == 503)
    );
    assert_eq!(
        emu.oauth_counters().id_token_requests,
        3,
        "the faulted one never arrived"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn oidc_settings_via_admin_api() {
    let emu = start(|_| {}).await;
    let url = emu.url();
    let r = c()
        .post(format!("{url}/_emulator/oidc"))
        .json(
            &json!({"exchanged_token_lifetime_secs": 3, "request_token": "rq",
            "issuer": "https://token.actions.githubusercontent.com",
            "claims": {"sub": "repo:acme/other:ref:refs/heads/dev"},
            "audiences": ["https://huggingface.co"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["exchanged_token_lifetime_secs"], 3);
    assert_eq!(v["request_token_set"], true);
    assert!(
        !v.to_string().contains("\"rq\""),
        "the request token is not echoed"
    );
    let r = c()
        .post(format!("{url}/_emulator/trusted-publishers"))
        .json(
            &json!({"resource": "alice/m1", "issuer": "https://token.actions.githubusercontent.com",
            "subject": "repo:acme/other:ref:refs/heads/dev"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c()
        .post(format!("{url}/_emulator/oidc/id-token"))
        .json(&json!({"audience": "https://huggingface.co"}))
        .send()
        .await
        .unwrap();
    let id: Value = r.json().await.unwrap();
    let (s, v) = exchange(&emu, id["value"].as_str().unwrap(), "alice/m1").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["expires_in"], 3);
    let r = c()
        .delete(format!("{url}/_emulator/trusted-publishers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = exchange(&emu, id["value"].as_str().unwrap(), "alice/m1").await;
    assert_eq!(s, 400);
    let r = c()
        .post(format!("{url}/_emulator/trusted-publishers"))
        .json(&json!({"resource": "not/a/valid/resource"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    emu.shutdown().await;
}

#[test]
fn binary_accepts_the_oauth_flags() {
    use std::io::BufRead;
    let bin = env!("CARGO_BIN_EXE_hub-emulator");
    let mut child = std::process::Command::new(bin)
        .args([
            "--oauth-login",
            "oauth_cli=alice:write refresh=rt-cli expires_in=-1",
            "--trusted-publisher",
            &format!("alice/m1 sub={SUB}"),
            "--exchanged-token-lifetime",
            "3",
            "--actions-request-token",
            REQUEST_TOKEN,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = c()
            .post(format!("{url}/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "rt-cli"),
                ("client_id", OFFICIAL_CLIENT_ID),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = c()
            .get(format!(
                "{url}/_actions/id-token?api-version=2.0&audience={url}"
            ))
            .bearer_auth(REQUEST_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = c()
            .post(format!("{url}/oauth/token"))
            .json(
                &json!({"grant_type": EXCHANGE, "subject_token_type": ID_TOKEN,
                "subject_token": v["value"], "resource": "alice/m1"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["expires_in"], 3);
    });
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn rs256_id_tokens_of_a_registered_issuer_verify() {
    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
    use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256};
    let emu = start(|c| {
        c.trusted_publishers = vec![TrustedPublisher {
            issuer: Some("https://rsa-ci.example".into()),
            ..TrustedPublisher::new("alice/m1", "rsa-subject")
        }]
    })
    .await;
    let kp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let public = kp.public_key();
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "rsa-1", "alg": "RS256",
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero())}]});
    let r = c()
        .post(format!("{}/_emulator/oidc/issuers", emu.url()))
        .json(&json!({"issuer": "https://rsa-ci.example", "jwks": jwks}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Signed by hand with aws-lc-rs, not by jsonwebtoken: a JWT any RS256 issuer could mint.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signing_input = format!(
        "{}.{}",
        b64(br#"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#),
        b64(
            json!({"iss": "https://rsa-ci.example", "aud": emu.url(), "sub": "rsa-subject",
            "iat": now, "exp": now + 60})
            .to_string()
            .as_bytes()
        )
    );
    let mut sig = vec![0u8; kp.public_modulus_len()];
    kp.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    let jwt = format!("{signing_input}.{}", b64(&sig));
    let (s, v) = exchange(&emu, &jwt, "alice/m1").await;
    assert_eq!(s, 200, "{v}");
    // One flipped signature byte: refused.
    sig[10] ^= 1;
    let (s, _) = exchange(&emu, &format!("{signing_input}.{}", b64(&sig)), "alice/m1").await;
    assert_eq!(s, 400);
    assert!(
        emu.oauth_counters()
            .last_refusal
            .unwrap()
            .contains("signature")
    );
    emu.shutdown().await;
}
