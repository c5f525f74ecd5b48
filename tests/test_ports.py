"""A port already in use is one clear line for the gateway and the hub, never a traceback; the
hub listens on 8090 by default, so it runs beside a gateway on 8080 (issue 16 part 6, issue 19)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from conftest import ROOT, make_config

from gateway.hub.server import HUB_DEFAULT_PORT, hub_port


def _taken_port() -> tuple[socket.socket, int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    return holder, holder.getsockname()[1]


def _run(tmp_path, *args: str, port: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "TINBAO_STORAGE_PATH": str(tmp_path / "tinbao.db"), "TINBAO_WEB_PORT": str(port),
           "TINBAO_WEB_HOST": "127.0.0.1", "TINBAO_MODEM_PORT": "emulator"}
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_a_port_in_use_is_one_line_for_the_gateway_and_the_hub(tmp_path):
    holder, port = _taken_port()
    try:
        for command in (["run"], ["hub"]):
            result = _run(tmp_path, *command, port=port)
            assert result.returncode == 2, (command, result.stderr[-2000:])
            assert "Traceback" not in result.stderr, result.stderr
            [line] = [line for line in result.stderr.splitlines() if line.startswith("tinbao:")]
            assert f"config key web.port ({port} on 127.0.0.1)" in line and "already in use" in line, line
            assert "TINBAO_WEB_PORT" in line
    finally:
        holder.close()


def test_the_hub_listens_on_8090_unless_web_port_is_set(tmp_path):
    assert hub_port(make_config(tmp_path)) == HUB_DEFAULT_PORT == 8090
    assert hub_port(make_config(tmp_path, TINBAO_WEB_PORT="8111")) == 8111
