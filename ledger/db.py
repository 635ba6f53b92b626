"""PostgreSQL access outside the event store: one pool, and the side tables the write side owns."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

SIDE_TABLES = """
CREATE TABLE IF NOT EXISTS subject_keys (
    subject_id uuid PRIMARY KEY,
    key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE subject_keys ADD COLUMN IF NOT EXISTS wrapped_by text;
CREATE TABLE IF NOT EXISTS erasures (
    subject_id uuid PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS idempotency (
    scope text NOT NULL,
    key text NOT NULL,
    fingerprint text,
    subject_id uuid,
    status_code int,
    body_sealed text,
    body_redacted jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    committed_id uuid,
    committed_position bigint,
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS idempotency_subject ON idempotency (subject_id);
CREATE TABLE IF NOT EXISTS relay_chain (
    territory text PRIMARY KEY,
    seq bigint NOT NULL,
    hash text NOT NULL,
    position bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS relay_checkpoint (
    id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    position bigint NOT NULL
);
-- Proofs anyone can check (ledger/tiles.py, ledger/checkpoints.py): each territory's Merkle
-- tree in tiles of 256 hashes, its signing key (private part wrapped) and signed checkpoints.
CREATE TABLE IF NOT EXISTS log_tiles (
    territory text NOT NULL,
    level smallint NOT NULL,
    idx bigint NOT NULL,
    hashes bytea NOT NULL,
    PRIMARY KEY (territory, level, idx)
);
ALTER TABLE log_tiles ALTER COLUMN hashes SET STORAGE EXTERNAL;
CREATE TABLE IF NOT EXISTS log_keys (
    territory text PRIMARY KEY,
    name text NOT NULL,
    public_key bytea NOT NULL,
    private_wrapped bytea NOT NULL,
    wrapped_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS log_checkpoints (
    territory text NOT NULL,
    size bigint NOT NULL,
    root bytea NOT NULL,
    note text NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now(),
    published boolean NOT NULL DEFAULT false,
    PRIMARY KEY (territory, size)
);
CREATE INDEX IF NOT EXISTS log_checkpoints_unpublished ON log_checkpoints (territory, size)
    WHERE NOT published;
"""


def check_alive(conn: psycopg.Connection[Any]) -> None:
    """The pools' check of a connection they hand out, at no round trip to the server: a
    connection resting in a pool has nothing to read, so a readable socket means the server
    closed it (PostgreSQL was restarted or killed) or sent an error. The pool then discards
    it and hands out another or a new one, instead of failing the caller's first statement.
    (A `SELECT 1` before every use, psycopg_pool's own check, costs a round trip each time.)"""
    if not conn.closed and not conn.broken:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
        if not readable:
            return
    conn.close()  # closed, the pool discards it (an open one would be put back and reused)
    raise psycopg.OperationalError("the server closed the connection")


class Database:
    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10,
                 timeout: float = 2.0) -> None:
        """`timeout`: how long a caller waits for a connection; with PostgreSQL down, callers
        fail fast (the API answers 503) instead of hanging."""
        self.url = url
        self.pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            url, min_size=min_size, max_size=max_size, open=True, timeout=timeout,
            check=check_alive, kwargs={"row_factory": dict_row, "autocommit": False, "connect_timeout": 2})

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A connection whose statements each commit on their own (autocommit): one round
        trip a statement instead of BEGIN, the statement and COMMIT. For reads that need no
        common snapshot, and single statements that are atomic by themselves."""
        with self.pool.connection() as conn:
            conn.autocommit = True
            try:
                yield conn
            finally:
                if not conn.closed:
                    conn.autocommit = False

    def create_side_tables(self) -> None:
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(7201)")
            conn.execute(SIDE_TABLES)

    def close(self) -> None:
        self.pool.close()
