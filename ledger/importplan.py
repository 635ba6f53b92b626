"""Running an import's commands through the write service, in parallel where the file allows.

The commands of a history touch two kinds of aggregates. The territory and its actors are
*shared*: written only by the commands that configure the territory, register people or
record their costs, and read by every other command. The *flow* (offers, needs, matches,
fulfilments) is written by the other commands, each touching a few aggregates that the file
itself links (a match links an offer and a need, a fulfilment its match). Flow commands thus
fall into independent groups, the connected components of those links.

A file is cut into parts, one per CPU, from its lines as scanned (`Line`: the plan tells
aggregates apart by their refs), before any command is made: each part makes the commands
of its own lines (`Build`) and runs every shared command and the commands of its groups,
all in file order, so each command sees exactly what a run of the whole file
in order would show it. Only the first part keeps the shared commands' events. The first
part runs in this process, with a smaller share of the groups (FIRST_SHARE), the others in
forked ones; every part hands on its rows as it goes, a CHUNK at a time, and a thread of
this process writes them in file order as they arrive (one binary COPY, one transaction),
so that PostgreSQL stores them while the parts still run; a refusal anywhere abandons the
transaction. A part never reads the database: a file that refers to anything it does not
create on an earlier line (or one that would make a part read the database anyway) runs in
one part, in this process, as does a small file or a single CPU.
"""

from __future__ import annotations

import bisect
import gc
import heapq
import multiprocessing
import os
import queue
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, NoReturn, get_args, get_type_hints

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import PersistenceError

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
CHUNK = 1 << 20  # bytes of rows per write to the COPY, and per message from a forked part
# The first part, run by this process, gets this share of the lines of one forked part:
# this process also merges the rows of every part and writes them to the COPY meanwhile.
FIRST_SHARE = 0.9
SWITCH_INTERVAL = 0.0005  # seconds, while the parts run (see _forked)
FORK: Final = "fork"  # the parts share what the parent parsed and holds, without copying it


class Line(NamedTuple):
    """A line of the file as scanned before the parts run (ledger.importer.scan): enough to
    plan; the part that runs it makes its command (`Build`)."""

    number: int
    kind: type[cmd.Command]
    territory: str
    fact: dict[str, Any]  # its fields as read, without "command" and "ref": never changed
    ref: str | None
    new_id: uuid.UUID | None  # the id it names, if made by the scan (else from its ref)
    command: cmd.Command | None  # made by the scan already, if its __init__ had to


Build = Callable[[Line], tuple[cmd.Command, uuid.UUID | None]]
Key = str | tuple[str, str] | int  # an aggregate in `plan`


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
        key = self._new.get(subject_id)  # a key is never None
        if key is not None:
            return key
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
    blob: bytearray | bytes = field(default_factory=bytearray)
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


