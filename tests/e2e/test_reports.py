"""The overview and the CSR report over a realistic territory, every figure checked against
values computed here, independently, from the contract's definitions; and their CSV and XLSX.

The cast: Acme (a company) gives money and goods with a declared cost and runs its programme
at a management cost; its employee Marco volunteers in paid hours (with and without a declared
cost), Lucia in her own time and with her own money; Acme also spends welfare aziendale on a
family's local services. Auser (an ETS), Giulia (a citizen, who was helped and gives back) and
the Comune give too. Some deliveries fall outside the period, one is reversed, some get
feedback.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook

from ledger.access import Role
from ledger.container import Container
from tests.support.auth import bearer, make_key
from tests.support.stack import Roles, territory_code

pytestmark = pytest.mark.e2e
TODAY = datetime.now(ZoneInfo("Europe/Rome")).date()
START, END = TODAY - timedelta(days=20), TODAY
PER_UNIT = {"minute": 60, "gram": 1000, "item": 1}


def day(ago: int) -> str:
    return (TODAY - timedelta(days=ago)).isoformat()


@dataclass
class Gift:
    """A fulfilment as the test knows it, for the independent computation."""

    id: str
    giver: str
    receiver: str
    kind: str
    unit: str
    quantity: int
    on: str
    theme: str
    motivation: str | None = None
    paid_time: bool | None = None
    cost: int | None = None
    funding_source: str | None = None
    employer: str | None = None
    pledge: str = ""
    reversed: bool = False

    @property
    def counted(self) -> bool:
        return START.isoformat() <= self.on <= END.isoformat() and not self.reversed


class World:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.code = territory_code()
        self.t = f"/v1/territories/{self.code}"
        self.ids: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        self.gifts: list[Gift] = []
        self.needs: dict[str, dict[str, Any]] = {}
        self.last = 0

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.http.post(self.t + path, json=body)
        assert answer.status_code == 201, answer.text
        out: dict[str, Any] = answer.json()
        self.last = max(self.last, out.get("position", 0))
        return out

    def actor(self, name: str, kind: str, **extra: Any) -> None:
        body = {"kind": kind, "display_name": name.title(), **extra}
        self.ids[name] = self.post("/actors", body)["id"]
        self.kinds[name] = kind

    def need(self, name: str, who: str, kind: str, unit: str, quantity: int, theme: str,
             **extra: Any) -> None:
        made = self.post("/requests", {"beneficiary_id": self.ids[who], "resource_kind": kind,
                                       "unit": unit, "quantity": quantity, "theme": theme,
                                       **extra})
        self.ids[name] = made["id"]
        self.needs[name] = {"theme": theme, "quantity": quantity, "received": 0}

    def give(self, giver: str, need: str, kind: str, unit: str, deliveries: list[tuple[int, str]],
             theme: str, employer: str | None = None, **pledge: Any) -> list[str]:
        total = sum(q for q, _ in deliveries)
        offer = self.post("/contributions", {"contributor_id": self.ids[giver],
                                             "resource_kind": kind, "unit": unit,
                                             "quantity": total, "theme": theme, **pledge})
        match = self.post("/matches", {"contribution_id": offer["id"],
                                       "request_id": self.ids[need], "quantity": total})
        made = []
        for quantity, on in deliveries:
            f = self.post(f"/matches/{match['id']}/fulfilments",
                          {"quantity": quantity, "fulfilled_on": on})
            self.gifts.append(Gift(f["id"], giver, self.beneficiary_of(need), kind, unit,
                                   quantity, on, theme, pledge.get("motivation"),
                                   pledge.get("paid_time"), pledge.get("cost_eur_cent"),
                                   pledge.get("funding_source"), employer, offer["id"]))
            self.needs[need]["received"] += quantity
            made.append(f["id"])
        return made

    def beneficiary_of(self, need: str) -> str:
        return self.needs[need]["who"]


def build(http: httpx.Client) -> World:
    w = World(http)
    assert http.post("/v1/territories", json={"code": w.code, "name": "Crema"}).status_code == 201
    w.actor("comune", "municipality")
    w.actor("auser", "ets")
    w.actor("acme", "company", vat_number=f"IT{w.code}00001")
    w.actor("marco", "citizen", employer_id=w.ids["acme"])
    w.actor("lucia", "citizen", employer_id=w.ids["acme"])
    for person, zone in (("rosa", "centro"), ("gino", "ombriano"), ("anna", "centro"),
                         ("pietro", "santa maria"), ("giulia", "centro")):
        w.actor(person, "citizen", zone=zone)
    w.actor("famiglia", "household", zone="ombriano")
    w.post("/programmes", {"code": "famiglie", "name": "Famiglie e minori",
                           "starts_on": START.isoformat(), "partners": [w.ids["auser"]]})

    def need(name: str, who: str, *args: Any, **extra: Any) -> None:
        w.need(name, who, *args, **extra)
        w.needs[name]["who"] = who

    need("rent", "rosa", "money", "eur_cent", 60000, "area.poverty_frailty", urgency="critical")
    need("pcs", "famiglia", "goods", "item", 10, "cts.d", programme="famiglie")
    need("visits", "anna", "time", "minute", 600, "cts.a", urgency="high")
    need("company", "pietro", "time", "minute", 300, "cts.a")
    need("bills", "gino", "money", "eur_cent", 5000, "area.poverty_frailty")
    need("childcare", "famiglia", "money", "eur_cent", 30000, "area.families_minors",
         programme="famiglie")
    need("shopping", "giulia", "time", "minute", 300, "cts.a")
    need("walks", "rosa", "time", "minute", 120, "cts.a")
    need("books", "gino", "goods", "item", 1, "cts.d")
    need("unmet", "pietro", "goods", "item", 3, "cts.u")

    w.give("acme", "rent", "money", "eur_cent", [(60000, day(5))], "area.poverty_frailty",
           motivation="charitable_gift")
    w.give("acme", "pcs", "goods", "item", [(4, day(3)), (2, day(40))], "cts.d",
           motivation="community_investment", cost_eur_cent=5000)
    visits = w.give("marco", "visits", "time", "minute", [(240, day(2)), (60, day(4))], "cts.a",
                    employer="acme", motivation="community_investment", paid_time=True,
                    cost_eur_cent=3125)
    w.give("lucia", "company", "time", "minute", [(120, day(1))], "cts.a", employer="acme",
           paid_time=False)
    w.give("lucia", "bills", "money", "eur_cent", [(2000, day(6))], "area.poverty_frailty",
           employer="acme")
    w.give("acme", "childcare", "money", "eur_cent", [(30000, day(7))], "area.families_minors",
           motivation="corporate_welfare")
    w.give("auser", "shopping", "time", "minute", [(300, day(8))], "cts.a")
    w.give("giulia", "walks", "time", "minute", [(120, day(9))], "cts.a")
    w.give("comune", "bills", "money", "eur_cent", [(3000, day(10))], "area.poverty_frailty",
           funding_source="public")
    w.give("marco", "company", "time", "minute", [(60, day(11))], "cts.a", employer="acme",
           paid_time=True)
    w.give("acme", "books", "goods", "item", [(1, day(12))], "cts.d",
           motivation="community_investment", cost_eur_cent=1999)

    w.post(f"/fulfilments/{visits[1]}/reverse", {"reason": "recorded on the wrong match"})
    next(g for g in w.gifts if g.id == visits[1]).reversed = True
    w.needs["visits"]["received"] -= 60
    acme = w.ids["acme"]
    w.post(f"/actors/{acme}/management-costs", {"incurred_on": day(6), "eur_cent": 15000})
    w.post(f"/actors/{acme}/management-costs", {"incurred_on": day(50), "eur_cent": 9999})
    feedback = {w.gifts[0].id: (5, "transform"), w.gifts[1].id: (3, "connect"),
                next(g.id for g in w.gifts if g.giver == "auser"): (4, "improve")}
    for fid, (satisfaction, change) in feedback.items():
        w.post(f"/fulfilments/{fid}/feedback", {"satisfaction": satisfaction, "change": change})
    w.feedback = feedback  # type: ignore[attr-defined]
    return w


@pytest.fixture(scope="module")
def world(http: httpx.Client) -> World:
    return build(http)


def _value(g: Gift, quantity: int) -> int | None:
    if g.kind == "money":
        return quantity
    if g.cost is None:
        return None
    return int((Decimal(quantity) * g.cost / PER_UNIT[g.unit]).quantize(Decimal(1), ROUND_HALF_UP))


def expected_csr(w: World, company: str = "acme") -> dict[str, Any]:
    """The contract's B4SI rules, written out again here, naively."""
    mine = [g for g in w.gifts if g.counted and company in (g.giver, g.employer)]
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    welfare = own_time = donations = 0
    inputs: list[Gift] = []
    for g in mine:
        own = g.giver == company
        if g.motivation == "corporate_welfare":
            welfare += _value(g, g.quantity) or 0
            continue
        if g.kind == "money":
            how = "cash" if own else None
        elif g.kind == "time" and not own:
            how = "time" if g.paid_time else None
        else:
            how = "in_kind"
        if how is None:
            if g.kind == "money":
                donations += g.quantity
            else:
                own_time += g.quantity
            continue
        inputs.append(g)
        key = (how, g.motivation or "unclassified", g.theme, w.code, g.kind, g.unit,
               g.cost is not None or g.kind == "money")
        row = rows.setdefault(key, {"how": how, "why": g.motivation or "unclassified",
                                    "theme": g.theme, "territory": w.code,
                                    "resource_kind": g.kind, "unit": g.unit, "quantity": 0,
                                    "eur_cent": 0 if key[-1] else None, "pledges": {}})
        row["quantity"] += g.quantity
        sample, quantity = row["pledges"].get(g.pledge, (g, 0))
        row["pledges"][g.pledge] = (sample, quantity + g.quantity)
    for row in rows.values():  # each pledge's counted quantity is valued once, then summed
        pledges = row.pop("pledges").values()
        if row["eur_cent"] is not None:
            row["eur_cent"] = sum(_value(g, quantity) or 0 for g, quantity in pledges)
    result = sorted(rows.values(), key=lambda r: (r["how"], r["why"], r["theme"], r["territory"],
                                                  r["resource_kind"], r["unit"],
                                                  r["eur_cent"] is None))
    result.append({"how": "management_costs", "why": "unclassified", "theme": None,
                   "territory": w.code, "resource_kind": "money", "unit": "eur_cent",
                   "quantity": 15000, "eur_cent": 15000})
    cash = sum(r["eur_cent"] for r in result if r["how"] == "cash")
    time_eur = sum(r["eur_cent"] or 0 for r in result if r["how"] == "time")
    in_kind = sum(r["eur_cent"] or 0 for r in result if r["how"] == "in_kind")
    beneficiaries = len({g.receiver for g in inputs})
    return {"inputs": result, "totals": {
        "cash_eur_cent": cash, "time_minutes": sum(g.quantity for g in inputs if g.kind == "time"
                                                   and g.giver != company),
        "time_eur_cent": time_eur, "in_kind_eur_cent": in_kind,
        "management_costs_eur_cent": 15000, "total_eur_cent": cash + time_eur + in_kind + 15000,
        "corporate_welfare_eur_cent": welfare},
        "leverage": {"employee_own_time_minutes": own_time,
                     "employee_donations_eur_cent": donations},
        "outputs": {"beneficiaries": beneficiaries if beneficiaries >= 5 else None,
                    "beneficiaries_suppressed": beneficiaries < 5, "activities": len(inputs),
                    "employees_involved": len({g.giver for g in inputs if g.giver != company})}}


