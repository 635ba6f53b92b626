"""A record no projection can apply is parked in dead_letters and the partition moves on;
it never stops the projections of the records after it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from kafka import KafkaProducer
from psycopg import sql

from consumers.projector import Projector
from infra.stack import Services
from ledger.projections import store
from ledger.records import ChainLink, build_record
from ledger.settings import Settings
from ledger.status import collect_status
from tests.support.isolated import isolated_stack


def _registered(code: str, name: str, position: int, prev: ChainLink | None) -> dict:
    state = {"territory": code, "timestamp": datetime.now(UTC), "code": code, "name": name,
             "operator_id": None}
    return build_record(topic="ledger.domain.territory:Territory.Registered", state=state,
                        originator_id=uuid.uuid5(uuid.NAMESPACE_URL, code), version=1,
                        position=position, prev=prev)


def test_unapplicable_records_are_parked(settings: Settings, services: Services) -> None:
    with isolated_stack(settings, services, "poison") as iso:
        first = _registered("100001", "Primo", 1, None)
        nul = _registered("100001", "bad\u0000name", 2, ChainLink(1, first["hash"]))
        last = _registered("100002", "Ultimo", 3, None)
        producer = KafkaProducer(bootstrap_servers=iso.bootstrap)
        for key, raw in [("100001", json.dumps(first).encode()),
                         ("100001", json.dumps(nul).encode()),
                         ("100001", b"\xff not json"),
                         ("100001", json.dumps({"specversion": "1.0"}).encode()),
                         ("100002", json.dumps(last).encode())]:
            producer.send(iso.settings.topic, key=key.encode(), value=raw)
        producer.flush()
        producer.close()

        projector = Projector(db=iso.container.db, bootstrap=iso.bootstrap,
                              topic=iso.settings.topic, group_id=None)
        try:
            # The pipelined loop of the live projector: the fallback runs in its apply thread.
            assert projector.catch_up() == 5
        finally:
            projector.close()

        with iso.container.db.transaction() as conn:
            schema = sql.Identifier(store.active_schema(conn))
            names = [r["name"] for r in conn.execute(
                sql.SQL("SELECT name FROM {}.territories ORDER BY code").format(schema))]
            parked = conn.execute(sql.SQL("SELECT kafka_offset, error FROM {}.dead_letters "
                                          "ORDER BY kafka_offset").format(schema)).fetchall()
            audit = conn.execute(sql.SQL("SELECT count(*) AS n FROM {}.audit").format(schema)
                                 ).fetchone()
        assert names == ["Primo", "Ultimo"]
        assert [p["kafka_offset"] for p in parked] == [1, 2, 3]
        assert "DataError" in parked[0]["error"]
        assert audit is not None and audit["n"] == 2
        assert iso.container.reads.applied_position("100002") == 3
        status = collect_status(iso.container)
        assert status["projections"]["dead_letters"] == 3
