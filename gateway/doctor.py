"""``python app.py doctor``: is this post ready for the field? One line per check, ✓ or ✗ and the fix.

It runs beside a running gateway and never takes the modem's port from it: what the modem
says (SIM, network, signal, SMS centre, SIM storage) is read from the state the gateway's
modem worker publishes (``state`` key ``modem``); whether the gateway runs is its run lock
(``gateway.storage.lock_holder``). Exit 0 only when every check passes.

``python app.py doctor --health`` is the health timer's question instead: does the gateway's
page answer at all on the configured ``web.port`` (any HTTP answer, even 503, is an answer)?
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import sqlite3
import stat
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from gateway import alerts, backup, phone, state, tls
from gateway.config import DEFAULT_CONFIG, SCHEMA, Config
from gateway.doctor_line import Check
from gateway.storage import DatabaseCorrupt, check_sound, lock_holder, open_db

OK, BAD = "✓", "✗"
MIN_SIGNAL = 10  # CSQ: about -93 dBm; below it SMS come and go unreliably
MIN_FREE_BYTES = 500 * 1024 * 1024
REAL_MODEM_GLOBS = ("/dev/ttyUSB*", "/dev/tinbao-modem", "/dev/serial/by-id/*")
HUB_TIMEOUT = 5.0
MODEM_CHECKS = ("modem answers", "SIM ready", "network", "signal", "SMS centre", "SIM storage")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _modes(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


# -- checks that need no database ---------------------------------------------------------------


def check_config(config: Config) -> list[Check]:
    source = config.source
    checks = []
    if source is None or Path(source).resolve() == DEFAULT_CONFIG.resolve():
        checks.append(Check("config file", False, f"the shipped defaults ({DEFAULT_CONFIG.name})",
                            "sudo firmware_config/install.sh writes /etc/tinbao/gateway.toml (or use --config FILE)"))
    else:
        mode = _modes(Path(source))
        if mode is not None and mode & 0o007:
            checks.append(Check("config file", False, f"{source} is readable by every user (it holds secrets)",
                                f"sudo chmod 640 {source}"))
        else:
            checks.append(Check("config file", True, str(source)))
    host, port = config.web.host, config.web.port
    if host in LOOPBACK:
        checks.append(Check("web page on the LAN", False, f"web.host = {host}: only this Pi can open the page",
                            'set web.host = "0.0.0.0" so officers on the post\'s LAN reach it'))
    else:
        checks.append(Check("web page on the LAN", True, f"{'https' if config.web.tls_cert else 'http'}"
                                                          f"://<this Pi>:{port}/"))
    return checks


#: Words of a post's name that name no place: "Công an xã" alone says which level, not which commune.
_LEVEL_WORDS = ("cong an", "thi tran", "dac khu", "xa", "phuong")
SHIPPED_ID = SCHEMA["gateway"]["id"].shipped_value
SHIPPED_NAME = SCHEMA["gateway"]["name"].shipped_value


def check_identity(config: Config) -> list[Check]:
    """README step 5: which commune this post is (``gateway.id``, ``gateway.name``) and its SIM's number.

    The shipped code ``cl`` and name are Cốc Lầu's; the installer writes ``id = "cl"`` and the
    bare ``name = "Công an xã"`` for every commune. ``cl`` passes only when the name also says
    Cốc Lầu: two posts with one code would share tip references and the hub's token.
    """
    from gateway.sms.text import fold

    gateway = config.gateway
    name = " ".join(gateway.name.split())
    folded = fold(name)
    checks = []
    if gateway.id == SHIPPED_ID and "coc lau" not in folded:
        checks.append(Check("commune code", False, f"gateway.id = {gateway.id!r}, the shipped code of Cốc Lầu",
                            "set gateway.id to this commune's own short code (tip references show it,"
                            " the hub knows the gateway by it), e.g. \"bh\"; then sudo systemctl restart tinbao"))
    else:
        checks.append(Check("commune code", True, f"{gateway.id} (tips {gateway.id.upper()}-0001, ...)"))
    rest = folded
    for word in _LEVEL_WORDS:
        rest = rest.replace(word, " ")
    if not "".join(ch for ch in rest if ch.isalnum()):
        checks.append(Check("commune name", False, f"gateway.name = {name!r} names no commune",
                            "set gateway.name = \"Công an xã <tên xã>\" (it opens every broadcast SMS)"))
    elif name == SHIPPED_NAME and gateway.id != SHIPPED_ID:
        checks.append(Check("commune name", False, f"gateway.name is still the shipped {name!r}",
                            "set gateway.name to this commune's police post, e.g. \"Công an xã Bản Phố\""))
    else:
        checks.append(Check("commune name", True, name))
    raw = gateway.phone_number.strip()
    number = phone.normalise(raw)
    if not raw:
        checks.append(Check("SIM number", False, "gateway.phone_number is empty (the poster and the"
                            " broadcasts' \"Soạn TC gửi <số>\" need it)",
                            "set gateway.phone_number to the SIM's own number, e.g. \"0912 345 678\""))
    elif number.kind != "mobile":
        checks.append(Check("SIM number", False, f"gateway.phone_number = {raw!r} is not a mobile number",
                            "a SIM's number is a 10-digit mobile (09x, 03x, 08x...): check the SIM's card"))
    else:
        checks.append(Check("SIM number", True, phone.grouped(raw)))
    return checks


def check_storage(config: Config) -> Check:
    path = config.storage_path
    folder = path.parent
    if not path.is_file():
        return Check("storage", False, f"no database at {path} yet",
                     "start the gateway once (sudo systemctl start tinbao); it makes the file")
    if not (os.access(path, os.R_OK | os.W_OK) and os.access(folder, os.W_OK | os.X_OK)):
        return Check("storage", False, f"{path} is not writable by this user",
                     f"run as the gateway's user (sudo tinbao doctor) or sudo chown -R tinbao: {folder}")
    loose = []
    if (_modes(folder) or 0) & 0o077:
        loose.append(f"chmod 700 {folder}")
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        mode = _modes(candidate)
        if mode is not None and mode & 0o077:
            loose.append(f"chmod 600 {candidate}")
    if loose:
        return Check("storage", False, "readable by other users of the Pi", "; ".join(loose))
    usage = shutil.disk_usage(folder)
    return Check("storage", True, f"{path}, private (folder 0700, files 0600), {usage.free // 2**20} MB free")


def check_sound_file(config: Config) -> Check:
    try:
        check_sound(config.storage_path)
    except DatabaseCorrupt as exc:
        return Check("database sound", False, exc.problem, backup.restore_hint(config))
    except sqlite3.Error as exc:
        return Check("database sound", False, f"could not be checked: {exc}", "run doctor again in a minute")
    return Check("database sound", True, "PRAGMA quick_check: ok")


def check_disk(config: Config) -> Check:
    folder = config.storage_path.parent
    usage = shutil.disk_usage(folder if folder.exists() else Path.cwd())
    free_mb = usage.free // 2**20
    if usage.free < MIN_FREE_BYTES or usage.free < usage.total * 0.05:
        return Check("disk free", False, f"{free_mb} MB free of {usage.total // 2**20} MB",
                     "free space: sudo journalctl --vacuum-size=100M; remove old files; a larger SD card")
    return Check("disk free", True, f"{free_mb} MB free")


def check_port(config: Config, gateway_pid: int | None, published_port: str | None) -> list[Check]:
    port = config.modem.port
    checks = []
    plugged = sorted({p for pattern in REAL_MODEM_GLOBS for p in glob.glob(pattern)})
    if port == "emulator":
        checks.append(Check("modem port", False, "modem.port = emulator (the built-in stand-in, not a modem)",
                            'set modem.port = "/dev/tinbao-modem" (the udev rule names the modem so)'))
        if plugged:
            checks.append(Check("real modem unused", False, f"a modem is plugged in ({', '.join(plugged[:3])})"
                                " but the emulator is configured",
                                'set modem.port = "/dev/tinbao-modem" and restart: sudo systemctl restart tinbao'))
        else:
            checks.append(Check("real modem unused", True, "no modem plugged in"))
        return checks
    checks.append(Check("real modem unused", True, "the emulator is not configured"))
    if not os.path.exists(port):
        checks.append(Check("modem port", False, f"{port} does not exist",
                            "plug the modem in; check the udev rule (ls -l /dev/tinbao-modem, udevadm info)"))
        return checks
    real = os.path.realpath(port)
    holders = [(pid, name) for pid, name in port_holders(real) if pid != os.getpid()]
    ours = gateway_pid is not None and (
        any(pid == gateway_pid for pid, _ in holders)
        or (published_port is not None and os.path.realpath(published_port) == real))
    others = [(pid, name) for pid, name in holders if pid != gateway_pid]
    if others:
        who = ", ".join(f"{name} (process {pid})" for pid, name in others)
        fix = ("sudo systemctl disable --now ModemManager (or install the udev rule)"
               if any("modemmanager" in name.lower() for _, name in others)
               else "stop the other program holding the port")
        checks.append(Check("modem port", False, f"{port} is held by {who}", fix))
    elif ours:
        checks.append(Check("modem port", True, f"{port}, in use by the gateway"))
    else:
        checks.append(Check("modem port", True, f"{port}, present and free"))
    return checks


SYS = Path("/sys")


def usb_id(device: str, sys_root: Path = SYS) -> str | None:
    """``vendor:product`` of the USB modem a tty belongs to (``ttyUSB2`` → ``1e0e:9001``), or None."""
    node = sys_root / "class" / "tty" / Path(device).name / "device"
    try:
        here = node.resolve(strict=True)
    except OSError:
        return None
    for folder in (here, *here.parents):  # the interface, then the USB device that holds it
        vendor, product = folder / "idVendor", folder / "idProduct"
        if vendor.is_file() and product.is_file():
            try:
                return f"{vendor.read_text().strip()}:{product.read_text().strip()}".lower()
            except OSError:
                return None
        if folder == sys_root:
            break
    return None


def check_modem_link(config: Config, sys_root: Path = SYS) -> Check:
    """README steps 3-5: the port the udev rule makes is there, and it is the modem ``modem.profile`` is for."""
    from gateway.errors import ConfigError
    from gateway.modem.profiles import load_profile, profile_for_usb_id

    port, name = config.modem.port, config.modem.profile
    if port == "emulator":
        return Check("modem link", False, f"no modem behind modem.port = emulator (modem.profile = {name})",
                     "see modem port")
    try:
        profile = load_profile(name)
    except ConfigError as exc:
        return Check("modem link", False, str(exc), "set modem.profile to a table of modem_profiles.toml")
    if not os.path.exists(port):
        wanted = f" (lsusb lists {profile.usb_id})" if profile.usb_id else ""
        return Check("modem link", False, f"{port} does not exist: no modem named for modem.profile = {name}{wanted}",
                     "plug the modem in; install the udev rule (sudo firmware_config/install.sh), then unplug"
                     " and replug it; ls -l /dev/tinbao-modem")
    real = os.path.realpath(port)
    found = usb_id(real, sys_root)
    shown = f"{port} → {real}" if real != port else port
    if found is None:
        return Check("modem link", True, f"{shown} (not a USB port: {name} not checked against it)")
    if profile.usb_id and found != profile.usb_id:
        other = profile_for_usb_id(found)
        fix = (f"set modem.profile = \"{other}\" (the modem plugged in)" if other
               else "set modem.profile = \"generic\" (a modem without a profile of its own)")
        return Check("modem link", False,
                     f"{shown} is a {found} modem, but modem.profile = {name} is for {profile.usb_id}",
                     fix + "; then sudo systemctl restart tinbao")
    return Check("modem link", True, f"{shown} ({found}, modem.profile = {name})")


def port_holders(device: str) -> list[tuple[int, str]]:
    """Processes with ``device`` open (those this user may look at), as (pid, command name).

    For a pseudo-terminal (a modem emulator's link) the process holding its master side is
    the modem itself, not a competitor: it is left out.
    """
    found = []
    for fd_dir in glob.glob("/proc/[0-9]*/fd"):
        pid = int(fd_dir.split("/")[2])
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        targets = set()
        for name in names:
            with contextlib.suppress(OSError):
                targets.add(os.readlink(f"{fd_dir}/{name}"))
        if device in targets and not (device.startswith("/dev/pts/") and "/dev/ptmx" in targets):
            found.append((pid, _command(pid)))
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


#: The newest change number the hub could hold: asking for changes after it is answered with none.
_NO_CHANGES_SINCE = 2**63 - 1


def check_hub(config: Config) -> Check:
    """README's hub: the hub answers an authenticated request with this gateway's token.

    ``/healthz`` answers anybody, so a wrong ``hub.token`` would pass it; the cheapest
    request the hub only answers for a known token is its changes list, asked from past the
    last change (always empty).
    """
    url = config.hub.url
    if not url:
        return Check("hub reachable", True, "no hub configured (tips leave on USB files)")
    token = config.hub.token
    fix_token = (f"set hub.token to the token the hub's hub.gateways gives \"{config.gateway.id}\""
                 " (ask the hub's admin)")
    if not token:
        return Check("hub reachable", False, "hub.token is empty: the hub refuses this gateway", fix_token)
    target = url.rstrip("/") + f"/api/v1/changes?since={_NO_CHANGES_SINCE}&limit=1"
    request = urllib.request.Request(target, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=HUB_TIMEOUT) as response:
            body = json.loads(response.read(65536) or b"{}")
        if not isinstance(body, dict) or "changes" not in body:
            raise ValueError(body)
        hub = body.get("hub") if isinstance(body.get("hub"), str) else ""
        return Check("hub reachable", True, f"{url} accepts this gateway's token" + (f" ({hub})" if hub else ""))
    except urllib.error.HTTPError as exc:
        if exc.code == 401 and "tinbao-hub" in (exc.headers.get("WWW-Authenticate") or ""):
            return Check("hub reachable", False, f"{url} refuses this gateway's token ({exc.code})", fix_token)
        if exc.code in (401, 403, 404):
            return Check("hub reachable", False, f"{url} answered {exc.code}: no TinBao hub there",
                         "check hub.url (the hub's address, e.g. https://tinbao.conganlaocai.vn)")
        return Check("hub reachable", False, f"{url} answered {exc.code}", "check hub.url; ask the hub's admin")
    except ValueError:
        return Check("hub reachable", False, f"{url}: no TinBao hub there (its answer is not the hub's)",
                     "check hub.url (the hub's address, e.g. https://tinbao.conganlaocai.vn)")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("hub reachable", False, f"{url}: {reason}",
                     "check the Pi's internet link and hub.url (tips wait safely meanwhile)")


# -- checks read from the database (the gateway's published state) ------------------------------


def check_modem(config: Config, db: Database, running: bool, now: datetime) -> list[Check]:
    """What the gateway's modem worker published: never the port itself."""
    from gateway.modem import status as modem_status

    names = MODEM_CHECKS
    if not running:
        return [Check(name, False, "unknown: the gateway is not running",
                      "sudo systemctl start tinbao, then run doctor again") for name in names]
    modem = modem_status.read(db)
    published = state.get_json(db, modem_status.STATE_KEY) or {}
    error = modem["error"] or ""
    stale = True
    if modem["last_contact"]:
        with contextlib.suppress(ValueError):
            age = now - datetime.fromisoformat(modem["last_contact"])
            stale = age > timedelta(seconds=max(120.0, 3 * config.modem.signal_interval))
    if modem["state"] != "connected" or stale:
        found = f"{modem['state']}{': ' + error if error else ''}" + (", no recent answer" if stale else "")
        checks = [Check("modem answers", False, found,
                        "check the cable, the power and modem.port; journalctl -u tinbao says more")]
        if "PIN" in error.upper() or "SIM" in error.upper():
            fix = "set modem.pin" if "PIN" in error.upper() else "insert the SIM (gold side down), then restart"
            checks.append(Check("SIM ready", False, error, fix))
        else:
            checks.append(Check("SIM ready", False, "unknown: the modem does not answer", "see modem answers"))
        return checks + [Check(name, False, "unknown: the modem does not answer", "see modem answers")
                         for name in names[2:]]
    checks = [Check("modem answers", True, f"connected on {modem['port'] or config.modem.port}"),
              Check("SIM ready", True, "SIM unlocked")]
    technology = published.get("technology") if isinstance(published.get("technology"), str) else None
    operator = modem["operator"] or "unknown operator"
    if not modem["registered"]:
        checks.append(Check("network", False, "not registered",
                            "check the antenna and that the SIM is active (call it from another phone)"))
    elif technology == "2G":
        checks.append(Check("network", False, f"{operator} on 2G, switched off in Vietnam",
                            "use an LTE modem (SIM7600, A7670, EC25, E3372)"))
    else:
        checks.append(Check("network", True, f"registered on {operator} ({technology or 'technology unknown'})"))
    signal = modem["signal"]
    if signal is None or not 0 <= signal <= 31:
        checks.append(Check("signal", False, "no reading (CSQ 99)", "move the antenna higher, near a window"))
    elif signal < MIN_SIGNAL:
        checks.append(Check("signal", False, f"weak (CSQ {signal})", "move the antenna higher, near a window"))
    else:
        checks.append(Check("signal", True, f"CSQ {signal}"))
    smsc = published.get("smsc") if isinstance(published.get("smsc"), str) else ""
    checks.append(Check("SMS centre", True, smsc) if smsc else Check(
        "SMS centre", False, "the SIM has no SMS centre number", 'set modem.smsc (Viettel: "+84980200030")'))
    used, total = modem["sim_used"], modem["sim_total"]
    if used is None or not total:
        checks.append(Check("SIM storage", False, "unknown (AT+CPMS? not answered)", "see journalctl -u tinbao"))
    elif alerts.sim_full(modem) is not None:  # the dashboard's rule
        checks.append(Check("SIM storage", False, f"{used}/{total} messages",
                            "journalctl -u tinbao: why it is not drained"))
    else:
        checks.append(Check("SIM storage", True, f"{used}/{total} messages"))
    return checks


def check_clock(config: Config, db: Database, now: datetime) -> Check:
    if alerts.clock_untrusted(db, now) is None:  # the dashboard's rule; the time as the post reads it
        local = now.astimezone(config.timezone)
        return Check("clock trusted", True, f"{local:%d/%m/%Y %H:%M} ({config.gateway.timezone})")
    return Check("clock trusted", False, "the Pi's clock is not believable yet",
                 "let the modem register (network time) or: sudo timedatectl set-ntp true")


def check_backup(config: Config, db: Database, now: datetime) -> Check:
    fresh = backup.freshness(db, now)
    if fresh.at is None:
        return Check("last backup", False, "none yet",
                     f"python app.py backup {config.backup_path} (the gateway also makes one each night)")
    seconds = fresh.age.total_seconds() if fresh.age is not None else 0
    if seconds < 3600:
        found = "just now" if seconds < 60 else f"{seconds // 60:.0f} min ago"
    else:
        found = f"{seconds / 3600:.0f} h ago" if seconds < 48 * 3600 else f"{seconds / 86400:.0f} days ago"
    found += f" ({fresh.at.astimezone(config.timezone):%d/%m/%Y %H:%M})"
    if alerts.backup_stale(db, now) is not None:  # the dashboard's rule
        return Check("last backup", False, found, "journalctl -u tinbao | grep backup; check backup.path")
    return Check("last backup", True, found)


def check_menus(config: Config, db: Database) -> Check:
    from gateway.errors import ConfigError
    from gateway.menus import contacts, versions

    try:
        left = contacts.unset_labels(versions.unset_contacts(db, config.menus_path, **versions.book_options(config)))
    except ConfigError as exc:
        return Check("menus filled in", False, str(exc), "fix the menu files named above")
    if left:  # named as the setup form names them, never by the menus' keys
        shown = "; ".join(f"«{label}»" for label in left)
        return Check("menus filled in", False, f"placeholders (xxxx, 09xx) still answer for: {shown}",
                     f"an admin fills in the first-run setup: http://<this Pi>:{config.web.port}/admin/setup")
    return Check("menus filled in", True, "no placeholders left")


def check_menus_in_use(config: Config, db: Database) -> Check:
    """The dashboard's menus alerts (``alerts.menus``): the version in use keeps a keyword the
    gateway answers itself, or newer saved versions no longer load (an upgrade can do either)."""
    from gateway.broadcasts.subscriptions import KEYWORDS
    from gateway.errors import ConfigError
    from gateway.menus import versions

    try:
        found = versions.in_use(db, config.menus_path, **versions.book_options(config, KEYWORDS))
    except ConfigError as exc:
        return Check("menus in use", False, str(exc), "fix the menu files named above")
    which = f"version #{found.version}" if found.version != versions.SHIPPED else "the shipped files"
    fix = f"an admin changes and saves the menus: http://<this Pi>:{config.web.port}/menus/"
    if found.clashes:
        return Check("menus in use", False, f"{which} uses {', '.join(found.clashes)}, which the gateway"
                     " answers itself (subscribe, stop): those texts never reach the menus", fix)
    if found.skipped:
        skipped = ", ".join(f"#{number}" for number, _ in found.skipped)
        return Check("menus in use", False, f"saved version {skipped} no longer loads ({found.skipped[0][1]});"
                     f" {which} answers instead", fix)
    return Check("menus in use", True, which)


#: How long data may outlive its retention before doctor calls the purge late: the purge runs
#: once a night, so what ages out during the day waits for the next night, and a Pi off for a
#: night purges when it runs again.
PURGE_GRACE = timedelta(days=2)


def check_purge(config: Config, db: Database, now: datetime) -> Check:
    """The retention purge (``gateway.privacy``, docs/privacy.md): nothing kept long past its time.

    Fails when rows are still there ``PURGE_GRACE`` after the ``privacy.*`` keys let them go:
    the purge is not running (a clock never trusted, a gateway that does not run, a purge that
    fails each time; a gateway off at night purges when it runs again, so that is no cause).
    What the rules reach but must keep (a tip on hold or unacknowledged) is not counted:
    ``python app.py purge --dry-run`` lists it. ``now`` is the gateway's time
    (``clock.published_now``), as the purge command's.
    """
    from gateway.privacy import retention

    late = sum(retention.plan(db, config, now - PURGE_GRACE).counts().values())
    last = retention.last(db)
    when = "no purge yet"
    if last is not None:
        with contextlib.suppress(ValueError):
            when = f"last purge {datetime.fromisoformat(last['at']).astimezone(config.timezone):%d/%m/%Y %H:%M}"
    if late:
        return Check("retention purge", False, f"{when}; {late:,} record(s) kept over {PURGE_GRACE.days} days past"
                     " their time (privacy.* keys)",
                     "python app.py purge --dry-run, then python app.py purge (the gateway purges each night at"
                     " privacy.purge_hour once its clock is trusted; journalctl -u tinbao | grep purge)")
    return Check("retention purge", True, f"{when}; nothing kept past its time")


def check_accounts(db: Database) -> Check:
    from gateway.accounts import users

    admins, officers = users.count_admins(db), len(users.officers(db))
    if admins == 0:
        return Check("officer accounts", False, "no active admin account",
                     "python app.py create-user NAME --role admin")
    return Check("officer accounts", True, f"{admins} admin(s); {officers} admin(s) and officer(s) in all")


def check_zalo(config: Config, db: Database) -> Check:
    from gateway.sync import report, zalo_tokens

    if not config.zalo.enabled:
        return Check("Zalo token", True, "Zalo mirror not enabled")
    if not config.zalo.officer_ids:
        return Check("Zalo token", False, "no officer to send tips to", "set zalo.officer_ids")
    lane = report.read(db)["zalo"]
    if any(alert.key == "zalo" for alert in alerts.sync_refused(db)):  # the dashboard's rule
        return Check("Zalo token", False, f"refused: {lane.get('error') or 'needs re-authorisation'}",
                     "an admin pastes a new refresh token on /sync")
    if zalo_tokens.current(db) is None and not config.zalo.refresh_token:
        return Check("Zalo token", False, "no refresh token", "set zalo.refresh_token (once; later ones are kept)")
    return Check("Zalo token", True, f"token kept; mirror {lane['state']}")


# -- the table ----------------------------------------------------------------------------------


def run_checks(config: Config, now: datetime | None = None) -> list[Check]:
    """Every check, in the order an installer fixes things."""
    now = now or datetime.now(UTC)
    path = config.storage_path
    gateway_pid = lock_holder(path) if path.exists() else None
    running = gateway_pid is not None
    checks = check_config(config)
    checks += check_identity(config)
    storage = check_storage(config)
    checks.append(storage)
    db: Database | None = None
    if path.is_file() and os.access(path, os.R_OK):
        sound = check_sound_file(config)
        checks.append(sound)
        if sound.ok:
            db = open_db(path)
    checks.append(Check("gateway running", True, f"process {gateway_pid or '?'}") if running else Check(
        "gateway running", False, "no gateway holds the database",
        "sudo systemctl start tinbao (journalctl -u tinbao says why it stopped)"))
    published_port = None
    if db is not None and running:
        from gateway.modem import status as modem_status

        with contextlib.suppress(sqlite3.Error):
            published_port = modem_status.read(db)["port"]
    checks += check_port(config, gateway_pid, published_port)
    checks.append(check_modem_link(config))
    from gateway.clock import published_now
    from gateway.sim import doctor as sim_doctor

    db_checks: list[Callable[[Database], Check | list[Check]]] = [
        lambda d: check_modem(config, d, running, now),
        lambda d: sim_doctor.checks(config, d, running, now),  # line, credit, validity, identity, loop test
        lambda d: check_clock(config, d, now),
        lambda d: check_backup(config, d, now),
        lambda d: check_menus(config, d),
        lambda d: check_menus_in_use(config, d),
        lambda d: check_purge(config, d, published_now(d)),  # the gateway's time, as purge --dry-run's
        check_accounts,
        lambda d: check_zalo(config, d),
    ]
    names = ["modem answers", "SIM line", "clock trusted", "last backup", "menus filled in", "menus in use",
             "retention purge", "officer accounts", "Zalo token"]
    try:
        for name, run in zip(names, db_checks, strict=True):
            if db is None:
                group = {"modem answers": MODEM_CHECKS, "SIM line": sim_doctor.SIM_CHECKS}.get(name, (name,))
                checks += [Check(each, False, "unknown: no database to read", "see storage")
                           for each in group]
                continue
            try:
                found = run(db)
            except sqlite3.Error as exc:
                found = Check(name, False, f"could not read: {exc}", "run doctor again; see journalctl -u tinbao")
            checks += found if isinstance(found, list) else [found]
    finally:
        if db is not None:
            db.close()
    checks.append(check_disk(config))
    checks.append(check_hub(config))
    checks.append(Check("backup key", *backup.key_health(config)))
    checks.append(Check("HTTPS certificate", *tls.health(config)))
    return checks


def render(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        line = f"{OK if check.ok else BAD} {check.name.ljust(width)}  {check.found}"
        if not check.ok and check.fix:
            line += f"  → {check.fix}"
        lines.append(line)
    failed = sum(not check.ok for check in checks)
    lines.append("ready for the field" if not failed else f"{failed} check(s) to fix before the field")
    return "\n".join(lines)


def health(config: Config, timeout: float = 20.0) -> int:
    """0 when the gateway's page answers on the configured port (even 503: it is alive), else 1."""
    host = config.web.host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    secure = bool(config.web.tls_cert)
    url = f"{'https' if secure else 'http'}://{'[' + host + ']' if ':' in host else host}:{config.web.port}/healthz"
    try:
        context = tls.client_context(config) if secure else None
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            body: Any = json.loads(response.read() or b"{}")
            print(f"{url}: {response.status} {body.get('status', '') if isinstance(body, dict) else ''}")
    except urllib.error.HTTPError as exc:
        print(f"{url}: {exc.code} (answers, degraded)")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"{url}: no answer ({getattr(exc, 'reason', exc)})", file=sys.stderr)
        return 1
    return 0


def doctor_command(config: Config, args: Any) -> int:
    """``python app.py doctor`` (0: ready for the field) or ``doctor --health`` (0: the page answers)."""
    if getattr(args, "health", False):
        return health(config)
    checks = run_checks(config)
    print(render(checks))
    return 0 if all(check.ok for check in checks) else 1