def _get(http: httpx.Client, w: World, path: str, **params: Any) -> dict[str, Any]:
    answer = http.get(w.t + path, params={"from": START.isoformat(), "to": END.isoformat(),
                                          "min_position": w.last, **params})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_csr_report_matches_the_b4si_rules(http: httpx.Client, world: World) -> None:
    w = world
    report = _get(http, w, f"/reports/csr/{w.ids['acme']}")
    expected = expected_csr(w)
    assert report["method"] == "b4si-1"
    assert (report["company_id"], report["from"], report["to"]) == (
        w.ids["acme"], START.isoformat(), END.isoformat())
    assert report["inputs"] == expected["inputs"]
    assert report["totals"] == expected["totals"]
    assert report["leverage"] == expected["leverage"]
    assert report["outputs"] == expected["outputs"]
    # The figures of this world, spelled out once (so the model above is checked too).
    assert report["totals"]["total_eur_cent"] == 60000 + 12500 + 4 * 5000 + 1999 + 15000
    assert report["totals"]["corporate_welfare_eur_cent"] == 30000
    assert report["outputs"]["beneficiaries"] == 5
    assert report["gri_201_1"] == {"community_investments_eur_cent":
                                   report["totals"]["total_eur_cent"]}
    assert report["references"]["version"] == "csr-v1"
    assert report["as_of"]["position"] >= w.last

    explained = _get(http, w, f"/reports/csr/{w.ids['acme']}", explain="true")
    time_row = next(r for r in explained["inputs"] if r["how"] == "time" and r["eur_cent"])
    marco_visits = [g.id for g in w.gifts if g.giver == "marco" and g.theme == "cts.a"
                    and g.cost and g.counted]
    assert time_row["fulfilments"] == sorted(marco_visits)

    by_vat = http.get("/v1/reports/csr", params={
        "vat_number": f"IT{w.code}00001", "from": START.isoformat(), "to": END.isoformat()})
    assert by_vat.status_code == 200, by_vat.text
    assert by_vat.json()["totals"] == report["totals"]
    # Cut by programme: only the family's computers are in "famiglie", so outputs are suppressed.
    cut = _get(http, w, f"/reports/csr/{w.ids['acme']}", programme="famiglie")
    assert [r["resource_kind"] for r in cut["inputs"] if r["how"] != "management_costs"] == ["goods"]
    assert cut["outputs"]["beneficiaries_suppressed"] is True and cut["outputs"]["beneficiaries"] is None


