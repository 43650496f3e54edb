"""Preflight: check Hugging Face Hub and Modal credentials before any work starts, retry
what can be retried, and log every authentication event with no secret in it.

The Rust crates behind the ``preflight`` CLI do the work; this package is their Python front
door (see ``docs/python.md``)::

    from preflight import AuthValidator, TokenStatus, setup_auth_logging

    log = setup_auth_logging("logs/auth.log")
    result = AuthValidator().validate_hf_token(repo="acme/dit-xl", need="write")
    if result.status is not TokenStatus.VALID:
        raise SystemExit(str(result))
"""

from ._auth import AuthValidator, Identity, PermissionCheck, TokenStatus, TokenValidationResult
from ._errors import PreflightError, PreflightUsageError
from ._log import AuthLogHandler, redact, register_secret, setup_auth_logging
from ._native import version as _version
from ._retry import RetryConfig, RetryManager, retry_with_backoff

__version__: str = _version()

__all__ = [
    "AuthLogHandler",
    "AuthValidator",
    "Identity",
    "PermissionCheck",
    "PreflightError",
    "PreflightUsageError",
    "RetryConfig",
    "RetryManager",
    "TokenStatus",
    "TokenValidationResult",
    "__version__",
    "redact",
    "register_secret",
    "retry_with_backoff",
    "setup_auth_logging",
]
