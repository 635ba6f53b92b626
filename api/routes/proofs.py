"""Proofs anyone can check: each territory's signed checkpoint and verifier key, inclusion and
consistency proofs, and the offline proof file of one record (CONTRACT.md, "Proofs anyone can
check"). Readable by the roles that may read the audit trail (ledger/access.py)."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse

from api import models
from api.asyncapi import asyncapi_document
from api.deps import ContainerDep, PrincipalDep
from api.problems import TYPE_BASE, Problem
from api.proof_models import ConsistencyProof, InclusionProof, InclusionProofPage
from ledger.access import Action
from ledger.application import require
from ledger.container import Container
from ledger.tlog import NotInLog, NotSignedYet, TransparencyLog

PROBLEMS = models.problem_responses(401, 403, 404, 422, 503)
TEXT: dict[int | str, dict[str, Any]] = {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}}
router = APIRouter(prefix="/v1/territories/{t}/log", responses=PROBLEMS, tags=["proofs"])
documents = APIRouter()
Size = Annotated[int, Query(ge=1, le=2**53)]


def _log(request: Request, c: Container) -> TransparencyLog:
    log: TransparencyLog | None = getattr(request.app.state, "transparency_log", None)
    if log is None:
        log = request.app.state.transparency_log = TransparencyLog(c.db)
    return log


def _not_in_log(err: Exception) -> Problem:
    if isinstance(err, NotSignedYet):
        return Problem(503, "Not signed yet", str(err), TYPE_BASE + "not-signed-yet",
                       {"Retry-After": "1"})
    return Problem(404, "Not found", str(err), TYPE_BASE + "not-found")


def _invalid(name: str, detail: str) -> Problem:
    return Problem(422, "Invalid request", detail, TYPE_BASE + "validation",
                   errors=[{"loc": ["query", name], "msg": detail}])


def _latest_size(log: TransparencyLog, t: str) -> int:
    checkpoint = log.checkpoint(t)
    if checkpoint is None:
        raise Problem(404, "Not found", f"territory {t} has no signed checkpoint yet",
                      TYPE_BASE + "not-found")
    return checkpoint.size


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get("/checkpoint", response_class=PlainTextResponse, responses=TEXT)
def checkpoint(t: str, c: ContainerDep, p: PrincipalDep, request: Request) -> PlainTextResponse:
    """The latest signed checkpoint: a C2SP tlog-checkpoint signed note (Ed25519)."""
    require(p, Action.READ_AUDIT, t)
    found = _log(request, c).checkpoint(t)
    if found is None:
        raise Problem(404, "Not found", f"territory {t} has no signed checkpoint yet",
                      TYPE_BASE + "not-found")
    return PlainTextResponse(found.note)


@router.get("/key", response_class=PlainTextResponse, responses=TEXT)
def key(t: str, c: ContainerDep, p: PrincipalDep, request: Request) -> PlainTextResponse:
    """The verifier key of the territory's checkpoints: `name+hex(key id)+base64(0x01‖key)`."""
    require(p, Action.READ_AUDIT, t)
    found = _log(request, c).verifier_key(t)
    if found is None:
        raise Problem(404, "Not found", f"territory {t} has no log key yet", TYPE_BASE + "not-found")
    return PlainTextResponse(found + "\n")


@router.get("/proof/inclusion", response_model=InclusionProof)
def inclusion(t: str, c: ContainerDep, p: PrincipalDep, request: Request,
              seq: Annotated[int, Query(ge=1, le=2**53)], size: Size | None = None
              ) -> dict[str, Any]:
    """Inclusion of record `seq` (leaf `seq - 1`) in the tree of `size` records (default: the
    latest checkpoint's)."""
    require(p, Action.READ_AUDIT, t)
    log = _log(request, c)
    size = size if size is not None else _latest_size(log, t)
    if seq > size:
        raise _invalid("seq", f"record {seq} is not in a tree of {size} records")
    try:
        hashes = log.inclusion(t, seq, size)
    except (NotInLog, NotSignedYet) as err:
        raise _not_in_log(err) from None
    return {"leaf_index": seq - 1, "tree_size": size, "hashes": _b64(hashes)}


@router.get("/proofs", response_model=InclusionProofPage)
def inclusion_proofs(t: str, c: ContainerDep, p: PrincipalDep, request: Request,
                     size: Size | None = None, after: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """The inclusion proofs of every record in the tree of `size` records (default: the latest
    checkpoint's), in seq order, `limit` a page: what an auditor needs to check them all."""
    require(p, Action.READ_AUDIT, t)
    log = _log(request, c)
    size = size if size is not None else _latest_size(log, t)
    if after is not None and (not after.isdigit() or len(after) > 18):
        raise _invalid("after", "the cursor is not one this API gave out")
    first = int(after or 0) + 1
    last = min(size, first + limit - 1)
    try:
        if first > size:
            log.require_size(t, size)
            return {"items": [], "next": None}
        proofs = log.inclusions(t, first, last, size)
    except (NotInLog, NotSignedYet) as err:
        raise _not_in_log(err) from None
    items = [{"leaf_index": seq - 1, "tree_size": size, "hashes": _b64(hashes)}
             for seq, hashes in zip(range(first, last + 1), proofs, strict=True)]
    return {"items": items, "next": str(last) if last < size else None}


@router.get("/proof/consistency", response_model=ConsistencyProof)
def consistency(t: str, c: ContainerDep, p: PrincipalDep, request: Request,
                from_: Annotated[int, Query(alias="from", ge=1, le=2**53)],
                to: Size | None = None) -> dict[str, Any]:
    """That the tree of `to` records (default: the latest checkpoint's) extends the tree of
    `from` records."""
    require(p, Action.READ_AUDIT, t)
    log = _log(request, c)
    to = to if to is not None else _latest_size(log, t)
    if from_ > to:
        raise _invalid("from", f"from ({from_}) is larger than to ({to})")
    try:
        hashes = log.consistency(t, from_, to)
    except (NotInLog, NotSignedYet) as err:
        raise _not_in_log(err) from None
    return {"from": from_, "to": to, "hashes": _b64(hashes)}


@router.get("/proof/{seq}", response_class=PlainTextResponse, responses=TEXT)
def proof_file(t: str, seq: Annotated[int, Path(ge=1, le=2**53)], c: ContainerDep,
               p: PrincipalDep, request: Request) -> PlainTextResponse:
    """A `c2sp.org/tlog-proof@v1` file for record `seq`: the record's JCS bytes (base64, on
    the `extra` line), its index, its inclusion proof and the latest checkpoint. Check it
    offline with `tools/verify_proof.py`."""
    require(p, Action.READ_AUDIT, t)
    try:
        return PlainTextResponse(_log(request, c).proof_file(t, seq))
    except (NotInLog, NotSignedYet) as err:
        raise _not_in_log(err) from None


@documents.get("/asyncapi.json", include_in_schema=False)
def asyncapi(c: ContainerDep) -> dict[str, Any]:
    """The AsyncAPI 3 document of the Kafka topics (no credentials, like /openapi.json)."""
    return asyncapi_document(c.settings)