def test_overview_matches_the_contract(http: httpx.Client, world: World) -> None:
    w = world
    report = _get(http, w, "/reports/overview")
    counted = [g for g in w.gifts if g.counted]
    status = {name: http.get(w.t + f"/requests/{w.ids[name]}").json()["status"]
              for name in w.needs}
    assert report["needs"]["posted"] == len(w.needs)
    by_status: dict[str, int] = {}
    for value in status.values():
        by_status[value] = by_status.get(value, 0) + 1
    assert report["needs"]["by_status"] == dict(sorted(by_status.items()))
    met = {n for n, v in status.items() if v == "met"}
    assert met == {n for n, v in w.needs.items() if v["received"] == v["quantity"]}
    themes = {}
    for name, need in w.needs.items():
        row = themes.setdefault(need["theme"], {"theme": need["theme"], "posted": 0, "met": 0})
        row["posted"] += 1
        row["met"] += name in met
    assert report["needs"]["by_theme"] == sorted(themes.values(), key=lambda r: r["theme"])
    assert report["needs"]["by_urgency"] == {"critical": 1, "high": 1, "normal": 8}
    assert report["needs"]["by_zone"] == {"centro": 4, "ombriano": 4, "santa maria": 2}

    delivered: dict[tuple[str, str], int] = {}
    for g in counted:
        delivered[(g.kind, g.unit)] = delivered.get((g.kind, g.unit), 0) + g.quantity
    assert report["delivered"] == [{"resource_kind": k, "unit": u, "quantity": q}
                                   for (k, u), q in sorted(delivered.items())]
    mix: dict[str, int] = {}
    for g in counted:
        if g.kind == "money":
            source = g.funding_source or ("corporate_welfare" if g.motivation ==
                                          "corporate_welfare" else w.kinds[g.giver])
            mix[source] = mix.get(source, 0) + g.quantity
    assert report["funding_mix"] == [{"source": s, "eur_cent": e} for s, e in sorted(mix.items())]
    assert mix == {"company": 60000, "citizen": 2000, "corporate_welfare": 30000, "public": 3000}
    beneficiaries = {g.receiver for g in counted}
    givers = {g.giver for g in counted}
    assert report["reciprocity"] == {
        "beneficiaries": len(beneficiaries), "also_contributed": len(beneficiaries & givers),
        "index": round(len(beneficiaries & givers) / len(beneficiaries), 4)}
    assert report["reciprocity"]["also_contributed"] == 1  # Giulia, helped and helping
    assert report["contributors"] == len(givers)
    assert report["time_to_match_days"]["median"] is not None
    assert 0 <= report["time_to_match_days"]["median"] <= report["time_to_match_days"]["p90"] < 1
    scores = list(w.feedback.values())  # type: ignore[attr-defined]
    assert report["feedback"] == {
        "responses": len(scores), "satisfaction_mean": round(sum(s for s, _ in scores) / len(scores), 2),
        "by_change": {c: 1 for _, c in sorted(scores, key=lambda x: x[1])}}
    famiglie = [g for g in counted if g.receiver == "famiglia"]
    assert report["by_programme"] == [{"programme": "famiglie", "fulfilments": len(famiglie),
                                       "beneficiaries": 1}]
    explained = _get(http, w, "/reports/overview", explain="true")
    for row in explained["delivered"]:
        ids = sorted(g.id for g in counted if (g.kind, g.unit) == (row["resource_kind"], row["unit"]))
        assert row["fulfilments"] == ids


