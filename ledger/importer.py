"""`ledger import FILE`: a territory's history from JSON lines, through the same commands and
rules as the API, recorded all at once or not at all.

One fact a line: `{"command": "<name>", ...its fields}` with the names of COMMANDS and the
fields of the command values in ledger/commands.py (`territory` always). A line that creates
something names it with `"ref"`; a field that names an aggregate (`contributor_id`,
`match_id`, `partners`, …) may give such a ref instead of an id, so the ids are derived from
the refs and a second import of the file creates nothing new. Dates in the facts
(`fulfilled_on`, `incurred_on`, …) are kept as given. The whole file is one claim (its
SHA-256) on the idempotency store: a second import records nothing; a bad line stops the
import with its number and records nothing of the file.

How it is fast: the commands run through the write service's handlers in memory
(`LedgerApplication.decide_each`: each aggregate is created or loaded once and kept), in
parallel processes where the file allows it (ledger/importplan.py); the events become rows
of a binary COPY (ledger/eventrows.py), written in one transaction under the event store's
own table lock (`LedgerRecorder.copy_events`) with the keys of the people the file registers
and the claim; when the file runs in parts, the COPY starts with the first rows and goes
on while the parts run (a line creating what exists already fails it, and only then is
looked for, `_taken`). The garbage collector is off meanwhile. Before the parts fork, this process only scans the lines
(`scan`: JSON, command, territory, ref, and every check that names a bad line, so that a
malformed line is named before anything runs); each part makes the commands of its own lines
(`build`: the refs read as ids, each command without its dataclass __init__),
and the aggregates make their events without eventsourcing's generic steps
(ledger/domain/base.py): the same values, attributes and stored bytes.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import io
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import psycopg
from eventsourcing.persistence import IntegrityError

from ledger import commands as cmd
from ledger import importplan
from ledger.application import Claim, LedgerApplication
from ledger.domain import Territory
from ledger.eventstore import EVENTS_TABLE, LedgerRecorder
from ledger.idempotency import IdempotencyStore
from ledger.importplan import IMPORTER, REFERENCES, ImportKeys, Line

__all__ = ["COMMANDS", "IMPORTER", "BadLine", "build", "import_file", "parse", "read", "ref_id",
           "scan"]

IMPORT_NAMESPACE = uuid.UUID("2f7a3c1e-9b4d-4e6a-8c2f-5d1e7b9a3c40")
UUID_LENGTHS = frozenset({32, 36, 38, 45})  # hex, hyphens, {braces}, urn:uuid:
COMMANDS: dict[str, type[cmd.Command]] = {
    "register_territory": cmd.RegisterTerritory, "define_theme": cmd.DefineTheme,
    "define_programme": cmd.DefineProgramme, "set_approval_policy": cmd.SetApprovalPolicy,
    "register_actor": cmd.RegisterActor, "pledge": cmd.Pledge, "post_request": cmd.PostRequest,
    "match": cmd.MakeMatch, "fulfil": cmd.Fulfil, "cancel_match": cmd.CancelMatch,
    "reverse_fulfilment": cmd.ReverseFulfilment, "record_feedback": cmd.RecordFeedback,
    "record_management_cost": cmd.RecordManagementCost,
    "withdraw_contribution": cmd.WithdrawContribution, "withdraw_request": cmd.WithdrawRequest,
}
FIELDS = {name: frozenset(f.name for f in dataclasses.fields(kind))
          for name, kind in COMMANDS.items()}
_MISSING: Any = object()


def _template(kind: type[cmd.Command]) -> tuple[dict[str, Any], frozenset[str]] | None:
    """Every field of a kind of command in field order, with its default (see build), and
    those without one; None if its __init__ could do more than set them."""
    if any(not f.init or f.default_factory is not dataclasses.MISSING
           for f in dataclasses.fields(kind)) or hasattr(kind, "__post_init__"):
        return None
    template = {f.name: _MISSING if f.default is dataclasses.MISSING else f.default
                for f in dataclasses.fields(kind)}
    return template, frozenset(k for k, v in template.items() if v is _MISSING)


TEMPLATES = {kind: _template(kind) for kind in COMMANDS.values()}
REFERENCE_FIELDS = {kind: tuple(sorted(REFERENCES[kind])) for kind in COMMANDS.values()}
# What a line's new id names: an aggregate it creates (a management cost is an event).
CREATES: frozenset[type[cmd.Command]] = frozenset({
    cmd.RegisterActor, cmd.Pledge, cmd.PostRequest, cmd.MakeMatch, cmd.Fulfil})
NAMED = CREATES | {cmd.RecordManagementCost}


class BadLine(ValueError):
    def __init__(self, number: int, reason: str) -> None:
        super().__init__(f"line {number}: {reason}")
        self.number = number


@lru_cache(maxsize=1 << 16)
def ref_id(territory: str, ref: str) -> uuid.UUID:
    """The id a ref names: a UUID as it is, else derived from the territory and the ref."""
    if len(ref) in UUID_LENGTHS:  # the spellings uuid.UUID reads; most refs are shorter
        try:
            return uuid.UUID(ref)
        except ValueError:
            pass
    return uuid5(f"{territory}:{ref}")


_NOT_VARIANT_VERSION = ~((0xc000 << 48) | (0xf000 << 64))
_RFC_4122_VERSION_5 = (0x8000 << 48) | (5 << 76)
_NAMESPACE_SHA1 = hashlib.sha1(IMPORT_NAMESPACE.bytes, usedforsecurity=False)
_UNKNOWN = uuid.SafeUUID.unknown
_set = object.__setattr__
_line = tuple.__new__  # a Line without NamedTuple's __new__, a Python function
_new = object.__new__


def uuid5(name: str) -> uuid.UUID:
    """uuid.uuid5(IMPORT_NAMESPACE, name), a third of the cost (it was a third of an import's
    parsing): the SHA-1 of the namespace taken once, and the same variant and version bits
    set without the checks of UUID.__init__, as uuid.UUID holds them."""
    digest = _NAMESPACE_SHA1.copy()
    digest.update(name.encode())
    made = object.__new__(uuid.UUID)
    _set(made, "int", int.from_bytes(digest.digest()[:16]) & _NOT_VARIANT_VERSION
         | _RFC_4122_VERSION_5)
    _set(made, "is_safe", _UNKNOWN)
    return made


def scan(number: int, line: str | bytes) -> Line:
    """What the plan needs of a line (its command, territory, ref and fields as read), and
    every check of the line that `parse` makes, with its BadLine: a file's bad line is named
    before anything runs. The command itself is made by `build`, in the part that runs it."""
    try:
        fact = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        raise BadLine(number, f"not JSON ({err})") from None
    if not isinstance(fact, dict):
        raise BadLine(number, "a fact is a JSON object")
    name = fact.pop("command", None)
    if type(name) is not str or name not in COMMANDS:  # (a list in a dict: TypeError)
        raise BadLine(number, f"unknown command {name!r} (allowed: {', '.join(COMMANDS)})")
    kind, fields = COMMANDS[name], FIELDS[name]
    territory = fact.get("territory")
    if not isinstance(territory, str):
        raise BadLine(number, "every fact names its territory")
    ref = fact.pop("ref", None)
    if not fact.keys() <= fields:  # (fields.issuperset(fact) makes a set of the keys first)
        raise BadLine(number, f"unknown fields for {name}: {', '.join(sorted(set(fact) - fields))}"
                              f" (allowed: {', '.join(f.name for f in dataclasses.fields(kind))})")
    if ref is not None:
        ref = str(ref)
        # The keys of the people a file registers are made before any part runs.
        new_id = ref_id(territory, ref) if kind is cmd.RegisterActor else None
    else:  # named here, not by the write service, so that every part of the import uses one id
        new_id = uuid.uuid4() if kind in NAMED else None
    made = TEMPLATES[kind]
    if made is None or not fact.keys() >= made[1]:  # __init__ decides, as `kind(**fact)` would
        try:
            command = kind(**_make(kind, fact, territory))
        except TypeError as err:
            raise BadLine(number, f"{name}: {err}") from None
        return _line(Line, (number, kind, territory, fact, ref, new_id, command))
    return _line(Line, (number, kind, territory, fact, ref, new_id, None))


def _make(kind: type[cmd.Command], fact: dict[str, Any], territory: str) -> dict[str, Any]:
    """The fields of a line's command: its refs read as ids (in a copy: the line is kept)."""
    fields = fact.copy()
    _read_refs(kind, fields, territory)
    return fields


