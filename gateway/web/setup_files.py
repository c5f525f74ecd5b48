"""The setup page's card on files and HTTPS: the backup key's recovery code (once) and the CA.

- **Recovery code, once.** The file key that seals backups (``gateway.filekeys``) is rebuilt
  from its recovery code, which the post keeps on paper in its safe. Whoever made the key at
  a terminal saw it then (the installer, ``key init``); a key made without a terminal (the
  gateway makes one beside the database for a demo) has its code shown here, to one admin,
  once: the showing is written to the audit log and kept in ``state``, and the button is gone
  afterwards.
- **The post's CA.** With HTTPS on (``gateway.tls``), officers' phones and PCs trust the
  post's own certificate authority once: ``/ca.crt`` hands it out without a login (it is
  public; the plain-http port serves it too, ``gateway.web.serving``) and the card shows its
  SHA-256 fingerprint to compare, with how to trust it on Android and Windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from gateway import filekeys, tls
from gateway.web.auth import public, record_request, role_required
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services

bp = Blueprint("setup_files", __name__)


@dataclass(frozen=True)
class FilesCard:
    """What the card shows."""

    key_path: str
    key_id: str  # "" when the key cannot be used
    key_problem: str
    code_shown: str  # "" while the code may still be shown here; else who/when
    tls_on: bool
    ca_fingerprint: str  # "" when there is no CA to hand out
    ca_problem: str


def register(app: Flask) -> None:
    register_area(app, bp)
    app.add_template_global(files_card)


def files_card() -> FilesCard:
    config = current_config()
    db = current_services().db.get()
    path = filekeys.key_path(config)
    key_id = problem = shown = ""
    try:
        key = filekeys.load(path)
    except filekeys.KeyProblem as exc:
        problem = str(exc)
    else:
        key_id = key.key_id
        record = filekeys.shown_on_page(db, key)
        if key.recovery_shown:
            shown = key.recovery_shown
        elif record is not None:
            shown = f"{record.get('at', '')} by {record.get('by', '')}"
    fingerprint = ca_problem = ""
    ca = tls.ca_cert_path(config)
    if ca is not None:
        try:
            fingerprint = tls.fingerprint(ca)
        except (OSError, ValueError, tls.TlsError) as exc:
            ca_problem = str(exc)
    return FilesCard(str(path), key_id, problem, shown, bool(config.web.tls_cert), fingerprint, ca_problem)


@bp.post("/admin/setup/recovery-code")
@role_required("admin")
def recovery_code() -> Any:
    """Show the backup key's recovery code to this admin, once (audited)."""
    services = current_services()
    db = services.db.get()
    try:
        key = filekeys.current(current_config())
    except filekeys.KeyProblem as exc:
        flash(_("Không đọc được khóa sao lưu: %(reason)s", reason=str(exc)), "error")
        return redirect(url_for("setup.page"), code=303)
    if not filekeys.record_shown_on_page(db, key, current_user.username, services.clock.now()):
        flash(_("Mã khôi phục đã được hiện một lần rồi, nên không hiện lại."), "error")
        return redirect(url_for("setup.page"), code=303)
    record_request("backup_key.recovery_code_shown", key.key_id)
    groups = filekeys.recovery_code(key.key).split()
    return render_template("admin/recovery_code.html", groups=groups, key_id=key.key_id,
                           key_path=str(key.path)), 200, {"Cache-Control": "no-store"}


@bp.get("/ca.crt")
@public
def ca_certificate() -> Any:
    """The post's CA certificate (public: a phone needs it before it trusts the page)."""
    ca = tls.ca_cert_path(current_config())
    if ca is None or not ca.is_file():
        abort(404)
    return send_file(ca, mimetype="application/x-x509-ca-cert", as_attachment=True,
                     download_name="tinbao-ca.crt", max_age=0)
