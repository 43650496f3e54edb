"""`preflight check hf` and the official client's `whoami()` agree on the same tokens, each
finding the token itself (the environment or the token file), never handed it.

Each scenario runs the official client in a fresh interpreter, because huggingface_hub reads
HF_ENDPOINT once at import time.
"""

import json
import subprocess
import sys

import pytest

from conftest import admin, hub_env, start_emulator

WRITE = "hf_AgreeWriteTokenAbcdefghijklmnopqrstuv"
READ = "hf_AgreeReadTokenAbcdefghijklmnopqrstuvw"
FINE = "hf_AgreeFineTokenAbcdefghijklmnopqrstuvw"
REVOKED = "hf_AgreeRevokedTokenAbcdefghijklmnopqrs"
UNKNOWN = "hf_AgreeUnknownTokenAbcdefghijklmnopqrs"

OFFICIAL_WHOAMI = """
import json, sys
from huggingface_hub import HfApi, get_token
if get_token() != sys.argv[1]:
    print(json.dumps({"ok": False, "error": "discovered another token"}))
    sys.exit(0)
try:
    info = HfApi().whoami()
    print(json.dumps({"ok": True, "name": info["name"], "role": info["auth"]["accessToken"]["role"]}))
except Exception as error:
    print(json.dumps({"ok": False, "error": type(error).__name__}))
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agree")
    emulator = start_emulator(
        tmp,
        "--token", f"{WRITE}=alice:write",
        "--token", f"{READ}=alice:read",
        "--token", f"{FINE}=alice:fine:repo.write@user/alice",
        "--token", f"{REVOKED}=alice:write",
    )
    admin(emulator, "/_emulator/tokens/revoke", {"token": REVOKED})
    yield emulator
    emulator.stop()


def clean_env(tmp_path, hub_url, token, where="env"):
    env = hub_env(hub_url, tmp_path, tmp_path / "hf-home", tmp_path / "auth.log")
    if token is not None and where == "env":
        env["HF_TOKEN"] = token
    elif token is not None:
        (tmp_path / "hf-home").mkdir(parents=True, exist_ok=True)
        (tmp_path / "hf-home" / "token").write_text(token + "\n")
    return env


@pytest.mark.parametrize("where", ["env", "file"])
@pytest.mark.parametrize(
    "token,expected_status,expected_role",
    [
        (WRITE, "VALID", "write"),
        (READ, "VALID", "read"),
        (FINE, "VALID", "fineGrained"),
        (REVOKED, "INVALID", None),
        (UNKNOWN, "INVALID", None),
    ],
)
def test_same_verdict_as_official_whoami(hub, tmp_path, preflight_bin, token, expected_status, expected_role, where):
    env = clean_env(tmp_path, hub.url, token, where)
    official = subprocess.run(
        [sys.executable, "-c", OFFICIAL_WHOAMI, token], env=env, capture_output=True, text=True, timeout=60
    )
    assert official.returncode == 0, official.stderr
    official_result = json.loads(official.stdout.strip().splitlines()[-1])

    ours = subprocess.run(
        [preflight_bin, "check", "hf", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    document = json.loads(ours.stdout)
    result = document["results"][0]
    expected_source = "env:HF_TOKEN" if where == "env" else f"file:{tmp_path / 'hf-home' / 'token'}"
    assert result["source"] == expected_source, result
    assert official_result.get("error") != "discovered another token"
    assert result["status"] == expected_status, ours.stderr
    assert official_result["ok"] == (expected_status == "VALID")
    if official_result["ok"]:
        assert result["identity"]["name"] == official_result["name"]
        assert result["token_role"] == official_result["role"] == expected_role
        assert ours.returncode == 0
    else:
        assert ours.returncode == 11
    for stream in (ours.stdout, ours.stderr, (tmp_path / "auth.log").read_text()):
        assert token not in stream
