"""Personal data sealed with a key per data subject (AES-256-GCM); erasure destroys the key.

Ciphertext is `v1.<base64url(nonce || ciphertext+tag)>`; the subject id is bound as associated
data so a sealed value cannot be moved to another person. Keys live in PostgreSQL outside the
event store, so events and Kafka records only ever hold ciphertext ("crypto-shredding").
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.db import Database

PREFIX = "v1."
ERASED = "[erased]"


class SubjectErased(Exception):
    """The subject's key is gone: the data can no longer be read."""


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, subject_id: uuid.UUID) -> bytes:
        key = AESGCM.generate_key(bit_length=256)
        with self.db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO subject_keys (subject_id, key) VALUES (%s, %s) "
                "ON CONFLICT (subject_id) DO UPDATE SET subject_id = EXCLUDED.subject_id "
                "RETURNING key", (subject_id, key)).fetchone()
        assert row is not None
        return bytes(row["key"])

    def get(self, subject_id: uuid.UUID) -> bytes | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT key FROM subject_keys WHERE subject_id = %s",
                               (subject_id,)).fetchone()
        return None if row is None else bytes(row["key"])

    def get_many(self, subject_ids: set[uuid.UUID]) -> dict[uuid.UUID, bytes]:
        if not subject_ids:
            return {}
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT subject_id, key FROM subject_keys WHERE subject_id = ANY(%s)",
                                (list(subject_ids),)).fetchall()
        return {row["subject_id"]: bytes(row["key"]) for row in rows}

    def destroy(self, subject_id: uuid.UUID) -> None:
        """Overwrite, then delete the key, and scrub the subject's stored idempotent responses."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE subject_keys SET key = %s WHERE subject_id = %s",
                         (bytes(32), subject_id))
            conn.execute("DELETE FROM subject_keys WHERE subject_id = %s", (subject_id,))
            conn.execute("INSERT INTO erasures (subject_id) VALUES (%s) ON CONFLICT DO NOTHING",
                         (subject_id,))
            conn.execute("UPDATE idempotency SET body_sealed = NULL, fingerprint = NULL "
                         "WHERE subject_id = %s", (subject_id,))
        # Dead tuples keep the old bytes until vacuumed: reclaim them now.
        with self.db.pool.connection() as conn:
            conn.autocommit = True
            conn.execute("VACUUM subject_keys")
            conn.execute("VACUUM idempotency")


def seal(key: bytes, subject_id: uuid.UUID, value: Any) -> str:
    nonce = os.urandom(12)
    plaintext = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, subject_id.bytes)
    return PREFIX + base64.urlsafe_b64encode(nonce + ciphertext).decode()


def unseal(key: bytes | None, subject_id: uuid.UUID, sealed: str) -> Any:
    if key is None:
        raise SubjectErased(str(subject_id))
    if not sealed.startswith(PREFIX):
        raise ValueError("not a sealed value")
    raw = base64.urlsafe_b64decode(sealed[len(PREFIX):])
    try:
        plaintext = AESGCM(key).decrypt(raw[:12], raw[12:], subject_id.bytes)
    except InvalidTag as err:
        raise SubjectErased(str(subject_id)) from err
    return json.loads(plaintext)
