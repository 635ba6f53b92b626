"""The console as its users drive it, in headless chromium: a municipal operator signs in,
matches a need to an offer, approves an ETS proposal, records a delivery and the
beneficiary's feedback, reads an actor, the audit page and the overview with its charts;
a company signs in and downloads its CSR report as XLSX. Every page passes axe-core."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from ledger.container import Container
from tests.e2e.console.conftest import Visit
from tests.e2e.console.world import World, build
from tests.support.stack import Roles

pytestmark = pytest.mark.e2e
VisitFactory = Callable[..., Visit]


@pytest.fixture(scope="module")
def world(http: httpx.Client, container: Container, roles: Roles) -> World:
    return build(http, container, roles)


def sign_in(visit: Visit, token: str, path: str = "/console/") -> None:
    page = visit.page
    page.goto(visit.url(path))
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    visit.check("sign-in")
    page.get_by_label("Chiave di accesso").fill(token)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url(re.compile(r"/console/t/"))


def row(page: Page, text: str) -> Any:
    return page.locator("tr", has_text=text)


def test_a_municipal_operator_matches_approves_delivers_and_reads_reports(
        visit_factory: VisitFactory, world: World) -> None:
    visit = visit_factory()
    page, t = visit.page, world.code
    sign_in(visit, world.operator_token)
    expect(page).to_have_url(re.compile(f"/console/t/{t}/board"))
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bacheca")
    visit.check("board")

    # Match Giulia's need with Acme's money, through the form on her row (htmx swaps the page).
    need = row(page, "Giulia Neri")
    need.get_by_label(re.compile("Offerta per il bisogno")).select_option(world.ids["money"])
    need.get_by_label(re.compile("Quantità in")).fill("150,00")
    need.get_by_role("button", name=re.compile("^Abbina")).click()
    expect(page.get_by_role("status")).to_contain_text("L'abbinamento è registrato")
    expect(row(page, "Giulia Neri").first).to_contain_text("50,00")  # €200 asked, €150 matched

    # The ETS proposal waits in the approval queue; the operator approves it.
    queue = page.locator("#approvals")
    expect(queue).to_contain_text("Auser Voghera")
    queue.get_by_role("button", name=re.compile("^Approva")).click()
    expect(page.get_by_role("status")).to_contain_text("La tua approvazione è registrata")
    expect(page.locator("#approvals")).to_contain_text("Nessuna proposta attende")
    visit.check("board-after-approval")

    # Deliveries: record the money delivery, then Giulia's feedback on it.
    page.get_by_role("navigation", name="Pagine della console").get_by_role(
        "link", name="Consegne").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Consegne")
    visit.check("deliveries")
    money = row(page, "Acme S.p.A.").filter(has_text="Giulia Neri")
    expect(money.get_by_label(re.compile("Quantità consegnata"))).to_have_value("150,00")
    money.get_by_role("button", name=re.compile("^Registra consegna")).click()
    expect(page.get_by_role("status")).to_contain_text("La consegna è registrata")
    delivered = page.locator("section", has=page.get_by_role("heading", name="Consegnato"))
    giulia = delivered.locator("tr", has_text="Giulia Neri")
    giulia.get_by_label(re.compile("Soddisfazione per la consegna")).select_option("5")
    giulia.get_by_label(re.compile("Cambiamento per il beneficiario")).select_option("improve")
    giulia.get_by_role("button", name=re.compile("^Registra riscontro")).click()
    expect(page.get_by_role("status")).to_contain_text("Il riscontro è registrato")
    expect(page.locator("section", has=page.get_by_role("heading", name="Consegnato")).locator(
        "tr", has_text="Giulia Neri")).to_contain_text("soddisfazione 5 su 5")
    visit.check("deliveries-after-feedback")

    # An actor's page: balances and history; her name is personal data, shown to the Comune.
    page.get_by_role("link", name="Giulia Neri").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Giulia Neri")
    expect(page.locator("#balances").locator("xpath=..")).to_contain_text("150,00")
    visit.check("actor")

    # The overview, with its charts and the same figures as tables.
    page.get_by_role("link", name="Quadro generale").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Quadro generale")
    chart = page.get_by_role("img", name="Bisogni inseriti e soddisfatti, per ambito")
    expect(chart).to_be_visible()
    expect(page.get_by_role("img", name="Denaro consegnato, per fonte")).to_be_visible()
    expect(page.locator("table", has_text="Fonte")).to_contain_text("150,00")
    visit.check("overview")

    # Audit: the chain verifies; once the log has signed a checkpoint, a record's proof.
    page.get_by_role("link", name="Verifica").click()
    expect(page.get_by_role("status")).to_contain_text("La catena è verificata")
    deadline = time.monotonic() + 20
    while page.get_by_text("Nessun checkpoint è ancora firmato").count() and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("^Scarica")).first.click()
    proof = download.value.path().read_text()
    assert proof.startswith("c2sp.org/tlog-proof@v1"), proof[:80]
    visit.check("audit")

    # English, on request; then sign out.
    page.goto(visit.url(f"/console/t/{t}/board?lang=en"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Board")
    visit.check("board-en")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You have signed out")


def test_a_company_reads_its_csr_report_and_downloads_it_as_xlsx(
        visit_factory: VisitFactory, world: World) -> None:
    visit = visit_factory()
    page, t = visit.page, world.code
    sign_in(visit, world.company_token)
    expect(page).to_have_url(re.compile(f"/console/t/{t}/reports/csr/{world.ids['acme']}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme S.p.A.")
    expect(page.get_by_role("img", name="Investimento nella comunità per tipo di contributo")
           ).to_be_visible()
    expect(page.locator(".console-figures")).to_contain_text("100,00")  # 4 chairs at €25
    nav = page.get_by_role("navigation", name="Pagine della console")
    expect(nav.get_by_role("link", name="Bacheca")).to_have_count(0)
    visit.check("csr")

    with page.expect_download() as download:
        page.get_by_role("link", name="Scarica XLSX").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(download.value.path().read_bytes()))
    header, *rows = list(book["inputs"].iter_rows(values_only=True))
    inputs = [dict(zip(header, r, strict=True)) for r in rows]
    chairs = [i for i in inputs if i["how"] == "in_kind"]
    assert [(i["why"], i["quantity"], i["eur_cent"]) for i in chairs] == [("charitable_gift", 4, 10_000)]
    summary = {r[0]: r[1] for r in book["summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["totals.total_eur_cent"] == sum(i["eur_cent"] or 0 for i in inputs)

    # Pages the role may not open answer as the API would, readably.
    answer = page.goto(visit.url(f"/console/t/{t}/board"))
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("alert")).to_contain_text("Il tuo ruolo non consente")
    visit.check("company-forbidden")
