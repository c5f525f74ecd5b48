"""The router: each inbound SMS becomes a menu reply, a tip, or a deliberate silence.

It moves rows from ``inbox`` (queued → done) and, in the same transaction, writes what
follows: a tip, a reply in ``outbox``, the sender's menu session. One transaction per
message means a crash never leaves a reply without its inbox row marked, or the reverse, so
no villager is answered twice (DESIGN.md: nothing lost, nothing twice).

Silences are deliberate: short codes and alphanumeric senders are never answered (a reply
to a carrier's promo costs money or loops), an auto-reply is never answered, the help text
is not sent twice in a row, and each number gets at most ``auto_replies_per_hour``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlite_utils import Database

from gateway import inbox, outbox, phone, tips
from gateway.menus import Decision, MenuBook, Session
from gateway.sms.text import fold
from gateway.storage import cannot_write, utcnow_iso, write_transaction

log = logging.getLogger(__name__)

# Folded phrases that mark a message as written by a machine answering us.
AUTOMATIC_MARKERS = (
    "tin nhan tu dong",
    "tra loi tu dong",
    "auto reply",
    "autoreply",
    "auto-reply",
    "automatic reply",
    "out of office",
    "do not reply",
    "khong tra loi tin nhan nay",
)

# What a villager gets, once, when the router failed on their message (it is tried again later).
FAILURE_ACK = "Da nhan tin nhan cua ban. Can bo se xem va tra loi som."


@dataclass(frozen=True, slots=True)
class HandlerReply:
    """What an inbound handler decided: a reply (or None for silence) and a label for the log."""

    reply: str | None
    kind: str
    handler: str


class InboundHandler(Protocol):
    """A keyword handler tried before the menus (RapidSMS's small handlers), e.g. DK/HUY.

    ``keywords`` are the whole-message keywords it answers: the router reserves them, so no
    menu version can take them (``reserved_keywords``). ``handle`` runs inside the router's
    transaction; it returns None when the text is not for it. Its reply goes through the same
    flood guard as every automatic reply.
    """

    keywords: tuple[str, ...]

    def handle(self, db: Database, number: phone.Number, text: str, inbox_id: int,
               now: datetime) -> HandlerReply | None: ...


def reserved_keywords(handlers: Iterable[InboundHandler]) -> tuple[str, ...]:
    """Every keyword the handlers declare, once each, in order: what the menus must not use.

    Computed from the handlers the router is given, so a new handler's keywords are reserved
    by adding the handler, with nothing else to remember. A handler that declares none (one
    that looks at content, not at a keyword) reserves none.
    """
    return tuple(dict.fromkeys(word for handler in handlers for word in getattr(handler, "keywords", ())))


# Called inside the router's transaction right after a tip is stored (duty alerts, sync).
TipHook = Callable[[Database, tips.Tip, str, str, datetime], None]  # (db, tip, tipster, text, now)
# Called first for every message, inside the router's transaction (the SIM area: the loop test
# coming back, operator notices): a handler name claims the message (nothing else is done with
# it), None lets it be routed as usual.
InboundHook = Callable[[Database, int, phone.Number, str, datetime], str | None]  # (db, inbox_id, number, text, now)


@dataclass(frozen=True)
class RouterSettings:
    gateway_id: str
    session_minutes: float = 15.0
    auto_replies_per_hour: int = 20
    khong_dau_kinds: frozenset[str] = frozenset({"menu", "help", "tip_prompt", "tip_ack", "subscription"})
    max_parts: int = 10
    retry: inbox.RetryPolicy = field(default_factory=inbox.RetryPolicy)  # a message the router failed on

    @classmethod
    def from_config(cls, config) -> RouterSettings:
        """The settings every router of this gateway uses (the live one and the dry run)."""
        return cls(
            gateway_id=config.gateway.id,
            session_minutes=config.router.session_minutes,
            auto_replies_per_hour=config.router.auto_replies_per_hour,
            khong_dau_kinds=frozenset(config.sms.khong_dau),
            max_parts=config.sms.max_parts,
        )


class Router:
    """Routes queued inbox rows; pure decisions come from the ``MenuBook``."""

    def __init__(self, book: MenuBook, settings: RouterSettings, *,
                 handlers: Iterable[InboundHandler] = (), tip_hooks: Iterable[TipHook] = (),
                 inbound_hooks: Iterable[InboundHook] = ()) -> None:
        self.book = book
        self.settings = settings
        self.handlers = list(handlers)
        self.tip_hooks = list(tip_hooks)
        self.reserved = reserved_keywords(self.handlers)  # the menus' book was built without these
        self.inbound_hooks = list(inbound_hooks)

    def set_book(self, book: MenuBook) -> None:
        """Swap the menus (an officer edited them): the next message is answered from these."""
        self.book = book

    def run_once(self, db: Database, now: datetime, limit: int = 200) -> int:
        """Route up to ``limit`` queued messages in one transaction; returns how many."""
        with write_transaction(db):
            rows = inbox.queued(db, limit, now)
            for inbox_id, sender, sender_kind, text in rows:
                try:
                    with write_transaction(db):  # a savepoint: one bad message does not undo the others
                        handler = self._route(db, inbox_id, sender, sender_kind, text or "", now)
                        inbox.mark_handled(db, inbox_id, handler, now)
                except Exception as exc:
                    if cannot_write(exc):
                        raise  # the disk, not the message: nothing is marked, all is tried again
                    log.exception("routing inbox %s failed", inbox_id)
                    attempts = inbox.mark_failed(db, inbox_id, f"{type(exc).__name__}: {exc}", now,
                                                 self.settings.retry)
                    if attempts == 1:
                        self._acknowledge_failure(db, inbox_id, sender, now)
        return len(rows)

    def _acknowledge_failure(self, db: Database, inbox_id: int, sender: str, now: datetime) -> None:
        """The villager hears that the message arrived, once, while it waits to be tried again."""
        number = phone.normalise(sender)
        try:
            with write_transaction(db):
                if number.can_auto_reply and self._may_reply(db, number.value, "ack", None, now):
                    outbox.enqueue(db, number.value, FAILURE_ACK, kind="ack", now=now, in_reply_to=inbox_id,
                                   khong_dau=True, max_parts=self.settings.max_parts)
        except Exception as exc:
            if cannot_write(exc):
                raise
            log.exception("could not acknowledge inbox %s", inbox_id)

    # -- one message ---------------------------------------------------------------------
    def _route(self, db: Database, inbox_id: int, sender: str, sender_kind: str, text: str,
               now: datetime) -> str:
        number = phone.normalise(sender)
        for hook in self.inbound_hooks:
            claimed = hook(db, inbox_id, number, text, now)
            if claimed:
                return claimed
        if not number.can_auto_reply:
            return f"silent:{number.kind}"
        folded = fold(text)
        if any(marker in folded for marker in AUTOMATIC_MARKERS) or self._echoes_us(db, number.value, folded):
            return "silent:automatic"

        for handler_obj in self.handlers:
            result = handler_obj.handle(db, number, text, inbox_id, now)
            if result is not None:
                # A reserved keyword (DK, HUY, TC...) ends an open menu or tip prompt: the
                # next message is not taken as the tip the villager gave up on.
                self._close_session(db, number.value)
                if result.reply and self._may_reply(db, number.value, result.kind, None, now):
                    outbox.enqueue(
                        db, number.value, result.reply, kind=result.kind, now=now, in_reply_to=inbox_id,
                        khong_dau=result.kind in self.settings.khong_dau_kinds, max_parts=self.settings.max_parts,
                    )
                return result.handler

        book = self.book  # one menu version for the whole message, even if an officer saves now
        session, last_help = self._load_session(db, number.value)
        decision: Decision = book.respond(text, session, now)
        handler = decision.matched or decision.kind
        reply, kind = decision.reply, _reply_kind(decision)

        if decision.kind == "tip":
            tip = tips.create(
                db, gateway_id=self.settings.gateway_id, tipster=number.value,
                text=decision.tip_text or "", inbox_id=inbox_id, now=now, to_confirm=decision.to_confirm,
            )
            for hook in self.tip_hooks:
                hook(db, tip, number.value, decision.tip_text or "", now)
            reply = decision.ack(tip.reference)
            kind = "tip_ack"
            handler = f"tip:{tip.reference}" + (" (to confirm)" if decision.to_confirm else "")

        self._save_session(db, book, number.value, decision, session, now, kind)
        if reply and self._may_reply(db, number.value, kind, last_help, now):
            outbox.enqueue(
                db, number.value, reply, kind=kind, now=now, in_reply_to=inbox_id,
                khong_dau=kind in self.settings.khong_dau_kinds, max_parts=self.settings.max_parts,
            )
        elif reply:
            handler += " (no reply: limit)"
        return handler

    def _may_reply(self, db: Database, number: str, kind: str, last_help: str | None, now: datetime) -> bool:
        if (kind == "help" and last_help
                and last_help > utcnow_iso(now - timedelta(minutes=self.settings.session_minutes))):
            return False  # help twice in a row answers a machine, not a person
        sent = outbox.auto_replies_since(db, number, now - timedelta(hours=1))
        return sent < self.settings.auto_replies_per_hour

    @staticmethod
    def _echoes_us(db: Database, number: str, folded: str) -> bool:
        """True when the text repeats the last reply we sent this number (a bot echoing us)."""
        if len(folded) < 20:
            return False
        last = outbox.last_auto_reply(db, number)
        return last is not None and fold(last)[:60] == folded[:60]

    def open_menu(self, db: Database, number: str, now: datetime) -> str | None:
        """The main menu for ``number``, its session opened as if it had texted MENU (a missed
        call asks for it: the villager's next "1" picks from it). Inside the caller's transaction."""
        book = self.book
        session, _last_help = self._load_session(db, number)
        decision = book.respond("MENU", session, now)
        if decision.kind != "reply" or not decision.reply:
            return None
        self._save_session(db, book, number, decision, session, now, "menu")
        return decision.reply

    # -- sessions ------------------------------------------------------------------------
    def _load_session(self, db: Database, number: str) -> tuple[Session | None, str | None]:
        """The number's menu state, and when help was last sent to it (one read for both)."""
        row = db.execute(
            "SELECT language, path, awaiting, expires_at, last_help_at FROM sessions WHERE number=?", (number,)
        ).fetchone()
        if row is None:
            return None, None
        language, path, awaiting, expires_at, last_help = row
        return Session(
            language=language,
            path=tuple(int(p) for p in path.split(".") if p),
            awaiting=awaiting,
            expires_at=datetime.fromisoformat(expires_at) if expires_at else None,
        ), last_help

    @staticmethod
    def forget_session(db: Database, number: str) -> None:
        """Delete ``number``'s menu state, language included (the dry run's "start again")."""
        db.execute("DELETE FROM sessions WHERE number = ?", (number,))

    @staticmethod
    def _close_session(db: Database, number: str) -> None:
        """Nothing open any more for ``number`` (its language is kept)."""
        db.conn.execute(
            "UPDATE sessions SET path='', awaiting=NULL, expires_at=NULL WHERE number=? AND expires_at IS NOT NULL",
            (number,),
        )

    def _save_session(self, db: Database, book: MenuBook, number: str, decision: Decision,
                      old: Session | None, now: datetime, kind: str) -> None:
        """Persist the new menu state (and when help was sent, if it is help).

        A decision without a session closes the menu but keeps the number's language.
        """
        new = decision.session or book.new_session(old.language if old else None)
        db.conn.execute(
            "INSERT INTO sessions (number, language, path, awaiting, expires_at, last_help_at)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT(number) DO UPDATE SET language=excluded.language,"
            " path=excluded.path, awaiting=excluded.awaiting, expires_at=excluded.expires_at,"
            " last_help_at=excluded.last_help_at",
            (
                number,
                new.language,
                ".".join(str(p) for p in new.path),
                new.awaiting,
                utcnow_iso(new.expires_at) if new.expires_at else None,
                utcnow_iso(now) if kind == "help" else None,
            ),
        )


def _reply_kind(decision: Decision) -> str:
    if decision.kind == "help":
        return "help"
    if decision.session is not None and decision.session.awaiting == "tip":
        return "tip_prompt"
    return "menu"