def test_csv_round_trips_and_xlsx_equals_the_json(http: httpx.Client, world: World) -> None:
    w = world
    report = _get(http, w, f"/reports/csr/{w.ids['acme']}")
    csv_answer = http.get(w.t + f"/reports/csr/{w.ids['acme']}", params={
        "from": START.isoformat(), "to": END.isoformat(), "format": "csv"})
    assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_answer.content.decode("utf-8"))))
    assert list(rows[0]) == ["how", "why", "theme", "territory", "resource_kind", "unit",
                             "quantity", "eur_cent"]
    as_json = [{k: ("" if v is None else str(v)) for k, v in r.items()} for r in report["inputs"]]
    assert rows == as_json

    xlsx = http.get(w.t + f"/reports/csr/{w.ids['acme']}", params={
        "from": START.isoformat(), "to": END.isoformat(), "format": "xlsx"})
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    sheet = list(book["inputs"].iter_rows(values_only=True))
    header, body = list(sheet[0]), sheet[1:]
    assert [dict(zip(header, r, strict=True)) for r in body] == report["inputs"]
    summary = {r[0]: r[1] for r in list(book["summary"].iter_rows(values_only=True))[1:]}
    assert summary["totals.total_eur_cent"] == report["totals"]["total_eur_cent"]
    assert summary["outputs.beneficiaries_suppressed"] is False

    overview = http.get(w.t + "/reports/overview", params={
        "from": START.isoformat(), "to": END.isoformat(), "format": "xlsx"})
    sheets = load_workbook(io.BytesIO(overview.content)).sheetnames
    assert {"summary", "delivered", "funding_mix", "needs.by_theme"} <= set(sheets)
    listing = http.get(w.t + "/fulfilments", params={"format": "csv", "limit": 500,
                                                     "from": START.isoformat()})
    assert listing.status_code == 200
    listed = {r["id"] for r in csv.DictReader(io.StringIO(listing.text))}
    assert listed == {g.id for g in w.gifts if g.on >= START.isoformat()}


