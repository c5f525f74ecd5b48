"""The phone simulator: type an SMS as a villager would, see the gateway's replies.

With the built-in modem emulator (``modem.port = "emulator"``) the SMS goes into the
emulator (``services.simulator.deliver``) and travels the same path as a real one; officers
and admins may use it. Its thread shows only what this browser session sent from that number
and the replies to it (``SESSION_KEY``: the newest inbox and outbox ids when the session
first sent from it), never the number's earlier conversation: typing a tipster's number is no
way to read their tips. Each send is audited (``simulator.send``, the number masked), and so
is a page asked for a number this session did not send from (``simulator.refused``). With a
real modem ``services.simulator`` is None: sending through it answers 409 (and so does its
conversation view, which would show real villagers' messages).
Admins then get the dry run instead (``gateway.simulation``): the real router on a sandbox
database, "không gửi qua mạng", nothing sent, nothing in the real tables; others get 403.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from gateway import conversations, phone
from gateway.errors import TinBaoError
from gateway.web.auth import record_request, role_required
from gateway.web.filters import label, local_time, mask, tone
from gateway.web.phone_panel import (
    BAD_NUMBER,
    DEFAULT_NUMBER,
    DRY_RUN_STATUS,
    MAX_TEXT_CHARS,
    NOT_AVAILABLE,
    mode,
    panel_context,
)
from gateway.web.services import Sandbox, current_config, current_services

logger = logging.getLogger(__name__)

bp = Blueprint("simulator", __name__)

THREAD_MESSAGES = 100
#: The session's own simulated numbers: number → [inbox id, outbox id] before its first send.
SESSION_KEY = "sim_threads"
SESSION_NUMBERS = 10  # the newest kept; an older one shows nothing more

_ALPHANUMERIC = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")  # what a GSM sender field holds
_SENDER_KINDS = frozenset({"mobile", "landline", "international", "short_code", "emergency"})


def _normalise(number: str) -> str:
    """A typed number in the form the router stores it (``gateway.phone.normalise``).

    ``0912345678``, ``84912345678``, ``0084912345678``, ``+84 912 345 678`` → ``+84912345678``;
    short codes and names stay as typed (trimmed); anything unparseable too, and is refused.
    """
    return phone.normalise(number).value


def _stored_forms(number: str) -> list[str]:
    """Every form a normalised number might have been stored in (E.164 first)."""
    if number.startswith("+84"):
        rest = number[3:]
        return [number, "0" + rest, "84" + rest, "0084" + rest]
    return [number]


def _valid_sender(number: str) -> bool:
    """A sender a phone network could deliver: a number ``gateway.phone`` accepts, a short
    code or an alphanumeric name that fits a GSM sender field."""
    kind = phone.normalise(number).kind
    return kind in _SENDER_KINDS or (kind == "alphanumeric" and bool(_ALPHANUMERIC.fullmatch(number)))


def message_view(row: dict[str, Any], tz: Any) -> dict[str, Any]:
    """One chat bubble: direction, full text, time and (for replies) the sending status."""
    view: dict[str, Any] = {
        "direction": row["direction"],
        "id": row["id"],
        "text": row["text"] or "",
        "note": "" if row["text"] else _("Tin trống"),
        "time": row["at"],
        "time_display": local_time(row["at"], tz),
    }
    if row["direction"] == "in" and row["kind"] in ("binary", "undecodable"):
        view["note"] = _("Tin nhị phân") if row["kind"] == "binary" else _("Không giải mã được")
    if row["direction"] == "out":
        view.update(
            status=row["status"],
            status_label=label("outbox", row["status"]),
            tone=tone(row["status"]),
            parts=f"{row['parts_sent']}/{row['parts_total']}",
        )
    return view


def _session_mark(number: str) -> tuple[int, int] | None:
    """Where this session's own messages from ``number`` begin, or None (it never sent from it)."""
    mark = (session.get(SESSION_KEY) or {}).get(number)
    if isinstance(mark, list) and len(mark) == 2 and all(isinstance(i, int) for i in mark):
        return mark[0], mark[1]
    return None


def _remember(number: str) -> None:
    """This session sends from ``number``: from now on its thread shows what follows."""
    threads = dict(session.get(SESSION_KEY) or {})
    if number in threads:
        return
    threads[number] = list(conversations.latest_ids(current_services().db.get()))
    while len(threads) > SESSION_NUMBERS:
        threads.pop(next(iter(threads)))
    session[SESSION_KEY] = threads


def _thread(number: str) -> list[dict[str, Any]]:
    """What this session sent from ``number`` and the replies, oldest first (nothing earlier)."""
    mark = _session_mark(number)
    if mark is None:
        return []
    db = current_services().db.get()
    rows = conversations.conversation(db, _stored_forms(number), THREAD_MESSAGES, after=mark)
    tz = current_config().timezone
    return [message_view(row, tz) for row in rows]


def dry_run() -> Sandbox:
    """The gateway's sandbox (``services.dry_run``): the router with the menus in use, sending nothing."""
    return current_services().dry_run


@bp.get("/simulator")
def page() -> str:
    number = request.args.get("number", "").strip() or DEFAULT_NUMBER
    messages: list[dict[str, Any]] = []
    normalised = _normalise(number)
    sim_mode = mode()
    if sim_mode == "emulator" and _valid_sender(normalised):
        messages = _thread(normalised)
        if request.args.get("number") and _session_mark(normalised) is None:
            record_request("simulator.refused", mask(normalised))
    elif sim_mode == "dry-run" and _valid_sender(normalised):
        messages = _dry_thread(normalised)
    return render_template(
        "simulator/page.html", messages=messages, **panel_context(number)
    )


