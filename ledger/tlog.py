"""What the log proves, read from PostgreSQL: checkpoints, verifier keys, inclusion and
consistency proofs, and the offline `c2sp.org/tlog-proof@v1` file of one record.

Proofs are computed from the stored tiles (ledger/tiles.py) in one query each; the tree
size a proof may name is at most the relayed tree's (`relay_chain.seq`, written with the
tiles). The record of a proof file is the audit projection's copy of the Kafka value: its
JCS bytes, whose SHA-256 with 0x00 before is the leaf.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg import Connection, sql

from ledger.db import Database
from ledger.merkle import consistency_ranges, inclusion_ranges, nodes_for, range_hash
from ledger.notes import verifier_key
from ledger.projections.store import active_schema
from ledger.records import record_bytes
from ledger.tiles import MissingTiles, TileCache, TileReader

PROOF_HEADER = "c2sp.org/tlog-proof@v1"


class NotInLog(LookupError):
    """No such record, tree size or checkpoint (yet)."""


class NotSignedYet(LookupError):
    """Not there yet, retry shortly: no checkpoint covers the record (a second at most), its
    copy is not projected yet, or the tree is being re-derived."""


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str


class TransparencyLog:
    def __init__(self, db: Database, cache: TileCache | None = None) -> None:
        self.db = db
        self.cache = cache if cache is not None else TileCache()

    # -- checkpoints and keys --------------------------------------------------------------------
    def checkpoint(self, territory: str, size: int | None = None) -> StoredCheckpoint | None:
        """The latest checkpoint, or the one of that size."""
        with self.db.transaction() as conn:
            return _checkpoint(conn, territory, size)

    def checkpoints(self, territory: str) -> list[StoredCheckpoint]:
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT size, root, note FROM log_checkpoints WHERE territory = %s"
                                " ORDER BY size", (territory,)).fetchall()
        return [StoredCheckpoint(r["size"], bytes(r["root"]), r["note"]) for r in rows]

    def latest(self) -> dict[str, tuple[StoredCheckpoint, str]]:
        """Every territory's latest checkpoint, with its verifier key."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT DISTINCT ON (c.territory) c.territory, c.size, c.root, c.note, k.name,"
                " k.public_key FROM log_checkpoints c JOIN log_keys k USING (territory)"
                " ORDER BY c.territory, c.size DESC").fetchall()
        return {r["territory"]: (StoredCheckpoint(r["size"], bytes(r["root"]), r["note"]),
                                 verifier_key(r["name"], bytes(r["public_key"]))) for r in rows}

    def verifier_key(self, territory: str) -> str | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT name, public_key FROM log_keys WHERE territory = %s",
                               (territory,)).fetchone()
        return None if row is None else verifier_key(row["name"], bytes(row["public_key"]))

    # -- proofs ----------------------------------------------------------------------------------
    def inclusion(self, territory: str, seq: int, size: int) -> list[bytes]:
        """The hashes proving record `seq` (leaf seq - 1) in the tree of `size` records."""
        if not 1 <= seq <= size:
            raise ValueError(f"record {seq} is not in a tree of {size} records")
        with self.db.transaction() as conn:
            self._check_size(conn, territory, size)
            return self._hashes(conn, territory, size, inclusion_ranges(seq - 1, size))

    def require_size(self, territory: str, size: int) -> None:
        """NotInLog unless the stored tree has at least `size` records."""
        with self.db.transaction() as conn:
            self._check_size(conn, territory, size)

    def inclusions(self, territory: str, first: int, last: int, size: int) -> list[list[bytes]]:
        """The inclusion proofs of records first..last in the tree of `size`, in one read."""
        if not 1 <= first <= last <= size:
            raise ValueError(f"records {first}..{last} are not in a tree of {size} records")
        paths = [inclusion_ranges(seq - 1, size) for seq in range(first, last + 1)]
        with self.db.transaction() as conn:
            self._check_size(conn, territory, size)
            nodes = self._nodes(conn, territory, size, [r for path in paths for r in path])
        return [[range_hash(start, end, nodes) for start, end in path] for path in paths]

    def consistency(self, territory: str, old: int, new: int) -> list[bytes]:
        if not 1 <= old <= new:
            raise ValueError(f"no consistency proof from size {old} to size {new}")
        with self.db.transaction() as conn:
            self._check_size(conn, territory, new)
            return self._hashes(conn, territory, new, consistency_ranges(old, new))

    def root(self, territory: str, size: int) -> bytes:
        with self.db.transaction() as conn:
            self._check_size(conn, territory, size)
            return self._hashes(conn, territory, size, [(0, size)])[0]

    def proof_file(self, territory: str, seq: int) -> str:
        """A `c2sp.org/tlog-proof@v1` file: the record (extra), its index, its inclusion proof
        and the latest checkpoint, which covers it."""
        with self.db.transaction() as conn:
            size = self._size(conn, territory)
            if size is None or not 1 <= seq <= size:
                raise NotInLog(f"record {seq} of territory {territory} is not in the log")
            checkpoint = _checkpoint(conn, territory, None)
            if checkpoint is None or checkpoint.size < seq:
                raise NotSignedYet(f"no checkpoint covers record {seq} of {territory} yet")
            record = _record(conn, territory, seq)
            if record is None:
                raise NotSignedYet(f"record {seq} of {territory} is not projected yet")
            hashes = self._hashes(conn, territory, checkpoint.size,
                                  inclusion_ranges(seq - 1, checkpoint.size))
        return proof_text(record, seq - 1, hashes, checkpoint.note)

    def _size(self, conn: Connection[Any], territory: str) -> int | None:
        row = conn.execute("SELECT seq FROM relay_chain WHERE territory = %s",
                           (territory,)).fetchone()
        return None if row is None else int(row["seq"])

    def _check_size(self, conn: Connection[Any], territory: str, size: int) -> None:
        stored = self._size(conn, territory)
        if stored is None:
            raise NotInLog(f"territory {territory} has no records in the log yet")
        if size > stored:
            raise NotInLog(f"the log of {territory} holds {stored} records, not {size}")

    def _hashes(self, conn: Connection[Any], territory: str, size: int,
                ranges: list[tuple[int, int]]) -> list[bytes]:
        nodes = self._nodes(conn, territory, size, ranges)
        return [range_hash(start, end, nodes) for start, end in ranges]

    def _nodes(self, conn: Connection[Any], territory: str, size: int,
               ranges: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        try:
            return TileReader(conn, territory, size, self.cache).nodes(nodes_for(ranges))
        except MissingTiles as err:  # the tree is being re-derived
            raise NotSignedYet(str(err)) from None


def proof_text(record: bytes, index: int, hashes: list[bytes], note: str) -> str:
    """c2sp.org/tlog-proof@v1: header, `extra` (the record), index, hashes, blank, checkpoint."""
    lines = [PROOF_HEADER, "extra " + base64.b64encode(record).decode(), f"index {index}",
             *(base64.b64encode(h).decode() for h in hashes)]
    return "\n".join(lines) + "\n\n" + note


def _checkpoint(conn: Connection[Any], territory: str, size: int | None) -> StoredCheckpoint | None:
    if size is None:
        row = conn.execute("SELECT size, root, note FROM log_checkpoints WHERE territory = %s"
                           " ORDER BY size DESC LIMIT 1", (territory,)).fetchone()
    else:
        row = conn.execute("SELECT size, root, note FROM log_checkpoints WHERE territory = %s"
                           " AND size = %s", (territory, size)).fetchone()
    return None if row is None else StoredCheckpoint(row["size"], bytes(row["root"]), row["note"])


def _record(conn: Connection[Any], territory: str, seq: int) -> bytes | None:
    schema = active_schema(conn)
    row = conn.execute(sql.SQL("SELECT record FROM {}.audit WHERE territory = %s AND seq = %s")
                       .format(sql.Identifier(schema)), (territory, seq)).fetchone()
    # JCS bytes whatever the copy's formatting (records relayed before trees were not sorted).
    return None if row is None else record_bytes(orjson.loads(row["record"]))
