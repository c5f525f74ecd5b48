"""Subscribers and their groups: who gets the warnings, by village ("thôn") or any label.

Three doors lead in: the villager's own SMS (``DK``), an officer's form, an import. Only
the first is a consent; a number an officer adds or imports gets the one invitation (it
asks for DK), a consent the officer saw on paper, or waits without one (``no_consent``).
Warnings go only to ``subscribed`` numbers with the consent they rest on (``RECEIVES``),
each recorded in the ledger (``gateway.broadcasts.consent``) in the same transaction.

A number that left is kept as ``left`` and an import never brings it back. A villager who
left by SMS comes back only by texting DK again; one an officer removed, an officer may add
again. Functions here take a connection inside the caller's transaction.

The API the rest of the gateway uses for a person (the privacy requests page): ``leave``
(also named ``withdraw``: ``via="request"``) and ``erase``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlite_utils import Database

from gateway.broadcasts import consent, runs
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
    while subscribed) | left | never (left without ever receiving: unknown, invited or
    without consent) | already_left | refused_left (a number that left, which an import or,
    if the person left themselves, an officer may not bring back).

    ``consent`` says what the warnings now rest on: ``given`` (a consent recorded now),
    ``kept`` (the one in force), ``invited`` (the one invitation is on its way now),
    ``waiting`` (invited before, no answer yet), ``already_invited`` (invited before and
    removed since: no second invitation), ``none`` (no consent), or None (nothing changed)."""

    outcome: str
    subscriber_id: int | None = None
    village: str | None = None
    consent: str | None = None


@dataclass
class Member:
    """An officer's or an import's view of one subscriber."""

    number: str  # E.164
    name: str = ""
    village: str = ""
    labels: list[str] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Basis:
    """What an officer's number will receive warnings on (issue 17: never by default).

    ``invite``: the one invitation SMS (``invitation``, carrying notice ``notice_version``)
    asks for a DK, and nothing else comes before it. ``paper``: a consent the officer saw
    on paper, ``note`` saying where it is kept (required). ``none``: the number waits on
    the list without any (the dashboard suggests inviting it).
    """

    kind: str  # invite | paper | none
    notice_version: str = ""
    invitation: str = ""
    note: str = ""

    def problem(self) -> str | None:
        """What is missing, in Vietnamese (for the form), or None."""
        if self.kind not in BASIS_KINDS:
            return "Chọn cách người này đồng ý nhận tin: gửi tin mời, hoặc đã đồng ý trên giấy."
        if self.kind == "paper" and not self.note.strip():
            return "Đồng ý trên giấy: ghi rõ giấy nào, lưu ở đâu."
        if self.kind == "invite" and not self.invitation:
            return "Chưa có nội dung tin mời."
        return None


BASIS_KINDS = ("invite", "paper", "none")
NO_BASIS = Basis("none")
#: The subscriber states. Only ``subscribed`` (with the consent it rests on) receives warnings.
STATUSES = ("subscribed", "invited", "no_consent", "left")
RECEIVES = consent.RECEIVES


def _row(db: Database, number: str) -> tuple[int, str, str | None, int | None] | None:
    return db.execute("SELECT id, status, left_via, consent_id FROM subscribers WHERE number = ?",
                      (number,)).fetchone()


def _give(db: Database, sid: int, number: str, basis: str, now: datetime, by: str, *,
          raw_text: str | None = None, inbox_id: int | None = None, notice_version: str | None = None,
          note: str | None = None) -> None:
    """Record a consent and make it the one the subscription rests on (status subscribed)."""
    consent_id = consent.record(db, "given", basis, number=number, subscriber_id=sid, now=now, by=by,
                                raw_text=raw_text, inbox_id=inbox_id, notice_version=notice_version, note=note)
    now_iso = utcnow_iso(now)
    db.conn.execute(
        "UPDATE subscribers SET subscribed_at=CASE WHEN status='subscribed' THEN subscribed_at ELSE ? END,"
        " status='subscribed', consent_id=?, left_via=NULL, left_at=NULL, updated_at=?, updated_by=? WHERE id=?",
        (now_iso, consent_id, now_iso, by, sid))
    consent.cancel_invitation(db, number, "đã đồng ý / consent given")


