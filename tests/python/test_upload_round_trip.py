"""`preflight upload` and the official client agree in both directions.

1. The official client uploads a folder; `preflight upload` of the same folder then finds
   nothing to send and makes no commit (the oids agree).
2. `preflight upload` sends a folder with every kind of file; `snapshot_download` gets
   byte-identical files.
3. `--create-pr` opens a pull request the official client can see.

The official client runs in a fresh interpreter per call, because it reads HF_ENDPOINT once
at import time.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import hub_env, start_emulator

TOKEN = "hf_RoundTripWriteTokenAbcdefghijklmnopq"

OFFICIAL = r"""
import json, sys
from huggingface_hub import HfApi, snapshot_download
api = HfApi()
command, args = sys.argv[1], json.loads(sys.argv[2])
if command == "upload_folder":
    api.create_repo(args["repo"], exist_ok=True)
    info = api.upload_folder(folder_path=args["folder"], repo_id=args["repo"], commit_message="official")
    print(json.dumps({"oid": info.oid}))
elif command == "head":
    print(json.dumps({"sha": api.repo_info(args["repo"]).sha}))
elif command == "download":
    path = snapshot_download(args["repo"], revision=args.get("revision"), local_dir=args["dest"])
    print(json.dumps({"path": path}))
elif command == "refs":
    refs = api.list_repo_refs(args["repo"], include_pull_requests=True)
    print(json.dumps({"prs": [ref.ref for ref in refs.pull_requests]}))
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("round-trip")
    emulator = start_emulator(
        tmp,
        "--token", f"{TOKEN}=alice:write",
        "--regular-max-size", str(64 * 1024),
        "--lfs-multipart-threshold", str(256 * 1024),
        "--chunk-size", str(100 * 1024),
    )
    yield emulator
    emulator.stop()


def environment(tmp_path: Path, hub_url: str) -> dict:
    return hub_env(
        hub_url,
        tmp_path / "home",
        tmp_path / "hf-home",
        tmp_path / "auth.log",
        HF_TOKEN=TOKEN,
        PREFLIGHT_STATE_DIR=str(tmp_path / "state"),
        PREFLIGHT_TEST_NO_RETRY_DELAY="1",
    )


def official(env: dict, command: str, **args) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", OFFICIAL, command, json.dumps(args)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def preflight(preflight_bin: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([preflight_bin, *args], env=env, capture_output=True, text=True, timeout=120)
    log = Path(env["PREFLIGHT_AUTH_LOG"])
    assert log.exists(), "the auth log was written"
    for stream in (result.stdout, result.stderr, log.read_text()):
        assert TOKEN not in stream
    return result


def make_folder(root: Path) -> dict:
    files = {
        "README.md": b"---\nlicense: mit\ntags:\n- dit\n---\n# Checkpoints\n",
        "config.json": b'{"hidden": 1152}\n',
        "empty.txt": b"",
        "notes/tést-日本.txt": "non-ASCII name\n".encode(),
        "nested/deeper/small.txt": b"nested\n" * 10,
        "just-over-threshold.dat": bytes((i * 13) % 256 for i in range(64 * 1024 + 1)),
        "multipart.safetensors": bytes((i * 7) % 251 for i in range(350 * 1024)),
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_official_upload_then_preflight_finds_nothing_to_send(hub, tmp_path, preflight_bin):
    env = environment(tmp_path, hub.url)
    folder = tmp_path / "folder"
    make_folder(folder)
    official(env, "upload_folder", repo="alice/from-official", folder=str(folder))
    head = official(env, "head", repo="alice/from-official")["sha"]

    result = preflight(preflight_bin, env, "upload", str(folder), "--repo", "alice/from-official")
    assert result.returncode == 0, result.stderr
    assert "nothing to upload" in result.stderr
    assert official(env, "head", repo="alice/from-official")["sha"] == head, "no new commit"


def test_preflight_upload_downloads_byte_identical(hub, tmp_path, preflight_bin):
    env = environment(tmp_path, hub.url)
    folder = tmp_path / "folder"
    files = make_folder(folder)
    result = preflight(preflight_bin, env, "upload", str(folder), "--repo", "alice/from-preflight", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert events[-1]["event"] == "result" and "/commit/" in events[-1]["commit_url"]
    assert any(event["event"] == "file_done" for event in events)

    dest = tmp_path / "download"
    official(env, "download", repo="alice/from-preflight", dest=str(dest))
    for name, data in files.items():
        assert (dest / name).read_bytes() == data, name


def test_create_pr_is_visible_to_the_official_client(hub, tmp_path, preflight_bin):
    env = environment(tmp_path, hub.url)
    folder = tmp_path / "folder"
    files = make_folder(folder)
    first = preflight(preflight_bin, env, "upload", str(folder), "--repo", "alice/with-pr")
    assert first.returncode == 0, first.stderr
    (folder / "config.json").write_bytes(b'{"hidden": 2048}\n')
    result = preflight(preflight_bin, env, "upload", str(folder), "--repo", "alice/with-pr", "--create-pr")
    assert result.returncode == 0, result.stderr
    assert "/discussions/" in result.stdout
    prs = official(env, "refs", repo="alice/with-pr")["prs"]
    assert prs == ["refs/pr/1"]
    dest = tmp_path / "pr-download"
    official(env, "download", repo="alice/with-pr", revision="refs/pr/1", dest=str(dest))
    assert (dest / "config.json").read_bytes() == b'{"hidden": 2048}\n'
    assert (dest / "README.md").read_bytes() == files["README.md"]
