"""The warning library and the exact text each villager receives, with its SMS cost.

Warnings are data (``firmware_config/warnings/*.toml``, one file per warning, each with a
``title``, an ``accented`` and a hand-written ``khong_dau`` form); ``_messages.toml`` holds
the DK/TC confirmations (the DK one with the short notice), the one invitation an officer's
number gets, and the stop line. Officers pick a warning or write their own text;
:class:`Composer` turns either into what goes out: the sender (``gateway.name``) first, the
body, and how to stop receiving ("Soạn TC gửi <số> để ngừng nhận"), in the chosen form.

Cost is what the commune pays: accented Vietnamese is UCS-2 (67 characters per part of a long
SMS), "không dấu" is GSM-7 (153), so the same warning costs about half as much without
diacritics. :func:`preview` gives the parts per SMS for both forms and the total for an audience.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from gateway import phone
from gateway.config import SHIPPED
from gateway.errors import ConfigError
from gateway.sms.segments import plan
from gateway.sms.text import fold, khong_dau, nfc

DEFAULT_FOLDER = SHIPPED / "warnings"
MESSAGES_FILE = "_messages.toml"
NUMBER_MARK = "{so}"
ENCODINGS = ("khong_dau", "accented")
#: Texts ``_messages.toml`` gained later: a commune's own warnings folder made before them
#: takes the shipped ones (its other texts stay its own).
ADDED_MESSAGES = ("invitation", "notice_version")
MAX_BODY_CHARS = 1000


@dataclass(frozen=True, slots=True)
class ScamWarning:
    """One ready-to-send warning. ``id`` is its file name without ``.toml``."""

    id: str
    title: str
    accented: str
    khong_dau: str


@dataclass(frozen=True, slots=True)
class Messages:
    """Texts of ``_messages.toml``: confirmations and the stop line."""

    stop_line: str
    stop_line_khong_dau: str
    this_number: str
    subscribed: str
    already: str
    left: str
    never: str
    village: str
    invitation: str
    notice_version: str

    @property
    def notice(self) -> str:
        """The version of the notice a person is sent with a confirmation or an invitation:
        ``notice_version`` as declared, and a digest of the texts that carry the notice, so a
        wording changed without a new version still records a different one."""
        texts = "\n".join((self.subscribed, self.already, self.invitation, self.village))
        return f"{self.notice_version}-{hashlib.sha256(texts.encode()).hexdigest()[:8]}"


@dataclass(frozen=True, slots=True)
class Library:
    warnings: dict[str, ScamWarning]
    messages: Messages

    @classmethod
    def load(cls, folder: Path | str = DEFAULT_FOLDER) -> Library:
        """Read and check every file; a mistake stops start-up with one line naming the file."""
        folder = Path(folder)
        shipped = {} if folder.resolve() == DEFAULT_FOLDER.resolve() else _toml(DEFAULT_FOLDER / MESSAGES_FILE)
        messages = Messages(**_read(folder / MESSAGES_FILE, Messages.__dataclass_fields__, fallback={
            key: shipped[key] for key in ADDED_MESSAGES if key in shipped}))
        warnings: dict[str, ScamWarning] = {}
        for path in sorted(folder.glob("*.toml")):
            if path.name.startswith("_"):
                continue
            values = _read(path, ("title", "accented", "khong_dau"))
            for form in ("accented", "khong_dau"):
                if NUMBER_MARK not in values[form]:
                    raise ConfigError(f"warnings/{path.name}: {form} must end with how to stop ({NUMBER_MARK})")
            if not set(values["khong_dau"]) <= _GSM7:
                raise ConfigError(f"warnings/{path.name}: khong_dau has characters outside GSM-7 (accents?)")
            warnings[path.stem] = ScamWarning(path.stem, **values)
        return cls(warnings, messages)

    def get(self, warning_id: str | None) -> ScamWarning | None:
        return self.warnings.get(warning_id or "")


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"warnings: {path.name} is missing from {path.parent}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"warnings/{path.name}: not valid TOML: {exc}") from None


def _read(path: Path, keys, fallback: dict | None = None) -> dict[str, str]:
    data = {**(fallback or {}), **_toml(path)}
    out = {}
    for key in keys:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"warnings/{path.name}: {key} must be a non-empty text")
        out[key] = nfc(value.strip()) if key != "village" else nfc(value)
    return out


def _gsm7_chars() -> frozenset[str]:
    from gateway.sms.gsm7 import ALL_CHARS

    return frozenset(ALL_CHARS)


_GSM7 = _gsm7_chars()


@dataclass(frozen=True, slots=True)
class Composer:
    """Builds the exact SMS text: "<gateway.name>: <body> <stop line>", accented or not."""

    sender: str  # gateway.name
    number: str  # the gateway's number as villagers read and dial it ("0912 345 678"), or ""
    messages: Messages

    @classmethod
    def from_config(cls, config, library: Library) -> Composer:
        raw = config.gateway.phone_number
        number = phone.grouped(raw) if raw else ""
        return cls(config.gateway.name, number, library.messages)

    @property
    def dial(self) -> str:
        """What to write where the texts say {so}."""
        return self.number or self.messages.this_number

    def text(self, body: str, *, form: str, body_khong_dau: str | None = None) -> str:
        """The SMS for ``body`` in ``form`` ("accented" or "khong_dau")."""
        if form not in ENCODINGS:
            raise ValueError(f"unknown form {form!r}")
        plain = form == "khong_dau"
        chosen = body_khong_dau if plain and body_khong_dau else body
        chosen = " ".join(nfc(chosen).split())  # one line: a keypad phone shows it best
        if NUMBER_MARK not in chosen and "soan tc" not in fold(chosen):
            chosen = f"{chosen} {self.messages.stop_line_khong_dau if plain else self.messages.stop_line}"
        chosen = chosen.replace(NUMBER_MARK, self.dial)
        if not fold(chosen).startswith(fold(self.sender)):
            chosen = f"{self.sender}: {chosen}"
        return khong_dau(chosen) if plain else chosen

    @property
    def notice_version(self) -> str:
        """The notice version the confirmations and the invitation carry (``Messages.notice``)."""
        return self.messages.notice

    def invitation(self) -> str:
        """The one invitation SMS to a number an officer added or imported (accented)."""
        return self.messages.invitation.replace("{ten}", self.sender).replace("{so}", self.dial)

    def confirmation(self, name: str, village: str | None = None) -> str:
        """One of the subscription texts (``subscribed``, ``already``, ``left``, ``never``), filled in.

        ``subscribed`` and ``already`` carry the short notice (``notice_version``).
        """
        template = getattr(self.messages, name)
        where = self.messages.village.replace("{thon}", village) if village else ""
        return template.replace("{ten}", self.sender).replace("{so}", self.dial).replace("{thon}", where)


@dataclass(frozen=True, slots=True)
class Cost:
    """What one SMS text costs: its encoding, parts per recipient, characters."""

    encoding: str  # gsm7 | ucs2
    parts: int
    chars: int


def cost(text: str) -> Cost:
    segments = plan(text)
    return Cost(segments.encoding, segments.count, len(text))


def body_problems(body: str, body_khong_dau: str | None = None) -> list[str]:
    """The size guard of every warning text, in Vietnamese for the form (empty: fine).

    The one guard for the commune's compose form (``control.Draft``) and the province's
    warning editor at the hub: an empty or over-long text, and a "không dấu" form that is not
    GSM-7 (an accent left in it would make every SMS UCS-2, twice the parts).
    """
    out = []
    if not body.strip():
        out.append("Nội dung trống.")
    elif len(body) > MAX_BODY_CHARS:
        out.append(f"Nội dung quá dài (tối đa {MAX_BODY_CHARS} ký tự).")
    if body_khong_dau is not None:
        if not body_khong_dau.strip():
            out.append("Bản không dấu trống.")
        elif len(body_khong_dau) > MAX_BODY_CHARS:
            out.append(f"Bản không dấu quá dài (tối đa {MAX_BODY_CHARS} ký tự).")
        elif not set(body_khong_dau) <= _GSM7:
            bad = "".join(sorted(set(body_khong_dau) - _GSM7))[:10]
            out.append(f"Bản không dấu còn ký tự có dấu hoặc ký tự đặc biệt: {bad}")
    return out


def preview(composer: Composer, body: str, audience: int, body_khong_dau: str | None = None) -> dict:
    """Both forms of the SMS with their cost per person and for the whole audience."""
    out = {"audience": audience}
    for form in ENCODINGS:
        text = composer.text(body, form=form, body_khong_dau=body_khong_dau)
        c = cost(text)
        out[form] = {"text": text, "encoding": c.encoding, "parts": c.parts, "chars": c.chars,
                     "total_parts": c.parts * audience}
    return out
