//! Upload protocol: create, preupload, LFS batch + transfers, commit, tree, resolve.

use std::time::Duration;

use base64::Engine;
use hub_emulator::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const W: &str = "hf_write";

fn cfg(data: Option<std::path::PathBuf>) -> EmulatorConfig {
    EmulatorConfig {
        data_dir: data,
        tokens: vec![
            TokenSpec::parse_cli("hf_read=alice:read").unwrap(),
            TokenSpec::parse_cli("hf_write=alice+acme:write").unwrap(),
            TokenSpec::parse_cli("hf_repo=alice:fine:repo.write@model/alice/m1").unwrap(),
        ],
        lfs_multipart_threshold: 3 << 20,
        multipart_chunk_size: 1 << 20,
        regular_max_size: 1000,
        ..Default::default()
    }
}

fn c() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn git_sha1(d: &[u8]) -> String {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", d.len()).as_bytes());
    h.update(d);
    hex::encode(h.finalize())
}

fn sha256(d: &[u8]) -> String {
    hex::encode(Sha256::digest(d))
}

async fn post_json(
    url: String,
    tok: Option<&str>,
    body: Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut r = c().post(url).json(&body);
    if let Some(t) = tok {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    let h = r.headers().clone();
    let v = r.json().await.unwrap_or(Value::Null);
    (s, v, h)
}

async fn create(emu: &RunningEmulator, tok: &str, name: &str) -> (u16, Value) {
    let (s, v, _) = post_json(
        format!("{}/api/repos/create", emu.url()),
        Some(tok),
        json!({"name": name, "organization": "alice"}),
    )
    .await;
    (s, v)
}

async fn commit(emu: &RunningEmulator, repo: &str, lines: &[Value], query: &str) -> (u16, Value) {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = c()
        .post(format!(
            "{}/api/models/{repo}/commit/main{query}",
            emu.url()
        ))
        .bearer_auth(W)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn header(summary: &str) -> Value {
    json!({"key": "header", "value": {"summary": summary, "description": ""}})
}

fn file_line(path: &str, data: &[u8]) -> Value {
    json!({"key": "file", "value": {"path": path, "encoding": "base64",
        "content": base64::engine::general_purpose::STANDARD.encode(data)}})
}

async fn batch(emu: &RunningEmulator, objects: Value, transfers: Value) -> (u16, Value) {
    let (s, v, _) = post_json(
        format!("{}/alice/m1.git/info/lfs/objects/batch", emu.url()),
        Some(W),
        json!({"operation": "upload", "transfers": transfers, "objects": objects,
               "hash_algo": "sha256", "ref": {"name": "main"}}),
    )
    .await;
    (s, v)
}

#[tokio::test]
async fn create_repo_rules() {
    let emu = Emulator::start(cfg(None)).await.unwrap();
    assert_eq!(create(&emu, W, "m1").await.0, 200);
    let (s, v) = create(&emu, W, "m1").await;
    assert_eq!(s, 409);
    assert_eq!(v["url"], format!("{}/alice/m1", emu.url()));
    assert_eq!(create(&emu, "hf_read", "m2").await.0, 403);
    // Repo-scoped fine-grained token: 403 even though the repo exists.
    assert_eq!(create(&emu, "hf_repo", "m1").await.0, 403);
    assert_eq!(create(&emu, "hf_bad", "m1").await.0, 401);
    // Dataset in an org, with old-style `private`.
    let (s, v, _) = post_json(
        format!("{}/api/repos/create", emu.url()),
        Some(W),
        json!({"name": "d1", "organization": "acme", "type": "dataset", "private": true}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["url"], format!("{}/datasets/acme/d1", emu.url()));
    let r = c()
        .get(format!("{}/api/datasets/acme/d1", emu.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (s, v, _) = post_json(
        format!("{}/api/validate-yaml", emu.url()),
        Some(W),
        json!({"content": "x"}),
    )
    .await;
    assert_eq!((s, v), (200, json!({"errors": [], "warnings": []})));
    emu.shutdown().await;
}

#[tokio::test]
async fn full_upload_flow_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(cfg(Some(dir.path().into()))).await.unwrap();
    let u = emu.url();
    create(&emu, W, "m1").await;

    // Preupload: size, binary sample and .gitattributes decide the mode.
    let (s, v, _) = post_json(
        format!("{u}/api/models/alice/m1/preupload/main"),
        Some(W),
        json!({"files": [
            {"path": "a.txt", "size": 5, "sample": "aGVsbG8="},
            {"path": "big.txt", "size": 5000, "sample": "aGVsbG8="},
            {"path": "bin.dat", "size": 3, "sample": "AAEC"},
            {"path": "w.safetensors", "size": 3, "sample": "YWJj"},
            {"path": "logs/x.log", "size": 3, "sample": "YWJj"}],
            "gitIgnore": "logs/\n"}),
    )
    .await;
    assert_eq!(s, 200);
    let modes: Vec<(&str, bool)> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["uploadMode"].as_str().unwrap(),
                f["shouldIgnore"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        modes,
        vec![
            ("regular", false),
            ("lfs", false),
            ("lfs", false),
            ("lfs", false),
            ("regular", true)
        ]
    );
    assert!(v["files"][0]["oid"].is_null());
    // Read token: 403 on write routes; no token: 401.
    let (s, _, _) = post_json(
        format!("{u}/api/models/alice/m1/preupload/main"),
        Some("hf_read"),
        json!({"files": []}),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _, _) = post_json(
        format!("{u}/api/models/alice/m1/preupload/main"),
        None,
        json!({"files": []}),
    )
    .await;
    assert_eq!(s, 401);

    // LFS: one basic object (> 2 MiB, beyond axum's default limit), one multipart.
    let basic: Vec<u8> = (0..(2u32 << 20) + 123).map(|i| (i % 251) as u8).collect();
    let multi: Vec<u8> = (0..(3u32 << 20) + 5).map(|i| (i % 253) as u8).collect();
    let (bo, mo) = (sha256(&basic), sha256(&multi));
    let (s, _) = batch(
        &emu,
        json!([{"oid": bo, "size": basic.len()}]),
        json!(["xet"]),
    )
    .await;
    assert_eq!(s, 400);
    let (s, v) = batch(
        &emu,
        json!([{"oid": bo, "size": basic.len()}, {"oid": mo, "size": multi.len()}, {"oid": "zz", "size": 1}]),
        json!(["basic", "multipart"]),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["transfer"], "basic");
    assert_eq!(v["objects"][2]["error"]["code"], 422);
    let put = v["objects"][0]["actions"]["upload"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(v["objects"][0]["actions"]["upload"].get("header").is_none());
    let verify = v["objects"][0]["actions"]["verify"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    // Wrong content is refused; the right content is stored; no auth needed.
    let r = c()
        .put(&put)
        .body(vec![1u8; basic.len()])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (s, _, _) = post_json(
        verify.clone(),
        Some(W),
        json!({"oid": bo, "size": basic.len()}),
    )
    .await;
    assert_eq!(s, 404);
    let r = c().put(&put).body(basic.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (s, _, _) = post_json(
        verify.clone(),
        Some(W),
        json!({"oid": bo, "size": basic.len()}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = post_json(verify, None, json!({"oid": bo, "size": basic.len()})).await;
    assert_eq!(s, 401);

    let up = &v["objects"][1]["actions"]["upload"];
    let hdr = up["header"].as_object().unwrap();
    let chunk: usize = hdr["chunk_size"].as_str().unwrap().parse().unwrap();
    let n = multi.len().div_ceil(chunk);
    assert_eq!(hdr.len(), n + 1);
    // Fault on the 2nd part once: the client retries it.
    emu.faults()
        .add(FaultRule::parse_spec("PUT /_lfs/part/*/2 status=503 times=1").unwrap());
    let mut parts = vec![];
    for i in 1..=n {
        let href = hdr[&i.to_string()].as_str().unwrap();
        let slice = multi[(i - 1) * chunk..(i * chunk).min(multi.len())].to_vec();
        let mut r = c().put(href).body(slice.clone()).send().await.unwrap();
        if r.status() == 503 {
            r = c().put(href).body(slice).send().await.unwrap();
        }
        assert_eq!(r.status(), 200);
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'));
        parts.push(json!({"partNumber": i, "etag": etag}));
    }
    let log = emu.requests();
    let p2: Vec<_> = log.iter().filter(|r| r.part == Some(2)).collect();
    assert_eq!(p2.len(), 2);
    assert_eq!(p2[0].lfs_oid.as_deref(), Some(mo.as_str()));
    assert!(!p2[0].auth_present);
    let complete = up["href"].as_str().unwrap().to_string();
    let mut bad = parts.clone();
    bad[0]["etag"] = json!("\"nope\"");
    let (s, _, _) = post_json(complete.clone(), None, json!({"oid": mo, "parts": bad})).await;
    assert_eq!(s, 400);
    let (s, _, _) = post_json(complete, None, json!({"oid": mo, "parts": parts})).await;
    assert_eq!(s, 200);
    // Stored objects get no actions.
    let (_, v) = batch(
        &emu,
        json!([{"oid": mo, "size": multi.len()}]),
        json!(["basic"]),
    )
    .await;
    assert!(v["objects"][0].get("actions").is_none());

    // Commit: an LFS object that was never uploaded -> 400 and nothing changes.
    let info0: Value = c()
        .get(format!("{u}/api/models/alice/m1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lfs_line = |p: &str, oid: &str, size: usize| json!({"key": "lfsFile", "value": {"path": p, "algo": "sha256", "oid": oid, "size": size}});
    let (s, v) = commit(
        &emu,
        "alice/m1",
        &[
            header("bad"),
            file_line("ok.txt", b"ok"),
            lfs_line("x.bin", &"0".repeat(64), 3),
        ],
        "",
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("never uploaded"));
    let (s, _) = commit(
        &emu,
        "alice/m1",
        &[header("bad"), lfs_line("x.bin", &bo, 7)],
        "",
    )
    .await;
    assert_eq!(s, 400);
    let info1: Value = c()
        .get(format!("{u}/api/models/alice/m1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info0["sha"], info1["sha"]);

    // A good commit (Python-style ", " separators are fine too).
    let lines = [
        header("first"),
        file_line("a.txt", b"hello"),
        file_line("empty.txt", b""),
        file_line("dir/sub/r\u{e9}sum\u{e9}.txt", "caf\u{e9}".as_bytes()),
        lfs_line("weights/basic.dat", &bo, basic.len()),
        lfs_line("weights/multi.dat", &mo, multi.len()),
    ];
    let body: String = lines
        .iter()
        .map(|l| {
            serde_json::to_string(l)
                .unwrap()
                .replace("\":", "\": ")
                .replace(",\"", ", \"")
                + "\n"
        })
        .collect();
    let r = c()
        .post(format!("{u}/api/models/alice/m1/commit/main"))
        .bearer_auth(W)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let oid = v["commitOid"].as_str().unwrap().to_string();
    assert_eq!(oid.len(), 40);
    assert_eq!(v["commitUrl"], format!("{u}/alice/m1/commit/{oid}"));
    assert!(v["pullRequestUrl"].is_null());

    // Stale parentCommit -> 412.
    let stale = info0["sha"].as_str().unwrap();
    let (s, _) = commit(
        &emu,
        "alice/m1",
        &[
            json!({"key":"header","value":{"summary":"x","parentCommit": stale}}),
            file_line("b.txt", b"b"),
        ],
        "",
    )
    .await;
    assert_eq!(s, 412);

    // PR.
    let (s, v) = commit(
        &emu,
        "alice/m1",
        &[header("pr"), file_line("a.txt", b"changed")],
        "?create_pr=1",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["pullRequestUrl"], format!("{u}/alice/m1/discussions/1"));

    // Tree / info / resolve.
    let (oid, bo, mo, multi) = (&oid, &bo, &mo, &multi);
    let check = |emu_url: String| async move {
        let info: Value = c()
            .get(format!("{emu_url}/api/models/alice/m1"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["sha"], oid.as_str());
        let sib = info["siblings"].as_array().unwrap();
        let multi_sib = sib
            .iter()
            .find(|s| s["rfilename"] == "weights/multi.dat")
            .unwrap();
        assert_eq!(multi_sib["lfs"]["sha256"], mo.as_str());
        let tree: Value = c()
            .get(format!(
                "{emu_url}/api/models/alice/m1/tree/{oid}?recursive=True&expand=false"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let paths: Vec<&str> = tree
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["path"].as_str().unwrap())
            .collect();
        assert!(
            paths.contains(&"dir/sub") && paths.contains(&"dir/sub/r\u{e9}sum\u{e9}.txt"),
            "{paths:?}"
        );
        let a = tree
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["path"] == "a.txt")
            .unwrap();
        assert_eq!(a["oid"], "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0"); // git hash-object of "hello"
        let top: Value = c()
            .get(format!("{emu_url}/api/models/alice/m1/tree/main/weights"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(top.as_array().unwrap().len(), 2);
        assert_eq!(top[0]["lfs"]["oid"], bo.as_str());
        let r = c()
            .head(format!("{emu_url}/alice/m1/resolve/main/weights/multi.dat"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-repo-commit"], oid.as_str());
        assert_eq!(r.headers()["etag"], format!("\"{mo}\""));
        assert_eq!(r.headers()["content-length"], multi.len().to_string());
        assert!(r.headers().get("x-xet-hash").is_none());
        let r = c()
            .get(format!("{emu_url}/alice/m1/resolve/main/weights/multi.dat"))
            .header("range", "bytes=1048570-")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206);
        assert_eq!(&r.bytes().await.unwrap()[..], &multi[1048570..]);
        let got = c()
            .get(format!(
                "{emu_url}/alice/m1/resolve/{oid}/dir/sub/r%C3%A9sum%C3%A9.txt"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.headers()["etag"],
            format!("\"{}\"", git_sha1("caf\u{e9}".as_bytes()))
        );
        assert_eq!(got.text().await.unwrap(), "caf\u{e9}");
        let pr = c()
            .get(format!("{emu_url}/alice/m1/resolve/refs%2Fpr%2F1/a.txt"))
            .send()
            .await
            .unwrap();
        assert_eq!(pr.text().await.unwrap(), "changed");
        let r = c()
            .get(format!("{emu_url}/alice/m1/resolve/main/nope.txt"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["x-error-code"], "EntryNotFound");
        let r = c()
            .get(format!("{emu_url}/alice/m1/resolve/nobranch/a.txt"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-error-code"], "RevisionNotFound");
        let attrs = c()
            .get(format!("{emu_url}/alice/m1/resolve/main/.gitattributes"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(attrs.contains("weights/basic.dat filter=lfs diff=lfs merge=lfs -text"));
    };
    check(u.clone()).await;
    // Preupload now reports the existing oids.
    let (_, v, _) = post_json(
        format!("{u}/api/models/alice/m1/preupload/main"),
        Some(W),
        json!({"files": [{"path": "a.txt", "size": 5, "sample": "aGVsbG8="},
                         {"path": "weights/multi.dat", "size": multi.len(), "sample": ""}]}),
    )
    .await;
    assert_eq!(
        v["files"][0]["oid"],
        "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0"
    );
    assert_eq!(v["files"][1]["oid"], mo.as_str());
    emu.shutdown().await;

    // Same data dir after a restart: everything is still there.
    let emu = Emulator::start(cfg(Some(dir.path().into()))).await.unwrap();
    check(emu.url()).await;
    emu.shutdown().await;
}
