"""`preflight check hf --json` picks the token `huggingface_hub.get_token()` (2.4.0) picks.

The matrix is generated: every combination of HF_TOKEN and HUGGING_FACE_HUB_TOKEN (unset,
empty, whitespace, newline, a token), crossed with a sample of token-file states (none,
plain, padded with spaces and CRLF) and HF_TOKEN_PATH (unset, pointing at the file, pointing
at nothing). For each case the official client runs in a fresh interpreter with exactly that
environment and its answer is compared with Preflight's `source` and `masked_token`. No
network decides anything here: the Hub emulator only answers whoami.
"""

import itertools
import json
import os
import subprocess
import sys

import pytest

from conftest import hub_env, start_emulator

# Token values the log's `hf_` + 20 alnum regex would not catch, one per source, so a mix-up
# between sources shows in the masked form (last four characters).
ENV_TOKEN = "hf_Env-Parity.Token-ABCD"
LEGACY_TOKEN = "hf_Legacy-Parity.Token-EFGH"
FILE_TOKEN = "hf_File-Parity.Token-IJKL"
OTHER_FILE_TOKEN = "hf_PathFile-Parity.Token-MNOP"

VARIABLE_VALUES = {
    "unset": None,
    "empty": "",
    "whitespace": "  \t ",
    "newline": "\n",
    "token": None,  # filled per variable
}
FILE_STATES = {
    "none": None,
    "plain": FILE_TOKEN,
    "padded": f"  {FILE_TOKEN}  \r\n",
}
TOKEN_PATHS = ["unset", "to-file", "to-nothing"]

OFFICIAL = """
import json
from huggingface_hub import get_token
print(json.dumps({"token": get_token()}))
"""


def mask(token):
    """Secret::masked / mask_token: known prefix + last four, `****` when short."""
    if token is None:
        return None
    if not token.isascii() or len(token) < 12:
        return "****"
    prefix = next(
        (p for p in ["hf_oauth_", "api_org_", "hf_", "ak-", "as-", "wk-", "ws-"] if token.startswith(p)), ""
    )
    return f"{prefix}…{token[-4:]}"


def cases():
    """Every (HF_TOKEN, HUGGING_FACE_HUB_TOKEN) pair, each twice with a rotating (token file,
    HF_TOKEN_PATH) state, plus every file state with both variables unset."""
    generated = []
    files = list(FILE_STATES)
    pairs = list(itertools.product(VARIABLE_VALUES, VARIABLE_VALUES))
    for index, (hf, legacy) in enumerate(pairs):
        for step in (index, index + 4):
            generated.append((hf, legacy, files[step % 3], TOKEN_PATHS[(step // 3) % 3]))
    for file_state, token_path in itertools.product(FILE_STATES, TOKEN_PATHS):
        case = ("unset", "unset", file_state, token_path)
        if case not in generated:
            generated.append(case)
    return generated


CASES = cases()


def test_matrix_is_large_enough():
    assert len(CASES) >= 40
    assert len(set(CASES)) == len(CASES)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    emulator = start_emulator(
        tmp_path_factory.mktemp("parity"),
        *[arg for token in [ENV_TOKEN, LEGACY_TOKEN, FILE_TOKEN, OTHER_FILE_TOKEN] for arg in ("--token", f"{token}=alice:write")],
    )
    yield emulator
    emulator.stop()


def build_env(tmp_path, hub_url, hf, legacy, file_state, token_path):
    home = tmp_path / "home"
    hf_home = home / "hf-home"
    hf_home.mkdir(parents=True, exist_ok=True)
    env = hub_env(hub_url, home, hf_home, tmp_path / "auth.log", PREFLIGHT_RETRY_MAX_ATTEMPTS="1")
    for name, choice, token in [("HF_TOKEN", hf, ENV_TOKEN), ("HUGGING_FACE_HUB_TOKEN", legacy, LEGACY_TOKEN)]:
        if choice == "token":
            env[name] = token
        elif VARIABLE_VALUES[choice] is not None:
            env[name] = VARIABLE_VALUES[choice]
    default_file = hf_home / "token"
    other_file = home / "elsewhere" / "token"
    content = FILE_STATES[file_state]
    if token_path == "to-file":
        env["HF_TOKEN_PATH"] = str(other_file)
        other_file.parent.mkdir(parents=True, exist_ok=True)
        # The default file holds another token: it must be ignored when HF_TOKEN_PATH is set.
        default_file.write_text(OTHER_FILE_TOKEN)
        if content is not None:
            other_file.write_bytes(content.replace(FILE_TOKEN, OTHER_FILE_TOKEN).encode())
    else:
        if token_path == "to-nothing":
            env["HF_TOKEN_PATH"] = str(home / "missing" / "token")
        if content is not None:
            default_file.write_bytes(content.encode())
    return env


@pytest.mark.parametrize("hf,legacy,file_state,token_path", CASES)
def test_preflight_picks_what_get_token_picks(tmp_path, hub, preflight_bin, hf, legacy, file_state, token_path):
    env = build_env(tmp_path, hub.url, hf, legacy, file_state, token_path)
    official = subprocess.run(
        [sys.executable, "-c", OFFICIAL], env=env, capture_output=True, text=True, timeout=60
    )
    assert official.returncode == 0, official.stderr
    expected = json.loads(official.stdout)["token"]

    checked = subprocess.run(
        [preflight_bin, "check", "hf", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    document = json.loads(checked.stdout)
    result = document["results"][0]

    if expected is None:
        assert result["status"] == "MISSING", result
        assert result["masked_token"] is None
    else:
        assert result["masked_token"] == mask(expected), (result, mask(expected))
        assert result["status"] == "VALID", result
        source = result["source"]
        if expected == ENV_TOKEN:
            assert source == "env:HF_TOKEN"
        elif expected == LEGACY_TOKEN:
            assert source == "env:HUGGING_FACE_HUB_TOKEN"
        else:
            wanted = env.get("HF_TOKEN_PATH", os.path.join(env["HF_HOME"], "token"))
            assert source == f"file:{wanted}", source
    for token in [ENV_TOKEN, LEGACY_TOKEN, FILE_TOKEN, OTHER_FILE_TOKEN]:
        assert token not in checked.stdout
        assert token not in checked.stderr
        log = tmp_path / "auth.log"
        if log.exists():
            assert token not in log.read_text()
