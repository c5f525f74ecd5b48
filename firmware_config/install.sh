#!/usr/bin/env bash
# Install (or upgrade) TinBao on a Raspberry Pi OS Bookworm Pi, from a clone of the project:
#
#   sudo firmware_config/install.sh                          # a USB LTE modem (/dev/tinbao-modem)
#   sudo firmware_config/install.sh --uart                   # a modem on the Pi's UART pins
#   sudo firmware_config/install.sh --disable-modemmanager   # also switch ModemManager off (asks first)
#
# What it does: system user "tinbao" (in group dialout); the project in /opt/tinbao/app and its
# venv in /opt/tinbao/venv; /etc/tinbao/gateway.toml from the template below (only when absent:
# running this again upgrades the code and keeps the config and the data); the file key that
# seals backups (/etc/tinbao/backup.key, its recovery code printed once) and HTTPS for the LAN
# (a local CA and the Pi's certificate in /etc/tinbao/tls); /var/lib/tinbao (0700) for the
# database and its backups; the systemd units and the udev rules, enabled; a "tinbao" command
# (sudo tinbao doctor) that runs app.py as the gateway's user with its config.
#
# A dry run, for a test or a curious admin (README "Installer dry run"): TINBAO_PREFIX=/tmp/root
# puts every file under that folder (the config, the wrapper and the venv point there too), and
# TINBAO_NO_SYSTEM=1 skips what changes the running system (root check, apt, pip, useradd,
# chown, systemctl, udevadm, raspi-config). TINBAO_PYTHON chooses the interpreter (default
# python3); in a dry run the venv borrows its packages, since nothing is downloaded.
set -euo pipefail

PREFIX="${TINBAO_PREFIX:-}"
NO_SYSTEM="${TINBAO_NO_SYSTEM:-0}"
PYTHON="${TINBAO_PYTHON:-python3}"
SERVICE_USER=tinbao
OPT=/opt/tinbao
APP="$OPT/app"
VENV="$OPT/venv"
CONFIG=/etc/tinbao/gateway.toml
DATA=/var/lib/tinbao
UNITS=/etc/systemd/system
RULES=/etc/udev/rules.d
WRAPPER=/usr/local/bin/tinbao

uart=0
disable_mm=0
assume_yes=0

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    echo "Options: --uart, --disable-modemmanager, --yes (do not ask), -h/--help"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --uart) uart=1 ;;
        --disable-modemmanager) disable_mm=1 ;;
        --yes|-y) assume_yes=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

say() { printf '==> %s\n' "$*"; }
system() { [ "$NO_SYSTEM" != "1" ]; }
# Paths as this run writes them: under the prefix in a dry run, the real ones otherwise.
P_APP="$PREFIX$APP"
P_VENV="$PREFIX$VENV"
P_CONFIG="$PREFIX$CONFIG"
P_DATA="$PREFIX$DATA"
P_ETC="$PREFIX$(dirname "$CONFIG")"

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$SOURCE/app.py" ] || [ ! -d "$SOURCE/gateway" ]; then
    echo "install.sh: run it from a clone of the project (no app.py in $SOURCE)" >&2
    exit 1
fi
if system && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run it with sudo" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "install.sh: $PYTHON is older than 3.11 (Raspberry Pi OS Bookworm has 3.11)" >&2
    exit 1
fi

# -- packages and the user ---------------------------------------------------------------------
if system; then
    say "Debian packages (python3-venv, sqlite3)"
    apt-get install -y python3-venv python3-pip sqlite3 >/dev/null
    if ! id "$SERVICE_USER" >/dev/null 2>&1; then
        say "system user $SERVICE_USER"
        useradd --system --user-group --home-dir "$DATA" --no-create-home \
            --shell /usr/sbin/nologin "$SERVICE_USER"
    fi
    usermod -a -G dialout "$SERVICE_USER"
fi

