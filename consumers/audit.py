"""Verify the log as an outside auditor would: the hash chain straight from the topic, each
territory's latest signed checkpoint against the records themselves, and (`Watcher`) every
checkpoint published on the checkpoint topic against the last one verified before it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumers.topic import committed_consumer, committed_messages, from_start
from ledger.merkle import ProofError, leaf_hash, root_of, verify_consistency
from ledger.notes import NoteError, Verifier, open_checkpoint
from ledger.records import record_bytes, territory_of, verify_chain
from ledger.tlog import NotInLog, NotSignedYet, StoredCheckpoint, TransparencyLog

log = logging.getLogger(__name__)
Signed = Mapping[str, tuple[StoredCheckpoint, str]]  # territory -> (latest checkpoint, vkey)


def read_topic(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every committed record value of the topic, partition by partition, in offset order."""
    return [json.loads(m.value) for _, m in committed_messages(bootstrap, topic)]


def verify_values(values: list[dict[str, Any]], territory: str | None = None,
                  signed: Signed | None = None) -> dict[str, dict[str, Any]]:
    """Each territory's chain; with `signed` (read before the topic), also its latest
    checkpoint: signed by its key, and its root the root of that many records."""
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
        if signed is not None:
            check = verify_checkpoint(chain, *signed[code]) if code in signed else {
                "verified": None, "reason": "no signed checkpoint yet"}
            results[code]["checkpoint"] = check
            if check["verified"] is False:
                results[code]["verified"] = False
                results[code]["reason"] = results[code]["reason"] or check["reason"]
    if territory and territory not in results:
        # Nothing to verify is no proof: an unknown territory never passes.
        results[territory] = {"verified": False, "count": 0, "head_hash": None,
                              "broken_at_seq": None,
                              "reason": f"no records of territory {territory} on the topic"}
    return results


def verify_checkpoint(chain: list[dict[str, Any]], checkpoint: StoredCheckpoint,
                      vkey: str) -> dict[str, Any]:
    out: dict[str, Any] = {"size": checkpoint.size, "verified": False, "reason": None}
    try:
        signed = open_checkpoint(checkpoint.note, Verifier.parse(vkey))
    except NoteError as err:
        return out | {"reason": f"checkpoint: {err}"}
    if signed.size != checkpoint.size or signed.size > len(chain):
        return out | {"reason": f"checkpoint of {signed.size} records, {len(chain)} on the topic"}
    root = root_of([leaf_hash(record_bytes(v)) for v in chain[:signed.size]])
    if root != signed.root:
        return out | {"reason": "the signed checkpoint's root is not the root of the records"}
    return out | {"verified": True}


def verify_topic(bootstrap: str, topic: str, territory: str | None = None,
                 signed: Signed | None = None) -> dict[str, dict[str, Any]]:
    return verify_values(read_topic(bootstrap, topic), territory, signed)


@dataclass
class Watcher:
    """`ledger audit watch`: keeps the last verified checkpoint of every territory (in a JSON
    state file) and checks each new one: signed by the territory's key (pinned on first
    sight), and consistent with the last, by a consistency proof checked against both roots.
    Two checkpoints that disagree are reported with both notes as evidence."""

    tlog: TransparencyLog
    state_file: Path
    state: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    checked: int = 0

    def __post_init__(self) -> None:
        if self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())

    def save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        tmp.replace(self.state_file)

    def check(self, territory: str, note: str) -> dict[str, Any] | None:
        """Check one published checkpoint; return the problem found, if any."""
        self.checked += 1
        known = self.state.setdefault(territory, {})
        vkey = known.get("vkey") or self.tlog.verifier_key(territory)
        if vkey is None:
            return self._problem(territory, "no verifier key for this log", note)
        known["vkey"] = vkey
        verifier = Verifier.parse(vkey)
        try:
            new = open_checkpoint(note, verifier)
        except NoteError as err:
            return self._problem(territory, f"a checkpoint that does not verify: {err}", note)
        last_note = known.get("note")
        if last_note is None:
            known["note"] = note
            return None
        last = open_checkpoint(last_note, verifier)
        small, large = sorted([(last.size, last.root, last_note), (new.size, new.root, note)])
        try:
            proof = self.tlog.consistency(territory, small[0], large[0]) if small[0] < large[0] else []
            verify_consistency(small[0], large[0], small[1], large[1], proof)
        except (ProofError, NotInLog, NotSignedYet, ValueError) as err:
            return self._problem(territory, f"two signed checkpoints disagree: {err}", small[2],
                                 large[2])
        if new.size > last.size:
            known["note"] = note
        return None

    def _problem(self, territory: str, reason: str, *evidence: str) -> dict[str, Any]:
        problem = {"territory": territory, "problem": reason, "evidence": list(evidence)}
        self.problems.append(problem)
        log.error("%s: %s", territory, reason)
        return problem

    def watch(self, bootstrap: str, topic: str, once: bool = False,
              report: Callable[[dict[str, Any]], None] = lambda p: None,
              stopping: Callable[[], bool] = lambda: False) -> None:
        """Read the checkpoint topic from its start; with `once`, stop at its current end."""
        consumer = committed_consumer(bootstrap)
        try:
            parts, ends = from_start(consumer, topic)
            while not stopping():
                if once and all(consumer.position(tp) >= ends[tp] for tp in parts):
                    break
                for messages in consumer.poll(timeout_ms=500, max_records=1000).values():
                    for m in messages:
                        if m.key is None or m.value is None:
                            continue
                        problem = self.check(m.key.decode(), m.value.decode(errors="replace"))
                        if problem is not None:
                            report(problem)
                self.save()
                if not once:
                    time.sleep(0.2)
        finally:
            consumer.close()
            self.save()
