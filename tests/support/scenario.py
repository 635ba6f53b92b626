"""A realistic territory written over HTTP only, mirrored in a tiny model of the contract's
balance definitions (independent of the ledger's own code), for the acceptance tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.stack import territory_code

OPEN_MATCH = ("reserved", "partly_fulfilled", "fulfilled")


@dataclass
class Item:
    owner: str
    kind: str
    unit: str
    quantity: int
    active: bool = True


@dataclass
class MatchModel:
    contribution: str
    request: str
    quantity: int
    status: str = "reserved"
    fulfilments: list[str] = field(default_factory=list)


@dataclass
class Model:
    """The contract's balance definitions, computed from the facts recorded so far."""

    contributions: dict[str, Item] = field(default_factory=dict)
    requests: dict[str, Item] = field(default_factory=dict)
    matches: dict[str, MatchModel] = field(default_factory=dict)
    fulfilments: dict[str, tuple[str, int]] = field(default_factory=dict)  # match, quantity
    reversed: set[str] = field(default_factory=set)

    def net_fulfilled(self, match_id: str) -> int:
        return sum(self.fulfilments[f][1] for f in self.matches[match_id].fulfilments
                   if f not in self.reversed)

    def remaining(self, match_id: str) -> int:
        m = self.matches[match_id]
        return m.quantity - self.net_fulfilled(match_id) if m.status in OPEN_MATCH else 0

    def _sum(self, side: str, item_id: str, what: str) -> int:
        ms = [i for i, m in self.matches.items() if getattr(m, side) == item_id]
        return sum(self.remaining(i) if what == "reserved" else self.net_fulfilled(i) for i in ms)

    def contribution(self, cid: str) -> dict[str, Any]:
        c = self.contributions[cid]
        reserved, delivered = self._sum("contribution", cid, "reserved"), self._sum(
            "contribution", cid, "delivered")
        # Whatever a withdrawn offer gets back (cancel, reversal) is taken back, never offered.
        pledged = c.quantity if c.active else reserved + delivered
        if not c.active:
            status = "withdrawn"
        elif reserved + delivered == 0:
            status = "pledged"
        elif delivered == pledged:
            status = "fulfilled"
        elif reserved + delivered == pledged:
            status = "fully_allocated"
        else:
            status = "partly_allocated"
        return {"quantity": c.quantity, "pledged": pledged, "reserved": reserved,
                "delivered": delivered, "available": pledged - reserved - delivered,
                "status": status}

    def request(self, rid: str) -> dict[str, Any]:
        r = self.requests[rid]
        reserved, received = self._sum("request", rid, "reserved"), self._sum(
            "request", rid, "delivered")
        requested = r.quantity if r.active else reserved + received
        if not r.active:
            status = "withdrawn"
        elif reserved + received == 0:
            status = "open"
        elif received == requested:
            status = "met"
        elif reserved + received == requested:
            status = "fully_matched"
        else:
            status = "partly_matched"
        return {"quantity": r.quantity, "requested": requested, "reserved": reserved,
                "received": received, "open": requested - reserved - received, "status": status}

    def match(self, mid: str) -> dict[str, Any]:
        m = self.matches[mid]
        return {"quantity": m.quantity, "fulfilled": self.net_fulfilled(mid),
                "remaining": self.remaining(mid), "status": m.status}

    def balances(self, actor: str) -> list[dict[str, Any]]:
        rows: dict[tuple[str, str], dict[str, int]] = {}
        zero = dict.fromkeys(("pledged", "reserved", "delivered", "available", "received",
                              "requested_open"), 0)
        for cid, c in self.contributions.items():
            if c.owner == actor:
                row = rows.setdefault((c.kind, c.unit), dict(zero))
                state = self.contribution(cid)
                for k in ("pledged", "reserved", "delivered", "available"):
                    row[k] += state[k]
        for rid, r in self.requests.items():
            if r.owner == actor:
                row = rows.setdefault((r.kind, r.unit), dict(zero))
                state = self.request(rid)
                row["received"] += state["received"]
                row["requested_open"] += state["open"] if r.active else 0
        return [{"resource_kind": k, "unit": u, **v} for (k, u), v in sorted(rows.items())]


