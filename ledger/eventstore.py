"""eventsourcing's PostgreSQL settings, derived from one database URL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier

from ledger.db import check_alive
from ledger.eventrows import HEADER, TRAILER
from ledger.groupcommit import GroupCommit

# One call writes a command's (or a group's) events and marks its claims: the table lock,
# NOTIFY, the insert and the marks (each claim with the id of its command's last event; a
# data-modifying WITH runs to completion whether or not the query reads it), in the one
# transaction of one statement.
WRITE_FUNCTION = """
CREATE OR REPLACE FUNCTION {function}(
    ids uuid[], versions bigint[], topics text[], states bytea[],
    scopes text[], claim_keys text[], resources uuid[], last_ids uuid[], last_versions bigint[])
RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$
BEGIN
    SET LOCAL lock_timeout = '{lock_timeout}s';
    LOCK TABLE {table} IN EXCLUSIVE MODE;
    NOTIFY {channel};
    RETURN QUERY
    WITH new AS (
        INSERT INTO {table} (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(ids, versions, topics, states)
        RETURNING notification_id, originator_id, originator_version
    ), claimed AS (
        UPDATE idempotency AS i SET committed_id = c.resource,
                                    committed_position = new.notification_id
        FROM unnest(scopes, claim_keys, resources, last_ids, last_versions)
             AS c(scope, key, resource, originator_id, originator_version)
        JOIN new USING (originator_id, originator_version)
        WHERE i.scope = c.scope AND i.key = c.key
    )
    SELECT new.notification_id FROM new ORDER BY new.notification_id;
END;
$BODY$
"""
WRITE = "SELECT * FROM {function}(%b, %b, %s, %b, %s, %s, %b, %b, %b)"
WRITE_FUNCTION_NAME = "ledger_write_events"


class LedgerRecorder(PostgresApplicationRecorder):
    """Marks the Idempotency-Key of the command as committed in the same transaction as its
    events, so a retry after a crash knows the command took effect and where.

    Commands saved concurrently by one process are written together (ledger/groupcommit.py),
    each with its own ids and claim, in one transaction.

    Why its own insert: eventsourcing's insert waits for the server twice inside its
    transaction (a pipeline sync after the INSERT to read the ids back, then the claim's
    UPDATE and COMMIT), holding the table lock, which serialises every writer of every
    process, all the while; a thread that then waits for its turn to run Python (the GIL)
    keeps every other writer waiting too. Its public API also offers no statement to run
    inside the insert transaction, which marking the claim needs. Here one call of a
    function created with the tables (WRITE_FUNCTION) does all of it, marks included: one
    statement, hence one transaction and one round trip, so the lock is held for the
    server's work and the commit only. The claim arrives as the ``idempotency`` keyword of
    ``Application.save``. Same retries as eventsourcing's insert.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group_commit = GroupCommit(self._write, self._insert_alone)
        schema = self.datastore.schema
        function = Identifier(schema, WRITE_FUNCTION_NAME)
        # Created with eventsourcing's tables, by create_table (ledger.container takes turns).
        self.sql_create_statements.append(SQL(WRITE_FUNCTION).format(
            function=function, lock_timeout=self.datastore.lock_timeout,
            table=Identifier(schema, self.events_table_name),
            channel=Identifier(self.channel_name)))
        self.write_statement = SQL(WRITE).format(function=function).as_bytes(None)  # once

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        return self.group_commit.submit(stored_events, **kwargs)

    def _insert_alone(self, stored_events: Sequence[StoredEvent],
                      idempotency: tuple[str, str, Any] | None = None,
                      tracking: object = None) -> Sequence[int] | None:
        if tracking is not None:  # eventsourcing's process applications; not the ledger's
            raise NotImplementedError("the ledger's recorder does not record tracking")
        if not stored_events:
            return None
        claims = [(*idempotency, len(stored_events) - 1)] if idempotency else []
        ids: list[int] = self._write(stored_events, claims)
        return ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _write(self, stored_events: Sequence[StoredEvent],
               claims: list[tuple[str, str, Any, int]]) -> list[int]:
        """The events and the claims (scope, key, resource id, index of the command's last
        event) in one transaction and one round trip; the events' notification ids."""
        lasts = [stored_events[last] for *_, last in claims]
        params = ([e.originator_id for e in stored_events],
                  [e.originator_version for e in stored_events],
                  [e.topic for e in stored_events], [e.state for e in stored_events],
                  [c[0] for c in claims], [c[1] for c in claims], [c[2] for c in claims],
                  [e.originator_id for e in lasts], [e.originator_version for e in lasts])
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as curs:
            assert conn.autocommit  # the statement is its own transaction
            return [row[0] for row in curs.execute(self.write_statement, params,
                                                   prepare=True).fetchall()]

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
