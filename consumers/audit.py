"""Verify the hash chain straight from the topic, as an outside auditor would."""

from __future__ import annotations

import json
from typing import Any

from consumers.topic import committed_consumer, partitions_of
from ledger.records import territory_of, verify_chain


def read_topic(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every committed record value of the topic, partition by partition, in offset order."""
    consumer = committed_consumer(bootstrap)
    try:
        parts = partitions_of(consumer, topic)
        consumer.assign(parts)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(parts)
        values: list[dict[str, Any]] = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for _, messages in consumer.poll(timeout_ms=1000, max_records=10000).items():
                values.extend(json.loads(m.value) for m in messages)
        return values
    finally:
        consumer.close()


def verify_values(values: list[dict[str, Any]],
                  territory: str | None = None) -> dict[str, dict[str, Any]]:
    chains: dict[str, list[dict[str, Any]]] = {}
    for value in values:
        chains.setdefault(territory_of(value), []).append(value)
    results = {}
    for code, chain in sorted(chains.items()):
        if territory and code != territory:
            continue
        broken = verify_chain(chain)
        results[code] = {"verified": broken is None, "count": len(chain),
                         "head_hash": chain[-1]["hash"] if chain else None,
                         "broken_at_seq": broken.seq if broken else None,
                         "reason": broken.reason if broken else None}
    if territory and territory not in results:
        # Nothing to verify is no proof: an unknown territory never passes.
        results[territory] = {"verified": False, "count": 0, "head_hash": None,
                              "broken_at_seq": None,
                              "reason": f"no records of territory {territory} on the topic"}
    return results


def verify_topic(bootstrap: str, topic: str, territory: str | None = None
                 ) -> dict[str, dict[str, Any]]:
    return verify_values(read_topic(bootstrap, topic), territory)