class Territory:
    """Writes over HTTP, remembering every answer's position, and mirroring it in the model."""

    def __init__(self, http: httpx.Client, code: str) -> None:
        self.http, self.code, self.model = http, code, Model()
        self.position = 0
        self.actors: dict[str, str] = {}

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.http.post(f"/v1/territories/{self.code}{path}", json=body)
        assert answer.status_code == 201, (path, answer.text)
        result: dict[str, Any] = answer.json()
        assert answer.headers["Ledger-Position"] == str(result["position"])
        assert result["position"] > self.position, "positions grow with every write"
        self.position = result["position"]
        return result

    def get(self, path: str, **params: Any) -> Any:
        """A read that waits for everything written so far (retrying a 503 within a deadline)."""
        deadline = time.monotonic() + 30
        while True:
            answer = self.http.get(f"/v1/territories/{self.code}{path}",
                                   params={"min_position": self.position, **params})
            if answer.status_code != 503 or time.monotonic() > deadline:
                assert answer.status_code == 200, (path, answer.text)
                return answer.json()

    def actor(self, name: str, kind: str, **extra: Any) -> str:
        body = {"kind": kind, "display_name": name, **extra}
        self.actors[name] = self.post("/actors", body)["id"]
        return self.actors[name]

    def pledge(self, who: str, kind: str, unit: str, quantity: int, theme: str,
               **extra: Any) -> str:
        cid = self.post("/contributions", {
            "contributor_id": self.actors[who], "resource_kind": kind, "unit": unit,
            "quantity": quantity, "theme": theme, **extra})["id"]
        self.model.contributions[cid] = Item(self.actors[who], kind, unit, quantity)
        return cid

    def ask(self, who: str, kind: str, unit: str, quantity: int, theme: str) -> str:
        rid = self.post("/requests", {
            "beneficiary_id": self.actors[who], "resource_kind": kind, "unit": unit,
            "quantity": quantity, "theme": theme})["id"]
        self.model.requests[rid] = Item(self.actors[who], kind, unit, quantity)
        return rid

    def match(self, cid: str, rid: str, quantity: int) -> str:
        mid = self.post("/matches", {"contribution_id": cid, "request_id": rid,
                                     "quantity": quantity})["id"]
        self.model.matches[mid] = MatchModel(cid, rid, quantity)
        return mid

    def fulfil(self, mid: str, quantity: int) -> str:
        fid = self.post(f"/matches/{mid}/fulfilments",
                        {"quantity": quantity, "fulfilled_on": "2025-03-14"})["id"]
        self.model.fulfilments[fid] = (mid, quantity)
        self.model.matches[mid].fulfilments.append(fid)
        self._restatus(mid)
        return fid

    def cancel(self, mid: str) -> None:
        released = self.model.remaining(mid)
        self.post(f"/matches/{mid}/cancel", {"reason": "beneficiary moved away"})
        self.model.matches[mid].status = "cancelled" if released > 0 else "closed"

    def reverse(self, fid: str) -> None:
        self.post(f"/fulfilments/{fid}/reverse", {"reason": "recorded in error"})
        self.model.reversed.add(fid)
        self._restatus(self.model.fulfilments[fid][0])

    def withdraw(self, what: str, item_id: str) -> None:
        self.post(f"/{what}/{item_id}/withdraw", {"reason": "no longer needed"})
        getattr(self.model, what)[item_id].active = False

    def _restatus(self, mid: str) -> None:
        m = self.model.matches[mid]
        if m.status in OPEN_MATCH:
            net = self.model.net_fulfilled(mid)
            m.status = ("reserved" if net == 0 else "fulfilled" if net == m.quantity
                        else "partly_fulfilled")


