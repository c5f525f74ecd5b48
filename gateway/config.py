"""Configuration: TOML defaults, an optional config file, and environment overrides.

DESIGN.md's contract: defaults live in ``firmware_config/gateway.toml``; ``--config FILE`` or
``TINBAO_CONFIG`` chooses another file; every key can be overridden by an environment variable
``TINBAO_<SECTION>_<KEY>``. A wrong value stops start-up with one clear line naming the key.

**Adding a key is writing one field.** Each section is a frozen dataclass below; each key is
one field declared with :func:`key`: its type (``str``, ``int``, ``float``, ``bool``,
``list[str]``, ``dict[str, str]``), its default, one line of help, and optionally a
``check`` (a function returning what is wrong, or None) and ``secret=True`` (kept out of
the repr). A new section is a new dataclass and one field of :class:`Config`. ``SCHEMA``,
the environment names, the loader's conversions and checks all come from these fields. Then
``python -m gateway.config_docs update`` rewrites the README's configuration table and
``firmware_config/gateway.toml`` from them (``tests/test_config.py`` fails while they are stale)::

    @dataclass(frozen=True)
    class SmsSection:
        max_parts: int = key(10, "longest reply, in SMS parts", check=between(1, 255))

The files that ship with the gateway (``firmware_config/``: this defaults file, the menus, the
warnings, the modem profiles) are package data, found through ``importlib.resources``
(``SHIPPED``), so an installed gateway (``pip install .``) finds them as a checkout does.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.errors import ConfigError

# ``gateway/firmware_config`` is the repository's top-level ``firmware_config/`` (a symbolic
# link in the checkout, package data in a wheel): resolved, it is the real folder either way.
SHIPPED = Path(str(resources.files("gateway") / "firmware_config")).resolve()
DEFAULT_CONFIG = SHIPPED / "gateway.toml"
SHIPPED_PREFIX = "firmware_config"
ENV_PREFIX = "TINBAO_"

Check = Callable[[Any], str | None]
AS_DEFAULT: Any = object()  # ``shipped`` not given: the shipped file sets the default


def key(default: Any, what: str, *, check: Check | None = None, secret: bool = False,
        shipped: Any = AS_DEFAULT) -> Any:
    """One config key as a dataclass field: default, help line, check, secrecy.

    ``shipped`` is the value ``firmware_config/gateway.toml`` sets when it differs from the
    default a config file falls back to (the shipped file names an example commune).
    """
    metadata = {"what": what, "check": check, "shipped": shipped}
    if isinstance(default, (list, dict)):
        initial = type(default)(default)  # each Config gets its own copy
        return field(default_factory=lambda: type(initial)(initial), repr=not secret, metadata=metadata)
    return field(default=default, repr=not secret, metadata=metadata)


@dataclass(frozen=True)
class Key:
    """One config key as the loader and the docs see it, generated from its field."""

    kind: str  # "str" | "int" | "float" | "bool" | "list" | "table"
    default: Any
    check: Check | None = None
    what: str = ""
    env: str = ""
    secret: bool = False
    shipped: Any = AS_DEFAULT

    @property
    def shipped_value(self) -> Any:
        """What the shipped defaults file sets: ``shipped`` if given, else the default."""
        return self.default if self.shipped is AS_DEFAULT else self.shipped


def between(low: float, high: float) -> Check:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}"


def _timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return "is not a known time zone (for example Asia/Ho_Chi_Minh)"
    return None


def _gateway_id(value: str) -> str | None:
    ok = value.isascii() and value.isalnum() and 1 <= len(value) <= 8
    return None if ok else "must be 1-8 letters or digits (a short commune code like cl)"


def _url(value: str) -> str | None:
    ok = value == "" or value.startswith(("http://", "https://"))
    return None if ok else "must start with http:// or https://"


def _clock_time(value: str) -> str | None:
    parts = value.split(":")
    ok = len(parts) == 2 and all(len(p) == 2 and p.isdigit() for p in parts)
    ok = ok and int(parts[0]) < 24 and int(parts[1]) < 60
    return None if ok else "must be a local time HH:MM (for example 22:00)"


def _smsc(value: str) -> str | None:
    digits = value[1:] if value.startswith("+") else value
    ok = value == "" or (digits.isascii() and digits.isdigit() and 3 <= len(digits) <= 20)
    return None if ok else "must be the SMS centre's number, digits with an optional + (or empty)"


def _pin(value: str) -> str | None:
    return None if value == "" or (value.isdigit() and 4 <= len(value) <= 8) else "must be 4-8 digits"


def _ussd(value: str) -> str | None:
    ok = value == "" or (value.isascii() and len(value) <= 30 and value.endswith("#")
                         and all(ch.isdigit() or ch in "*#" for ch in value))
    return None if ok else "must be a USSD code like *101# (or empty: the operator's own)"


def one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


# -- the keys: one frozen dataclass per section, one field per key --------------------------------
# Secrets (PIN, keys, tokens) are declared ``secret=True``: left out of the repr, so a logged
# config does not leak them.


@dataclass(frozen=True)
class GatewaySection:
    id: str = key("cl", "short commune code, used in tip references (`CL-0042`)", check=_gateway_id)
    name: str = key("Công an xã", "shown on the officers' page and at the start of each broadcast SMS",
                    shipped="Công an xã Cốc Lầu")
    timezone: str = key("Asia/Ho_Chi_Minh", "times on the page, quiet hours and schedules", check=_timezone)
    phone_number: str = key("", "the SIM's own number, for display and the poster")


@dataclass(frozen=True)
class StorageSection:
    path: str = key("data/tinbao.db", "the SQLite file; a relative path is taken from the working directory")


@dataclass(frozen=True)
class ModemSection:
    port: str = key("emulator", "a device path (`/dev/ttyUSB0`, `/dev/serial/by-id/...`) or `emulator`")
    baudrate: int = key(115200, "serial speed; while it is 115200 a profile's own speed wins",
                        check=between(1200, 4_000_000))
    pin: str = key("", "SIM PIN, if the SIM asks for one", check=_pin, secret=True)
    profile: str = key("generic", "a table of `firmware_config/modem_profiles.toml`: `generic` (any LTE USB modem),"
                       " `sim7600-usb`, `a7670-usb`, `ec25-usb`, `huawei-usb` (E3372 stick mode), `sim800-uart`"
                       " (2G only: no longer works in Vietnam)")
    smsc: str = key("", "SMS centre number set with `AT+CSCA` at connect (e.g. `+84980200030`); empty keeps the SIM's",
                    check=_smsc)
    drain_interval: float = key(120.0, "seconds between safety-net reads of the SIM while idle; while it sends, the"
                                " modem lists its stores at least every 30 s (a lost `+CMTI` never waits for a long"
                                " broadcast)", check=between(0.1, 3600))
    signal_interval: float = key(30.0, "seconds between signal and registration polls", check=between(0.1, 3600))
    reassembly_timeout: float = key(900.0, "seconds to wait for missing parts of a long SMS",
                                    check=between(0.1, 7 * 86400))
    command_timeout: float = key(10.0, "seconds to wait for the modem's answer to one AT command",
                                 check=between(0.5, 120))
    send_timeout: float = key(35.0, "seconds to wait for the modem to confirm one SMS part (`+CMGS`)",
                              check=between(1, 300))
    reconnect_max: float = key(60.0, "longest back-off between reconnects, seconds", check=between(0.1, 3600))
    extra_ports: list[str] = key([], "more modems, e.g. `[\"/dev/ttyUSB5\"]` (comma-separated in the environment);"
                                 " one worker each, sharing the outbox")


@dataclass(frozen=True)
class SmsSection:
    khong_dau: list[str] = key(["menu", "help", "tip_prompt", "tip_ack", "subscription"],
                               "message kinds sent without diacritics (cheaper)")
    max_parts: int = key(10, "longest reply, in SMS parts", check=between(1, 255))
    max_per_hour: int = key(60, "most SMS parts per hour that are not replies (broadcasts, duty alerts, reminders,"
                            " invitations); replies to a villager's own SMS are paced apart and go first; 0: no cap",
                            check=between(0, 100_000))
    max_per_day: int = key(400, "most such parts per local day (operators lock lines that look like spam); 0: no cap",
                           check=between(0, 1_000_000))


@dataclass(frozen=True)
class SimSection:
    """The SIM as a contract: credit and validity by USSD, the money kept for replies, the loop test."""

    balance_ussd: str = key("", "USSD code that reads credit and validity; empty: the operator's own (`*101#`)",
                            check=_ussd)
    balance_hours: float = key(12.0, "hours between two credit readings (also after each broadcast and on demand)",
                               check=between(0.001, 24 * 31))
    balance_alert: int = key(20_000, "alert when the credit is below this many VND", check=between(0, 100_000_000))
    validity_alert_days: int = key(7, "alert this many days before the SIM's validity ends", check=between(0, 365))
    reserve: int = key(10_000, "VND kept for replies: a broadcast that would spend it cannot be confirmed, a running"
                       " one pauses", check=between(0, 100_000_000))
    loop_test_hour: int = key(9, "local hour of the daily loop test (one SMS to `gateway.phone_number`)",
                              check=between(0, 23))
    loop_test_minutes: float = key(10.0, "minutes the loop-test SMS may take to come back before it counts as failed",
                                   check=between(0.01, 24 * 60))


@dataclass(frozen=True)
class CallsSection:
    on_missed: str = key("menu", "a missed call (\"nháy máy\"): `menu` (the main menu by SMS, once per number per"
                         " hour), `alert` (the call-back list), `both`, `none`",
                         check=one_of("menu", "alert", "both", "none"))


@dataclass(frozen=True)
class RouterSection:
    session_minutes: float = key(15.0, "how long a numbered menu stays open", check=between(1, 24 * 60))
    auto_replies_per_hour: int = key(20, "flood guard, per number: beyond it the gateway stays silent",
                                     check=between(1, 10_000))
    menus_path: str = key("firmware_config/menus", "menu files, one per language; `firmware_config/...` is the"
                          " shipped folder wherever the gateway is installed, another relative path is taken from"
                          " the working directory")


@dataclass(frozen=True)
class OutboxSection:
    max_attempts: int = key(5, "tries per SMS, then it is marked failed", check=between(1, 100))
    retry_base: float = key(5.0, "first back-off in seconds, doubled each time", check=between(0.01, 3600))
    retry_max: float = key(600.0, "longest back-off between two tries, seconds", check=between(0.01, 86400))


@dataclass(frozen=True)
class WebSection:
    host: str = key("127.0.0.1", "use `0.0.0.0` to serve the post's LAN")
    port: int = key(8080, "the officers' page's port", check=between(0, 65535))
    secret_key: str = key("", "signs sessions; empty: a random key is made once and kept in the database",
                          secret=True)
    session_hours: float = key(8.0, "a session ends after this many hours without a request",
                               check=between(0.05, 24 * 30))
    session_max_hours: float = key(12.0, "...and this long after the login in any case",
                                   check=between(0.05, 24 * 90))
    login_max_failures: int = key(5, "wrong passwords for one name before it waits (one address: 4×)",
                                  check=between(1, 1000))
    login_lockout_minutes: float = key(15.0, "how long it waits", check=between(0.1, 24 * 60))
    tls_cert: str = key("", "the page's certificate (PEM, made by `python app.py tls init`); empty: plain http"
                        " (the emulator demo and tests on 127.0.0.1)")
    tls_key: str = key("", "its private key (PEM, 0600)")
    http_redirect_port: int = key(0, "with `web.tls_cert`: a plain-http port that only redirects to https and serves"
                                  " `/ca.crt`; 0: none", check=between(0, 65535))


@dataclass(frozen=True)
class ZaloSection:
    enabled: bool = key(False, "mirror each tip to the Zalo OA (needs `zalo.officer_ids`)")
    api_base: str = key("https://openapi.zalo.me", "Zalo's OA API; point it at a stand-in"
                        " (`python tests/fake_zalo.py`) for demos", check=_url)
    oauth_base: str = key("https://oauth.zaloapp.com", "Zalo's token refresh; the same stand-in serves it",
                          check=_url)
    app_id: str = key("", "the Zalo app that holds the OA's permission")
    secret_key: str = key("", "that Zalo app's secret key", secret=True)
    refresh_token: str = key("", "the first refresh token only; later ones live in the database (each works once)",
                             secret=True)
    officer_ids: list[str] = key([], "Zalo user_ids that get each tip (comma-separated in the environment)")
    share_numbers: bool = key(False, "the tipster's full number in the Zalo message (default: masked)")
    backfill_days: int = key(7, "switching the mirror on later also sends tips this recent (0: all)",
                             check=between(0, 3650))
    officer_attempts: int = key(5, "tries per officer for one tip (with back-off) before it is dead for that"
                                " officer and goes by SMS", check=between(1, 100))
    refresh_hours: float = key(12.0, "refresh the OA's tokens this often even with no tips (the access token lives"
                               " ~25 h, the refresh token ~3 months)", check=between(0.1, 24))
    check_minutes: float = key(60.0, "how often each officer's conversation with the OA is read (their 48-hour"
                               " reply window)", check=between(1, 24 * 60))
    remind_hours: float = key(6.0, "SMS an officer (roster number with their Zalo user_id) this long before their"
                              " window closes; 0: never", check=between(0, 47))
    quota_alert: int = key(100, "alert admins when the OA's monthly proactive quota left is this low",
                           check=between(0, 1_000_000))


@dataclass(frozen=True)
class DistrictSection:
    url: str = key("", "the upstream hub (`python app.py hub`), e.g. `https://tinbao.conganlaocai.vn`; empty: USB"
                   " files only", check=_url)
    token: str = key("", "this gateway's token at the hub; also signs `export-tips` files. Set: tips are queued"
                     " for the hub", secret=True)
    share_numbers: bool = key(False, "the hub gets the tipster's full number (default: masked)")


@dataclass(frozen=True)
class SyncSection:
    batch_size: int = key(200, "tips per request to the hub", check=between(1, 5000))
    retry_base: float = key(5.0, "first pause after a failure while a destination is down, seconds; doubled each"
                            " time up to `sync.retry_max`, ±20 % jitter", check=between(0.01, 3600))
    retry_max: float = key(600.0, "longest pause between attempts while a destination is down, seconds",
                           check=between(0.01, 86400))
    poll_interval: float = key(1.0, "seconds between two looks at the sync queue", check=between(0.01, 60))
    pull_interval: float = key(60.0, "seconds between two questions to the hub about tips it handled",
                               check=between(0.1, 86400))
    timeout: float = key(20.0, "one request to Zalo or the hub, seconds", check=between(0.1, 600))
    check_timeout: float = key(5.0, "the cheap reachability check before a drain, seconds", check=between(0.1, 120))


@dataclass(frozen=True)
class BroadcastsSection:
    tick_interval: float = key(30.0, "seconds between two looks at the schedules and the clock",
                               check=between(0.05, 3600))
    grace_minutes: float = key(180.0, "a firing missed while the Pi was off goes out at boot if this recent, else"
                               " is recorded as missed", check=between(0, 7 * 24 * 60))
    quiet_start: str = key("22:00", "local time from which broadcasts wait (replies never do)", check=_clock_time)
    quiet_end: str = key("07:00", "local time until which broadcasts wait", check=_clock_time)
    per_day: int = key(1, "most broadcasts one number gets per local day; more wait for the next day",
                       check=between(1, 50))
    priority: int = key(10, "outbox priority of broadcast SMS (replies are 0 and always go first)",
                        check=between(1, 1000))
    window_parts: int = key(10, "most unsent broadcast parts in the outbox at once (raise it with more modems)",
                            check=between(1, 1000))
    warnings_path: str = key("firmware_config/warnings", "the scam-warning library, one TOML file per warning;"
                             " relative paths as for `router.menus_path`")
    price_per_part: int = key(350, "VND one SMS part costs on the post's SIM plan: the estimate shown before a"
                              " broadcast is sent", check=between(0, 100_000))


@dataclass(frozen=True)
class BackupSection:
    path: str = key("", "folder of the nightly copies of the database; empty: `backups` beside the database")
    keep: int = key(14, "days of nightly copies kept (the newest is never removed)", check=between(1, 3650))
    usb_path: str = key("", "a USB stick's mount point (e.g. `/media/tinbao-usb`): each nightly copy also goes to"
                        " `tinbao-backups/` there when it is mounted")
    hour: int = key(2, "local hour of the nightly copy; a Pi that was off then makes it as soon as it runs",
                    check=between(0, 23))
    key_path: str = key("", "the post's file key that seals backups and their copies (`/etc/tinbao/backup.key` on"
                        " the Pi); empty: `backup.key` beside the database")


@dataclass(frozen=True)
class HubSection:
    """The upstream hub (python app.py hub): since 1 March 2025 the provincial police. A commune
    gateway reads only hub.level (how its pages name the hub); the rest is for the hub itself."""

    name: str = key("", "the hub's own name (`Công an tỉnh Lào Cai`): its page, and the sender named in its SMS"
                    " to villagers; empty: `hub.level`")
    level: str = key("Công an tỉnh", "the level of the police the tips go up to; gateways name the hub with it on"
                     " their pages (`Chờ chuyển lên Công an tỉnh`)")
    gateways: dict[str, str] = key({}, "hub only: each gateway's token (`cl:token1,bh:token2` in the environment;"
                                   " TOML `{ cl = \"...\" }`)", secret=True)
    max_batch: int = key(2000, "hub only: most tips in one request", check=between(1, 100_000))

    @property
    def display_name(self) -> str:
        """The hub's own name (``Công an tỉnh Lào Cai``), or its level when no name is set."""
        return self.name.strip() or self.level


