"""Modem profiles: how the serial line to each kind of modem is set up, as data.

python-gsmmodem-new opens every port with hardware flow control (``rtscts`` and ``dsrdtr``
on). USB sticks emulate those lines; a SIM800 wired to the Pi's UART pins has none, and
every write would wait forever (MODEM_NOTES.md). ``modem.profile`` picks a table of
``firmware_config/modem_profiles.toml``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ConfigError

PROFILES_FILE = Path(__file__).resolve().parent.parent.parent / "firmware_config" / "modem_profiles.toml"


@dataclass(frozen=True, slots=True)
class ModemProfile:
    name: str
    rtscts: bool = True
    dsrdtr: bool = True
    baudrate: int | None = None  # None: modem.baudrate decides
    note: str = ""


def load_profile(name: str, path: Path = PROFILES_FILE) -> ModemProfile:
    """The named profile, or ConfigError in one line naming ``modem.profile`` and the choices."""
    try:
        with open(path, "rb") as fh:
            tables = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"modem profiles file {path} cannot be read: {exc}") from None
    if name not in tables:
        raise ConfigError(f"config key modem.profile: {name!r} is not one of {', '.join(sorted(tables))}")
    table = tables[name]
    unknown = set(table) - {"rtscts", "dsrdtr", "baudrate", "note"}
    if unknown or not all(isinstance(table.get(k, True), bool) for k in ("rtscts", "dsrdtr")):
        raise ConfigError(f"modem profile [{name}] in {path.name}: only rtscts/dsrdtr (true|false), "
                          f"baudrate and note are allowed")
    return ModemProfile(name, table.get("rtscts", True), table.get("dsrdtr", True), table.get("baudrate"),
                        table.get("note", ""))