# -- the code: a fresh copy, swapped in whole ------------------------------------------------------
say "the project in $P_APP"
mkdir -p "$PREFIX$OPT"
rm -rf "$PREFIX$APP.new"
mkdir -p "$PREFIX$APP.new"
(cd "$SOURCE" && tar -cf - --exclude='__pycache__' --exclude='*.pyc' \
    app.py gateway firmware_config pyproject.toml requirements.txt requirements.lock README.md) \
    | tar -xf - -C "$PREFIX$APP.new"
chmod -R u=rwX,go=rX "$PREFIX$APP.new"
if [ -d "$PREFIX$APP" ]; then
    rm -rf "$PREFIX$APP.old"
    mv "$PREFIX$APP" "$PREFIX$APP.old"
fi
mv "$PREFIX$APP.new" "$PREFIX$APP"
rm -rf "$PREFIX$APP.old"

say "the venv in $P_VENV"
if [ ! -x "$P_VENV/bin/python" ]; then
    if system; then
        "$PYTHON" -m venv "$P_VENV"
    else
        "$PYTHON" -m venv --without-pip "$P_VENV"
    fi
fi
if system; then
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -r "$APP/requirements.txt" -c "$APP/requirements.lock"
    "$VENV/bin/python" -m compileall -q "$APP" >/dev/null
else
    # A dry run downloads nothing: the venv borrows the packages of $PYTHON (a .pth file lists
    # its site-packages), so the installed tree runs as it would on the Pi.
    site="$("$P_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    "$PYTHON" -c 'import site, sysconfig; print(sysconfig.get_paths()["purelib"]); print(sysconfig.get_paths()["platlib"]); print("\n".join(site.getsitepackages()))' \
        | awk '!seen[$0]++' >"$site/tinbao-dry-run.pth"
    if ! "$P_VENV/bin/python" -c 'import flask, waitress, cryptography, cheroot, sqlite_utils' 2>/dev/null; then
        say "the venv cannot import the runtime packages: $PYTHON has none (TINBAO_PYTHON=.venv/bin/python after the README's first command)"
    fi
fi

# -- the config: made once, then kept ----------------------------------------------------------
mkdir -p "$P_ETC"
if [ -f "$P_CONFIG" ]; then
    say "keeping $P_CONFIG"
else
    say "config $P_CONFIG"
    secret="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    port=/dev/tinbao-modem
    if [ "$uart" = 1 ]; then
        port=/dev/serial0
    fi
    (umask 077 && cat >"$P_CONFIG") <<EOF
# TinBao on this Pi, made by firmware_config/install.sh on $(date +%Y-%m-%d).
# Running install.sh again keeps this file. Every key, its default and what it does:
# $P_APP/firmware_config/gateway.toml and the README's configuration table.
# After a change: sudo systemctl restart tinbao && sudo tinbao doctor

[gateway]
id = "cl"                          # short commune code, used in tip references (CL-0042): set yours
name = "Công an xã"                # shown on the page and at the start of broadcasts
timezone = "Asia/Ho_Chi_Minh"
phone_number = ""                  # the SIM's own number, for the poster

[storage]
path = "$P_DATA/tinbao.db"

[modem]
port = "$port"                     # the udev rule names a USB modem /dev/tinbao-modem
profile = "generic"                # or sim7600-usb, a7670-usb, ec25-usb, huawei-usb
pin = ""                           # the SIM's PIN, if it asks for one
smsc = ""                          # the SMS centre, if the SIM has none (Viettel "+84980200030")

[web]
host = "0.0.0.0"                   # the page on the post's LAN: https://<this Pi>/
port = 443
http_redirect_port = 80            # http://<this Pi>/ redirects to https (and hands out /ca.crt)
tls_cert = "$P_ETC/tls/server.crt"   # made by: sudo tinbao tls init (the installer runs it)
tls_key = "$P_ETC/tls/server.key"
secret_key = "$secret"

[backup]
path = "$P_DATA/backups"
keep = 14
usb_path = ""                      # a USB stick's mount point: each nightly copy goes there too
key_path = "$P_ETC/backup.key"     # seals every backup; its recovery code is on paper in the safe

[district]
url = ""                           # the provincial hub, e.g. https://tinbao.example.gov.vn
token = ""
EOF
fi
chmod 640 "$P_CONFIG"
if system; then
    chown "root:$SERVICE_USER" "$P_CONFIG"
