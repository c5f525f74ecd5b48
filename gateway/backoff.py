"""The one back-off: how long to wait after the n-th failure before trying again.

Every retry in the gateway waits by this rule: the outbox (a part the modem refused), the
sync queue (a row a receiver refused), a sync destination that is down, and the modem
worker reconnecting to a lost port. Doubling from ``base``, capped at ``maximum``.
"""

from __future__ import annotations

import random

JITTER = 0.2  # ±20 %


def delay(attempts: int, base: float, maximum: float, *, jitter: float = JITTER) -> float:
    """Seconds to wait after ``attempts`` failures: doubling from ``base``, capped, ±``jitter``.

    Jitter keeps many gateways that lost the same uplink (or many rows that failed together)
    from all knocking at once when it comes back. No failure yet: no wait.
    """
    if attempts <= 0:
        return 0.0
    seconds = min(maximum, base * (2 ** min(attempts - 1, 30)))
    return seconds * random.uniform(1 - jitter, 1 + jitter) if jitter else seconds
