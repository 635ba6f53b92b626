"""`ledger replay`: rebuild the projections from the topic into a fresh schema, then switch.

The live projector keeps serving the old schema meanwhile; the switch is one UPDATE of the
generation pointer, and the live projector re-seeks from the new schema's own tracking.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from psycopg import sql

from consumers.projector import Projector
from ledger.db import Database
from ledger.projections import store


def rebuild(database_url: str, bootstrap: str, topic: str,
            report: Callable[[int, int], None] = lambda done, total: None) -> str:
    db = Database(database_url, max_size=2)
    try:
        store.setup(db)
        schema = f"proj_{time.time_ns() // 1000}"
        with db.transaction() as conn:
            old = store.active_schema(conn)
            store.create_schema(conn, schema)
        projector = Projector(db=db, bootstrap=bootstrap, topic=topic, group_id=None,
                              schema=schema)
        try:
            while True:
                ends = projector.end_offsets()
                total = sum(ends.values())
                while sum(projector.positions().values()) < total:
                    projector.poll_once(timeout_ms=500)
                    report(sum(projector.positions().values()), total)
                with db.transaction() as conn:
                    conn.execute("SELECT 1 FROM projection_generation FOR UPDATE")
                    caught_up = _caught_up(projector)
                    if caught_up:
                        conn.execute("UPDATE projection_generation SET schema_name = %s, "
                                     "switched_at = now()", (schema,))
                if caught_up:
                    break
        finally:
            projector.close()
        _drop_older(db, keep={schema, old})
        return schema
    finally:
        db.close()


def _caught_up(projector: Projector) -> bool:
    """Nothing left to read. The consumer's position, not the tracking, says so: it also
    steps over transaction markers and aborted records (a killed relay leaves some at a
    partition's tail), which no projection ever tracks. Every polled record is applied
    before poll_once returns."""
    ends = projector.end_offsets()
    positions = projector.positions()
    return all(positions[p] >= end for p, end in ends.items())


def _drop_older(db: Database, keep: set[str]) -> None:
    with db.transaction() as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'proj\\_%'"
                            ).fetchall()
        for row in rows:
            if row["nspname"] not in keep:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(
                    sql.Identifier(row["nspname"])))