def plan(lines: Sequence[Line], parts: int) -> list[list[int]] | None:
    """The indexes of `lines` each part runs, or None to run the file in one part.

    Aggregates are told apart by the refs that name them, (territory, ref) as written: a ref
    is the same aggregate as the line that created it with the same ref (the same id), and
    a ref written otherwise (the id spelled as a UUID, say) is taken for something the file
    does not create: the file runs in one part. Two refs that are one id created twice are
    refused AlreadyExists by the importer, whatever the parts."""
    if parts < 2 or len(lines) < MIN_SPLIT:
        return None
    territories: set[str] = set()
    # An aggregate's key: its ref for the first line's territory (the usual file's only one),
    # else (territory, ref); an aggregate made without a ref, the index of its line.
    home = lines[0].territory
    actors: set[Key] = set()
    root: dict[Key, Key] = {}  # union-find over the flow aggregates

    def key(territory: str, ref: str) -> Key:
        return ref if territory == home else (territory, ref)

    def find(x: Key) -> Key:
        while (up := root[x]) is not x:
            root[x] = root[up]
            x = up
        return x

    shared: list[int] = []
    flow: list[tuple[int, Key]] = []
    register_territory, register_actor = cmd.RegisterTerritory, cmd.RegisterActor
    specs, creates = SPECS, FLOW_CREATES
    for i, line in enumerate(lines):
        kind, territory, fact = line[1], line[2], line[3]
        spec = specs.get(kind)
        if spec is None:
            return None
        # key(territory, ref), inline: a call per ref was a tenth of the plan
        at_home = territory == home
        if kind is register_territory:
            territories.add(territory)
        elif territory not in territories:
            return None
        flow_names, actor_names = spec
        for name in actor_names:
            value = fact.get(name)
            if value is None:
                continue
            if type(value) is str:
                if (value if at_home else (territory, value)) not in actors:
                    return None
            elif type(value) is not list or not all(key(territory, str(v)) in actors
                                                    for v in value):
                return None
        if kind in SHARED:
            shared.append(i)
            ref = line[4]
            if kind is register_actor and ref is not None:
                actors.add(ref if at_home else (territory, ref))
            continue
        top: Key | None = None
        first: Key | None = None
        if kind in creates:
            ref = line[4]
            made: Key
            if ref is None:  # a new id: nothing of the file names it
                made = i
            else:
                made = ref if at_home else (territory, ref)
                if made in root:  # created twice: refused, in one part
                    return None
            root[made] = top = first = made
        for name in flow_names:
            value = fact.get(name)
            if value is None:
                continue
            if type(value) is not str:
                return None
            link = value if at_home else (territory, value)
            up = root.get(link)
            if up is None:
                return None
            if root[up] is not up:  # (most links are a root, or one step from it)
                up = find(up)
            if top is None:
                top, first = up, link
            elif up is not top:
                root[up] = top
        if first is None:
            return None
        flow.append((i, first))
    groups: dict[Key, list[int]] = {}
    for i, first in flow:
        top = root[first]
        if root[top] is not top:
            top = find(top)
        groups.setdefault(top, []).append(i)
    # (lines / the part's share, part) as a heap: the first part gets FIRST_SHARE of the
    # lines of each other part.
    loads: list[tuple[float, int]] = [(0.0, k) for k in range(parts)]
    shares = [FIRST_SHARE] + [1.0] * (parts - 1)
    chosen: list[list[int]] = [[] for _ in range(parts)]
    for group in sorted(groups.values(), key=len, reverse=True):
        load, k = heapq.heappop(loads)
        chosen[k].extend(group)
        heapq.heappush(loads, (load + len(group) / shares[k], k))
    if sum(1 for c in chosen if c) < 2:
        return None
    return [sorted(shared + c) for c in chosen if c]


def run_part(app: LedgerApplication, lines: Sequence[Line], indexes: Sequence[int],
             build: Build, keys: ImportKeys, keep_shared: bool, tick: Callable[[int], None],
             reads: bool = True, flush: Callable[[Rows], None] | None = None) -> Rows:
    """Run the commands at `indexes`, in order, into rows. Raises Refused for the first that
    breaks a rule; with `reads=False`, Offline if one would read the store. With `flush`, the
    rows are handed to it every CHUNK bytes or so and the rows returned are the last ones."""
    blob = bytearray()
    rows, extend, at, kept = Rows(blob=blob), EventRows(app.mapper).extend, [0], 0

    def commands() -> Iterator[tuple[cmd.Command, uuid.UUID | None]]:
        for i in indexes:
            line = lines[i]
            at[0] = line.number
            yield build(line)

    numbers, ends = rows.lines, rows.ends
    try:
        for k, made in enumerate(app.decide_each(commands(), IMPORTER, keys, reads)):
            line = lines[indexes[k]]
            if keep_shared or line.kind not in SHARED:
                extend(blob, made)
                numbers.append(line.number)
                ends.append(len(blob))
                rows.events += len(made)
                kept += 1
                if kept % TICK == 0:
                    tick(TICK)
                if flush is not None and len(blob) >= CHUNK:
                    flush(rows)
                    blob = bytearray()
                    rows = Rows(blob=blob)
                    numbers, ends = rows.lines, rows.ends
    except (Offline, NotInBatch):
        raise Offline from None
    except Exception as err:  # noqa: BLE001 - every refusal names its line
        raise Refused(at[0], f"{type(err).__name__}: {err}") from err
    tick(kept % TICK)
    return rows


Write = Callable[[Iterable[bytes], uuid.UUID], None]


def run(app: LedgerApplication, lines: Sequence[Line], build: Build, keys: ImportKeys,
        progress: Callable[[int], None] | None, parts: int | None, write: Write,
        ready: Callable[[int], None]) -> int:
    """Run every command, in parts where the file allows, and write their rows in file order
    with `write(chunks, id of the first row)` (one transaction: an exception out of `chunks`
    aborts it). `ready(events)` hears, once every line ran and before the last rows are
    written, how many events there are; it may raise to abort. Raises Refused for the first
    line (in file order) whose command breaks a rule. Returns the number of events."""
    parts = cpus() if parts is None else parts
    chosen = plan(lines, parts) if parts > 1 and FORK in multiprocessing.get_all_start_methods() \
        else None
    if chosen is not None and chosen[0][:1] == [0]:  # the first line, hence row, is part 0's
        try:
            return _forked(app, lines, chosen, build, keys, progress, write, ready)
        except Offline:
            pass  # a part would have read the store: the plan missed a link, run it in one
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0])
    rows = run_part(app, lines, range(len(lines)), build, keys, True, tick)
    ready(rows.events)
    if rows.events:
        write(_chunks(rows), _first_id(rows))
    return rows.events


