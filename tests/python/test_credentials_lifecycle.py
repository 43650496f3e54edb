"""Credentials as people hold them now, end to end against the hub-emulator:

- an expired OAuth login in the token file is refreshed exactly as the official client does
  it (and the official client then uses the new token without refreshing again); a revoked
  refresh token is EXPIRED with `hf auth login`; two `preflight check` and one official
  `whoami()` started at once refresh exactly once;
- Trusted Publishers: `HF_OIDC_ID_TOKEN` and the GitHub Actions path (a request URL that
  already has a query), the missing `id-token: write`, a publisher that does not match, a
  username resource;
- an upload that outlives 3-second exchanged tokens lands byte-identical.

Every case searches stdout, stderr, the auth log and the step summary for every secret it
used or obtained (`::add-mask::` lines excepted: GitHub needs the value there).
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import (
    ACCESS,
    REFRESH,
    REQUEST_TOKEN,
    SUB,
    WRITE,
    admin,
    hub_env,
    mint_id_token,
    oauth_counters,
    read_login,
    write_login,
)


def base_env(tmp_path, emu):
    home = tmp_path / "home"
    hf_home = home / "hf-home"
    hf_home.mkdir(parents=True, exist_ok=True)
    return hub_env(emu.url, home, hf_home, tmp_path / "auth.log", PREFLIGHT_NO_PROGRESS="1")


def store_login(env):
    """alice's expired OAuth login (`ACCESS`, `REFRESH`) under the HF_HOME of `env`."""
    write_login(Path(env["HF_HOME"]))


def login_of(env):
    """The stored login under the HF_HOME of `env` and the token file."""
    return read_login(Path(env["HF_HOME"]))


def assert_no_secret(tmp_path, secrets, *texts):
    """No secret in any text, the auth log or the step summary; nor any token the Hub issued."""
    corpus = list(texts)
    for name in ("auth.log", "summary.md"):
        path = tmp_path / name
        if path.exists():
            corpus.append(path.read_text())
    for text in corpus:
        visible = "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))
        for secret in secrets:
            assert secret not in visible, f"secret {secret[:6]}… leaked"
        # The masked form `hf_jwt_…abcd` is fine; anything else after the prefix is a token.
        assert not re.search(r"hf_jwt_[^…\s]", visible), "an exchanged token leaked"
        assert not re.search(r"hf_oauth_[^…\s]", visible), "an OAuth access token leaked"


def check(preflight_bin, env, *args):
    return subprocess.run(
        [preflight_bin, "check", "hf", "--json", *args], env=env, capture_output=True, text=True, timeout=120
    )


OFFICIAL_WHOAMI = """
import json
from huggingface_hub import whoami
print(json.dumps({"name": whoami()["name"]}))
"""


