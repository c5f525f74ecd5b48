"""The emulated modem's wire: a pseudo-terminal, optionally reached through a stable link.

A real USB modem appears as /dev/ttyUSBn and vanishes when unplugged; here the slave side
of a pty plays that part, and `link` (a symlink replaced atomically) plays the udev name
that stays the same across re-plugs.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import tty

logger = logging.getLogger(__name__)


class PtyPort:
    """One pty pair; the master side belongs to the emulator, the slave to the gateway.

    The emulator keeps its own slave descriptor open: without it, the master reports
    hang-up (POLLHUP, EIO) every time the gateway closes the port, and a gateway that
    reopens would find nothing to talk to.
    """

    def __init__(self, link: str | None = None) -> None:
        self.link = link
        self.master, self._slave = os.openpty()
        # Raw mode: termios set through the master applies to the slave's line discipline,
        # so nothing is echoed or translated before the gateway opens its end.
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.device = os.ttyname(self._slave)
        if link:
            self._relink(link)

    @property
    def path(self) -> str:
        """What the gateway should open: the link if there is one, else the pty itself."""
        return self.link or self.device

    def _relink(self, link: str) -> None:
        tmp = f"{link}.tmp-{os.getpid()}"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(self.device, tmp)
        os.replace(tmp, link)  # atomic: the gateway never sees a missing link mid-swap

    def read(self, size: int = 4096) -> bytes:
        try:
            return os.read(self.master, size)
        except BlockingIOError:
            return b""
        except OSError as exc:  # EIO when the slave side is gone for good
            if exc.errno == errno.EIO:
                return b""
            raise

    def write(self, data: bytes, timeout: float = 2.0) -> bool:
        """Write everything, normally in one os.write; False if the gateway stopped reading.

        The pty buffer is a few KiB. A long +CMGL listing can exceed it, so a partial write
        waits (poll, not sleep) for room; a gateway that is dead or gone would otherwise
        block the emulator for ever, so after `timeout` the rest is dropped, like a UART
        overrun on real hardware.
        """
        view = memoryview(data)
        poller = None
        while view:
            try:
                written = os.write(self.master, view)
                view = view[written:]
                continue
            except BlockingIOError:
                pass
            if poller is None:
                poller = select.poll()
                poller.register(self.master, select.POLLOUT)
            if not poller.poll(timeout * 1000):
                logger.warning("gateway not reading: dropped %d bytes", len(view))
                return False
        return True

    def close(self) -> None:
        """Close both ends we hold and remove the link, as if the modem were unplugged."""
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link and os.path.islink(self.link) and os.readlink(self.link) == self.device:
            try:
                os.unlink(self.link)
            except FileNotFoundError:
                pass
