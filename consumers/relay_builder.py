"""The relay's records, built from the event store: in the relay's process, or pipelined in a
process of its own.

`build_records` turns stored events into record bytes and advances a chain (seq and hash per
territory, the Merkle trees): a pure function of the event store and the chain state, so
wherever it runs the bytes are the same.

`BuilderProcess` runs it in a child process (2 cores, and the GIL: a thread would only take
the main thread's time, which sends). A *session* starts from the relay's last committed
chain state; each request builds the next batch after the previous one of the session,
assuming that one commits (speculation). The relay sends batch N in its Kafka transaction
while the child reads and builds N+1 and N+2. When a batch fails (an aborted transaction, a
fenced producer), the relay drops the session: the replies of the old session still in the
pipe are discarded, and the next session starts again from the last committed state. The
child owns no bookkeeping: the relay writes what a batch changed (`Progress`, handed back
with its records) once its transaction committed, as before.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import re
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from multiprocessing.connection import Connection
from typing import Any

import orjson
import psycopg
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Transcoding, UUIDAsHex
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from ledger.checkpoints import CheckpointSigner, Signed
from ledger.db import Database
from ledger.merkle import leaf_hash
from ledger.records import _SAFE_INT, ISOFORMAT, ChainLink, encode_plain_record, encode_record
from ledger.tiles import TreeAppender, load_partial_tiles, write_tiles

# A stored event as the builder reads it: position, originator id, version, topic, state.
Row = tuple[int, Any, int, str, bytes]
Record = tuple[str, bytes]  # territory (the Kafka key), the record's bytes (the Kafka value)
TileRow = tuple[str, int, int, bytes]


@dataclass(frozen=True)
class Progress:
    """What one committed batch changed: chain links, tree tiles, the resume position."""

    links: dict[str, ChainLink]
    position: int
    tiles: list[TileRow]

    def save(self, db: Database, signer: CheckpointSigner | None = None) -> list[Signed]:
        """One transaction: the tiles, the links, the position, and the checkpoints due."""
        with db.transaction() as conn:
            write_tiles(conn, self.tiles)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO relay_chain (territory, seq, hash, position) VALUES (%s,%s,%s,%s)"
                    " ON CONFLICT (territory) DO UPDATE SET seq = EXCLUDED.seq,"
                    " hash = EXCLUDED.hash, position = EXCLUDED.position",
                    [(t, link.seq, link.hash, self.position) for t, link in self.links.items()])
            conn.execute("INSERT INTO relay_checkpoint (id, position) VALUES (1, %s) "
                         "ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position",
                         (self.position,))
            if signer is None:
                return []
            signer.grown({t: link.seq for t, link in self.links.items()})
            return signer.sign_due(conn)


class Chain:
    """seq and hash of the last record per territory, and the territories' trees, as of
    `position`; `load(territory, size)` reads a tree's partial tiles."""

    def __init__(self, links: dict[str, ChainLink], position: int,
                 load: Callable[[str, int], dict[int, list[bytes]]]) -> None:
        self.links = links
        self.position = position
        self.dirty: set[str] = set()
        self.tree = TreeAppender(load)

    def take_changes(self) -> Progress:
        """What changed since the last call: to save once their batch committed."""
        changed = Progress({t: self.links[t] for t in self.dirty}, self.position,
                           self.tree.take_writes())
        self.dirty.clear()
        return changed


def build_records(rows: Iterable[Row], chain: Chain, decode: Callable[[bytes], dict[str, Any]],
                  fast: bool) -> list[Record]:
    """The records of `rows` (in position order) after `chain`, which they advance."""
    out = []
    links, tree, dirty = chain.links, chain.tree, chain.dirty
    for position, originator_id, version, topic, stored in rows:
        state = _json_state(stored) if fast else None
        if state is not None:  # plain JSON values, as encode_plain_record wants them
            territory = str(state["territory"])
            value, raw = encode_plain_record(topic=topic, state=state,
                                             originator_id=str(originator_id), version=version,
                                             position=position, prev=links.get(territory))
        else:
            state = decode(stored)
            territory = str(state["territory"])
            value, raw = encode_record(topic=topic, state=state, originator_id=originator_id,
                                       version=version, position=position,
                                       prev=links.get(territory))
        seq = value["seq"]
        tree.append(territory, seq, leaf_hash(raw))
        links[territory] = ChainLink(seq, value["hash"])
        dirty.add(territory)
        chain.position = position
        out.append((territory, raw))
    return out


