"""Personal data sealed with a key per data subject (AES-256-GCM); erasure destroys the key.

Ciphertext is `v1.<base64url(nonce || ciphertext+tag)>`; the subject id is bound as associated
data so a sealed value cannot be moved to another person. Keys live in PostgreSQL outside the
event store, so events and Kafka records only ever hold ciphertext ("crypto-shredding").

Envelope encryption: `subject_keys.key` holds each key wrapped by a master key kept in a file
outside PostgreSQL (`ledger.masterkey`), and `wrapped_by` names that master key (NULL: a raw key
from before envelope encryption, wrapped by `KeyStore.wrap_legacy` at start-up). A database dump
or backup alone therefore opens nothing. Callers only ever see raw 32-byte keys.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.db import Database
from ledger.masterkey import MasterKeyError, MasterKeyMissing, MasterKeyring

PREFIX = "v1."
ERASED = "[erased]"


class SubjectErased(Exception):
    """The subject's key is gone: the data can no longer be read."""


# Taken shared by every write that wraps with the current master key, exclusive by the check
# that decides which old master keys no row uses any more (see KeyStore.rotate_master).
WRAP_LOCK = 7202
# One master-key rotation at a time.
ROTATE_LOCK = 7203
BATCH = 500
log = logging.getLogger(__name__)


