"""`make bench`, proofs part: the Merkle tile store on PostgreSQL, without the relay around it.

- Appends: BENCH_MERKLE_LEAVES leaves (default 1,000,000) appended to one territory's tree the
  way the relay does it: leaf hash of a record-sized value, tiles in memory, the tiles a batch
  of 2,000 changed written in one transaction with the territory's `relay_chain` row. Reported
  as leaves per second with the writes (`merkle_appends_per_s`) and of the hashing and tiling
  alone (`merkle_append_cpu_per_s`).
- Proofs on that tree: inclusion proofs of random leaves and consistency proofs from random
  sizes, through `TransparencyLog` (one transaction each), cold (no tile cache) and warm (the
  API's cache), as p50/p99 milliseconds.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from ledger.db import Database
from ledger.merkle import leaf_hash
from ledger.tiles import TileCache, TreeAppender, load_partial_tiles, write_tiles
from ledger.tlog import TransparencyLog

TERRITORY = "999999"
BATCH = 2000
RECORD = bytes(range(256)) * 3  # about the size of a record (700-800 bytes)


def run(url: str, say: Callable[[str], None] = print) -> dict[str, Any]:
    leaves = int(os.environ.get("BENCH_MERKLE_LEAVES") or 1_000_000)
    db = Database(url, max_size=2)
    try:
        db.create_side_tables()
        appends, cpu = _append(db, leaves)
        say(f"merkle: {leaves} leaves appended at {appends:,.0f}/s with the PostgreSQL writes "
            f"({cpu:,.0f}/s hashing and tiling alone)")
        proofs = _proofs(db, leaves)
        say("merkle proofs on {} leaves, p50/p99 ms: inclusion cold {inclusion_cold_p50_ms}/"
            "{inclusion_cold_p99_ms}, warm {inclusion_warm_p50_ms}/{inclusion_warm_p99_ms}; "
            "consistency cold {consistency_cold_p50_ms}/{consistency_cold_p99_ms}, warm "
            "{consistency_warm_p50_ms}/{consistency_warm_p99_ms}".format(leaves, **proofs))
    finally:
        with db.transaction() as conn:
            conn.execute("DELETE FROM log_tiles WHERE territory = %s", (TERRITORY,))
            conn.execute("DELETE FROM relay_chain WHERE territory = %s", (TERRITORY,))
        db.close()
    return {"merkle_leaves": leaves, "merkle_appends_per_s": round(appends, 1),
            "merkle_append_cpu_per_s": round(cpu, 1),
            **{f"merkle_{k}": v for k, v in proofs.items()}}


def _append(db: Database, leaves: int) -> tuple[float, float]:
    def load(territory: str, size: int) -> dict[int, list[bytes]]:
        with db.transaction() as conn:
            return load_partial_tiles(conn, territory, size)

    tree = TreeAppender(load)
    cpu = 0.0
    started = time.perf_counter()
    for first in range(1, leaves + 1, BATCH):
        last = min(leaves, first + BATCH - 1)
        t0 = time.perf_counter()
        for seq in range(first, last + 1):
            tree.append(TERRITORY, seq, leaf_hash(RECORD + seq.to_bytes(8, "big")))
        rows = tree.take_writes()
        cpu += time.perf_counter() - t0
        with db.transaction() as conn:
            write_tiles(conn, rows)
            conn.execute("INSERT INTO relay_chain (territory, seq, hash, position) VALUES "
                         "(%s, %s, '', 0) ON CONFLICT (territory) DO UPDATE SET seq = EXCLUDED.seq",
                         (TERRITORY, last))
    return leaves / (time.perf_counter() - started), leaves / cpu


def _proofs(db: Database, size: int, samples: int = 1000) -> dict[str, float]:
    """Cold: every tile read from PostgreSQL. Warm: the same proofs again through the API's
    tile cache (what repeated proofs against one checkpoint cost)."""
    rng = random.Random(1)  # noqa: S311 - sampling, not secrets
    cold, warm = TransparencyLog(db, TileCache(capacity=0)), TransparencyLog(db)
    seqs = [rng.randrange(1, size + 1) for _ in range(samples)]
    olds = [rng.randrange(1, size) for _ in range(samples)]
    out: dict[str, float] = {}
    for name, log in (("inclusion_cold", cold), ("inclusion_warm", warm), ("inclusion_warm", warm)):
        out |= _timed(name, [lambda s=s, log=log: log.inclusion(TERRITORY, s, size) for s in seqs])
    for name, log in (("consistency_cold", cold), ("consistency_warm", warm), ("consistency_warm", warm)):
        out |= _timed(name, [lambda m=m, log=log: log.consistency(TERRITORY, m, size) for m in olds])
    return out


def _timed(name: str, calls: list[Callable[[], object]]) -> dict[str, float]:
    times = []
    for call in calls:
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {f"{name}_p50_ms": round(statistics.median(times), 3),
            f"{name}_p99_ms": round(times[int(len(times) * 0.99) - 1], 3)}
