"""Running an import's commands through the write service, in parallel where the file allows.

The commands of a history touch two kinds of aggregates. The territory and its actors are
*shared*: written only by the commands that configure the territory, register people or
record their costs, and read by every other command. The *flow* (offers, needs, matches,
fulfilments) is written by the other commands, each touching a few aggregates that the file
itself links (a match links an offer and a need, a fulfilment its match). Flow commands thus
fall into independent groups, the connected components of those links.

A file is cut into parts, one per CPU: each part runs every shared command and the commands
of its groups, all in file order, so each command sees exactly what a run of the whole file
in order would show it. Only the first part keeps the shared commands' events; the parts'
rows are then put back in file order. The first part runs in this process, the others in
forked ones. A part never reads the database: a file that refers to anything it does not
create on an earlier line (or one that would make a part read the database anyway) runs in
one part, in this process, as does a small file or a single CPU.
"""

from __future__ import annotations

import gc
import heapq
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, get_args, get_type_hints

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger import commands as cmd
from ledger.access import Principal, Role
from ledger.application import LedgerApplication, NotInBatch
from ledger.eventrows import EventRows
from ledger.privacy import KeyStore

IMPORTER = Principal("cli:import", "ledger import", Role.ADMIN)
SHARED: frozenset[type[cmd.Command]] = frozenset({
    cmd.RegisterTerritory, cmd.DefineTheme, cmd.DefineProgramme, cmd.SetApprovalPolicy,
    cmd.RegisterActor, cmd.RecordManagementCost})
FLOW_CREATES: frozenset[type[cmd.Command]] = frozenset({
    cmd.Pledge, cmd.PostRequest, cmd.MakeMatch, cmd.Fulfil})
FLOW: frozenset[type[cmd.Command]] = FLOW_CREATES | {
    cmd.CancelMatch, cmd.ReverseFulfilment, cmd.RecordFeedback, cmd.WithdrawContribution,
    cmd.WithdrawRequest}
FLOW_REFS = frozenset({"contribution_id", "request_id", "match_id", "fulfilment_id"})
ACTOR_REFS = frozenset({"contributor_id", "beneficiary_id", "employer_id", "case_owner_id",
                        "company_id", "actor_id", "partners"})


def references(kind: type[cmd.Command]) -> frozenset[str]:
    """The fields of a command that name aggregates: a uuid, or a tuple of them."""
    hints = get_type_hints(kind)
    return frozenset(name for name, hint in hints.items()
                     if uuid.UUID in get_args(hint) or hint is uuid.UUID)


REFERENCES = {kind: references(kind) for kind in SHARED | FLOW}
MIN_SPLIT = 2000  # lines: below this, forking costs more than it saves
TICK = 1000  # lines between two reports to the progress bar
CHUNK = 1 << 20  # bytes of rows per write to the COPY
FORK: Final = "fork"  # the parts share what the parent parsed and holds, without copying it

Parsed = tuple[int, cmd.Command, uuid.UUID | None]


class Refused(Exception):
    """A command of the part broke a rule: its line and why."""

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(f"line {number}: {reason}")
        self.number, self.reason = number, reason


class Offline(Exception):
    """A part in a forked process would have read the database."""


