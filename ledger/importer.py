"""`ledger import FILE`: a territory's history from JSON lines, through the same commands and
rules as the API, recorded all at once or not at all.

One fact a line: `{"command": "<name>", ...its fields}` with the names of COMMANDS and the
fields of the command values in ledger/commands.py (`territory` always). A line that creates
something names it with `"ref"`; any field ending in `_id` (and `partners`) may give such a
ref instead of an id, so the ids are derived from the refs and a second import of the file
creates nothing new. Dates in the facts (`fulfilled_on`, `incurred_on`, …) are kept as given.
The whole file is one claim (its SHA-256) on the idempotency store: a second import records
nothing; a bad line stops the import with its number and records nothing of the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ledger import commands as cmd
from ledger.access import Principal, Role
from ledger.application import Claim, LedgerApplication
from ledger.idempotency import IdempotencyStore

IMPORT_NAMESPACE = uuid.UUID("2f7a3c1e-9b4d-4e6a-8c2f-5d1e7b9a3c40")
IMPORTER = Principal("cli:import", "ledger import", Role.ADMIN)
COMMANDS: dict[str, type[cmd.Command]] = {
    "register_territory": cmd.RegisterTerritory, "define_theme": cmd.DefineTheme,
    "define_programme": cmd.DefineProgramme, "set_approval_policy": cmd.SetApprovalPolicy,
    "register_actor": cmd.RegisterActor, "pledge": cmd.Pledge, "post_request": cmd.PostRequest,
    "match": cmd.MakeMatch, "fulfil": cmd.Fulfil, "cancel_match": cmd.CancelMatch,
    "reverse_fulfilment": cmd.ReverseFulfilment, "record_feedback": cmd.RecordFeedback,
    "record_management_cost": cmd.RecordManagementCost,
    "withdraw_contribution": cmd.WithdrawContribution, "withdraw_request": cmd.WithdrawRequest,
}


class BadLine(ValueError):
    def __init__(self, number: int, reason: str) -> None:
        super().__init__(f"line {number}: {reason}")
        self.number = number


def ref_id(territory: str, ref: str) -> uuid.UUID:
    """The id a ref names: a UUID as it is, else derived from the territory and the ref."""
    try:
        return uuid.UUID(ref)
    except ValueError:
        return uuid.uuid5(IMPORT_NAMESPACE, f"{territory}:{ref}")


def parse(number: int, line: str) -> tuple[cmd.Command, uuid.UUID | None]:
    try:
        fact = json.loads(line)
    except ValueError as err:
        raise BadLine(number, f"not JSON ({err})") from None
    if not isinstance(fact, dict):
        raise BadLine(number, "a fact is a JSON object")
    name = fact.pop("command", None)
    if name not in COMMANDS:
        raise BadLine(number, f"unknown command {name!r} (allowed: {', '.join(COMMANDS)})")
    kind = COMMANDS[name]
    territory = fact.get("territory")
    if not isinstance(territory, str):
        raise BadLine(number, "every fact names its territory")
    ref = fact.pop("ref", None)
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(fact) - set(fields))
    if unknown:
        raise BadLine(number, f"unknown fields for {name}: {', '.join(unknown)} "
                              f"(allowed: {', '.join(fields)})")
    values: dict[str, Any] = {}
    for key, value in fact.items():
        if key.endswith("_id") and isinstance(value, str):
            value = ref_id(territory, value)
        elif key == "partners" and isinstance(value, list):
            value = tuple(ref_id(territory, str(v)) for v in value)
        elif key == "required_for" and isinstance(value, list):
            value = tuple(value)
        values[key] = value
    try:
        command = kind(**values)
    except TypeError as err:
        raise BadLine(number, f"{name}: {err}") from None
    return command, (ref_id(territory, str(ref)) if ref is not None else None)


def read(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield number, line


def import_file(app: LedgerApplication, store: IdempotencyStore, path: Path,
                progress: Callable[[int], None] | None = None) -> int | None:
    """Record the file's facts; the number of events recorded, or None if it was imported
    before. Raises BadLine (nothing recorded) for the first line that cannot be recorded."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    parsed = [(number, *parse(number, line)) for number, line in read(path)]
    earlier = store.claim("import", digest, digest)
    if earlier is not None:
        if earlier.completed or earlier.committed_id is not None:
            return None
        if not (earlier.stale and store.take_over("import", digest)):
            raise BadLine(0, "this file is being imported by another process right now")
    try:
        recorded = _run(app, parsed, Claim("import", digest), progress)
    except BaseException:
        store.release("import", digest)
        raise
    store.complete("import", digest, 201, None, None, {"events": recorded})
    return recorded


def _run(app: LedgerApplication, parsed: list[tuple[int, cmd.Command, uuid.UUID | None]],
         claim: Claim, progress: Callable[[int], None] | None) -> int:
    """Run the batch, naming the line whose command breaks a rule (line 0: the file as a
    whole, e.g. a fact that is already recorded by other means)."""
    at = {"line": 0}

    def commands() -> Iterator[tuple[cmd.Command, uuid.UUID | None]]:
        for done, (number, command, new_id) in enumerate(parsed, start=1):
            at["line"] = number
            yield command, new_id
            if progress:
                progress(done)
        at["line"] = 0

    try:
        return app.run_batch(commands(), IMPORTER, claim)
    except Exception as err:  # noqa: BLE001 - every refusal names its line
        raise BadLine(at["line"], f"{type(err).__name__}: {err}") from err
