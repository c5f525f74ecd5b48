"""Which modem the emulator pretends to be: identity, registration, stores and quirks, as data.

Like python-gsmmodem's ``test/fakemodems.py``, each model is a table of answers rather than
code: the AT layer asks the model how to answer ``AT+CREG?`` on an LTE-only attach, which
stores ``AT+CPMS=?`` offers, which command turns network time on, and whether the modem
slips Huawei ``^RSSI`` lines into its replies. ``ModemEmulator(model="ec25")`` picks one;
the default, ``"emulator"``, answers exactly as the emulator always has.

The answers come from the vendors' AT manuals and from MODEM_NOTES.md (Vietnam switched 2G
off, so only the LTE models register there; ``sim800`` stays for the 2G profile's tests).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModemModel:
    """How one kind of modem answers what differs between kinds."""

    name: str
    manufacturer: str  # AT+CGMI
    model: str  # AT+CGMM
    revision: str  # AT+CGMR
    act: int = 7  # the access technology AT+COPS? reports: 0 GSM, 2 UTRAN (3G), 7 E-UTRAN (LTE)
    lte_only: bool = False  # attach on LTE: +CREG: 0,0 while +CGREG/+CEREG say 0,1
    cereg: bool = True  # knows AT+CEREG (2G-only modems answer ERROR)
    # What AT+CPMS=? offers for <mem1>, <mem2>, <mem3>; every name listed is accepted.
    memories: tuple[tuple[str, ...], ...] = (("ME", "SM"), ("ME", "SM"), ("ME", "SM"))
    also_accepted: tuple[str, ...] = ("MT",)  # taken by AT+CPMS= though AT+CPMS=? leaves them out
    report_memory: str | None = None  # where status reports go (SIMCom: "SR"); None: <mem3>
    serving_cell: str = ""  # "cpsi" (SIMCom AT+CPSI?), "qcsq" (Quectel AT+QCSQ), "hcsq" (Huawei AT^HCSQ?)
    network_time: str = ""  # "+CLTS" or "+CTZU": AT+CCLK? is network time only once that is 1
    huawei_reports: bool = False  # ^RSSI lines inside listings until AT^CURC=0

    @property
    def accepted_memories(self) -> frozenset[str]:
        return frozenset(m for group in self.memories for m in group) | set(self.also_accepted)


_SIMCOM_MEMORIES = (("ME", "MT", "SM", "SR"), ("ME", "MT", "SM", "SR"), ("ME", "MT", "SM", "SR"))
_QUECTEL_MEMORIES = (("SM", "ME", "MT"), ("SM", "ME", "MT"), ("SM", "ME", "MT"))

MODELS: dict[str, ModemModel] = {
    model.name: model
    for model in (
        # What the emulator has always been: a SIM7600 that registers on every domain.
        ModemModel("emulator", "SIMCOM INCORPORATED", "SIMCOM_SIM7600E-H",
                   "Revision: SIM7600M22_V2.0 (TinBao emulator)", cereg=False, also_accepted=("MT", "SR")),
        ModemModel("sim800", "SIMCOM_Ltd", "SIMCOM_SIM800L", "Revision:1418B05SIM800L24",
                   act=0, cereg=False, memories=(("SM", "ME", "MT"),) * 3),
        ModemModel("sim7600", "SIMCOM INCORPORATED", "SIMCOM_SIM7600E-H", "Revision: SIM7600M22_V2.0",
                   lte_only=True, memories=_SIMCOM_MEMORIES, report_memory="SR", serving_cell="cpsi",
                   network_time="+CLTS"),
        ModemModel("a7670", "SIMCOM INCORPORATED", "A7670E-LASE", "Revision: A7670M7_V1.11.1",
                   lte_only=True, memories=_SIMCOM_MEMORIES, report_memory="SR", serving_cell="cpsi",
                   network_time="+CTZU"),
        ModemModel("ec25", "Quectel", "EC25", "Revision: EC25EFAR06A06M4G", lte_only=True,
                   memories=_QUECTEL_MEMORIES, serving_cell="qcsq", network_time="+CTZU"),
        ModemModel("e3372", "huawei", "E3372", "21.180.01.00.00", lte_only=True,
                   memories=(("SM", "ME"), ("SM", "ME"), ("SM", "ME")), serving_cell="hcsq",
                   huawei_reports=True),
    )
}


def get_model(name: str | ModemModel) -> ModemModel:
    """The named model (or the one given), ValueError naming the choices otherwise."""
    if isinstance(name, ModemModel):
        return name
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown modem model {name!r}: one of {', '.join(sorted(MODELS))}") from None
