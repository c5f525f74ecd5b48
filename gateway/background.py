"""The one worker loop: a daemon thread that ticks until stopped, sooner when woken.

Every background job of the gateway is a ``Worker``: the router (``gateway.service``), each
modem (``gateway.modem.worker``), each sync lane (``gateway.sync.worker``) and the broadcast
sender (``gateway.broadcasts.service``). A subclass writes only ``tick()``, one pass of its
job, which answers how long to rest before the next pass:

- ``0``: go again at once (there is more to do);
- a number of seconds: rest that long, unless ``wake()`` comes first;
- ``None``: rest until ``wake()``.

A tick that raises is logged with its traceback and the loop carries on after
``error_delay`` seconds: a bug in one pass must never stop the thread. ``wake()`` is cheap
and safe from any thread (a request, python-gsmmodem's reader, another worker); everything
else a worker owns is touched only by its own thread.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

from gateway.storage import cannot_write

log = logging.getLogger(__name__)


class Worker(ABC):
    """A daemon thread named ``thread_name`` calling ``tick()`` (see the module docstring)."""

    #: Rest after a tick that raised.
    error_delay: float = 1.0

    def __init__(self, thread_name: str) -> None:
        self.thread_name = thread_name
        self.wake_event = threading.Event()  # set by wake(); tests may look at it
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
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
                with self._passed:
                    self.passes += 1
                    self._passed.notify_all()
            except Exception as exc:  # noqa: BLE001 - the thread outlives any one pass; logged in pass_failed
                pass_failed(self.thread_name, exc)
                rest = self.error_delay
            if self.stop_event.is_set():
                break
            if rest is None or rest > 0:
                self.wake_event.wait(rest)


def pass_failed(who: str, exc: Exception) -> None:
    """Log a pass of a background job that raised (call it inside the ``except``).

    A bug gets its traceback. A database that cannot be written (disk full, SD card read-only)
    is the storage's trouble, shown on the page by the workers that own the SIM and the inbox:
    here it is one line, so the log of a long outage stays readable.
    """
    reason = cannot_write(exc)
    if reason is None:
        log.exception("%s: a pass failed; carrying on", who)
    else:
        log.warning("%s: the database cannot be written (%s); trying again", who, reason)
