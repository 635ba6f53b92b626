"""Signed checkpoints of each territory's tree: one Ed25519 key per territory, sealed at rest.

- **Keys.** Made on first use, stored in `log_keys` with the private key wrapped (AES-256-GCM,
  `ledger.masterkey.MasterKeyring`) by the log keyring file (`LEDGER_LOG_KEY_FILE`, default
  `<data dir>/log-signing.key`, 0600): a database dump alone signs nothing. The log keyring
  is apart from the persons' master key, whose rotation retires the keys it re-wrapped.
  The key name is the checkpoint origin, `<LEDGER_LOG_ORIGIN>/territories/<code>`, fixed
  when the key is made.
- **Signing.** `CheckpointSigner.sign` runs inside the relay's transaction, after the tiles
  of the batch are written: under a lock of the territory's key row it signs only a size
  larger than the last signed one, and only if the stored tree still has the last signed
  root at that size; so two signed checkpoints of one territory are always consistent.
  `due` keeps signatures to at most one per `interval` seconds per territory.
- **Publishing.** Each checkpoint is stored (`log_checkpoints`) and marked published once it
  is committed on the checkpoint topic; the relay publishes what is left at start.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from psycopg import Connection

from ledger.masterkey import MasterKeyring
from ledger.merkle import nodes_for, range_hash
from ledger.notes import Checkpoint, public_bytes, sign, verifier_key
from ledger.tiles import TileReader

log = logging.getLogger(__name__)
KEY_NAMESPACE = uuid.UUID("2b1f9d0c-6a57-4c1e-8f3a-0d9e7c5b4a21")


def origin_of(prefix: str, territory: str) -> str:
    return f"{prefix.rstrip('/')}/territories/{territory}"


def _subject(territory: str) -> uuid.UUID:
    """The associated data of a wrapped key: a wrapped key cannot move to another territory."""
    return uuid.uuid5(KEY_NAMESPACE, f"log-key:{territory}")


@dataclass(frozen=True)
class SigningKey:
    name: str
    private: Ed25519PrivateKey

    @property
    def vkey(self) -> str:
        return verifier_key(self.name, public_bytes(self.private))


@dataclass(frozen=True)
class Signed:
    territory: str
    size: int
    note: str


@dataclass
class CheckpointSigner:
    keyring: MasterKeyring
    origin_prefix: str
    interval: float = 1.0
    keys: dict[str, SigningKey] = field(default_factory=dict)
    last_signed: dict[str, float] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)  # territory -> tree size to sign

    def grown(self, sizes: dict[str, int]) -> None:
        self.pending.update(sizes)

    def due(self, now: float | None = None) -> dict[str, int]:
        now = time.monotonic() if now is None else now
        return {t: n for t, n in self.pending.items()
                if now - self.last_signed.get(t, float("-inf")) >= self.interval}

    def sign_due(self, conn: Connection[Any]) -> list[Signed]:
        """Sign what is due, in the caller's transaction (after its tiles are written). Each
        signature has its own savepoint: one that fails (a lost log keyring, say) is logged
        and tried again an interval later, and never undoes the caller's bookkeeping."""
        signed = []
        for territory, size in sorted(self.due().items()):
            self.last_signed[territory] = time.monotonic()
            try:
                with conn.transaction():
                    note = self.sign(conn, territory, size)
            except Exception:  # noqa: BLE001 - publishing records must go on without it
                log.exception("cannot sign the checkpoint of %s at size %d", territory, size)
                continue
            self.pending.pop(territory, None)
            if note is not None:
                signed.append(note)
        return signed

    def key(self, conn: Connection[Any], territory: str, *, lock: bool = False) -> SigningKey:
        row = conn.execute("SELECT name, private_wrapped, wrapped_by FROM log_keys WHERE territory"
                           " = %s" + (" FOR UPDATE" if lock else ""), (territory,)).fetchone()
        if row is None:
            private = Ed25519PrivateKey.generate()
            raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
            wrapped_by, wrapped = self.keyring.wrap(_subject(territory), raw)
            name = origin_of(self.origin_prefix, territory)
            conn.execute("INSERT INTO log_keys (territory, name, public_key, private_wrapped, "
                         "wrapped_by) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                         (territory, name, public_bytes(private), wrapped, wrapped_by))
            return self.key(conn, territory, lock=lock)
        cached = self.keys.get(territory)
        if cached is None:
            raw = self.keyring.unwrap(row["wrapped_by"], _subject(territory),
                                      bytes(row["private_wrapped"]))
            cached = self.keys[territory] = SigningKey(row["name"],
                                                       Ed25519PrivateKey.from_private_bytes(raw))
        return cached

    def sign(self, conn: Connection[Any], territory: str, size: int) -> Signed | None:
        key = self.key(conn, territory, lock=True)
        last = conn.execute("SELECT size, root FROM log_checkpoints WHERE territory = %s"
                            " ORDER BY size DESC LIMIT 1", (territory,)).fetchone()
        if size < 1 or (last is not None and size <= last["size"]):
            return None
        sizes = [size] if last is None else [last["size"], size]
        reader = TileReader(conn, territory, size)
        nodes = reader.nodes(nodes_for((0, n) for n in sizes))
        roots = {n: range_hash(0, n, nodes) for n in sizes}
        if last is not None and roots[last["size"]] != bytes(last["root"]):
            log.error("refusing to sign %s at size %d: the stored tree's root at size %d is not "
                      "the one signed before", territory, size, last["size"])
            return None
        note = sign(Checkpoint(key.name, size, roots[size]).text(), key.name, key.private)
        conn.execute("INSERT INTO log_checkpoints (territory, size, root, note, signed_at) VALUES "
                     "(%s, %s, %s, %s, clock_timestamp())", (territory, size, roots[size], note))
        return Signed(territory, size, note)


def unpublished(conn: Connection[Any]) -> list[Signed]:
    rows = conn.execute("SELECT territory, size, note FROM log_checkpoints WHERE NOT published"
                        " ORDER BY territory, size").fetchall()
    return [Signed(r["territory"], r["size"], r["note"]) for r in rows]


def mark_published(conn: Connection[Any], notes: list[Signed]) -> None:
    with conn.cursor() as cur:
        cur.executemany("UPDATE log_checkpoints SET published = true WHERE territory = %s AND "
                        "size = %s", [(n.territory, n.size) for n in notes])


def unsigned_sizes(conn: Connection[Any]) -> dict[str, int]:
    """Territories whose relayed tree is larger than their last signed checkpoint."""
    rows = conn.execute(
        "SELECT c.territory, c.seq FROM relay_chain c LEFT JOIN (SELECT territory, max(size) AS"
        " size FROM log_checkpoints GROUP BY territory) k USING (territory)"
        " WHERE k.size IS NULL OR c.seq > k.size").fetchall()
    return {r["territory"]: r["seq"] for r in rows}
