"""The emulator in a process of its own, for the kill tests and the benchmarks: start it, stop it.

A real modem is its own device: it keeps its SIM and its queue when the Pi's software dies.
Tests that SIGKILL the gateway, and benchmarks that must not share a Python process with it,
run ``python -m gateway.modem.emulator`` beside it. This is the one place that starts one, so
the command line, the ``READY <device> <control port>`` handshake and the stop stay in step
with ``control.main``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.errors import ModemError

from .client import EmulatorClient

# The folder that holds the ``gateway`` package: the child imports this very tree, installed or not.
CHECKOUT = Path(__file__).resolve().parents[3]


def start_emulator_process(
    workdir: Path, *, capacity: int | None = None, client_timeout: float = 10.0,
    link_name: str = "modem", own_number: str | None = None,
) -> tuple[subprocess.Popen, Path, EmulatorClient]:
    """Start the emulator with its pty linked at ``workdir/link_name`` and its control API on a free port.

    Returns the process, the link the gateway opens as its serial port, and a client for the
    phone side. ``capacity`` is the SIM store size (the emulator's default when None);
    ``own_number`` the SIM's own number (an SMS to it comes back: the loop test). Raises
    ``ModemError`` if the process does not say READY (it is killed first, so nothing is left).
    """
    link = Path(workdir) / link_name
    command = [sys.executable, "-m", "gateway.modem.emulator", "--link", str(link), "--control-port", "0"]
    if capacity is not None:
        command += ["--capacity", str(capacity)]
    if own_number:
        command += ["--own-number", own_number]
    proc = subprocess.Popen(command, cwd=CHECKOUT, stdout=subprocess.PIPE, text=True)
    ready = proc.stdout.readline().split() if proc.stdout else []
    if len(ready) != 3 or ready[0] != "READY":
        stop_emulator_process(proc, timeout=5)
        raise ModemError(f"the emulator process did not start (exit {proc.returncode}): {' '.join(ready)!r}")
    return proc, link, EmulatorClient(f"http://127.0.0.1:{ready[2]}", timeout=client_timeout)


def stop_emulator_process(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """Stop it with SIGTERM (it closes its control server and pty), SIGKILL if it hangs; returns the exit code."""
    try:
        if proc.poll() is None:
            proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout)
    finally:
        if proc.stdout:
            proc.stdout.close()
