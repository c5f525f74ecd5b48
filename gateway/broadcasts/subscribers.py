"""Subscribers and their groups: who gets the warnings, by village ("thôn") or any label.

Three doors lead in: the villager's own SMS (``DK``), an officer's form, an import. One
rule binds them: a number that left is kept as ``left`` and an import never brings it back.
A villager who left by SMS comes back only by texting DK again; one an officer removed, an
officer may add again. Functions here take a connection inside the caller's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlite_utils import Database

from gateway.menus.match import TypoIndex
from gateway.sms.text import fold
from gateway.storage import utcnow_iso

#: Words before a village's name that villagers may or may not type: "DK Na Hoi" = "thôn Na Hối".
VILLAGE_WORDS = ("thon", "ban", "lang", "xom", "to", "ap", "buon", "khu", "doi", "tdp")
SOURCES = ("sms", "officer", "import")


_GLUED = re.compile(r"^(" + "|".join(VILLAGE_WORDS) + r")(\d+)$")


def group_key(name: str) -> str:
    """Matching key of a group name: folded, without a leading "thôn"/"bản"/... word.

    "Thôn 3", "thon 3", "THON3" and "3" share the key "3".
    """
    words = fold(name).replace(".", " ").split()
    if len(words) == 1 and (glued := _GLUED.match(words[0])):
        words = [glued.group(2)]
    if len(words) > 1 and words[0] in VILLAGE_WORDS:
        words = words[1:]
    return " ".join(words)


def match_village(db: Database, name: str) -> tuple[int, str] | None:
    """(id, name) of the known village ``name`` stands for, with the menus' tolerance.

    Accents, case and the "thôn"/"bản" word aside, exactly as :func:`find_group`; failing
    that, one typing mistake in a name of 4+ letters (3 letters: two swapped), when only one
    village is that close (``gateway.menus.match.TypoIndex``). Numbers are never guessed:
    "Thôn 2" is not "Thôn 3".
    """
    found = find_group(db, name, "village")
    if found is not None:
        return found
    key = group_key(name)
    if not key:
        return None
    rows = db.execute("SELECT id, name, key FROM subscriber_groups WHERE kind = 'village'").fetchall()
    by_key = {row[2]: (row[0], row[1]) for row in rows if row[2]}
    close = [kw for kw in TypoIndex(by_key).candidates(key) if not any(ch.isdigit() for ch in kw + key)]
    return by_key[close[0]] if len(close) == 1 else None


def find_group(db: Database, name: str, kind: str | None = None) -> tuple[int, str] | None:
    """(id, name) of the group ``name`` stands for (accents, case and "thôn" aside)."""
    key = group_key(name)
    if not key:
        return None
    sql = "SELECT id, name FROM subscriber_groups WHERE key = ?" + (" AND kind = ?" if kind else "")
    row = db.execute(sql, (key, kind) if kind else (key,)).fetchone()
    return (row[0], row[1]) if row else None


def ensure_group(db: Database, name: str, kind: str, now: datetime) -> int:
    """The group's id, creating it (as typed, tidied) when there is none with that key."""
    found = find_group(db, name)
    if found:
        return found[0]
    tidy = " ".join(name.split())
    cur = db.conn.execute(
        "INSERT INTO subscriber_groups (name, key, kind, created_at) VALUES (?,?,?,?)",
        (tidy, group_key(tidy), kind, utcnow_iso(now)),
    )
    return int(cur.lastrowid)


@dataclass
class Change:
    """What happened to one number: ``outcome`` is added | rejoined | updated | already (DK
    while subscribed) | left | never (left without ever subscribing) | already_left |
    refused_left (a number that left, which an import or, if the villager left by SMS, an
    officer may not bring back)."""

    outcome: str
    subscriber_id: int | None = None
    village: str | None = None


@dataclass
class Member:
    """An officer's or an import's view of one subscriber."""

    number: str  # E.164
    name: str = ""
    village: str = ""
    labels: list[str] = field(default_factory=list)
    note: str = ""


def _row(db: Database, number: str) -> tuple[int, str, str | None] | None:
    return db.execute("SELECT id, status, left_via FROM subscribers WHERE number = ?", (number,)).fetchone()


