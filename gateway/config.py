"""Configuration: TOML defaults, an optional config file, and environment overrides.

DESIGN.md's contract: defaults live in ``firmware_config/gateway.toml``; ``--config FILE`` or
``TINBAO_CONFIG`` chooses another file; every key can be overridden by an environment variable
``TINBAO_<SECTION>_<KEY>``. A wrong value stops start-up with one clear line naming the key,
so the schema below is the single list of keys, their types and their limits.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "firmware_config" / "gateway.toml"
ENV_PREFIX = "TINBAO_"


@dataclass(frozen=True)
class Key:
    """One config key: its type, default and an optional check returning an error or None."""

    kind: str  # "str" | "int" | "float" | "bool" | "list" | "table"
    default: Any
    check: Callable[[Any], str | None] | None = None


def _between(low: float, high: float) -> Callable[[Any], str | None]:
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


SCHEMA: dict[str, dict[str, Key]] = {
    "gateway": {
        "id": Key("str", "cl", _gateway_id),
        "name": Key("str", "Công an xã"),
        "timezone": Key("str", "Asia/Ho_Chi_Minh", _timezone),
        "phone_number": Key("str", ""),
    },
    "storage": {
        "path": Key("str", "data/tinbao.db"),
    },
    "modem": {
        "port": Key("str", "emulator"),
        "baudrate": Key("int", 115200, _between(1200, 4_000_000)),
        "pin": Key("str", "", _pin),
        "profile": Key("str", "generic"),
        "smsc": Key("str", "", _smsc),  # SMS centre number for AT+CSCA; empty keeps the SIM's
        "drain_interval": Key("float", 120.0, _between(0.1, 3600)),
        "signal_interval": Key("float", 30.0, _between(0.1, 3600)),
        "reassembly_timeout": Key("float", 900.0, _between(0.1, 7 * 86400)),
        "command_timeout": Key("float", 10.0, _between(0.5, 120)),
        "send_timeout": Key("float", 35.0, _between(1, 300)),
        "reconnect_max": Key("float", 60.0, _between(0.1, 3600)),
        "extra_ports": Key("list", []),
    },
    "sms": {
        "khong_dau": Key("list", ["menu", "help", "tip_prompt", "tip_ack", "subscription"]),
        "max_parts": Key("int", 10, _between(1, 255)),
    },
    "router": {
        "session_minutes": Key("float", 15.0, _between(1, 24 * 60)),
        "auto_replies_per_hour": Key("int", 20, _between(1, 10_000)),
        "menus_path": Key("str", "firmware_config/menus"),
    },
    "outbox": {
        "max_attempts": Key("int", 5, _between(1, 100)),
        "retry_base": Key("float", 5.0, _between(0.01, 3600)),
        "retry_max": Key("float", 600.0, _between(0.01, 86400)),
    },
    "web": {
        "host": Key("str", "127.0.0.1"),
        "port": Key("int", 8080, _between(0, 65535)),
        "secret_key": Key("str", ""),
        "session_hours": Key("float", 8.0, _between(0.05, 24 * 30)),
        "session_max_hours": Key("float", 12.0, _between(0.05, 24 * 90)),
        "login_max_failures": Key("int", 5, _between(1, 1000)),
        "login_lockout_minutes": Key("float", 15.0, _between(0.1, 24 * 60)),
        "tls_cert": Key("str", ""),  # empty: plain http (gateway.tls)
        "tls_key": Key("str", ""),
        "http_redirect_port": Key("int", 0, _between(0, 65535)),  # 0: none
    },
    "zalo": {
        "enabled": Key("bool", False),
        "api_base": Key("str", "https://openapi.zalo.me", _url),
        "oauth_base": Key("str", "https://oauth.zaloapp.com", _url),
        "app_id": Key("str", ""),
        "secret_key": Key("str", ""),
        "refresh_token": Key("str", ""),
        "officer_ids": Key("list", []),
        "share_numbers": Key("bool", False),
        "backfill_days": Key("int", 7, _between(0, 3650)),
        "officer_attempts": Key("int", 5, _between(1, 100)),
        "refresh_hours": Key("float", 12.0, _between(0.1, 24)),
        "check_minutes": Key("float", 60.0, _between(1, 24 * 60)),
        "remind_hours": Key("float", 6.0, _between(0, 47)),
        "quota_alert": Key("int", 100, _between(0, 1_000_000)),
    },
    "district": {
        "url": Key("str", "", _url),
        "token": Key("str", ""),
        "share_numbers": Key("bool", False),
    },
    "broadcasts": {
        "tick_interval": Key("float", 30.0, _between(0.05, 3600)),
        "grace_minutes": Key("float", 180.0, _between(0, 7 * 24 * 60)),
        "quiet_start": Key("str", "22:00", _clock_time),
        "quiet_end": Key("str", "07:00", _clock_time),
        "per_day": Key("int", 1, _between(1, 50)),
        "priority": Key("int", 10, _between(1, 1000)),
        "window_parts": Key("int", 10, _between(1, 1000)),
        "warnings_path": Key("str", "firmware_config/warnings"),
        "price_per_part": Key("int", 350, _between(0, 100_000)),
    },
    "backup": {
        "path": Key("str", ""),  # empty: a "backups" folder beside the database
        "keep": Key("int", 14, _between(1, 3650)),
        "usb_path": Key("str", ""),
        "hour": Key("int", 2, _between(0, 23)),
        "key_path": Key("str", ""),  # empty: backup.key beside the database (gateway.filekeys)
    },
    "hub": {
        "gateways": Key("table", {}),
        "name": Key("str", ""),
        "level": Key("str", "Công an tỉnh"),
        "max_batch": Key("int", 2000, _between(1, 100_000)),
    },
    "sync": {
        "batch_size": Key("int", 200, _between(1, 5000)),
        "retry_base": Key("float", 5.0, _between(0.01, 3600)),
        "retry_max": Key("float", 600.0, _between(0.01, 86400)),
        "poll_interval": Key("float", 1.0, _between(0.01, 60)),
        "pull_interval": Key("float", 60.0, _between(0.1, 86400)),
        "timeout": Key("float", 20.0, _between(0.1, 600)),
        "check_timeout": Key("float", 5.0, _between(0.1, 120)),
    },
}


# One frozen dataclass per section, so that ``config.modem.port`` has a type a reader and a
# checker can see. SCHEMA above stays the one list of keys, defaults and limits; the test
# suite checks that every section here has exactly SCHEMA's keys, with the type of their kind.
# Secrets (PIN, keys, tokens) are left out of the repr, so a logged config does not leak them.


@dataclass(frozen=True)
class GatewaySection:
    id: str
    name: str
    timezone: str
    phone_number: str


@dataclass(frozen=True)
class StorageSection:
    path: str


@dataclass(frozen=True)
class ModemSection:
    port: str
    baudrate: int
    pin: str = field(repr=False)
    profile: str
    smsc: str
    drain_interval: float
    signal_interval: float
    reassembly_timeout: float
    command_timeout: float
    send_timeout: float
    reconnect_max: float
    extra_ports: list[str]


@dataclass(frozen=True)
class SmsSection:
    khong_dau: list[str]
    max_parts: int


@dataclass(frozen=True)
class RouterSection:
    session_minutes: float
    auto_replies_per_hour: int
    menus_path: str


@dataclass(frozen=True)
class OutboxSection:
    max_attempts: int
    retry_base: float
    retry_max: float


@dataclass(frozen=True)
class WebSection:
    host: str
    port: int
    secret_key: str = field(repr=False)
    session_hours: float
    session_max_hours: float
    login_max_failures: int
    login_lockout_minutes: float
    tls_cert: str
    tls_key: str
    http_redirect_port: int


@dataclass(frozen=True)
class ZaloSection:
    enabled: bool
    api_base: str
    oauth_base: str
    app_id: str
    secret_key: str = field(repr=False)
    refresh_token: str = field(repr=False)
    officer_ids: list[str]
    share_numbers: bool
    backfill_days: int
    officer_attempts: int
    refresh_hours: float
    check_minutes: float
    remind_hours: float
    quota_alert: int


@dataclass(frozen=True)
class DistrictSection:
    url: str
    token: str = field(repr=False)
    share_numbers: bool


@dataclass(frozen=True)
class BroadcastsSection:
    tick_interval: float
    grace_minutes: float
    quiet_start: str
    quiet_end: str
    per_day: int
    priority: int
    window_parts: int
    warnings_path: str
    price_per_part: int  # VND per SMS part, for the cost shown before a broadcast is sent


@dataclass(frozen=True)
class BackupSection:
    path: str
    keep: int
    usb_path: str
    hour: int
    key_path: str


@dataclass(frozen=True)
class HubSection:
    gateways: dict[str, str] = field(repr=False)
    name: str
    level: str
    max_batch: int

    @property
    def display_name(self) -> str:
        """The hub's own name (``Công an tỉnh Lào Cai``), or its level when no name is set."""
        return self.name.strip() or self.level


