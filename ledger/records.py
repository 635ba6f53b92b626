"""The published language: a stored event as a CloudEvents 1.0 record in the territory's hash chain.

`hash` is the lowercase hex SHA-256 of the RFC 8785 (JCS) canonical JSON of the record value
without its `hash` member; `prevhash` is the previous record's hash in the same territory
(64 zeros for seq 1). Everything here is a pure function of the stored event and the chain
state, so a restarted relay or a rebuilt topic reproduces every record bit for bit.
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
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_NOT_DATA = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp",
                       "territory"})


def event_id(originator_id: uuid.UUID | str, version: int) -> str:
    """A globally unique, reproducible id for the stored event (originator, version)."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{originator_id}:{version}"))


@lru_cache(maxsize=512)
def event_type(topic: str) -> str:
    """`ledger.domain.match:Match.FulfilmentReversed` ->
    `it.ledger.match.fulfilment_reversed.v1`."""
    qualname = topic.rpartition(":")[2]
    parts = [_CAMEL.sub("_", part).lower() for part in qualname.split(".")]
    return "it.ledger." + ".".join(parts) + ".v1"


def to_json_value(value: Any) -> Any:
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
    if value is None or isinstance(value, str | bool):
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


@dataclass(frozen=True)
class ChainLink:
    seq: int
    hash: str


def build_record(*, topic: str, state: Mapping[str, Any], originator_id: uuid.UUID | str,
                 version: int, position: int, prev: ChainLink | None) -> dict[str, Any]:
    """The CloudEvents value of one stored event, given the previous link of its territory."""
    territory = str(state["territory"])
    timestamp = state["timestamp"]
    value: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id(originator_id, version),
        "source": f"/territories/{territory}",
        "type": event_type(topic),
        "subject": str(originator_id),
        "time": timestamp.isoformat() if isinstance(timestamp, datetime) else str(timestamp),
        "datacontenttype": "application/json",
        "position": position,
        "seq": 1 if prev is None else prev.seq + 1,
        "prevhash": GENESIS_HASH if prev is None else prev.hash,
        "data": {k: to_json_value(v) for k, v in state.items() if k not in _NOT_DATA}
        | {"version": version},
    }
    value["hash"] = record_hash(value)
    return value


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