def _first_id(rows: Rows) -> uuid.UUID:
    """The originator of the first row (binary COPY: 2 + 4 bytes, then its uuid)."""
    return uuid.UUID(bytes=bytes(rows.blob[6:22]))


def _chunks(rows: Rows) -> Iterator[bytes]:
    blob = memoryview(rows.blob)
    for start in range(0, len(blob), CHUNK):
        yield bytes(blob[start:start + CHUNK])


def _forked(app: LedgerApplication, lines: Sequence[Line], chosen: list[list[int]],
            build: Build, keys: ImportKeys, progress: Callable[[int], None] | None, write: Write,
            ready: Callable[[int], None]) -> int:
    context = multiprocessing.get_context(FORK)
    counter = context.Value("q", 0)
    children: list[_Child] = []

    def tick(n: int) -> None:
        with counter.get_lock():
            counter.value += n
        if progress:
            progress(counter.value)

    # What exists now is shared with the forked parts, page by page until either side writes
    # to it: keep the garbage collector's bookkeeping off those objects meanwhile.
    gc.freeze()
    # The thread writing the COPY waits for the GIL each time it is back from the pipe or the
    # socket, while this process's part holds it: a shorter switch interval meanwhile keeps
    # PostgreSQL fed (about 7% faster, 5 runs of 5 alternating with the default 5 ms).
    switching = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        for indexes in chosen[1:]:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, daemon=True,
                                      args=(app, lines, build, indexes, keys, counter, send))
            process.start()
            send.close()
            children.append(_Child(process, receive, tick))
        # This part's rows go to the COPY as it makes them, a CHUNK at a time, merged with
        # the other parts' in file order by a thread of this process (the first flush starts
        # it: its first row is the file's), so that PostgreSQL stores them while every part
        # still runs.
        mine: queue.SimpleQueue[Rows | _Abandoned | None] = queue.SimpleQueue()
        merged = _Merge(mine, children)
        copying: list[threading.Thread] = []
        failed: list[BaseException] = []

        def copy(first_id: uuid.UUID) -> None:
            try:
                write(merged.chunks(ready), first_id)
            except BaseException as err:  # noqa: BLE001 - raised by this process's thread
                failed.append(err)

        def flush(rows: Rows) -> None:
            mine.put(rows)
            if not copying:
                copying.append(threading.Thread(target=copy, args=(_first_id(rows),),
                                                name="import-copy", daemon=True))
                copying[0].start()

        try:
            last = run_part(app, lines, chosen[0], build, keys, True, tick, reads=False,
                            flush=flush)
        except BaseException as err:
            mine.put(_Abandoned())  # the COPY, if begun, fails: nothing is recorded
            for thread in copying:
                thread.join()
            if isinstance(err, Refused):
                _outcome(children, [err])
            raise
        if last.lines or not copying:
            flush(last)
        mine.put(None)
        copying[0].join()
        if failed:
            if isinstance(failed[0], (psycopg.Error, PersistenceError)):
                # e.g. an id taken (psycopg's error, or eventsourcing's, as the event store's
                # connections raise it): unless a line was refused first
                _settle(children, [])
            raise failed[0]
        tick(0)
        return merged.events
    finally:
        sys.setswitchinterval(switching)
        gc.unfreeze()
        for child in children:  # each has sent all it had, unless we stop early
            child.receive.close()
            child.process.join(timeout=5 if child.finished else 0)
            if child.process.is_alive():
                child.process.kill()
                child.process.join()


def _outcome(children: list[_Child], refusals: list[Refused]) -> NoReturn:
    """Once a part refused or failed: wait for every part's end and raise what it means."""
    _settle(children, refusals)
    raise RuntimeError("an import part stopped without saying why")


def _settle(children: list[_Child], refusals: list[Refused]) -> None:
    """Wait for every part's end; raise what a refusal or a failure means (a part that would
    have read the store sends the file to one part; else the first refusal)."""
    offline, failed = False, None
    for child in children:
        while not child.finished:
            child.next()
        offline = offline or child.offline
        failed = failed or child.failed
        if child.refused:
            refusals.append(child.refused)
    if offline:
        raise Offline
    if failed:
        raise RuntimeError(failed)
    if refusals:
        raise min(refusals, key=lambda r: r.number)


