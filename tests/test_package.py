"""``pip install .`` outside the checkout: the installed gateway runs with its shipped files (issue 18).

The wheel is built from a copy of the sources and installed into a fresh venv that borrows
this venv's packages (``--no-deps --no-build-isolation --no-index``: nothing is downloaded).
Then the installed ``tinbao`` runs the whole gateway from an empty folder, far from the
checkout: the menus, the warning library, the modem profiles and the defaults file must all
come from the installed package, and ``data/tinbao.db`` lands in the working directory.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
from pathlib import Path

from conftest import ROOT, wait_until

BUILD_TIMEOUT = 180


def _run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=BUILD_TIMEOUT, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthz(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _install(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the sources and install it into a fresh venv; its bin folder."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "firmware_config", src / "firmware_config")
    shutil.copytree(ROOT / "gateway", src / "gateway", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", dist, src)
    (wheel,) = dist.glob("tinbao-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # This venv's packages (Flask, python-gsmmodem, ...) behind the new venv's own: a .pth line
    # adds the folder to sys.path without running its .pth files, so the checkout's editable
    # install stays out and ``gateway`` can only come from the wheel.
    (site / "_tinbao_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel)
    return venv / "bin"


def test_the_installed_gateway_runs_outside_the_checkout_with_its_shipped_files(tmp_path):
    bin_dir = _install(tmp_path)
    here = tmp_path / "post"  # an empty working directory, outside the checkout
    here.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    where = _run(bin_dir / "python", "-c", "import gateway, gateway.config as c; print(gateway.__file__, c.SHIPPED)",
                 cwd=here, env=env).stdout.split()
    assert all(Path(p).is_relative_to(tmp_path / "venv") for p in where), where
    assert not any(Path(p).is_relative_to(ROOT) for p in where)

    port = _free_port()
    gateway = subprocess.Popen([bin_dir / "tinbao"], cwd=here, env={**env, "TINBAO_WEB_PORT": str(port)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The menus (setup not complete: the shipped placeholders), the modem profile, the
        # warning library (start-up stops without it) and the built-in emulator, all installed.
        assert wait_until(lambda: (_healthz(port) or {}).get("modem", {}).get("state") == "connected", 60)
        health = _healthz(port)
        assert health["network"]["profile"] == "generic" and health["setup_complete"] is False
    finally:
        gateway.send_signal(signal.SIGTERM)
        log, _ = gateway.communicate(timeout=60)
    assert gateway.returncode == 0, log
    assert (here / "data" / "tinbao.db").is_file()  # relative storage.path: the working directory's

    doctor = subprocess.run([bin_dir / "python", "-m", "gateway", "doctor"], cwd=here, env=env,
                            capture_output=True, text=True, timeout=60)
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr  # a fresh post is not ready for the field
    # "✓ name  found": the name is padded to the longest, then two spaces.
    lines = {line[2:].split("  ", 1)[0].strip(): line for line in doctor.stdout.splitlines() if line[:1] in "✓✗"}
    assert "placeholders (xxxx, 09xx) still answer for: «Tên xã»" in lines["menus filled in"]
    assert lines["menus in use"].startswith("✓")
    assert "the shipped defaults (gateway.toml)" in lines["config file"]
    assert lines["storage"].startswith("✓") and "data/tinbao.db, private" in lines["storage"]
