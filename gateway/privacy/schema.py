"""The privacy area's table: its own migration set, beside the code that reads and writes it.

``data_requests``: a person's request about the data the post holds on them (see, correct,
delete, withdraw consent), from the day it reached the post to its closing. Each step is
written to the audit log with the request's reference (``YC-0001``) as its target.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao-privacy")


@migrations()
def m001_data_requests(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE data_requests (
            id INTEGER PRIMARY KEY,
            received_on TEXT NOT NULL,            -- the local day it reached the post (YYYY-MM-DD)
            recorded_at TEXT NOT NULL,
            recorded_by TEXT NOT NULL,
            requester TEXT NOT NULL,              -- the person's name, as they gave it
            contact TEXT NOT NULL,                -- how to answer them (address, phone, as given)
            channel TEXT NOT NULL,                -- in_person | phone | letter | sms | other
            kinds TEXT NOT NULL,                  -- see,correct,delete,withdraw (one or more)
            note TEXT NOT NULL DEFAULT '',
            number TEXT,                          -- the number looked up for it (E.164), once looked up
            status TEXT NOT NULL DEFAULT 'open',  -- open | acknowledged | closed
            acknowledged_at TEXT,
            acknowledged_by TEXT,
            closed_at TEXT,
            closed_by TEXT,
            outcome TEXT
        );
        CREATE INDEX data_requests_status ON data_requests(status, received_on);
        """
    )
