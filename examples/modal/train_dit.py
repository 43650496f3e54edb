"""Train a DiT on Modal and publish the checkpoints to the Hugging Face Hub, with pre-flight
checks on both sides of the wire.

Run it from your machine through the launcher:

    preflight train examples/modal/train_dit.py -- --repo your-org/dit-checkpoints --epochs 3
    # same as: preflight run --require modal -- modal run examples/modal/train_dit.py --repo ...

What runs where (see docs/modal-training.md):

* On your machine, `preflight train` checks your *Modal* credentials before `modal run` starts,
  forwards Ctrl-C to it, and exits with its status.
* In Modal, the upload uses the `HF_TOKEN` of the Modal Secret named below, not the token on
  your machine. So before a GPU is paid for, a small CPU container with the *same* image and
  Secret runs `preflight check hf --repo REPO --need write`; and the GPU function runs it again
  before training starts, in case it is called directly.

Build the static binary the image ships (the image does not need Rust):

    rustup target add x86_64-unknown-linux-musl
    cargo build --release --target x86_64-unknown-linux-musl -p preflight-cli
    export PREFLIGHT_BIN=target/x86_64-unknown-linux-musl/release/preflight

Create the Secret once (a token with write access to the repo):

    modal secret create huggingface HF_TOKEN=hf_...
"""

from __future__ import annotations

import os
import pathlib
import subprocess

import modal

# Read locally when the image is defined; the container never evaluates this path.
PREFLIGHT_BIN = os.environ.get(
    "PREFLIGHT_BIN", "target/x86_64-unknown-linux-musl/release/preflight"
)
HF_SECRET_NAME = os.environ.get("HF_SECRET_NAME", "huggingface")

image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("torch", "numpy")
    # copy=True bakes the binary into a layer so the build step below can run it.
    .add_local_file(PREFLIGHT_BIN, "/usr/local/bin/preflight", copy=True)
    .run_commands("chmod 0755 /usr/local/bin/preflight", "preflight --version")
)

# required_keys makes Modal refuse the app at creation if the Secret has no HF_TOKEN at all.
hf_secret = modal.Secret.from_name(HF_SECRET_NAME, required_keys=["HF_TOKEN"])

app = modal.App("train-dit", image=image)

CHECKPOINT_DIR = pathlib.Path("/tmp/checkpoints")


class PreflightFailed(RuntimeError):
    """The in-container check failed; the message says what to fix."""


def preflight_hf(repo: str) -> None:
    """Validates the container's HF_TOKEN and its right to write `repo`, or raises.

    `preflight check` prints a table and, on failure, an `error[PF…]` block with the fix; both
    go to the Modal logs. Tokens are masked in that output. The auth log is switched off:
    the container's file system is thrown away anyway.
    """
    command = [
        "preflight",
        "check",
        "hf",
        "--repo",
        repo,
        "--need",
        "write",
        "--auth-log",
        "off",
    ]
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise PreflightFailed(
            f"pre-flight inside the container failed (exit {completed.returncode}): the "
            f"HF_TOKEN of Modal Secret '{HF_SECRET_NAME}' cannot write {repo}. Fix the Secret "
            f"(modal secret create {HF_SECRET_NAME} HF_TOKEN=hf_... --force) and rerun; "
            "`preflight explain PFxxx` explains the code above."
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
    # Fails in seconds, on a CPU container, when the Secret's token cannot write the repo.
    check_upload_access.remote(repo)
    url = train.remote(repo, epochs)
    print(f"checkpoints: {url}")
