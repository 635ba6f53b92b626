"""The published language, pinned: the explicit table from event class to public `type` and
version (ledger.records.EVENT_TYPES), and golden vectors: fixed events -> exact record bytes,
chain hashes and Merkle leaf hashes. If one of these fails, a change would alter what is
already published: change a vector only together with a new version of the type.

The expected values are literals; the hashes are also recomputed here with hashlib and the
rfc8785 package alone, so the vectors say what any independent implementation must get.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import rfc8785
from eventsourcing.utils import get_topic, resolve_topic

from ledger.application import LedgerApplication
from ledger.domain import AGGREGATES, LedgerAggregate, Territory
from ledger.merkle import leaf_hash, root_of
from ledger.records import (
    EVENT_TYPES,
    ChainLink,
    UnpublishedEvent,
    build_record,
    encode_record,
    event_type,
    record_bytes,
)

# Intermediate classes that are never recorded themselves.
ABSTRACT = {"Event", "Created", "QuantitiesChanged"}
T0 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def U(i: int) -> uuid.UUID:  # noqa: N802 - reads like the fixed ids it makes
    return uuid.UUID(int=i)


def event_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for aggregate in AGGREGATES:
        for name, value in vars(aggregate).items():
            if isinstance(value, type) and issubclass(value, LedgerAggregate.Event) \
                    and name not in ABSTRACT:
                found[get_topic(value)] = value
    return found


def test_every_event_class_has_a_public_type() -> None:
    missing = sorted(set(event_classes()) - set(EVENT_TYPES))
    assert not missing, f"add these event classes to EVENT_TYPES in ledger/records.py: {missing}"


def test_every_public_type_names_an_event_class_and_is_unique() -> None:
    for topic in EVENT_TYPES:
        cls = resolve_topic(topic)
        assert issubclass(cls, LedgerAggregate.Event), topic
    names = [f"{name}.v{version}" for name, version in EVENT_TYPES.values()]
    assert len(set(names)) == len(names)
    for name, version in EVENT_TYPES.values():
        assert re.fullmatch(r"it\.ledger\.[a-z]+\.[a-z_]+", name), name
        assert version >= 1


def test_published_types_never_change() -> None:
    """The names published before the table existed (derived from class names then)."""
    for topic, (name, version) in EVENT_TYPES.items():
        qualname = topic.rpartition(":")[2]
        derived = "it.ledger." + ".".join(re.sub(r"(?<!^)(?=[A-Z])", "_", p).lower()
                                          for p in qualname.split("."))
        assert (name, version) == (derived, 1), topic
    assert event_type("ledger.domain.match:Match.FulfilmentReversed") == \
        "it.ledger.match.fulfilment_reversed.v1"
    with pytest.raises(UnpublishedEvent, match="EVENT_TYPES"):
        event_type("ledger.domain.match:Match.Renamed")


# -- golden vectors: stored event states -> records ---------------------------------------------
STATES: list[tuple[str, uuid.UUID, int, dict[str, Any]]] = [
    ("ledger.domain.contribution:Contribution.Pledged", U(10), 1, {
        "originator_topic": "ledger.domain.contribution:Contribution", "contributor_id": U(1),
        "resource_kind": "time", "unit": "minute", "quantity": 600, "theme": "cts.a",
        "description_sealed": "v1.AAECAwQFBgcICQoLDA0ODxAREhMUFRYX",
        "motivation": "community_investment", "paid_time": True, "employer_id": U(2),
        "valid_until": "2026-12-31", "project_ref": None, "operator_id": "key:municipality-1"}),
    ("ledger.domain.match:Match.Reserved", U(30), 1, {
        "originator_topic": "ledger.domain.match:Match", "contribution_id": U(10),
        "request_id": U(20), "contributor_id": U(1), "beneficiary_id": U(3),
        "resource_kind": "time", "unit": "minute", "theme": "cts.a", "quantity": 60,
        "operator_id": "key:municipality-1"}),
    ("ledger.domain.contribution:Contribution.Allocated", U(10), 2, {
        "reserved": 60, "delivered": 0, "taken_back": 0, "status": "partly_allocated",
        "match_id": U(30), "quantity": 60, "operator_id": "key:municipality-1"}),
    ("ledger.domain.fulfilment:Fulfilment.Recorded", U(40), 1, {
        "originator_topic": "ledger.domain.fulfilment:Fulfilment", "match_id": U(30),
        "contribution_id": U(10), "request_id": U(20), "contributor_id": U(1),
        "beneficiary_id": U(3), "employer_id": U(2), "resource_kind": "time", "unit": "minute",
        "theme": "cts.a", "quantity": 60, "fulfilled_on": "2026-11-01",
        "note_sealed": "v1.GBkaGxwdHh8gISIjJCUmJygpKissLS4v", "operator_id": "key:ets-1"}),
    ("ledger.domain.actor:Actor.Erased", U(3), 2, {"operator_id": "key:municipality-1"}),
]

PLEDGED_BYTES = (
    b'{"data":{"contributor_id":"00000000-0000-0000-0000-000000000001","description_sealed":'
    b'"v1.AAECAwQFBgcICQoLDA0ODxAREhMUFRYX","employer_id":"00000000-0000-0000-0000-000000000002",'
    b'"motivation":"community_investment","operator_id":"key:municipality-1","paid_time":true,'
    b'"project_ref":null,"quantity":600,"resource_kind":"time","theme":"cts.a","unit":"minute",'
    b'"valid_until":"2026-12-31","version":1},"datacontenttype":"application/json","hash":'
    b'"4493c332450d631cfbb30af7409df74b53808038bd7755ee5efa2d7dc551a465","id":'
    b'"cb295f1b-702a-50a6-8265-9e920c589a0a","position":101,"prevhash":'
    b'"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"source":'
    b'"/territories/018182","specversion":"1.0","subject":"00000000-0000-0000-0000-00000000000a",'
    b'"time":"2026-11-01T09:30:00+00:00","type":"it.ledger.contribution.pledged.v1"}')
ERASED_BYTES = (
    b'{"data":{"operator_id":"key:municipality-1","version":2},"datacontenttype":'
    b'"application/json","hash":"eb835d382a9390589053f27ee95eba9a80cb7dcfaadacfe28b2c0abbe58ad6bb",'
    b'"id":"7c542ed5-4f98-589c-a0b3-c6e35d841e33","position":105,"prevhash":'
    b'"8f4a8c60d3346ed8ea8b69988fb4c00cb062bc2822696723c043db4d8738179c","seq":5,"source":'
    b'"/territories/018182","specversion":"1.0","subject":"00000000-0000-0000-0000-000000000003",'
    b'"time":"2026-11-01T09:34:00+00:00","type":"it.ledger.actor.erased.v1"}')
# (type, chain hash, leaf hash) of each record, in seq order; then the tree's root.
GOLDEN = [
    ("it.ledger.contribution.pledged.v1",
     "4493c332450d631cfbb30af7409df74b53808038bd7755ee5efa2d7dc551a465",
     "66fbf8570883445b169cdd5f4250df65d628ac3e8fa6a4c152de0f6434ab2807"),
    ("it.ledger.match.reserved.v1",
     "47164df8d76e00fa2f2ddaa0e209d9b57ea1eae94507b997203d358328631c00",
     "5621f0884317e787f3a6f18af2d4a825a1ad5fbab9db3883c0373fe895dfa1cb"),
    ("it.ledger.contribution.allocated.v1",
     "b5ce739eb164ed197051c25d6dbb9d62364131e3e9c74a301bd752239cf0f9cd",
     "8a8aa906596bd5219aa36f4c02ce1bf19bf79d2e647f8f680e8f6835781e1dcf"),
    ("it.ledger.fulfilment.recorded.v1",
     "8f4a8c60d3346ed8ea8b69988fb4c00cb062bc2822696723c043db4d8738179c",
     "1dd10efc8fc2447aa122b7d5c3038edc85a7d14e43ccf8db7efafc2f4a2c7435"),
    ("it.ledger.actor.erased.v1",
     "eb835d382a9390589053f27ee95eba9a80cb7dcfaadacfe28b2c0abbe58ad6bb",
     "7e98395d9a992b7be03df4820958761aa8b72d07f43e57b2fab076419a18bd01"),
]
GOLDEN_ROOT = "1c5842e1d3a8fa24d65cc217d8a8b81b09e225548c94f34c7936a60a8010e004"


def golden_records() -> list[dict[str, Any]]:
    values, prev = [], None
    for i, (topic, originator, version, fields) in enumerate(STATES):
        state = {"territory": "018182", "timestamp": T0 + timedelta(minutes=i), **fields}
        value = build_record(topic=topic, state=state, originator_id=originator,
                             version=version, position=101 + i, prev=prev)
        prev = ChainLink(value["seq"], value["hash"])
        values.append(value)
    return values


def test_records_are_the_golden_bytes() -> None:
    values = golden_records()
    assert record_bytes(values[0]) == PLEDGED_BYTES
    assert record_bytes(values[-1]) == ERASED_BYTES
    assert [(v["type"], v["hash"], leaf_hash(record_bytes(v)).hex()) for v in values] == GOLDEN
    assert root_of([leaf_hash(record_bytes(v)) for v in values]).hex() == GOLDEN_ROOT


def test_golden_hashes_follow_from_the_contract_alone() -> None:
    """hash = SHA-256(JCS(record without hash)); leaf = SHA-256(0x00 || JCS(record))."""
    for value, (_, chain_hash, leaf) in zip(golden_records(), GOLDEN, strict=True):
        body = {k: v for k, v in value.items() if k != "hash"}
        assert hashlib.sha256(rfc8785.dumps(body)).hexdigest() == chain_hash
        assert rfc8785.dumps(value) == record_bytes(value)
        assert hashlib.sha256(b"\x00" + rfc8785.dumps(value)).hexdigest() == leaf


def test_domain_events_become_the_golden_records() -> None:
    """The whole path the relay takes: event class -> stored state -> record."""
    app = LedgerApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    territory = Territory.register("018182", "Voghera", operator_id="op-1")
    territory.define_theme("voghera.orti", "Orti sociali", operator_id="op-1")
    prev, hashes = None, []
    for i, event in enumerate(territory.collect_events()):
        event = dataclasses.replace(event, timestamp=T0 + timedelta(seconds=i))
        stored = app.mapper.to_stored_event(event)
        value = build_record(topic=stored.topic, state=app.mapper.transcoder.decode(stored.state),
                             originator_id=stored.originator_id, version=stored.originator_version,
                             position=i + 1, prev=prev)
        prev = ChainLink(value["seq"], value["hash"])
        hashes.append((value["type"], value["hash"]))
    assert record_bytes(value) == (
        b'{"data":{"code":"voghera.orti","label":"Orti sociali","operator_id":"op-1","version":2},'
        b'"datacontenttype":"application/json","hash":'
        b'"40fcb8bca111403b2433031a0667547d7ab17f98e83b19f823db63319e751835","id":'
        b'"f7c2b9b6-a287-5454-bc4c-82850e959d57","position":2,"prevhash":'
        b'"12a9c59c407361cf2bc46584addf11d9d22d90926a86aa957cca713825777d9b","seq":2,"source":'
        b'"/territories/018182","specversion":"1.0","subject":"5ea98866-366d-51ba-bcaa-5aa2a765e482",'
        b'"time":"2026-11-01T09:30:01+00:00","type":"it.ledger.territory.theme_defined.v1"}')
    assert hashes == [
        ("it.ledger.territory.registered.v1",
         "12a9c59c407361cf2bc46584addf11d9d22d90926a86aa957cca713825777d9b"),
        ("it.ledger.territory.theme_defined.v1",
         "40fcb8bca111403b2433031a0667547d7ab17f98e83b19f823db63319e751835")]


def test_the_relay_encodes_the_same_bytes_on_the_fast_and_the_slow_path() -> None:
    for extra in ({}, {"ratio": 1.5}, {"città": "Pavia"}, {"note": "😀\u2028"}):
        state = {"territory": "018182", "timestamp": T0, "operator_id": "op", **extra}
        value, raw = encode_record(topic="ledger.domain.actor:Actor.Erased", state=state,
                                   originator_id=U(3), version=2, position=7, prev=None)
        assert raw == rfc8785.dumps(value) == record_bytes(value)
        body = {k: v for k, v in value.items() if k != "hash"}
        assert value["hash"] == hashlib.sha256(rfc8785.dumps(body)).hexdigest()
