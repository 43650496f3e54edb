"""The OFFICIAL huggingface_hub client against the hub-emulator's OAuth and Trusted Publishers.

Proves the emulator answers `/oauth/token` (refresh grant, RFC 8693 token exchange) and the
fake GitHub Actions id-token endpoint the way the official client needs: it refreshes an
expired OAuth login from `stored_tokens`, and `get_token()`/`whoami()` work with
`HF_OIDC_RESOURCE` + `HF_OIDC_ID_TOKEN` and on the GitHub Actions path.

Each case runs the official client in a fresh subprocess, because huggingface_hub reads
HF_ENDPOINT / HF_HOME when it is imported and caches tokens in-process.

Run: HUB_EMULATOR_BIN=target/debug/hub-emulator .venv/bin/pytest tests/python/test_emulator_oauth.py
"""

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

from conftest import (
    ACCESS,
    REFRESH,
    REQUEST_TOKEN,
    SUB,
    admin,
    mint_id_token,
    read_login,
    write_login,
)
from conftest import oauth_counters as counters


def official(emu, home: Path, script: str, **env):
    """Run `script` with the official client; it prints one JSON line."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HUGGING_FACE", "ACTIONS_", "GITHUB_"))
    }
    full_env.update(
        HF_ENDPOINT=emu.url,
        HF_HOME=str(home),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_IMPLICIT_TOKEN="0",
    )
    full_env.update(env)
    preamble = "import json, sys\nimport huggingface_hub\nfrom huggingface_hub import get_token, whoami, HfApi\n"
    done = subprocess.run(
        [sys.executable, "-c", preamble + textwrap.dedent(script)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


WHOAMI = """
token = get_token()
me = whoami()
print(json.dumps({"token": token, "name": me["name"], "auth": me["auth"]}))
"""


def test_official_client_refreshes_an_expired_login_once(emulator, tmp_path):
    emu = emulator("--oauth-login", f"{ACCESS}=alice:write refresh={REFRESH} expires_in=-60")
    home = tmp_path / "hf_home"
    write_login(home, ACCESS, REFRESH, int(time.time()) - 60)

    out, _ = official(emu, home, WHOAMI)
    new = out["token"]
    assert new != ACCESS and new.startswith("hf_oauth_")
    assert out["name"] == "alice"
    assert out["auth"]["type"] == "oauth"
    # The official client wrote what the emulator answered: new token, rotated refresh token.
    assert (home / "token").read_text() == new
    stored, _ = read_login(home)
    assert stored["hf_token"] == new
    assert stored["refresh_token"] not in ("", REFRESH)
    assert int(stored["expires_at"]) > time.time() + 24 * 3600
    n = counters(emu)
    assert (n["refresh_requests"], n["refreshes_granted"]) == (1, 1)

    # A second process uses the refreshed login without refreshing again.
    out, _ = official(emu, home, WHOAMI)
    assert out["token"] == new
    assert counters(emu)["refresh_requests"] == 1

    # The consumed refresh token is refused if replayed.
    assert "The refresh token has already been used" in replay_refresh(emu, REFRESH)


def test_three_official_clients_at_once_make_exactly_one_refresh(emulator, tmp_path):
    emu = emulator("--oauth-login", f"{ACCESS}=alice:write refresh={REFRESH} expires_in=-60")
    home = tmp_path / "hf_home"
    write_login(home, ACCESS, REFRESH, int(time.time()) - 60)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env.update(HF_ENDPOINT=emu.url, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1")
    script = "import json; from huggingface_hub import whoami, get_token; whoami(); print(get_token())"
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(code == 0 for _, _, code in results), results
    tokens = {out.strip() for out, _, _ in results}
    # The cross-process lock makes the other two adopt the first one's rotated login.
    assert len(tokens) == 1 and tokens != {ACCESS}
    n = counters(emu)
    assert (n["refresh_requests"], n["refreshes_granted"]) == (1, 1)


def replay_refresh(emu, refresh_token):
    body = f"grant_type=refresh_token&refresh_token={refresh_token}&client_id={'26be6b09-91c5-47da-9861-d2d2bb7a7e36'}"
    req = urllib.request.Request(emu.url + "/oauth/token", data=body.encode(), method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 400
        payload = json.loads(e.read())
        assert payload["error"] == "invalid_grant"
        return payload["error_description"]
    raise AssertionError("replayed refresh token was accepted")


def test_official_client_on_a_revoked_refresh_token_says_hf_auth_login(emulator, tmp_path):
    emu = emulator("--oauth-login", f"{ACCESS}=alice:write refresh={REFRESH} expires_in=-60")
    admin(emu, "/_emulator/oauth/revoke", {"refresh_token": REFRESH})
    home = tmp_path / "hf_home"
    write_login(home, ACCESS, REFRESH, int(time.time()) - 60)
    out, stderr = official(
        emu,
        home,
        """
        from huggingface_hub.errors import HfHubHTTPError
        token = get_token()
        try:
            whoami()
            status = 200
        except HfHubHTTPError as e:
            status = e.response.status_code
        print(json.dumps({"token": token, "status": status}))
        """,
    )
    # invalid_grant: the official client keeps the old token and tells the user to log in.
    assert out == {"token": ACCESS, "status": 401}
    assert "hf auth login" in stderr
    assert (home / "token").read_text() == ACCESS
    n = counters(emu)
    assert (n["refresh_requests"], n["refreshes_granted"]) == (1, 0)


UPLOAD = """
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
token = get_token()
me = whoami()
api.upload_file(path_or_fileobj=b"weights", path_in_repo="w.bin", repo_id="alice/m1")
try:
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.bin", repo_id="alice/other")
    elsewhere = 200
