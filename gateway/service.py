"""Wiring: config, storage, modem (or the emulator), router and web, started and stopped together.

``app.py`` only parses the command line and calls ``Gateway(config).run()``. Tests build a
``Gateway`` too and start its parts without the web server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from zoneinfo import ZoneInfo

from gateway import __version__, backup, duty, filekeys, inbox, outbox
from gateway.background import Worker, limit_malloc_arenas
from gateway.broadcasts.service import BroadcastService
from gateway.clock import Clock, Evidence, TrustedClock
from gateway.config import Config
from gateway.database import prepare_gateway
from gateway.errors import ConfigError
from gateway.figures import Figures
from gateway.menus import versions as menu_versions
from gateway.modem import status as modem_status
from gateway.modem.worker import ModemWorker, all_settings_from_config
from gateway.privacy.worker import PurgeWorker
from gateway.router import Router, RouterSettings, reserved_keywords
from gateway.sim import loop as sim_loop
from gateway.sim import notices as sim_notices
from gateway.sim.service import SimWatch
from gateway.storage import DatabaseCorrupt, ThreadLocalDb, WriteHealth, cannot_write, run_lock
from gateway.sync.heartbeat import HeartbeatWorker
from gateway.sync.hooks import SyncTipHook
from gateway.sync.worker import SyncWorker

log = logging.getLogger(__name__)

#: What the gateway's one clock judges the time by (DESIGN.md rule 7): the network time the
#: modem workers publish and the SMS centre's stamps on the inbox.
CLOCK_EVIDENCE = Evidence(network_time=modem_status.network_time, centre_stamps=inbox.newest_centre_stamp)


def emulator_link(folder: str, index: int) -> str:
    """Where the built-in emulator of modem ``index`` shows its port: ``modem`` (``modem1``...
    for the others) in this process's own folder (``Gateway.emulator_folder``), a fixed path as
    a real modem's ``/dev/serial/by-id`` link.

    Its pty is new at every replug and the kernel gives the old number to whoever opens one
    next: a worker that kept ``/dev/pts/N`` would knock on another program's terminal (and, on
    a busy machine, reach it) instead of finding its modem again. The folder is the process's
    own (made under the temporary folder, removed at stop), so a second gateway on the same
    file never takes the link, and a data folder without symlinks (FAT) does not matter.
    """
    return os.path.join(folder, f"modem{index or ''}")


class RouterWorker(Worker):
    """The thread that routes queued inbox rows and wakes the modem worker when replies wait.

    A database that cannot be written is the loop's (``gateway.background.Worker``): the
    batch rolled back, nothing is marked, and the same messages are routed when it can.
    """

    IDLE = 1.0  # seconds between looks at the inbox when nobody wakes us
    cannot_write_note = "messages wait"

    def __init__(self, router: Router, dbs: ThreadLocalDb, clock: Clock, on_routed,
                 write_health: WriteHealth | None = None) -> None:
        super().__init__("router", write_health=write_health, now=clock.now)
        self.router = router
        self.dbs = dbs
        self.clock = clock
        self.on_routed = on_routed

    def tick(self) -> float:
        """Route one batch; straight on to the next while there are rows."""
        routed = self.router.run_once(self.dbs.get(), self.clock.now())
        if routed:
            self.on_routed()
            return 0.0
        return self.IDLE


class FiguresWorker(Worker):
    """Thread ``figures``: keeps the dashboard's 30-day figures counted (``gateway.figures``),
    so no officer's page waits for a count."""

    LOOK_EVERY = 5.0

    def __init__(self, figures: Figures, dbs: ThreadLocalDb, clock: Clock, tz: ZoneInfo) -> None:
        super().__init__("figures")
        self.figures = figures
        self.dbs = dbs
        self.clock = clock
        self.tz = tz
        self.error_delay = self.LOOK_EVERY

    def tick(self) -> float:
        self.figures.read(self.dbs.get(), self.clock.now(), self.tz)
        return self.LOOK_EVERY