@dataclass(frozen=True)
class SyncSection:
    batch_size: int
    retry_base: float
    retry_max: float
    poll_interval: float
    pull_interval: float
    timeout: float
    check_timeout: float


@dataclass(frozen=True)
class Config:
    """The whole configuration, one field per section; ``source`` says which file it came from."""

    gateway: GatewaySection
    storage: StorageSection
    modem: ModemSection
    sms: SmsSection
    router: RouterSection
    outbox: OutboxSection
    web: WebSection
    zalo: ZaloSection
    district: DistrictSection
    broadcasts: BroadcastsSection
    backup: BackupSection
    hub: HubSection
    sync: SyncSection
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
        """The menu files; a relative path is taken from the project folder (it ships there)."""
        path = Path(self.router.menus_path).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path


# What each kind of key holds once converted: the type its dataclass field must declare.
KIND_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list[str],
    "table": dict[str, str],
}


def section_types() -> dict[str, type]:
    """Each section's name and its dataclass, read from ``Config``'s fields."""
    hints = get_type_hints(Config)
    return {field.name: hints[field.name] for field in fields(Config) if field.name != "source"}


_SECTION_TYPES = section_types()


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
        for key in table:
            if key not in SCHEMA[section]:
                raise ConfigError(f"config key {section}.{key} in {chosen} is unknown")

    sections: dict[str, Any] = {}
    for section, keys in SCHEMA.items():
        values: dict[str, Any] = {}
        for key, spec in keys.items():
            name = f"{section}.{key}"
            env_name = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
            if env_name in env:
                raw, label = env[env_name], f"{name} (from {env_name})"
            else:
                raw, label = data.get(section, {}).get(key, spec.default), name
            value = _convert(spec.kind, raw, label)
            if spec.check is not None:
                problem = spec.check(value)
                if problem:
                    raise ConfigError(f"config key {label}: {value!r} {problem}")
            values[key] = value
        sections[section] = _SECTION_TYPES[section](**values)
    return Config(**sections, source=chosen)

