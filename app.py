"""TinBao's entry point: ``python app.py`` runs the whole gateway.

    python app.py                          # the gateway, defaults from firmware_config/gateway.toml
    python app.py --config FILE            # another config (or TINBAO_CONFIG=FILE)
    python app.py create-user NAME --role admin|officer|viewer
    python app.py hub                      # the upstream hub that receives every commune's tips
    python app.py hub create-user NAME --role admin|officer|viewer   # an account in the hub's database
    python app.py sync                     # the sync worker alone (tips to Zalo and the hub)
    python app.py export-tips FILE         # unsynced tips to a signed file (USB stick)
    python app.py import-tips FILE         # on the hub: take such a file in
    python app.py doctor                   # is the post ready for the field? (0 when it is)
    python app.py backup FILE              # a consistent copy of the database, at any time
    python app.py restore FILE             # put a copy back (the gateway stopped; --recovery-code)
    python app.py key init                 # the file key that seals backups (prints its recovery code once)
    python app.py tls init                 # a local CA and the Pi's certificate for HTTPS on the LAN
    python app.py modem-probe              # name the first port that answers AT /dev/tinbao-modem

The commands themselves are parsed in ``gateway/cli.py``, which an installed gateway runs as
``python -m gateway`` or ``tinbao``; this file is the checkout's door to it.
"""

from __future__ import annotations

import sys

from gateway.cli import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main(prog="app.py"))
