"""Uploads that hold under concurrency and rewrites, checked with the official client.

1. `examples/sharded_upload/upload_shards.py` with 6 local worker processes, each uploading
   its shard into one repository: every worker exits 0 and `snapshot_download` gets every file.
2. Three `preflight upload` processes of the same target at once: one runs, the other two fail
   fast with PF209 (exit status 20), never two at once.
3. An upload interrupted before its commit, then files rewritten with the same size and the
   same mtime: the rerun exits 0 and the Hub holds the new content.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, start_emulator
from test_upload_round_trip import TOKEN, environment, official, preflight

EXAMPLE = ROOT / "examples" / "sharded_upload" / "upload_shards.py"


def emulator(tmp_path: Path, *faults: str):
    args = [
        "--token", f"{TOKEN}=alice:write",
        "--regular-max-size", str(16 * 1024),
        "--lfs-multipart-threshold", str(128 * 1024),
        "--chunk-size", str(64 * 1024),
    ]
    for fault in faults:
        args += ["--fault", fault]
    return start_emulator(tmp_path, *args)


def shard_files(shard: int) -> dict:
    return {
        f"config-{shard}.json": f'{{"shard": {shard}}}\n'.encode(),
        "weights.bin": bytes((i * (shard + 3)) % 251 for i in range(40 * 1024)),
        "big.safetensors": bytes((i * (shard + 5)) % 253 for i in range(200 * 1024)),
    }


def test_six_worker_processes_upload_their_shards_into_one_repo(tmp_path, preflight_bin):
    hub = emulator(tmp_path)
    try:
        env = environment(tmp_path, hub.url)
        root = tmp_path / "shards"
        expected = {}
        for shard in range(6):
            for name, data in shard_files(shard).items():
                path = root / f"shard-{shard}" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                expected[f"shard-{shard}/{name}"] = data
        result = subprocess.run(
            [sys.executable, str(EXAMPLE), str(root), "--repo", "alice/sharded", "--workers", "6",
             "--preflight", preflight_bin],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr
        for shard in range(6):
            assert f"shard-{shard}: exit 0" in result.stderr
        assert TOKEN not in result.stdout + result.stderr
        dest = tmp_path / "download"
        official(env, "download", repo="alice/sharded", dest=str(dest))
        for name, data in expected.items():
            assert (dest / name).read_bytes() == data, name
    finally:
        hub.stop()


def test_three_uploads_of_the_same_target_one_runs_the_others_fail_fast(tmp_path, preflight_bin):
    # The first LFS PUT is held for 3 s, so the run that holds the lock is still running when
    # the other two start.
    hub = emulator(tmp_path, "PUT prefix:/_lfs/ delay=3s times=1")
    try:
        env = environment(tmp_path, hub.url)
        folder = tmp_path / "folder"
        for name, data in shard_files(1).items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        command = [preflight_bin, "upload", str(folder), "--repo", "alice/same-target"]
        started = time.monotonic()
        runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(3)]
        ended = {}
        while len(ended) < len(runs) and time.monotonic() - started < 120:
            for index, run in enumerate(runs):
                if index not in ended and run.poll() is not None:
                    ended[index] = time.monotonic() - started
            time.sleep(0.02)
        finished = []
        for index, run in enumerate(runs):
            _, stderr = run.communicate(timeout=120)
            finished.append((run.returncode, stderr, ended.get(index, 999.0)))
        codes = sorted(code for code, _, _ in finished)
        assert codes == [0, 20, 20], finished
        for code, stderr, elapsed in finished:
            assert TOKEN not in stderr
            if code == 20:
                assert "error[PF209]" in stderr, stderr
                assert elapsed < 3, f"failed fast, not after the held PUT ({elapsed:.1f} s)"
    finally:
        hub.stop()


def test_rewritten_same_size_same_mtime_files_land_their_new_content(tmp_path, preflight_bin):
    # The first commit is refused once (a permanent 422): the upload stops with its hashes
    # cached, like an interrupted one.
    hub = emulator(tmp_path, "POST /api/models/alice/rewritten/commit/main status=422 times=1")
    try:
        env = environment(tmp_path, hub.url)
        folder = tmp_path / "folder"
        files = {
            "notes.txt": b"first version of the notes\n",
            "weights.bin": bytes(i % 251 for i in range(40 * 1024)),
            "big.safetensors": bytes(i % 253 for i in range(200 * 1024)),
        }
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        first = preflight(preflight_bin, env, "upload", str(folder), "--repo", "alice/rewritten")
        assert first.returncode != 0, first.stderr
        assert any((tmp_path / "state").rglob("state.json")), "the hashes were cached"

        # Same size, same mtime (set back with nanoseconds), other content.
        rewritten = {}
        for name, data in files.items():
            path = folder / name
            stat = path.stat()
            new = bytes(reversed(data)) if name != "notes.txt" else b"FIRST VERSION OF THE NOTES\n"
            assert len(new) == len(data)
            path.write_bytes(new)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            assert path.stat().st_mtime_ns == stat.st_mtime_ns
            rewritten[name] = new

        rerun = preflight(preflight_bin, env, "upload", str(folder), "--repo", "alice/rewritten")
        assert rerun.returncode == 0, rerun.stderr
        dest = tmp_path / "download"
        official(env, "download", repo="alice/rewritten", dest=str(dest))
        for name, data in rewritten.items():
            assert (dest / name).read_bytes() == data, name
    finally:
        hub.stop()
