"""Many workers, one repository: each worker uploads its own shard with `preflight upload`.

Run locally with N processes (what the test does):

    python examples/sharded_upload/upload_shards.py ROOT --repo acme/dataset --workers 6

ROOT holds `shard-0/`, `shard-1/`, ...; worker K uploads `ROOT/shard-K` to `shard-K/` in the
repo (`--path-in-repo shard-K`). Every worker commits on the branch head at commit time (no
`parentCommit`, as the official client), so all N commits land, in any order. Workers must
write different paths: for the same path, the last commit wins, as with the official client.

On Modal the same worker is one function and `.map` fans it out; each container runs the
same command (the preflight binary and HF_TOKEN come from the image and a Secret):

    import modal
    app = modal.App("sharded-upload")
    image = modal.Image.debian_slim().add_local_file("preflight", "/usr/local/bin/preflight")

    @app.function(image=image, secrets=[modal.Secret.from_name("huggingface")],
                  volumes={"/data": modal.Volume.from_name("shards")})
    def upload_shard(shard: int) -> int:
        import subprocess
        return subprocess.run(["preflight", "upload", f"/data/shard-{shard}",
                               "--repo", "acme/dataset", "--repo-type", "dataset",
                               "--path-in-repo", f"shard-{shard}"]).returncode

    @app.local_entrypoint()
    def main(workers: int = 6):
        codes = list(upload_shard.map(range(workers)))
        assert all(code == 0 for code in codes), codes

A worker that fails (its exit status and `error[PF…]` block say why) can simply be run again:
its resume state skips what is already stored.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path


def worker_command(preflight: str, root: Path, repo: str, shard: int, extra: list[str]) -> list[str]:
    return [preflight, "upload", str(root / f"shard-{shard}"), "--repo", repo,
            "--path-in-repo", f"shard-{shard}", *extra]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder holding shard-0/, shard-1/, ...")
    parser.add_argument("--repo", required=True)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--preflight", default=os.environ.get("PREFLIGHT_BIN", "preflight"))
    # Any other flag is passed on to every `preflight upload` (e.g. --repo-type dataset).
    args, extra = parser.parse_known_args()
    workers = [
        subprocess.Popen(worker_command(args.preflight, args.root, args.repo, shard, extra))
        for shard in range(args.workers)
    ]
    codes = [worker.wait() for worker in workers]
    for shard, code in enumerate(codes):
        print(f"shard-{shard}: exit {code}", file=sys.stderr)
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    sys.exit(main())
