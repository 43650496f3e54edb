#!/usr/bin/env python3
"""Preflight against the tools people use today (issue 9).

    python3 benchmarks/run.py            # full sizes; ~15 min on 2 cores, plus the build
    python3 benchmarks/run.py --quick    # small sizes, few runs; a few minutes

What it does, in order:

1. creates ``benchmarks/.venv`` from ``benchmarks/requirements.txt`` (the pinned peers
   ``huggingface_hub`` and ``modal``, plus matplotlib) and re-runs itself inside it;
2. builds the release binaries (``cargo build --release -p preflight-cli -p hub-emulator``,
   into ``$CARGO_TARGET_DIR`` or ``target/``);
3. writes the data under ``--data-dir`` (default ``/tmp/preflight-bench``): one 2 GiB file,
   8 files of 128 MiB, 2,000 text files of 4 KiB (random content, kept between runs);
4. runs every scenario, alternating the tools run by run (A, B, A, B, ...), each run a fresh
   process measured under GNU ``time`` (wall time, user + system CPU, peak RSS of the process
   and of the children it waited for);
5. writes ``benchmarks/results.json`` (raw numbers), ``docs/benchmarks.md`` (tables with
   medians, min-max and ratios) and ``docs/benchmarks-upload.png`` (upload time vs size).

Every upload run gets its own freshly started ``hub-emulator`` whose data lives on tmpfs
(``/dev/shm`` when it exists), so the server never already holds an object and its disk is not
what is measured. Both tools get the same server, the LFS protocol (``HF_HUB_DISABLE_XET=1``
for ``hf``), no progress bars, and no telemetry or update checks. ``--only`` runs some scenarios
and merges them into the existing ``results.json``; ``--render`` only re-renders the report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
VENV = BENCH / ".venv"
REQUIREMENTS = BENCH / "requirements.txt"
RESULTS = BENCH / "results.json"
REPORT = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks-upload.png"
# Hand-written analysis, appended to the generated report.
FINDINGS = BENCH / "findings.md"

MiB = 1024 * 1024
GiB = 1024 * MiB

# Credentials the local servers accept. Not secrets: they only exist inside the emulators.
HF_USER = "benchuser"
HF_VALID = "hf_benchmarkvalidtoken000000000000001"
HF_REVOKED = "hf_benchmarkrevokedtoken0000000000002"
MODAL_ID = "ak-benchtoken000000000"
MODAL_SECRET = "as-benchsecret00000000"

# The LFS transfer settings the emulator is started with (both tools get the same server).
# The Hub decides these per object; these values exercise both transfers: objects above
# 256 MiB go multipart in 64 MiB parts (the 2 GiB file: 32 parts), smaller ones one basic PUT.
MULTIPART_THRESHOLD = 256 * MiB
CHUNK_SIZE = 64 * MiB

FULL = {
    "big": {"files": 1, "size": 2 * GiB},
    "eight": {"files": 8, "size": 128 * MiB},
    "small": {"files": 2000, "size": 4096},
    # Issue 14: many LFS objects (binary, so preupload says `lfs`), and a very large tree.
    "lfs2k": {"files": 2000, "size": 2048},
    "tiny100k": {"files": 100_000, "size": 64},
}
QUICK = {
    "big": {"files": 1, "size": 320 * MiB},
    "eight": {"files": 8, "size": 16 * MiB},
    "small": {"files": 200, "size": 4096},
    "lfs2k": {"files": 500, "size": 2048},
    "tiny100k": {"files": 10_000, "size": 64},
}

MODAL_ONLY = {"check-modal", "check-modal-native", "check-modal-missing", "check-modal-half"}

SCENARIOS = [
    "check-hf",
    "check-hf-missing",
    "check-modal",
    "check-modal-native",
    "check-modal-missing",
    "check-modal-half",
    "invalid-token",
    "upload-small",
    "upload-eight",
    "upload-big",
    "upload-lfs2k",
    "upload-100k",
    "noop-small",
    "noop-eight",
]


# --------------------------------------------------------------------------------------------
# Bootstrap: the venv, the binaries, the data.


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv() -> None:
    stamp = VENV / ".requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    python = VENV / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return
    print(f"==> creating {VENV.relative_to(ROOT)} from {REQUIREMENTS.relative_to(ROOT)}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(want + "\n")


def target_dir() -> Path:
    configured = os.environ.get("CARGO_TARGET_DIR")
    if configured:
        return Path(configured) if Path(configured).is_absolute() else ROOT / configured
    return ROOT / "target"


def build(skip: bool, need_emulator: bool = True) -> tuple[Path, Path]:
    release = target_dir() / "release"
    if not skip:
        print(f"==> cargo build --release -p preflight-cli -p hub-emulator (into {release})", flush=True)
        subprocess.run(
            ["cargo", "build", "--release", "-p", "preflight-cli", "-p", "hub-emulator"], cwd=ROOT, check=True
        )
    preflight, emulator = release / "preflight", release / "hub-emulator"
    # The Modal scenarios talk to tools/fake-modal only: they need no emulator binary.
    for binary in (preflight, emulator) if need_emulator else (preflight,):
        if not binary.exists():
            sys.exit(f"error: {binary} is missing (run without --no-build)")
    return preflight, emulator


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MiB))
            out.write(block)
            left -= len(block)


def ensure_data(data_dir: Path, sizes: dict) -> dict[str, dict]:
    """Creates the data sets (kept between runs while their manifest matches)."""
    manifest_path = data_dir / "manifest.json"
    want = {name: dict(spec) for name, spec in sizes.items()}
    have = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    sets = {}
    for name, spec in want.items():
        root = data_dir / name
        if have.get(name) != spec or not root.exists():
            print(f"==> writing {name}: {spec['files']} x {human_bytes(spec['size'])} under {root}", flush=True)
            shutil.rmtree(root, ignore_errors=True)
            if name == "big":
                write_random(root / "model.bin", spec["size"])
            elif name == "eight":
                for i in range(spec["files"]):
                    write_random(root / f"shard-{i:05d}.bin", spec["size"])
            elif name == "lfs2k":
                # Binary (NUL bytes): preupload makes every one an LFS object.
                for i in range(spec["files"]):
                    path = root / f"part-{i // 500:02d}" / f"blob-{i:05d}.bin"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(b"\0" + os.urandom(spec["size"] - 1))
            elif name == "tiny100k":
                for i in range(spec["files"]):
                    path = root / f"d-{i // 1000:03d}" / f"f-{i:06d}.txt"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(f"{i:063d}\n".encode()[: spec["size"]])
            else:
                # Text (no NUL byte): the Hub's preupload makes these regular files, committed inline.
                rng = random.Random(9)
                for i in range(spec["files"]):
                    path = root / f"part-{i // 100:02d}" / f"sample-{i:05d}.txt"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    text = "".join(f"{rng.getrandbits(252):063x}\n" for _ in range(spec["size"] // 64))
                    path.write_bytes(text.encode()[: spec["size"]])
            have[name] = spec
            manifest_path.write_text(json.dumps(have, indent=1))
        files = sorted(p for p in root.rglob("*") if p.is_file())
        sets[name] = {
            "path": root / "model.bin" if name == "big" else root,
            "files": files,
            "bytes": sum(p.stat().st_size for p in files),
        }
    return sets


# --------------------------------------------------------------------------------------------
# Servers.


class Server:
    def __init__(self, argv: list[str], pattern: str, env: dict | None = None, log: Path | None = None):
        self.log = open(log, "wb") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL, env=env, text=True
        )
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            match = re.search(pattern, line)
            if match:
                self.url = match.group(1)
                return
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"{argv[0]} did not start (last line: {line!r})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


ANSI = re.compile(r"\x1b\[[0-9;]*m")
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z .* path=(\S+)")


def assembly_time(log: Path) -> float:
    """Seconds the emulator spent assembling multipart objects: from the answer to the last part
    PUT to the answer to the completion POST (both tools send the completion right after their
    last part). The emulator logs each request when it answers. 0 when nothing was multipart."""
    last_part = None
    total = 0.0
    for line in log.read_text(errors="replace").splitlines():
        match = LOG_LINE.match(ANSI.sub("", line))
        if not match:
            continue
        when = dt.datetime.fromisoformat(match.group(1)).timestamp()
        path = match.group(2)
        if path.startswith("/_lfs/part/"):
            last_part = when if last_part is None else max(last_part, when)
        elif path.startswith("/_lfs/complete/") and last_part is not None:
            total += when - last_part
            last_part = None
    return total


class Emulator(Server):
    def __init__(self, binary: Path, data: Path, log: Path):
        self.data = data
        self.log_path = log
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        super().__init__(
            [
                str(binary),
                "--addr",
                "127.0.0.1:0",
                "--data",
                str(data),
                "--token",
                f"{HF_VALID}={HF_USER}:write",
                "--token",
                f"{HF_REVOKED}={HF_USER}:write",
                "--lfs-multipart-threshold",
                str(MULTIPART_THRESHOLD),
                "--chunk-size",
                str(CHUNK_SIZE),
            ],
            r"listening on (http://\S+)",
            env={**os.environ, "RUST_LOG": "info"},
            log=log,
        )
        self.admin("POST", "/_emulator/tokens/revoke", {"token": HF_REVOKED})

    def admin(self, method: str, path: str, body=None, token: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    def repo(self, repo_id: str) -> dict:
        return self.admin("GET", f"/api/models/{repo_id}", token=HF_VALID)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.data, ignore_errors=True)


def start_fake_modal(log: Path) -> Server:
    return Server(
        [
            str(VENV / "bin" / "python"),
            str(ROOT / "tools" / "fake-modal" / "fake_modal.py"),
            "--port",
            "0",
            "--token",
            f"{MODAL_ID}:{MODAL_SECRET}:bench-ws:benchuser",
        ],
        r"listening on (http://\S+)",
        log=log,
    )


# --------------------------------------------------------------------------------------------
# Measuring.


TIME = Path("/usr/bin/time")


def ensure_time() -> None:
    if TIME.exists():
        return
    sys.exit(
        "error: /usr/bin/time (GNU time) is missing; install it with `apt-get install -y time`.\n"
        "It measures peak memory: a process started straight from Python inherits Python's RSS high-water\n"
        "mark through fork + exec, which would add ~40 MiB to every tool's number."
    )


def measure(argv: list[str], env: dict, log_dir: Path, label: str) -> dict:
    """Runs `argv` once under GNU time.

    Wall time: Python's monotonic clock around the run. CPU: user + system from `wait4` on the
    `time` process (its own CPU plus that of the children it reaped, in microseconds). Peak RSS:
    GNU time's `%M`, the child's `ru_maxrss` (covering the children it reaped, e.g. the `modal`
    CLI under `preflight check modal`). GNU time is used because a process forked from Python
    starts with Python's RSS high-water mark; one forked from `time` (2 MiB) does not.
    """
    out, err, rss = (log_dir / f"{label}.{ext}" for ext in ("out", "err", "time"))
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(TIME), "-f", "%M %x", "-o", str(rss), *argv],
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    maxrss, code = rss.read_text().split()[-2:]
    return {
        "wall": wall,
        "user": usage.ru_utime,
        "sys": usage.ru_stime,
        "cpu": usage.ru_utime + usage.ru_stime,
        "maxrss_kib": int(maxrss),
        "rc": int(code),
        "stderr_tail": err.read_text(errors="replace")[-600:],
    }


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Runner:
    def __init__(self, args, preflight: Path, emulator: Path, sets: dict, work: Path):
        self.args = args
        self.preflight = str(preflight)
        self.emulator_bin = emulator
        self.sets = sets
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.server_root = Path(args.server_dir)
        self.results: dict = {}
        self.home = work / "home"
        self.home.mkdir(exist_ok=True)
        self.seq = 0

    # Environments -------------------------------------------------------------------------

    def base_env(self) -> dict:
        return {
            "PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.work),
        }

    def hf_env(self, endpoint: str, token: str | None) -> dict:
        env = self.base_env()
        hf_home = self.work / "hf-home"
        hf_home.mkdir(exist_ok=True)
        env.update(
            {
                "HF_ENDPOINT": endpoint,
                "HF_HOME": str(hf_home),
                "HF_HUB_DISABLE_XET": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_DISABLE_UPDATE_CHECK": "1",
                "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "PREFLIGHT_AUTH_LOG": "off",
                "PREFLIGHT_NO_PROGRESS": "1",
                "PREFLIGHT_STATE_DIR": str(self.work / "state"),
            }
        )
        if token:
            env["HF_TOKEN"] = token
        return env

    def modal_env(self, url: str, token_id: str | None, secret: str | None) -> dict:
        env = self.base_env()
        env.update(
            {
                "MODAL_SERVER_URL": url,
                "MODAL_CONFIG_PATH": str(self.work / "no-modal.toml"),
                "PREFLIGHT_AUTH_LOG": "off",
            }
        )
        if token_id:
            env["MODAL_TOKEN_ID"] = token_id
        if secret:
            env["MODAL_TOKEN_SECRET"] = secret
        return env

    # Scenario plumbing --------------------------------------------------------------------

    def record(self, name: str, title: str, tools: dict[str, list[dict]], started_load, extra=None) -> None:
        entry = {
            "title": title,
            "load_start": started_load,
            "load_end": load(),
            "tools": tools,
        }
        if extra:
            entry.update(extra)
        self.results[name] = entry
        summary = ", ".join(
            f"{tool} {statistics.median(r['wall'] for r in runs):.3f}s" for tool, runs in tools.items() if runs
        )
        print(f"    {name}: {summary}  (load {entry['load_start'][0]} -> {entry['load_end'][0]})", flush=True)

    def run_one(self, tool: str, argv: list[str], env: dict, expect, name: str) -> dict:
        self.seq += 1
        label = f"{self.seq:04d}-{name}-{tool}"
        result = measure(argv, env, self.logs, label)
        ok = (result["rc"] == expect) if isinstance(expect, int) else (result["rc"] != 0)
        if not ok:
            raise RuntimeError(
                f"{name}/{tool}: exit {result['rc']}, expected {expect}\n{' '.join(argv)}\n{result['stderr_tail']}"
            )
        if result["rc"] == 0:
            result.pop("stderr_tail")
        return result

    def alternate(self, name: str, runs: int, commands: dict, setup=None, teardown=None) -> dict[str, list[dict]]:
        """`commands`: tool -> (argv, env, expected exit) or a callable(i) returning that."""
        out: dict[str, list[dict]] = {tool: [] for tool in commands}
        for i in range(runs):
            for tool, spec in commands.items():
                context = setup(tool, i) if setup else None
                extra = None
                try:
                    argv, env, expect = spec(i, context) if callable(spec) else spec
                    result = self.run_one(tool, argv, env, expect, name)
                finally:
                    if teardown:
                        extra = teardown(tool, i, context)
                result.update(extra or {})
                out[tool].append(result)
        return out

    # Scenarios ----------------------------------------------------------------------------

    def credential_checks(self, wanted: set[str]) -> None:
        runs = self.args.check_runs
        if wanted & {"check-hf", "check-hf-missing"}:
            emulator = Emulator(self.emulator_bin, self.server_root / "checks", self.logs / "emulator-checks.log")
            try:
                if "check-hf" in wanted:
                    print("==> credential check: preflight check hf vs hf auth whoami", flush=True)
                    started = load()
                    env = self.hf_env(emulator.url, HF_VALID)
                    tools = self.alternate(
                        "check-hf",
                        runs,
                        {
                            "preflight": ([self.preflight, "check", "hf"], env, 0),
                            "hf": ([str(VENV / "bin" / "hf"), "auth", "whoami"], env, 0),
                        },
                    )
                    self.record("check-hf", "`preflight check hf` vs `hf auth whoami` (valid token)", tools, started)
                if "check-hf-missing" in wanted:
                    print("==> credential check, no token: preflight check hf vs hf auth whoami", flush=True)
                    started = load()
                    env = self.hf_env(emulator.url, None)
                    tools = self.alternate(
                        "check-hf-missing",
                        runs,
                        {
                            "preflight": ([self.preflight, "check", "hf"], env, 10),
                            "hf": ([str(VENV / "bin" / "hf"), "auth", "whoami"], env, "nonzero"),
                        },
                    )
                    self.record(
                        "check-hf-missing",
                        "no Hugging Face token at all (decidable offline)",
                        tools,
                        started,
                    )
            finally:
                emulator.stop()
        modal_cases = [
            ("check-modal", "valid token, `--modal-via cli` (the CLI must be asked)", MODAL_ID, MODAL_SECRET, 0),
            ("check-modal-missing", "no Modal credentials at all (decidable offline)", None, None, 10),
            ("check-modal-half", "`MODAL_TOKEN_ID` set, `MODAL_TOKEN_SECRET` missing (decidable offline)", MODAL_ID, None, "nonzero"),
        ]
        if any(case[0] in wanted for case in modal_cases) or "check-modal-native" in wanted:
            fake = start_fake_modal(self.logs / "fake-modal.log")
            try:
                for name, title, token_id, secret, expect in modal_cases:
                    if name not in wanted:
                        continue
                    print(f"==> {name}: preflight check modal vs modal token info", flush=True)
                    started = load()
                    env = self.modal_env(fake.url, token_id, secret)
                    tools = self.alternate(
                        name,
                        runs,
                        {
                            "preflight": (
                                [
                                    self.preflight,
                                    "check",
                                    "modal",
                                    "--modal-via",
                                    "cli",
                                    "--modal-cli",
                                    str(VENV / "bin" / "modal"),
                                ],
                                env,
                                expect,
                            ),
                            "modal": ([str(VENV / "bin" / "modal"), "token", "info"], env, 0 if expect == 0 else "nonzero"),
                        },
                    )
                    self.record(name, f"`preflight check modal` vs `modal token info`: {title}", tools, started)
                if "check-modal-native" in wanted:
                    # The native check (issue 13) next to the CLI on the same fake, in one
                    # alternation; its PATH holds no Python and no `modal`.
                    print("==> check-modal-native: preflight check modal --modal-via native vs modal token info", flush=True)
                    started = load()
                    env = self.modal_env(fake.url, MODAL_ID, MODAL_SECRET)
                    bare = dict(env, PATH=str(self.work / "empty-bin"))
                    (self.work / "empty-bin").mkdir(exist_ok=True)
                    tools = self.alternate(
                        "check-modal-native",
                        runs,
                        {
                            "preflight": ([self.preflight, "check", "modal", "--modal-via", "native"], bare, 0),
                            "modal": ([str(VENV / "bin" / "modal"), "token", "info"], env, 0),
                        },
                    )
                    self.record(
                        "check-modal-native",
                        "`preflight check modal --modal-via native` (no Python on PATH) vs `modal token info`: valid token",
                        tools,
                        started,
                    )
            finally:
                fake.stop()

    def invalid_token(self) -> None:
        print("==> invalid token: preflight upload vs hf upload with a revoked token", flush=True)
        data = self.sets["eight"]
        emulator = Emulator(self.emulator_bin, self.server_root / "invalid", self.logs / "emulator-invalid.log")
        try:
            started = load()
            env = self.hf_env(emulator.url, HF_REVOKED)
            repo = f"{HF_USER}/revoked"
            tools = self.alternate(
                "invalid-token",
                self.args.check_runs,
                {
                    "preflight": ([self.preflight, "upload", str(data["path"]), "--repo", repo], env, 11),
                    "hf": (
                        [str(VENV / "bin" / "hf"), "upload", repo, str(data["path"]), ".", "--repo-type", "model"],
                        env,
                        "nonzero",
                    ),
                },
            )
            self.record(
                "invalid-token",
                f"upload with a revoked token ({describe(data)}): time to fail",
                tools,
                started,
                {"bytes": data["bytes"]},
            )
        finally:
            emulator.stop()

    def upload_commands(self, data: dict) -> dict:
        path = data["path"]
        single = path.is_file()

        def preflight(i, ctx):
            emulator, repo = ctx
            return [self.preflight, "upload", str(path), "--repo", repo], self.hf_env(emulator.url, HF_VALID), 0

        def hf(i, ctx):
            emulator, repo = ctx
            argv = [str(VENV / "bin" / "hf"), "upload", repo, str(path)]
            argv += [path.name] if single else ["."]
            argv += ["--repo-type", "model"]
            return argv, self.hf_env(emulator.url, HF_VALID), 0

        floor_argv = ["sha256sum", *map(str, data["files"])]

        def floor(i, ctx):
            return floor_argv, self.base_env(), 0

        def openssl(i, ctx):
            return ["openssl", "dgst", "-sha256", *map(str, data["files"])], self.base_env(), 0

        if len(data["files"]) > 5000:
            # Per-file overhead is what these sets measure; a hashing floor over 100k argv
            # entries would not fit in ARG_MAX anyway.
            return {"preflight": preflight, "hf": hf}
        return {"preflight": preflight, "hf": hf, "sha256sum": floor, "openssl": openssl}

    def upload(self, name: str, key: str, runs: int) -> None:
        data = self.sets[key]
        print(f"==> {name}: {describe(data)}, {runs} runs per tool", flush=True)
        # Warm the page cache once so that every tool reads the same cached bytes.
        root = data["path"] if data["path"].is_dir() else data["path"].parent
        subprocess.run(["find", str(root), "-type", "f", "-exec", "cat", "{}", "+"], stdout=subprocess.DEVNULL, check=True)
        started = load()
        expected = len(data["files"])

        def setup(tool, i):
            if tool in ("sha256sum", "openssl"):
                return None
            emulator = Emulator(self.emulator_bin, self.server_root / f"{name}-{tool}-{i}", self.logs / f"emu-{name}-{tool}-{i}.log")
            return emulator, f"{HF_USER}/{name}-{tool}-{i}"

        def teardown(tool, i, ctx):
            if ctx is None:
                return
            emulator, repo = ctx
            try:
                siblings = emulator.repo(repo).get("siblings", [])
                if len(siblings) < expected:
                    raise RuntimeError(f"{name}/{tool}: the repo has {len(siblings)} files, expected {expected}")
                return {"server_assembly": assembly_time(emulator.log_path)}
            finally:
                emulator.stop()

        tools = self.alternate(name, runs, self.upload_commands(data), setup, teardown)
        self.record(name, f"upload {describe(data)}", tools, started, {"bytes": data["bytes"], "files": expected})

    def noop(self, name: str, key: str, runs: int) -> None:
        data = self.sets[key]
        print(f"==> {name}: re-upload of unchanged {describe(data)}, {runs} runs per tool", flush=True)
        subprocess.run(["cat", *map(str, data["files"])], stdout=subprocess.DEVNULL, check=True)
        emulator = Emulator(self.emulator_bin, self.server_root / name, self.logs / f"emu-{name}.log")
        try:
            repo = f"{HF_USER}/{name}"
            env = self.hf_env(emulator.url, HF_VALID)
            seeded = measure([self.preflight, "upload", str(data["path"]), "--repo", repo], env, self.logs, f"{name}-seed")
            if seeded["rc"] != 0:
                raise RuntimeError(f"{name}: seeding upload failed: {seeded['stderr_tail']}")
            head = emulator.repo(repo).get("sha")
            started = load()
            commands = {
                "preflight": ([self.preflight, "upload", str(data["path"]), "--repo", repo], env, 0),
                "hf": ([str(VENV / "bin" / "hf"), "upload", repo, str(data["path"]), ".", "--repo-type", "model"], env, 0),
                "sha256sum": (["sha256sum", *map(str, data["files"])], self.base_env(), 0),
                "openssl": (["openssl", "dgst", "-sha256", *map(str, data["files"])], self.base_env(), 0),
            }
            tools = self.alternate(name, runs, commands)
            after = emulator.repo(repo).get("sha")
            self.record(
                name,
                f"no-op re-upload of an unchanged folder ({describe(data)})",
                tools,
                started,
                {"bytes": data["bytes"], "files": len(data["files"]), "new_commits": head != after},
            )
        finally:
            emulator.stop()


# --------------------------------------------------------------------------------------------
# Reporting.


def human_bytes(n: float) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n:.0f} B"


def describe(data: dict) -> str:
    files = data["files"]
    if len(files) == 1:
        return f"one {human_bytes(data['bytes'])} file"
    return f"{human_bytes(data['bytes'])} in {len(files):,} files of {human_bytes(files[0].stat().st_size)}"


def seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def stats(runs: list[dict], key: str) -> tuple[float, float, float]:
    values = [r[key] for r in runs]
    return statistics.median(values), min(values), max(values)


def tool_row(tool: str, runs: list[dict], baseline: float | None, extra_cols: list[str]) -> str:
    wall, lo, hi = stats(runs, "wall")
    cpu, _, _ = stats(runs, "cpu")
    rss = max(r["maxrss_kib"] for r in runs) / 1024
    rss_med = statistics.median(r["maxrss_kib"] for r in runs) / 1024
    ratio = f"{wall / baseline:.2f}×" if baseline else "1×"
    cols = [
        f"`{tool}`",
        str(len(runs)),
        f"**{seconds(wall)}**",
        f"{seconds(lo)} – {seconds(hi)}",
        seconds(cpu),
        f"{rss_med:.0f} MiB (max {rss:.0f})",
        ratio,
        *extra_cols,
    ]
    return "| " + " | ".join(cols) + " |"


TABLE_HEAD = (
    "| tool | runs | median wall | min – max | median CPU (user+sys) | peak RSS median (max) | wall vs preflight |\n"
    "|---|---|---|---|---|---|---|"
)


def scenario_table(entry: dict) -> str:
    tools = entry["tools"]
    base = statistics.median(r["wall"] for r in tools["preflight"])
    lines = [TABLE_HEAD]
    for tool, runs in tools.items():
        lines.append(tool_row(tool, runs, base if tool != "preflight" else None, []))
    lines.append("")
    lines.append(f"Load average (1 min) at start / end: {entry['load_start'][0]} / {entry['load_end'][0]}.")
    if has_assembly(entry):
        parts = []
        for tool in ("preflight", "hf"):
            a = statistics.median(r.get("server_assembly", 0) for r in tools[tool])
            parts.append(f"`{tool}` runs {seconds(a)} (so {seconds(net(entry, tool))} without it)")
        lines.append(
            "Of that wall time, the emulator spent (median) assembling the multipart object after the "
            "last part — the same server work for both tools, and not the client's: " + "; ".join(parts) + "."
        )
    return "\n".join(lines)


def has_assembly(entry: dict) -> bool:
    return any(r.get("server_assembly", 0) > 0 for runs in entry["tools"].values() for r in runs)


def net(entry: dict, tool: str) -> float:
    """Median wall time minus the emulator's multipart assembly."""
    return statistics.median(r["wall"] - r.get("server_assembly", 0) for r in entry["tools"][tool])


