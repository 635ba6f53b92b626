"""eventsourcing's PostgreSQL settings, derived from one database URL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Connection, Cursor
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from ledger.db import check_alive
from ledger.eventrows import HEADER, TRAILER
from ledger.groupcommit import GroupCommit


class LedgerRecorder(PostgresApplicationRecorder):
    """Marks the Idempotency-Key of the command as committed in the same transaction as its
    events, so a retry after a crash knows the command took effect and where.

    Why a private hook: eventsourcing passes ``save(**kwargs)`` through to the recorder, but
    its public API offers no statement to run inside the insert transaction (process
    recorders get ``tracking``, which records a notification position, not an arbitrary key).
    Marking the key in a second transaction would reopen the crash window this closes, so
    this overrides ``_fetch_ids_after_insert_events``, the last step that runs on the insert's
    cursor; tests/e2e/test_idempotency_crash_window.py fails if a new version moves it.
    The claim arrives explicitly as the ``idempotency`` keyword of ``Application.save``.

    Commands saved concurrently by one process are written together (ledger/groupcommit.py),
    each with its own ids and claim, in one transaction.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group_commit = GroupCommit(self._insert_together, self._insert_alone)

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        return self.group_commit.submit(stored_events, **kwargs)

    def _insert_alone(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        return ids

    def _insert_together(self, stored_events: Sequence[StoredEvent],
                         claims: list[tuple[str, str, Any, int]]) -> Sequence[int]:
        ids: Sequence[int] | None = super().insert_events(stored_events, claims=claims)
        assert ids is not None
        return ids

    def _fetch_ids_after_insert_events(self, curs: Cursor[DictRow],
                                       stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        claim = kwargs.get("idempotency")
        claims = list(kwargs.get("claims") or ())
        if claim and ids:
            claims.append((*claim, len(ids) - 1))
        if claims and ids:
            curs.executemany("UPDATE idempotency SET committed_id = %s, committed_position = %s "
                             "WHERE scope = %s AND key = %s",
                             [(resource, ids[last], scope, key)
                              for scope, key, resource, last in claims])
        return ids

    def copy_events(self, rows: Iterable[bytes],
                    idempotency: tuple[str, str, Any] | None = None,
                    first: Callable[[Connection[DictRow]], None] | None = None) -> int:
        """Many events at once (`ledger import`): one transaction, the same table lock and
        NOTIFY as ``insert_events`` (so notification ids follow commit order and the relay sees
        each event once, in order), the rows by binary COPY (``rows``: chunks of rows as
        ledger.eventrows writes them, without header and trailer), the claim marked as
        ``idempotency`` does. ``first`` runs first in the transaction, before the lock (e.g.
        writing the keys the events' personal data is sealed with). Returns the last
        notification id."""
        table = Identifier(self.datastore.schema, self.events_table_name)
        with self.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor() as curs:
            if first:
                first(conn)
            self._lock_table(curs)
            self._notify_channel(curs)
            with curs.copy(SQL("COPY {} (originator_id, originator_version, topic, state) "
                               "FROM STDIN (FORMAT BINARY)").format(table)) as copy:
                copy.write(HEADER)
                for chunk in rows:
                    copy.write(chunk)
                copy.write(TRAILER)
            row = curs.execute(SQL("SELECT max(notification_id) AS last FROM {}").format(
                table)).fetchone()
            last = int(row["last"]) if row and row["last"] is not None else 0
            if idempotency:
                scope, key, resource_id = idempotency
                curs.execute("UPDATE idempotency SET committed_id = %s, committed_position = %s "
                             "WHERE scope = %s AND key = %s", (resource_id, last, scope, key))
        return last


def eventstore_env(database_url: str, *, pool_size: int = 5) -> dict[str, str]:
    params = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
        "POSTGRES_LOCK_TIMEOUT": "10",
        # With PostgreSQL down a write fails within seconds (the API answers 503).
        "POSTGRES_CONNECT_TIMEOUT": "2",
        # No `SELECT 1` before every use: install_pool_check puts a check without a round trip.
        "POSTGRES_PRE_PING": "n",
        "CREATE_TABLE": "y",
        "APPLICATION_RECORDER_TOPIC": "ledger.eventstore:LedgerRecorder",
    }


def install_pool_check(recorder: object) -> None:
    """Give eventsourcing's connection pool the same check as the ledger's own pool
    (ledger.db.check_alive: a connection the server closed is replaced before use, at no round
    trip). Why a private attribute: eventsourcing builds its pool itself and offers only
    POSTGRES_PRE_PING, a `SELECT 1` before every use (three round trips per command); the
    pool keeps its check in `_check`. tests/integration/test_pool_check.py fails if a new
    version of either library moves it."""
    pool = recorder.datastore.pool  # type: ignore[attr-defined]
    assert hasattr(pool, "_check"), "psycopg_pool no longer keeps its check in _check"
    pool._check = check_alive  # noqa: SLF001


# eventsourcing names the table after the application (LedgerApplication.name = "ledger").
EVENTS_TABLE = "ledger_events"