def _read_refs(kind: type[cmd.Command], fields: dict[str, Any], territory: str) -> None:
    """The refs among a command's fields read as ids, in place (as orjson reads a line, each
    is exactly a str or a list)."""
    for key in REFERENCE_FIELDS[kind]:
        value = fields.get(key)
        if type(value) is str:
            fields[key] = ref_id(territory, value)
        elif type(value) is list:
            fields[key] = tuple(ref_id(territory, str(v)) for v in value)
    if type(fields.get("required_for")) is list:
        fields["required_for"] = tuple(fields["required_for"])


def build(line: Line) -> tuple[cmd.Command, uuid.UUID | None]:
    """A scanned line's command and the id it names (see `parse`). The command is the frozen
    dataclass `kind(**fields)` makes, with the refs read as ids (`_read_refs`, in one copy of
    the fields): its attributes set in field order without its __init__ setting each one (a
    fifth of the parsing); every field is the kind's and none is missing (checked by
    `scan`)."""
    command = line.command
    if command is None:
        made = TEMPLATES[line.kind]
        assert made is not None
        values = made[0].copy()
        values.update(line.fact)
        _read_refs(line.kind, values, line.territory)
        command = _new(line.kind)
        _set(command, "__dict__", values)
    return command, new_id(line)


def new_id(line: Line) -> uuid.UUID | None:
    if line.new_id is not None or line.ref is None:
        return line.new_id
    return ref_id(line.territory, line.ref)


