"""Modem profiles: how each kind of modem is set up and read, as data.

python-gsmmodem-new opens every port with hardware flow control (``rtscts`` and ``dsrdtr``
on). USB sticks emulate those lines; a SIM800 wired to the Pi's UART pins has none, and
every write would wait forever (MODEM_NOTES.md). Beyond the serial line a profile says
which commands start the modem (network time, Huawei reports off), which stores to drain,
how to ask for the LTE signal (a serving-cell command: its answer is read by the parser
``at_parse`` registers under that name), and whether it is a 2G modem (which no longer
registers in Vietnam). ``modem.profile`` picks a table of ``firmware_config/modem_profiles.toml``.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from gateway.config import SHIPPED
from gateway.errors import ConfigError
from gateway.modem.at_parse import SERVING_CELL_PARSERS

log = logging.getLogger(__name__)

PROFILES_FILE = SHIPPED / "modem_profiles.toml"

STORES = ("SM", "ME", "MT", "SR")
GENERATIONS = ("lte", "2g")
HANGUP_COMMANDS = ("AT+CHUP", "ATH")
TWO_G_WARNING = ("modem profile {name!r} is a 2G-only modem: Vietnam cut 2G-only devices off on 16 October"
                 " 2024 and switches 2G off from 15 September 2026, so it will not register there."
                 " Use an LTE modem (SIMCom SIM7600/A7670, Quectel EC25/EG25, Huawei E3372 stick mode)")


@dataclass(frozen=True, slots=True)
class ModemProfile:
    name: str
    rtscts: bool = True
    dsrdtr: bool = True
    baudrate: int | None = None  # None: modem.baudrate decides
    note: str = ""
    generation: str = "lte"  # "2g": warned about loudly at start (no 2G network in Vietnam)
    init: tuple[str, ...] = ()  # sent once connected, in order; a refusal is logged, not fatal
    network_time: str = ""  # the command that makes AT+CCLK? the network's time (AT+CLTS=1 ...)
    stores: tuple[str, ...] = ("SM", "ME")  # SMS stores drained at start and by every safety net
    report_store: str = ""  # where the modem keeps status reports apart ("SR" on SIMCom)
    cnmi: str = "2,1,0,2,0"  # AT+CNMI; python-gsmmodem falls back to 2,1,0,1,0 (+CDS) if refused
    serving_cell: str = ""  # vendor command for technology and RSRP/RSRQ: a key of at_parse.SERVING_CELL_PARSERS
    quirks: tuple[str, ...] = ()  # what the gateway copes with on this modem (documentation)
    usb_id: str = ""  # "1e0e:9001": the modem this profile is for (doctor checks it); empty: any
    calls: bool = True  # the modem reports incoming calls (VoLTE): AT+CLIP=1 at connect, missed calls answered
    hangup: str = "AT+CHUP"  # how it ends a ringing call without answering (ATH as a fallback)

    @property
    def drain_stores(self) -> tuple[str, ...]:
        """Every store a drain lists: the SMS stores, then the report store."""
        return self.stores + ((self.report_store,)
                              if self.report_store and self.report_store not in self.stores else ())

    @property
    def start_commands(self) -> tuple[str, ...]:
        return ((self.network_time,) if self.network_time else ()) + self.init

    def warn_if_2g(self) -> str | None:
        """The loud start-up line for a 2G modem (logged here, returned for the page)."""
        if self.generation != "2g":
            return None
        message = TWO_G_WARNING.format(name=self.name)
        log.warning("*** %s ***", message)
        return message


_STR_LISTS = ("init", "stores", "quirks")
_STRS = ("note", "generation", "network_time", "report_store", "cnmi", "serving_cell", "hangup", "usb_id")


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
    problem = _check(table)
    if problem:
        raise ConfigError(f"modem profile [{name}] in {path.name}: {problem}")
    values = {key: tuple(table[key]) if key in _STR_LISTS else table[key] for key in table}
    return ModemProfile(name, **values)


def profile_for_usb_id(usb_id: str, path: Path = PROFILES_FILE) -> str | None:
    """The profile made for the modem with this USB ``vendor:product``, if one is."""
    try:
        with open(path, "rb") as fh:
            tables = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return next((name for name, table in tables.items() if table.get("usb_id") == usb_id.lower()), None)


def _check(table: dict) -> str | None:
    """What is wrong with one profile table, in a few words; None when it is fine."""
    allowed = {"rtscts", "dsrdtr", "calls", "baudrate", *_STRS, *_STR_LISTS}
    unknown = set(table) - allowed
    if unknown:
        return f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
    if not all(isinstance(table.get(k, True), bool) for k in ("rtscts", "dsrdtr", "calls")):
        return "rtscts/dsrdtr/calls must be true or false"
    if table.get("hangup", "ATH") not in HANGUP_COMMANDS:
        return f"hangup must be one of {', '.join(HANGUP_COMMANDS)}"
    if "baudrate" in table and (isinstance(table["baudrate"], bool) or not isinstance(table["baudrate"], int)):
        return "baudrate must be a number"
    if not all(isinstance(table.get(k, ""), str) for k in _STRS):
        return f"{'/'.join(_STRS)} must be text"
    if not all(isinstance(table.get(k, []), list) and all(isinstance(v, str) for v in table.get(k, []))
               for k in _STR_LISTS):
        return f"{'/'.join(_STR_LISTS)} must be lists of text"
    if table.get("generation", "lte") not in GENERATIONS:
        return f"generation must be one of {', '.join(GENERATIONS)}"
    if any(store not in STORES for store in [*table.get("stores", []), table.get("report_store") or "SR"]):
        return f"stores/report_store must be among {', '.join(STORES)}"
    if table.get("usb_id") and not re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{4}", table["usb_id"]):
        return "usb_id must be vendor:product in lower-case hex, e.g. 1e0e:9001"
    if table.get("serving_cell", "") not in ("", *SERVING_CELL_PARSERS):  # a command with a parser in at_parse
        return f"serving_cell must be empty or one of {', '.join(SERVING_CELL_PARSERS)}"
    return None
