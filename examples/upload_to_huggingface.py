"""Upload a checkpoint folder to the Hugging Face Hub: pre-flight, retry, structured logging.

    pip install .                      # the package `preflight` (from this repository)
    pip install huggingface_hub        # the upload itself
    python examples/upload_to_huggingface.py checkpoints --repo your-org/dit-xl -m "step 1000"

1. **Pre-flight.** Before anything is sent, `AuthValidator` checks that the token (from
   `HF_TOKEN` or `hf auth login`, found exactly as `huggingface_hub` finds it) is valid *and*
   may write to the repo. On failure it prints `error[PF…]` with the fix and exits with the
   status `preflight check` would use, having sent nothing but one `whoami-v2` request.
2. **Retry.** The upload is retried with backoff on transient failures (connection errors,
   timeouts, 429 and 5xx answers, honouring `Retry-After`), never on a 401/403/404. The waits
   come from the same Rust policy as `preflight upload`; `PREFLIGHT_RETRY_*` tunes it.
3. **Structured logging.** Every validation, retry and upload event is one JSON line in
   `logs/auth.log` (`--auth-log`), the same schema as the CLI's, with the token masked.

It prints the commit URL on stdout. The upload uses `huggingface_hub.HfApi.upload_folder`,
which already skips files the Hub has.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

from preflight import (
    AuthValidator,
    PreflightError,
    RetryConfig,
    RetryManager,
    TokenStatus,
    setup_auth_logging,
)

# `preflight check`'s exit statuses (README "Exit statuses"), so scripts can branch the same way.
EXIT_FOR_STATUS = {
    TokenStatus.MISSING: 10,
    TokenStatus.INVALID: 11,
    TokenStatus.EXPIRED: 12,
    TokenStatus.UNKNOWN: 14,
}
EXIT_FORBIDDEN = 13
EXIT_UPLOAD_FAILED = 20
TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}


class TransientHubError(ConnectionError):
    """A Hub answer worth retrying; `retry_after` (seconds) is honoured by the retry policy."""

    def __init__(self, message: str, retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the folder to upload")
    parser.add_argument("--repo", required=True, help="NAMESPACE/NAME of the model repo")
    parser.add_argument("-m", "--message", default="Upload with preflight", help="commit message")
    parser.add_argument("--endpoint", default=None, help="the Hub's URL (default: HF_ENDPOINT)")
    parser.add_argument("--auth-log", default="logs/auth.log", help="JSON-lines log, or off")
    parser.add_argument("--max-attempts", type=int, default=4)
    return parser.parse_args(argv)


def upload_once(api, folder: str, repo: str, message: str) -> str:
    """One complete attempt: create the repo if needed, upload, commit. Transient Hub answers
    become `TransientHubError` so the retry policy sees them; the rest propagate."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.create_repo(repo, exist_ok=True)
        info = api.upload_folder(folder_path=folder, repo_id=repo, commit_message=message)
    except HfHubHTTPError as error:
        response = error.response
        status = response.status_code if response is not None else None
        if status in TRANSIENT_STATUSES:
            wait = response.headers.get("Retry-After") if response is not None else None
            retry_after = float(wait) if wait and wait.isdigit() else None
            raise TransientHubError(f"the Hub answered {status}", retry_after) from error
        raise
    return info.commit_url


def main(argv: Optional[list] = None) -> int:
    args = parse_args(argv)
    log = setup_auth_logging(None if args.auth_log == "off" else args.auth_log)

    # 1. Pre-flight: valid token, allowed to write this repo.
    check = AuthValidator(endpoint=args.endpoint).validate_hf_token(repo=args.repo, need="write")
    try:
        check.raise_for_status()
    except PreflightError as error:
        print(error, file=sys.stderr)
        log.error("pre-flight failed", extra={"event": "preflight_failed", "code": error.code})
        if check.status is TokenStatus.VALID:
            return EXIT_FORBIDDEN
        return EXIT_FOR_STATUS.get(check.status, 1)
    who = check.identity.name if check.identity else "?"
    print(f"pre-flight passed: {check.masked_token} ({who}) may write {args.repo}", file=sys.stderr)

    # 2. The upload, retried by the Rust policy.
    from huggingface_hub import HfApi

    api = HfApi(endpoint=args.endpoint, token=None)

    def on_retry(attempt: int, error: BaseException, delay: float) -> None:
        print(f"attempt {attempt} failed ({error}); retrying in {delay:.1f} s", file=sys.stderr)

    retry = RetryManager(
        RetryConfig(max_attempts=args.max_attempts, initial_delay=1.0, max_delay=30.0),
        retryable_exceptions=(ConnectionError, TimeoutError),
        on_retry=on_retry,
    )
    started = time.monotonic()
    log.info("upload started", extra={"event": "upload_started", "repo": args.repo, "folder": args.folder})
    try:
        url = retry.execute(upload_once, api, args.folder, args.repo, args.message)
    except Exception as error:
        log.error("upload failed", extra={"event": "upload_failed", "repo": args.repo, "cause": str(error)})
        print(f"error: the upload failed: {error}", file=sys.stderr)
        return EXIT_UPLOAD_FAILED

    # 3. Structured logging of the outcome.
    duration_ms = int((time.monotonic() - started) * 1000)
    log.info("upload complete", extra={"event": "upload_complete", "repo": args.repo, "commit_url": url, "duration_ms": duration_ms})
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
