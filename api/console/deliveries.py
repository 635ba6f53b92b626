"""Deliveries: the matches waiting to be delivered, with the fulfilment form, and the
deliveries of a period, with the beneficiary's feedback form."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from api.console import forms, lookups
from api.console.rights import Rights
from api.console.web import BASE, Checked, Console, ConsoleRoute, SignedIn
from api.deps import Fresh
from api.routes.reads import show
from api.schemas import FeedbackCreate, FulfilmentCreate
from ledger import access
from ledger import commands as cmd
from ledger.access import Action, Role
from ledger.application import NotFound, require
from ledger.domain import Change

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)
LIMIT = 200
DELIVERABLE = ["reserved", "partly_fulfilled"]
FormKey = Annotated[str | None, Form(max_length=100)]
Day = Annotated[date | None, Query()]
LongText = Annotated[str | None, Form(max_length=4000)]


def today(c: Console) -> date:
    return datetime.now(ZoneInfo(c.container.settings.timezone)).date()


def deliveries_page(c: Console, t: str, start: date | None = None, end: date | None = None,
                    done: str | None = None, error: str | None = None, status: int = 200
                    ) -> Response:
    territory = c.territory(t)
    p, reads = c.principal, c.container.reads
    end = end or today(c)
    start = start or end - timedelta(days=30)
    party = p.actor_id if p.role is Role.COMPANY else None
    require(p, Action.READ, t, access.item("fulfilment", companies=(party,)))
    match_rows = [] if party else reads.listing("matches", t, {"status": DELIVERABLE}, 0, LIMIT)
    done_rows = reads.listing("fulfilments", t, {}, 0, LIMIT, party=party, start=start, end=end)
    rights = Rights(c.container, p, t, [*match_rows, *done_rows])
    matches = show(c.container, p, c.request, "matches", t, match_rows)
    delivered = show(c.container, p, c.request, "fulfilments", t, done_rows)
    deliverable = {m["id"] for m, row in zip(matches, match_rows, strict=True)
                   if rights.may(Action.DELIVER, rights.item("match", row))}
    feedback = {f["id"] for f, row in zip(delivered, done_rows, strict=True)
                if f.get("satisfaction") is None and not f["reversed"]
                and rights.may(Action.FEEDBACK, rights.beneficiary(row))}
    # A delivery happened on its fulfilled_on, else on the day it was recorded.
    days = {f["id"]: row.get("fulfilled_on") or row["created_at"]
            for f, row in zip(delivered, done_rows, strict=True)}
    people = [x for item in (*matches, *delivered)
              for x in (item["contributor_id"], item.get("beneficiary_id"))]
    return c.render("console/deliveries.html", status=status, t=t, territory=territory,
                    page="deliveries", matches=matches, deliverable=deliverable,
                    delivered=list(reversed(delivered)), feedback=feedback, days=days,
                    names=lookups.actors(c, t, people), start=start, end=end, today=today(c),
                    changes=[x.value for x in Change], limit=LIMIT,
                    done=forms.DONE.get(done or ""), error=error, new_key=uuid.uuid4().hex)


@router.get("/t/{t}/deliveries", dependencies=[Fresh])
def deliveries(t: str, c: SignedIn, start: Annotated[date | None, Query(alias="from")] = None,
               end: Annotated[date | None, Query(alias="to")] = None,
               done: str | None = None) -> Response:
    return deliveries_page(c, t, start, end, done)


@router.post("/t/{t}/matches/{match_id}/fulfil")
def fulfil(t: str, match_id: uuid.UUID, c: Checked, quantity: Annotated[str, Form(max_length=40)],
           fulfilled_on: Annotated[date | None, Form()] = None, note: LongText = None,
           form_key: FormKey = None) -> Response:
    def run() -> int:
        found = c.container.reads.item("matches", t, match_id)
        if found is None:
            raise NotFound("match", match_id)
        body = FulfilmentCreate(quantity=forms.quantity(quantity, found["unit"]),
                                fulfilled_on=fulfilled_on.isoformat() if fulfilled_on else None,
                                note=note or None)
        return c.write(body, cmd.Fulfil(t, match_id, body.quantity, body.fulfilled_on, body.note),
                       form_key)
    return c.act(run, c.url(f"/t/{t}/deliveries"), "delivered",
                 lambda error, status: deliveries_page(c, t, error=error, status=status))


@router.post("/t/{t}/fulfilments/{fulfilment_id}/feedback")
def feedback(t: str, fulfilment_id: uuid.UUID, c: Checked,
             satisfaction: Annotated[int, Form(ge=1, le=5)],
             change: Annotated[str | None, Form(max_length=20)] = None, comment: LongText = None,
             form_key: FormKey = None) -> Response:
    def run() -> int:
        body = FeedbackCreate.model_validate({"satisfaction": satisfaction,
                                              "change": change or None, "comment": comment or None})
        command = cmd.RecordFeedback(t, fulfilment_id, body.satisfaction, body.change,
                                     body.comment)
        return c.write(body, command, form_key)
    return c.act(run, c.url(f"/t/{t}/deliveries"), "feedback",
                 lambda error, status: deliveries_page(c, t, error=error, status=status))
