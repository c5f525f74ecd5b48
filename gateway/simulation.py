"""The dry run: try the menus as a villager on a gateway with a real modem, sending nothing.

With the built-in emulator the phone simulator sends a real SMS through the emulator. With a
real modem that would go over the air, so admins get this instead: the real ``Router``, with
the menus in use, runs on a separate sandbox SQLite file (the same schema, made by
``database.prepare_gateway``) and the replies it would send are read back from the sandbox's outbox.
Nothing is written to the gateway's own database; no modem worker reads the sandbox, so
nothing in it is ever sent, and its replies are marked ``dry_run`` (an outbox status only the
sandbox has). Tips made here stay in the sandbox too (no sync, no duty alert). Every row is
written through its owner's functions (``inbox``, ``outbox``, ``tips``, the router's sessions).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway import conversations, inbox, outbox, phone, tips
from gateway.database import prepare_gateway
from gateway.menus import MenuBook
from gateway.router import InboundHandler, Router, RouterSettings
from gateway.storage import ThreadLocalDb, write_transaction

#: How many messages of one number the dry-run conversation shows.
THREAD_MESSAGES = 100


@dataclass(frozen=True)
class DryReply:
    """A reply the gateway would have sent (it stays in the sandbox's outbox)."""

    text: str
    kind: str
    parts: int
    encoding: str


@dataclass(frozen=True)
class DryResult:
    """What one message did: the router's label for it and the replies it would send."""

    number: str
    handler: str
    replies: list[DryReply]


def router_settings(config: Any) -> RouterSettings:
    """The router's settings from the config (the same as the gateway's own router)."""
    return RouterSettings.from_config(config)


def sandbox_path(storage_path: Path) -> Path:
    """``data/tinbao.db`` → ``data/tinbao-dry-run.db``: beside the real one, never the same."""
    storage_path = Path(storage_path)
    return storage_path.with_name(f"{storage_path.stem}-dry-run{storage_path.suffix or '.db'}")


class DryRun:
    """A sandbox gateway database and the real router, one message at a time.

    ``book`` is called for every message, so the newest saved menus are always the ones
    tried. Messages are routed one at a time (a lock), which is plenty for a person typing.
    """

    def __init__(
        self,
        path: Path,
        settings: RouterSettings,
        book: Callable[[], MenuBook],
        *,
        handlers: Iterable[InboundHandler] = (),
    ) -> None:
        self.path = Path(path)
        self.settings = settings
        self._book = book
        self._handlers = list(handlers)
        self._lock = threading.Lock()  # one message routed at a time
        self._prepare_lock = threading.Lock()
        self._dbs: ThreadLocalDb | None = None

    def _db(self) -> Any:
        """This thread's connection to the sandbox; the file is made (once) on first use."""
        with self._prepare_lock:
            if self._dbs is None:
                prepare_gateway(self.path)
                self._dbs = ThreadLocalDb(self.path)
        return self._dbs.get()

    def send(self, number: str, text: str, now: datetime) -> DryResult:
        """Route ``text`` from ``number`` as if it had just arrived; nothing leaves the sandbox.

        ``number`` is normalised like a real sender (E.164 for people; a short code stays as
        it is and, as for real, gets no reply).
        """
        sender = phone.normalise(number)
        with self._lock:
            db = self._db()
            router = Router(self._book(), self.settings, handlers=self._handlers)
            inbox_id = inbox.add_simulated(db, sender, text, now)
            router.run_once(db, now)
            outbox.mark_dry_run(db, inbox_id)
            handler = inbox.handler_of(db, inbox_id)
            replies = [DryReply(r["text"], r["kind"], r["parts_total"], r["encoding"])
                       for r in outbox.replies_to(db, inbox_id)]
        return DryResult(sender.value, handler or "", replies)

    def conversation(self, number: str) -> list[dict[str, Any]]:
        """The sandbox messages to and from ``number``, oldest first (as ``conversations.conversation``)."""
        value = phone.normalise(number).value
        return conversations.conversation(self._db(), [value], THREAD_MESSAGES)

    def forget(self, number: str) -> int:
        """Start again for ``number``: its sandbox messages, tips and menu state are deleted."""
        value = phone.normalise(number).value
        with self._lock:
            db = self._db()
            with write_transaction(db):
                outbox.forget_number(db, value)
                tips.forget_tipster(db, value)
                removed = inbox.forget_sender(db, value)
                Router.forget_session(db, value)
        return removed

    def close(self) -> None:
        if self._dbs is not None:
            self._dbs.close_all()
