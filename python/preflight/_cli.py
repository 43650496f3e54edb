"""The ``preflight`` command that ``pip install`` puts on PATH.

It runs the Rust command line (``preflight_cli::run``) in this process: the same code as the
native binary, with the signal dispositions of a native binary. Python installs a SIGINT
handler (``KeyboardInterrupt``) and ignores SIGXFSZ at start-up; both are put back to the
default first, so Ctrl-C reaches only the handlers the Rust code installs (``preflight run``
forwards it to the job exactly once) and child processes inherit what they would from the
native binary. SIGPIPE is ignored by both runtimes alike.
"""

from __future__ import annotations

import signal
import sys
from typing import List, Optional

from . import _native


def main(argv: Optional[List[str]] = None) -> int:
    """Runs ``preflight`` with ``argv`` (default ``sys.argv``) and exits with its status."""
    for name in ("SIGINT", "SIGXFSZ"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_DFL)
    # Python's own buffered output must not land after the Rust side's.
    sys.stdout.flush()
    sys.stderr.flush()
    status = _native.run_cli(list(sys.argv if argv is None else argv))
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover - `python -m preflight._cli`
    main()
