"""Audit: the territory's hash chain verified, its latest signed checkpoint and verifier key,
the records page by page, and each record's offline proof (`c2sp.org/tlog-proof@v1`, the
file `tools/verify_proof.py` checks) to download."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.console import lookups
from api.console.web import BASE, ConsoleRoute, SignedIn
from api.deps import Fresh
from api.problems import TYPE_BASE, Problem
from ledger.access import Action
from ledger.application import require
from ledger.tlog import NotInLog, NotSignedYet, TransparencyLog

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)
PAGE = 50


def transparency_log(request: Request) -> TransparencyLog:
    """The app's one TransparencyLog (and tile cache), shared with api/routes/proofs.py."""
    log: TransparencyLog | None = getattr(request.app.state, "transparency_log", None)
    if log is None:
        log = request.app.state.transparency_log = TransparencyLog(
            request.app.state.container.db)
    return log


@router.get("/t/{t}/audit", dependencies=[Fresh])
def audit(t: str, c: SignedIn, request: Request,
          after: Annotated[int | None, Query(ge=0, le=2**53)] = None) -> Response:
    territory = c.territory(t)
    require(c.principal, Action.READ_AUDIT, t)
    reads = c.container.reads
    verification = reads.verify(t)
    start = after if after is not None else max(0, verification["count"] - PAGE)
    records = reads.audit(t, start, PAGE)
    log = transparency_log(request)
    checkpoint = log.checkpoint(t)
    return c.render("console/audit.html", t=t, territory=territory, page="audit",
                    verification=verification, records=records, checkpoint=checkpoint,
                    key=log.verifier_key(t), page_size=PAGE, start=start,
                    operators=lookups.operators(c, [r["operator_id"] for r in records]))


@router.get("/t/{t}/audit/proof/{seq}")
def proof(t: str, seq: Annotated[int, Path(ge=1, le=2**53)], c: SignedIn,
          request: Request) -> Response:
    c.territory(t)
    require(c.principal, Action.READ_AUDIT, t)
    try:
        text = transparency_log(request).proof_file(t, seq)
    except NotSignedYet as err:
        raise Problem(503, "Not signed yet", str(err), TYPE_BASE + "not-signed-yet") from None
    except NotInLog as err:
        raise Problem(404, "Not found", str(err), TYPE_BASE + "not-found") from None
    return c.secure(Response(text, media_type="text/plain; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{t}-{seq}.tlog-proof"'}))
