"""Projection rows go in by COPY straight into the tables; a batch that meets rows already
there (tracking lost, a record seen twice at another offset) is written again through
ON CONFLICT DO NOTHING, so it changes nothing and raises nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from psycopg import sql

from ledger.container import Container
from ledger.projections import store
from ledger.projections.records import Record
from ledger.records import ChainLink, build_record
from tests.support.stack import territory_code

pytestmark = pytest.mark.integration
AT = datetime(2026, 3, 1, 8, 15, 30, 250000, tzinfo=UTC)


def _records(code: str) -> list[Record]:
    territory = build_record(
        topic="ledger.domain.territory:Territory.Registered",
        state={"territory": code, "timestamp": AT, "code": code, "name": "Comune di Prova",
               "operator_id": None},
        originator_id=uuid.uuid5(uuid.NAMESPACE_URL, code), version=1, position=1, prev=None)
    actor = build_record(
        topic="ledger.domain.actor:Actor.Registered",
        state={"territory": code, "timestamp": AT, "kind": "citizen", "display_name": None,
               "operator_id": "op-1"},
        originator_id=uuid.uuid4(), version=1, position=2,
        prev=ChainLink(1, territory["hash"]))
    return [Record.parse(0, offset, orjson.dumps(value))
            for offset, value in enumerate((territory, actor))]


def _counts(container: Container, schema: str) -> dict[str, Any]:
    with container.db.transaction() as conn:
        s = sql.Identifier(schema)
        return {t: conn.execute(sql.SQL("SELECT count(*) AS n FROM {}.{}").format(
            s, sql.Identifier(t))).fetchone()["n"]  # type: ignore[index]
            for t in ("territories", "actors", "history", "audit", "dead_letters")}


def test_a_batch_over_rows_already_there_changes_nothing(container: Container) -> None:
    schema = f"proj_writes_{uuid.uuid4().hex[:8]}"
    with container.db.transaction() as conn:
        store.create_schema(conn, schema)
    records = _records(territory_code())
    with container.db.transaction() as conn:
        assert store.apply(conn, schema, records) == 2 * len(store.PROJECTIONS)
    first = _counts(container, schema)
    assert first == {"territories": 1, "actors": 1, "history": 1, "audit": 2,
                     "dead_letters": 0}

    with container.db.transaction() as conn:  # tracking lost: every row meets itself
        conn.execute(sql.SQL("DELETE FROM {}.tracking").format(sql.Identifier(schema)))
        assert store.apply(conn, schema, records) == 2 * len(store.PROJECTIONS)
    assert _counts(container, schema) == first

    twice = [Record.parse(0, r.offset + 10, r.raw) for r in records]  # the same, later
    with container.db.transaction() as conn:
        store.apply(conn, schema, twice)
        stored = conn.execute(sql.SQL("SELECT occurred_at, record FROM {}.audit ORDER BY seq")
                              .format(sql.Identifier(schema))).fetchall()
    assert _counts(container, schema) == first
    assert [row["occurred_at"] for row in stored] == [AT, AT]
    assert [row["record"].encode() for row in stored] == [r.raw for r in records]


def test_array_literals_read_back_as_the_values(container: Container) -> None:
    """store.array_literal (the deliveries' columns, written ahead of the transaction) reads
    back in PostgreSQL as the values psycopg sends for the same list."""
    texts = ['plain', 'a "quoted" word', "back\\slash", "{braces},commas", "NULL", "",
             "tab\tnew\nline", "città €", None, " spaced "]
    # (a record's time as its text or as a datetime, mixed in one batch: psycopg refuses such
    # a list; the literal does not)
    stamps = [AT, "2026-03-01T08:15:30.250000+00:00", None]
    numbers = [0, -5, 2**40, None]
    with container.db.transaction() as conn:
        for values, same, cast in ((texts, texts, "text[]"), (stamps, [AT, AT, None],
                                                              "timestamptz[]"),
                                   (numbers, numbers, "bigint[]"),
                                   ([str(uuid.UUID(int=7)), None], [uuid.UUID(int=7), None],
                                    "uuid[]")):
            query = sql.SQL("SELECT %s::{t} AS ours, %s::{t} AS theirs").format(t=sql.SQL(cast))
            row = conn.execute(query, (store.array_literal(values), same)).fetchone()
            assert row is not None and row["ours"] == row["theirs"], cast
            assert len(row["ours"]) == len(values)
    with pytest.raises(ValueError, match="NUL"):
        store.array_literal(["nul\x00byte"])