# -- the builder process -------------------------------------------------------------------------
@dataclass(frozen=True)
class BuilderSpec:
    """What the child needs, all picklable: where the events are, how to decode their state."""

    connect: dict[str, Any] = field(repr=False)  # psycopg.connect's keywords (a password)
    schema: str
    table: str
    batch_size: int
    fast: bool  # the transcoder has the standard codings: _json_state reads most states
    transcodings: list[Transcoding] = field(default_factory=list)  # the relay's JSONTranscoder's

    @classmethod
    def of(cls, recorder: Any, decode: Callable[[bytes], Any], batch_size: int
           ) -> BuilderSpec | None:
        """None unless the recorder is eventsourcing's PostgreSQL one and `decode` a
        JSONTranscoder's (which the child rebuilds from its transcodings)."""
        transcoder = getattr(decode, "__self__", None)
        try:
            datastore = recorder.datastore
            kwargs = datastore.pool.kwargs
            connect = {k: kwargs[k] for k in ("dbname", "host", "port", "user", "password")}
            schema, table = str(datastore.schema), str(recorder.events_table_name)
        except (AttributeError, KeyError):
            return None
        if not (isinstance(transcoder, JSONTranscoder)
                and getattr(decode, "__func__", None) is JSONTranscoder.decode):
            return None
        connect["connect_timeout"] = 5
        return cls(connect, schema, table, batch_size, _is_default_json(decode),
                   list(transcoder.names.values()))

    def transcoder(self) -> JSONTranscoder:
        transcoder = JSONTranscoder()
        for transcoding in self.transcodings:
            transcoder.register(transcoding)
        return transcoder


@dataclass
class Built:
    """One batch of a session: its records and what committing it changes."""

    records: list[Record]
    changes: Progress
    seconds: dict[str, float]  # the child's time, by step


class BuilderProcess:
    """The parent's end: `start` a session, `request` batches ahead, `receive` them in order."""

    def __init__(self, spec: BuilderSpec) -> None:
        self.spec = spec
        self.session = 0
        self.pending = 0  # requests of the current session not yet answered
        self.received = 0  # batches received in the current session
        self._spawn()

    def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child, self.spec), daemon=True,
                                   name="relay-builder")
        self.process.start()
        child.close()

    def start(self, links: dict[str, ChainLink], position: int) -> None:
        """A new session from this (committed) state: what the previous one built is dropped."""
        if not self.process.is_alive():
            self.conn.close()
            self._spawn()
        self.session += 1
        self.pending = self.received = 0
        self.conn.send(("start", self.session, dict(links), position))

    def request(self) -> None:
        self.conn.send(("next", self.session))
        self.pending += 1

    def receive(self) -> Built | None:
        """The next batch of the session (None: no new events); raises what the child raised."""
        if self.pending <= 0:
            raise RuntimeError("no batch requested")
        while True:
            try:
                reply = self.conn.recv()
            except EOFError:
                raise RuntimeError("the relay's builder process ended") from None
            kind, session = reply[0], reply[1]
            if session != self.session:
                continue  # built for a session that was dropped
            self.pending -= 1
            if kind == "error":
                error = reply[2]
                raise error if isinstance(error, BaseException) else RuntimeError(str(error))
            built: Built | None = reply[2]
            self.received += built is not None
            return built

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("stop", self.session))
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        self.conn.close()