def med(entry: dict, tool: str, key: str = "wall") -> float:
    return statistics.median(r[key] for r in entry["tools"][tool])


def render(results: dict) -> None:
    meta = results.get("meta", {})
    scen = results.get("scenarios", {})
    out: list[str] = []
    w = out.append
    w("# Benchmarks: Preflight against `hf` and `modal`")
    w("")
    w(
        "Produced by `python3 benchmarks/run.py` ([benchmarks/README.md](../benchmarks/README.md)); "
        "raw numbers in [benchmarks/results.json](../benchmarks/results.json). Every number is one fresh "
        "process run under GNU `time` (wall time; user + system CPU; peak RSS of the process and of "
        "the children it reaped, so `preflight check modal` includes the `modal` CLI it runs). "
        "Tools alternate run by run (A, B, A, B, …) so that load from other work on the machine "
        "hits all of them alike. **Ratios are median wall time divided by Preflight's** "
        "(above 1× means Preflight is faster)."
    )
    w("")
    w("## Machine and versions")
    w("")
    for key, value in meta.items():
        if key in ("notes",):
            continue
        w(f"- **{key}**: {value}")
    for note in meta.get("notes", []):
        w(f"- {note}")
    w("")

    targets = targets_table(scen)
    if targets:
        w("## Targets")
        w("")
        w("Recorded here, not asserted in tests.")
        w("")
        w(targets)
        w("")

    sections = [
        ("## 1. Credential check", ["check-hf", "check-hf-missing", "check-modal-native", "check-modal", "check-modal-missing", "check-modal-half"]),
        ("## 2. Invalid token: time to fail", ["invalid-token"]),
        ("## 3. Uploads (LFS protocol, same emulator settings for both)", ["upload-small", "upload-eight", "upload-big", "upload-lfs2k", "upload-100k"]),
        ("## 4. No-op re-upload of an unchanged folder", ["noop-small", "noop-eight"]),
    ]
    for heading, names in sections:
        present = [n for n in names if n in scen]
        if not present:
            continue
        w(heading)
        w("")
        for name in present:
            entry = scen[name]
            w(f"### {entry['title']}")
            w("")
            w(scenario_table(entry))
            if "new_commits" in entry:
                w(f"New commits made by the re-uploads: {'yes' if entry['new_commits'] else 'none'}.")
            w("")
        if heading.startswith("## 3"):
            w("![Upload time against size](benchmarks-upload.png)")
            w("")
    floor = [n for n in ("upload-small", "upload-eight", "upload-big") if n in scen]
    if floor:
        w("## 5. The floor: `sha256sum` of the same bytes")
        w("")
        w(
            "The floors ran in the same alternation as the uploads (each round: preflight, hf, "
            "`sha256sum`, `openssl dgst -sha256`), over the same files, from the page cache; one "
            "process, one core each. GNU `sha256sum` is the floor the issue names; on this CPU it "
            "does not use the SHA extensions, so `openssl dgst -sha256` (SHA-NI, like Rust's `sha2` "
            "and Python's `hashlib`) is shown as the stricter floor."
        )
        w("")
        w(
            "| data | `sha256sum` | `openssl` | `preflight upload` | preflight / sha256sum | preflight / openssl "
            "| `hf upload` | hf / sha256sum | hf / openssl |"
        )
        w("|---|---|---|---|---|---|---|---|---|")
        nets = []
        for name in floor:
            entry = scen[name]
            f = med(entry, "sha256sum")
            o = med(entry, "openssl") if "openssl" in entry["tools"] else float("nan")
            p = med(entry, "preflight")
            h = med(entry, "hf")
            w(
                f"| {entry['title'].removeprefix('upload ')} | {seconds(f)} | {seconds(o)} | {seconds(p)} | "
                f"{p / f:.2f}× | {p / o:.2f}× | {seconds(h)} | {h / f:.2f}× | {h / o:.2f}× |"
            )
            if has_assembly(entry):
                pn, hn = net(entry, "preflight"), net(entry, "hf")
                nets.append(
                    f"{entry['title'].removeprefix('upload ')}: without the emulator's multipart assembly, "
                    f"`preflight` {seconds(pn)} = {pn / f:.2f}× `sha256sum`, {pn / o:.2f}× `openssl`; "
                    f"`hf` {seconds(hn)} = {hn / f:.2f}× `sha256sum`, {hn / o:.2f}× `openssl`."
                )
        w("")
        for line in nets:
            w(f"- {line}")
        if nets:
            w("")
    if FINDINGS.exists():
        w(FINDINGS.read_text().strip())
        w("")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(out))
    print(f"==> wrote {REPORT.relative_to(ROOT)}", flush=True)
    plot(scen)