def test_a_company_sees_its_own_report_only_and_no_beneficiary(
        http: httpx.Client, world: World, container: Container, roles: Roles) -> None:
    w = world
    other = http.post(w.t + "/actors", json={"kind": "company", "display_name": "Beta Srl"})
    token = make_key(container.api_keys, Role.COMPANY, [w.code], w.ids["acme"])
    params = {"from": START.isoformat(), "to": END.isoformat(), "explain": "true"}
    with httpx.Client(base_url=roles.base_url, timeout=30, headers=bearer(token)) as acme:
        own = acme.get(w.t + f"/reports/csr/{w.ids['acme']}", params=params)
        assert own.status_code == 200
        assert acme.get(w.t + f"/reports/csr/{other.json()['id']}", params=params
                        ).status_code == 404
        assert acme.get(w.t + "/reports/overview", params=params).status_code == 403
        by_vat = acme.get("/v1/reports/csr", params=params | {"vat_number": f"IT{w.code}00001"})
        assert by_vat.status_code == 200
        assert acme.get("/v1/reports/csr", params=params | {"vat_number": "IT99999999999"}
                        ).status_code == 404
        texts = [own.text, by_vat.text, acme.get(w.t + f"/reports/csr/{w.ids['acme']}",
                                                 params=params | {"format": "csv"}).text]
    people = ("rosa", "gino", "anna", "pietro", "giulia", "famiglia")
    for text in texts:
        for person in people:
            assert w.ids[person] not in text and person.title() not in text