@dataclass(frozen=True)
class Config:
    """The whole configuration, one field per section; ``source`` says which file it came from."""

    gateway: GatewaySection
    storage: StorageSection
    modem: ModemSection
    sms: SmsSection
    sim: SimSection
    calls: CallsSection
    router: RouterSection
    outbox: OutboxSection
    web: WebSection
    zalo: ZaloSection
    district: DistrictSection
    sync: SyncSection
    broadcasts: BroadcastsSection
    backup: BackupSection
    hub: HubSection
    source: Path | None = None

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.gateway.timezone)

    @property
    def storage_path(self) -> Path:
        """The database file; a relative path is taken from the working directory."""
        return Path(self.storage.path).expanduser()

    @property
    def backup_path(self) -> Path:
        """The nightly backups' folder: ``backup.path``, or ``backups`` beside the database."""
        if not self.backup.path:
            return self.storage_path.parent / "backups"
        return Path(self.backup.path).expanduser()

    @property
    def menus_path(self) -> Path:
        """The menu files (``router.menus_path``, see :func:`data_folder`)."""
        return data_folder(self.router.menus_path)

    @property
    def warnings_path(self) -> Path:
        """The warning library (``broadcasts.warnings_path``, see :func:`data_folder`)."""
        return data_folder(self.broadcasts.warnings_path)


