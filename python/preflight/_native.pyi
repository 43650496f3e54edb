"""Type stubs for the Rust extension ``preflight._native`` (crates/preflight-py)."""

import os
from typing import List, Optional, Tuple, Union

_Path = Union[str, "os.PathLike[str]"]

def version() -> str: ...
def run_cli(argv: List[str]) -> int: ...
def validate(
    endpoint: Optional[str] = None,
    timeout: float = 5.0,
    repo: Optional[str] = None,
    repo_type: str = "model",
    need: str = "read",
    modal_cli: Optional[_Path] = None,
    modal_timeout: float = 10.0,
    hf: bool = True,
    modal: bool = True,
) -> List[str]: ...
def setup_log(path: Optional[_Path], level: int = 20) -> List[str]: ...
def write_record(level: int, event: str, target: str, fields_json: str) -> bool: ...
def register_secret(value: str) -> None: ...
def redact(text: str) -> str: ...
def log_path() -> Optional[str]: ...

class RetryConfig:
    """The retry policy, in seconds (immutable). Bad values raise PreflightUsageError (PF009).

    Args:
        max_attempts: attempts including the first (>= 1).
        initial_delay: the wait before the first retry.
        max_delay: the cap on any computed wait.
        multiplier: growth between waits (>= 1).
        jitter: ``"none"`` (exact waits), ``"full"`` (uniform in [0, d]) or ``"equal"``
            (uniform in [d/2, d]).
        deadline: overall budget from the first attempt; no wait is started that would end
            past it. None: no budget.
        seed: seeds the jitter, for reproducible waits.
        max_retry_after: the cap on a wait the failure asked for (an exception's
            ``retry_after`` attribute).
    """

    def __init__(
        self,
        max_attempts: int = 3,
        initial_delay: float = 1.0,
        max_delay: float = 30.0,
        multiplier: float = 2.0,
        jitter: str = "equal",
        deadline: Optional[float] = None,
        seed: Optional[int] = None,
        max_retry_after: float = 60.0,
    ) -> None: ...
    @staticmethod
    def from_env() -> "RetryConfig":
        """The ``PREFLIGHT_RETRY_*`` variables over the CLI's defaults, as the CLI reads them."""
    @property
    def max_attempts(self) -> int: ...
    @property
    def initial_delay(self) -> float: ...
    @property
    def max_delay(self) -> float: ...
    @property
    def multiplier(self) -> float: ...
    @property
    def jitter(self) -> str: ...
    @property
    def deadline(self) -> Optional[float]: ...
    @property
    def seed(self) -> Optional[int]: ...
    @property
    def max_retry_after(self) -> float: ...
    def delays(self) -> List[float]:
        """The waits the Rust policy computes, one per retry (``max_attempts - 1``)."""
    def start(self, operation: str) -> "RetryRun": ...

class RetryRun:
    @property
    def max_attempts(self) -> int: ...
    def after_failure(
        self,
        attempt: int,
        elapsed: float,
        retryable: bool,
        error_kind: str,
        cause: str,
        retry_after: Optional[float] = None,
    ) -> Tuple[Optional[float], Optional[str]]: ...