def test_bad_report_requests_are_problems(http: httpx.Client, world: World) -> None:
    w = world
    for params in ({"from": END.isoformat(), "to": START.isoformat()},
                   {"from": "2026-02-30", "to": END.isoformat()}, {"to": END.isoformat()},
                   {"from": START.isoformat(), "to": END.isoformat(), "format": "pdf"},
                   {"from": START.isoformat(), "to": END.isoformat(), "format": "csv",
                    "table": "nope"}):
        answer = http.get(w.t + "/reports/overview", params=params)
        assert answer.status_code == 422, (params, answer.text)
    assert http.get(w.t + f"/reports/csr/{uuid.uuid4()}", params={
        "from": START.isoformat(), "to": END.isoformat()}).status_code == 404
    assert http.get(w.t + f"/reports/csr/{w.ids['auser']}", params={
        "from": START.isoformat(), "to": END.isoformat()}).status_code == 404
    feedback_again = http.post(w.t + f"/fulfilments/{w.gifts[0].id}/feedback",
                               json={"satisfaction": 1})
    assert feedback_again.status_code == 409
    assert date.fromisoformat(START.isoformat()) == START


def test_open_data_has_no_personal_data_and_suppresses_small_counts(
        http: httpx.Client, world: World) -> None:
    w = world
    answer = http.get(w.t + "/reports/open-data", params={
        "from": START.isoformat(), "to": END.isoformat(), "min_position": w.last})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(rows[0]) == ["month", "theme", "resource_kind", "unit", "contributor_kind",
                             "fulfilments", "quantity", "beneficiaries"]
    totals: dict[tuple[str, str], int] = {}
    for g in w.gifts:
        if g.counted:
            totals[(g.kind, g.unit)] = totals.get((g.kind, g.unit), 0) + g.quantity
    published: dict[tuple[str, str], int] = {}
    for row in rows:
        published[(row["resource_kind"], row["unit"])] = published.get(
            (row["resource_kind"], row["unit"]), 0) + int(row["quantity"])
        assert row["beneficiaries"] == ""  # every cell here has fewer than 5 people
        if int(row["fulfilments"]) < 5:
            assert row["theme"] == "other"
    assert published == totals
    for value in w.ids.values():
        assert value not in answer.text


def test_ets_report_values_volunteer_hours_at_the_ccnl_grade(
        http: httpx.Client, world: World, container: Container, roles: Roles) -> None:
    w = world
    params = {"from": START.isoformat(), "to": END.isoformat(), "min_position": w.last}
    minutes = sum(g.quantity for g in w.gifts if g.counted and g.giver == "auser")
    report = http.get(w.t + f"/reports/ets/{w.ids['auser']}", params=params | {"level": "D2"})
    assert report.status_code == 200, report.text
    body = report.json()
    rate = int((Decimal(169441) / 165).quantize(Decimal(1), ROUND_HALF_UP))  # D2, Oct 2024
    assert (body["level"], body["hourly_rate_eur_cent"], body["minutes"]) == ("D2", rate, minutes)
    assert body["figurative_eur_cent"] == int((Decimal(minutes) * rate / 60).quantize(
        Decimal(1), ROUND_HALF_UP))
    assert body["source"]["hourly_divisor"] == 165
    own = make_key(container.api_keys, Role.ETS, [w.code], w.ids["auser"])
    company = make_key(container.api_keys, Role.COMPANY, [w.code], w.ids["acme"])
    with httpx.Client(base_url=roles.base_url, timeout=30) as client:
        path = w.t + f"/reports/ets/{w.ids['auser']}"
        assert client.get(path, params=params, headers=bearer(own)).status_code == 200
        assert client.get(path, params=params, headers=bearer(company)).status_code == 403
        assert client.get(path, params=params | {"level": "Z9"},
                          headers=bearer(own)).status_code == 422