def data_folder(value: str) -> Path:
    """A configured folder of data files.

    ``firmware_config/...`` names the files shipped with the gateway, wherever it is installed
    (``SHIPPED``); an absolute path is itself; any other relative path is taken from the working
    directory, as ``storage.path`` is.
    """
    path = Path(value).expanduser()
    if not path.is_absolute() and path.parts[:1] == (SHIPPED_PREFIX,):
        return SHIPPED.joinpath(*path.parts[1:])
    return path


# What each kind of key holds once converted: the type its dataclass field declares.
KIND_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list[str],
    "table": dict[str, str],
}
_KINDS = {kind_type: kind for kind, kind_type in KIND_TYPES.items()}


def section_types() -> dict[str, type]:
    """Each section's name and its dataclass, read from ``Config``'s fields."""
    hints = get_type_hints(Config)
    return {field.name: hints[field.name] for field in fields(Config) if field.name != "source"}


_SECTION_TYPES = section_types()


def _keys_of(section: str, cls: type) -> dict[str, Key]:
    """The ``Key`` of each field of one section's dataclass; a field not made by :func:`key` fails here."""
    hints = get_type_hints(cls)
    keys: dict[str, Key] = {}
    for each in fields(cls):
        name = f"{section}.{each.name}"
        if "what" not in each.metadata or not each.metadata["what"]:
            raise TypeError(f"config key {name} must be declared with key(default, what)")
        if hints[each.name] not in _KINDS:
            raise TypeError(f"config key {name}: type {hints[each.name]} is not one of {list(KIND_TYPES.values())}")
        default = each.default if each.default_factory is MISSING else each.default_factory()
        keys[each.name] = Key(
            _KINDS[hints[each.name]], default, each.metadata["check"], each.metadata["what"],
            f"{ENV_PREFIX}{section.upper()}_{each.name.upper()}", not each.repr, each.metadata["shipped"],
        )
    return keys