def test_expired_oauth_login_is_refreshed_as_the_official_client_does(tmp_path, emulator, preflight_bin):
    emu = emulator("--oauth-login", f"{ACCESS}=alice:write refresh={REFRESH} expires_in=-60")
    env = base_env(tmp_path, emu)
    store_login(env)

    done = check(preflight_bin, env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["results"][0]
    assert result["status"] == "VALID"
    assert result["details"]["refreshed"] == "true"
    assert "(refreshed)" in result["message"]

    fields, token_file = login_of(env)
    new_access, new_refresh = fields["hf_token"], fields["refresh_token"]
    assert new_access != ACCESS and token_file == new_access
    assert new_refresh != REFRESH, "the rotated refresh token is stored"
    assert int(fields["expires_at"]) > time.time() + 24 * 3600
    mode = os.stat(Path(env["HF_HOME"]) / "stored_tokens").st_mode & 0o777
    assert mode == 0o600
    assert oauth_counters(emu)["refresh_requests"] == 1
    log = (tmp_path / "auth.log").read_text()
    assert '"event":"token_refreshed"' in log

    # The official client takes the refreshed login as it is: no second refresh.
    official = subprocess.run([sys.executable, "-c", OFFICIAL_WHOAMI], env=env, capture_output=True, text=True, timeout=60)
    assert official.returncode == 0, official.stderr
    assert json.loads(official.stdout)["name"] == "alice"
    assert oauth_counters(emu)["refresh_requests"] == 1
    assert_no_secret(tmp_path, [ACCESS, REFRESH, new_access, new_refresh], done.stdout, done.stderr)


def test_revoked_refresh_token_is_expired_and_says_hf_auth_login(tmp_path, emulator, preflight_bin):
    emu = emulator("--oauth-login", f"{ACCESS}=alice:write refresh={REFRESH} expires_in=-60")
    admin(emu, "/_emulator/oauth/revoke", {"refresh_token": REFRESH})
    env = base_env(tmp_path, emu)
    store_login(env)
    before = login_of(env)

    done = check(preflight_bin, env)
    assert done.returncode == 12, done.stderr
    result = json.loads(done.stdout)["results"][0]
    assert (result["status"], result["code"]) == ("EXPIRED", "PF004")
    assert "hf auth login" in done.stderr
    assert login_of(env) == before, "nothing written"
    assert_no_secret(tmp_path, [ACCESS, REFRESH], done.stdout, done.stderr)


def test_no_refresh_reports_without_writing(tmp_path, emulator, preflight_bin):
    emu = emulator("--oauth-login", f"{ACCESS}=alice:write refresh={REFRESH} expires_in=-60")
    env = base_env(tmp_path, emu)
    store_login(env)
    before = login_of(env)
    done = check(preflight_bin, env, "--no-refresh")
    assert done.returncode == 12, done.stderr
    assert "--no-refresh" in json.loads(done.stdout)["results"][0]["message"]
    assert login_of(env) == before
    assert oauth_counters(emu)["refresh_requests"] == 0


def test_two_checks_and_the_official_client_at_once_refresh_once(tmp_path, emulator, preflight_bin):
    emu = emulator("--oauth-login", f"{ACCESS}=alice:write refresh={REFRESH} expires_in=-60")
    env = base_env(tmp_path, emu)
    store_login(env)
    processes = [
        subprocess.Popen([preflight_bin, "check", "hf", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([preflight_bin, "check", "hf", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([sys.executable, "-c", OFFICIAL_WHOAMI], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err
    for out, _ in outputs[:2]:
        assert json.loads(out)["results"][0]["status"] == "VALID"
    assert oauth_counters(emu)["refresh_requests"] == 1
    fields, token_file = login_of(env)
    assert token_file == fields["hf_token"] != ACCESS
    assert_no_secret(
        tmp_path, [ACCESS, REFRESH, fields["hf_token"], fields["refresh_token"]],
        *[text for pair in outputs[:2] for text in pair],
    )


def oidc_env(tmp_path, emu, resource="alice/m1"):
    env = base_env(tmp_path, emu)
    env["HF_OIDC_RESOURCE"] = resource
    env["HF_TOKEN"] = WRITE  # ignored, as by the official client
    return env


def github_env(tmp_path, emu, resource="alice/m1"):
    env = oidc_env(tmp_path, emu, resource)
    env.update({
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{emu.url}/_actions/id-token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    })
    return env


def resolve(emu, path, repo="alice/m1"):
    with urllib.request.urlopen(f"{emu.url}/{repo}/resolve/main/{path}", timeout=30) as answer:
        return answer.read()


def test_keyless_with_a_pre_minted_id_token_checks_and_uploads(tmp_path, emulator, preflight_bin):
    emu = emulator("--trusted-publisher", f"alice/m1 sub={SUB}")
    id_token = mint_id_token(emu)
    env = oidc_env(tmp_path, emu)
    env["HF_OIDC_ID_TOKEN"] = id_token

    done = check(preflight_bin, env, "--repo", "alice/m1", "--need", "write")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["results"][0]
    assert result["source"] == "oidc:HF_OIDC_ID_TOKEN"
    assert "(exchanged)" in result["message"]

    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text('{"step": 1}')
    upload = subprocess.run(
        [preflight_bin, "upload", str(folder), "--repo", "alice/m1", "-m", "keyless"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert upload.returncode == 0, upload.stderr
    assert resolve(emu, "config.json") == b'{"step": 1}'
    assert_no_secret(tmp_path, [id_token, WRITE], done.stdout, done.stderr, upload.stdout, upload.stderr)


def test_keyless_on_github_actions_with_a_query_in_the_request_url(tmp_path, emulator, preflight_bin):
    emu = emulator("--trusted-publisher", f"alice/m1 sub={SUB}")
    env = github_env(tmp_path, emu)
    done = check(preflight_bin, env, "--repo", "alice/m1", "--need", "write")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    document = json.loads("\n".join(line for line in lines if not line.startswith("::")))
    assert document["results"][0]["source"] == "oidc:github"
    masks = [line for line in lines if line.startswith("::add-mask::")]
    assert any(REQUEST_TOKEN in line for line in masks)
    assert any("hf_jwt_" in line for line in masks), "the exchanged token is masked before use"
    assert lines[0].startswith("::add-mask::"), "masks come before anything else"
    counters = oauth_counters(emu)
    assert counters["id_token_requests"] == 1 and counters["exchanges_granted"] == 1
    assert_no_secret(tmp_path, [REQUEST_TOKEN, WRITE], done.stdout, done.stderr)


def test_without_the_id_token_permission_the_error_names_it(tmp_path, emulator, preflight_bin):
    emu = emulator()
    env = github_env(tmp_path, emu)
    del env["ACTIONS_ID_TOKEN_REQUEST_URL"]
    del env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
    done = check(preflight_bin, env, "--repo", "alice/m1")
    assert done.returncode == 10, done.stderr
    assert "id-token: write" in done.stderr
    assert "PF010" in done.stderr


def test_a_publisher_that_does_not_match_is_refused_with_its_own_code(tmp_path, emulator, preflight_bin):
    emu = emulator("--trusted-publisher", "alice/other sub=repo:someone/else:ref:refs/heads/main")
    env = github_env(tmp_path, emu, resource="alice/other")
    done = check(preflight_bin, env, "--repo", "alice/other")
    assert done.returncode == 11, done.stderr
    assert "PF011" in done.stderr and "alice/other" in done.stderr
    assert "Trusted Publishers" in done.stderr
    assert_no_secret(tmp_path, [REQUEST_TOKEN, WRITE], done.stdout, done.stderr)


def test_a_username_resource_is_read_only(tmp_path, emulator, preflight_bin):
    emu = emulator("--trusted-publisher", f"alice sub={SUB}")
    env = github_env(tmp_path, emu, resource="alice")
    done = check(preflight_bin, env, "--repo", "alice/m1", "--need", "write")
    assert done.returncode == 13, done.stderr
    assert "PF012" in done.stderr
    assert_no_secret(tmp_path, [REQUEST_TOKEN, WRITE], done.stdout, done.stderr)


def test_an_upload_outliving_three_second_tokens_lands_byte_identical(tmp_path, emulator, preflight_bin):
    # Every request to the Hub waits 1.5 s, so the upload takes far longer than one token
    # lives: tokens are renewed before they expire, and a request that arrives with an
    # expired one gets a 401, a fresh token and one resend.
    emu = emulator(
        "--trusted-publisher", f"alice/m1 sub={SUB}",
        "--exchanged-token-lifetime", "3",
        "--fault", "* prefix:/api/ delay=1500ms",
    )
    env = github_env(tmp_path, emu)
    folder = tmp_path / "ckpt"
    folder.mkdir()
    payload = {}
    for index in range(4):
        data = os.urandom(2048 * (index + 1))
        (folder / f"shard-{index}.bin").write_bytes(data)
        payload[f"shard-{index}.bin"] = data
    (folder / "config.json").write_text('{"step": 3}')
    payload["config.json"] = b'{"step": 3}'

    started = time.monotonic()
    upload = subprocess.run(
        [preflight_bin, "upload", str(folder), "--repo", "alice/m1", "-m", "long", "--concurrency", "1"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    elapsed = time.monotonic() - started
    assert upload.returncode == 0, upload.stderr
    assert elapsed > 10, f"the scenario needs an upload longer than 10 s, took {elapsed:.1f}"
    for path, data in payload.items():
        assert resolve(emu, path) == data, path
    counters = oauth_counters(emu)
    assert counters["exchanges_granted"] >= 3, counters
    log = (tmp_path / "auth.log").read_text()
    assert '"event":"token_renewed"' in log
    assert_no_secret(tmp_path, [REQUEST_TOKEN, WRITE], upload.stdout, upload.stderr)


def test_an_expiring_pre_minted_id_token_stops_with_pf220_and_stays_resumable(tmp_path, emulator, preflight_bin):
    # A pre-minted id token can be exchanged only while it lives: once the exchanged token
    # expires mid-upload, nothing can replace it.
    emu = emulator(
        "--trusted-publisher", f"alice/m1 sub={SUB}",
        "--exchanged-token-lifetime", "3",
        "--fault", "* prefix:/api/ delay=1500ms",
    )
    id_token = mint_id_token(emu, lifetime_secs=2)
    env = oidc_env(tmp_path, emu)
    env["HF_OIDC_ID_TOKEN"] = id_token
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for index in range(4):
        (folder / f"shard-{index}.bin").write_bytes(os.urandom(1024))
    upload = subprocess.run(
        [preflight_bin, "upload", str(folder), "--repo", "alice/m1", "--concurrency", "1"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert upload.returncode == 20, upload.stderr
    assert "PF220" in upload.stderr
    assert "run the same command again to resume" in upload.stderr
    assert_no_secret(tmp_path, [id_token, WRITE], upload.stdout, upload.stderr)


def test_an_oauth_login_is_refreshed_again_during_a_long_upload(tmp_path, emulator, preflight_bin):
    # Refreshed access tokens live 3 s: the upload refreshes the login (under the official
    # lock, rotating the refresh token and rewriting both files) as it goes.
    emu = emulator(
        "--oauth-login", f"{ACCESS}=alice:write refresh={REFRESH} expires_in=-60 lifetime=3",
        "--fault", "* prefix:/api/ delay=1500ms",
    )
    env = base_env(tmp_path, emu)
    store_login(env)
    folder = tmp_path / "ckpt"
    folder.mkdir()
    payload = {f"part-{index}.bin": os.urandom(1024 * (index + 1)) for index in range(4)}
    for name, data in payload.items():
        (folder / name).write_bytes(data)
    upload = subprocess.run(
        [preflight_bin, "upload", str(folder), "--repo", "alice/m1", "--concurrency", "1"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert upload.returncode == 0, upload.stderr
    for name, data in payload.items():
        assert resolve(emu, name) == data, name
    counters = oauth_counters(emu)
    assert counters["refresh_requests"] >= 2 and counters["refresh_requests"] == counters["refreshes_granted"], counters
    fields, token_file = login_of(env)
    assert token_file == fields["hf_token"] != ACCESS
    assert_no_secret(
        tmp_path, [ACCESS, REFRESH, fields["hf_token"], fields["refresh_token"]], upload.stdout, upload.stderr
    )
