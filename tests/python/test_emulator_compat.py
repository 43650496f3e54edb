"""Official huggingface_hub client against the hub-emulator binary.

Run: HUB_EMULATOR_BIN=$CARGO_TARGET_DIR/debug/hub-emulator .venv/bin/pytest tests/python/test_emulator_compat.py

The emulator is started once (port 0) before huggingface_hub is imported, so
HF_ENDPOINT, HF_HOME and HF_HUB_DISABLE_XET are in place at import time.
"""

import atexit
import json
import os
import subprocess
import tempfile
import uuid

import pytest

BIN = os.environ.get("HUB_EMULATOR_BIN", "/work/main/target/debug/hub-emulator")

# Small thresholds keep the LFS and multipart paths fast.
REGULAR_MAX = 64 * 1024
MULTIPART_THRESHOLD = 256 * 1024
CHUNK = 100 * 1024

_TMP = tempfile.mkdtemp(prefix="hub-emu-compat-")
_TOKENS_FILE = os.path.join(_TMP, "tokens.json")
with open(_TOKENS_FILE, "w") as f:
    json.dump(
        [
            {"token": "hf_revokedTokenForCompatTests", "user": "alice", "role": "write", "revoked": True},
            {"token": "hf_otherUserToken", "user": "mallory", "role": "write"},
        ],
        f,
    )


