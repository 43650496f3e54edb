"""Shared fixtures: the binaries built by scripts/test.sh, a running Hub emulator, its admin
routes, and the OAuth login files of the official client."""

import configparser
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Fixture credentials, shaped so that no redaction pattern catches them (as the Rust fixtures
# of crates/preflight-test-support): only registration can keep them out of any output.
WRITE = "hf_alice-write.7Qm2Zq81x7Kp3Lm2"  # a classic write token of alice (org acme)
ACCESS = "oauth.alice-expired-access-1"  # alice's OAuth access token, expired
REFRESH = "oauth.alice-refresh-token-1"  # its refresh token
REQUEST_TOKEN = "gh.alice-request-token-1"  # the GitHub Actions id-token request token
SUB = "repo:acme/train:ref:refs/heads/main"  # the `sub` claim of the emulator's id tokens


def coverage_env() -> dict:
    """What an instrumented `preflight` needs to record coverage (`LLVM_PROFILE_FILE`), for
    tests that run it in a cleared environment; empty outside the coverage run."""
    return {key: os.environ[key] for key in ("LLVM_PROFILE_FILE",) if key in os.environ}


def hub_env(endpoint: str, home: Path, hf_home: Path, auth_log: Path, **extra: str) -> dict:
    """A cleared environment for `preflight` (and the official client) against the emulator at
    `endpoint`: PATH, `coverage_env()`, HOME, HF_HOME, no Xet and no telemetry, the auth log
    at `auth_log`; then `extra`. No credential: each test adds its own."""
    return {
        "PATH": os.environ["PATH"],
        **coverage_env(),
        "HOME": str(home),
        "HF_HOME": str(hf_home),
        "HF_ENDPOINT": endpoint,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "PREFLIGHT_AUTH_LOG": str(auth_log),
        **extra,
    }


def binary(env_var: str, name: str) -> str:
    path = os.environ.get(env_var) or str(ROOT / "target" / "debug" / name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{name} not built at {path}; run scripts/test.sh (or set {env_var})")
    return path


class Emulator:
    def __init__(self, process: subprocess.Popen, url: str):
        self.process = process
        self.url = url

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_emulator(tmp_path: Path, *extra_args: str) -> Emulator:
    args = [
        binary("HUB_EMULATOR_BIN", "hub-emulator"),
        "--addr",
        "127.0.0.1:0",
        "--data",
        str(tmp_path / "hub-data"),
        *extra_args,
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    line = process.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        process.kill()
        pytest.fail(f"hub-emulator did not start: {line!r}")
    return Emulator(process, match.group(1))


@pytest.fixture
def preflight_bin() -> str:
    return binary("PREFLIGHT_BIN", "preflight")


@pytest.fixture
def emulator(tmp_path):
    """Starts emulators (`emulator(*extra_args)`) knowing `WRITE` and `REQUEST_TOKEN`, with the
    repos alice/m1 and alice/other; all are killed when the test ends."""
    started = []

    def start(*args):
        emu = start_emulator(
            tmp_path,
            "--token", f"{WRITE}=alice+acme:write",
            "--actions-request-token", REQUEST_TOKEN,
            *args,
        )
        started.append(emu)
        for repo in ("m1", "other"):
            admin(emu, "/api/repos/create", {"name": repo, "organization": "alice"}, token=WRITE)
        return emu

    yield start
    for emu in started:
        emu.process.kill()
        emu.process.wait()


def admin(emu, path, body=None, token=None, method=None):
    """A JSON request to the emulator (its `/_emulator/...` routes or the Hub API); the
    decoded answer, or None for an empty one."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(emu.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read()
        return json.loads(text) if text else None


def oauth_counters(emu) -> dict:
    """The emulator's OAuth and Trusted Publishers counters (refreshes, exchanges, ...)."""
    return admin(emu, "/_emulator/oauth")


def mint_id_token(emu, **body) -> str:
    """A GitHub Actions id token minted by the emulator (`lifetime_secs`, claims, ...)."""
    return admin(emu, "/_emulator/oidc/id-token", body)["value"]


def write_login(hf_home: Path, access=ACCESS, refresh=REFRESH, expires_at=None) -> None:
    """An OAuth login as `hf auth login` stores it under `hf_home`: the token file and the
    `[oauth-alice]` entry of `stored_tokens`, expired a minute ago unless `expires_at`."""
    hf_home.mkdir(parents=True, exist_ok=True)
    (hf_home / "token").write_text(access)
    config = configparser.ConfigParser(interpolation=None)
    config["oauth-alice"] = {
        "hf_token": access,
        "refresh_token": refresh,
        "expires_at": str(expires_at if expires_at is not None else int(time.time()) - 60),
    }
    with open(hf_home / "stored_tokens", "w") as handle:
        config.write(handle)


def read_login(hf_home: Path):
    """The `[oauth-alice]` entry of `stored_tokens` under `hf_home`, and the token file."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(hf_home / "stored_tokens")
    return dict(config["oauth-alice"]), (hf_home / "token").read_text()