class KeyStore:
    def __init__(self, db: Database, keyring: MasterKeyring) -> None:
        self.db = db
        self.keyring = keyring

    def _writing(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        """Before wrapping in this transaction: hold the wrap lock (so no master key is retired
        under us) and make sure we wrap with the master key that is current now."""
        conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (WRAP_LOCK,))
        self.keyring.refresh()

    def _unwrap(self, subject_id: uuid.UUID, row: Mapping[str, Any]) -> bytes:
        stored = bytes(row["key"])
        if row["wrapped_by"] is None:
            return stored  # a legacy raw key, not wrapped yet
        return self.keyring.unwrap(row["wrapped_by"], subject_id, stored)

    def create(self, subject_id: uuid.UUID) -> bytes:
        key = AESGCM.generate_key(bit_length=256)
        with self.db.transaction() as conn:
            self._writing(conn)
            wrapped_by, wrapped = self.keyring.wrap(subject_id, key)
            row = conn.execute(
                "INSERT INTO subject_keys (subject_id, key, wrapped_by) VALUES (%s, %s, %s) "
                "ON CONFLICT (subject_id) DO UPDATE SET subject_id = EXCLUDED.subject_id "
                "RETURNING key, wrapped_by", (subject_id, wrapped, wrapped_by)).fetchone()
        assert row is not None
        return self._unwrap(subject_id, row)

    def get(self, subject_id: uuid.UUID) -> bytes | None:
        with self.db.reading() as conn:
            row = conn.execute("SELECT key, wrapped_by FROM subject_keys WHERE subject_id = %s",
                               (subject_id,)).fetchone()
        return None if row is None else self._unwrap(subject_id, row)

    def get_many(self, subject_ids: set[uuid.UUID]) -> dict[uuid.UUID, bytes]:
        if not subject_ids:
            return {}
        with self.db.reading() as conn:
            rows = conn.execute("SELECT subject_id, key, wrapped_by FROM subject_keys "
                                "WHERE subject_id = ANY(%s)", (list(subject_ids),)).fetchall()
        return {row["subject_id"]: self._unwrap(row["subject_id"], row) for row in rows}

    # -- master keys --------------------------------------------------------------------------
    def _rewrap_batch(self, where: str, params: tuple[Any, ...], batch: int,
                      skip_locked: bool) -> int:
        """Wrap one batch of rows matching `where` with the current master key, in one
        transaction: the rows are locked, re-read and updated together, so it is idempotent.
        With `skip_locked`, rows another transaction holds are left to it."""
        with self.db.transaction() as conn:
            self._writing(conn)
            rows = conn.execute(
                f"SELECT subject_id, key, wrapped_by FROM subject_keys WHERE {where} "
                f"ORDER BY subject_id LIMIT %s FOR UPDATE{' SKIP LOCKED' if skip_locked else ''}",
                (*params, batch)).fetchall()
            updates = []
            for row in rows:
                wrapped_by, wrapped = self.keyring.wrap(row["subject_id"],
                                                        self._unwrap(row["subject_id"], row))
                updates.append((wrapped, wrapped_by, row["subject_id"]))
            if updates:
                with conn.cursor() as cur:
                    cur.executemany("UPDATE subject_keys SET key = %s, wrapped_by = %s "
                                    "WHERE subject_id = %s", updates)
        return len(updates)

    def wrap_legacy(self, batch: int = BATCH) -> int:
        """Wrap every raw key left from before envelope encryption (rows with `wrapped_by IS
        NULL`), a batch per transaction; safe to run from several processes at once. Return
        how many this call wrapped. Logs an error if some rows are wrapped by master keys this
        keyring does not hold (a wrong or lost master key file)."""
        total = 0
        while done := self._rewrap_batch("wrapped_by IS NULL", (), batch, skip_locked=True):
            total += done
        if total:
            log.info("wrapped %d legacy subject keys with master key %s", total,
                     self.keyring.current)
        unknown = self.unknown_master_keys()
        if unknown:
            log.error("subject keys are wrapped by master keys missing from %s: %s; their "
                      "personal data cannot be read", self.keyring.path, ", ".join(sorted(unknown)))
        return total

    def _master_keys_in_use(self) -> set[str]:
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT DISTINCT wrapped_by FROM subject_keys "
                                "WHERE wrapped_by IS NOT NULL").fetchall()
        return {row["wrapped_by"] for row in rows}

    def unknown_master_keys(self) -> set[str]:
        """Master key ids used by some row and absent from the keyring."""
        unknown = self._master_keys_in_use() - self.keyring.key_ids
        if unknown:
            self.keyring.refresh()
            unknown -= self.keyring.key_ids
        return unknown

    def rotate_master(self, batch: int = BATCH) -> dict[str, Any]:
        """Wrap every subject key with a new master key, then retire the old master keys.

        1. `keyring.rotate()` writes the file with a new current key, the old ones kept.
        2. Rows not wrapped by the new key are re-wrapped, a batch per transaction (the rows of
           a batch are locked, re-read and updated together: idempotent).
        3. Holding the wrap lock exclusively (so no write is wrapping with an old key), the
           master keys no row uses any more are dropped from the file; if a concurrent write
           still used an old key, step 2 runs again first.
        A crash anywhere leaves rows wrapped by the old or the new key and both keys in the
        file, so every key stays readable; running the rotation again finishes the job (and
        retires the keys left over). Events are never touched: the sealed values in them stay
        exactly as they are. One rotation at a time (a PostgreSQL advisory lock)."""
        with self.db.pool.connection() as lock_conn:
            lock_conn.autocommit = True
            got = lock_conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (ROTATE_LOCK,)).fetchone()
            if not (got and got["ok"]):
                raise MasterKeyError("another master key rotation is running")
            try:
                unknown = self.unknown_master_keys()
                if unknown:
                    raise MasterKeyMissing(
                        f"subject keys are wrapped by master keys missing from "
                        f"{self.keyring.path}: {', '.join(sorted(unknown))}; refusing to rotate")
                new = self.keyring.rotate()
                rewrapped = 0
                retired: list[str] = []
                for _ in range(5):
                    while done := self._rewrap_batch("wrapped_by IS DISTINCT FROM %s", (new,),
                                                     batch, skip_locked=False):
                        rewrapped += done
                    with self.db.transaction() as conn:
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRAP_LOCK,))
                        left = conn.execute("SELECT count(*) AS n FROM subject_keys "
                                            "WHERE wrapped_by IS DISTINCT FROM %s", (new,)).fetchone()
                        if left and left["n"] == 0:
                            retired = self.keyring.retire(self.keyring.key_ids - {new})
                            break
                else:
                    log.warning("rows kept being written with an old master key; old master keys "
                                "kept: run the rotation again")
            finally:
                lock_conn.execute("SELECT pg_advisory_unlock(%s)", (ROTATE_LOCK,))
                lock_conn.autocommit = False
        return {"key_id": new, "rewrapped": rewrapped, "retired": retired}

    def destroy(self, subject_id: uuid.UUID) -> None:
        """Overwrite, then delete the key, and scrub the subject's stored idempotent responses.
        This process's cipher for the key, if seal or unseal kept one, is dropped too."""
        key = self.get(subject_id)
        if key is not None:
            _CIPHERS.pop(key, None)
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


