"""Reports as pages: the municipal overview and a company's CSR report (B4SI), each with a
period and a programme picker, charts, the figures as tables, and CSV/XLSX downloads made
by the same code as the API's (`ledger/reports/`, `api/exports.py`)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.console import lookups
from api.console.charts import Row, bar_chart
from api.console.deliveries import today
from api.console.labels import sentence
from api.console.web import BASE, Console, ConsoleRoute, SignedIn
from api.deps import Fresh
from api.exports import Format, export
from api.problems import TYPE_BASE, Problem
from api.routes.reads import show
from ledger import access
from ledger.access import Action, Role
from ledger.application import NotFound, require
from ledger.reports.csr import csr
from ledger.reports.overview import overview
from ledger.reports.period import Period

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)
From = Annotated[date | None, Query(alias="from")]
To = Annotated[date | None, Query(alias="to")]
Programme = Annotated[str | None, Query(pattern=r"^$|^[a-z0-9][a-z0-9_.-]{1,63}$")]
Table = Annotated[str | None, Query(max_length=64)]


def _period(c: Console, start: date | None, end: date | None, programme: str | None) -> Period:
    end = end or today(c)
    start = start or end.replace(month=1, day=1)
    if end < start:
        raise Problem(422, "Invalid period", f"to ({end}) is before from ({start})",
                      TYPE_BASE + "invalid-period")
    return Period(start, end, programme or None, False)


def _file(c: Console, body: dict[str, Any], fmt: Format, main: str, name: str,
          table: str | None) -> Response:
    answer = export(body, fmt, main, name, table)
    assert isinstance(answer, Response)
    return c.secure(answer)


def _query(period: Period) -> dict[str, str | None]:
    return {"from": period.start.isoformat(), "to": period.end.isoformat(),
            "programme": period.programme}


@router.get("/t/{t}/reports/overview", dependencies=[Fresh])
def overview_page(t: str, c: SignedIn, start: From = None, end: To = None,
                  programme: Programme = None, format: Format = Format.JSON,
                  table: Table = None) -> Response:
    territory = c.territory(t)
    require(c.principal, Action.READ_REPORT, t, access.Item("overview"))
    period = _period(c, start, end, programme)
    body = overview(c.container.reads, t, period)
    if format is not Format.JSON:
        return _file(c, body, format, "delivered", f"overview-{t}-{period.start}-{period.end}", table)
    themes = lookups.themes(c, t)
    _ = c.gettext
    by_theme = [Row(sentence(themes.get(r["theme"], r["theme"])), (r["posted"], r["met"]),
                    (c.fmt.number(r["posted"]), c.fmt.number(r["met"])))
                for r in body["needs"]["by_theme"]]
    funding = [Row(c.label("source", r["source"]), (r["eur_cent"],), (c.fmt.money(r["eur_cent"]),))
               for r in body["funding_mix"]]
    charts = {
        "needs": bar_chart("chart-needs", _("Needs posted and met, by theme"),
                           _("For each theme, how many needs were posted in the period and how "
                             "many of them are met; the table below gives the same figures."),
                           by_theme, (_("Posted"), _("Met"))),
        "funding": bar_chart("chart-funding", _("Money delivered, by source"),
                             _("Euros delivered in the period by where the money came from; "
                               "the table below gives the same figures."), funding),
    }
    return c.render("console/overview.html", t=t, territory=territory, page="overview",
                    report=body, charts=charts, themes=themes, period=period,
                    programmes=lookups.programmes(c, t), query=_query(period))


@router.get("/t/{t}/reports/csr", dependencies=[Fresh])
def companies(t: str, c: SignedIn) -> Response:
    territory = c.territory(t)
    p = c.principal
    if p.role is Role.COMPANY and p.actor_id:
        return c.redirect(c.url(f"/t/{t}/reports/csr/{p.actor_id}"))
    require(p, Action.READ_REPORT, t, access.Item("csr"))
    rows = c.container.reads.listing("actors", t, {"kind": ["company"]}, 0, 500)
    return c.render("console/companies.html", t=t, territory=territory, page="csr",
                    companies=show(c.container, p, c.request, "actors", t, rows))


@router.get("/t/{t}/reports/csr/{company_id}", dependencies=[Fresh])
def csr_page(t: str, company_id: uuid.UUID, c: SignedIn, start: From = None, end: To = None,
             programme: Programme = None, format: Format = Format.JSON,
             table: Table = None) -> Response:
    territory = c.territory(t)
    p, reads = c.principal, c.container.reads
    if p.role is Role.COMPANY and p.actor_id != company_id:
        raise NotFound("company", company_id)  # another company's report does not exist for it
    row = reads.item("actors", t, company_id)
    if row is None or row["kind"] != "company":
        raise NotFound("company", company_id)
    require(p, Action.READ_REPORT, t, access.item("csr", companies=(company_id,)))
    period = _period(c, start, end, programme)
    body = csr(reads, [(t, company_id)], period, company_id)
    if format is not Format.JSON:
        return _file(c, body, format, "inputs",
                     f"csr-{company_id}-{period.start}-{period.end}", table)
    by_how: dict[str, int] = defaultdict(int)
    for entry in body["inputs"]:
        by_how[entry["how"]] += entry["eur_cent"] or 0
    _ = c.gettext
    rows = [Row(c.label("how", how), (eur,), (c.fmt.money(eur),)) for how, eur in by_how.items()]
    chart = bar_chart("chart-inputs", _("Community investment by type of input"),
                      _("Euros of the company's inputs in the period, by cash, employee time, "
                        "in kind and management costs; the table below gives each input."), rows)
    company = show(c.container, p, c.request, "actors", t, [row])[0]
    return c.render("console/csr.html", t=t, territory=territory, page="csr", report=body,
                    company=company, chart=chart, themes=lookups.themes(c, t), period=period,
                    programmes=lookups.programmes(c, t), query=_query(period))
