"""The exceptions of the package. Every one carries the `PF…` code of the failure."""

from __future__ import annotations

from typing import Optional

__all__ = ["PreflightError", "PreflightUsageError"]


class PreflightError(Exception):
    """A failure with a stable `PF…` code (`preflight explain CODE` tells what to do).

    Attributes:
        code: the code, such as ``"PF003"``.
        message: what happened, in one sentence (never holds a token).
        hint: what to do about it, or None.
    """

    def __init__(self, code: str, message: str, hint: Optional[str] = None) -> None:
        super().__init__(code, message, hint)
        self.code = code
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = f"error[{self.code}]: {self.message}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text + f"\nsee: docs/auth-troubleshooting.md#{self.code.lower()}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class PreflightUsageError(PreflightError, ValueError):
    """An argument was wrong (code ``PF009``, as for the CLI's usage errors)."""
