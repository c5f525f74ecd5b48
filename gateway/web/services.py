"""What the pages are given: the typed services of an app, and how a view reaches them.

A leaf of the web package: it imports no page and no worker (the workers appear here as the
small protocols the pages call), so every page module may import it.

``FrameServices`` is what the pages shared by the gateway and the hub need (the login, the
language, the accounts and audit pages): the database, the clock and the version.
``WebServices`` is a gateway's: every field is required, so a page never builds a part of
its own; the running gateway (``gateway.service.Gateway.web_app``) and the tests
(``tests/conftest.py`` ``make_services``) give the same kinds of parts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from flask import current_app

from gateway.clock import Clock
from gateway.config import Config
from gateway.figures import Figures
from gateway.storage import ThreadLocalDb, WriteHealth

if TYPE_CHECKING:  # types only: the pages import no worker
    from gateway.broadcasts.library import Composer, Library
    from gateway.menus import MenuBook
    from gateway.simulation import DryResult


class Simulator(Protocol):
    """Puts an SMS into the built-in modem emulator as if a phone had sent it."""

    def deliver(self, number: str, text: str) -> None: ...


class SyncControl(Protocol):
    """The running sync worker (``gateway.sync.worker.SyncWorker``): "retry now" wakes it."""

    def wake(self, destination: str | None = None) -> None: ...


class BroadcastControl(Protocol):
    """The running broadcast service (``gateway.broadcasts.service.BroadcastService``)."""

    library: Library  # the warnings library it sends from
    composer: Composer
    clock: Clock  # the trusted clock the schedules use

    def wake(self) -> None: ...  # "send now": fill the outbox at once


class SimControl(Protocol):
    """The running SIM watcher (``gateway.sim.service.SimWatch``): the page's "read the credit
    now" and "loop test now"."""

    def request_balance(self) -> None: ...

    def request_loop_test(self) -> bool: ...


class Sandbox(Protocol):
    """The dry-run router for a gateway with a real modem (``gateway.simulation.DryRun``)."""

    def send(self, number: str, text: str, now: datetime) -> DryResult: ...

    def conversation(self, number: str) -> list[dict[str, Any]]: ...

    def forget(self, number: str) -> int: ...


@dataclass(frozen=True, kw_only=True)
class FrameServices:
    """What the pages both apps share need: login, language, accounts, the audit log."""

    db: ThreadLocalDb  # per-thread connections to the app's database
    clock: Clock  # session expiry, throttling, audit times
    version: str


@dataclass(frozen=True, kw_only=True)
class WebServices(FrameServices):
    """What a gateway's pages need from the rest of the gateway: every part is given."""

    simulator: Simulator | None  # the built-in emulator; None with a real modem (then: dry_run)
    on_menus_changed: Callable[[MenuBook], None]  # the router takes a saved book
    sync: SyncControl  # woken by "retry now" and a confirmed tip
    broadcasts: BroadcastControl  # woken by "send now"; its library, composer and clock
    menus_reserved: Collection[str]  # keywords the gateway's handlers answer (not menus)
    dry_run: Sandbox  # the admins' simulator on a real modem
    write_health: WriteHealth  # the workers' word when the database cannot be written
    sim: SimControl  # woken by "read the credit now", "loop test now"
    figures: Figures  # the dashboard's 30-day figures, kept counted by the figures worker


def current_config() -> Config:
    """The ``Config`` the running app was built with."""
    return current_app.extensions["tinbao"]["config"]


def current_services() -> WebServices:
    """The gateway's ``WebServices`` (in a gateway page)."""
    return current_app.extensions["tinbao"]["services"]


def frame_services() -> FrameServices:
    """The app's services as the shared pages see them (the gateway's or the hub's)."""
    return current_app.extensions["tinbao"]["services"]