def serve(conn: Connection, spec: BuilderSpec) -> None:
    """The child: answers requests until told to stop or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    decode = spec.transcoder().decode
    query = SQL("SELECT notification_id, originator_id::text, originator_version, topic, state"
                " FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
                ).format(Identifier(spec.schema, spec.table))
    db: psycopg.Connection[Any] | None = None
    chain: Chain | None = None
    session = 0

    def load(territory: str, size: int) -> dict[int, list[bytes]]:
        assert db is not None
        return load_partial_tiles(db, territory, size)

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        kind = message[0]
        if kind == "stop":
            return
        if kind == "start":
            _, session, links, position = message
            chain = Chain(links, position, load)
            continue
        if message[1] != session:
            continue
        try:
            if chain is None:
                raise RuntimeError("the builder's session is broken: start a new one")
            if db is None or db.closed or db.broken:
                db = psycopg.connect(**spec.connect, autocommit=True, row_factory=dict_row)
            started, cpu = time.perf_counter(), time.process_time()
            with db.cursor(row_factory=psycopg.rows.tuple_row) as cur:
                rows = cur.execute(query, (chain.position, spec.batch_size), binary=True,
                                   prepare=True).fetchall()
            selected = time.perf_counter()
            if not rows:
                conn.send(("batch", session, None))
                continue
            records = build_records(rows, chain, decode, spec.fast)
            built = Built(records, chain.take_changes(), {})
            built.seconds = {"select (pg)": selected - started,
                             "build (decode, jcs, sha256, tree)": time.perf_counter() - selected,
                             "cpu (its process)": time.process_time() - cpu}
            conn.send(("batch", session, built))
        except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
            chain = None  # half-built: useless until the next session
            conn.send(("error", session, _portable(error)))


def _portable(error: Exception) -> Exception | str:
    """The error itself if it survives pickling both ways, else its text."""
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    except Exception:  # noqa: BLE001 - any error that does not travel
        return f"{type(error).__name__}: {error}"
    return error


# -- the stored state as the JSON values of its record, without the transcoder's objects ----------
_HEX32 = re.compile("[0-9a-f]{32}")


class _Unusual(Exception):  # noqa: N818 - a signal, not an error: decode as eventsourcing does
    pass


def _is_default_json(decode: Callable[[bytes], Any]) -> bool:
    """decode is eventsourcing's JSONTranscoder with its standard uuid and datetime codings."""
    transcoder = getattr(decode, "__self__", None)
    return (isinstance(transcoder, JSONTranscoder)
            and getattr(decode, "__func__", None) is JSONTranscoder.decode
            and type(transcoder.names.get("uuid_hex")) is UUIDAsHex
            and type(transcoder.names.get("datetime_iso")) is DatetimeAsISO)


def _json_state(stored: bytes) -> dict[str, Any] | None:
    """The stored state with every value as encode_record turns it into JSON (a uuid as its
    canonical text, a datetime as its isoformat()), read by orjson, and plain as
    encode_plain_record wants it; None when anything in it is unusual (another coding, numbers
    or text orjson refuses, an integer JCS refuses, a key that is not ASCII), which the
    transcoder then decodes and encode_record checks. tests/unit/test_relay_decoding.py
    checks that both paths give the same record bytes."""
    try:
        state = orjson.loads(stored)
        if type(state) is not dict or ("_type_" in state and len(state) == 2):
            return None
        json_state: dict[str, Any] = _json(state)
        return json_state
    except (orjson.JSONDecodeError, _Unusual):
        return None


def _json(value: Any) -> Any:
    """Changes orjson's fresh containers in place; scalars cost no call, nor do the tagged
    values (a dict of `_type_` and `_data_`) inside a container. A float is unusual: orjson
    reads an integer too big for 64 bits as one, where json keeps the integer. So are
    integers beyond ±(2**53 - 1) and keys that are not ASCII (JCS by rfc8785 for those)."""
    if type(value) is dict:
        if "_type_" in value and len(value) == 2:
            return _tagged(value)
        for k, v in value.items():
            if not k.isascii():
                raise _Unusual
            kind = type(v)
            if kind is str:
                continue
            if kind is dict:
                value[k] = _tagged(v) if "_type_" in v and len(v) == 2 else _json(v)
            elif kind is int:
                if not -_SAFE_INT <= v <= _SAFE_INT:
                    raise _Unusual
            elif kind is list:
                _json(v)
            elif kind is float:
                raise _Unusual
    elif type(value) is list:
        for i, v in enumerate(value):
            kind = type(v)
            if kind is str:
                continue
            if kind is dict or kind is list:
                value[i] = _json(v)
            elif kind is int:
                if not -_SAFE_INT <= v <= _SAFE_INT:
                    raise _Unusual
            elif kind is float:
                raise _Unusual
    return value


def _tagged(value: dict[str, Any]) -> str:
    coding, data = value["_type_"], value.get("_data_")
    if type(data) is not str:
        raise _Unusual
    if coding == "uuid_hex":
        return _uuid_text(data)
    if coding == "datetime_iso":
        return _datetime_text(data)
    raise _Unusual


@lru_cache(maxsize=1 << 16)
def _uuid_text(data: str) -> str:
    """str(UUID(data)): an id recurs in the events of its item and of those it meets."""
    if _HEX32.fullmatch(data):
        return f"{data[:8]}-{data[8:12]}-{data[12:16]}-{data[16:20]}-{data[20:]}"
    raise _Unusual


def _datetime_text(data: str) -> str:
    """datetime.fromisoformat(data).isoformat(): data itself when it already has that form
    and is a valid time (isoformat() of an aware datetime is slow)."""
    try:
        parsed = datetime.fromisoformat(data)
    except ValueError:
        raise _Unusual from None
    return data if ISOFORMAT.fullmatch(data) else parsed.isoformat()
