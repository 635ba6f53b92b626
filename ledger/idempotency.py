"""Durable idempotency records: one per (scope, key), claimed before the command runs.

Stored responses that concern a data subject are sealed with the subject's key, and erasure
scrubs them (see KeyStore.destroy), so no readable personal data survives here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psycopg.types.json import Jsonb

from ledger.db import Database

STALE_AFTER = timedelta(seconds=30)

@dataclass(frozen=True)
class Stored:
    fingerprint: str | None
    completed: bool
    stale: bool
    status_code: int | None
    subject_id: uuid.UUID | None
    body_sealed: str | None
    body_redacted: dict[str, Any] | None
    committed_id: uuid.UUID | None
    committed_position: int | None


class IdempotencyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, scope: str, key: str, fingerprint: str) -> Stored | None:
        """None when this call owns the key now; else what an earlier call left."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO idempotency (scope, key, fingerprint) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING key", (scope, key, fingerprint)).fetchone()
            if row is not None:
                return None
            row = conn.execute(
                "SELECT fingerprint, completed_at IS NOT NULL AS completed, "
                "created_at < now() - %s AS stale, status_code, subject_id, body_sealed, "
                "body_redacted, committed_id, committed_position FROM idempotency "
                "WHERE scope = %s AND key = %s",
                (STALE_AFTER, scope, key)).fetchone()
        if row is None:  # released meanwhile: try again
            return self.claim(scope, key, fingerprint)
        return Stored(row["fingerprint"], row["completed"], row["stale"], row["status_code"],
                      row["subject_id"], row["body_sealed"], row["body_redacted"],
                      row["committed_id"], row["committed_position"])

    def take_over(self, scope: str, key: str) -> bool:
        """Take over a claim whose owner died before completing it."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE idempotency SET created_at = now() WHERE scope = %s AND key = %s "
                "AND completed_at IS NULL AND committed_id IS NULL AND created_at < now() - %s",
                (scope, key, STALE_AFTER))
            return cur.rowcount == 1

    def complete(self, scope: str, key: str, status_code: int, subject_id: uuid.UUID | None,
                 body_sealed: str | None, body_redacted: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE idempotency SET status_code = %s, subject_id = %s, body_sealed = %s, "
                "body_redacted = %s, completed_at = now() WHERE scope = %s AND key = %s",
                (status_code, subject_id, body_sealed, Jsonb(body_redacted), scope, key))

    def release(self, scope: str, key: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM idempotency WHERE scope = %s AND key = %s "
                         "AND completed_at IS NULL AND committed_id IS NULL", (scope, key))
