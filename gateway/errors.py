"""TinBao's own exceptions: one short hierarchy under one base class.

Loops catch these (and log anything else with ``logger.exception``) and carry on; web
views turn them into a flash message or a clear HTTP error.
"""


class TinBaoError(Exception):
    """Base class of every error the gateway raises on purpose."""


class ConfigError(TinBaoError):
    """A config value is missing or wrong; the message names the key in one line."""


class PduError(TinBaoError):
    """An SMS PDU could not be decoded (malformed, truncated, unsupported)."""


class EncodingError(TinBaoError):
    """A text could not be encoded for SMS (should not happen: UCS-2 takes anything)."""


class ModemError(TinBaoError):
    """The modem could not be reached or did not do what it was asked."""


class ModemUnavailable(ModemError):
    """No usable modem: port missing or busy, SIM locked, no network."""


class ModemRefused(ModemError):
    """The modem answered a command with ERROR (``+CME ERROR``/``+CMS ERROR``): it is there, it said no."""


class SendError(ModemError):
    """One SMS part was refused or timed out; ``retryable`` says whether to try again.

    ``code`` is the ``+CMS ERROR`` number when the network or the modem gave one, and
    ``timeout`` says the modem never confirmed: the SIM area reads both to tell a refusal of
    the line (barred, no credit) from one of the message.
    """

    def __init__(self, message: str, *, retryable: bool = True, code: int | None = None,
                 timeout: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.timeout = timeout


class NoNetwork(SendError):
    """The modem refused a send with ``+CMS ERROR: 331``: no network, not the message's fault.

    Any ``Transport`` raises it so (``gateway.modem.types``): the worker then backs off and
    never gives the part up.
    """
