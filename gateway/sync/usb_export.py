"""``python app.py export-tips FILE``: the signed USB file (``gateway.sync.sneakernet``) with
the post's heartbeat (``gateway.sync.heartbeat``), its alerts in words.

Apart from ``sneakernet`` because the words come from the page's catalogs
(``gateway.web.alert_words``), and the page imports ``sneakernet`` for its own download.
"""

from __future__ import annotations

import sys
from typing import Any

from gateway import __version__
from gateway.broadcasts.subscriptions import KEYWORDS
from gateway.clock import published_now
from gateway.config import Config
from gateway.database import prepare_gateway
from gateway.storage import lock_holder, open_db
from gateway.sync import heartbeat
from gateway.sync.sneakernet import SneakernetError, export_tips


def export_command(config: Config, args: Any) -> int:
    """0 when written, 1 with one clear line if not."""
    from gateway.web.alert_words import standalone

    prepare_gateway(config.storage_path)
    db = open_db(config.storage_path)
    now = published_now(db)  # the gateway's corrected time
    try:
        beat = heartbeat.build(heartbeat.Inputs(db, config, now, version=__version__, reserved=KEYWORDS,
                                                words=standalone(config),
                                                gateway_running=lock_holder(config.storage_path) is not None))
        count = export_tips(db, config, args.file, now, beat)
    except SneakernetError as exc:
        print(f"tinbao: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    print(f"Đã ghi {count} tin báo chưa đồng bộ vào {args.file}. "
          f"Mang tệp này lên {config.hub.level}: python app.py import-tips {args.file}")
    return 0
