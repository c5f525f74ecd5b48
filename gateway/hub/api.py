"""The hub's machine door: ``POST /api/v1/tips``, ``POST /api/v1/status``,
``GET /api/v1/changes``, ``POST /api/v1/heartbeat``, the province's ``GET /api/v1/warnings`` and
``GET /api/v1/campaigns``, ``GET /healthz``, ``GET /metrics``.

Each gateway has its own token (``hub.gateways``: id → token). A request without a token, or
with one the hub does not know, is answered 401 and counted per address (``hub_refusals``:
one row per address, so a flood cannot push real events out); tokens are compared in
constant time. A gateway may only push tips whose uid starts with its own id and whose
reference carries it (``CL-0042`` from ``cl``), and a name it sends is never believed. Every item is
checked on its own (``store._check``) and a bad one is listed in ``rejected`` with a reason;
a bad request as a whole is a 4xx with a JSON ``error``, never a 500.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from gateway import __version__
from gateway.hub import campaigns, fleet, metrics, store, warnings
from gateway.web.auth import public
from gateway.web.services import current_config, frame_services

log = logging.getLogger(__name__)

bp = Blueprint("hub_api", __name__)

CHANGES_LIMIT = 1000
PROVINCE_LIMIT = 500
SEQ_MAX = 2**63 - 1  # SQLite's largest integer


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
    for gateway_id, expected in current_config().hub.gateways.items():
        # Compare against every token (no early exit), each in constant time.
        if hmac.compare_digest(token, expected.encode("utf-8")) and found is None:
            found = gateway_id
    return found


def _refuse(reason: str) -> tuple[Response, int]:
    count = store.note_refusal(frame_services().db.get(), _remote(), frame_services().clock.now(),
                               f"{request.method} {request.path}: {reason}")
    if count == 1 or count % 1000 == 0:  # the log says it once per address, then every 1000th
        log.warning("hub refused a request from %s to %s: %s (%d so far)", _remote(), request.path,
                    store.clean_text(reason), count)
    response = jsonify(error="unauthorized: a valid gateway token is required")
    response.headers["WWW-Authenticate"] = 'Bearer realm="tinbao-hub"'
    return response, 401


def _body(key: str) -> tuple[str | None, dict[str, Any] | None, tuple[Response, int] | None]:
    """The gateway's id and the JSON body with a list under ``key``, or the answer refusing them."""
    gateway_id = authenticated_gateway()
    if gateway_id is None:
        has_header = bool(request.headers.get("Authorization"))
        return None, None, _refuse("sai mã (token)" if has_header else "thiếu mã (token)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        return None, None, (jsonify(error=f"the body must be JSON: {{\"gateway_id\": .., \"{key}\": [..]}}"), 400)
    if body.get("gateway_id") != gateway_id:
        claimed = body.get("gateway_id")
        shown = store.clean_text(claimed[:32]) if isinstance(claimed, str) else claimed
        return None, None, _refuse(f"mã của {gateway_id} dùng cho gateway_id {shown!r}")
    config = current_config()
    if len(body[key]) > config.hub.max_batch:
        return None, None, (jsonify(error=f"at most {config.hub.max_batch} items per request"), 413)
    return gateway_id, body, None


@bp.post("/api/v1/tips")
@public
def receive_tips() -> Any:
    gateway_id, body, refused = _body("tips")
    if refused is not None:
        return refused
    assert gateway_id is not None and body is not None
    db = frame_services().db.get()
    now = frame_services().clock.now()
    # A "gateway_name" in the body is ignored: the hub names a gateway from its own config.
    result = store.store_batch(db, gateway_id, body["tips"], source="online", now=now)
    if result.new or result.rejected:
        store.log_event(db, "batch", now, gateway_id=gateway_id, remote=_remote(),
                        detail=f"{result.new} tin mới, {len(result.accepted) - result.new} tin đã có, "
                               f"{len(result.rejected)} tin bị từ chối")
    return jsonify(accepted=result.accepted, rejected=result.rejected)


@bp.post("/api/v1/status")
@public
def receive_statuses() -> Any:
    """Status changes made at the commune: ``{"gateway_id", "changes": [{"uid", "status",
    "changed_at", "by"}]}``, answered like a batch of tips (``accepted``, ``rejected``)."""
    gateway_id, body, refused = _body("changes")
    if refused is not None:
        return refused
    assert gateway_id is not None and body is not None
    db = frame_services().db.get()
    now = frame_services().clock.now()
    result = store.store_statuses(db, gateway_id, body["changes"], now=now)
    if result.accepted:
        store.log_event(db, "status", now, gateway_id=gateway_id, remote=_remote(),
                        detail=f"{len(result.accepted)} trạng thái từ xã")
    return jsonify(accepted=result.accepted, rejected=result.rejected)


def _whole_number(name: str, default: int, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if low <= value <= high else None


@bp.get("/api/v1/changes")
@public
def changes() -> Any:
    """The hub's decisions for this gateway since ``since``; ``hub`` names who made them."""
    gateway_id = authenticated_gateway()
    if gateway_id is None:
        return _refuse("sai hoặc thiếu mã (token)")
    since = _whole_number("since", 0, 0, SEQ_MAX)
    limit = _whole_number("limit", 500, 1, SEQ_MAX)
    if since is None or limit is None:
        return jsonify(error=f"since and limit must be whole numbers from 0 to {SEQ_MAX}"), 400
    found, last_seq = store.changes_since(frame_services().db.get(), gateway_id, since, min(limit, CHANGES_LIMIT))
    return jsonify(changes=found, last_seq=last_seq, hub=current_config().hub.display_name)


def _province_pull(key: str, read) -> Any:
    """A gateway's pull of the province's warnings or campaigns since ``since`` (its token)."""
    gateway_id = authenticated_gateway()
    if gateway_id is None:
        return _refuse("sai hoặc thiếu mã (token)")
    since = _whole_number("since", 0, 0, SEQ_MAX)
    limit = _whole_number("limit", 200, 1, SEQ_MAX)
    if since is None or limit is None:
        return jsonify(error=f"since and limit must be whole numbers from 0 to {SEQ_MAX}"), 400
    found, last_seq = read(frame_services().db.get(), gateway_id, since, min(limit, PROVINCE_LIMIT))
    return jsonify({key: found, "last_seq": last_seq, "hub": current_config().hub.display_name})


@bp.get("/api/v1/warnings")
@public
def province_warnings() -> Any:
    """The province's warnings written or changed since ``since`` (the same for every gateway)."""
    return _province_pull("warnings", lambda db, gateway_id, since, limit: warnings.since(db, since, limit))


@bp.get("/api/v1/campaigns")
@public
def province_campaigns() -> Any:
    """The campaigns addressed to this gateway, scheduled or changed since ``since``."""
    return _province_pull("campaigns", campaigns.for_gateway_since)


@bp.post("/api/v1/heartbeat")
@public
def receive_heartbeat() -> Any:
    """A gateway's state (``{"gateway_id", "at", "state"}``): the newest is kept whole, every
    beat counts in its hour (``gateway.hub.fleet``). Answers ``{"newest": bool}``."""
    gateway_id = authenticated_gateway()
    if gateway_id is None:
        has_header = bool(request.headers.get("Authorization"))
        return _refuse("sai mã (token)" if has_header else "thiếu mã (token)")
    body = request.get_json(silent=True)
    if isinstance(body, dict) and body.get("gateway_id") != gateway_id:
        claimed = body.get("gateway_id")
        shown = store.clean_text(claimed[:32]) if isinstance(claimed, str) else claimed
        return _refuse(f"mã của {gateway_id} dùng cho gateway_id {shown!r}")
    try:
        newest = fleet.record(frame_services().db.get(), gateway_id, body, source="online",
                              now=frame_services().clock.now())
    except fleet.BadHeartbeat as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(newest=newest)


@bp.get("/metrics")
@public
def prometheus_metrics() -> Any:
    """Prometheus text (``gateway.hub.metrics``) behind ``hub.metrics_token``; 404 when no token is set."""
    return metrics.answer(current_config(), frame_services().db, frame_services().clock.now(),
                          request.headers.get("Authorization", ""))


@bp.get("/healthz")
@public
def healthz() -> Any:
    """Cheap and impersonal: gateways call it before sending a batch; monitoring reads the
    count of posts in each state (``gateway.hub.fleet``)."""
    gateways: dict[str, int] | None = None
    try:
        db = frame_services().db.get()
        db.execute("SELECT 1 FROM hub_tips LIMIT 1").fetchall()
        config = current_config()
        gateways = fleet.counts(fleet.posts(db, config.hub.gateways, config.hub.names, frame_services().clock.now(),
                                            config.hub.silent_minutes))
        database = "ok"
    except Exception:
        log.exception("hub healthz could not read the database")
        database = "error"
    body = {"status": "ok" if database == "ok" else "degraded", "role": "hub", "version": __version__,
            "database": database, "gateways": gateways}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if database == "ok" else 503
