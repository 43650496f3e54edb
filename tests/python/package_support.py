"""Helpers for the tests of the Python package `preflight` (tests/python/test_package_*.py).

The package runs in the pytest process itself, reading `os.environ`; `isolated_env` clears
every credential variable and points HOME and the HF/Modal config at a temporary directory,
so a developer's own tokens can never reach these tests.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CLEARED_PREFIXES = ("HF_", "HUGGING_FACE_", "MODAL_", "PREFLIGHT_", "GITHUB_")
# Where scripts/test.sh says the binaries under test are: kept.
KEPT = ("PREFLIGHT_BIN", "PREFLIGHT_TEST_PYTHON", "PREFLIGHT_TEST_MODAL_CLI")


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    for key in list(os.environ):
        if (key.startswith(CLEARED_PREFIXES) and key not in KEPT) or key in ("XDG_CACHE_HOME", "CI"):
            monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(home / ".modal.toml"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("PREFLIGHT_TEST_NO_RETRY_DELAY", "1")
    return monkeypatch


def modal_cli() -> str:
    path = os.environ.get("PREFLIGHT_TEST_MODAL_CLI") or str(Path(sys.executable).parent / "modal")
    if not os.access(path, os.X_OK):
        pytest.fail(f"the modal CLI is not at {path}; run scripts/test.sh (or set PREFLIGHT_TEST_MODAL_CLI)")
    return path


class FakeModal:
    def __init__(self, tmp_path: Path, *tokens: str):
        args = [sys.executable, str(ROOT / "tools/fake-modal/fake_modal.py"), "--port", "0"]
        for token in tokens:
            args += ["--token", token]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        line = self.process.stdout.readline().strip()
        prefix = "fake-modal listening on "
        if not line.startswith(prefix):
            self.process.kill()
            pytest.fail(f"fake-modal did not start: {line!r}")
        self.url = line[len(prefix):]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def read_log(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]