class ImportKeys(KeyStore):
    """The keys of the people a file registers, made in memory before any command runs (so
    that every part seals with the same ones) and written with the events, in their
    transaction: a refused file leaves no key behind. The keys of people recorded before are
    read once. Personal data is sealed exactly as the API seals it."""

    def __init__(self, keys: KeyStore, registered: set[uuid.UUID]) -> None:
        super().__init__(keys.db, keys.keyring)
        self._read: dict[uuid.UUID, bytes | None] = dict(keys.get_many(registered))
        self._new = {s: AESGCM.generate_key(bit_length=256) for s in registered - set(self._read)}
        self.offline = False  # in a forked part: reading the database raises Offline

    def create(self, subject_id: uuid.UUID) -> bytes:
        key = self._new.get(subject_id) or self._read.get(subject_id)
        if key is None:
            key = self._new[subject_id] = AESGCM.generate_key(bit_length=256)
        return key

    def get(self, subject_id: uuid.UUID) -> bytes | None:
        if subject_id in self._new:
            return self._new[subject_id]
        if subject_id not in self._read:
            if self.offline:
                raise Offline
            self._read[subject_id] = super().get(subject_id)
        return self._read[subject_id]

    def write(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        """Wrap the new keys with the master key current now and COPY them: a key stored
        meanwhile by someone else for one of these people fails the whole transaction."""
        if not self._new:
            return
        self._writing(conn)
        with conn.cursor() as cur, cur.copy(
                "COPY subject_keys (subject_id, wrapped_by, key) FROM STDIN") as copy:
            for subject_id, key in self._new.items():
                copy.write_row((subject_id, *self.keyring.wrap(subject_id, key)))


@dataclass
class Rows:
    """A part's events as binary COPY rows: per line kept, its number and where its rows end."""

    lines: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    blob: bytearray = field(default_factory=bytearray)
    events: int = 0


def cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _spec(kind: type[cmd.Command]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The fields of a kind of command that name flow aggregates and actors; None if one names
    anything else."""
    names = REFERENCES[kind]
    if not names <= FLOW_REFS | ACTOR_REFS:
        return None
    return tuple(sorted(names & FLOW_REFS)), tuple(sorted(names & ACTOR_REFS))


SPECS = {kind: spec for kind in REFERENCES if (spec := _spec(kind)) is not None}


def plan(parsed: Sequence[Parsed], parts: int) -> list[list[int]] | None:
    """The indexes of `parsed` each part runs, or None to run the file in one part."""
    if parts < 2 or len(parsed) < MIN_SPLIT:
        return None
    territories: set[str] = set()
    # Ids as their ints below: a UUID hashes in Python, an int in C.
    actors: set[int] = set()
    root: dict[int, int] = {}  # union-find over the flow aggregates

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    shared: list[int] = []
    flow: list[tuple[int, int]] = []
    for i, (_, command, new_id) in enumerate(parsed):
        kind = type(command)
        spec = SPECS.get(kind)
        if spec is None:
            return None
        if kind is cmd.RegisterTerritory:
            territories.add(command.territory)
        elif command.territory not in territories:
            return None
        flow_names, actor_names = spec
        for name in actor_names:
            value = getattr(command, name)
            if value is None:
                continue
            if not all(type(v) is uuid.UUID and v.int in actors
                       for v in (value if type(value) is tuple else (value,))):
                return None
        if kind in SHARED:
            shared.append(i)
            if kind is cmd.RegisterActor and new_id is not None:
                actors.add(new_id.int)
            continue
        links = []
        for name in flow_names:
            value = getattr(command, name)
            if value is not None:
                if type(value) is not uuid.UUID or value.int not in root:
                    return None
                links.append(value.int)
        if kind in FLOW_CREATES:
            if new_id is None or new_id.int in root:  # created twice: refused, in one part
                return None
            root[new_id.int] = new_id.int
            links.insert(0, new_id.int)
        if not links:
            return None
        top = find(links[0])
        for other in links[1:]:
            root[find(other)] = top
        flow.append((i, links[0]))
    groups: dict[int, list[int]] = {}
    for i, first in flow:
        groups.setdefault(find(first), []).append(i)
    loads: list[tuple[int, int]] = [(0, k) for k in range(parts)]  # (lines, part) as a heap
    chosen: list[list[int]] = [[] for _ in range(parts)]
    for group in sorted(groups.values(), key=len, reverse=True):
        load, k = heapq.heappop(loads)
        chosen[k].extend(group)
        heapq.heappush(loads, (load + len(group), k))
    if sum(1 for c in chosen if c) < 2:
        return None
    return [sorted(shared + c) for c in chosen if c]


def run_part(app: LedgerApplication, parsed: Sequence[Parsed], indexes: Sequence[int],
             keys: ImportKeys, keep_shared: bool, tick: Callable[[int], None],
             reads: bool = True) -> Rows:
    """Run the commands at `indexes`, in order, into rows. Raises Refused for the first that
    breaks a rule; with `reads=False`, Offline if one would read the store."""
    rows, row, at = Rows(), EventRows(app.mapper).row, [0]

    def commands() -> Iterator[tuple[cmd.Command, uuid.UUID | None]]:
        for i in indexes:
            number, command, new_id = parsed[i]
            at[0] = number
            yield command, new_id

    try:
        for k, made in enumerate(app.decide_each(commands(), IMPORTER, keys, reads)):
            number, command, _ = parsed[indexes[k]]
            if keep_shared or type(command) not in SHARED:
                for event in made:
                    rows.blob += row(event)
                rows.lines.append(number)
                rows.ends.append(len(rows.blob))
                rows.events += len(made)
                if len(rows.lines) % TICK == 0:
                    tick(TICK)
    except (Offline, NotInBatch):
        raise Offline from None
    except Exception as err:  # noqa: BLE001 - every refusal names its line
        raise Refused(at[0], f"{type(err).__name__}: {err}") from err
    tick(len(rows.lines) % TICK)
    return rows


def run(app: LedgerApplication, parsed: Sequence[Parsed], keys: ImportKeys,
        progress: Callable[[int], None] | None, parts: int | None = None) -> list[Rows]:
    """Run every command, in parts where the file allows; each part's rows. Raises Refused
    for the first line (in file order) whose command breaks a rule."""
    parts = cpus() if parts is None else parts
    chosen = plan(parsed, parts) if parts > 1 and FORK in multiprocessing.get_all_start_methods() \
        else None
    if chosen is not None:
        try:
            return _forked(app, parsed, chosen, keys, progress)
        except Offline:
            pass  # a part would have read the store: the plan missed a link, run it in one
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0])
    return [run_part(app, parsed, range(len(parsed)), keys, True, tick)]


def _forked(app: LedgerApplication, parsed: Sequence[Parsed], chosen: list[list[int]],
            keys: ImportKeys, progress: Callable[[int], None] | None) -> list[Rows]:
    context = multiprocessing.get_context(FORK)
    counter = context.Value("q", 0)
    children: list[tuple[Any, Any]] = []
    refusals: list[Refused] = []
    results: list[Rows] = []

    def tick(n: int) -> None:
        with counter.get_lock():
            counter.value += n
        if progress:
            progress(counter.value)

    # What exists now is shared with the forked parts, page by page until either side writes
    # to it: keep the garbage collector's bookkeeping off those objects meanwhile.
    gc.freeze()
    try:
        for indexes in chosen[1:]:
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_child, daemon=True,
                                    args=(app, parsed, indexes, keys, counter, send))
            child.start()
            send.close()
            children.append((child, receive))
        try:
            results.append(run_part(app, parsed, chosen[0], keys, True, tick, reads=False))
        except Refused as refused:
            refusals.append(refused)
        for child, receive in children:
            while not receive.poll(0.2):
                tick(0)
                if not child.is_alive() and not receive.poll(0):
                    raise RuntimeError(f"import part {child.pid} died (exit code "
                                       f"{child.exitcode})")
            outcome = receive.recv()
            if outcome[0] == "rows":
                results.append(Rows(outcome[1], outcome[2], bytearray(receive.recv_bytes()),
                                    outcome[3]))
            elif outcome[0] == "refused":
                refusals.append(Refused(outcome[1], outcome[2]))
            elif outcome[0] == "offline":
                raise Offline
            else:
                raise RuntimeError(f"import part {child.pid} failed: {outcome[1]}")
        tick(0)
    finally:
        gc.unfreeze()
        for child, receive in children:  # each has sent all it had, unless we stop early
            receive.close()
            child.join(timeout=5 if len(results) + len(refusals) == len(chosen) else 0)
            if child.is_alive():
                child.kill()
                child.join()
    if refusals:
        raise min(refusals, key=lambda r: r.number)
    return results


def _child(app: LedgerApplication, parsed: Sequence[Parsed], indexes: Sequence[int],
           keys: ImportKeys, counter: Any, send: Any) -> None:
    """A forked part: it must never use the connections it inherited, so whatever would read
    the database raises Offline instead (and the file then runs in one part)."""

    def offline(*_: Any, **__: Any) -> Any:
        raise Offline

    # Every read of the event store goes through its datastore's connections: in this forked
    # process only, asking for one raises Offline (the keys are guarded by ImportKeys).
    setattr(app.recorder.datastore, "get_connection", offline)  # type: ignore[attr-defined]  # noqa: B010
    keys.offline = True

    def tick(n: int) -> None:
        with counter.get_lock():
            counter.value += n

    try:
        rows = run_part(app, parsed, indexes, keys, False, tick, reads=False)
        send.send(("rows", rows.lines, rows.ends, rows.events))
        send.send_bytes(rows.blob)
    except Offline:
        send.send(("offline",))
    except Refused as refused:
        send.send(("refused", refused.number, refused.reason))
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which raises
        send.send(("failed", repr(err)))
    finally:
        send.close()


def in_file_order(parts: Sequence[Rows]) -> Iterator[bytes]:
    """The parts' rows merged by line number, in chunks of about CHUNK bytes."""
    if len(parts) == 1:
        blob = memoryview(parts[0].blob)
        for start in range(0, len(blob), CHUNK):
            yield bytes(blob[start:start + CHUNK])
        return
    views = [memoryview(p.blob) for p in parts]
    starts = [[0, *p.ends[:-1]] for p in parts]
    merged = heapq.merge(*[zip(p.lines, [k] * len(p.lines), range(len(p.lines)), strict=True)
                           for k, p in enumerate(parts)])
    chunk: list[memoryview] = []
    size = 0
    for _, k, j in merged:
        piece = views[k][starts[k][j]:parts[k].ends[j]]
        chunk.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield b"".join(chunk)
            chunk, size = [], 0
    if chunk:
        yield b"".join(chunk)
