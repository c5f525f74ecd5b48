"""``python -m gateway``: the same command line as ``python app.py``, for an installed gateway."""

import sys

from gateway.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m gateway"))