# seal and unseal keep the AESGCM object of the last keys used (making one costs as much as
# sealing a short value with it): a small bounded cache, most recently used last.
_CIPHERS: dict[bytes, AESGCM] = {}
_CIPHERS_MAX = 4096
# Nonces: 12 fresh bytes from os.urandom per value, read NONCE_BLOCK values at a time and
# handed out each once: by an iterator over the block's nonces, whose next() no other thread
# can interleave with (it runs in C, under the GIL), so no lock is taken per nonce. A block
# is read under a lock, and dropped in a forked child (the fork hook), so a parent and its
# child never hand out the same bytes.
NONCE_BLOCK = 256


class _Nonces:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.forget()

    def forget(self) -> None:
        self.left: Iterator[bytes] = iter(())

    def take(self) -> bytes:
        nonce = next(self.left, None)
        if nonce is not None:
            return nonce
        with self.lock:  # a new block; what is left of the one before is never handed out
            block = os.urandom(12 * NONCE_BLOCK)
            self.left = iter([block[at:at + 12] for at in range(12, len(block), 12)])
            return block[:12]


_nonces = _Nonces()
os.register_at_fork(after_in_child=_nonces.forget)


def _cipher(key: bytes) -> AESGCM:
    if type(key) is not bytes:  # e.g. a bytearray: not a dict key
        return AESGCM(key)
    cipher = _CIPHERS.pop(key, None)
    if cipher is None:
        cipher = AESGCM(key)
        if len(_CIPHERS) >= _CIPHERS_MAX:
            # the least recently used (unless another thread changes the dict meanwhile)
            with contextlib.suppress(RuntimeError, StopIteration):
                _CIPHERS.pop(next(iter(_CIPHERS)), None)
    _CIPHERS[key] = cipher
    return cipher


_INT64 = range(-(1 << 63), 1 << 63)


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether orjson writes exactly the bytes of `_json` for the value: strings, dicts with
    string keys, lists and tuples, None, booleans and 64-bit ints only (never a subclass: no
    float, UUID, date, enum or dataclass, which one of the two writes otherwise or refuses)."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return value in _INT64
    if depth > 64:
        return False
    if kind is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_plain(v, depth + 1) for v in value)
    return False


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _plaintext(value: Any) -> bytes:
    """The UTF-8 JSON that is sealed: `_json(value)`, written by orjson when it writes the same
    bytes (tests/unit/test_privacy_seal.py), json otherwise (a lone surrogate: orjson
    refuses it, json's bytes cannot be encoded either)."""
    if type(value) is str or _plain(value):
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:
            pass
    return _json(value)


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def seal(key: bytes, subject_id: uuid.UUID, value: Any) -> str:
    nonce = _nonces.take()
    ciphertext = _cipher(key).encrypt(nonce, _plaintext(value), subject_id.bytes)
    # base64.urlsafe_b64encode's steps, without its two Python calls
    return PREFIX + binascii.b2a_base64(nonce + ciphertext, newline=False).translate(
        _URLSAFE).decode()


def unseal(key: bytes | None, subject_id: uuid.UUID, sealed: str) -> Any:
    if key is None or len(key) != 32:  # no key, or not a key (e.g. still wrapped): unreadable
        raise SubjectErased(str(subject_id))
    if not sealed.startswith(PREFIX):
        raise ValueError("not a sealed value")
    raw = base64.urlsafe_b64decode(sealed[len(PREFIX):])
    try:
        plaintext = _cipher(key).decrypt(raw[:12], raw[12:], subject_id.bytes)
    except InvalidTag as err:
        raise SubjectErased(str(subject_id)) from err
    return json.loads(plaintext)
