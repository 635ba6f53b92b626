"""Bulk insert: COPY into a per-connection staging table, then one INSERT … ON CONFLICT DO
NOTHING, so a batch costs two statements and a replayed row is still a no-op."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Cursor, sql


def copy_insert(cur: Cursor[Any], schema: str, table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    if not rows:
        return
    stage = sql.Identifier(f"stage_{table}")
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    cols = sql.SQL(",").join(map(sql.Identifier, columns))
    cur.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                        "ON COMMIT DELETE ROWS").format(stage, target))
    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
        for row in rows:
            copy.write_row(row)
    cur.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
        target, cols, cols, stage))
    cur.execute(sql.SQL("TRUNCATE {}").format(stage))