class _Child:
    """A forked part as this process hears it: its rows, a chunk at a time, then its end."""

    def __init__(self, process: Any, receive: Any, tick: Callable[[int], None]) -> None:
        self.process, self.receive, self.tick = process, receive, tick
        self.finished, self.offline = False, False
        self.failed: str | None = None
        self.refused: Refused | None = None

    def next(self) -> Rows | None:
        """The next chunk of rows, or None once the part ended (see the flags)."""
        while not self.receive.poll(0.2):
            self.tick(0)
            if not self.process.is_alive() and not self.receive.poll(0):
                self.finished = True
                self.failed = (f"import part {self.process.pid} died (exit code "
                               f"{self.process.exitcode})")
                return None
        message = self.receive.recv()
        if message[0] == "rows":
            return Rows(message[1], message[2], self.receive.recv_bytes(), message[3])
        self.finished = True
        if message[0] == "refused":
            self.refused = Refused(message[1], message[2])
        elif message[0] == "offline":
            self.offline = True
        elif message[0] != "done":
            self.failed = f"import part {self.process.pid} failed: {message[1]}"
        return None


class _Abandoned(Exception):
    """This process's part was refused: the COPY of the rows is abandoned."""


class _Merge:
    """The rows of the parts in file order as they arrive: the first part's (this process's)
    from a queue, the others' from their pipes."""

    def __init__(self, mine: queue.SimpleQueue[Rows | _Abandoned | None],
                 children: list[_Child]) -> None:
        self.mine, self.mine_done = mine, False
        self.children = children
        self.events = 0
        # Per part: the rows at hand (lines, where each line's rows end, bytes) and the
        # index of the next line not yet written.
        self.at: list[tuple[Rows, int] | None] = [None] * (1 + len(children))

    def _head(self, k: int) -> tuple[Rows, int] | None:
        """Part k's rows not written yet, waiting for the next chunk if needed; None once it
        has no more. Raises what a part's failure means."""
        at = self.at[k]
        while at is None or at[1] == len(at[0].lines):
            if not k:  # this process's part
                if self.mine_done:
                    return None
                got = self.mine.get()
                if isinstance(got, _Abandoned):
                    raise got
                if got is None:
                    self.mine_done = True
                    return None
                self.events += got.events
                at = self.at[k] = (got, 0)
                continue
            child = self.children[k - 1]
            if child.finished:
                return None
            rows = child.next()
            if rows is None:
                if child.offline or child.failed or child.refused:
                    _outcome(self.children, [])
                return None
            self.events += rows.events
            at = self.at[k] = (rows, 0)
        return at

    def chunks(self, ready: Callable[[int], None]) -> Iterator[bytes]:
        pieces: list[Any] = []
        size = 0
        while True:
            heads = [(at[0].lines[at[1]], k) for k in range(len(self.at))
                     if (at := self._head(k)) is not None]
            if not heads:
                break
            heads.sort()
            k = heads[0][1]
            rows, j = self.at[k]  # type: ignore[misc]
            # This part's lines up to the next line of another part, in one piece.
            end = len(rows.lines) if len(heads) == 1 else \
                bisect.bisect_left(rows.lines, heads[1][0], j)
            start = rows.ends[j - 1] if j else 0
            piece = memoryview(rows.blob)[start:rows.ends[end - 1]]
            self.at[k] = (rows, end)
            pieces.append(piece)
            size += len(piece)
            if size >= CHUNK:
                yield b"".join(pieces)
                pieces, size = [], 0
        ready(self.events)
        if pieces:
            yield b"".join(pieces)


def _child(app: LedgerApplication, lines: Sequence[Line], build: Build, indexes: Sequence[int],
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

    # The parent reads the rows only once it ran its own part: they wait in this queue, sent
    # by a thread of their own, so that this part never stops for the pipe meanwhile.
    outbox: queue.SimpleQueue[tuple[tuple[Any, ...], bytearray | bytes | None] | None] = \
        queue.SimpleQueue()

    def sending() -> None:
        while (item := outbox.get()) is not None:
            message, blob = item
            send.send(message)
            if blob is not None:
                send.send_bytes(blob)

    def flush(rows: Rows) -> None:
        outbox.put((("rows", rows.lines, rows.ends, rows.events), rows.blob))

    sender = threading.Thread(target=sending, name="import-part-sender", daemon=True)
    sender.start()
    try:
        last = run_part(app, lines, indexes, build, keys, False, tick, reads=False,
                        flush=flush)
        if last.lines:
            flush(last)
        outbox.put((("done",), None))
    except Offline:
        outbox.put((("offline",), None))
    except Refused as refused:
        outbox.put((("refused", refused.number, refused.reason), None))
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which raises
        outbox.put((("failed", repr(err)), None))
    finally:
        outbox.put(None)
        sender.join()
        send.close()
