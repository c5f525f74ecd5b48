"""The English catalog is complete: ``python -m gateway.web.i18n check`` passes, and fails when
a marked string has no entry or an empty one; every audit action has words in both languages."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from gateway.web import audit, i18n

ROOT = Path(__file__).resolve().parent.parent


def test_the_check_passes_on_the_tree():
    done = subprocess.run([sys.executable, "-m", "gateway.web.i18n", "check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 without an entry, 0 untranslated" in done.stderr


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


def test_every_audit_action_the_code_records_has_words():
    recorded = set()
    pattern = re.compile(r'(?:_audit|audit\.record|audit\.record_request|record)\(\s*(?:db,\s*)?'
                         r'(?:[\w.]+,\s*)?"([a-z_]+\.[a-z_.]+)"')
    for path in (ROOT / "gateway").rglob("*.py"):
        recorded |= set(pattern.findall(path.read_text(encoding="utf-8")))
    recorded |= {value for name, value in vars(audit).items() if name.isupper() and isinstance(value, str)
                 and re.fullmatch(r"[a-z_]+(\.[a-z_.]+)?", value)}
    assert len(recorded) > 30
    assert sorted(recorded - set(audit.ACTION_LABELS)) == []
    assert audit.actor_label("cli") != "cli" and audit.actor_label("an") == "an"
