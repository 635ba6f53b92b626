"""The response models make a typed OpenAPI document: personal data optional (left out, not
null, for roles that may not see it), closed vocabularies as enums, errors as problem+json."""

from __future__ import annotations

import typing
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api import models, problems
from api.schemas import KeyCreate
from ledger.access import Role
from ledger.application import NotFound
from ledger.domain.themes import ThemeSource

TERRITORY = "015146"
ACTOR_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
PERSONAL = {
    "ActorPublic": {"display_name", "personal"},
    "ContributionPublic": {"description", "withdrawal_reason"},
    "RequestPublic": {"description", "withdrawal_reason"},
    "MatchPublic": {"cancel_reason", "reject_reason"},
    "FulfilmentPublic": {"note", "reversal_reason"},
}
# What a company principal may not see on deliveries: who received them, and for which need.
HIDDEN_FROM_COMPANIES = {"MatchPublic": {"request_id", "beneficiary_id"},
                         "FulfilmentPublic": {"request_id", "beneficiary_id"}}
PROBLEMS = models.problem_responses(401, 404, 422)
TOKEN = "lk_" + "x" * 43


def _actor(**extra: Any) -> dict[str, Any]:
    return {"id": str(ACTOR_ID), "territory": TERRITORY, "kind": "citizen", "runts_id": None,
            "employer_id": None, "erased": False} | extra


def _match(**extra: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "territory": TERRITORY, "contribution_id": str(uuid.uuid4()),
            "contributor_id": str(uuid.uuid4()), "resource_kind": "time", "unit": "minute",
            "theme": "cts.a", "quantity": 60, "fulfilled": 0, "remaining": 60,
            "status": "proposed"} | extra