def verdict(ok: bool | str | None) -> str:
    if isinstance(ok, str):
        return ok
    return "—" if ok is None else ("met" if ok else "**not met**")


def floor_verdict(vs_sha256sum: float, vs_openssl: float, limit: float) -> bool | str:
    if vs_sha256sum <= limit and vs_openssl <= limit:
        return True
    if vs_sha256sum <= limit:
        return f"met against `sha256sum`; **not** against the SHA-NI floor (limit {limit}×)"
    return False


def targets_table(scen: dict) -> str:
    rows = []

    def ratio(name, peer):
        e = scen[name]
        return med(e, peer) / med(e, "preflight")

    if "check-hf" in scen:
        r = ratio("check-hf", "hf")
        rows.append(("Credential check ≥ 20× faster than `hf auth whoami`", f"{r:.1f}× ({seconds(med(scen['check-hf'], 'preflight'))} vs {seconds(med(scen['check-hf'], 'hf'))})", r >= 20))
    if "check-modal" in scen:
        e = scen["check-modal"]
        p, m = med(e, "preflight"), med(e, "modal")
        spread = max(r["wall"] for r in e["tools"]["modal"]) - min(r["wall"] for r in e["tools"]["modal"])
        rows.append(
            (
                "Modal check bounded by the CLI's own start",
                f"{seconds(p)} vs `modal token info` {seconds(m)} (+{seconds(max(p - m, 0))}; "
                f"the CLI's own runs spread over {seconds(spread)})",
                p <= m * 1.15 + 0.05,
            )
        )
    if "check-modal-native" in scen:
        e = scen["check-modal-native"]
        p, m = med(e, "preflight"), med(e, "modal")
        rows.append(
            (
                "Native Modal check ≥ 50× faster than `modal token info` (issue 13)",
                f"{m / p:.0f}× ({seconds(p)} vs {seconds(m)})",
                m / p >= 50,
            )
        )
    for name in ("check-modal-missing", "check-modal-half", "check-hf-missing"):
        if name in scen:
            p = med(scen[name], "preflight")
            rows.append((f"Instant when decidable offline: {scen[name]['title'].split(': ')[-1]}", seconds(p), p < 0.05))
    if "upload-small" in scen:
        r = ratio("upload-small", "hf")
        rows.append(("Uploads ≥ 2× faster than `hf upload` on 2,000 small files", f"{r:.2f}×", r >= 2))
    for name, label in (("upload-eight", "many large files"), ("upload-big", "one large file")):
        if name in scen:
            r = ratio(name, "hf")
            rows.append((f"No slower than `hf upload` on {label}", f"{r:.2f}×", r >= 1))
    if "upload-eight" in scen:
        e = scen["upload-eight"]
        f = med(e, "preflight") / med(e, "sha256sum")
        o = med(e, "preflight") / med(e, "openssl") if "openssl" in e["tools"] else float("nan")
        rows.append(
            (
                "Many large files: close to the hashing floor (read here as ≤ 1.5×)",
                f"{f:.2f}× `sha256sum`; {o:.2f}× `openssl`",
                floor_verdict(f, o, 1.5),
            )
        )
    if "upload-big" in scen:
        e = scen["upload-big"]
        f = med(e, "preflight") / med(e, "sha256sum")
        o = med(e, "preflight") / med(e, "openssl") if "openssl" in e["tools"] else float("nan")
        n = net(e, "preflight") / med(e, "openssl") if "openssl" in e["tools"] else float("nan")
        rows.append(
            (
                "One large file: within 2.5× of the hashing floor",
                f"{f:.2f}× `sha256sum`; {o:.2f}× `openssl` ({n:.2f}× without the emulator's assembly)",
                floor_verdict(f, n, 2.5),
            )
        )
    uploads = [n for n in ("upload-small", "upload-eight", "upload-big", "upload-lfs2k", "upload-100k", "noop-small", "noop-eight", "invalid-token") if n in scen]
    if uploads:
        peak = max(max(r["maxrss_kib"] for r in scen[n]["tools"]["preflight"]) for n in uploads) / 1024
        worst = max(uploads, key=lambda n: max(r["maxrss_kib"] for r in scen[n]["tools"]["preflight"]))
        rows.append(("Peak memory under 100 MiB in every case (issue 5: 2 GiB file)", f"max {peak:.0f} MiB ({worst})", peak < 100))
        if "upload-big" in scen:
            big = max(r["maxrss_kib"] for r in scen["upload-big"]["tools"]["preflight"]) / 1024
            rows.append(("Peak memory uploading the 2 GiB file (issue 5)", f"{big:.0f} MiB", big < 100))
    if not rows:
        return ""
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {verdict(c)} |" for a, b, c in rows]
    return "\n".join(lines)


