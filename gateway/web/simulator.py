"""The phone simulator: type an SMS as a villager would, see the gateway's replies.

It only works with the built-in modem emulator (``modem.port = "emulator"``): the SMS goes
into the emulator (``services.simulator.deliver``) and travels the same path as a real one.
With a real modem ``services.simulator`` is None; then sending answers 409, and so does the
conversation view, which would otherwise show real villagers' messages without a login.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for

from gateway.errors import TinBaoError
from gateway.web import current_config, current_services, queries
from gateway.web.filters import label, local_time, tone

logger = logging.getLogger(__name__)

bp = Blueprint("simulator", __name__)

DEFAULT_NUMBER = "0912345678"
MAX_TEXT_CHARS = 1600
THREAD_MESSAGES = 100

NOT_AVAILABLE = (
    "Điện thoại thử chỉ chạy với modem giả lập có sẵn "
    '(đặt modem.port = "emulator" trong cấu hình).'
)

_SEPARATORS = re.compile(r"[\s.\-()]")
_E164 = re.compile(r"\+\d{7,15}")
_SHORT_CODE = re.compile(r"\d{3,8}")
_ALPHANUMERIC = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")


def _normalise(number: str) -> str:
    """Vietnamese numbers in any accepted form as E.164; anything else as typed (trimmed).

    ``0912345678``, ``84912345678``, ``0084912345678``, ``+84 912 345 678`` → ``+84912345678``.
    (``gateway.phone.normalise`` may replace this later.)
    """
    cleaned = _SEPARATORS.sub("", number)
    if re.fullmatch(r"\+84\d{9,10}", cleaned):
        return cleaned
    if re.fullmatch(r"0084\d{9,10}", cleaned):
        return "+" + cleaned[2:]
    if re.fullmatch(r"84\d{9,10}", cleaned):
        return "+" + cleaned
    if re.fullmatch(r"0\d{9,10}", cleaned):
        return "+84" + cleaned[1:]
    if _E164.fullmatch(cleaned):
        return cleaned
    return number.strip()


def _stored_forms(number: str) -> list[str]:
    """Every form a normalised number might have been stored in (E.164 first)."""
    if number.startswith("+84"):
        rest = number[3:]
        return [number, "0" + rest, "84" + rest, "0084" + rest]
    return [number]


def _valid_sender(number: str) -> bool:
    """A sender a phone network could deliver: E.164, a short code or an alphanumeric name."""
    return bool(
        _E164.fullmatch(number) or _SHORT_CODE.fullmatch(number) or _ALPHANUMERIC.fullmatch(number)
    )


def message_view(row: dict[str, Any], tz: Any) -> dict[str, Any]:
    """One chat bubble: direction, full text, time and (for replies) the sending status."""
    view: dict[str, Any] = {
        "direction": row["direction"],
        "id": row["id"],
        "text": row["text"] or "",
        "note": "" if row["text"] else "Tin trống",
        "time": row["at"],
        "time_display": local_time(row["at"], tz),
    }
    if row["direction"] == "in" and row["kind"] in ("binary", "undecodable"):
        view["note"] = "Tin nhị phân" if row["kind"] == "binary" else "Không giải mã được"
    if row["direction"] == "out":
        view.update(
            status=row["status"],
            status_label=label("outbox", row["status"]),
            tone=tone(row["status"]),
            parts=f"{row['parts_sent']}/{row['parts_total']}",
        )
    return view


def _thread(number: str) -> list[dict[str, Any]]:
    db = current_services().db.get()
    rows = queries.conversation(db, _stored_forms(number), THREAD_MESSAGES)
    tz = current_config().timezone
    return [message_view(row, tz) for row in rows]


def panel_context(number: str | None = None, error: str = "") -> dict[str, Any]:
    """Template variables of the simulator panel (used here and on the dashboard)."""
    return {
        "sim_enabled": current_services().simulator is not None,
        "sim_number": number or DEFAULT_NUMBER,
        "sim_unavailable": NOT_AVAILABLE,
        "sim_error": error,
        "sim_max_chars": MAX_TEXT_CHARS,
    }


@bp.get("/simulator")
def page() -> str:
    number = request.args.get("number", "").strip() or DEFAULT_NUMBER
    messages: list[dict[str, Any]] = []
    normalised = _normalise(number)
    if current_services().simulator is not None and _valid_sender(normalised):
        messages = _thread(normalised)
    return render_template(
        "simulator/page.html", messages=messages, **panel_context(number)
    )


def _refuse(message: str, code: int, *, as_json: bool, number: str = "", text: str = ""):
    if as_json:
        return jsonify(error=message), code
    context = panel_context(number, message)
    return render_template("simulator/page.html", messages=[], sim_text=text, **context), code


@bp.post("/simulator/send")
def send() -> Any:
    """Deliver one SMS into the emulator. JSON in → JSON out; a plain form → back to the page."""
    as_json = request.is_json
    payload = request.get_json(silent=True) if as_json else request.form
    if not hasattr(payload, "get"):
        return _refuse("Dữ liệu gửi lên không đúng dạng.", 400, as_json=as_json)
    number, text = payload.get("number"), payload.get("text")
    text = "" if text is None else text
    if not isinstance(number, str) or not isinstance(text, str):
        return _refuse("Số điện thoại và nội dung phải là chữ.", 400, as_json=as_json)
    text = text.replace("\r\n", "\n")
    simulator = current_services().simulator
    if simulator is None:
        return _refuse(NOT_AVAILABLE, 409, as_json=as_json, number=number, text=text)
    sender = _normalise(number)
    if not _valid_sender(sender):
        return _refuse(
            "Số điện thoại không hợp lệ (ví dụ 0912345678).", 400,
            as_json=as_json, number=number, text=text,
        )
    if len(text) > MAX_TEXT_CHARS:
        return _refuse(
            f"Tin nhắn dài quá {MAX_TEXT_CHARS} ký tự.", 400,
            as_json=as_json, number=number, text=text,
        )
    try:
        simulator.deliver(sender, text)
    except ValueError as exc:  # the emulator could not encode this sender or text
        return _refuse(
            f"Modem giả lập không nhận tin: {exc}", 400, as_json=as_json, number=number, text=text
        )
    except TinBaoError as exc:
        logger.warning("simulator could not deliver: %s", exc)
        return _refuse(
            f"Modem giả lập không nhận tin: {exc}", 503, as_json=as_json, number=number, text=text
        )
    thread_url = url_for("simulator.thread", number=sender)
    if as_json:
        return jsonify(ok=True, number=sender, thread_url=thread_url)
    return redirect(url_for("simulator.page", number=sender), code=303)


@bp.get("/simulator/thread")
def thread() -> Response | tuple[Response, int]:
    """One number's conversation, oldest first, for the simulator's chat bubbles."""
    if current_services().simulator is None:
        return jsonify(error=NOT_AVAILABLE), 409
    number = _normalise(request.args.get("number", ""))
    if not _valid_sender(number):
        return jsonify(error="Số điện thoại không hợp lệ (ví dụ 0912345678)."), 400
    response = jsonify(number=number, messages=_thread(number))
    response.headers["Cache-Control"] = "no-store"
    return response
