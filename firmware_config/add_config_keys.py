"""Called by install.sh on an upgrade: add the keys a newer TinBao needs to an older config.

``python3 add_config_keys.py CONFIG ETC``: each key below is added under its section only
when the config lacks it; the officer's own values (and comments) are never changed, and the
web port stays as it was (only a new plain-http port redirects to it).
"""

from __future__ import annotations

import sys
import tomllib


def wanted(etc: str) -> list[tuple[str, str, str]]:
    return [
        ("backup", "key_path", f'"{etc}/backup.key"'),
        ("web", "tls_cert", f'"{etc}/tls/server.crt"'),
        ("web", "tls_key", f'"{etc}/tls/server.key"'),
        ("web", "http_redirect_port", "80"),
    ]


def add_keys(path: str, etc: str) -> list[str]:
    with open(path, "rb") as fh:
        have = tomllib.load(fh)
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    added = []
    for section, key, value in wanted(etc):
        if key in have.get(section, {}):
            continue
        line = f"{key} = {value}    # added by install.sh"
        header = f"[{section}]"
        stripped = [each.strip() for each in lines]
        if header in stripped:
            lines.insert(stripped.index(header) + 1, line)
        else:
            lines += ["", header, line]
        have.setdefault(section, {})[key] = value
        added.append(f"{section}.{key}")
    if added:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    return added


if __name__ == "__main__":
    done = add_keys(sys.argv[1], sys.argv[2])
    if done:
        print(f"==> added to {sys.argv[1]}: {', '.join(done)}")
