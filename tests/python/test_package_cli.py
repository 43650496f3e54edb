"""The `preflight` command that `pip install` puts next to the interpreter: the Rust CLI run
in-process (python/preflight/_cli.py), which must behave like the native binary."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import start_emulator

TOKEN = "hf_pkg-cli_alice-0123456789abcdefgh"
SCRIPT = Path(sys.executable).parent / "preflight"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    emulator = start_emulator(tmp_path_factory.mktemp("package-cli"), "--token", f"{TOKEN}=alice:write")
    yield emulator
    emulator.stop()


def env_for(tmp_path, hub=None, token=None):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf"),
           "PREFLIGHT_AUTH_LOG": str(tmp_path / "auth.log")}
    if hub is not None:
        env["HF_ENDPOINT"] = hub.url
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def test_script_is_installed_and_prints_the_version(tmp_path):
    assert SCRIPT.exists(), f"{SCRIPT} missing: the package is not installed in this venv"
    done = subprocess.run([str(SCRIPT), "--version"], env=env_for(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("preflight ")
    usage = subprocess.run([str(SCRIPT), "no-such-command"], env=env_for(tmp_path), capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "Usage" in usage.stderr


def test_check_json_and_exit_status_match_the_cli(hub, tmp_path):
    done = subprocess.run([str(SCRIPT), "check", "hf", "--json", "--repo", "alice/m", "--need", "write"],
                          env=env_for(tmp_path, hub, TOKEN), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["passed"] and document["results"][0]["status"] == "VALID"
    missing = subprocess.run([str(SCRIPT), "check", "hf"], env=env_for(tmp_path, hub), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 10 and "error[PF001]" in missing.stderr
    for text in (done.stdout, done.stderr, (tmp_path / "auth.log").read_text()):
        assert TOKEN not in text


def test_run_passes_the_status_through(tmp_path):
    done = subprocess.run([str(SCRIPT), "run", "--", "sh", "-c", "exit 3"], env=env_for(tmp_path), timeout=60)
    assert done.returncode == 3


CHILD = r"""
import signal, sys, time
seen = []
signal.signal(signal.SIGINT, lambda *_: seen.append(1))
print("ready", flush=True)
deadline = time.time() + 20
while not seen and time.time() < deadline:
    time.sleep(0.05)
time.sleep(0.5)
open(sys.argv[1], "w").write(str(len(seen)))
"""


def test_ctrl_c_reaches_the_job_once_and_exits_130(tmp_path):
    """Python's KeyboardInterrupt handler is out of the way: the Rust launcher alone gets
    SIGINT and forwards it once, as the native binary does."""
    count = tmp_path / "count"
    process = subprocess.Popen([str(SCRIPT), "run", "--", sys.executable, "-c", CHILD, str(count)],
                               env=env_for(tmp_path), stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert count.read_text() == "1"


DOC_TOKEN = "hf_pkg-doc_alice-acme-0123456789abcd"
PACKAGE_BLOCK = 'skip="needs the package installed in the venv'


def agents_md_python_commands():
    lines = (Path(__file__).resolve().parents[2] / "AGENTS.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("```console") and PACKAGE_BLOCK in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
    return [line for line in lines[start + 1:end] if line.strip() and not line.startswith("#")]


def test_agents_md_python_commands_run_as_documented(tmp_path_factory):
    """AGENTS.md's Python block is skipped by the Rust doc test (it needs this venv); here it
    runs with this venv first on PATH, against an emulator where alice is in acme."""
    commands = agents_md_python_commands()
    assert any("from preflight import AuthValidator" in command for command in commands)
    emulator = start_emulator(tmp_path_factory.mktemp("doc-hub"), "--token", f"{DOC_TOKEN}=alice+acme:write")
    try:
        for index, command in enumerate(commands):
            work = tmp_path_factory.mktemp(f"doc-{index}")
            expected = 0
            if "# exit: " in command:
                expected = int(command.rsplit("# exit: ", 1)[1].split()[0])
            env = env_for(work, emulator, DOC_TOKEN)
            env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
            done = subprocess.run(["sh", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == expected, f"{command}\n{done.stdout}\n{done.stderr}"
            for text in (done.stdout, done.stderr):
                assert DOC_TOKEN not in text
    finally:
        emulator.stop()