fi
# A config made by an older installer: the keys for sealed backups and HTTPS are added (each
# only when absent; the officer's own values are never changed). The port stays as it was.
"$PYTHON" "$SOURCE/firmware_config/add_config_keys.py" "$P_CONFIG" "$P_ETC"

# -- the file key that seals backups: made once, its recovery code printed once ------------------
tinbao_app() {  # the installed app with the installed config, as root (files are chowned after)
    TINBAO_CONFIG="$P_CONFIG" "$P_VENV/bin/python" "$P_APP/app.py" "$@"
}
if [ -f "$P_ETC/backup.key" ]; then
    say "keeping the backup key $P_ETC/backup.key"
else
    say "the backup key $P_ETC/backup.key (its recovery code follows: print it, keep it in the post's safe)"
    tinbao_app key init --by install.sh
fi

# -- HTTPS on the LAN: the post's CA (kept) and the Pi's certificate (made anew each run) ---------
say "HTTPS certificate in $P_ETC/tls (the CA is kept; phones that trust it keep trusting)"
address_args=()
for address in $(hostname -I 2>/dev/null || true); do
    address_args+=(--address "$address")
done
tinbao_app tls init --dir "$P_ETC/tls" "${address_args[@]}"
if system; then
    chown "$SERVICE_USER:$SERVICE_USER" "$P_ETC/backup.key"
    chown -R "$SERVICE_USER:$SERVICE_USER" "$P_ETC/tls"