class Gateway:
    """Everything one commune's gateway runs, built from one ``Config``."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        # One clock for every record: the system clock, corrected by the network's time when
        # the Pi is more than five minutes off (gateway.clock.TrustedClock, DESIGN.md rule 7).
        if not isinstance(clock, TrustedClock):
            clock = TrustedClock(clock or Clock(), evidence=CLOCK_EVIDENCE)
        self.clock = clock
        self.emulator = None
        # Held until stop(): ``python app.py restore`` refuses while it is (DESIGN.md, Operations).
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(run_lock(config.storage_path))
        try:
            prepare_gateway(config.storage_path)
        except DatabaseCorrupt as exc:
            self._lock.close()
            raise DatabaseCorrupt(exc.path, f"{exc.problem}; {backup.restore_hint(config)}") from None
        except BaseException:
            self._lock.close()
            raise
        self.dbs = ThreadLocalDb(config.storage_path)
        self.durable_dbs = ThreadLocalDb(config.storage_path, durable=True)
        self.write_health = WriteHealth()  # said in memory when the database cannot be written
        self.broadcasts = BroadcastService(
            config, self.dbs, self.clock, menus=lambda: self.router.book, wake_senders=self._wake_modems,
        )
        # Keyword handlers, tried before the menus; each declares its keywords, which the
        # menus may then not use (router.reserved_keywords).
        handlers = [self.broadcasts.subscriptions]
        options = menu_versions.book_options(config, reserved_keywords(handlers))
        book = menu_versions.load_current(self.dbs.get(), config.menus_path, **options)
        self.router = Router(
            book, RouterSettings.from_config(config),  # router.book: the menus in use (editable)
            handlers=handlers, tip_hooks=[duty.alert_new_tip, SyncTipHook(config)],
            # The SIM's: the loop test coming back is never a villager's; operator notices are filed.
            inbound_hooks=[sim_loop.LoopHook(config.gateway.phone_number), sim_notices.NoticeHook()],
        )
        self.sim = SimWatch(config, self.dbs, self.clock, menu_for=self.router.open_menu,
                            wake_modems=self._wake_modems)
        self.sync = SyncWorker(config, self.dbs, self.clock)
        from gateway.web.alert_words import standalone

        # Every sync.heartbeat_minutes the hub hears this post's state and alerts (in words).
        self.heartbeat = HeartbeatWorker(config, self.dbs, self.clock, version=__version__,
                                         write_health=self.write_health, reserved=self.router.reserved,
                                         words=standalone(config))
        self.backups = backup.BackupWorker(config, self.dbs, self.clock)
        self.figures = Figures()  # the dashboard's 30-day figures, shared by the worker and the page
        self.figures_worker = FiguresWorker(self.figures, self.dbs, self.clock, config.timezone)
        self.purge = PurgeWorker(config, self.dbs, self.clock)
        self.worker_settings = all_settings_from_config(config)  # a bad modem.profile stops us here
        self.emulators: list = []
        self.emulator_folder: str | None = None  # the built-in emulators' links (``emulator_link``)
        self.modems: list[ModemWorker] = []
        self.modem: ModemWorker | None = None  # the first modem (the one the page's simulator uses)
        self.router_worker: RouterWorker | None = None

    def start(self) -> None:
        """Start the emulator(s), one modem worker per port, the router, sync and broadcasts."""
        # Parts a previous run handed to a modem without recording the answer are settled
        # once, before any worker sends (rule 2: a reply at most once more, a broadcast never).
        self.check_clock()
        filekeys.ensure_default(self.config)  # a demo's nightly copies are sealed from the first night
        outbox.recover_claims(self.durable_dbs.get(), self.clock.now())
        self.router_worker = RouterWorker(self.router, self.dbs, self.clock, on_routed=self._routed,
                                          write_health=self.write_health)
        for index, settings in enumerate(self.worker_settings):
            if settings.port == "emulator":
                from gateway.modem.emulator import ModemEmulator

                if self.emulator_folder is None:
                    self.emulator_folder = tempfile.mkdtemp(prefix="tinbao-emulator-")
                emulator = ModemEmulator(own_number=self.config.gateway.phone_number or None,
                                         link=emulator_link(self.emulator_folder, index))
                settings.port = emulator.start()
                self.emulators.append(emulator)
                log.info("built-in modem emulator on %s", settings.port)
            worker = ModemWorker(settings, self.durable_dbs, self.clock, on_inbound=self.router_worker.wake,
                                 on_network_time=self.check_clock, write_health=self.write_health)
            worker.line.on_call = self.sim.wake  # a missed call filed: answer it now
            self.modems.append(worker)
        self.modem = self.modems[0]
        self.emulator = self.emulators[0] if self.emulators else None
        self.router_worker.start()
        for worker in self.modems:
            worker.start()
        self.sync.start()
        self.heartbeat.start()
        self.broadcasts.start()
        self.backups.start()
        self.sim.start()
        self.figures_worker.start()
        self.purge.start()

    def check_clock(self) -> None:
        """Judge the clock now (at start, and whenever a modem read the network's time)."""
        try:
            self.clock.check(self.dbs.get())
        except Exception as exc:
            reason = cannot_write(exc)
            if reason is None:
                log.exception("could not check the clock")
            else:  # the storage's trouble, already shown by the workers: one line, no traceback
                log.warning("could not check the clock: the database cannot be written (%s)", reason)

    def _wake_modems(self) -> None:
        for worker in self.modems:
            worker.wake()

    def _routed(self) -> None:
        """New rows wait in the outbox (and maybe the sync queue): wake their workers."""
        self._wake_modems()
        self.sync.wake()

    def stop(self) -> None:
        # The modems first hear "stop" and finish the part they are sending (up to
        # modem.send_timeout) while the others stop: no part is left in doubt that a few
        # seconds would have settled. tinbao.service's TimeoutStopSec covers this.
        for worker in self.modems:
            worker.request_stop()
        self.purge.stop()
        self.backups.stop()
        self.sim.stop()
        self.figures_worker.stop()
        self.broadcasts.stop()
        self.heartbeat.stop()
        self.sync.stop()
        for worker in self.modems:
            worker.stop()
        if self.router_worker is not None:
            self.router_worker.stop()
        for emulator in self.emulators:
            emulator.stop()
        if self.emulator_folder is not None:
            shutil.rmtree(self.emulator_folder, ignore_errors=True)
        self.dbs.close_all()
        self.durable_dbs.close_all()
        self._lock.close()

    def web_app(self):
        from gateway import simulation
        from gateway.web import create_app
        from gateway.web.services import WebServices

        services = WebServices(
            db=self.dbs, simulator=self.emulator, version=__version__, clock=self.clock,
            on_menus_changed=self.router.set_book, sync=self.sync, broadcasts=self.broadcasts,
            menus_reserved=self.router.reserved, write_health=self.write_health, sim=self.sim,
            figures=self.figures,
            dry_run=simulation.DryRun(
                simulation.sandbox_path(self.config.storage_path), RouterSettings.from_config(self.config),
                lambda: self.router.book, handlers=self.router.handlers,
            ),
        )
        return create_app(self.config, services)

    def run(self) -> None:
        """Run until interrupted: workers in threads, the web page served (``gateway.web.serving``).

        The page's port is taken first: a port in use stops start-up with one line before any
        worker has touched the modem or the database.
        """
        from gateway.web import serving

        page = serving.LateApp()
        try:
            server = serving.open_server(page, self.config, ident="TinBao")
        except ConfigError:
            self._lock.close()  # nothing else was started
            raise
        try:
            self.start()
            page.app = self.web_app()
            from gateway.accounts import users

            if users.count_users(self.dbs.get()) == 0:
                log.warning("no officer accounts yet: create the first with "
                            "python app.py create-user NAME --role admin")
            server.run(f"TinBao {__version__}: officers' page")
        finally:
            server.close()
            self.stop()


def run_command(config: Config, args: object = None) -> int:
    """``python app.py`` / ``python app.py run``."""
    limit_malloc_arenas()  # before any thread starts
    Gateway(config).run()
    return 0
