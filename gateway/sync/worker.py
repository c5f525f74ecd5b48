"""The sync worker: one thread per destination (a "lane") drains the sync queue.

Each lane, every ``sync.poll_interval`` seconds or when woken:
1. does nothing while its back-off runs (exponential with jitter, measured on the gateway's
   ``Clock``, so tests can make a week pass in a moment);
2. with work waiting, first makes a cheap connectivity check (the hub's ``/healthz``; a TCP
   connection to Zalo's API host), so a dead uplink does not burn the 3G bundle on doomed
   requests, and rows do not collect attempts while the internet is down;
3. drains due rows in the order tips came in, until the queue is empty or the destination
   fails; a failure of the whole destination puts the claimed rows back and backs off.

``python app.py sync`` (``gateway.sync.alone``) runs it alone, with the heartbeat (operators,
the crash tests, the sync bench).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlite_utils import Database

from gateway import backoff, duty
from gateway.background import Worker
from gateway.clock import Clock
from gateway.config import Config
from gateway.sms.text import khong_dau
from gateway.storage import ThreadLocalDb, utcnow_iso, write_transaction
from gateway.sync import hooks, province, queue, report, zalo_officers, zalo_tokens
from gateway.sync.district import DistrictClient, Refused
from gateway.sync.http import BadAnswer, SyncError, Unreachable
from gateway.sync.zalo import NeedsReauth, RateLimited, ZaloMirror

log = logging.getLogger(__name__)

SWEEP_EVERY = 300.0      # seconds (monotonic) between sweeps for tips without rows
RECHECK_AFTER = 30.0     # seconds (monotonic) of silence after which the next drain checks first
ZALO_CLAIM = 20          # Zalo sends one message per officer: claim a few tips at a time
REMIND_EVERY = 60.0      # seconds (monotonic) between looks for Zalo windows about to close


def reminder_text(config: Config, until: datetime | None, now: datetime) -> str:
    """The SMS that asks an officer to write to the OA (without diacritics, one part)."""
    if until is not None and until > now:
        when = until.astimezone(config.timezone).strftime("%H:%M %d/%m")
        return khong_dau(f"TinBao: tu {when} Zalo OA khong gui duoc tin bao cho anh/chi nua. "
                         "Hay nhan 1 tin bat ky cho OA tren Zalo de tiep tuc nhan tin bao qua Zalo.")
    return khong_dau("TinBao: Zalo OA hien khong gui duoc tin bao cho anh/chi (qua 48 gio chua nhan cho OA). "
                     "Hay nhan 1 tin bat ky cho OA tren Zalo. Trong luc cho, tin bao den bang SMS.")


class Lane(Worker):
    """One destination's thread (``sync-<name>``); subclasses say how to check, drain and
    whether enabled. Its back-off (``failures``, ``next_try``) is touched only by this thread."""

    name = ""

    def __init__(self, config: Config, dbs: ThreadLocalDb, clock: Clock, reporter: report.SyncReport) -> None:
        super().__init__(f"sync-{self.name}")
        self.config = config
        self.dbs = dbs
        self.clock = clock
        self.reporter = reporter
        self.error_delay = config.sync.poll_interval  # a failed pass waits like a quiet one
        self.failures = 0
        self.next_try: datetime | None = None
        self.last_contact = float("-inf")
        self.last_sweep = float("-inf")
        self.retry_seen: str | None = None
        self.checks = 0  # connectivity checks made (tests and the page read it)

    def tick(self) -> float:
        self.step(self.dbs.get())
        return self.config.sync.poll_interval

    # -- one pass ------------------------------------------------------------------------
    def step(self, db: Database) -> None:
        now = self.clock.now()
        self.take_retry_request(db)
        if not self.enabled:
            self.publish(db, state="disabled", error=None)
            return
        if time.monotonic() - self.last_sweep >= SWEEP_EVERY:
            hooks.sweep(db, self.config, now)
            self.last_sweep = time.monotonic()
        if self.blocked(db):
            return
        if self.next_try is not None and now < self.next_try:
            self.publish(db)
            return
        if not self.has_work(db, now):
            self.publish(db, state="ok" if self.failures == 0 else self.reporter.get(self.name)["state"])
            return
        if time.monotonic() - self.last_contact > RECHECK_AFTER:
            self.checks += 1
            if not self.reachable():
                self.back_off(db, "offline", self.offline_reason())
                return
            self.last_contact = time.monotonic()
        try:
            self.drain(db)
        except NeedsReauth as exc:
            self.needs_reauth(db, str(exc))
        except Refused as exc:  # the hub does not know our token: keep trying, slowly, and say so
            self.back_off(db, "needs_reauth", str(exc))
        except (Unreachable, BadAnswer, RateLimited, SyncError) as exc:
            state = "offline" if isinstance(exc, Unreachable) else "backing_off"
            self.back_off(db, state, str(exc))
        else:
            self.failures, self.next_try = 0, None
            self.last_contact = time.monotonic()
            self.publish(db, state="ok", error=None, last_ok_at=utcnow_iso(self.clock.now()))

    def back_off(self, db: Database, state: str, error: str) -> None:
        self.failures += 1
        delay = backoff.delay(self.failures, self.config.sync.retry_base, self.config.sync.retry_max)
        self.next_try = self.clock.now() + timedelta(seconds=delay)
        self.last_contact = float("-inf")
        log.info("sync %s: %s (%s); next try in %.0f s", self.name, state, error, delay)
        self.publish(db, state=state, error=error)

    def reset_backoff(self) -> None:
        """Forget the back-off (this lane's thread only: see ``take_retry_request``)."""
        self.failures, self.next_try = 0, None
        self.last_contact = float("-inf")

    def take_retry_request(self, db: Database) -> bool:
        """The one way "retry now" reaches a lane: a new request in ``state`` ends its back-off.

        The page marks the rows due (``queue.retry_now``), writes the request
        (``report.request_retry``) and wakes the lane; the lane alone, in its own thread, sees
        the request here at the start of its next pass. So a running gateway, a worker started
        alone (``python -m gateway.sync.worker``) and a request made while the worker was
        down all behave alike. True when the back-off was forgotten.
        """
        requested = report.retry_requests(db).get(self.name)
        if not requested or requested == self.retry_seen:
            return False
        reset = self.retry_seen is not None or self.failures > 0
        if reset:
            self.reset_backoff()
        self.retry_seen = requested
        return reset

    def publish(self, db: Database, **fields) -> None:
        fields["queued"] = queue.waiting(db, self.name)
        fields["next_try_at"] = utcnow_iso(self.next_try) if self.next_try else None
        fields["checks"] = self.checks
        self.reporter.update(db, self.name, self.clock.now(), **fields)

    # -- per destination -----------------------------------------------------------------
    enabled = False

    def blocked(self, db: Database) -> bool:
        return False

    def has_work(self, db: Database, now: datetime) -> bool:
        return queue.has_due(db, self.name, now)

    def reachable(self) -> bool:
        raise NotImplementedError

    def offline_reason(self) -> str:
        return "Không có Internet hoặc máy chủ không trả lời"

    def drain(self, db: Database) -> None:
        raise NotImplementedError

    def needs_reauth(self, db: Database, error: str) -> None:
        self.back_off(db, "backing_off", error)

    def close(self) -> None:
        pass


class ZaloLane(Lane):
    name = "zalo"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.mirror = ZaloMirror(self.config, self.clock)
        self.refused_token_id: int | None = None
        self.unreachable: dict[str, str] = {}
        self.last_remind = float("-inf")

    @property
    def enabled(self) -> bool:  # type: ignore[override]
        return self.mirror.enabled

    def close(self) -> None:
        self.mirror.close()

    def reachable(self) -> bool:
        return self.mirror.reachable()

    def blocked(self, db: Database) -> bool:
        """After a refused refresh, wait for a new refresh token (config or the page)."""
        if self.refused_token_id is None:
            return False
        pair = zalo_tokens.current(db)
        if pair is not None and pair.row_id != self.refused_token_id:
            self.refused_token_id = None
            self.reset_backoff()
            return False
        self.publish(db, state="needs_reauth")
        return True

    def needs_reauth(self, db: Database, error: str) -> None:
        pair = zalo_tokens.current(db)
        self.refused_token_id = pair.row_id if pair else -1
        log.error("Zalo mirror stopped: re-authorise the OA (%s)", error)
        self.publish(db, state="needs_reauth", error=f"Cần cấp quyền lại cho OA (re-authorise the OA): {error}")

    # -- kept alive with no tips: the token refresh, each officer's window, reminders -------
    def step(self, db: Database) -> None:
        if self.enabled and time.monotonic() - self.last_remind >= REMIND_EVERY:
            self.last_remind = time.monotonic()
            try:  # database only: reminders go out even while Zalo is out of reach
                self.remind(db, self.clock.now())
            except Exception:
                log.exception("Zalo window reminders failed")
        super().step(db)

    def chores_due(self, db: Database, now: datetime) -> bool:
        """The scheduled token refresh, or an officer's conversation not read for ``zalo.check_minutes``."""
        zalo = self.config.zalo
        pair = zalo_tokens.current(db)
        if pair is not None and pair.refresh_due(now, timedelta(hours=zalo.refresh_hours)):
            return True
        stale = now - timedelta(minutes=zalo.check_minutes)
        return any(r.checked_at is None or datetime.fromisoformat(r.checked_at) <= stale
                   for r in zalo_officers.all_of(db, self.mirror.officers))

    def has_work(self, db: Database, now: datetime) -> bool:
        return super().has_work(db, now) or self.chores_due(db, now)

    def chores(self, db: Database) -> None:
        """Refresh the tokens on schedule (a single-use refresh token never grows old unused),
        read each officer's conversation when it is due, and remind those whose window closes."""
        zalo, now = self.config.zalo, self.clock.now()
        pair = zalo_tokens.current(db)
        if pair is not None and pair.refresh_due(now, timedelta(hours=zalo.refresh_hours)):
            self.mirror._refresh(db, pair)
        stale = now - timedelta(minutes=zalo.check_minutes)
        for reach in zalo_officers.all_of(db, self.mirror.officers):
            if reach.checked_at is None or datetime.fromisoformat(reach.checked_at) <= stale:
                self.mirror.check_officer(db, reach.officer_id)
        self.remind(db, now)  # what was just read may call for a reminder

    def remind(self, db: Database, now: datetime) -> int:
        """SMS each officer whose Zalo window closes within ``zalo.remind_hours`` (once per window):
        send any message to the OA. An officer whose window is already closed gets one too."""
        hours = self.config.zalo.remind_hours
        if not hours:
            return 0
        sent = 0
        for reach in zalo_officers.all_of(db, self.mirror.officers):
            if reach.checked_at is None:
                continue  # not read yet: nothing known to remind of
            about = reach.last_message_id or ""
            if reach.reminded_for == about:
                continue
            until = reach.window_until
            if until is not None and until - now > timedelta(hours=hours):
                continue
            text = reminder_text(self.config, until, now)
            with write_transaction(db):
                how, _ = duty.sms_zalo_officer(db, reach.officer_id, text, now)
                if how == "queued":
                    zalo_officers.note_reminded(db, reach.officer_id, about, now)
                    sent += 1
        return sent

    def drain(self, db: Database) -> None:
        self.chores(db)
        while not self.stopping:
            claimed = queue.claim(db, self.name, self.clock.now(), ZALO_CLAIM)
            if not claimed:
                return
            for index, tip in enumerate(claimed):
                try:
                    outcome = self.mirror.deliver(db, tip)
                except BaseException as exc:
                    queue.release(db, [tip.row_id], str(exc) or type(exc).__name__)
                    queue.release(db, [t.row_id for t in claimed[index + 1:]], count=False)
                    raise
                now = self.clock.now()
                for officer in outcome.reached:
                    self.unreachable.pop(officer, None)  # reachable again: the alert goes
                for officer in outcome.unreachable:
                    self.unreachable[officer] = outcome.error or "unreachable"
                if outcome.status == "done":
                    queue.mark_done(db, [tip.row_id], now)
                elif outcome.status == "dead":
                    queue.mark_dead(db, tip.row_id, outcome.error or "dead")
                else:
                    queue.mark_failed(db, tip.row_id, outcome.error or "failed", now, at=outcome.retry_at,
                                      base=self.config.sync.retry_base, maximum=self.config.sync.retry_max)
                if self.stopping:
                    queue.release(db, [t.row_id for t in claimed[index + 1:]], count=False)
                    return

    def publish(self, db: Database, **fields) -> None:
        fields["unreachable_officers"] = sorted(self.unreachable)
        super().publish(db, **fields)


class DistrictLane(Lane):
    name = "district"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.client = DistrictClient(self.config, self.clock)
        self.last_pull = float("-inf")

    @property
    def enabled(self) -> bool:  # type: ignore[override]
        return self.client.enabled

    def close(self) -> None:
        self.client.close()

    def reachable(self) -> bool:
        return self.client.reachable()

    def offline_reason(self) -> str:
        if self.client.http is None:
            return (f"Chưa đặt địa chỉ máy chủ {self.config.hub.level} (hub.url):"
                    " chỉ chuyển được bằng tệp USB")
        return super().offline_reason()

    def has_work(self, db: Database, now: datetime) -> bool:
        pull_due = time.monotonic() - self.last_pull >= self.config.sync.pull_interval
        return pull_due or super().has_work(db, now)

    def drain(self, db: Database) -> None:
        size = self.config.sync.batch_size
        while not self.stopping:
            batch = queue.claim(db, self.name, self.clock.now(), size)
            if not batch:
                break
            try:
                accepted, rejected = self.client.push(batch)
            except BaseException as exc:
                queue.release(db, [t.row_id for t in batch], str(exc) or type(exc).__name__)
                raise
            now = self.clock.now()
            queue.mark_done(db, [t.row_id for t in batch if t.uid in accepted], now)
            hub = self.config.hub.level
            for tip in batch:
                if tip.uid in accepted:
                    continue
                if tip.uid in rejected:  # refused as it is: sending it again cannot help
                    queue.mark_dead(db, tip.row_id, f"{hub} từ chối tin này: {rejected[tip.uid]}")
                else:
                    queue.mark_failed(db, tip.row_id, f"Máy chủ {hub} chưa xác nhận tin này", now,
                                      base=self.config.sync.retry_base, maximum=self.config.sync.retry_max)
        self.client.push_statuses(db)
        self.client.pull(db)
        province.pull(self.client, db, self.config, self.clock)  # the province's warnings and campaigns
        self.last_pull = time.monotonic()


class SyncWorker:
    """Mirrors tips to Zalo and the district hub: one ``Lane`` thread per destination."""

    def __init__(self, config: Config, dbs: ThreadLocalDb, clock: Clock | None = None) -> None:
        self.config = config
        self.dbs = dbs
        self.clock = clock or Clock()
        self.report = report.SyncReport()
        # The lanes commit with fsync (synchronous=FULL): a rotated Zalo token, a 'sending'
        # mark or an acknowledgement must survive a power cut, not only a killed process.
        self.durable_dbs = ThreadLocalDb(dbs.path, durable=True)
        self.lanes: dict[str, Lane] = {
            "zalo": ZaloLane(config, self.durable_dbs, self.clock, self.report),
            "district": DistrictLane(config, self.durable_dbs, self.clock, self.report),
        }

    def start(self) -> None:
        """Put back rows a killed worker had claimed, take the config's token, then run."""
        db = self.durable_dbs.get()
        released = queue.release_in_progress(db)
        if released:
            log.info("sync: %d rows claimed before a restart are queued again", released)
        zalo_lane = self.lanes["zalo"]
        if zalo_lane.enabled:
            zalo_lane.mirror.seed_tokens(db)  # type: ignore[attr-defined]
        hooks.sweep(db, self.config, self.clock.now())
        for lane in self.lanes.values():
            lane.start()

    def stop(self, timeout: float = 10.0) -> None:
        for lane in self.lanes.values():
            lane.stop(timeout)
        for lane in self.lanes.values():
            lane.close()
        self.durable_dbs.close_all()

    def wake(self, destination: str | None = None) -> None:
        """Look again now: new tips, the clock moved, or an officer's "retry now" was written
        (the lane forgets its back-off itself when it reads it: ``Lane.take_retry_request``)."""
        for name, lane in self.lanes.items():
            if destination in (None, name):
                lane.wake()

