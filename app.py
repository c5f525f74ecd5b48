"""TinBao's entry point: ``python app.py`` runs the whole gateway; ``python app.py --help`` lists
the commands (``hub``, ``doctor``, ``backup``, ``purge``...).

The commands, and their one list with a line each, are in ``gateway/cli.py``, which an
installed gateway runs as ``python -m gateway`` or ``tinbao``; this file is the checkout's door
to it (a second copy of the list here went stale as commands were added).
"""

from __future__ import annotations

import sys

from gateway.cli import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main(prog="app.py"))