def _start_emulator(*extra):
    proc = subprocess.Popen(
        [
            BIN,
            "--addr", "127.0.0.1:0",
            "--data", os.path.join(_TMP, "data-" + uuid.uuid4().hex[:8]),
            "--tokens", _TOKENS_FILE,
            "--token", "hf_readTokenForCompatTests=alice:read",
            "--token", "hf_writeTokenForCompatTests=alice+acme:write",
            "--token", "hf_fineTokenForCompatTests=alice+acme:fine:repo.write@org/acme,repo.content.read@model/alice/m1,discussion.write",
            "--regular-max-size", str(REGULAR_MAX),
            "--lfs-multipart-threshold", str(MULTIPART_THRESHOLD),
            "--chunk-size", str(CHUNK),
            *extra,
        ],
        stdout=subprocess.PIPE,
        # HUB_EMULATOR_LOG=FILE keeps the emulator's stderr (set RUST_LOG for detail).
        stderr=open(os.environ["HUB_EMULATOR_LOG"], "a") if os.environ.get("HUB_EMULATOR_LOG") else subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline().strip()
    prefix = "hub-emulator listening on "
    if not line.startswith(prefix):
        proc.kill()
        raise RuntimeError(f"hub-emulator did not start: {line!r}")
    atexit.register(proc.kill)
    return proc, line[len(prefix):]


_PROC, URL = _start_emulator()

os.environ["HF_ENDPOINT"] = URL
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HOME"] = os.path.join(_TMP, "hf_home")
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HUGGING_FACE_HUB_TOKEN", None)

import huggingface_hub  # noqa: E402
from huggingface_hub import HfApi  # noqa: E402
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError  # noqa: E402

READ = "hf_readTokenForCompatTests"
WRITE = "hf_writeTokenForCompatTests"
FINE = "hf_fineTokenForCompatTests"
REVOKED = "hf_revokedTokenForCompatTests"


def api():
    return HfApi(endpoint=URL)


def test_whoami_read_write_fine():
    r = api().whoami(token=READ)
    assert r["name"] == "alice"
    assert r["auth"]["accessToken"]["role"] == "read"
    w = api().whoami(token=WRITE)
    assert w["auth"]["accessToken"]["role"] == "write"
    assert [o["name"] for o in w["orgs"]] == ["acme"]
    f = api().whoami(token=FINE)
    fg = f["auth"]["accessToken"]["fineGrained"]
    assert f["auth"]["accessToken"]["role"] == "fineGrained"
    assert {(s["entity"]["type"], s["entity"]["name"]) for s in fg["scoped"]} == {
        ("org", "acme"),
        ("model", "alice/m1"),
    }


@pytest.mark.parametrize("token", [REVOKED, "hf_unknownToken"])
def test_whoami_bad_token_raises(token):
    with pytest.raises(HfHubHTTPError) as e:
        api().whoami(token=token)
    assert e.value.response.status_code == 401
    assert "Invalid user token" in str(e.value)


def test_repo_exists_missing():
    assert api().repo_exists("alice/does-not-exist", token=False) is False
    assert api().repo_exists("alice/does-not-exist", token=READ) is False
    with pytest.raises(RepositoryNotFoundError):
        api().model_info("alice/does-not-exist", token=READ)


# ---------------------------------------------------------------- phase 2: uploads


def _make_folder(root):
    files = {
        "hello.txt": b"hello world\n",
        "empty.txt": b"",
        "README.md": b"---\nlicense: mit\ntags:\n- test\n---\n# Model card\n",
        "nested/deeper/config.json": b'{"a": 1}\n',
        "d\u00e9j\u00e0 vu/\u00fcber \u6a21\u578b.txt": "non-ascii name \u2713\n".encode(),
        "weights/lfs_basic.dat": os.urandom(REGULAR_MAX + 1000),  # LFS, basic transfer
        "weights/lfs_multi.dat": os.urandom(MULTIPART_THRESHOLD + 2 * CHUNK + 17),  # multipart
        "small.bin": b"\x00\x01binary but small",  # .gitattributes *.bin -> LFS
    }
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    return files


def _requests():
    import urllib.request

    with urllib.request.urlopen(URL + "/_emulator/requests") as r:
        return json.load(r)


def test_upload_folder_then_snapshot_download(tmp_path):
    from huggingface_hub import snapshot_download

    a = api()
    repo_url = a.create_repo("alice/up1", token=WRITE)
    assert str(repo_url) == f"{URL}/alice/up1"
    # exist_ok: 409 with url is swallowed
    assert str(a.create_repo("alice/up1", token=WRITE, exist_ok=True)) == f"{URL}/alice/up1"

    src = tmp_path / "src"
    files = _make_folder(str(src))
    info = a.upload_folder(repo_id="alice/up1", folder_path=str(src), token=WRITE, commit_message="first")
    assert len(info.oid) == 40
    reqs = _requests()
    assert any("/_lfs/part/" in r["path"] for r in reqs), "multipart path not used"
    assert any("/_lfs/upload/" in r["path"] for r in reqs), "basic path not used"

    remote = set(a.list_repo_files("alice/up1", token=READ))
    assert set(files) | {".gitattributes"} == remote
    attrs = open(a.hf_hub_download("alice/up1", ".gitattributes", token=READ)).read()
    assert "weights/lfs_basic.dat filter=lfs diff=lfs merge=lfs -text" in attrs

    mi = a.model_info("alice/up1", token=READ, files_metadata=True)
    lfs = {s.rfilename: s.lfs for s in mi.siblings}
    assert lfs["weights/lfs_multi.dat"] is not None and lfs["hello.txt"] is None

    out = snapshot_download("alice/up1", token=READ, local_dir=str(tmp_path / "dl"), endpoint=URL)
    for rel, data in files.items():
        with open(os.path.join(out, rel), "rb") as f:
            assert f.read() == data, rel

    # Re-upload: nothing changed, no new commit.
    before = a.model_info("alice/up1", token=READ).sha
    a.upload_folder(repo_id="alice/up1", folder_path=str(src), token=WRITE, commit_message="again")
    assert a.model_info("alice/up1", token=READ).sha == before


def test_create_pr_is_visible(tmp_path):
    a = api()
    a.create_repo("acme/prs", token=WRITE, repo_type="dataset")
    p = tmp_path / "f.txt"
    p.write_text("on main\n")
    a.upload_file(path_or_fileobj=str(p), path_in_repo="f.txt", repo_id="acme/prs", repo_type="dataset", token=WRITE)
    p.write_text("in a PR\n")
    info = a.upload_file(
        path_or_fileobj=str(p), path_in_repo="f.txt", repo_id="acme/prs", repo_type="dataset",
        token=WRITE, create_pr=True,
    )
    assert info.pr_num == 1 and info.pr_revision == "refs/pr/1"
    refs = a.list_repo_refs("acme/prs", repo_type="dataset", include_pull_requests=True, token=READ)
    assert [r.ref for r in refs.pull_requests] == ["refs/pr/1"]
    got = a.hf_hub_download("acme/prs", "f.txt", repo_type="dataset", revision="refs/pr/1", token=READ)
    assert open(got).read() == "in a PR\n"
    main = a.hf_hub_download("acme/prs", "f.txt", repo_type="dataset", token=READ, force_download=True)
    assert open(main).read() == "on main\n"


def test_write_permissions():
    a = api()
    with pytest.raises(HfHubHTTPError) as e:
        a.create_repo("alice/nope", token=READ)
    assert e.value.response.status_code == 403
    # fine-grained: may create in acme (namespace grant), not in alice (repo grant only)
    a.create_repo("acme/fine1", token=FINE)
    with pytest.raises(HfHubHTTPError) as e:
        a.create_repo("alice/m1", token=FINE)
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        a.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="acme/fine1", token="hf_otherUserToken")
    assert e.value.response.status_code == 403
    a.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="acme/fine1", token=FINE)
