"""TinBao's entry point: ``python app.py`` runs the whole gateway.

    python app.py                      # defaults from firmware_config/gateway.toml
    python app.py --config FILE        # another config (or TINBAO_CONFIG=FILE)
    TINBAO_MODEM_PORT=/dev/ttyUSB0 python app.py

Any key can be overridden by TINBAO_<SECTION>_<KEY>; a wrong value stops start-up with one
line naming the key.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from gateway.config import load_config
from gateway.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app.py", description="TinBao SMS gateway")
    parser.add_argument("--config", help="TOML config file (default: firmware_config/gateway.toml)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    parser.add_argument("command", nargs="?", default="run", choices=["run"], help="what to do (default: run)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("gsmmodem").setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"tinbao: {exc}", file=sys.stderr)
        return 2

    from gateway.service import Gateway

    # systemd stops a service with SIGTERM: leave through the same door as Ctrl-C, so the
    # workers stop between two commands and the database is closed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        Gateway(config).run()
    except ConfigError as exc:
        print(f"tinbao: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
