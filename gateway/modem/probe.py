"""``python app.py modem-probe``: give a modem the udev rule does not know its name, /dev/tinbao-modem.

The shipped udev rule names the AT port of four known modems. Any other LTE modem (profile
``generic``) shows several ``ttyUSB``/``ttyACM`` ports and only one of them speaks AT. Before
the gateway starts, ``tinbao.service`` runs this as root: when ``modem.port`` is the link and
the link is missing, it tries each port in turn (``AT``, waiting ``--timeout`` for ``OK``; a
port another program holds is skipped), links the first that answers, and prints the one
udev line that makes the name permanent (for ``/etc/udev/rules.d/98-tinbao-modem-local.rules``).
It never touches a port when the link exists, and never the gateway's own port while it runs.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
from pathlib import Path
from typing import Any

from gateway.config import Config

DEFAULT_LINK = "/dev/tinbao-modem"
CANDIDATES = ("/dev/ttyUSB*", "/dev/ttyACM*")


def say(text: str) -> None:
    print(f"modem-probe: {text}", flush=True)


def answers_at(port: str, baudrate: int, timeout: float) -> bool:
    """True when ``port`` answers ``AT`` with ``OK`` within ``timeout`` seconds."""
    import serial

    try:
        link = serial.Serial(port, baudrate, timeout=0.1, write_timeout=timeout, exclusive=True)
    except (serial.SerialException, OSError, ValueError):
        return False
    try:
        link.reset_input_buffer()
        link.write(b"AT\r")
        deadline = time.monotonic() + timeout
        heard = b""
        while time.monotonic() < deadline:
            heard += link.read(64)
            if b"OK" in heard:
                return True
        return False
    except (serial.SerialException, OSError):
        return False
    finally:
        with contextlib.suppress(serial.SerialException, OSError):
            link.close()


def udev_line(port: str) -> str | None:
    """The udev rule line that names ``port`` for good, from sysfs (None off USB)."""
    name = Path(os.path.realpath(port)).name
    device = Path(f"/sys/class/tty/{name}/device")
    if not device.exists():
        return None
    folder = device.resolve()
    interface = vendor = product = None
    for parent in [folder, *folder.parents]:
        if interface is None and (parent / "bInterfaceNumber").is_file():
            interface = (parent / "bInterfaceNumber").read_text().strip()
        if (parent / "idVendor").is_file():
            vendor = (parent / "idVendor").read_text().strip()
            product = (parent / "idProduct").read_text().strip()
            break
    if not (vendor and product and interface):
        return None
    return (f'SUBSYSTEM=="tty", ATTRS{{idVendor}}=="{vendor}", ATTRS{{idProduct}}=="{product}", '
            f'ENV{{ID_USB_INTERFACE_NUM}}=="{interface}", SYMLINK+="tinbao-modem", '
            'ENV{ID_MM_DEVICE_IGNORE}="1", GROUP="dialout", MODE="0660"')


def link_to(link: Path, port: str) -> None:
    """Point ``link`` at ``port`` (made beside it, then renamed over: never half a link)."""
    temporary = link.with_name(f".{link.name}.probe")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    os.symlink(os.path.realpath(port), temporary)
    os.replace(temporary, link)


def probe_command(config: Config, args: Any) -> int:
    """0 when the link exists or was made (or is not this gateway's port), 1 when no port answered."""
    link = Path(getattr(args, "link", None) or DEFAULT_LINK)
    given = getattr(args, "ports", None)
    if config.modem.port != str(link) and not given:
        say(f"modem.port is {config.modem.port}, not {link}: nothing to do")
        return 0
    if os.path.lexists(link):
        say(f"{link} is there ({os.path.realpath(link)}): nothing to do")
        return 0
    ports = given or sorted({p for pattern in CANDIDATES for p in glob.glob(pattern)})
    if not ports:
        say("no ttyUSB or ttyACM port: is the modem plugged in (lsusb)?")
        return 1
    timeout = float(getattr(args, "timeout", 1.0) or 1.0)
    for port in ports:
        if answers_at(port, config.modem.baudrate, timeout):
            link_to(link, port)
            say(f"{port} answers AT: {link} -> {os.path.realpath(port)}")
            line = udev_line(port)
            if line:
                say("to keep this name, add this line to /etc/udev/rules.d/98-tinbao-modem-local.rules:")
                say(line)
            return 0
        say(f"{port}: no answer to AT")
    say(f"no port answered AT ({', '.join(ports)}); see the udev rules' comments")
    return 1