#: Every key, section by section, generated from the dataclasses above: the one list the loader,
#: the docs (``gateway.config_docs``) and the tests read.
SCHEMA: dict[str, dict[str, Key]] = {section: _keys_of(section, cls) for section, cls in _SECTION_TYPES.items()}


EXPECTED = {
    "str": "a text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "list": "a list (comma-separated in the environment)",
    "table": "a table (id:token,id:token in the environment)",
}
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


def _convert(kind: str, raw: Any, name: str) -> Any:
    """Turn a TOML value or an environment string into the key's type, or raise ConfigError."""
    try:
        return _CONVERTERS[kind](raw)
    except (ValueError, TypeError):
        raise ConfigError(f"config key {name}: {raw!r} is not {EXPECTED[kind]}") from None


def _to_str(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise TypeError
    return str(raw)


def _to_number(cast: type) -> Callable[[Any], Any]:
    def convert(raw: Any) -> Any:
        if isinstance(raw, bool):
            raise TypeError
        if isinstance(raw, str):
            return cast(raw.strip())
        if cast is int and not isinstance(raw, int):
            raise TypeError
        if not isinstance(raw, (int, float)):
            raise TypeError
        return cast(raw)

    return convert


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError


def _to_list(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if isinstance(raw, list) and all(isinstance(item, (str, int)) for item in raw):
        return [str(item) for item in raw]
    raise TypeError


def _to_table(raw: Any) -> dict[str, str]:
    if isinstance(raw, str):
        pairs = [item.split(":", 1) for item in raw.split(",") if item.strip()]
        if any(len(pair) != 2 or not pair[0].strip() or not pair[1].strip() for pair in pairs):
            raise ValueError
        return {key.strip(): value.strip() for key, value in pairs}
    if isinstance(raw, dict) and all(isinstance(value, str) for value in raw.values()):
        return dict(raw)
    raise TypeError


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "str": _to_str,
    "int": _to_number(int),
    "float": _to_number(float),
    "bool": _to_bool,
    "list": _to_list,
    "table": _to_table,
}


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build the configuration: schema defaults < TOML file < ``TINBAO_*`` environment.

    ``path`` wins over ``TINBAO_CONFIG``, which wins over the shipped defaults file.
    """
    env = os.environ if env is None else env
    chosen = Path(path) if path else Path(env["TINBAO_CONFIG"]) if env.get("TINBAO_CONFIG") else DEFAULT_CONFIG
    try:
        with open(chosen, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {chosen} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {chosen} is not valid TOML: {exc}") from None

    for section, table in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"config section [{section}] in {chosen} is unknown")
        if not isinstance(table, dict):
            raise ConfigError(f"config key {section} in {chosen} must be a [section]")
        for key_name in table:
            if key_name not in SCHEMA[section]:
                raise ConfigError(f"config key {section}.{key_name} in {chosen} is unknown")

    sections: dict[str, Any] = {}
    for section, keys in SCHEMA.items():
        values: dict[str, Any] = {}
        for key_name, spec in keys.items():
            name = f"{section}.{key_name}"
            if spec.env in env:
                raw, label = env[spec.env], f"{name} (from {spec.env})"
            else:
                raw, label = data.get(section, {}).get(key_name, spec.default), name
            value = _convert(spec.kind, raw, label)
            if spec.check is not None:
                problem = spec.check(value)
                if problem:
                    raise ConfigError(f"config key {label}: {value!r} {problem}")
            values[key_name] = value
        sections[section] = _SECTION_TYPES[section](**values)
    return Config(**sections, source=chosen)