def plot(scen: dict) -> None:
    names = [n for n in ("upload-small", "upload-eight", "upload-big", "upload-lfs2k", "upload-100k") if n in scen]
    if not names:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing: no plot (run inside benchmarks/.venv)", file=sys.stderr)
        return
    fig, (by_size, by_count) = plt.subplots(1, 2, figsize=(13, 5), dpi=120)
    styles = {"preflight": ("tab:blue", "o", "preflight upload"), "hf": ("tab:orange", "s", "hf upload (LFS, no Xet)"), "sha256sum": ("tab:gray", "^", "sha256sum (floor)"), "openssl": ("tab:green", "v", "openssl dgst -sha256 (SHA-NI floor)")}
    for ax, axis, label_x in ((by_size, "bytes", "bytes uploaded (MiB, log)"), (by_count, "files", "files uploaded (log)")):
        for tool, (color, marker, label) in styles.items():
            points = []
            for name in names:
                runs = scen[name]["tools"].get(tool)
                if not runs:
                    continue
                m, a, b = stats(runs, "wall")
                x = scen[name]["bytes"] / MiB if axis == "bytes" else scen[name].get("files", 1)
                points.append((x, m, m - a, b - m))
            if not points:
                continue
            points.sort()
            xs, ys, lo, hi = zip(*points)
            ax.errorbar(xs, ys, yerr=[lo, hi], color=color, marker=marker, capsize=4, label=label, linestyle="--" if tool in ("sha256sum", "openssl") else "-")
        for name in names:
            x = scen[name]["bytes"] / MiB if axis == "bytes" else scen[name].get("files", 1)
            if "hf" in scen[name]["tools"]:
                ax.annotate(scen[name]["title"].removeprefix("upload "), (x, med(scen[name], "hf")), textcoords="offset points", xytext=(0, 10), ha="center", fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label_x)
        ax.set_ylabel("wall time (s, log; median, bars = min–max)")
        ax.grid(True, which="both", alpha=0.3)
    by_size.set_title("Upload time against total size")
    by_count.set_title("Upload time against file count")
    by_size.legend(fontsize=8)
    fig.suptitle("hub-emulator on loopback, 2 shared cores")
    fig.tight_layout()
    fig.savefig(PLOT)
    print(f"==> wrote {PLOT.relative_to(ROOT)}", flush=True)


