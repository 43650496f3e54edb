"""Retries with backoff for your own functions: `RetryConfig`, `RetryManager`,
`retry_with_backoff`.

The loop lives here because it calls your function and sleeps (or awaits) between attempts;
what to do after each failure (how long to wait, when to give up) is decided by the Rust
policy of ``preflight-retry``, the one the CLI's uploads use. `RetryConfig.delays()` shows the
waits that policy computes for a config.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from typing import (
    Any,
    Awaitable,
    Callable,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
    cast,
    overload,
)

from . import _native

__all__ = ["RetryConfig", "RetryManager", "retry_with_backoff", "RetryCallback"]

RetryConfig = _native.RetryConfig

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
ExceptionTypes = Union[Type[BaseException], Tuple[Type[BaseException], ...]]
RetryCallback = Callable[[int, BaseException, float], None]
"""``on_retry(attempt, exception, delay)``: attempt `attempt` (1-based) failed with
`exception` and the next one starts in `delay` seconds."""

DEFAULT_RETRYABLE: Tuple[Type[BaseException], ...] = (ConnectionError, TimeoutError)


def _retry_after(error: BaseException) -> Optional[float]:
    """A wait the failure asked for: an exception's ``retry_after`` attribute, in seconds."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _describe(error: BaseException) -> Tuple[str, str]:
    return type(error).__name__, str(error)


class RetryManager:
    """Runs a function until it succeeds, raises a non-retryable exception, runs out of
    attempts or would pass the deadline, waiting the Rust policy's delays in between.

    After the last attempt, the last exception is raised as it was (with its traceback). An
    exception that is not one of `retryable_exceptions` is raised at once. Each retry and the
    giving up are written to the auth log (`setup_auth_logging`) as ``retry`` and
    ``retry_gave_up`` events, as the CLI's are.

    Args:
        config: the policy; None is ``RetryConfig()`` (3 attempts, 1 s doubling, equal jitter).
        retryable_exceptions: the exception classes worth retrying.
        on_retry: called before each wait as ``on_retry(attempt, exception, delay)``.
    """

    def __init__(
        self,
        config: Optional[RetryConfig] = None,
        retryable_exceptions: ExceptionTypes = DEFAULT_RETRYABLE,
        on_retry: Optional[RetryCallback] = None,
    ) -> None:
        self.config = config if config is not None else RetryConfig()
        if isinstance(retryable_exceptions, type):
            retryable_exceptions = (retryable_exceptions,)
        self.retryable_exceptions: Tuple[Type[BaseException], ...] = tuple(retryable_exceptions)
        self.on_retry = on_retry

    def __repr__(self) -> str:
        names = ", ".join(kind.__name__ for kind in self.retryable_exceptions)
        return f"RetryManager(config={self.config!r}, retryable_exceptions=({names}))"

    def _decide(
        self, run: Any, attempt: int, started: float, error: BaseException
    ) -> Optional[float]:
        """The delay before the next attempt, or None to give up."""
        retryable = isinstance(error, self.retryable_exceptions)
        kind, cause = _describe(error)
        delay, _reason = run.after_failure(
            attempt,
            time.monotonic() - started,
            retryable,
            kind,
            cause,
            _retry_after(error) if retryable else None,
        )
        if delay is not None and self.on_retry is not None:
            self.on_retry(attempt, error, delay)
        return delay

    def execute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Calls ``fn(*args, **kwargs)`` with retries and returns its result."""
        run = self.config.start(_operation_name(fn))
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as error:
                delay = self._decide(run, attempt, started, error)
                if delay is None:
                    raise
            time.sleep(delay)
            attempt += 1

    async def execute_async(
        self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> T:
        """Awaits ``fn(*args, **kwargs)`` with retries (``asyncio.sleep`` between attempts)
        and returns its result."""
        run = self.config.start(_operation_name(fn))
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                return await fn(*args, **kwargs)
            except Exception as error:
                delay = self._decide(run, attempt, started, error)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            attempt += 1


def _operation_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


@overload
def retry_with_backoff(config: F) -> F: ...


@overload
def retry_with_backoff(
    config: Optional[RetryConfig] = None,
    retryable_exceptions: ExceptionTypes = DEFAULT_RETRYABLE,
    on_retry: Optional[RetryCallback] = None,
) -> Callable[[F], F]: ...


def retry_with_backoff(
    config: Any = None,
    retryable_exceptions: ExceptionTypes = DEFAULT_RETRYABLE,
    on_retry: Optional[RetryCallback] = None,
) -> Any:
    """Decorates a function (sync or ``async def``) so that each call is retried by a
    `RetryManager` with these arguments. ``@retry_with_backoff`` without parentheses uses the
    defaults."""
    if callable(config) and not isinstance(config, RetryConfig):
        return retry_with_backoff()(config)
    manager = RetryManager(config, retryable_exceptions, on_retry)

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await manager.execute_async(fn, *args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return manager.execute(fn, *args, **kwargs)

        return cast(F, wrapper)

    return decorate
