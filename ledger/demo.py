"""`ledger demo`: a realistic territory (Voghera) loaded through the HTTP API.

Every call carries an Idempotency-Key, so running the demo twice records nothing new.
"""

from __future__ import annotations

from typing import Any

import httpx

TERRITORY = {"code": "018182", "name": "Comune di Voghera"}
ACTORS: list[tuple[str, dict[str, Any]]] = [
    ("comune", {"kind": "municipality", "display_name": "Comune di Voghera - Servizi Sociali"}),
    ("auser", {"kind": "ets", "display_name": "Auser Voghera ODV", "runts_id": "RUNTS-118234"}),
    ("coop", {"kind": "ets", "display_name": "Cooperativa Sociale Il Ponte"}),
    ("acme", {"kind": "company", "display_name": "Meccanica Oltrepò S.p.A.",
              "vat_number": "IT01234560187"}),
    ("bank", {"kind": "company", "display_name": "Banca del Territorio Lombardo",
              "vat_number": "IT09876540152"}),
    ("asl", {"kind": "institution", "display_name": "ASST Pavia - Distretto Oltrepò"}),
    ("giulia", {"kind": "citizen", "display_name": "Giulia Bianchi",
                "personal": {"full_name": "Giulia Bianchi", "email": "giulia@example.it"}}),
    ("marco", {"kind": "citizen", "display_name": "Marco Ferrari", "employer": "acme",
               "personal": {"full_name": "Marco Ferrari", "fiscal_code": "FRRMRC85C12M109Z"}}),
    ("famiglia", {"kind": "household", "display_name": "Famiglia Esposito",
                  "personal": {"full_name": "Anna Esposito", "phone": "+39 0383 000000"}}),
    ("rosa", {"kind": "citizen", "display_name": "Rosa Colombo", "zone": "centro",
              "personal": {"full_name": "Rosa Colombo"}}),
]
# Crema's five co-design programmes (art. 55 CTS), with their partner ETS.
PROGRAMMES = [("famiglie-minori", "Famiglie e minori", ["coop"]),
              ("poverta-fragilita", "Povertà e fragilità emergenti", ["auser", "coop"]),
              ("giovani", "Giovani", ["coop"]), ("lavoro", "Lavoro", ["auser"]),
              ("casa", "Casa e abitare", ["coop"])]
CONTRIBUTIONS = [
    ("c_time", "marco", {"resource_kind": "time", "unit": "minute", "quantity": 1200,
                         "theme": "cts.a", "paid_time": True, "motivation": "community_investment",
                         "cost_eur_cent": 3200, "programme": "poverta-fragilita",
                         "description": "Accompagnamento anziani alle visite"}),
    ("c_money", "bank", {"resource_kind": "money", "unit": "eur_cent", "quantity": 500000,
                         "theme": "area.poverty_frailty", "motivation": "charitable_gift",
                         "funding_source": "philanthropy", "programme": "casa"}),
    ("c_goods", "acme", {"resource_kind": "goods", "unit": "item", "quantity": 40,
                         "theme": "cts.d", "motivation": "community_investment",
                         "cost_eur_cent": 18000, "programme": "giovani",
                         "description": "Notebook ricondizionati per studenti"}),
    ("c_space", "coop", {"resource_kind": "space", "unit": "minute", "quantity": 2400,
                         "theme": "cts.i", "description": "Sala polivalente il sabato"}),
    ("c_help", "giulia", {"resource_kind": "time", "unit": "minute", "quantity": 600,
                          "theme": "cts.a", "description": "Spesa a domicilio"}),
]
REQUESTS = [
    ("r_visits", "rosa", {"resource_kind": "time", "unit": "minute", "quantity": 480,
                          "theme": "cts.a", "urgency": "high", "programme": "poverta-fragilita",
                          "description": "Accompagnamento a visite mediche settimanali"}),
    ("r_rent", "famiglia", {"resource_kind": "money", "unit": "eur_cent", "quantity": 120000,
                            "theme": "area.poverty_frailty", "urgency": "critical",
                            "programme": "casa", "description": "Contributo affitto arretrato"}),
    ("r_pc", "famiglia", {"resource_kind": "goods", "unit": "item", "quantity": 2,
                          "theme": "cts.d", "programme": "giovani",
                          "description": "Computer per didattica"}),
    ("r_shop", "rosa", {"resource_kind": "time", "unit": "minute", "quantity": 240,
                        "theme": "cts.a"}),
]
MATCHES = [("m1", "c_time", "r_visits", 360), ("m2", "c_money", "r_rent", 120000),
           ("m3", "c_goods", "r_pc", 2), ("m4", "c_help", "r_shop", 240)]
FULFILMENTS = [("f1", "m1", 120, "2026-10-05"), ("f2", "m1", 120, "2026-10-12"),
               ("f3", "m2", 60000, "2026-10-01"), ("f4", "m3", 2, "2026-10-03"),
               ("f5", "m4", 60, "2026-10-07")]


def load_demo(base_url: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ids: dict[str, str] = {}
    t = TERRITORY["code"]
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        def post(key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = client.post(path, json=body, headers={"Idempotency-Key": f"demo-{key}"})
            if answer.status_code == 409 and path == "/v1/territories":
                return {"id": None, "position": 0}
            answer.raise_for_status()
            result: dict[str, Any] = answer.json()
            return result

        post("territory", "/v1/territories", TERRITORY)
        for name, spec in ACTORS:
            body = {k: v for k, v in spec.items() if k != "employer"}
            if "employer" in spec:
                body["employer_id"] = ids[spec["employer"]]
            ids[name] = post(f"actor-{name}", f"/v1/territories/{t}/actors", body)["id"]
        for code, label, partners in PROGRAMMES:
            post(f"programme-{code}", f"/v1/territories/{t}/programmes",
                 {"code": code, "name": label, "starts_on": "2026-01-01",
                  "ends_on": "2026-12-31", "partners": [ids[p] for p in partners]})
        post("costs-acme", f"/v1/territories/{t}/actors/{ids['acme']}/management-costs",
             {"incurred_on": "2026-10-01", "eur_cent": 45000,
              "description": "Coordinamento del volontariato aziendale"})
        for name, who, spec in CONTRIBUTIONS:
            ids[name] = post(f"pledge-{name}", f"/v1/territories/{t}/contributions",
                             spec | {"contributor_id": ids[who]})["id"]
        for name, who, spec in REQUESTS:
            ids[name] = post(f"request-{name}", f"/v1/territories/{t}/requests",
                             spec | {"beneficiary_id": ids[who]})["id"]
        for name, c, r, q in MATCHES:
            ids[name] = post(f"match-{name}", f"/v1/territories/{t}/matches",
                             {"contribution_id": ids[c], "request_id": ids[r], "quantity": q})["id"]
        last = 0
        for name, m, q, day in FULFILMENTS:
            result = post(f"fulfil-{name}", f"/v1/territories/{t}/matches/{ids[m]}/fulfilments",
                          {"quantity": q, "fulfilled_on": day})
            ids[name] = result["id"]
            last = result["position"]
        for name, satisfaction, change in (("f1", 5, "improve"), ("f3", 4, "transform")):
            last = post(f"feedback-{name}", f"/v1/territories/{t}/fulfilments/{ids[name]}/feedback",
                        {"satisfaction": satisfaction, "change": change})["position"]
    return {"territory": t, "ids": ids, "position": last}
