"""Shared fixtures: the binaries built by scripts/test.sh and a running Hub emulator."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def coverage_env() -> dict:
    """What an instrumented `preflight` needs to record coverage (`LLVM_PROFILE_FILE`), for
    tests that run it in a cleared environment; empty outside the coverage run."""
    return {key: os.environ[key] for key in ("LLVM_PROFILE_FILE",) if key in os.environ}


def binary(env_var: str, name: str) -> str:
    path = os.environ.get(env_var) or str(ROOT / "target" / "debug" / name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{name} not built at {path}; run scripts/test.sh (or set {env_var})")
    return path


class Emulator:
    def __init__(self, process: subprocess.Popen, url: str):
        self.process = process
        self.url = url


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
