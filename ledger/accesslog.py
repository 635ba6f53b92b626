"""GDPR accountability: every response that showed a person's data in clear is logged here.

One row per (response, data subject): when, which principal, whose data, which route. The
log holds ids only, never the data itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from ledger.access import Principal
from ledger.db import Database

TABLE = """
CREATE TABLE IF NOT EXISTS access_log (
    id bigserial PRIMARY KEY,
    territory text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    principal_id text NOT NULL,
    principal_role text NOT NULL,
    subject_id uuid NOT NULL,
    method text NOT NULL,
    route text NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_territory ON access_log (territory, id);
CREATE INDEX IF NOT EXISTS access_log_subject ON access_log (subject_id);
"""


class AccessLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def setup(self) -> None:
        with self.db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(7204)")
            conn.execute(TABLE)

    def record(self, territory: str, principal: Principal, subjects: Iterable[uuid.UUID],
               method: str, route: str) -> None:
        rows = [(territory, principal.id, principal.role.value, s, method, route)
                for s in sorted(set(subjects))]
        if not rows:
            return
        with self.db.transaction() as conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO access_log (territory, principal_id, principal_role, "
                            "subject_id, method, route) VALUES (%s, %s, %s, %s, %s, %s)", rows)

    def page(self, territory: str, after: int, limit: int, subject_id: uuid.UUID | None = None,
             principal_id: str | None = None) -> list[dict[str, Any]]:
        query = ("SELECT id, at, principal_id, principal_role, subject_id, method, route "
                 "FROM access_log WHERE territory = %s AND id > %s")
        params: list[Any] = [territory, after]
        if subject_id is not None:
            query += " AND subject_id = %s"
            params.append(subject_id)
        if principal_id is not None:
            query += " AND principal_id = %s"
            params.append(principal_id)
        with self.db.transaction() as conn:
            return conn.execute(query + " ORDER BY id LIMIT %s", (*params, limit)).fetchall()
