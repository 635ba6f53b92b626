"""The expiry role: offers past their valid_until and needs past their needed_by expire.

What is still open is taken back; matches already made stay and can still be fulfilled.
"""

from __future__ import annotations

import logging
import threading
from datetime import date

from ledger.application import SYSTEM_EXPIRY, ConcurrencyConflict, LedgerApplication, NotFound
from ledger.commands import Expire
from ledger.domain import DomainError
from ledger.projections.queries import Reads

log = logging.getLogger(__name__)


def expire_due(app: LedgerApplication, reads: Reads, today: date | None = None) -> int:
    """Expire every item due as of today (per the projections); return how many."""
    expired = 0
    for row in reads.due_items((today or date.today()).isoformat()):
        try:
            app.handle(Expire(row["territory"], row["kind"], row["id"]), SYSTEM_EXPIRY)
            expired += 1
        except (DomainError, NotFound, ConcurrencyConflict) as err:
            # Already ended, or changed meanwhile: the next round sees the projection's truth.
            log.info("not expiring %s %s: %s", row["kind"], row["id"], err)
    return expired


def run(app: LedgerApplication, reads: Reads, stopping: threading.Event,
        interval: float = 60.0) -> None:
    while not stopping.is_set():
        count = expire_due(app, reads)
        if count:
            log.info("expired %d items", count)
        stopping.wait(interval)
