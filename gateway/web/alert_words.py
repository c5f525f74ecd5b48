"""The dashboard's alerts in words, outside any request: what the heartbeat takes to the hub.

The hub shows a post's alerts as the post's own officers read them, in Vietnamese and in
English, so the words are the dashboard's (``gateway.web.status.alert_text``), said once per
language. A heartbeat is built in a worker thread (or by ``python app.py export-tips``), not
in a request: ``standalone`` gives a bare Flask app with the page's catalogs to say them in.
No blueprint: the wiring (``gateway.service``), the sync page's USB download and the export
command use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask
from flask_babel import force_locale

from gateway.alerts import Alert
from gateway.config import Config
from gateway.web import i18n

AlertWords = Callable[[Sequence[Alert]], list[dict[str, Any]]]


def words(alerts: Sequence[Alert], config: Config) -> list[dict[str, Any]]:
    """Each alert as ``{"code", "tone", "text", "text_en"}`` (in a Flask app context with Babel)."""
    from gateway.web.status import alert_text

    found = []
    for alert in alerts:
        said = {}
        for language in i18n.LANGUAGES:
            with force_locale(language):
                said[language] = str(alert_text(alert, config.timezone))
        found.append({"code": alert.key, "tone": alert.tone, "text": said["vi"], "text_en": said["en"]})
    return found


def standalone(config: Config) -> AlertWords:
    """``words`` for a thread or a command without the page: a bare app made once, its context
    entered per call (a thread's own)."""
    app = Flask("tinbao-alert-words")
    app.extensions["tinbao"] = {"config": config}
    i18n.install(app, config)
    lock = threading.Lock()

    def say(alerts: Sequence[Alert]) -> list[dict[str, Any]]:
        with lock, app.app_context():
            return words(alerts, config)

    return say
