"""The published record format and its hash chain, checked with no project code in the loop
where possible (hashlib + rfc8785 directly)."""

from __future__ import annotations

import copy
import hashlib
import uuid
from datetime import UTC, datetime

import rfc8785

from ledger.records import GENESIS_HASH, build_record, event_id, event_type, verify_chain

T0 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _chain(n: int, territory: str = "018182") -> list[dict]:
    values, prev = [], None
    for i in range(1, n + 1):
        state = {"territory": territory, "timestamp": T0, "quantity": i, "operator_id": "op",
                 "contribution_id": uuid.UUID(int=i), "originator_topic": "x"}
        value = build_record(topic="ledger.domain.contribution:Contribution.Pledged", state=state,
                             originator_id=uuid.UUID(int=1000 + i), version=1, position=10 * i,
                             prev=prev)
        from ledger.records import ChainLink

        prev = ChainLink(value["seq"], value["hash"])
        values.append(value)
    return values


def test_record_is_a_cloudevent_with_chain_extensions() -> None:
    value = _chain(1)[0]
    assert value["specversion"] == "1.0"
    assert value["type"] == "it.ledger.contribution.pledged.v1"
    assert value["source"] == "/territories/018182"
    assert value["datacontenttype"] == "application/json"
    assert value["seq"] == 1 and value["prevhash"] == GENESIS_HASH
    assert value["data"]["contribution_id"] == str(uuid.UUID(int=1))
    assert "territory" not in value["data"] and "originator_topic" not in value["data"]


def test_hash_is_sha256_of_jcs_without_hash_member() -> None:
    for value in _chain(3):
        body = {k: v for k, v in value.items() if k != "hash"}
        assert value["hash"] == hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def test_records_are_reproducible() -> None:
    assert _chain(4) == _chain(4)
    assert event_id(uuid.UUID(int=5), 2) == event_id(uuid.UUID(int=5), 2)
    assert event_id(uuid.UUID(int=5), 2) != event_id(uuid.UUID(int=5), 3)


def test_event_type_names() -> None:
    assert event_type("ledger.domain.match:Match.FulfilmentReversed") == \
        "it.ledger.match.fulfilment_reversed.v1"


def test_chain_verifies_and_names_the_broken_seq() -> None:
    values = _chain(5)
    assert verify_chain(values) is None
    tampered = copy.deepcopy(values)
    tampered[2]["data"]["quantity"] = 999
    broken = verify_chain(tampered)
    assert broken is not None and broken.seq == 3
    reordered = [values[0], values[2], values[1], values[3], values[4]]
    broken = verify_chain(reordered)
    assert broken is not None and broken.seq == 2