def build_scenario(http: httpx.Client) -> tuple[Territory, dict[str, str]]:
    t = Territory(http, territory_code())
    created = http.post("/v1/territories", json={"code": t.code, "name": "Voghera"})
    assert created.status_code == 201, created.text
    t.position = created.json()["position"]

    t.actor("Comune di Voghera", "municipality")
    t.actor("ASST Pavia", "institution")
    t.actor("Auser Voghera", "ets", runts_id="RUNTS-1234")
    t.actor("Caritas", "ets")
    acme = t.actor("Acme SpA", "company")
    t.actor("Maria", "citizen", employer_id=acme,
            personal={"full_name": "Maria Bianchi", "email": "maria@example.org"})
    t.actor("Giulia", "citizen")
    t.actor("Luca", "citizen", personal={"fiscal_code": "LCURSS80A01F205X"})
    t.actor("Famiglia Rossi", "household")

    ids: dict[str, str] = {}
    ids["c_maria"] = t.pledge("Maria", "time", "minute", 600, "cts.a", paid_time=True)
    ids["c_acme_money"] = t.pledge("Acme SpA", "money", "eur_cent", 500_000, "cts.u",
                                   motivation="community_investment")
    ids["c_acme_items"] = t.pledge("Acme SpA", "goods", "item", 40, "cts.u")
    ids["c_auser"] = t.pledge("Auser Voghera", "service", "minute", 1200, "cts.a")
    ids["c_caritas"] = t.pledge("Caritas", "goods", "gram", 20_000, "cts.u")
    ids["c_giulia"] = t.pledge("Giulia", "time", "minute", 300, "cts.a")
    ids["c_comune"] = t.pledge("Comune di Voghera", "space", "minute", 480, "cts.i")
    ids["c_asst"] = t.pledge("ASST Pavia", "money", "eur_cent", 100_000, "cts.b")
    ids["c_luca"] = t.pledge("Luca", "goods", "item", 10, "cts.u")

    ids["r_rossi_time"] = t.ask("Famiglia Rossi", "time", "minute", 900, "cts.a")
    ids["r_rossi_money"] = t.ask("Famiglia Rossi", "money", "eur_cent", 200_000, "cts.u")
    ids["r_luca_items"] = t.ask("Luca", "goods", "item", 15, "cts.u")
    ids["r_luca_food"] = t.ask("Luca", "goods", "gram", 8000, "cts.u")
    ids["r_rossi_service"] = t.ask("Famiglia Rossi", "service", "minute", 600, "cts.a")
    ids["r_luca_time"] = t.ask("Luca", "time", "minute", 120, "cts.a")
    ids["r_caritas_room"] = t.ask("Caritas", "space", "minute", 240, "cts.i")
    ids["r_rossi_later"] = t.ask("Famiglia Rossi", "money", "eur_cent", 50_000, "cts.u")

    # Corporate volunteering, partly fulfilled in two deliveries.
    m1 = t.match(ids["c_maria"], ids["r_rossi_time"], 300)
    t.fulfil(m1, 120)
    t.fulfil(m1, 60)
    # A withdrawn offer with an open, partly fulfilled match that is then cancelled.
    m2 = t.match(ids["c_giulia"], ids["r_rossi_time"], 200)
    t.fulfil(m2, 50)
    t.withdraw("contributions", ids["c_giulia"])
    t.cancel(m2)
    # Money: two partial matches on one request, a reversal while the match is open.
    m3 = t.match(ids["c_acme_money"], ids["r_rossi_money"], 150_000)
    t.fulfil(m3, 100_000)
    f5 = t.fulfil(m3, 50_000)
    t.reverse(f5)
    t.match(ids["c_acme_money"], ids["r_rossi_money"], 20_000)
    # Goods: cancel a partly fulfilled match, then reverse its fulfilment (back to both sides).
    m4 = t.match(ids["c_acme_items"], ids["r_luca_items"], 15)
    f6 = t.fulfil(m4, 10)
    t.cancel(m4)
    t.reverse(f6)
    # A fully fulfilled match that is then closed.
    m5 = t.match(ids["c_auser"], ids["r_rossi_service"], 600)
    t.fulfil(m5, 600)
    t.cancel(m5)
    t.fulfil(t.match(ids["c_caritas"], ids["r_luca_food"], 5000), 5000)
    t.fulfil(t.match(ids["c_comune"], ids["r_caritas_room"], 240), 120)
    # A withdrawn need with an open match, delivered in part and then cancelled.
    m8 = t.match(ids["c_maria"], ids["r_luca_time"], 60)
    t.withdraw("requests", ids["r_luca_time"])
    t.fulfil(m8, 30)
    t.cancel(m8)
    t.withdraw("requests", ids["r_rossi_later"])
    t.withdraw("contributions", ids["c_asst"])
    return t, ids
