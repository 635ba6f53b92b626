"""Bulk insert by COPY. Straight into the table, the usual case: tracking skips what a
projection has applied, so each row is written once, as a raw COPY does. When rows may be
there already (store.apply retries a batch that met one), through a per-connection staging
table and one INSERT … ON CONFLICT DO NOTHING, so a replayed row is a no-op."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Cursor, sql


def copy_insert(cur: Cursor[Any], schema: str, table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]], *, rows_may_exist: bool = False) -> None:
    if not rows:
        return
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    cols = sql.SQL(",").join(map(sql.Identifier, columns))
    if not rows_may_exist:
        _copy(cur, target, cols, rows)
        return
    stage = sql.Identifier(f"stage_{table}")
    cur.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                        "ON COMMIT DELETE ROWS").format(stage, target))
    _copy(cur, stage, cols, rows)
    cur.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
        target, cols, cols, stage))
    cur.execute(sql.SQL("TRUNCATE {}").format(stage))


def _copy(cur: Cursor[Any], table: sql.Composable, cols: sql.Composable,
          rows: Sequence[Sequence[Any]]) -> None:
    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, cols)) as copy:
        for row in rows:
            copy.write_row(row)
