//! The native Modal check's wire layout against the pinned modal wheel (1.6.4): the project's
//! `.proto` and the hand-written prost structs must agree with the compiled descriptors in
//! `modal_proto/api_pb2.py`, byte for byte.
//!
//! Needs the workspace venv (`scripts/test.sh` creates it): `PREFLIGHT_TEST_PYTHON` overrides
//! the default `<workspace>/.venv/bin/python`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use preflight_auth::modal::{
    CLIENT_VERSION, TokenIdentity, TokenInfoGetRequest, TokenInfoGetResponse,
};
use prost::Message;

fn python(script: &str, input: &str) -> String {
    let python = preflight_test_support::modal::python();
    let output = Command::new(python)
        .args(["-c", script, input])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf8")
}

/// `message NAME { … type field = N; … }` → NAME → field → (type, N), from our `.proto`.
fn proto_fields() -> BTreeMap<String, BTreeMap<String, (String, u32)>> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/modal/proto/token_info.proto"),
    )
    .expect("proto");
    let mut messages = BTreeMap::new();
    // Every field line up to the next `message` belongs to the current one (a oneof's fields
    // belong to its message; the service block comes before the messages).
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("//") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("message ") {
            let name = rest.trim_end_matches(['{', '}', ' ']).to_owned();
            messages.insert(name.clone(), BTreeMap::new());
            current = (!rest.ends_with('}')).then_some(name);
        } else if let (Some(name), Some((decl, number))) = (&current, line.split_once(" = ")) {
            let mut words = decl.split_whitespace();
            let (Some(kind), Some(field)) = (words.next(), words.next()) else {
                continue;
            };
            let number: u32 = number.trim_end_matches(';').parse().expect("field number");
            messages
                .get_mut(name)
                .expect("message")
                .insert(field.to_owned(), (kind.to_owned(), number));
        }
    }
    messages
}

const DESCRIBE: &str = r#"
import json
from modal_proto import api_pb2
import modal_version
KINDS = {9: "string", 11: "message", 3: "int64", 5: "int32"}
out = {"version": modal_version.__version__, "messages": {}}
for name in ["TokenInfoGetRequest", "TokenInfoGetResponse", "UserIdentity", "ServiceUserIdentity"]:
    d = api_pb2.DESCRIPTOR.message_types_by_name[name]
    out["messages"][name] = {
        f.name: [f.message_type.full_name if f.type == 11 else KINDS[f.type], f.number] for f in d.fields
    }
m = api_pb2.DESCRIPTOR.services_by_name["ModalClient"].methods_by_name["TokenInfoGet"]
out["method"] = [m.containing_service.full_name, m.name, m.input_type.full_name,
                 m.output_type.full_name, m.client_streaming, m.server_streaming]
print(json.dumps(out))
"#;

const ENCODE: &str = r#"
from modal_proto import api_pb2
user = api_pb2.TokenInfoGetResponse(token_id="ak-1", workspace_id="ac-1", workspace_name="ws",
    user_identity=api_pb2.UserIdentity(user_id="us-1", username="alice"), token_name="laptop")
user.created_at.seconds = 1700000000
user.created_at.nanos = 5
user.expires_at.seconds = 4102444800
bot = api_pb2.TokenInfoGetResponse(token_id="ak-2", workspace_name="ci-ws",
    service_user_identity=api_pb2.ServiceUserIdentity(service_user_id="su-1", service_user_name="bot",
        created_by=api_pb2.UserIdentity(user_id="us-2", username="owner")))
print(user.SerializeToString().hex())
print(bot.SerializeToString().hex())
"#;

const DECODE: &str = r#"
import sys
from modal_proto import api_pb2
r = api_pb2.TokenInfoGetResponse.FromString(bytes.fromhex(sys.argv[1]))
print(r.token_id, r.workspace_name, r.WhichOneof("identity"), r.service_user_identity.created_by.username,
      r.expires_at.seconds, r.token_name)
"#;

#[test]
fn wire_layout_matches_the_wheel() {
    let described: serde_json::Value =
        serde_json::from_str(&python(DESCRIBE, "")).expect("descriptor json");
    assert_eq!(
        described["version"], CLIENT_VERSION,
        "the pinned modal wheel and native::CLIENT_VERSION disagree: bump the constant with the pin"
    );
    assert_eq!(
        described["method"],
        serde_json::json!([
            "modal.client.ModalClient",
            "TokenInfoGet",
            "modal.client.TokenInfoGetRequest",
            "modal.client.TokenInfoGetResponse",
            false,
            false
        ])
    );
    // Our .proto, field by field, against the descriptors.
    let ours = proto_fields();
    for (message, fields) in described["messages"].as_object().expect("messages") {
        let mine = ours
            .get(message)
            .unwrap_or_else(|| panic!("{message} missing from token_info.proto"));
        let theirs: BTreeMap<String, (String, u32)> = fields
            .as_object()
            .expect("fields")
            .iter()
            .map(|(name, spec)| {
                let kind = spec[0].as_str().expect("kind");
                let kind = kind
                    .strip_prefix("modal.client.")
                    .unwrap_or(kind)
                    .to_owned();
                (
                    name.clone(),
                    (kind, spec[1].as_u64().expect("number") as u32),
                )
            })
            .collect();
        assert_eq!(mine, &theirs, "{message}");
    }

    // Bytes the wheel encodes decode into our structs with every field in place.
    let encoded = python(ENCODE, "");
    let mut lines = encoded.lines();
    let user = TokenInfoGetResponse::decode(hex(lines.next().expect("user")).as_slice())
        .expect("decode user");
    assert_eq!(
        (
            user.token_id.as_str(),
            user.workspace_id.as_str(),
            user.workspace_name.as_str()
        ),
        ("ak-1", "ac-1", "ws")
    );
    assert_eq!(user.token_name, "laptop");
    let created = user.created_at.expect("created");
    assert_eq!((created.seconds, created.nanos), (1_700_000_000, 5));
    assert_eq!(user.expires_at.expect("expires").seconds, 4_102_444_800);
    let Some(TokenIdentity::User(identity)) = &user.identity else {
        panic!("{:?}", user.identity)
    };
    assert_eq!(
        (identity.user_id.as_str(), identity.username.as_str()),
        ("us-1", "alice")
    );

    let bot = TokenInfoGetResponse::decode(hex(lines.next().expect("bot")).as_slice())
        .expect("decode bot");
    let Some(TokenIdentity::ServiceUser(service)) = &bot.identity else {
        panic!("{:?}", bot.identity)
    };
    assert_eq!(service.service_user_name, "bot");
    assert_eq!(
        service.created_by.as_ref().expect("created_by").username,
        "owner"
    );
    assert!(bot.expires_at.is_none());

    // And the wheel reads what we encode.
    let mut ours = bot.clone();
    ours.token_name = "ci".to_owned();
    ours.expires_at = Some(preflight_auth::modal::Timestamp {
        seconds: 42,
        nanos: 0,
    });
    let read = python(DECODE, &to_hex(&ours.encode_to_vec()));
    assert_eq!(read.trim(), "ak-2 ci-ws service_user_identity owner 42 ci");
    assert!(TokenInfoGetRequest {}.encode_to_vec().is_empty());
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
