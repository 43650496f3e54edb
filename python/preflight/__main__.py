"""``python -m preflight ARGS`` is ``preflight ARGS``."""

import sys

from ._cli import main

main(["preflight", *sys.argv[1:]])