def parse(number: int, line: str | bytes) -> tuple[cmd.Command, uuid.UUID | None]:
    """The command of a line and the id it names: its ref's, a new one if it names what it
    makes without a ref, else None. Raises BadLine for a line that cannot be a command."""
    return build(scan(number, line))


def read(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as lines:
        yield from _numbered(lines)


def _numbered(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield number, line


def import_file(app: LedgerApplication, store: IdempotencyStore, path: Path,
                progress: Callable[[int], None] | None = None,
                recording: Callable[[int], None] | None = None,
                parts: int | None = None) -> int | None:
    """Record the file's facts; the number of events recorded, or None if it was imported
    before. Raises BadLine (nothing recorded) for the first line that cannot be recorded.
    `progress` hears how many lines were run so far; `recording`, how many events are being
    written once every line passed; `parts`: how many processes may run the commands (by
    default one per CPU; see ledger.importplan)."""
    with _no_collection():
        return _import_file(app, store, path, progress, recording, parts)


@contextmanager
def _no_collection() -> Iterator[None]:
    """The cyclic garbage collector off meanwhile: an import makes hundreds of thousands of
    objects that live until it ends (commands, aggregates, rows), next to none of them in a
    cycle, and the collector's passes over them took a tenth of its CPU time (its parsing,
    a third). Whatever cycle is left is collected once it is back on."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _import_file(app: LedgerApplication, store: IdempotencyStore, path: Path,
                 progress: Callable[[int], None] | None,
                 recording: Callable[[int], None] | None, parts: int | None) -> int | None:
    data = path.read_bytes()  # read once: hashed, then its lines as `read` gives them
    digest = hashlib.sha256(data).hexdigest()
    lines = [scan(number, line) for number, line in _numbered(io.BytesIO(data))]
    earlier = store.claim("import", digest, digest)
    if earlier is not None:
        if earlier.completed or earlier.committed_id is not None:
            return None
        if not (earlier.stale and store.take_over("import", digest)):
            raise BadLine(0, "this file is being imported by another process right now")
    try:
        events = _import(app, lines, Claim("import", digest), progress, recording, parts)
    except BaseException:
        store.release("import", digest)
        raise
    store.complete("import", digest, 201, None, None, {"events": events})
    return events


def _import(app: LedgerApplication, parsed: list[Line], claim: Claim,
            progress: Callable[[int], None] | None, recording: Callable[[int], None] | None,
            parts: int | None) -> int:
    keys = ImportKeys(app.keys, {line.new_id for line in parsed
                                 if line.kind is cmd.RegisterActor and line.new_id})
    recorder = app.recorder
    assert isinstance(recorder, LedgerRecorder)

    def write(rows: Iterable[bytes], first_id: uuid.UUID) -> None:
        recorder.copy_events(rows, first=keys.write,
                             idempotency=(claim.scope, claim.key, first_id))

    # A line that creates what exists already (in the event store, or from an earlier line)
    # is not looked for while the lines run: its rows would break the event store's primary
    # key, so the COPY fails (psycopg.errors.UniqueViolation) and nothing is recorded. Only
    # then, or when a line is refused, the store is asked (`_taken`) which line that is: the
    # lines before such a line run as they would without it, so the first line refused either
    # way is the one a run of the file in order stops at.
    def ready(events: int) -> None:  # every line ran: nothing refused
        if recording:
            recording(events)
    try:
        return importplan.run(app, parsed, build, keys, progress, parts, write, ready)
    except importplan.Refused as refused:
        first_taken = _taken(app, parsed)
        if first_taken and parsed[first_taken[0]].number < refused.number:
            raise BadLine(parsed[first_taken[0]].number,
                          f"AlreadyExists: {first_taken[1]} exists already") from None
        raise BadLine(refused.number, refused.reason) from refused.__cause__
    except (psycopg.errors.UniqueViolation, IntegrityError) as err:
        # the event store's connections raise eventsourcing's IntegrityError, from psycopg's
        violation = err if isinstance(err, psycopg.Error) else err.__cause__
        if not isinstance(violation, psycopg.errors.UniqueViolation):
            raise
        first_taken = _taken(app, parsed)
        if first_taken:  # met by the COPY
            raise BadLine(parsed[first_taken[0]].number,
                          f"AlreadyExists: {first_taken[1]} exists already") from None
        # written by someone else meanwhile
        raise BadLine(0, f"AlreadyExists: {violation.diag.message_detail or violation}") from err


def _created(line: Line) -> uuid.UUID | None:
    if line.kind is cmd.RegisterTerritory:
        return Territory.id_for(line.territory)
    return new_id(line) if line.kind in CREATES else None


def _taken(app: LedgerApplication, parsed: list[Line]) -> tuple[int, uuid.UUID] | None:
    """The first line that creates an aggregate that exists already, in the event store or
    from an earlier line (the API refuses it as AlreadyExists): its index and the id."""
    made: dict[uuid.UUID, int] = {}
    first: tuple[int, uuid.UUID] | None = None
    for i, line in enumerate(parsed):
        ident = _created(line)
        if ident is None:
            continue
        if ident in made:
            first = (i, ident)
            break
        made[ident] = i
    if made:
        with app.keys.db.transaction() as conn:
            rows = conn.execute(f"SELECT DISTINCT originator_id AS id FROM {EVENTS_TABLE} "
                                "WHERE originator_id = ANY(%s)", (list(made),)).fetchall()
        for row in rows:
            if first is None or made[row["id"]] < first[0]:
                first = (made[row["id"]], row["id"])
    return first