def subscribe_by_sms(db: Database, number: str, village: str | None, now: datetime, *,
                     raw_text: str | None = None, inbox_id: int | None = None,
                     notice_version: str | None = None) -> Change:
    """``DK [thôn]``: the villager's own request always counts, even after leaving.

    The ledger keeps the SMS as received and the version of the notice the confirmation
    carries; a DK while subscribed is recorded again only when that notice changed since.
    """
    now_iso = utcnow_iso(now)
    found = match_village(db, village) if village else None
    request = None if found or not village else village[:60]
    row = _row(db, number)
    if row is None:
        cur = db.conn.execute(
            "INSERT INTO subscribers (number, status, source, village_request, created_at, updated_at,"
            " updated_by) VALUES (?, 'no_consent', 'sms', ?, ?, ?, 'sms')",
            (number, request, now_iso, now_iso),
        )
        sid, status, outcome = int(cur.lastrowid), "no_consent", "added"
    else:
        sid, status, _, _ = row
        outcome = "already" if status == "subscribed" else "rejoined"
        if request is not None:
            db.conn.execute("UPDATE subscribers SET village_request=? WHERE id=?", (request, sid))
    given = "kept"
    current = consent.entry(db, row[3]) if row is not None and status == "subscribed" else None
    if current is None or current.notice_version != notice_version:
        _give(db, sid, number, "sms", now, "sms", raw_text=raw_text, inbox_id=inbox_id,
              notice_version=notice_version)
        given = "given"
    if found:
        _set_village(db, sid, found[0])
    return Change(outcome, sid, found[1] if found else None, given)


LEAVE_VIA = ("sms", "officer", "request")


def leave(db: Database, number: str, via: str, now: datetime, by: str | None = None, *,
          raw_text: str | None = None, inbox_id: int | None = None, note: str | None = None) -> Change:
    """Withdrawal: ``TC``/``HUY`` (via "sms"), an officer's removal ("officer"), or a person's
    request an officer records ("request"). It stops every warning and any invitation not
    sent yet, at once, and the ledger keeps it.

    A number never seen is stored as ``left`` too, so a later import cannot add it; its
    outcome is ``never`` (it had nothing to leave: the villager is told so, not "you left"),
    as for a number that was invited or waiting without a consent.
    """
    if via not in LEAVE_VIA:
        raise ValueError(f"leave via {via!r}")
    now_iso = utcnow_iso(now)
    who = by or via
    row = _row(db, number)
    if row is None:
        cur = db.conn.execute(
            "INSERT INTO subscribers (number, status, source, left_via, created_at, updated_at, updated_by,"
            " left_at) VALUES (?, 'left', ?, ?, ?, ?, ?, ?)",
            (number, "sms" if via == "sms" else "officer", via, now_iso, now_iso, who, now_iso),
        )
        sid, outcome = int(cur.lastrowid), "never"
    else:
        sid, status, _, _ = row
        if status == "left":
            return Change("already_left", sid)
        outcome = "left" if status == "subscribed" else "never"
        db.conn.execute(
            "UPDATE subscribers SET status='left', consent_id=NULL, left_via=?, left_at=?, updated_at=?,"
            " updated_by=? WHERE id=?",
            (via, now_iso, now_iso, who, sid),
        )
    consent.record(db, "withdrawn", via, number=number, subscriber_id=sid, now=now, by=who, raw_text=raw_text,
                   inbox_id=inbox_id, note=note)
    consent.cancel_invitation(db, number, "đã ngừng nhận / withdrawn")
    return Change(outcome, sid, consent="none")


#: What a person's request to withdraw consent calls (the privacy requests page): ``leave``
#: with ``via="request"``, the officer who recorded it as ``by`` and the request as ``note``.
withdraw = leave


def erase(db: Database, number: str, now: datetime, by: str, note: str | None = None) -> bool:
    """A person's erasure: the subscriber, their groups, their broadcast deliveries and their
    invitation go; the ledger keeps its events without the number (``consent.erase``).
    Returns False when the number is not held. Call inside a write transaction.
    """
    row = _row(db, number)
    if row is not None:
        runs.forget_subscriber(db, row[0])
        db.conn.execute("DELETE FROM subscribers WHERE id = ?", (row[0],))
    cleared = consent.erase(db, number, now, by, note)
    return row is not None or cleared > 0


def _apply_basis(db: Database, sid: int, number: str, basis: Basis, source: str, now: datetime,
                 by: str) -> str:
    """Give a number without a consent what the officer chose; returns ``Change.consent``."""
    if basis.kind == "paper":
        _give(db, sid, number, "paper", now, by, notice_version=basis.notice_version, note=basis.note)
        return "given"
    if basis.kind == "invite":
        if consent.invite(db, sid, number, basis.invitation, basis.notice_version, basis=source, now=now, by=by):
            db.conn.execute("UPDATE subscribers SET status='invited', updated_at=?, updated_by=? WHERE id=?",
                            (utcnow_iso(now), by, sid))
            return "invited"
        return "already_invited"
    return "none"


