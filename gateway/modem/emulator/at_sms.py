"""The SMS half of the emulated modem's AT command set (27.005, PDU mode only).

A mixin beside `at.AtCommandSet`; it needs from its host class `settings`,
`store`, `faults`, `smsc` and `_pump_network()` (called after anything that frees room,
so the network can hand over what it holds).
"""

from __future__ import annotations

import logging

from .at import CHARSETS, Reply, cms, error, ok, to_int, unquote
from .store import STAT_READ, STAT_UNREAD, tpdu_length

logger = logging.getLogger(__name__)


class SmsCommandSet:
    """Handlers for the SMS settings and the stores (SM, ME, MT, SR): +CSCS ... +CMGS."""

    def _at__cscs(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            return ok(f'+CSCS: "{self.settings.cscs}"')
        if op == "=?":
            return ok("+CSCS: (" + ",".join(f'"{c}"' for c in CHARSETS) + ")")
        charset = unquote(args[0]).upper() if args else ""
        if charset not in CHARSETS:
            return error()
        self.settings.cscs = charset
        return ok()

    def _at__cmgf(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            return ok(f"+CMGF: {self.settings.cmgf}")
        if op == "=?":
            return ok("+CMGF: (0)")
        return ok() if args and args[0].strip() == "0" else error()  # PDU mode only

    def _at__csca(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            return ok(f'+CSCA: "{self.smsc}",145')
        if op == "=" and args and unquote(args[0]):
            self.smsc = unquote(args[0])
            return ok()
        return ok() if op == "=?" else error()

    def _at__csmp(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            return ok(f"+CSMP: {self.settings.csmp}")
        if op == "=" and args:
            self.settings.csmp = ",".join(a.strip() for a in args)
        return ok()

    def _at__cnmi(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            return ok("+CNMI: " + ",".join(map(str, self.settings.cnmi)))
        if op == "=?":
            return ok("+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)")
        values = [to_int(a) if a.strip() else 0 for a in args]
        if not values or None in values or len(values) > 5:
            return cms(303)
        if self.faults.cnmi_fallback_only and len(values) > 3 and values[3] == 2:
            return cms(303)  # <ds>=2 (store reports, +CDSI) not supported: only +CDS to the TE
        self.settings.cnmi = tuple(values + [0] * (5 - len(values)))
        return ok()

    def _at__cpms(self, op: str, args: list[str]) -> Reply:
        if op == "=?":
            groups = ("(" + ",".join(f'"{m}"' for m in group) + ")" for group in self.spec.memories)
            return ok("+CPMS: " + ",".join(groups))
        if op == "?":
            return ok("+CPMS: " + ",".join(
                '"{}",{},{}'.format(m, *self._store_usage(m)) for m in self.settings.memories))
        wanted = [unquote(a).upper() for a in args if a.strip()]
        if not wanted or len(wanted) > 3 or any(m not in self.spec.accepted_memories for m in wanted):
            return cms(302)
        self.settings.memories = tuple(wanted + list(self.settings.memories[len(wanted):]))[:3]
        return ok("+CPMS: " + ",".join("{},{}".format(*self._store_usage(m)) for m in self.settings.memories))

    def _report_lines(self) -> list[str]:
        """Huawei lines a listing carries between a header and its PDU (none on most modems)."""
        if self.faults.report_in_listing > 0:
            return [self.faults.report_line]
        if self.spec.huawei_reports and self.curc:
            return [f"^RSSI:{self.signal}"]
        return []

    # --- SMS store ------------------------------------------------------------------

    def _at__cmgl(self, op: str, args: list[str]) -> Reply:
        if op == "=?":
            return ok("+CMGL: (0-4)")
        stat = to_int(args[0]) if args and args[0].strip() else STAT_UNREAD
        if stat not in range(5):
            return cms(302)
        lines = []
        store, noise = self.store, self._report_lines()
        for sms in store.list(stat):
            lines += [f"+CMGL: {store.index_of(sms)},{sms.stat},,{tpdu_length(sms.pdu)}", *noise, sms.pdu]
            if sms.stat == STAT_UNREAD:
                sms.stat = STAT_READ
        if noise and lines and self.faults.report_in_listing > 0:
            self.faults.report_in_listing -= 1
        return ok(*lines)

    def _at__cmgr(self, op: str, args: list[str]) -> Reply:
        if op == "=?":
            return ok()
        index = to_int(args[0]) if args else None
        sms = self.store.get(index) if index is not None else None
        if sms is None:
            return cms(321)
        reply = ok(f"+CMGR: {sms.stat},,{tpdu_length(sms.pdu)}", *self._report_lines(), sms.pdu)
        if sms.stat == STAT_UNREAD:
            sms.stat = STAT_READ
        return reply

    def _at__cmgd(self, op: str, args: list[str]) -> Reply:
        if op == "=?":
            return ok(f"+CMGD: (1-{self.store.capacity}),(0-4)")
        index = to_int(args[0]) if args else None
        flag = to_int(args[1]) if len(args) > 1 and args[1].strip() else 0
        if flag not in range(5) or index is None:
            return cms(302 if index is not None else 321)
        if flag == 0:
            if not self.store.valid_index(index):
                return cms(321)
            self.store.delete(index)
        else:
            self.store.delete_flagged(flag)
        self._pump_network()
        return ok()

    def _at__cmgs(self, op: str, args: list[str]) -> Reply:
        if op == "=?":
            return ok()
        length = to_int(args[0]) if op == "=" and args else None
        if self.settings.cmgf != 0 or length is None or not 7 <= length <= 175:
            return cms(304)
        return Reply(prompt=length)

    def _store_usage(self, memory: str) -> tuple[int, int]:
        """(used, total) of one store for +CPMS; the sim_full fault makes it look full."""
        store = self.stores[memory]
        if self.faults.sim_full:
            return store.capacity, store.capacity
        return store.used, store.capacity

    def _accepts(self, kind: str) -> str:
        """How CNMI routes an arriving message: "store+cmti", "store", or "direct"."""
        mt, ds = self.settings.cnmi[1], self.settings.cnmi[3]
        mode = mt if kind != "status-report" else {0: 0, 1: 2, 2: 1}.get(ds, 0)
        return {0: "store", 1: "store+cmti", 2: "direct", 3: "direct"}.get(mode, "store")