fi
chmod 600 "$P_ETC/backup.key"
chmod 700 "$P_ETC/tls"
chmod 600 "$P_ETC/tls"/*

# -- the data: private to the gateway's user -----------------------------------------------------
say "data in $P_DATA (0700)"
mkdir -p "$P_DATA/backups"
chmod 700 "$P_DATA" "$P_DATA/backups"
for file in "$P_DATA"/tinbao.db "$P_DATA"/tinbao.db-wal "$P_DATA"/tinbao.db-shm; do
    if [ -e "$file" ]; then
        chmod 600 "$file"
    fi
done
if system; then
    chown -R "$SERVICE_USER:$SERVICE_USER" "$DATA"
fi

# -- systemd units, with a stop timeout that covers the longest send ------------------------------
say "systemd units in $PREFIX$UNITS"
mkdir -p "$PREFIX$UNITS/tinbao.service.d"
for unit in tinbao.service tinbao-health.service tinbao-health.timer; do
    install -m 644 "$SOURCE/firmware_config/systemd/$unit" "$PREFIX$UNITS/$unit"
done
stop_seconds="$("$PYTHON" - "$P_CONFIG" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as fh:
    modem = tomllib.load(fh).get("modem", {})
send, command = float(modem.get("send_timeout", 35)), float(modem.get("command_timeout", 10))
print(max(90, int(send + command + 45)))
EOF
)"
cat >"$PREFIX$UNITS/tinbao.service.d/stop-timeout.conf" <<EOF
# Written by install.sh from $CONFIG: modem.send_timeout + command_timeout + 45 s for the
# other workers (at least 90). Run install.sh again after changing those timeouts.
[Service]
TimeoutStopSec=$stop_seconds
EOF
chmod 644 "$PREFIX$UNITS/tinbao.service.d/stop-timeout.conf"

# -- udev: the modem's stable name, ModemManager kept off it ------------------------------------
say "udev rules in $PREFIX$RULES"
mkdir -p "$PREFIX$RULES"
install -m 644 "$SOURCE/firmware_config/udev/99-tinbao-modem.rules" "$PREFIX$RULES/99-tinbao-modem.rules"
# A modem the rule does not know (profile "generic"): tinbao.service's ExecStartPre runs
# "app.py modem-probe", which links /dev/tinbao-modem to the first port that answers AT and
# logs the one line that makes the name permanent; that line goes in this file (kept on upgrade).
if [ ! -f "$PREFIX$RULES/98-tinbao-modem-local.rules" ]; then
    install -m 644 "$SOURCE/firmware_config/udev/98-tinbao-modem-local.rules" \
        "$PREFIX$RULES/98-tinbao-modem-local.rules"
fi
if system; then
    udevadm control --reload
    udevadm trigger --subsystem-match=tty --subsystem-match=usb
fi

if [ "$disable_mm" = 1 ]; then
    answer=y
    if [ "$assume_yes" != 1 ] && [ -t 0 ]; then
        read -r -p "Disable ModemManager on this Pi (no other modem is used here)? [y/N] " answer
    fi
    case "$answer" in
        y|Y|yes) if system; then systemctl disable --now ModemManager 2>/dev/null || true; fi
                 say "ModemManager disabled" ;;
        *) say "ModemManager left as it is (the udev rule keeps it off the modem)" ;;
    esac
elif system && systemctl is-active --quiet ModemManager 2>/dev/null; then
    say "ModemManager runs: the udev rule keeps it off the modem (--disable-modemmanager stops it)"
fi

# -- a modem on the UART pins: the serial console must let go of them ----------------------------
if [ "$uart" = 1 ]; then
    say "serial console off, UART on"
    if system && command -v raspi-config >/dev/null 2>&1; then
        raspi-config nonint do_serial_cons 1
        raspi-config nonint do_serial_hw 0
    else
        boot="$PREFIX/boot/firmware"
        [ -f "$boot/cmdline.txt" ] || boot="$PREFIX/boot"
        if [ -f "$boot/cmdline.txt" ]; then
            [ -f "$boot/cmdline.txt.before-tinbao" ] || cp -p "$boot/cmdline.txt" "$boot/cmdline.txt.before-tinbao"
            sed -E -i 's/(^| )console=(serial0|serial1|ttyAMA0|ttyAMA10|ttyS0),[0-9]+//g; s/^ +//' \
                "$boot/cmdline.txt"
            touch "$boot/config.txt"
            if ! grep -q '^enable_uart=1' "$boot/config.txt"; then
                echo "enable_uart=1" >>"$boot/config.txt"
            fi
        else
            echo "install.sh: no cmdline.txt in $PREFIX/boot/firmware or $PREFIX/boot: turn the serial" \
                "console off with sudo raspi-config (Interface Options, Serial Port)" >&2
        fi
        if system; then
            systemctl disable --now serial-getty@ttyS0.service serial-getty@ttyAMA0.service 2>/dev/null || true
        fi
    fi
    say "reboot once for the UART change: sudo reboot"
fi

# -- the "tinbao" command: app.py as the gateway's user, with its config -------------------------
# In a dry run it runs the prefixed tree as whoever calls it (there is no user "tinbao").
run_as="$SERVICE_USER"
if ! system; then
    run_as=""
fi
mkdir -p "$PREFIX$(dirname "$WRAPPER")"
cat >"$PREFIX$WRAPPER" <<EOF
#!/bin/sh
# sudo tinbao doctor | backup FILE | restore FILE | create-user NAME --role admin | key show | tls show
# runs $P_APP/app.py as user ${run_as:-"(the caller)"} with $P_CONFIG (written by install.sh)
cd "$P_DATA" || exit 1
if [ -n "$run_as" ] && [ "\$(id -u)" -eq 0 ]; then
    exec runuser -u "$run_as" -- env TINBAO_CONFIG="$P_CONFIG" "$P_VENV/bin/python" "$P_APP/app.py" "\$@"
fi
exec env TINBAO_CONFIG="$P_CONFIG" "$P_VENV/bin/python" "$P_APP/app.py" "\$@"
EOF
chmod 755 "$PREFIX$WRAPPER"

# -- start ---------------------------------------------------------------------------------------
if system; then
    systemctl daemon-reload
    systemctl enable tinbao.service tinbao-health.timer
    systemctl restart tinbao.service
    systemctl start tinbao-health.timer
fi

say "done. Next: sudo systemctl status tinbao; sudo tinbao create-user NAME --role admin;"
say "edit $P_CONFIG (gateway.id, gateway.name), sudo systemctl restart tinbao; sudo tinbao doctor"
if ! system; then
    say "dry run: try $PREFIX$WRAPPER doctor (it reads $P_CONFIG)"
fi