except HfHubHTTPError as e:
    elsewhere = e.response.status_code
print(json.dumps({"token": token, "auth": me["auth"], "elsewhere": elsewhere}))
"""


def test_hf_oidc_id_token_exchange(emulator, tmp_path):
    emu = emulator("--trusted-publisher", f"alice/m1 sub={SUB}")
    out, _ = official(
        emu,
        tmp_path / "home",
        UPLOAD,
        HF_OIDC_RESOURCE="alice/m1",
        HF_OIDC_ID_TOKEN=mint_id_token(emu),
    )
    assert out["token"].startswith("hf_jwt_")
    access = out["auth"]["accessToken"]
    assert access["role"] == "fineGrained"
    entity = access["fineGrained"]["scoped"][0]["entity"]
    assert (entity["type"], entity["name"]) == ("model", "alice/m1")
    assert access["fineGrained"]["scoped"][0]["permissions"] == ["repo.content.read", "repo.write"]
    assert out["elsewhere"] == 403
    files = admin(emu, "/api/models/alice/m1/tree/main")
    assert "w.bin" in [f["path"] for f in files]
    n = counters(emu)
    assert (n["exchange_requests"], n["exchanges_granted"]) == (1, 1)


def test_github_actions_path_with_a_request_url_that_has_a_query(emulator, tmp_path):
    emu = emulator("--trusted-publisher", f"alice/m1 sub={SUB}", "--exchanged-token-lifetime", "3")
    env = dict(
        HF_OIDC_RESOURCE="alice/m1",
        GITHUB_ACTIONS="true",
        ACTIONS_ID_TOKEN_REQUEST_URL=f"{emu.url}/_actions/id-token?api-version=2.0",
        ACTIONS_ID_TOKEN_REQUEST_TOKEN=REQUEST_TOKEN,
    )
    out, _ = official(
        emu,
        tmp_path / "home",
        """
        import time
        first = get_token()
        me = whoami()
        # The exchanged token lives 3 s: the client mints and exchanges again once it expired.
        time.sleep(3.5)
        again = whoami()
        print(json.dumps({"token": first, "auth": me["auth"], "again": again["name"]}))
        """,
        **env,
    )
    assert out["token"].startswith("hf_jwt_")
    assert out["auth"]["accessToken"]["fineGrained"]["scoped"][0]["entity"]["name"] == "alice/m1"
    assert out["again"] == "alice"
    n = counters(emu)
    assert n["id_token_requests"] >= 2
    assert n["exchanges_granted"] >= 2
    assert n["exchanges_granted"] == n["exchange_requests"]
    # httpx added `audience` to the existing query; the emulator accepted it as its own URL.
    log = admin(emu, "/_emulator/requests")
    assert any(r["path"] == "/_actions/id-token" and r["status"] == 200 for r in log)


def test_mismatched_publisher_and_username_resource(emulator, tmp_path):
    emu = emulator(
        "--trusted-publisher", "alice/m1 sub=repo:acme/other:ref:refs/heads/main",
        "--trusted-publisher", f"alice sub={SUB}",
    )
    id_token = mint_id_token(emu)
    script = """
    from huggingface_hub.errors import HfHubHTTPError
    try:
        get_token()
        print(json.dumps({"status": 200}))
    except HfHubHTTPError as e:
        print(json.dumps({"status": e.response.status_code, "body": e.response.json()}))
    """
    out, _ = official(emu, tmp_path / "a", script, HF_OIDC_RESOURCE="alice/m1", HF_OIDC_ID_TOKEN=id_token)
    assert out["status"] == 400
    assert out["body"]["error"] == "invalid_grant"
    assert "alice/m1" in out["body"]["error_description"]
    assert "claim sub mismatch" in counters(emu)["last_refusal"]

    out, _ = official(
        emu,
        tmp_path / "b",
        """
        from huggingface_hub.errors import HfHubHTTPError
        token = get_token()
        me = whoami()
        try:
            HfApi().upload_file(path_or_fileobj=b"x", path_in_repo="x.bin", repo_id="alice/m1")
            status = 200
        except HfHubHTTPError as e:
            status = e.response.status_code
        print(json.dumps({"token": token, "auth": me["auth"], "write": status}))
        """,
        HF_OIDC_RESOURCE="alice",
        HF_OIDC_ID_TOKEN=id_token,
    )
    assert out["token"].startswith("hf_oauth_")
    assert out["auth"]["accessToken"]["fineGrained"]["global"] == ["gated-repos"]
    assert out["write"] == 403
