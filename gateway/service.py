"""Wiring: config, storage, modem (or the emulator), router and web, started and stopped together.

``app.py`` only parses the command line and calls ``Gateway(config).run()``. Tests build a
``Gateway`` too and start its parts without the web server.
"""

from __future__ import annotations

import logging
import threading

from gateway import __version__
from gateway.clock import Clock
from gateway.config import Config
from gateway import duty, menus_store
from gateway.modem.worker import ModemWorker, settings_from_config
from gateway.router import Router, RouterSettings
from gateway.storage import ThreadLocalDb, prepare
from gateway.sync.hooks import SyncTipHook
from gateway.sync.worker import SyncWorker

log = logging.getLogger(__name__)


class RouterWorker:
    """A thread that routes queued inbox rows and wakes the modem worker when replies wait."""

    def __init__(self, router: Router, dbs: ThreadLocalDb, clock: Clock, on_routed) -> None:
        self.router = router
        self.dbs = dbs
        self.clock = clock
        self.on_routed = on_routed
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="router", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        db = self.dbs.get()
        while not self._stop.is_set():
            try:
                routed = self.router.run_once(db, self.clock.now())
            except Exception:  # noqa: BLE001 - keep routing whatever one batch did
                log.exception("router batch failed")
                routed = 0
            if routed:
                self.on_routed()
                continue
            self._wake.wait(1.0)
            self._wake.clear()


class Gateway:
    """Everything one commune's gateway runs, built from one ``Config``."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.emulator = None
        prepare(config.storage_path)
        self.dbs = ThreadLocalDb(config.storage_path)
        self.durable_dbs = ThreadLocalDb(config.storage_path, durable=True)
        self.book = menus_store.load_current(self.dbs.get(), config.menus_path, **menus_store.book_options(config))
        self.router = Router(
            self.book, RouterSettings.from_config(config),
            tip_hooks=[duty.alert_new_tip, SyncTipHook(config)],
        )
        self.sync = SyncWorker(config, self.dbs, self.clock)
        self.modem: ModemWorker | None = None
        self.router_worker: RouterWorker | None = None

    def start(self) -> None:
        """Start the emulator (when ``modem.port = "emulator"``), the modem worker and the router."""
        worker_settings = settings_from_config(self.config)
        if self.config.modem.port == "emulator":
            from gateway.modem.emulator import ModemEmulator

            self.emulator = ModemEmulator()
            worker_settings.port = self.emulator.start()
            log.info("built-in modem emulator on %s", worker_settings.port)
        self.router_worker = RouterWorker(self.router, self.dbs, self.clock, on_routed=self._routed)
        self.modem = ModemWorker(worker_settings, self.durable_dbs, self.clock, on_inbound=self.router_worker.wake)
        self.router_worker.start()
        self.modem.start()
        self.sync.start()

    def _routed(self) -> None:
        """New rows wait in the outbox (and maybe the sync queue): wake their workers."""
        self.modem.wake()
        self.sync.wake()

    def stop(self) -> None:
        self.sync.stop()
        if self.modem is not None:
            self.modem.stop()
        if self.router_worker is not None:
            self.router_worker.stop()
        if self.emulator is not None:
            self.emulator.stop()
        self.dbs.close_all()
        self.durable_dbs.close_all()

    def web_app(self):
        from gateway import simulation
        from gateway.web import WebServices, create_app

        services = WebServices(db=self.dbs, simulator=self.emulator, version=__version__, clock=self.clock)
        services.extra["on_menus_changed"] = self.router.set_book
        services.extra["sync"] = self.sync
        services.extra["dry_run"] = simulation.DryRun(
            simulation.sandbox_path(self.config.storage_path), RouterSettings.from_config(self.config),
            lambda: self.router.book, handlers=self.router.handlers,
        )
        return create_app(self.config, services)

    def run(self) -> None:
        """Run until interrupted: workers in threads, the web page served by waitress."""
        import waitress

        self.start()
        host, port = self.config.web.host, self.config.web.port
        log.info("TinBao %s: officers' page on http://%s:%s/", __version__, host, port)
        try:
            waitress.serve(self.web_app(), host=host, port=port, threads=8, ident="TinBao")
        finally:
            self.stop()


def run_command(config: Config, args: object = None) -> int:
    """``python app.py`` / ``python app.py run``."""
    Gateway(config).run()
    return 0
