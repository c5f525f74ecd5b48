"""TinBao's command line: ``python app.py`` (or ``python -m gateway``, ``tinbao``) runs the whole gateway.

    python app.py                          # the gateway, defaults from firmware_config/gateway.toml
    python app.py --config FILE            # another config (or TINBAO_CONFIG=FILE)
    python app.py create-user NAME --role admin|officer|viewer
    python app.py hub                      # the upstream hub that receives every commune's tips
    python app.py hub create-user NAME --role admin|officer|viewer   # an account in the hub's database
    python app.py sync                     # the sync worker alone (tips to Zalo and the hub, the heartbeat)
    python app.py export-tips FILE         # unsynced tips to a signed file (USB stick)
    python app.py import-tips FILE         # on the hub: take such a file in
    python app.py hub export-province GATEWAY FILE   # on the hub: warnings and campaigns for a post without internet
    python app.py import-province FILE     # on the gateway: take such a file in
    python app.py doctor                   # is the post ready for the field? (0 when it is)
    python app.py backup FILE              # a consistent copy of the database, at any time
    python app.py restore FILE             # put a copy back (the gateway stopped; --recovery-code)
    python app.py key init                 # the file key that seals backups (prints its recovery code once)
    python app.py tls init                 # a local CA and the Pi's certificate for HTTPS on the LAN
    python app.py modem-probe              # name the first port that answers AT /dev/tinbao-modem
    python app.py purge --dry-run          # what the retention rules would remove now, per kind
    python app.py purge                    # remove it now (the gateway does it each night)

Any key can be overridden by TINBAO_<SECTION>_<KEY>; a wrong value stops start-up with one
line naming the key. Each command lives in the module that owns its area; this module only
parses the command line. The same commands run as ``python -m gateway ...`` and, once
installed (``pip install .``), as ``tinbao ...``: nothing here needs the project folder.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from gateway.config import load_config
from gateway.errors import TinBaoError
from gateway.storage import DatabaseCorrupt

# command -> "module:function"; each function takes (config, args) and returns an exit code.
COMMANDS = {
    "run": "gateway.service:run_command",
    "create-user": "gateway.accounts.users:create_user_command",
    "hub": "gateway.hub.server:hub_command",
    "district": "gateway.hub.server:hub_command",  # the old name of ``hub``
    "sync": "gateway.sync.alone:sync_command",
    "export-tips": "gateway.sync.usb_export:export_command",
    "import-tips": "gateway.hub.server:import_command",
    "import-province": "gateway.sync.province:import_command",
    "doctor": "gateway.doctor:doctor_command",
    "backup": "gateway.backup:backup_command",
    "restore": "gateway.backup:restore_command",
    "key": "gateway.filekeys:key_command",
    "tls": "gateway.tls:tls_command",
    "modem-probe": "gateway.modem.probe:probe_command",
    "purge": "gateway.privacy.worker:purge_command",
}


def build_parser(prog: str = "tinbao") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="TinBao SMS gateway")
    parser.add_argument("--config", help="TOML config file (default: firmware_config/gateway.toml)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the gateway (the default)")
    user = commands.add_parser("create-user", help="create an officer's account (asks for the password)")
    user.add_argument("username")
    user.add_argument("--role", choices=["admin", "officer", "viewer"], default="officer")
    hub = commands.add_parser("hub", aliases=["district"], help="run the upstream hub (the provincial police)")
    hub_commands = hub.add_subparsers(dest="hub_command")
    hub_user = hub_commands.add_parser("create-user", help="create a hub account in the hub's own database")
    hub_user.add_argument("username")
    hub_user.add_argument("--role", choices=["admin", "officer", "viewer"], default="officer")
    hub_file = hub_commands.add_parser("export-province",
                                       help="write the province's warnings and campaigns for one post (USB stick)")
    hub_file.add_argument("gateway", help="the post's gateway.id, as in hub.gateways")
    hub_file.add_argument("file")
    commands.add_parser("sync", help="run the sync worker and the heartbeat alone, until stopped")
    export = commands.add_parser("export-tips", help="write unsynced tips to a signed file")
    export.add_argument("file")
    imported = commands.add_parser("import-tips", help="hub: import a file written by export-tips")
    imported.add_argument("file")
    province_file = commands.add_parser("import-province",
                                        help="take in a file of the province's warnings and campaigns (USB stick)")
    province_file.add_argument("file")
    doctor = commands.add_parser("doctor", help="check that the post is ready for the field (exit 0 when it is)")
    doctor.add_argument("--health", action="store_true",
                        help="only ask whether the running gateway's page answers on web.port (the health timer)")
    copy = commands.add_parser("backup", help="write a consistent copy of the database (also while it runs)")
    copy.add_argument("file", help="a new file, or a folder to put a dated copy in")
    put_back = commands.add_parser("restore", help="put a backup in place of the database (the gateway stopped)")
    put_back.add_argument("file")
    put_back.add_argument("--recovery-code", action="store_true",
                          help="open a sealed backup with the recovery code from paper (asked, never an argument)")
    key = commands.add_parser("key", help="the file key that seals backups")
    key_commands = key.add_subparsers(dest="key_command")
    key_init = key_commands.add_parser("init", help="make the key (kept when it exists); prints its recovery code once")
    key_init.add_argument("--from-recovery-code", action="store_true", help="rebuild the key from its recovery code")
    key_init.add_argument("--replace", action="store_true",
                          help="a new key and code (the paper was lost); the old key is kept for its backups")
    key_init.add_argument("--quiet", action="store_true",
                          help="do not print the recovery code (the setup page shows it once)")
    key_init.add_argument("--by", help=argparse.SUPPRESS)  # who showed the code: the installer says so
    key_commands.add_parser("show", help="where the key is, its key id and whether its code was shown")
    tls = commands.add_parser("tls", help="HTTPS on the post's LAN")
    tls_commands = tls.add_subparsers(dest="tls_command")
    tls_init = tls_commands.add_parser("init", help="make the local CA (kept when it exists) and the Pi's certificate")
    tls_init.add_argument("--dir", help="folder for ca.crt, ca.key, server.crt, server.key "
                                        "(default: beside web.tls_cert, or tls/ beside the database)")
    tls_init.add_argument("--hostname", help="the Pi's name (default: this machine's)")
    tls_init.add_argument("--address", action="append", default=[], help="an address of the Pi (repeat)")
    tls_init.add_argument("--new-ca", action="store_true", help="replace the CA (every phone must trust the new one)")
    tls_commands.add_parser("show", help="the certificate's names, expiry and the CA's fingerprint")
    probe = commands.add_parser("modem-probe", help="link /dev/tinbao-modem to the first port that answers AT")
    probe.add_argument("--link", default="/dev/tinbao-modem")
    probe.add_argument("--ports", nargs="*", help="ports to try (default: /dev/ttyUSB* and /dev/ttyACM*)")
    probe.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for OK on each port")
    purge = commands.add_parser("purge", help="remove what the retention rules (privacy.*) let go, now")
    purge.add_argument("--dry-run", action="store_true", help="only print what would go, per kind")
    return parser


def main(argv: list[str] | None = None, prog: str = "tinbao") -> int:
    """Run one command; its exit code (2: a config or database problem, said in one line)."""
    args = build_parser(prog).parse_args(argv)
    args.command = args.command or "run"
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s",
    )
    logging.getLogger("gsmmodem").setLevel(logging.WARNING)
    # systemd stops a service with SIGTERM: leave through the same door as Ctrl-C, so the
    # workers stop between two commands and the database is closed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        config = load_config(args.config)
        for notice in config.notices:  # an older key name in use: one line each
            logging.getLogger("gateway.config").warning("%s", notice)
        module_name, function_name = COMMANDS[args.command].split(":")
        command = getattr(importlib.import_module(module_name), function_name)
        return int(command(config, args) or 0)
    except (TinBaoError, DatabaseCorrupt) as exc:
        print(f"tinbao: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
