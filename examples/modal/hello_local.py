"""A Modal app with only a local entrypoint: no functions, no image, no remote work.

`modal run examples/modal/hello_local.py` creates an ephemeral app, runs `main` on this
machine and disconnects. The Preflight tests run it with the real `modal` CLI against the
fake control plane in tools/fake-modal/ (see its README). `--fail` makes the entrypoint
raise (exit 1); `--code N` makes it exit with N.
"""

import sys

import modal

app = modal.App("preflight-hello-local")


@app.local_entrypoint()
def main(name: str = "preflight", fail: bool = False, code: int = 0):
    print(f"hello from the local entrypoint, {name}", flush=True)
    if fail:
        raise RuntimeError("hello_local failed on purpose (--fail)")
    if code:
        sys.exit(code)