def subscribe_by_sms(db: Database, number: str, village: str | None, now: datetime) -> Change:
    """``DK [thôn]``: the villager's own request always counts, even after leaving."""
    now_iso = utcnow_iso(now)
    found = match_village(db, village) if village else None
    row = _row(db, number)
    if row is None:
        cur = db.conn.execute(
            "INSERT INTO subscribers (number, status, source, village_request, created_at, updated_at,"
            " updated_by, subscribed_at) VALUES (?, 'subscribed', 'sms', ?, ?, ?, 'sms', ?)",
            (number, None if found or not village else village[:60], now_iso, now_iso, now_iso),
        )
        sid, outcome = int(cur.lastrowid), "added"
    else:
        sid, status, _ = row
        outcome = "already" if status == "subscribed" else "rejoined"
        db.conn.execute(
            "UPDATE subscribers SET status='subscribed', left_via=NULL, left_at=NULL, updated_at=?,"
            " updated_by='sms', subscribed_at=CASE WHEN status='subscribed' THEN subscribed_at ELSE ? END,"
            " village_request=COALESCE(?, village_request) WHERE id=?",
            (now_iso, now_iso, None if found or not village else village[:60], sid),
        )
    if found:
        _set_village(db, sid, found[0])
    return Change(outcome, sid, found[1] if found else None)


def leave(db: Database, number: str, via: str, now: datetime, by: str | None = None) -> Change:
    """``TC``/``HUY`` (via "sms") or an officer's removal (via "officer").

    A number never seen is stored as ``left`` too, so a later import cannot add it; its
    outcome is ``never`` (it had nothing to leave: the villager is told so, not "you left").
    """
    now_iso = utcnow_iso(now)
    row = _row(db, number)
    if row is None:
        cur = db.conn.execute(
            "INSERT INTO subscribers (number, status, source, left_via, created_at, updated_at, updated_by,"
            " left_at) VALUES (?, 'left', ?, ?, ?, ?, ?, ?)",
            (number, via, via, now_iso, now_iso, by or via, now_iso),
        )
        return Change("never", int(cur.lastrowid))
    sid, status, _ = row
    if status == "left":
        return Change("already_left", sid)
    db.conn.execute(
        "UPDATE subscribers SET status='left', left_via=?, left_at=?, updated_at=?, updated_by=? WHERE id=?",
        (via, now_iso, now_iso, by or via, sid),
    )
    return Change("left", sid)


def save_member(db: Database, member: Member, *, source: str, now: datetime, by: str | None = None,
                replace_groups: bool = False) -> Change:
    """An officer's form (``source="officer"``) or one import row (``"import"``).

    A ``left`` number: an import skips it (``refused_left``); an officer brings it back only
    if an officer removed it. ``replace_groups``: the form sets the labels exactly; an import
    only adds.
    """
    now_iso = utcnow_iso(now)
    row = _row(db, member.number)
    if row is None:
        cur = db.conn.execute(
            "INSERT INTO subscribers (number, name, status, source, note, created_at, updated_at, updated_by,"
            " subscribed_at) VALUES (?, ?, 'subscribed', ?, ?, ?, ?, ?, ?)",
            (member.number, member.name.strip()[:80], source, member.note.strip()[:200], now_iso, now_iso,
             by or source, now_iso),
        )
        sid, outcome = int(cur.lastrowid), "added"
    else:
        sid, status, left_via = row
        if status == "left" and (source == "import" or left_via != "officer"):
            return Change("refused_left", sid)
        outcome = "rejoined" if status == "left" else "updated"
        if source == "import":  # an import fills gaps, it does not overwrite an officer's edits
            db.conn.execute(
                "UPDATE subscribers SET name=CASE WHEN name='' THEN ? ELSE name END,"
                " note=CASE WHEN note='' THEN ? ELSE note END, updated_at=?, updated_by=? WHERE id=?",
                (member.name.strip()[:80], member.note.strip()[:200], now_iso, by or source, sid),
            )
        else:
            db.conn.execute(
                "UPDATE subscribers SET name=?, note=?, status='subscribed', left_via=NULL, left_at=NULL,"
                " subscribed_at=CASE WHEN status='left' THEN ? ELSE subscribed_at END, updated_at=?,"
                " updated_by=? WHERE id=?",
                (member.name.strip()[:80], member.note.strip()[:200], now_iso, now_iso, by or source, sid),
            )
    village_id = ensure_group(db, member.village, "village", now) if member.village.strip() else None
    if village_id is not None or (replace_groups and not member.village.strip()):
        _set_village(db, sid, village_id)
    label_ids = [ensure_group(db, label, "label", now) for label in member.labels if label.strip()]
    if replace_groups:
        db.conn.execute(
            "DELETE FROM subscriber_group_members WHERE subscriber_id=? AND group_id IN"
            " (SELECT id FROM subscriber_groups WHERE kind='label')",
            (sid,),
        )
    db.conn.executemany(
        "INSERT OR IGNORE INTO subscriber_group_members (subscriber_id, group_id) VALUES (?, ?)",
        [(sid, gid) for gid in label_ids],
    )
    return Change(outcome, sid)


