"""Train a DiT on Modal and publish the checkpoints to the Hugging Face Hub, with pre-flight
checks on both sides of the wire, through the Python package `preflight`.

Run it from your machine through the launcher:

    preflight train examples/modal/train_dit.py -- --repo your-org/dit-checkpoints --epochs 3
    # same as: preflight run --require modal -- modal run examples/modal/train_dit.py --repo ...

What runs where (see docs/modal-training.md):

* On your machine, `preflight train` checks your *Modal* credentials before `modal run` starts,
  forwards Ctrl-C to it, and exits with its status. The local entrypoint checks them again with
  `AuthValidator().validate_modal_token()` (for runs started with plain `modal run`).
* In Modal, the upload uses the `HF_TOKEN` of the Modal Secret named below, not the token on
  your machine. So before a GPU is paid for, a small CPU container with the *same* image and
  Secret runs `AuthValidator().validate_hf_token(repo=REPO, need="write")`; and the GPU
  function runs it again before training starts, in case it is called directly.

Build the wheel the image installs (the image does not need Rust; abi3, so any CPython >= 3.9):

    pip wheel . --no-deps -w dist/
    export PREFLIGHT_WHEEL=$(ls dist/preflight_credentials-*.whl)

Create the Secret once (a token with write access to the repo):

    modal secret create huggingface HF_TOKEN=hf_...
"""

from __future__ import annotations

import os
import pathlib
import subprocess

import modal

# Read locally when the image is defined; the container never evaluates this path.
PREFLIGHT_WHEEL = os.environ.get(
    "PREFLIGHT_WHEEL", "dist/preflight_credentials-0.1.0-cp39-abi3-linux_x86_64.whl"
)
HF_SECRET_NAME = os.environ.get("HF_SECRET_NAME", "huggingface")
WHEEL_IN_IMAGE = f"/tmp/{pathlib.Path(PREFLIGHT_WHEEL).name}"

image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("torch", "numpy")
    # copy=True bakes the wheel into a layer so the build step below can install it; the wheel
    # brings the `preflight` command too.
    .add_local_file(PREFLIGHT_WHEEL, WHEEL_IN_IMAGE, copy=True)
    .run_commands(f"pip install {WHEEL_IN_IMAGE}", "preflight --version")
)

# required_keys makes Modal refuse the app at creation if the Secret has no HF_TOKEN at all.
hf_secret = modal.Secret.from_name(HF_SECRET_NAME, required_keys=["HF_TOKEN"])

app = modal.App("train-dit", image=image)

CHECKPOINT_DIR = pathlib.Path("/tmp/checkpoints")


class PreflightFailed(RuntimeError):
    """A pre-flight check failed; the message says what to fix. `code` is the `PF…` code."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


def preflight_hf(repo: str) -> None:
    """Validates the container's HF_TOKEN and its right to write `repo`, or raises.

    The result (masked token, identity, verdict) goes to the Modal logs; the token itself never
    does. No auth log file: the container's file system is thrown away anyway.
    """
    from preflight import AuthValidator  # noqa: PLC0415 (installed in the image)

    result = AuthValidator().validate_hf_token(repo=repo, need="write")
    print(result, flush=True)
    if not result.passed:
        raise PreflightFailed(
            f"pre-flight inside the container failed: the HF_TOKEN of Modal Secret "
            f"'{HF_SECRET_NAME}' cannot write {repo} ({result.code}: {result.message}). Fix the "
            f"Secret (modal secret create {HF_SECRET_NAME} HF_TOKEN=hf_... --force) and rerun; "
            f"`preflight explain {result.code}` explains the code.",
            result.code,
        )


def preflight_modal() -> None:
    """Validates the local Modal credentials (through the `modal` CLI), or raises."""
    from preflight import AuthValidator  # noqa: PLC0415

    result = AuthValidator().validate_modal_token()
    if not result.passed:
        raise PreflightFailed(
            f"Modal pre-flight failed ({result.code}): {result.message} {result.remediation or ''}".strip(),
            result.code,
        )


@app.function(secrets=[hf_secret], cpu=0.25, memory=256, timeout=120)
def check_upload_access(repo: str) -> None:
    """The cheap check: same image, same Secret as `train`, no GPU."""
    preflight_hf(repo)


@app.function(secrets=[hf_secret], gpu="A100", timeout=6 * 60 * 60)
def train(repo: str, epochs: int = 1) -> str:
    # Again, first thing: this function may be called without the entrypoint below.
    preflight_hf(repo)

    import torch  # noqa: PLC0415 (only installed in the image)

    CHECKPOINT_DIR.mkdir(parents=True, exist_ok=True)
    model = torch.nn.Linear(16, 16)  # stand-in for the DiT
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        loss = model(torch.randn(64, 16)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"epoch {epoch}: loss {loss.item():.4f}", flush=True)
        torch.save(model.state_dict(), CHECKPOINT_DIR / f"epoch-{epoch:03d}.pt")

    # Upload with retries and resumption; HF_TOKEN comes from the Secret.
    subprocess.run(
        [
            "preflight",
            "upload",
            str(CHECKPOINT_DIR),
            "--repo",
            repo,
            "--message",
            f"DiT checkpoints after {epochs} epoch(s)",
            "--auth-log",
            "off",
        ],
        check=True,
    )
    return f"https://huggingface.co/{repo}"


@app.local_entrypoint()
def main(repo: str, epochs: int = 1) -> None:
    preflight_modal()
    # Fails in seconds, on a CPU container, when the Secret's token cannot write the repo.
    check_upload_access.remote(repo)
    url = train.remote(repo, epochs)
    print(f"checkpoints: {url}")
