"""``python -m gateway.modem.emulator --link PATH``: the emulator as its own process."""

from gateway.modem.emulator.control import main

raise SystemExit(main())
