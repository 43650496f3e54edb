"""The structured JSON-lines auth log, from Python: `setup_auth_logging`.

One file, one schema (``docs/auth-log.md``), written by the Rust crate ``preflight-log``: the
validation and retry events of this package, and the records of your own logger, each
redacted of every known secret before it is written.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from typing import Any, Dict, Optional, Union

from . import _native

__all__ = ["AuthLogHandler", "register_secret", "redact", "setup_auth_logging"]

PathLike = Union[str, "os.PathLike[str]"]

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
) | {"message", "asctime", "taskName"}


def register_secret(value: str) -> None:
    """Masks `value` (8 characters or more) as ``****`` in every auth log line from now on."""
    _native.register_secret(value)


def redact(text: str) -> str:
    """`text` with every registered secret and every credential-shaped part masked."""
    return _native.redact(text)


class AuthLogHandler(logging.Handler):
    """Writes records to the auth log set up by `setup_auth_logging`, as schema-v1 lines.

    The line's ``event`` is the record's ``event`` extra (default ``message``), its target
    ``preflight::python``; ``fields`` hold ``message``, ``logger``, every other extra, and
    ``exception`` when the record carries one. Values that are not JSON become their ``str``.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: Dict[str, Any] = {
                "message": record.getMessage(),
                "logger": record.name,
            }
            event = "message"
            for key, value in vars(record).items():
                if key in _STANDARD_ATTRIBUTES or key.startswith("_"):
                    continue
                if key == "event":
                    event = str(value)
                else:
                    fields[key] = value
            if record.exc_info:
                fields["exception"] = logging.Formatter().formatException(record.exc_info)
            _native.write_record(
                record.levelno, event, "preflight::python", json.dumps(fields, default=str)
            )
        except Exception:
            self.handleError(record)


class _RedactingFilter(logging.Filter):
    """Redacts each record logged through the returned logger, so that the logger's other
    handlers (a console, a log shipper) see what the auth log sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _native.redact(record.getMessage())
        record.args = None
        return True


def setup_auth_logging(
    path: Optional[PathLike] = "logs/auth.log",
    level: int = logging.INFO,
    *,
    name: str = "preflight",
) -> logging.Logger:
    """Opens the auth log at `path` (None or ``"off"`` disables it) and returns the logger
    `name` writing to it.

    Every credential the process can see (``HF_TOKEN``, the token file, Modal's) is
    registered with the redactor right away. Validation (`AuthValidator`) and retry
    (`RetryManager`) events at `level` and above land in the same file. Calling it again
    replaces the file and level. A file that cannot be written is a `RuntimeWarning`, not an
    error: the log never fails the work it records.
    """
    if path is not None and os.fspath(path).strip().lower() in ("off", "none", "-"):
        path = None
    problems = _native.setup_log(os.fspath(path) if path is not None else None, int(level))
    for problem in problems:
        warnings.warn(f"auth log: {problem}", RuntimeWarning, stacklevel=2)
    logger = logging.getLogger(name)
    logger.setLevel(level)
    for handler in [h for h in logger.handlers if isinstance(h, AuthLogHandler)]:
        logger.removeHandler(handler)
    handler = AuthLogHandler(level)
    logger.addHandler(handler)
    if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
        logger.addFilter(_RedactingFilter())
    return logger
