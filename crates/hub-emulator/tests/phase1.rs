//! Credential routes, repo info errors, faults, admin API, binary.

use std::io::BufRead;
use std::time::{Duration, Instant};

use hub_emulator::*;
use serde_json::Value;

const INVALID: &str = "Invalid credentials in Authorization header";

fn tokens() -> Vec<TokenSpec> {
    vec![
        TokenSpec::parse_cli("hf_read=alice:read").unwrap(),
        TokenSpec::parse_cli("hf_write=alice+acme:write").unwrap(),
        TokenSpec::parse_cli(
            "hf_fine=alice+acme:fine:repo.write@org/acme,repo.content.read@model/alice/m1,discussion.write",
        )
        .unwrap(),
        TokenSpec {
            revoked: true,
            ..TokenSpec::parse_cli("hf_revoked=alice:write").unwrap()
        },
    ]
}

async fn start() -> RunningEmulator {
    Emulator::start(EmulatorConfig {
        tokens: tokens(),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn whoami(emu: &RunningEmulator, token: Option<&str>) -> reqwest::Response {
    let mut r = client().get(format!("{}/api/whoami-v2", emu.url()));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn whoami_for_each_token_kind() {
    let emu = start().await;
    let r = whoami(&emu, Some("hf_read")).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "alice");
    assert_eq!(v["type"], "user");
    assert_eq!(v["auth"]["type"], "access_token");
    assert_eq!(v["auth"]["accessToken"]["role"], "read");
    assert!(v["auth"]["accessToken"]["displayName"].is_string());
    assert!(v["auth"]["accessToken"].get("fineGrained").is_none());

    let v: Value = whoami(&emu, Some("hf_write")).await.json().await.unwrap();
    assert_eq!(v["auth"]["accessToken"]["role"], "write");
    assert_eq!(v["orgs"][0]["name"], "acme");
    assert_eq!(v["orgs"][0]["type"], "org");

    let v: Value = whoami(&emu, Some("hf_fine")).await.json().await.unwrap();
    let at = &v["auth"]["accessToken"];
    assert_eq!(at["role"], "fineGrained");
    let scoped = at["fineGrained"]["scoped"].as_array().unwrap();
    assert_eq!(scoped.len(), 2);
    assert_eq!(scoped[0]["entity"]["type"], "org");
    assert_eq!(scoped[0]["entity"]["name"], "acme");
    assert!(scoped[0]["entity"]["_id"].is_string());
    assert_eq!(scoped[0]["permissions"][0], "repo.write");
    assert_eq!(scoped[1]["entity"]["type"], "model");
    assert_eq!(scoped[1]["entity"]["name"], "alice/m1");
    assert_eq!(at["fineGrained"]["global"][0], "discussion.write");
    emu.shutdown().await;
}

#[tokio::test]
async fn whoami_401_for_unknown_revoked_missing() {
    let emu = start().await;
    emu.add_token(TokenSpec::parse_cli("hf_later=bob:read").unwrap());
    assert_eq!(whoami(&emu, Some("hf_later")).await.status(), 200);
    emu.revoke_token("hf_later");
    for tok in [Some("hf_nope"), Some("hf_revoked"), Some("hf_later"), None] {
        let r = whoami(&emu, tok).await;
        assert_eq!(r.status(), 401, "{tok:?}");
        assert_eq!(r.headers()["x-error-message"], INVALID);
        assert!(r.headers().contains_key("x-request-id"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, serde_json::json!({"error": INVALID}));
    }
    // The log never contains a token value.
    let log = serde_json::to_string(&emu.requests()).unwrap();
    assert!(!log.contains("hf_"), "{log}");
    assert_eq!(emu.requests().iter().filter(|r| r.auth_present).count(), 4);
    emu.shutdown().await;
}

#[tokio::test]
async fn repo_info_errors() {
    let emu = start().await;
    let c = client();
    let url = format!("{}/api/models/alice/missing", emu.url());
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-error-code"], "RepoNotFound");
    let r = c.get(&url).bearer_auth("hf_read").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-error-code"], "RepoNotFound");
    let r = c.get(&url).bearer_auth("hf_bad").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-error-message"], INVALID);

    // A private repo is invisible to others, visible to the owner.
    let r = c
        .post(format!("{}/api/repos/create", emu.url()))
        .bearer_auth("hf_write")
        .json(&serde_json::json!({"name": "m1", "organization": "alice", "visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["url"], format!("{}/alice/m1", emu.url()));
    let info = format!("{}/api/models/alice/m1", emu.url());
    assert_eq!(c.get(&info).send().await.unwrap().status(), 401);
    let r = c.get(&info).bearer_auth("hf_read").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], "alice/m1");
    assert_eq!(v["private"], true);
    assert_eq!(v["sha"].as_str().unwrap().len(), 40);
    let r = c
        .get(format!("{info}/revision/nope"))
        .bearer_auth("hf_read")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-error-code"], "RevisionNotFound");
    let sha = v["sha"].as_str().unwrap();
    let r = c
        .get(format!("{info}/revision/{sha}"))
        .bearer_auth("hf_fine")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn fault_status_twice_then_ok_and_log_counts() {
    let emu = start().await;
    emu.faults().add(FaultRule {
        method: Some("GET".into()),
        path: PathMatch::Exact("/api/whoami-v2".into()),
        fault: Fault::Status {
            code: 503,
            retry_after: Some("1".into()),
            body: None,
        },
        times: Times::Next(2),
    });
    for _ in 0..2 {
        let r = whoami(&emu, Some("hf_read")).await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
        assert!(r.headers().contains_key("x-request-id"));
    }
    assert_eq!(whoami(&emu, Some("hf_read")).await.status(), 200);
    let log = emu.requests();
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![503, 503, 200]);
    assert_eq!(log[0].fault.as_deref(), Some("status=503"));
    assert!(
        log.iter()
            .all(|r| r.path == "/api/whoami-v2" && r.auth_present)
    );

    emu.faults()
        .add(FaultRule::parse_spec("* rate-limit=7 times=1").unwrap());
    let r = whoami(&emu, None).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(r.headers()["ratelimit"], "\"api\";r=0;t=7");
    emu.shutdown().await;
}

#[tokio::test]
async fn fault_hang_then_client_timeout() {
    let emu = start().await;
    emu.faults()
        .add(FaultRule::parse_spec("GET /api/whoami-v2 hang times=1").unwrap());
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let e = c
        .get(format!("{}/api/whoami-v2", emu.url()))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(emu.requests()[0].status, 0);
    assert_eq!(whoami(&emu, Some("hf_read")).await.status(), 200);
    // Shutdown releases the hanging request.
    emu.shutdown().await;
}

#[tokio::test]
async fn fault_reset_connection() {
    let emu = start().await;
    emu.faults()
        .add(FaultRule::parse_spec("GET /api/whoami-v2 reset times=1").unwrap());
    let e = client()
        .get(format!("{}/api/whoami-v2", emu.url()))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_request() || e.is_connect(), "{e:?}");
    assert!(!e.is_timeout());
    assert_eq!(whoami(&emu, Some("hf_read")).await.status(), 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn fault_truncated_body_errors_at_body_read() {
    let emu = start().await;
    emu.faults()
        .add(FaultRule::parse_spec("GET /api/whoami-v2 truncate=10 times=1").unwrap());
    let r = whoami(&emu, Some("hf_read")).await;
    assert_eq!(r.status(), 200);
    let len = r.content_length().unwrap();
    assert!(len > 10);
    assert!(r.bytes().await.is_err());
    // reset-body behaves the same from the client's side.
    emu.faults()
        .add(FaultRule::parse_spec("GET /api/whoami-v2 reset-body=5 times=1").unwrap());
    let r = whoami(&emu, Some("hf_read")).await;
    assert!(r.bytes().await.is_err());
    assert!(whoami(&emu, Some("hf_read")).await.bytes().await.is_ok());
    emu.shutdown().await;
}

#[tokio::test]
async fn fault_delay_then_serves() {
    let emu = start().await;
    emu.faults()
        .add(FaultRule::parse_spec("GET /api/* delay=300ms times=1").unwrap());
    let t = Instant::now();
    assert_eq!(whoami(&emu, Some("hf_read")).await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(whoami(&emu, Some("hf_read")).await.status(), 200);
    assert!(t.elapsed() < Duration::from_millis(300));
    emu.shutdown().await;
}

#[tokio::test]
async fn admin_api() {
    let emu = start().await;
    let c = client();
    let u = emu.url();
    // Admin routes are never faulted.
    emu.faults()
        .add(FaultRule::parse_spec("* * status=500").unwrap());
    let r = c.get(format!("{u}/_emulator/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(whoami(&emu, Some("hf_read")).await.status(), 500);
    let r = c
        .delete(format!("{u}/_emulator/faults"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(whoami(&emu, Some("hf_read")).await.status(), 200);
    // Spec and JSON forms.
    let r = c
        .post(format!("{u}/_emulator/faults"))
        .json(&serde_json::json!({"spec": "GET /api/whoami-v2 status=502 times=1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(whoami(&emu, Some("hf_read")).await.status(), 502);
    let r = c
        .post(format!("{u}/_emulator/faults"))
        .json(
            &serde_json::json!({"method":"GET","path":{"exact":"/api/whoami-v2"},
            "fault":{"status":{"code":504}},"times":{"next":1}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(whoami(&emu, Some("hf_read")).await.status(), 504);
    let r = c
        .post(format!("{u}/_emulator/faults"))
        .json(&serde_json::json!({"spec": "GET /x bogus"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Tokens.
    let r = c
        .post(format!("{u}/_emulator/tokens"))
        .json(&serde_json::json!({"token":"hf_new","user":"carol","role":{"fine_grained":{
            "scoped":[{"entity_type":"user","entity_name":"carol","permissions":["repo.write"]}]}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = whoami(&emu, Some("hf_new")).await.json().await.unwrap();
    assert_eq!(v["auth"]["accessToken"]["role"], "fineGrained");
    // Requests log (admin routes excluded).
    let v: Value = c
        .get(format!("{u}/_emulator/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 5);
    assert!(arr.iter().all(|r| r["path"] == "/api/whoami-v2"));
    assert_eq!(arr[0]["status"], 500);
    assert!(!v.to_string().contains("hf_"));
    emu.shutdown().await;
}

#[test]
fn background_emulator_for_sync_callers() {
    let emu = start_in_background(EmulatorConfig {
        tokens: tokens(),
        ..Default::default()
    })
    .unwrap();
    emu.faults()
        .add(FaultRule::parse_spec("GET /api/whoami-v2 status=503 times=1").unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = emu.url();
    let statuses: Vec<u16> = rt.block_on(async {
        let mut out = vec![];
        for _ in 0..2 {
            let r = client()
                .get(format!("{url}/api/whoami-v2"))
                .bearer_auth("hf_write")
                .send()
                .await
                .unwrap();
            out.push(r.status().as_u16());
        }
        out
    });
    assert_eq!(statuses, vec![503, 200]);
    assert_eq!(emu.requests().len(), 2);
    drop(emu);
}

#[test]
fn binary_prints_url_on_port_zero() {
    let dir = tempfile::tempdir().unwrap();
    let tokens_file = dir.path().join("tokens.json");
    std::fs::write(
        &tokens_file,
        serde_json::to_vec(&vec![TokenSpec::parse_cli("hf_file=dave:read").unwrap()]).unwrap(),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hub-emulator"))
        .args(["--addr", "127.0.0.1:0", "--token", "hf_cli=erin:write"])
        // Default logging, so the leak check below reads real request lines.
        .env_remove("RUST_LOG")
        .arg("--tokens")
        .arg(&tokens_file)
        .args(["--fault", "GET /api/whoami-v2 status=503 times=1"])
        .arg("--data")
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("hub-emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt.block_on(async {
        let c = client();
        let a = c
            .get(format!("{url}/api/whoami-v2"))
            .bearer_auth("hf_cli")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let b: Value = c
            .get(format!("{url}/api/whoami-v2"))
            .bearer_auth("hf_cli")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let d: Value = c
            .get(format!("{url}/api/whoami-v2"))
            .bearer_auth("hf_file")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (a, b, d)
    });
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(res.0, 503);
    assert_eq!(res.1["name"], "erin");
    assert_eq!(res.2["name"], "dave");
    assert!(
        stderr.contains("/api/whoami-v2"),
        "requests are logged: {stderr}"
    );
    assert!(
        !stderr.contains("hf_cli") && !stderr.contains("hf_file"),
        "{stderr}"
    );

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_hub-emulator"))
        .args(["--token", "nonsense"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(bad.stdout.is_empty());
}

/// Read one HTTP/1.1 response (head + `content-length` body) from `s`, keeping
/// any bytes after it in `buf`. Returns the head.
async fn read_response(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> String {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                return head;
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("response timed out")
            .expect("read failed");
        assert!(
            n > 0,
            "server closed the keep-alive connection; got so far: {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A handler that answers without reading the request body must not make the
/// keep-alive connection unusable: the client sends the headers, gets the
/// response, then sends the body and its next request on the same connection
/// (what httpcore does when the body write lags behind the headers under load).
#[tokio::test]
async fn unread_request_body_keeps_connection_alive() {
    use tokio::io::AsyncWriteExt;
    let emu = start().await;
    emu.faults()
        .add(FaultRule::parse_spec("PUT /faulted status=503").unwrap());
    let mut s = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    let body = br#"{"repoType":"model","content":"---\nlicense: mit\n---\n"}"#;
    for (req, want) in [
        ("POST /api/validate-yaml", "HTTP/1.1 200"),
        ("PUT /faulted", "HTTP/1.1 503"),
        ("POST /api/models/alice/none/commit/main", "HTTP/1.1 401"),
    ] {
        let head = format!(
            "{req} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer nope\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let got = read_response(&mut s, &mut buf).await;
        assert!(got.starts_with(want), "{req}: {got}");
        assert!(
            !got.to_ascii_lowercase().contains("connection: close"),
            "{got}"
        );
        s.write_all(body).await.unwrap();
        s.write_all(b"GET /_emulator/health HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let got = read_response(&mut s, &mut buf).await;
        assert!(got.starts_with("HTTP/1.1 200"), "after {req}: {got}");
    }
    emu.shutdown().await;
}
