"""The English catalog is complete: ``python -m gateway.web.i18n check`` passes, and fails when
a marked string has no entry or an empty one; every audit action has words in both languages."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from gateway.accounts import audit
from gateway.web import i18n

ROOT = Path(__file__).resolve().parent.parent


def test_the_check_passes_on_the_tree():
    done = subprocess.run([sys.executable, "-m", "gateway.web.i18n", "check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 without an entry, 0 untranslated, 0 broken" in done.stderr


def test_the_check_fails_on_a_missing_or_empty_translation(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "translations"
    shutil.copytree(i18n.TRANSLATIONS, copy)
    po = copy / "en" / "LC_MESSAGES" / "messages.po"
    text = po.read_text(encoding="utf-8")
    monkeypatch.setattr(i18n, "TRANSLATIONS", copy)

    gone = text.replace('msgid "Áp dụng cho"\nmsgstr "Applies to"\n', "")
    assert gone != text
    po.write_text(gone, encoding="utf-8")
    assert i18n.main(["check"]) == 1
    assert "no entry: Áp dụng cho" in capsys.readouterr().out

    po.write_text(text.replace('msgid "Áp dụng cho"\nmsgstr "Applies to"\n', 'msgid "Áp dụng cho"\nmsgstr ""\n'),
                  encoding="utf-8")
    assert i18n.main(["check"]) == 1
    assert "untranslated: Áp dụng cho" in capsys.readouterr().out


def test_the_check_reads_plural_entries(tmp_path, monkeypatch, capsys):
    """A count is a plural entry: both English forms are needed, with the source's placeholders."""
    copy = tmp_path / "translations"
    shutil.copytree(i18n.TRANSLATIONS, copy)
    po = copy / "en" / "LC_MESSAGES" / "messages.po"
    text = po.read_text(encoding="utf-8")
    monkeypatch.setattr(i18n, "TRANSLATIONS", copy)
    entry = re.search(r'msgid "%\(num\)d tài khoản"\nmsgid_plural "[^"]*"\n'
                      r'msgstr\[0\] "([^"]*)"\nmsgstr\[1\] "([^"]*)"\n', text)
    assert entry and entry.groups() == ("%(num)d account", "%(num)d accounts")
    assert i18n.main(["check"]) == 0
    capsys.readouterr()

    po.write_text(text.replace(entry.group(0), entry.group(0).replace('msgstr[1] "%(num)d accounts"', 'msgstr[1] ""')),
                  encoding="utf-8")
    assert i18n.main(["check"]) == 1
    assert "untranslated: %(num)d tài khoản" in capsys.readouterr().out

    po.write_text(text.replace(entry.group(0), entry.group(0).replace('"%(num)d accounts"', '"%(n)d accounts"')),
                  encoding="utf-8")
    assert i18n.main(["check"]) == 1
    assert "broken: %(num)d tài khoản" in capsys.readouterr().out

    po.write_text(text.replace(entry.group(0), entry.group(0).replace('msgstr[1] "%(num)d accounts"\n', '')),
                  encoding="utf-8")
    assert i18n.main(["check"]) == 1
    assert "%(num)d tài khoản" in capsys.readouterr().out


def test_every_audit_action_the_code_records_has_words():
    recorded = set()
    pattern = re.compile(r'(?:_audit|audit\.record|record_request|record)\(\s*(?:db,\s*)?'
                         r'(?:[\w.]+,\s*)?"([a-z_]+\.[a-z_.]+)"')
    for path in (ROOT / "gateway").rglob("*.py"):
        recorded |= set(pattern.findall(path.read_text(encoding="utf-8")))
    recorded |= {value for name, value in vars(audit).items() if name.isupper() and isinstance(value, str)
                 and re.fullmatch(r"[a-z_]+(\.[a-z_.]+)?", value)}
    assert len(recorded) > 30
    assert sorted(recorded - set(audit.ACTION_LABELS)) == []
    assert audit.actor_label("cli") != "cli" and audit.actor_label("an") == "an"


def test_handled_by_in_words_in_both_languages(app):
    from gateway.web.filters import handler_label

    titles = {"1.3": "Làm căn cước"}
    expected = {
        "back": ("Quay lại menu trước (0)", "Back to the previous menu (0)"),
        "ignore": ("Không cần trả lời (cảm ơn, OK…)", "No answer needed (thanks, OK…)"),
        "language": ("Đổi ngôn ngữ", None),
        "tip:CL-0007": ("Lưu tin báo CL-0007", "Filed as tip CL-0007"),
        "tip:CL-0008 (to confirm)": ("Lưu tin CL-0008, chờ cán bộ xác nhận",
                                     "Kept as CL-0008, for an officer to confirm"),
        "1.3 (no reply: limit)": ("Mục 1.3: Làm căn cước · chưa trả lời: quá số tin trong giờ",
                                  "Item 1.3: Làm căn cước · not answered: hourly reply limit reached"),
        "subscribe": ("Đăng ký nhận cảnh báo (DK)", "Subscribed to warnings (DK)"),
        "silent:short_code": ("Tổng đài, không trả lời", "Service number, not answered"),
    }
    for lang, index in (("vi", 0), ("en", 1)):
        with app.test_request_context(f"/?lang={lang}"):
            from flask import session
            session["lang"] = lang
            for handler, words in expected.items():
                if words[index] is not None:
                    assert handler_label(handler, titles) == words[index], (lang, handler)
            assert handler_label(None) == "—" and handler_label("something_new") == "something_new"