def _refuse(message: str, code: int, *, as_json: bool, number: str = "", text: str = ""):
    if as_json:
        return jsonify(error=message), code
    context = panel_context(number, message)
    return render_template("simulator/page.html", messages=[], sim_text=text, **context), code


class _Refused(Exception):
    """A request the simulator answers with an error (``response`` is what to return)."""

    def __init__(self, response: Any) -> None:
        super().__init__("refused")
        self.response = response


def _typed_number(as_json: bool) -> str:
    payload = request.get_json(silent=True) if as_json else request.form
    typed = payload.get("number") if hasattr(payload, "get") else ""
    return typed if isinstance(typed, str) else ""


def _read_message(as_json: bool) -> tuple[str, str, str]:
    """(number as typed, normalised sender, text) from the request; _Refused if unusable."""
    payload = request.get_json(silent=True) if as_json else request.form
    if not hasattr(payload, "get"):
        raise _Refused(_refuse(_("Dữ liệu gửi lên không đúng dạng."), 400, as_json=as_json))
    number, text = payload.get("number"), payload.get("text")
    text = "" if text is None else text
    if not isinstance(number, str) or not isinstance(text, str):
        raise _Refused(_refuse(_("Số điện thoại và nội dung phải là chữ."), 400, as_json=as_json))
    text = text.replace("\r\n", "\n")
    sender = _normalise(number)
    if not _valid_sender(sender):
        raise _Refused(_refuse(
            str(BAD_NUMBER), 400,
            as_json=as_json, number=number, text=text,
        ))
    if len(text) > MAX_TEXT_CHARS:
        raise _Refused(_refuse(
            _("Tin nhắn dài quá %(limit)d ký tự.", limit=MAX_TEXT_CHARS), 400,
            as_json=as_json, number=number, text=text,
        ))
    return number, sender, text


@bp.post("/simulator/send")
@role_required("officer")
def send() -> Any:
    """Deliver one SMS into the emulator. JSON in → JSON out; a plain form → back to the page."""
    as_json = request.is_json
    simulator = current_services().simulator
    if simulator is None:
        return _refuse(str(NOT_AVAILABLE), 409, as_json=as_json, number=_typed_number(as_json))
    try:
        number, sender, text = _read_message(as_json)
    except _Refused as refused:
        return refused.response
    _remember(sender)
    try:
        simulator.deliver(sender, text)
        record_request("simulator.send", mask(sender))
    except ValueError as exc:  # the emulator could not encode this sender or text
        return _refuse(
            _("Modem giả lập không nhận tin: %(error)s", error=exc), 400,
            as_json=as_json, number=number, text=text,
        )
    except TinBaoError as exc:
        logger.warning("simulator could not deliver: %s", exc)
        return _refuse(
            _("Modem giả lập không nhận tin: %(error)s", error=exc), 503,
            as_json=as_json, number=number, text=text,
        )
    thread_url = url_for("simulator.thread", number=sender)
    if as_json:
        return jsonify(ok=True, number=sender, thread_url=thread_url)
    return redirect(url_for("simulator.page", number=sender), code=303)


@bp.get("/simulator/thread")
@role_required("officer")
def thread() -> Response | tuple[Response, int]:
    """What this session sent from one number and the replies, oldest first (the chat bubbles)."""
    if current_services().simulator is None:
        return jsonify(error=str(NOT_AVAILABLE)), 409
    number = _normalise(request.args.get("number", ""))
    if not _valid_sender(number):
        return jsonify(error=str(BAD_NUMBER)), 400
    response = jsonify(number=number, messages=_thread(number))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- the dry run (real modem: admins only, nothing sent) ---------------------------------------


def _dry_thread(number: str) -> list[dict[str, Any]]:
    tz = current_config().timezone
    messages = [message_view(row, tz) for row in dry_run().conversation(number)]
    for message in messages:
        if message["direction"] == "out":
            message.update(status_label=str(DRY_RUN_STATUS), tone="plain")
    return messages


@bp.post("/simulator/dry-run/send")
@role_required("admin")
def dry_send() -> Any:
    """Route one SMS through the real router on the sandbox; answer the replies it would send."""
    as_json = request.is_json
    try:
        _number, sender, text = _read_message(as_json)
    except _Refused as refused:
        return refused.response
    result = dry_run().send(sender, text, current_services().clock.now())
    if not as_json:
        return redirect(url_for("simulator.page", number=result.number), code=303)
    return jsonify(
        ok=True,
        dry_run=True,
        number=result.number,
        handler=result.handler,
        replies=[
            {"text": r.text, "kind": r.kind, "parts": r.parts, "encoding": r.encoding}
            for r in result.replies
        ],
        thread_url=url_for("simulator.dry_thread", number=result.number),
    )


@bp.get("/simulator/dry-run/thread")
@role_required("admin")
def dry_thread() -> Any:
    """The sandbox conversation of one number (never the real one)."""
    number = _normalise(request.args.get("number", ""))
    if not _valid_sender(number):
        return jsonify(error=str(BAD_NUMBER)), 400
    response = jsonify(number=number, dry_run=True, messages=_dry_thread(number))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/simulator/dry-run/reset")
@role_required("admin")
def dry_reset() -> Any:
    """Start the sandbox conversation of one number again (its menu state too)."""
    as_json = request.is_json
    number = _normalise(_typed_number(as_json))
    if not _valid_sender(number):
        return _refuse(str(BAD_NUMBER), 400, as_json=as_json)
    removed = dry_run().forget(number)
    if as_json:
        return jsonify(ok=True, number=number, removed=removed)
    return redirect(url_for("simulator.page", number=number), code=303)