def save_member(db: Database, member: Member, *, source: str, now: datetime, by: str | None = None,
                replace_groups: bool = False, basis: Basis = NO_BASIS) -> Change:
    """An officer's form (``source="officer"``) or one import row (``"import"``).

    Nobody is subscribed by default: a new number, or one still without a consent, gets
    what ``basis`` says (the one invitation, a consent on paper, or nothing: it waits as
    ``no_consent``); a subscribed number keeps the consent it has. A ``left`` number: an
    import skips it (``refused_left``); an officer brings it back (with a basis) only if an
    officer removed it. ``replace_groups``: the form sets the labels exactly; an import only adds.
    """
    now_iso = utcnow_iso(now)
    who = by or source
    row = _row(db, member.number)
    if row is None:
        cur = db.conn.execute(
            "INSERT INTO subscribers (number, name, status, source, note, created_at, updated_at, updated_by)"
            " VALUES (?, ?, 'no_consent', ?, ?, ?, ?, ?)",
            (member.number, member.name.strip()[:80], source, member.note.strip()[:200], now_iso, now_iso, who),
        )
        sid, status, outcome = int(cur.lastrowid), "no_consent", "added"
    else:
        sid, status, left_via, _ = row
        if status == "left" and (source == "import" or left_via != "officer"):
            return Change("refused_left", sid)
        outcome = "rejoined" if status == "left" else "updated"
        if source == "import":  # an import fills gaps, it does not overwrite an officer's edits
            db.conn.execute(
                "UPDATE subscribers SET name=CASE WHEN name='' THEN ? ELSE name END,"
                " note=CASE WHEN note='' THEN ? ELSE note END, updated_at=?, updated_by=? WHERE id=?",
                (member.name.strip()[:80], member.note.strip()[:200], now_iso, who, sid),
            )
        else:
            db.conn.execute(
                "UPDATE subscribers SET name=?, note=?, status=CASE WHEN status='left' THEN 'no_consent'"
                " ELSE status END, left_via=NULL, left_at=NULL, updated_at=?, updated_by=? WHERE id=?",
                (member.name.strip()[:80], member.note.strip()[:200], now_iso, who, sid),
            )
            if status == "left":
                status = "no_consent"
    if status == "subscribed":
        given = "kept"
    elif status == "invited" and basis.kind != "paper":
        given = "waiting"
    else:
        given = _apply_basis(db, sid, member.number, basis, source, now, who)
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
    return Change(outcome, sid, consent=given)


def give_basis(db: Database, subscriber_id: int, basis: Basis, now: datetime, by: str) -> str | None:
    """An officer acts on one subscriber without a consent (the subscriber's page): the one
    invitation, or a consent seen on paper. Returns ``Change.consent``, None when the number
    is subscribed already or left by its own word."""
    row = db.execute("SELECT number, status, left_via FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    if row is None or row[1] == "subscribed" or (row[1] == "left" and row[2] != "officer"):
        return None
    return _apply_basis(db, subscriber_id, row[0], basis, "officer", now, by)


def invite_all(db: Database, basis: Basis, now: datetime, by: str, limit: int = 100_000) -> int:
    """Invite every number waiting without a consent that was never invited (the dashboard's
    suggestion). The invitations go out paced (the broadcast sender); returns how many."""
    ids = db.execute(
        "SELECT id FROM subscribers WHERE status = 'no_consent' AND number NOT IN (SELECT number FROM invitations)"
        " ORDER BY id LIMIT ?", (limit,)).fetchall()
    invited = 0
    for (sid,) in ids:
        invited += give_basis(db, sid, basis, now, by) == "invited"
    return invited


def invitable_count(db: Database) -> int:
    """Numbers waiting without a consent that may still get their one invitation."""
    return db.execute(
        "SELECT COUNT(*) FROM subscribers WHERE status = 'no_consent'"
        " AND number NOT IN (SELECT number FROM invitations)").fetchone()[0]


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
    """How many numbers with a current consent a broadcast to these groups (or everyone) reaches now."""
    if everyone:
        return db.execute(f"SELECT COUNT(*) FROM subscribers s WHERE {RECEIVES}").fetchone()[0]
    if not group_ids:
        return 0
    marks = ",".join("?" * len(group_ids))
    return db.execute(
        "SELECT COUNT(DISTINCT s.id) FROM subscribers s JOIN subscriber_group_members m ON m.subscriber_id = s.id"
        f" WHERE {RECEIVES} AND m.group_id IN ({marks})",
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
