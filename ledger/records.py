"""The published language: a stored event as a CloudEvents 1.0 record in the territory's hash chain.

`hash` is the lowercase hex SHA-256 of the RFC 8785 (JCS) canonical JSON of the record value
without its `hash` member; `prevhash` is the previous record's hash in the same territory
(64 zeros for seq 1). Everything here is a pure function of the stored event and the chain
state, so a restarted relay or a rebuilt topic reproduces every record bit for bit.

`EVENT_TYPES` is the one table from an event class (its stored topic) to the public `type`
and its version: adding an event class is one line there, and nothing else can change a
published type. tests/unit/test_published_language.py holds the golden vectors (fixed
events -> exact record bytes and hashes) and fails for an event class missing here.
The Kafka value of a record is its JCS bytes (`record_bytes`), so the Merkle leaf of a
record is SHA-256(0x00 || the Kafka value), with no re-serialisation.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import orjson
import rfc8785

GENESIS_HASH = "0" * 64
_SAFE_INT = 2**53 - 1
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1f8e-3c43-4b7b-9d8e-1d1b5f0c7a11")
NOT_DATA = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp",
                       "territory"})


def event_id(originator_id: uuid.UUID | str, version: int) -> str:
    """A globally unique, reproducible id for the stored event (originator, version): the
    text of uuid.uuid5(EVENT_ID_NAMESPACE, "<originator>:<version>"), computed as RFC 9562
    defines it without building UUID objects (the relay makes one per record): the first 16
    bytes of the SHA-1, in hex, with the version nibble (13th digit) 5 and the two top bits
    of the 17th digit 10 (the RFC 4122 variant)."""
    h = hashlib.sha1(_NAMESPACE_BYTES + f"{originator_id}:{version}".encode(),
                     usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes


# Event class (stored topic) -> (public CloudEvents `type` without its version, version).
# One line per event class; a published name never changes, an incompatible change of an
# event's data is a new version. CONTENT_TYPE is the Kafka header of structured mode.
EVENT_TYPES: dict[str, tuple[str, int]] = {
    "ledger.domain.territory:Territory.Registered": ("it.ledger.territory.registered", 1),
    "ledger.domain.territory:Territory.ThemeDefined": ("it.ledger.territory.theme_defined", 1),
    "ledger.domain.territory:Territory.ApprovalPolicySet": ("it.ledger.territory.approval_policy_set", 1),
    "ledger.domain.territory:Territory.ProgrammeDefined": ("it.ledger.territory.programme_defined", 1),
    "ledger.domain.actor:Actor.Registered": ("it.ledger.actor.registered", 1),
    "ledger.domain.actor:Actor.Erased": ("it.ledger.actor.erased", 1),
    "ledger.domain.actor:Actor.ManagementCostRecorded": ("it.ledger.actor.management_cost_recorded", 1),
    "ledger.domain.contribution:Contribution.Pledged": ("it.ledger.contribution.pledged", 1),
    "ledger.domain.contribution:Contribution.Allocated": ("it.ledger.contribution.allocated", 1),
    "ledger.domain.contribution:Contribution.Released": ("it.ledger.contribution.released", 1),
    "ledger.domain.contribution:Contribution.Delivered": ("it.ledger.contribution.delivered", 1),
    "ledger.domain.contribution:Contribution.DeliveryReversed": ("it.ledger.contribution.delivery_reversed", 1),
    "ledger.domain.contribution:Contribution.Withdrawn": ("it.ledger.contribution.withdrawn", 1),
    "ledger.domain.contribution:Contribution.Expired": ("it.ledger.contribution.expired", 1),
    "ledger.domain.request:Request.Posted": ("it.ledger.request.posted", 1),
    "ledger.domain.request:Request.Reserved": ("it.ledger.request.reserved", 1),
    "ledger.domain.request:Request.Released": ("it.ledger.request.released", 1),
    "ledger.domain.request:Request.Received": ("it.ledger.request.received", 1),
    "ledger.domain.request:Request.ReceiptReversed": ("it.ledger.request.receipt_reversed", 1),
    "ledger.domain.request:Request.Withdrawn": ("it.ledger.request.withdrawn", 1),
    "ledger.domain.request:Request.Expired": ("it.ledger.request.expired", 1),
    "ledger.domain.match:Match.Reserved": ("it.ledger.match.reserved", 1),
    "ledger.domain.match:Match.Proposed": ("it.ledger.match.proposed", 1),
    "ledger.domain.match:Match.Approved": ("it.ledger.match.approved", 1),
    "ledger.domain.match:Match.Rejected": ("it.ledger.match.rejected", 1),
    "ledger.domain.match:Match.Fulfilled": ("it.ledger.match.fulfilled", 1),
    "ledger.domain.match:Match.FulfilmentReversed": ("it.ledger.match.fulfilment_reversed", 1),
    "ledger.domain.match:Match.Cancelled": ("it.ledger.match.cancelled", 1),
    "ledger.domain.fulfilment:Fulfilment.Recorded": ("it.ledger.fulfilment.recorded", 1),
    "ledger.domain.fulfilment:Fulfilment.Reversed": ("it.ledger.fulfilment.reversed", 1),
    "ledger.domain.fulfilment:Fulfilment.FeedbackRecorded": ("it.ledger.fulfilment.feedback_recorded", 1),
}
CONTENT_TYPE = "application/cloudevents+json"

# The text datetime.isoformat() writes (a record's `time`): microseconds only when not zero, an
# offset other than -00:00. Text of this form that fromisoformat() accepts gives that text back
# from isoformat(), and PostgreSQL reads it as the same instant; both the relay and the
# projections use this to skip formatting a datetime they already hold as text.
ISOFORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                       r"(?:\.(?!000000)[0-9]{6})?(?:\+[0-9]{2}:[0-9]{2}|-(?!00:00)[0-9]{2}:[0-9]{2})?")


class UnpublishedEvent(LookupError):
    """An event class with no line in EVENT_TYPES: the relay refuses to guess its public type."""


@lru_cache(maxsize=512)
def event_type(topic: str) -> str:
    """`ledger.domain.match:Match.FulfilmentReversed` -> `it.ledger.match.fulfilment_reversed.v1`,
    from EVENT_TYPES only."""
    try:
        name, version = EVENT_TYPES[topic]
    except KeyError:
        raise UnpublishedEvent(f"event class {topic} has no public type: add it to EVENT_TYPES "
                               "in ledger/records.py") from None
    return f"{name}.v{version}"


_JSON_SCALARS = frozenset({str, int, bool, float, type(None)})


def to_json_value(value: Any) -> Any:
    if type(value) in _JSON_SCALARS:  # most values: returned as they are, as below
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of value.

    For the values a ledger record holds (ASCII keys; strings, safe integers, booleans, null,
    lists and objects) orjson's sorted, compact, non-ASCII-preserving output is byte-for-byte
    JCS and tens of times faster than the pure-Python rfc8785 package;
    anything else (floats, huge integers, non-ASCII keys) goes through rfc8785 itself.
    tests/unit/test_canonical_json.py checks the equivalence property-based.
    """
    if _plain(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    # Exact types first (every record of the relay comes this way), walked by loops: a
    # generator per container costs a quarter more.
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        number: int = value
        return -_SAFE_INT <= number <= _SAFE_INT
    if kind is dict:
        for k, v in value.items():
            if not (isinstance(k, str) and k.isascii()):
                return False
            inner = type(v)  # scalars checked here, without a call
            if inner is str or inner is bool or v is None:
                continue
            if inner is int:
                if -_SAFE_INT <= v <= _SAFE_INT:
                    continue
                return False
            if not _plain(v):
                return False
        return True
    if kind is list:
        for v in value:  # noqa: SIM110 - see above
            if not _plain(v):
                return False
        return True
    if isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def record_hash(value_without_hash: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(value_without_hash))).hexdigest()


