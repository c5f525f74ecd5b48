"""The built-in AT modem emulator: a modem on a pseudo-terminal for the simulator, tests and benches.

It lives apart from the transport so that nothing in the production path imports it unless
``modem.port = "emulator"`` asks for it. ``python -m gateway.modem.emulator --link PATH`` runs
it as its own process with an HTTP control API (``control.py``); ``EmulatorClient`` speaks to it.
"""

from __future__ import annotations

from .client import EmulatorClient
from .modem import Faults, ModemEmulator

__all__ = ["EmulatorClient", "Faults", "ModemEmulator"]
