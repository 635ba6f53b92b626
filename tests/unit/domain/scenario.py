"""One story that triggers every event class of the domain, for schema-wide tests."""

from __future__ import annotations

from uuid import uuid4

from ledger.domain import Actor, Contribution, Fulfilment, LedgerAggregate, Match, Request, Territory

T = "018182"


def every_event_story() -> list[LedgerAggregate]:
    territory = Territory.register(T, "Voghera", operator_id="op")
    territory.define_theme("voghera.orti", "Orti sociali", operator_id="op")
    territory.set_approval_policy(["ets"], 1, operator_id="op")
    territory.define_programme("famiglie", "Famiglie e minori", "2026-01-01", "2026-12-31", [], operator_id="op")
    company = Actor.register(uuid4(), T, "company", display_name="Acme", personal_sealed="ct", operator_id="op")
    citizen = Actor.register(uuid4(), T, "citizen", display_name_sealed="ct", employer_id=company.id)
    citizen.erase(operator_id="dpo")
    contribution = Contribution.pledge(
        uuid4(), T, citizen.id, "time", "minute", 600, "voghera.orti", employer_id=company.id, paid_time=True
    )
    request = Request.post(uuid4(), T, uuid4(), "time", "minute", 600, "cts.a", needed_by="2026-03-01")
    match = Match.reserve(uuid4(), contribution, request, 300, operator_id="op")
    fulfilment = Fulfilment.record(uuid4(), match, contribution, request, 100, fulfilled_on="2026-01-10")
    fulfilment.record_feedback(4, "improve", "ct", operator_id="op")
    fulfilment.reverse("typo", match, contribution, request, operator_id="auditor")
    match.cancel("plans changed", contribution, request, operator_id="op")
    contribution.withdraw("moved away")
    request.expire()
    other_contribution = Contribution.pledge(uuid4(), T, company.id, "money", "eur_cent", 5000, "cts.u")
    company.record_management_cost(uuid4(), "2026-02-01", 25000, None, operator_id="op")
    other_contribution.expire()
    other_request = Request.post(uuid4(), T, uuid4(), "money", "eur_cent", 100, "cts.u")
    other_request.withdraw(None)
    giving = Contribution.pledge(uuid4(), T, company.id, "goods", "item", 10, "cts.u")
    needing = Request.post(uuid4(), T, uuid4(), "goods", "item", 10, "cts.u")
    approved = Match.reserve(uuid4(), giving, needing, 4, operator_id="ets-key", approvals_required=1)
    approved.approve("comune-key")
    rejected = Match.reserve(uuid4(), giving, needing, 3, operator_id="ets-key", approvals_required=1)
    rejected.reject("not now", giving, needing, operator_id="comune-key")
    return [territory, company, citizen, contribution, request, match, fulfilment, other_contribution, other_request,
            giving, needing, approved, rejected]