def record_bytes(value: Mapping[str, Any]) -> bytes:
    """The published bytes of a record (the Kafka value): JCS of the whole value, `hash` included."""
    return canonical_json(dict(value))


@dataclass(frozen=True)
class ChainLink:
    seq: int
    hash: str


def build_record(*, topic: str, state: Mapping[str, Any], originator_id: uuid.UUID | str,
                 version: int, position: int, prev: ChainLink | None) -> dict[str, Any]:
    """The CloudEvents value of one stored event, given the previous link of its territory."""
    return encode_record(topic=topic, state=state, originator_id=originator_id, version=version,
                         position=position, prev=prev)[0]


def encode_record(*, topic: str, state: Mapping[str, Any], originator_id: uuid.UUID | str,
                  version: int, position: int, prev: ChainLink | None
                  ) -> tuple[dict[str, Any], bytes]:
    """The record's value and its published bytes (`record_bytes`), canonicalised together:
    the value is walked once to choose the fast JCS path for both."""
    territory = str(state["territory"])
    timestamp = state["timestamp"]
    subject = str(originator_id)
    value: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id(subject, version),
        "source": f"/territories/{territory}",
        "type": event_type(topic),
        "subject": subject,
        "time": timestamp.isoformat() if isinstance(timestamp, datetime) else str(timestamp),
        "datacontenttype": "application/json",
        "position": position,
        "seq": 1 if prev is None else prev.seq + 1,
        "prevhash": GENESIS_HASH if prev is None else prev.hash,
        "data": {k: to_json_value(v) for k, v in state.items() if k not in NOT_DATA}
        | {"version": version},
    }
    if _plain(value):  # then so is the value with its hex `hash`
        value["hash"] = hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return value, orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    value["hash"] = hashlib.sha256(rfc8785.dumps(value)).hexdigest()
    return value, rfc8785.dumps(value)