def machine_meta(preflight: Path, quick: bool, server_dir: str) -> dict:
    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[0]
        except Exception as error:  # noqa: BLE001
            return f"? ({error})"

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    hf_version = cmd([str(VENV / "bin" / "python"), "-c", "import huggingface_hub; print(huggingface_hub.__version__)"])
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; {platform.system()} {platform.release()}",
        "preflight": cmd([str(preflight), "--version"]) + f" (release build, git {cmd(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'])} + working tree)",
        "peers": f"huggingface_hub {hf_version} (`hf`), {cmd([str(VENV / 'bin' / 'modal'), '--version'])}, Python {platform.python_version()}",
        "floor": cmd(["sha256sum", "--version"]),
        "rustc": cmd(["rustc", "--version"]),
        "mode": "quick (reduced sizes)" if quick else "full sizes",
        "server": (
            f"`hub-emulator` on 127.0.0.1, data on {server_dir} (tmpfs), a fresh emulator per upload run; "
            f"LFS multipart above {human_bytes(MULTIPART_THRESHOLD)} in {human_bytes(CHUNK_SIZE)} parts, basic PUT below"
        ),
    }


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data and few runs (a smoke test of the harness)")
    parser.add_argument("--only", help=f"comma-separated scenarios (merged into results.json): {','.join(SCENARIOS)}")
    parser.add_argument("--render", action="store_true", help="only re-render docs/benchmarks.md and the plot from results.json")
    parser.add_argument("--no-build", action="store_true", help="use the existing release binaries")
    parser.add_argument("--data-dir", default="/tmp/preflight-bench", help="where the test data is written")
    parser.add_argument("--server-dir", default=None, help="emulator data (default: /dev/shm/preflight-bench-server)")
    parser.add_argument("--check-runs", type=int, default=None, help="runs per tool for checks (default 10; quick 3)")
    parser.add_argument("--upload-runs", type=int, default=None, help="runs per tool for the small and 1 GiB uploads and the no-ops (default 5; quick 2)")
    parser.add_argument("--big-runs", type=int, default=None, help="runs per tool for the 2 GiB upload (default 3; quick 2)")
    parser.add_argument("--clean", action="store_true", help="delete --data-dir at the end")
    args = parser.parse_args()

    if not in_venv():
        ensure_venv()
        os.execv(str(VENV / "bin" / "python"), [str(VENV / "bin" / "python"), __file__, *sys.argv[1:]])

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.render:
        render(results)
        return

    args.check_runs = args.check_runs or (3 if args.quick else 10)
    args.upload_runs = args.upload_runs or (2 if args.quick else 5)
    args.big_runs = args.big_runs or (2 if args.quick else 3)
    if args.server_dir is None:
        shm = Path("/dev/shm")
        args.server_dir = str(shm / "preflight-bench-server") if shm.is_dir() else str(Path(args.data_dir) / "server")
    wanted = set(SCENARIOS)
    if args.only:
        wanted = {s.strip() for s in args.only.split(",") if s.strip()}
        unknown = wanted - set(SCENARIOS)
        if unknown:
            sys.exit(f"unknown scenarios: {', '.join(sorted(unknown))}")

    ensure_time()
    preflight, emulator = build(args.no_build, need_emulator=not wanted <= MODAL_ONLY)
    data_dir = Path(args.data_dir)
    # The Modal scenarios upload nothing: no need to write gigabytes for them.
    sets = {} if wanted <= MODAL_ONLY else ensure_data(data_dir, QUICK if args.quick else FULL)
    data_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=data_dir))
    runner = Runner(args, preflight, emulator, sets, work)
    meta = machine_meta(preflight, args.quick, args.server_dir)
    if results.get("meta", {}).get("mode") not in (None, meta["mode"]) and args.only:
        sys.exit("results.json holds the other mode's numbers; run without --only to start over")
    print(f"==> logs in {runner.logs}", flush=True)
    try:
        runner.credential_checks(wanted)
        if "invalid-token" in wanted:
            runner.invalid_token()
        if "upload-small" in wanted:
            runner.upload("upload-small", "small", args.upload_runs)
        if "upload-eight" in wanted:
            runner.upload("upload-eight", "eight", args.upload_runs)
        if "upload-big" in wanted:
            runner.upload("upload-big", "big", args.big_runs)
        if "upload-lfs2k" in wanted:
            runner.upload("upload-lfs2k", "lfs2k", args.upload_runs)
        if "upload-100k" in wanted:
            runner.upload("upload-100k", "tiny100k", args.big_runs)
        if "noop-small" in wanted:
            runner.noop("noop-small", "small", args.upload_runs)
        if "noop-eight" in wanted:
            runner.noop("noop-eight", "eight", args.upload_runs)
    finally:
        scenarios = results.get("scenarios", {}) if args.only else {}
        scenarios.update(runner.results)
        if args.only and results.get("meta"):
            first = results["meta"]["date"].split(" … ")[0]
            meta["date"] = f"{first} … {meta['date']}"
        results = {"meta": meta, "scenarios": scenarios}
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
        render(results)
        if args.clean:
            shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(args.server_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
