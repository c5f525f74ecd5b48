"""The one worker loop: a daemon thread that ticks until stopped, sooner when woken.

Every background job of the gateway is a ``Worker``: the router (``gateway.service``), each
modem (``gateway.modem.worker``), each sync lane (``gateway.sync.worker``) and the broadcast
sender (``gateway.broadcasts.service``). A subclass writes only ``tick()``, one pass of its
job, which answers how long to rest before the next pass:

- ``0``: go again at once (there is more to do);
- a number of seconds: rest that long, unless ``wake()`` comes first;
- ``None``: rest until ``wake()``.

A tick that raises is logged with its traceback and the loop carries on after
``error_delay`` seconds: a bug in one pass must never stop the thread. A tick that raises
because the database cannot be written (disk full, card read-only, I/O error:
``storage.cannot_write``) is nobody's bug and is handled here, once for every worker: the
step rolled back, the worker's ``write_health`` hears of it (the page's alert, ``/healthz``),
one line is logged at the first failure and one when writes pass again, and the same step
is tried after the one back-off (``storage_retry_base`` doubling up to ``storage_retry_max``).
``wake()`` is cheap and safe from any thread (a request, python-gsmmodem's reader, another
worker); everything else a worker owns is touched only by its own thread.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime

from gateway import backoff
from gateway.storage import WriteHealth, cannot_write

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` option for the most malloc arenas (``M_ARENA_MAX``).
_M_ARENA_MAX = -8
#: Arenas for the whole process (glibc's own default is eight per core).
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Before the threads start: let them share ``arenas`` malloc arenas; True when it was set.

    glibc gives each new thread that allocates an arena of its own, up to eight per core, and
    memory freed in one is kept for that arena alone. A gateway runs about twenty threads
    (the workers, waitress's eight), so on two cores each of sixteen arenas kept its own
    free pieces: 8 MB more resident memory after 10,000 SMS (``bench/memory.py``), for no
    speed, since Python code holds the GIL while it allocates. An operator's
    ``MALLOC_ARENA_MAX`` wins; without glibc (or without ``mallopt``) nothing is changed.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


class Worker(ABC):
    """A daemon thread named ``thread_name`` calling ``tick()`` (see the module docstring)."""

    #: Rest after a tick that raised.
    error_delay: float = 1.0
    #: While the database cannot be written: the first rest, doubled up to the longest.
    storage_retry_base: float = 1.0
    storage_retry_max: float = 30.0
    #: What waits while the database cannot be written (the first failure's log line says it).
    cannot_write_note: str = "trying again"

    def __init__(self, thread_name: str, *, write_health: WriteHealth | None = None,
                 health_name: str | None = None, now: Callable[[], datetime] | None = None) -> None:
        self.thread_name = thread_name
        self.wake_event = threading.Event()  # set by wake(); tests may look at it
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        # Told when the database cannot be written (the gateway shares one with the page).
        self.write_health = write_health or WriteHealth()
        self.health_name = health_name or thread_name
        self._now = now  # the worker's clock, for when a write failure began
        self.write_failures = 0  # ticks in a row that could not write
        self.passes = 0  # ticks that returned; tests wait on it (wait_for_passes)
        self._passed = threading.Condition()

    @abstractmethod
    def tick(self) -> float | None:
        """One pass of the job, in the worker's thread; the seconds to rest before the next."""

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (once per ``stop``)."""
        self.stop_event.clear()
        self.thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self.thread.start()

    def request_stop(self) -> None:
        """Ask the loop to end after the current tick, without waiting (several stop together)."""
        self.stop_event.set()
        self.wake_event.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end after the current tick and wait up to ``timeout`` seconds."""
        self.request_stop()
        if self.thread is not None:
            self.thread.join(timeout)

    def wake(self) -> None:
        """Something changed (new rows, an officer pressed a button): tick now, not later."""
        self.wake_event.set()

    # -- for subclasses ----------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called: a long tick checks it between steps."""
        return self.stop_event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Rest inside a tick, ended early only by ``stop()`` (not by ``wake()``).

        For waits a wake must not cut short, such as the back-off before reconnecting a
        modem. True when stopping.
        """
        return self.stop_event.wait(seconds)

    def wait_for_passes(self, count: int, timeout: float = 10.0) -> bool:
        """Until ``passes`` reaches ``count`` (or ``timeout`` seconds pass): True when it did.

        How a test proves that nothing happened: it reads ``passes``, changes the world, wakes
        the worker, and waits for two more passes (the first may have begun before the
        change); then it checks that the worker left everything as it was.
        """
        with self._passed:
            return self._passed.wait_for(lambda: self.passes >= count, timeout)

    def finish(self) -> None:  # noqa: B027 - optional hook, empty unless a worker holds something
        """In the worker's thread, after the last tick: let go of what the ticks held."""

    def on_cannot_write(self) -> None:  # noqa: B027 - optional hook
        """In the worker's thread, after a tick could not write (the modem looks at the SIM first)."""

    # -- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        finally:
            try:
                self.finish()
            except Exception:  # stopping must not raise in a daemon thread
                log.exception("%s: could not finish cleanly", self.thread_name)

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            # Cleared before the tick: a wake during the tick makes the rest below end at once.
            self.wake_event.clear()
            try:
                rest = self.tick()
            except Exception as exc:  # the thread outlives any one pass; logged here
                reason = cannot_write(exc)
                if reason is None:
                    log.exception("%s: a pass failed; carrying on", self.thread_name)
                    rest = self.error_delay
                else:
                    rest = self._cannot_write(reason, exc)
            else:
                if self.write_failures:
                    self._writes_again()
                with self._passed:
                    self.passes += 1
                    self._passed.notify_all()
            if self.stop_event.is_set():
                break
            if rest is None or rest > 0:
                self.wake_event.wait(rest)


    def _cannot_write(self, reason: str, exc: Exception) -> float:
        """The step rolled back (nothing left the SIM, nothing was marked): say so, wait, retry."""
        self.write_failures += 1
        self.write_health.failed(self.health_name, reason, str(exc), self._now() if self._now else None)
        if self.write_failures == 1:
            log.error("%s: the database cannot be written (%s: %s); %s", self.health_name, reason, exc,
                      self.cannot_write_note)
        try:
            self.on_cannot_write()
        except Exception:  # a hook must not stop the loop
            log.exception("%s: on_cannot_write failed", self.thread_name)
        return backoff.delay(self.write_failures, self.storage_retry_base, self.storage_retry_max, jitter=0)

    def _writes_again(self) -> None:
        log.warning("%s: the database takes writes again", self.health_name)
        self.write_failures = 0
        self.write_health.ok(self.health_name)
