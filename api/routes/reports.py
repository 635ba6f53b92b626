"""Reports (CONTRACT.md, "Reports"): the municipal overview and the CSR report, as JSON, CSV or
XLSX; each states `as_of.position` and, with `explain=true`, the fulfilments behind its rows."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import StringConstraints

from api import models
from api.deps import ContainerDep, Fresh, PrincipalDep
from api.exports import Format, export
from api.problems import TYPE_BASE, Problem
from api.routes.reads import FILES
from ledger import access
from ledger.access import Action, Role
from ledger.application import NotFound, require
from ledger.reports.csr import csr
from ledger.reports.ets import LEVELS, ets_report
from ledger.reports.opendata import open_data
from ledger.reports.overview import overview
from ledger.reports.period import Period

router = APIRouter(prefix="/v1", dependencies=[Fresh],
                   responses=models.problem_responses(401, 403, 404, 422, 503))
From = Annotated[date, Query(alias="from", description="first day, inclusive (Europe/Rome)")]
To = Annotated[date, Query(alias="to", description="last day, inclusive (Europe/Rome)")]
Programme = Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_.-]{1,63}$")]
TableName = Annotated[str | None, Query(max_length=64, description="CSV: which table")]
CcnlLevel = StrEnum("CcnlLevel", {level: level for level in LEVELS})  # type: ignore[misc]
Vat = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{8,16}$")]


def _period(start: date, end: date, programme: str | None, explain: bool) -> Period:
    if end < start:
        raise Problem(422, "Invalid period", f"to ({end}) is before from ({start})",
                      TYPE_BASE + "validation",
                      errors=[{"loc": ["query", "to"], "msg": "before from"}])
    return Period(start, end, programme, explain)


@router.get("/territories/{t}/reports/overview", response_model=models.Overview,
            response_model_exclude_unset=True, responses=FILES)
def get_overview(t: str, c: ContainerDep, p: PrincipalDep, start: From, end: To,
                 programme: Programme = None, explain: bool = False,
                 format: Format = Format.JSON,
                 table: TableName = None) -> Any:
    """Needs posted in the period (by status now, theme, urgency, zone), what was delivered,
    waits, the funding mix, reciprocity, contributors, feedback, and the cut by programme."""
    require(p, Action.READ_REPORT, t, access.Item("overview"))
    if c.reads.territory(t) is None:
        raise NotFound("territory", t)
    body = overview(c.reads, t, _period(start, end, programme, explain))
    return export(body, format, "delivered", f"overview-{t}-{start}-{end}", table)


def _company(p: access.Principal, company_id: uuid.UUID) -> None:
    """A company key reads its own report only; another company's does not exist for it."""
    if p.role is Role.COMPANY and p.actor_id != company_id:
        raise NotFound("company", company_id)


@router.get("/territories/{t}/reports/csr/{company_id}", response_model=models.CsrReport,
            response_model_exclude_unset=True, responses=FILES)
def get_csr(t: str, company_id: uuid.UUID, c: ContainerDep, p: PrincipalDep, start: From,
            end: To, programme: Programme = None, explain: bool = False,
            format: Format = Format.JSON,
            table: TableName = None) -> Any:
    """B4SI inputs (how × why × what × where, valued by `b4si-1`), leverage apart, outputs
    with small counts suppressed, GRI 201-1, and the framework references (versioned data)."""
    _company(p, company_id)
    row = c.reads.item("actors", t, company_id)
    if row is None or row["kind"] != "company":
        raise NotFound("company", company_id)
    require(p, Action.READ_REPORT, t, access.item("csr", companies=(company_id,)))
    body = csr(c.reads, [(t, company_id)], _period(start, end, programme, explain), company_id)
    return export(body, format, "inputs", f"csr-{company_id}-{start}-{end}", table)


@router.get("/reports/csr", response_model=models.CsrReport, response_model_exclude_unset=True,
            responses=FILES)
def get_csr_by_vat(vat_number: Annotated[Vat, Query()], c: ContainerDep, p: PrincipalDep,
                   start: From, end: To, explain: bool = False,
                   format: Format = Format.JSON,
                   table: TableName = None) -> Any:
    """One company across the territories the principal may see, by its VAT number."""
    found = [(r["territory"], r["id"]) for r in c.reads.companies_by_vat(vat_number)
             if access.decide(p, Action.READ_REPORT, r["territory"], access.item(
                 "csr", companies=(r["id"],))) is access.ALLOW]
    if p.role is Role.COMPANY:
        found = [(t, company) for t, company in found if company == p.actor_id]
    if not found:
        raise NotFound("company with VAT number", vat_number)
    body = csr(c.reads, found, _period(start, end, None, explain), found[0][1])
    body["vat_number"] = vat_number
    return export(body, format, "inputs", f"csr-{vat_number}-{start}-{end}", table)


@router.get("/territories/{t}/reports/open-data", response_model=models.OpenDataPage,
            responses=FILES)
def get_open_data(t: str, c: ContainerDep, p: PrincipalDep, start: From, end: To,
                  format: Format = Format.CSV, table: TableName = None) -> Any:
    """Open data: deliveries by month, theme, resource and kind of giver, with no personal
    data and small counts suppressed (columns: ledger/reports/opendata.py). CSV by default."""
    require(p, Action.READ_REPORT, t, access.Item("overview"))
    if c.reads.territory(t) is None:
        raise NotFound("territory", t)
    rows = open_data(c.reads, t, _period(start, end, None, False))
    return export({"items": rows, "next": None}, format, "items", f"open-data-{t}-{start}-{end}",
                  table)


@router.get("/territories/{t}/reports/ets/{ets_id}", response_model=models.EtsReport,
            response_model_exclude_unset=True, responses=FILES)
def get_ets_report(t: str, ets_id: uuid.UUID, c: ContainerDep, p: PrincipalDep, start: From,
                   end: To, level: Annotated[CcnlLevel | None, Query()] = None,
                   programme: Programme = None, explain: bool = False,
                   format: Format = Format.JSON, table: TableName = None) -> Any:
    """An ETS's volunteer hours valued at a CCNL grade's hourly minimum (costi e proventi
    figurativi, DM 5.3.2020); an ETS key reads its own."""
    row = c.reads.item("actors", t, ets_id)
    if row is None or row["kind"] != "ets":
        raise NotFound("ets", ets_id)
    require(p, Action.READ_REPORT, t, access.item("ets_report", cases=(ets_id,)))
    body = ets_report(c.reads, t, ets_id, _period(start, end, programme, explain),
                      level.value if level else None)
    return export(body, format, "by_theme", f"ets-{ets_id}-{start}-{end}", table)