def encode_plain_record(*, topic: str, state: dict[str, Any], originator_id: str, version: int,
                        position: int, prev: ChainLink | None) -> tuple[dict[str, Any], bytes]:
    """encode_record for a state whose values are all plain JSON already (str; integers within
    ±(2**53 - 1); bool; None; lists, and dicts with ASCII keys, of those), as the relay's
    decoding gives most states: the same value and bytes, without converting or checking the
    state's values. `state` becomes the record's `data` (it is changed in place)."""
    territory = str(state.pop("territory"))
    timestamp = state.pop("timestamp")
    for name in ("originator_id", "originator_version", "originator_topic"):
        state.pop(name, None)
    state["version"] = version
    seq = 1 if prev is None else prev.seq + 1
    if not (-_SAFE_INT <= version <= _SAFE_INT and -_SAFE_INT <= position <= _SAFE_INT
            and seq <= _SAFE_INT and type(originator_id) is str):
        state["territory"], state["timestamp"] = territory, timestamp
        del state["version"]
        return encode_record(topic=topic, state=state, originator_id=originator_id,
                             version=version, position=position, prev=prev)
    value: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id(originator_id, version),
        "source": f"/territories/{territory}",
        "type": event_type(topic),
        "subject": originator_id,
        "time": timestamp if type(timestamp) is str else str(timestamp),
        "datacontenttype": "application/json",
        "position": position,
        "seq": seq,
        "prevhash": GENESIS_HASH if prev is None else prev.hash,
        "data": state,
    }
    value["hash"] = hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return value, orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def territory_of(value: Mapping[str, Any]) -> str:
    return str(value["source"]).rpartition("/")[2]


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


def verify_chain(values: Sequence[Mapping[str, Any]]) -> ChainBreak | None:
    """Check one territory's records in order: seq 1..n, hashes recomputed, links intact."""
    prev_hash = GENESIS_HASH
    for expected_seq, value in enumerate(values, start=1):
        seq = value.get("seq")
        if seq != expected_seq:
            return ChainBreak(expected_seq, f"expected seq {expected_seq}, found {seq}")
        if value.get("prevhash") != prev_hash:
            return ChainBreak(expected_seq, "prevhash does not match the previous record's hash")
        body = {k: v for k, v in value.items() if k != "hash"}
        if record_hash(body) != value.get("hash"):
            return ChainBreak(expected_seq, "hash does not match the record's content")
        prev_hash = str(value["hash"])
    return None