def _app() -> FastAPI:
    app = FastAPI()
    problems.install(app)
    models.install(app)
    shown: dict[str, bool] = {"personal": False}

    @app.get("/actors/{actor_id}", response_model=models.ActorPublic,
             response_model_exclude_unset=True, responses=PROBLEMS)
    def get_actor(actor_id: uuid.UUID) -> dict[str, Any]:
        if actor_id != ACTOR_ID:
            raise NotFound("actor", actor_id)
        if shown["personal"]:
            return _actor(display_name="Maria Rossi", personal={"email": "m@example.org"})
        return _actor()

    @app.get("/matches", response_model=models.MatchPage, response_model_exclude_unset=True,
             responses=PROBLEMS)
    def list_matches(limit: int = 10) -> dict[str, Any]:
        return {"items": [_match()][:limit], "next": None}

    @app.get("/contributions/{item_id}", response_model=models.ContributionPublic,
             response_model_exclude_unset=True, responses=PROBLEMS)
    def get_contribution(item_id: uuid.UUID) -> dict[str, Any]:
        raise NotFound("contribution", item_id)

    @app.get("/requests/{item_id}", response_model=models.RequestPublic,
             response_model_exclude_unset=True, responses=PROBLEMS)
    def get_request(item_id: uuid.UUID) -> dict[str, Any]:
        raise NotFound("request", item_id)

    @app.get("/fulfilments/{item_id}", response_model=models.FulfilmentPublic,
             response_model_exclude_unset=True, responses=PROBLEMS)
    def get_fulfilment(item_id: uuid.UUID) -> dict[str, Any]:
        raise NotFound("fulfilment", item_id)

    @app.put("/approval-policy", response_model=models.ApprovalPolicyPublic,
             response_model_exclude_unset=True, responses=PROBLEMS)
    def put_policy(body: models.ApprovalPolicy) -> dict[str, Any]:
        return {"territory": TERRITORY, "required_for": body.required_for,
                "approvers": body.approvers, "position": 7}

    @app.post("/keys", status_code=201, response_model=models.KeyCreated, responses=PROBLEMS)
    def create_key(body: KeyCreate) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "name": body.name, "role": body.role,
                "territories": body.territories, "actor_id": body.actor_id,
                "created_at": "2025-01-01T00:00:00+00:00", "created_by": "admin",
                "last_used_at": None, "revoked_at": None, "token": TOKEN}

    app.state.shown = shown
    return app


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return _app()


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _schemas(document: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def test_personal_fields_are_optional(document: dict[str, Any]) -> None:
    schemas = _schemas(document)
    for model, fields in (PERSONAL | HIDDEN_FROM_COMPANIES).items():
        assert fields <= set(schemas[model]["properties"]), model
        assert not fields & set(schemas[model].get("required", [])), model
    # ... while the facts themselves are always there.
    assert {"id", "territory", "kind", "erased"} <= set(schemas["ActorPublic"]["required"])
    assert {"contributor_id", "quantity", "status"} <= set(schemas["MatchPublic"]["required"])
    personal = schemas["PersonalPublic"]
    assert set(personal["properties"]) == {"full_name", "email", "phone", "fiscal_code"}
    assert not personal.get("required")


def _enum(schemas: dict[str, Any], model: str, field: str) -> list[str]:
    ref = schemas[model]["properties"][field]
    if "items" in ref:
        ref = ref["items"]
    name = ref["$ref"].rsplit("/", 1)[-1]
    values: list[str] = schemas[name]["enum"]
    return values


def test_statuses_kinds_units_and_roles_are_enums(document: dict[str, Any]) -> None:
    schemas = _schemas(document)
    assert set(_enum(schemas, "ContributionPublic", "status")) == {
        "pledged", "partly_allocated", "fully_allocated", "fulfilled", "withdrawn", "expired"}
    assert set(_enum(schemas, "RequestPublic", "status")) == {
        "open", "partly_matched", "fully_matched", "met", "withdrawn", "expired"}
    assert set(_enum(schemas, "MatchPublic", "status")) == {
        "proposed", "reserved", "partly_fulfilled", "fulfilled", "closed", "cancelled", "rejected"}
    assert set(_enum(schemas, "ApprovalPolicy", "required_for")) == {
        "admin", "municipality", "ets", "company", "auditor", "service"}
    assert set(_enum(schemas, "KeyCreated", "role")) == set(_enum(schemas, "ApprovalPolicy",
                                                                  "required_for"))
    assert "citizen" in _enum(schemas, "ActorPublic", "kind")
    assert set(_enum(schemas, "FulfilmentPublic", "unit")) == {"minute", "eur_cent", "gram", "item"}
    assert "money" in _enum(schemas, "ContributionPublic", "resource_kind")


def test_api_enums_follow_the_domain() -> None:
    assert {s.value for s in models.ThemeSource} == set(typing.get_args(ThemeSource))
    assert set(models.Role) == set(Role)


def test_pages_have_readable_names(document: dict[str, Any]) -> None:
    schemas = _schemas(document)
    assert schemas["MatchPage"]["properties"]["items"]["items"]["$ref"].endswith("/MatchPublic")
    assert set(schemas["MatchPage"]["required"]) == {"items", "next"}
    assert not [name for name in schemas if "[" in name or "__" in name]


@pytest.mark.parametrize("status", ["401", "404", "422"])
def test_errors_are_documented_as_problem_json(document: dict[str, Any], status: str) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            response = operation["responses"][status]
            assert list(response["content"]) == ["application/problem+json"], (method, path)
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ProblemDetails"}
            assert response["description"] == models.PROBLEM_DESCRIPTIONS[int(status)]
    problem = _schemas(document)["ProblemDetails"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert "ProblemError" in _schemas(document)
    assert "HTTPValidationError" not in _schemas(document)


def test_fastapis_own_422_becomes_problem_json() -> None:
    app = FastAPI()
    models.install(app)

    @app.get("/things", response_model=models.ThemePage)
    def things(limit: int = 1) -> dict[str, Any]:
        return {"items": [], "next": None}

    document = app.openapi()
    content = document["paths"]["/things"]["get"]["responses"]["422"]["content"]
    assert content == {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    assert {"HTTPValidationError", "ValidationError"}.isdisjoint(_schemas(document))


def test_other_statuses_get_their_reason_phrase() -> None:
    assert models.problem_responses(410)[410]["description"] == "Gone"


def test_fields_left_out_stay_out_not_null(app: FastAPI) -> None:
    client = TestClient(app)
    hidden = client.get(f"/actors/{ACTOR_ID}")
    assert hidden.status_code == 200
    assert hidden.json() == _actor()
    assert "display_name" not in hidden.json() and "personal" not in hidden.json()

    app.state.shown["personal"] = True
    try:
        shown = client.get(f"/actors/{ACTOR_ID}").json()
    finally:
        app.state.shown["personal"] = False
    assert shown["display_name"] == "Maria Rossi"
    assert shown["personal"] == {"email": "m@example.org"}  # no nulls for the unset ones

    page = client.get("/matches").json()
    assert page["next"] is None
    (item,) = page["items"]
    assert not {"request_id", "beneficiary_id", "cancel_reason", "reject_reason",
                "approvals", "proposed_by", "position"} & set(item)
    assert item["status"] == "proposed"


def test_errors_answer_problem_details(app: FastAPI) -> None:
    client = TestClient(app)
    missing = client.get(f"/actors/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    models.ProblemDetails.model_validate(missing.json())
    malformed = client.get("/actors/not-a-uuid")
    assert malformed.status_code == 422
    problem = models.ProblemDetails.model_validate(malformed.json())
    assert problem.errors and problem.errors[0].loc == ["path", "actor_id"]


def test_request_bodies_refuse_what_they_do_not_know(app: FastAPI) -> None:
    client = TestClient(app)
    ok = client.put("/approval-policy", json={"required_for": ["ets"], "approvers": 1})
    assert ok.json() == {"territory": TERRITORY, "required_for": ["ets"], "approvers": 1,
                         "position": 7}
    for body in ({"required_for": ["ets", "ets"], "approvers": 1},
                 {"required_for": ["ets"], "approvers": 0},
                 {"required_for": ["ets"], "approvers": 6},
                 {"required_for": ["mayor"], "approvers": 1},
                 {"required_for": ["ets"], "approvers": 1, "extra": True}):
        assert client.put("/approval-policy", json=body).status_code == 422, body

    key = {"name": "Caritas", "role": "ets", "territories": [TERRITORY],
           "actor_id": str(uuid.uuid4())}
    created = client.post("/keys", json=key)
    assert created.status_code == 201
    assert created.json()["token"] == TOKEN
    assert created.json()["role"] == "ets"
    for bad in ({"territories": ["15146"]}, {"name": ""}, {"role": "root"},
                {"operator_id": "someone"}, {"territories": [TERRITORY] * 101}):
        assert client.post("/keys", json=key | bad).status_code == 422, bad


def test_models_validate_what_the_presenters_produce() -> None:
    with pytest.raises(ValidationError):
        models.MatchPublic.model_validate(_match(status="approved"))
    fulfilment = models.FulfilmentPublic.model_validate({
        "id": str(uuid.uuid4()), "territory": TERRITORY, "match_id": str(uuid.uuid4()),
        "contribution_id": str(uuid.uuid4()), "contributor_id": str(uuid.uuid4()),
        "resource_kind": "goods", "unit": "item", "quantity": 3, "fulfilled_on": "2025-03-01",
        "reversed": False})
    assert fulfilment.model_dump(mode="json", exclude_unset=True)["fulfilled_on"] == "2025-03-01"
