"""Subscribing and leaving by SMS: ``DK`` / ``DK <thôn>`` in, ``TC`` / ``HUY`` / ``STOP`` out.

The keywords follow the Vietnamese anti-spam conventions (Decree 91/2020: a message that
advertises must say how to refuse it, and "TC"/"HUY"/"STOP" are what people text), matched in
any spelling the phones give (``menus.match.key``: accents, case, full-width letters, zero-width
characters). A DK is a consent: the ledger keeps the SMS as received and the version of the
short notice its confirmation carries (what the messages are, that HUY stops them); a HUY
stops everything at once, the ledger keeps the withdrawal. Each request gets one
confirmation; after leaving, nothing more is sent, not even a second confirmation when "TC"
comes again. "HUY" from a number that never subscribed (or was only invited) gets its own
short answer (it had nothing to leave). ``DK <thôn>`` puts the number in that village's group
when the name matches a known village (``subscribers.match_village``: accents, case and one
typo aside); otherwise the name waits for an officer on the subscribers page.

``SubscriptionHandler`` is an ``InboundHandler`` for the router: it runs before the menus,
inside the router's transaction. A text the menus understand (for example "ĐĂNG KÝ XE", the
vehicle-registration item) is left to them: "DK <words>" is a subscription only when the
words are a village or nothing the menu knows. Its ``keywords`` (``KEYWORDS``) are reserved
by the router for it (``router.reserved_keywords``), so a menu file cannot take them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlite_utils import Database

from gateway import phone
from gateway.broadcasts import subscribers
from gateway.broadcasts.library import Composer
from gateway.menus.match import key
from gateway.router import HandlerReply

log = logging.getLogger(__name__)

JOIN_WORDS = ("DK", "ĐK", "DANG KY", "ĐĂNG KÝ", "DANGKY", "DK NHAN", "DANG KY NHAN")
LEAVE_WORDS = ("HUY", "HỦY", "TC", "TU CHOI", "TỪ CHỐI", "STOP", "HUY DK", "HỦY ĐK", "HUY DANG KY",
               "HỦY ĐĂNG KÝ", "NGUNG", "NGỪNG", "NGUNG NHAN", "NGỪNG NHẬN")
#: The handler's whole-message keywords; the router reserves them (menus must not use them).
KEYWORDS = tuple(dict.fromkeys((*JOIN_WORDS, *LEAVE_WORDS)))

_JOIN = tuple(sorted({key(w) for w in JOIN_WORDS}, key=len, reverse=True))
_LEAVE = frozenset(key(w) for w in LEAVE_WORDS)
MAX_VILLAGE_CHARS = 40

# Something with a respond(text, session, now) -> Decision, i.e. the router's MenuBook.
MenuProvider = Callable[[], object | None]


def parse(text: str) -> tuple[str, str | None] | None:
    """("join", village or None) | ("leave", None) | None when the text is not for us."""
    k = key(text)
    if k in _LEAVE:
        return "leave", None
    for word in _JOIN:
        if k == word:
            return "join", None
        if k.startswith(word + " "):
            rest = _original_tail(text, len(word.split()))
            return ("join", rest) if rest and len(rest) <= MAX_VILLAGE_CHARS else None
    return None


def _original_tail(text: str, words: int) -> str:
    """The village as the villager typed it (accents kept), after the keyword's words."""
    parts = text.strip().split(None, words)
    return parts[words].strip(" .,:;!-") if len(parts) > words else ""


class SubscriptionHandler:
    """The router's DK/TC handler. ``menus`` returns the router's current menu book."""

    keywords = KEYWORDS

    def __init__(self, composer: Composer, menus: MenuProvider = lambda: None) -> None:
        self.composer = composer
        self.menus = menus

    def handle(self, db: Database, number: phone.Number, text: str, inbox_id: int,
               now: datetime) -> HandlerReply | None:
        found = parse(text)
        if found is None:
            return None
        action, village = found
        if action == "leave":
            change = subscribers.leave(db, number.value, "sms", now, raw_text=text, inbox_id=inbox_id)
            if change.outcome == "already_left":
                return HandlerReply(None, kind="subscription", handler="unsubscribe (already left)")
            if change.outcome == "never":
                return HandlerReply(self.composer.confirmation("never"), kind="subscription",
                                    handler="unsubscribe (never subscribed)")
            log.info("subscriber %s left by SMS", phone.mask(number.value))
            return HandlerReply(self.composer.confirmation("left"), kind="subscription", handler="unsubscribe")
        if village and subscribers.match_village(db, village) is None and (
                self._menu_understands(text, now) or self._menu_understands(village, now)):
            return None  # "ĐĂNG KÝ XE", "ĐĂNG KÝ THƯỜNG TRÚ": a question for the menu, not a village
        change = subscribers.subscribe_by_sms(db, number.value, village, now, raw_text=text, inbox_id=inbox_id,
                                              notice_version=self.composer.notice_version)
        name = "already" if change.outcome == "already" else "subscribed"
        return HandlerReply(self.composer.confirmation(name, change.village), kind="subscription",
                            handler="subscribe")

    def _menu_understands(self, text: str, now: datetime) -> bool:
        book = self.menus()
        if book is None:
            return False
        try:
            decision = book.respond(text, None, now)
            # Kept "to confirm" only means it carries words: the menu did not understand it.
            return decision.kind != "help" and not getattr(decision, "to_confirm", False)
        except Exception:
            log.exception("menu check for a DK message failed")
            return False
