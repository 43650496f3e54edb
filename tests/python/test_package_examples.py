"""The plan's scripts as examples that run: examples/upload_to_huggingface.py against the Hub
emulator (checked with the official client), and examples/modal/train_dit.py imported, its
pre-flight helpers run against the emulator."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, start_emulator
from package_support import isolated_env, read_log  # noqa: F401

WRITE = "hf_pkg-example_alice-0123456789abcd"
READ = "hf_pkg-example-read_alice-0123456789"

OFFICIAL_FILES = """
import json, sys
from huggingface_hub import HfApi
print(json.dumps(HfApi().list_repo_files(sys.argv[1])))
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    emulator = start_emulator(
        tmp_path_factory.mktemp("package-examples"),
        "--token", f"{WRITE}=alice:write",
        "--token", f"{READ}=alice:read",
    )
    yield emulator
    emulator.stop()


def run_example(tmp_path, hub, token, *args):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": token,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples/upload_to_huggingface.py"), *args],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    log = tmp_path / "logs" / "auth.log"
    for text in (done.stdout, done.stderr, log.read_text() if log.exists() else ""):
        assert token not in text
    return done, env


def test_upload_example_uploads_after_the_preflight(hub, tmp_path):
    folder = tmp_path / "ckpt"
    (folder / "shards").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden": 1152}')
    (folder / "shards" / "model-00.bin").write_bytes(os.urandom(300_000))
    done, env = run_example(tmp_path, hub, WRITE, str(folder), "--repo", "alice/dit-example", "-m", "step 1")
    assert done.returncode == 0, done.stderr
    assert "pre-flight passed" in done.stderr
    assert done.stdout.strip().startswith(hub.url)

    files = subprocess.run([sys.executable, "-c", OFFICIAL_FILES, "alice/dit-example"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert sorted(json.loads(files.stdout)) == [".gitattributes", "config.json", "shards/model-00.bin"] or \
        {"config.json", "shards/model-00.bin"} <= set(json.loads(files.stdout))

    events = [line["event"] for line in read_log(tmp_path / "logs" / "auth.log")]
    assert events.count("token_validated") == 1
    assert "upload_started" in events and "upload_complete" in events


def test_upload_example_stops_before_sending_when_the_token_may_not_write(hub, tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    done, env = run_example(tmp_path, hub, READ, str(folder), "--repo", "alice/never-created")
    assert done.returncode == 13, done.stderr
    assert "error[PF005]" in done.stderr
    events = [line["event"] for line in read_log(tmp_path / "logs" / "auth.log")]
    assert "preflight_failed" in events and "upload_started" not in events


def load_train_dit():
    spec = importlib.util.spec_from_file_location("train_dit", ROOT / "examples/modal/train_dit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_dit_imports_and_its_container_check_uses_the_package(hub, isolated_env):
    train_dit = load_train_dit()
    assert train_dit.app.name == "train-dit"

    isolated_env.setenv("HF_ENDPOINT", hub.url)
    isolated_env.setenv("HF_TOKEN", WRITE)
    train_dit.preflight_hf("alice/dit-xl")  # allowed: no exception

    isolated_env.setenv("HF_TOKEN", READ)
    with pytest.raises(train_dit.PreflightFailed) as raised:
        train_dit.preflight_hf("alice/dit-xl")
    assert raised.value.code == "PF005"
    assert READ not in str(raised.value)

    isolated_env.setenv("PATH", "/nonexistent")
    with pytest.raises(train_dit.PreflightFailed) as missing:
        train_dit.preflight_modal()
    assert missing.value.code == "PF101"
