"""The hub's machine door: ``POST /api/v1/tips``, ``GET /api/v1/changes``, ``GET /healthz``.

Each gateway has its own token (``hub.gateways``: id → token). A request without a token, or
with one the hub does not know, is answered 401 and written to the door's log; tokens are
compared in constant time. A gateway may only push tips whose uid starts with its own id.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from gateway import __version__
from gateway.hub import store

log = logging.getLogger(__name__)

bp = Blueprint("hub_api", __name__)

CHANGES_LIMIT = 1000


def hub() -> dict[str, Any]:
    return current_app.extensions["tinbao_hub"]


def _remote() -> str:
    return request.remote_addr or ""


def authenticated_gateway() -> str | None:
    """The gateway id whose token is in ``Authorization: Bearer``, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    token = token.strip().encode("utf-8")
    found = None
    for gateway_id, expected in hub()["config"].hub.gateways.items():
        # Compare against every token (no early exit), each in constant time.
        if hmac.compare_digest(token, expected.encode("utf-8")) and found is None:
            found = gateway_id
    return found


def _refuse(reason: str) -> tuple[Response, int]:
    log.warning("hub refused a request from %s to %s: %s", _remote(), request.path, reason)
    store.log_event(hub()["dbs"].get(), "refused", hub()["clock"].now(), remote=_remote(),
                    detail=f"{request.method} {request.path}: {reason}")
    response = jsonify(error="unauthorized: a valid gateway token is required")
    response.headers["WWW-Authenticate"] = 'Bearer realm="tinbao-hub"'
    return response, 401


@bp.post("/api/v1/tips")
def receive_tips() -> Any:
    gateway_id = authenticated_gateway()
    if gateway_id is None:
        has_header = bool(request.headers.get("Authorization"))
        return _refuse("sai mã (token)" if has_header else "thiếu mã (token)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("tips"), list):
        return jsonify(error="the body must be JSON: {\"gateway_id\": .., \"tips\": [..]}"), 400
    if body.get("gateway_id") != gateway_id:
        return _refuse(f"mã của {gateway_id} dùng cho gateway_id {body.get('gateway_id')!r}")
    config = hub()["config"]
    if len(body["tips"]) > config.hub.max_batch:
        return jsonify(error=f"at most {config.hub.max_batch} tips per request"), 413
    db = hub()["dbs"].get()
    now = hub()["clock"].now()
    result = store.store_batch(db, gateway_id, body["tips"], source="online", now=now,
                               gateway_name=body.get("gateway_name"))
    if result.new or result.rejected:
        store.log_event(db, "batch", now, gateway_id=gateway_id, remote=_remote(),
                        detail=f"{result.new} tin mới, {len(result.accepted) - result.new} tin đã có, "
                               f"{len(result.rejected)} tin bị từ chối")
    return jsonify(accepted=result.accepted, rejected=result.rejected)


@bp.get("/api/v1/changes")
def changes() -> Any:
    gateway_id = authenticated_gateway()
    if gateway_id is None:
        return _refuse("sai hoặc thiếu mã (token)")
    try:
        since = max(0, int(request.args.get("since", "0")))
        limit = min(CHANGES_LIMIT, max(1, int(request.args.get("limit", "500"))))
    except ValueError:
        return jsonify(error="since and limit must be whole numbers"), 400
    found, last_seq = store.changes_since(hub()["dbs"].get(), gateway_id, since, limit)
    return jsonify(changes=found, last_seq=last_seq)


@bp.get("/healthz")
def healthz() -> Any:
    """Cheap and impersonal: gateways call it before sending a batch."""
    try:
        hub()["dbs"].get().execute("SELECT 1 FROM hub_tips LIMIT 1").fetchall()
        database = "ok"
    except Exception:
        log.exception("hub healthz could not read the database")
        database = "error"
    body = {"status": "ok" if database == "ok" else "degraded", "role": "hub", "version": __version__,
            "database": database}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if database == "ok" else 503
