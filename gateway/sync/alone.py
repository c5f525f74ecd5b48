"""``python app.py sync``: the sync worker and the heartbeat alone, until stopped.

The hub hears a post that syncs: a post whose gateway is stopped for work on the modem, with
only the sync running, still says every ``sync.heartbeat_minutes`` what its own tables say
(the queues, the backups) and that no gateway runs (alert ``gateway_stopped``: the modem's last
report is not believed, it may be a killed gateway's "connected"), instead of going silent.
Times are the gateway's corrected ones (``PublishedClock``), so the hub orders its beats and the
gateway's alike.
Apart from ``worker`` because the heartbeat's alerts are worded from the page's catalogs
(``gateway.web.alert_words``), as ``usb_export`` does for the USB file.
"""

from __future__ import annotations

import threading

from gateway import __version__
from gateway.broadcasts.subscriptions import KEYWORDS
from gateway.clock import PublishedClock
from gateway.config import Config
from gateway.database import prepare_gateway
from gateway.storage import ThreadLocalDb, lock_holder
from gateway.sync.heartbeat import HeartbeatWorker
from gateway.sync.worker import SyncWorker


def sync_command(config: Config, args: object = None) -> int:
    """Run until SIGTERM (``app.py`` makes it ``SystemExit``) or Ctrl-C; 0 when stopped."""
    from gateway.web.alert_words import standalone

    prepare_gateway(config.storage_path)
    dbs = ThreadLocalDb(config.storage_path)
    clock = PublishedClock(dbs.get)  # the gateway's corrected time, as its own workers write it
    worker = SyncWorker(config, dbs, clock)
    beat = HeartbeatWorker(config, dbs, clock, version=__version__, reserved=KEYWORDS, words=standalone(config),
                           gateway_running=lambda: lock_holder(config.storage_path) is not None)
    idle = threading.Event()  # never set: the signal or Ctrl-C ends the wait
    worker.start()
    beat.start()
    try:
        while not idle.wait(1.0):
            pass
    finally:
        beat.stop()
        worker.stop()
        dbs.close_all()
    return 0
