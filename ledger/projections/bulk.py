"""Bulk insert by COPY. Straight into the table, the usual case: tracking skips what a
projection has applied, so each row is written once, as a raw COPY does. When rows may be
there already (store.apply retries a batch that met one), through a per-connection staging
table and one INSERT … ON CONFLICT DO NOTHING, so a replayed row is a no-op.

Rows arrive either as Python values, formatted while they are sent, or already formatted as
COPY text (`encode`): the projector formats a batch's rows on its polling thread, so the
thread that holds the transaction only ships bytes and waits on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import Cursor, sql
from psycopg._copy_base import format_row_text
from psycopg.adapt import Transformer


class Encoded:
    """Rows in COPY text format (what `Copy.write_row` would send for them)."""

    __slots__ = ("count", "data")

    def __init__(self, data: bytearray, count: int) -> None:
        self.data, self.count = data, count


_local = threading.local()


def encode(rows: Iterable[Sequence[Any]], *, after: Encoded | None = None) -> Encoded:
    """Format rows as COPY text (after those already formatted, which are left as they are),
    without a connection: the default adapters (those the projection connections use),
    UTF-8. Each thread has a transformer of its own."""
    tx = getattr(_local, "tx", None)
    if tx is None:
        tx = _local.tx = Transformer()
    out = bytearray(after.data) if after is not None else bytearray()
    count = after.count if after is not None else 0
    for row in rows:
        format_row_text(row, tx, out)
        count += 1
    return Encoded(out, count)


def copy_insert(cur: Cursor[Any], schema: str, table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]] | Encoded, *, rows_may_exist: bool = False) -> None:
    if not (rows.count if isinstance(rows, Encoded) else rows):
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
          rows: Sequence[Sequence[Any]] | Encoded) -> None:
    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, cols)) as copy:
        if isinstance(rows, Encoded):
            copy.write(memoryview(rows.data))
        else:
            for row in rows:
                copy.write_row(row)
