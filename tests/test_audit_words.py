"""The audit log reads as sentences: no JSON, no status codes, no ``outbox 8, 1 SMS, ucs2``,
whether an entry was written as an object (now) or as the short texts of older entries."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from gateway.accounts import audit

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)

# (action, target, detail as stored, what the Vietnamese page says, what the English page says)
ENTRIES = [
    ("tip.status", "CL-0001", {"from": "new", "to": "handling"}, "Từ «Mới» sang «Đang xử lý».",
     "From «New» to «Being handled»."),
    ("tip.status", "CL-0001", "handling -> closed", "Từ «Đang xử lý» sang «Đã đóng».",
     "From «Being handled» to «Closed»."),
    ("tip.reply", "CL-0001", "outbox 8, 1 SMS, ucs2", "Một tin nhắn có dấu vào hàng gửi.",
     "One SMS with diacritics queued to send."),
    ("tip.reply", "CL-0002", {"outbox": 9, "parts": 2, "encoding": "gsm7"}, "2 tin nhắn không dấu vào hàng gửi.",
     "2 SMS without diacritics queued to send."),
    ("tip.assign", "CL-0001", "-", "Bỏ giao việc.", "Unassigned."),
    ("tip.assign", "CL-0001", {"to": "an"}, "Giao cho an.", "Assigned to an."),
    ("tip.note", "CL-0001", "note 3", "Ghi chú số 3 (chỉ cán bộ thấy).", "Note no. 3 (officers only)."),
    ("menus.setup", "#2", {"groups_added": ["Na Hối"], "villages": 4},
     "4 thôn có số công an phụ trách. Thêm vào nhóm nhận cảnh báo: Na Hối.",
     "4 villages with their officer's number. Added to the warning groups: Na Hối."),
    ("menus.setup", "#3", {"groups_added": [], "villages": 1}, "Một thôn có số công an phụ trách.",
     "1 village with its officer's number."),
    ("user.role", "lan", {"from": "officer", "to": "admin"}, "Từ Cán bộ thành Quản trị viên.",
     "From Officer to Administrator."),
    ("sync.export", "tinbao.json", {"tips": 1}, "Một tin báo trong tệp.", "1 tip in the file."),
    ("sync.retry", "all", {"rows": 12}, "12 tin được gửi lại ngay.", "12 items sent again now."),
    ("something.new", "x", {"count": 2, "names": ["a", "b"], "ok": True}, "count: 2; names: a, b; ok: có",
     "count: 2; names: a, b; ok: yes"),
]


@pytest.fixture
def admin(app, db, logged_in):
    for action, target, detail, _vi, _en in ENTRIES:
        audit.record(db, "an", action, target, detail, now=AT)
    return logged_in("admin")


def details(page: str) -> list[str]:
    cells = re.findall(r'data-label="(?:Chi tiết|Detail)" class="col-text"><span class="sms-text">(.*?)</span>',
                       page, re.S)
    return [re.sub(r"\s+", " ", cell.replace("&#34;", '"').replace("&#39;", "'")).strip() for cell in cells]


@pytest.mark.parametrize("lang, column", [("vi", 3), ("en", 4)])
def test_every_detail_is_a_sentence_in_the_readers_language(admin, lang, column):
    page = admin.get(f"/admin/audit?lang={lang}").get_data(as_text=True)
    shown = details(page)
    for entry in ENTRIES:
        assert entry[column] in shown, (entry, shown)
    for text in shown:
        assert "{" not in text and "->" not in text and '"' not in text, text
        assert not re.search(r"\b(ucs2|gsm7|outbox \d|handling|new)\b", text), text