def _set_village(db: Database, subscriber_id: int, group_id: int | None) -> None:
    """One village per subscriber: the new one replaces the old."""
    db.conn.execute(
        "DELETE FROM subscriber_group_members WHERE subscriber_id=? AND group_id IN"
        " (SELECT id FROM subscriber_groups WHERE kind='village')",
        (subscriber_id,),
    )
    if group_id is not None:
        db.conn.execute(
            "INSERT OR IGNORE INTO subscriber_group_members (subscriber_id, group_id) VALUES (?, ?)",
            (subscriber_id, group_id),
        )


def audience_size(db: Database, group_ids: list[int], everyone: bool) -> int:
    """How many subscribed numbers a broadcast to these groups (or everyone) reaches now."""
    if everyone:
        return db.execute("SELECT COUNT(*) FROM subscribers WHERE status='subscribed'").fetchone()[0]
    if not group_ids:
        return 0
    marks = ",".join("?" * len(group_ids))
    return db.execute(
        "SELECT COUNT(DISTINCT s.id) FROM subscribers s JOIN subscriber_group_members m ON m.subscriber_id = s.id"
        f" WHERE s.status='subscribed' AND m.group_id IN ({marks})",
        group_ids,
    ).fetchone()[0]


def groups(db: Database) -> list[dict]:
    """Every group with its number of subscribed members, villages first."""
    rows = db.execute(
        "SELECT g.id, g.name, g.kind, COUNT(s.id) FROM subscriber_groups g"
        " LEFT JOIN subscriber_group_members m ON m.group_id = g.id"
        " LEFT JOIN subscribers s ON s.id = m.subscriber_id AND s.status = 'subscribed'"
        " GROUP BY g.id ORDER BY g.kind = 'label', g.key"
    ).fetchall()
    return [{"id": r[0], "name": r[1], "kind": r[2], "members": r[3]} for r in rows]


def unmatched_villages(db: Database, limit: int = 100) -> list[dict]:
    """Names villagers texted with ``DK <thôn>`` that match no village, for officers to assign.

    One row per name as typed (accents and case aside), with how many subscribed numbers
    wait in no village under it, most first.
    """
    rows = db.execute(
        "SELECT s.village_request, COUNT(*) FROM subscribers s WHERE s.status = 'subscribed'"
        " AND s.village_request IS NOT NULL AND s.village_request != '' AND NOT EXISTS ("
        " SELECT 1 FROM subscriber_group_members m JOIN subscriber_groups g ON g.id = m.group_id"
        " WHERE m.subscriber_id = s.id AND g.kind = 'village')"
        " GROUP BY s.village_request ORDER BY COUNT(*) DESC, s.village_request LIMIT ?",
        (limit * 4,),
    ).fetchall()
    merged: dict[str, dict] = {}
    for name, count in rows:
        entry = merged.setdefault(group_key(name), {"name": name, "count": 0, "names": []})
        entry["count"] += count
        entry["names"].append(name)
    return sorted(merged.values(), key=lambda e: (-e["count"], e["name"]))[:limit]


def assign_village_request(db: Database, name: str, group_id: int, now: datetime, by: str) -> int:
    """Put every subscriber who texted ``name`` (same key) and has no village into ``group_id``.

    Returns how many were placed. Call inside a write transaction.
    """
    group = db.execute("SELECT id FROM subscriber_groups WHERE id = ? AND kind = 'village'", (group_id,)).fetchone()
    wanted = group_key(name)
    if group is None or not wanted:
        return 0
    waiting = [e for e in unmatched_villages(db, limit=10_000) if group_key(e["name"]) == wanted]
    names = waiting[0]["names"] if waiting else []
    if not names:
        return 0
    marks = ",".join("?" * len(names))
    ids = [row[0] for row in db.execute(
        f"SELECT s.id FROM subscribers s WHERE s.status = 'subscribed' AND s.village_request IN ({marks})"
        " AND NOT EXISTS (SELECT 1 FROM subscriber_group_members m JOIN subscriber_groups g ON g.id = m.group_id"
        " WHERE m.subscriber_id = s.id AND g.kind = 'village')",
        names,
    ).fetchall()]
    for sid in ids:
        _set_village(db, sid, group_id)
    if ids:
        db.conn.execute(
            f"UPDATE subscribers SET updated_at = ?, updated_by = ? WHERE id IN ({','.join('?' * len(ids))})",
            (utcnow_iso(now), by, *ids),
        )
    return len(ids)
