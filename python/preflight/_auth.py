"""Credential checks: `AuthValidator`, `TokenValidationResult`, `TokenStatus`.

Discovery, validation and the write-permission rule are the Rust crate ``preflight-auth``,
the same code as ``preflight check``; a result is the CLI's ``--json`` result, as objects.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from . import _native
from ._errors import PreflightError

__all__ = [
    "AuthValidator",
    "Identity",
    "PermissionCheck",
    "TokenStatus",
    "TokenValidationResult",
]

PathLike = Union[str, "os.PathLike[str]"]
_PERMISSION_KEYS = ("repo", "repo_type", "need", "verdict", "reason")


class TokenStatus(enum.Enum):
    """How one credential check ended."""

    VALID = "VALID"
    """The provider accepted the credential."""
    INVALID = "INVALID"
    """The credential was rejected, or can never be sent."""
    EXPIRED = "EXPIRED"
    """The credential is known to be expired."""
    MISSING = "MISSING"
    """No credential was found."""
    UNKNOWN = "UNKNOWN"
    """No answer could be obtained (network, timeout, server error, missing tool)."""


@dataclass(frozen=True)
class Identity:
    """Who the credential belongs to, as the provider reported it."""

    name: Optional[str] = None
    kind: Optional[str] = None
    orgs: Tuple[str, ...] = ()
    workspace: Optional[str] = None
    token_name: Optional[str] = None


@dataclass(frozen=True)
class PermissionCheck:
    """The answer to "may this token do `need` to `repo`"."""

    repo: str
    repo_type: str
    need: str
    verdict: str
    """``allowed``, ``forbidden`` or ``undetermined``."""
    reason: str


@dataclass(frozen=True)
class TokenValidationResult:
    """The result of validating one provider's credential. It never holds the credential:
    only `masked_token` (``hf_…abcd``), so its repr and str are safe to print and log."""

    provider: str
    """``hf`` or ``modal``."""
    status: TokenStatus
    source: Optional[str]
    """Which source won: ``env:HF_TOKEN``, ``file:/path/token``, ``file:~/.modal.toml[profile]``…"""
    masked_token: Optional[str]
    identity: Optional[Identity]
    permission: Optional[PermissionCheck]
    code: Optional[str]
    """The ``PF…`` code of the failure, or None."""
    message: str
    remediation: Optional[str]
    latency_ms: int
    token_role: Optional[str] = None
    warnings: Tuple[str, ...] = ()
    configured: bool = False
    """Whether any credential for this provider was present at all."""
    passed: bool = False
    """VALID and, when a repo was given, allowed."""
    details: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def _from_json(cls, text: str) -> "TokenValidationResult":
        data: Dict[str, Any] = json.loads(text)
        identity = data.get("identity")
        permission = data.get("permission")
        return cls(
            provider=data["provider"],
            status=TokenStatus(data["status"]),
            source=data.get("source"),
            masked_token=data.get("masked_token"),
            identity=Identity(
                name=identity.get("name"),
                kind=identity.get("kind"),
                orgs=tuple(identity.get("orgs") or ()),
                workspace=identity.get("workspace"),
                token_name=identity.get("token_name"),
            )
            if identity
            else None,
            permission=PermissionCheck(
                **{key: permission.get(key, "") for key in _PERMISSION_KEYS}
            )
            if permission
            else None,
            code=data.get("code"),
            message=data.get("message", ""),
            remediation=data.get("remediation"),
            latency_ms=int(data.get("latency_ms", 0)),
            token_role=data.get("token_role"),
            warnings=tuple(data.get("warnings") or ()),
            configured=bool(data.get("configured")),
            passed=bool(data.get("passed")),
            details=dict(data.get("details") or {}),
        )

    def __str__(self) -> str:
        parts = [f"{self.provider}: {self.status.value}"]
        if self.code:
            parts.append(f"[{self.code}]")
        parts.append(self.message)
        return " ".join(parts)

    def raise_for_status(self) -> "TokenValidationResult":
        """Returns self when the check passed; otherwise raises `PreflightError` with the
        result's code, message and remediation."""
        if self.passed:
            return self
        raise PreflightError(self.code or "PF006", self.message, self.remediation)


class AuthValidator:
    """Validates Hugging Face and Modal credentials, exactly as ``preflight check`` does.

    Credentials are discovered from the process environment (``os.environ``) and the files the
    official clients read, each time a method is called. Every value found is registered with
    the auth log's redactor first.

    Args:
        endpoint: the Hub's base URL; None uses ``HF_ENDPOINT``, then ``https://huggingface.co``.
        timeout: deadline in seconds for the whole Hub check, retries included.
        modal_cli: the ``modal`` executable, which also selects the ``modal token info`` path;
            None checks natively over gRPC (``PREFLIGHT_MODAL_VIA`` chooses otherwise).
        modal_timeout: deadline in seconds for ``modal token info``.
    """

    def __init__(
        self,
        endpoint: Optional[str] = None,
        timeout: float = 5.0,
        *,
        modal_cli: Optional[PathLike] = None,
        modal_timeout: float = 10.0,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self.modal_cli = os.fspath(modal_cli) if modal_cli is not None else None
        self.modal_timeout = float(modal_timeout)

    def __repr__(self) -> str:
        return (
            f"AuthValidator(endpoint={self.endpoint!r}, timeout={self.timeout!r}, "
            f"modal_cli={self.modal_cli!r}, modal_timeout={self.modal_timeout!r})"
        )

    def validate_hf_token(
        self, repo: Optional[str] = None, need: str = "read", *, repo_type: str = "model"
    ) -> TokenValidationResult:
        """Discovers and validates the Hugging Face token; with `repo`, also decides whether it
        may `need` (``read`` or ``write``) that repo. Raises `PreflightUsageError` (PF009) for
        a malformed repo id, repo type or need; every other outcome is a result."""
        (hf,) = self._validate(repo, repo_type, need, hf=True, modal=False)
        return hf

    def validate_modal_token(self) -> TokenValidationResult:
        """Discovers the Modal credentials and validates them with ``modal token info``."""
        (modal,) = self._validate(None, "model", "read", hf=False, modal=True)
        return modal

    def validate_all_tokens(
        self, repo: Optional[str] = None, need: str = "read", *, repo_type: str = "model"
    ) -> Dict[str, TokenValidationResult]:
        """Both checks, concurrently: ``{"hf": ..., "modal": ...}``."""
        hf, modal = self._validate(repo, repo_type, need, hf=True, modal=True)
        return {"hf": hf, "modal": modal}

    def _validate(
        self, repo: Optional[str], repo_type: str, need: str, *, hf: bool, modal: bool
    ) -> List[TokenValidationResult]:
        # One native call: discovery runs once, and what is registered for redaction is
        # what is validated.
        texts = _native.validate(
            self.endpoint,
            self.timeout,
            repo,
            repo_type,
            need,
            self.modal_cli,
            self.modal_timeout,
            hf=hf,
            modal=modal,
        )
        return [TokenValidationResult._from_json(text) for text in texts]
