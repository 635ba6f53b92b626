"""Who may do what, as a table: every role against every action, own and other records,
own and other territory (ledger/access.py is the one place that decides)."""

from __future__ import annotations

import uuid

import pytest

from ledger.access import (
    ALLOW,
    FORBID,
    HIDE,
    Action,
    Decision,
    Item,
    Principal,
    Role,
    decide,
    may_grant,
    may_read_personal,
)

HOME, AWAY = "018182", "019035"
ETS_ACTOR, COMPANY_ACTOR, PERSON = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
OTHER_ETS, OTHER_COMPANY = uuid.uuid4(), uuid.uuid4()


def principal(role: Role) -> Principal:
    actor = {Role.ETS: ETS_ACTOR, Role.COMPANY: COMPANY_ACTOR}.get(role)
    return Principal(f"{role.value}-key", role.value, role, frozenset({HOME}), actor)


# A need of a person the ETS follows, and one of somebody else's case.
OWN_CASE = Item("request", cases=frozenset({PERSON, ETS_ACTOR}))
OTHER_CASE = Item("request", cases=frozenset({uuid.uuid4(), OTHER_ETS}))
OWN_GIFT = Item("contribution", cases=frozenset({COMPANY_ACTOR}),
                companies=frozenset({COMPANY_ACTOR}))
OTHER_GIFT = Item("contribution", cases=frozenset({OTHER_COMPANY}),
                  companies=frozenset({OTHER_COMPANY}))
ETS_GIFT = Item("contribution", cases=frozenset({ETS_ACTOR}))

A, F = ALLOW, FORBID
R = Role
# action, record: admin, municipality, ets, company, auditor, service
TABLE: list[tuple[Action, Item | None, tuple[Decision, ...]]] = [
    (Action.READ, OWN_CASE, (A, A, A, F, A, A)),
    (Action.READ, OTHER_CASE, (A, A, A, F, A, A)),
    (Action.READ, OWN_GIFT, (A, A, A, A, A, A)),
    (Action.READ, OTHER_GIFT, (A, A, A, F, A, A)),
    (Action.READ, Item("territory"), (A, A, A, A, A, A)),
    (Action.READ_REPORT, OWN_GIFT, (A, A, F, A, A, A)),
    (Action.READ_REPORT, OTHER_GIFT, (A, A, F, F, A, A)),
    (Action.READ_REPORT, OWN_CASE, (A, A, A, F, A, A)),
    (Action.READ_AUDIT, None, (A, A, F, F, A, A)),
    (Action.READ_ACCESS_LOG, None, (A, A, F, F, A, F)),
    (Action.REGISTER_TERRITORY, None, (A, F, F, F, F, F)),
    (Action.CONFIGURE, None, (A, A, F, F, F, F)),
    (Action.REGISTER_ACTOR, Item("citizen"), (A, A, A, F, F, F)),
    (Action.REGISTER_ACTOR, Item("company"), (A, A, F, F, F, F)),
    (Action.ERASE, None, (A, A, F, F, F, F)),
    (Action.PLEDGE, ETS_GIFT, (A, A, A, F, F, F)),
    (Action.PLEDGE, OTHER_GIFT, (A, A, F, F, F, F)),
    (Action.POST_REQUEST, OWN_CASE, (A, A, A, F, F, F)),
    (Action.POST_REQUEST, OTHER_CASE, (A, A, F, F, F, F)),
    (Action.MATCH, OWN_CASE, (A, A, A, F, F, F)),
    (Action.MATCH, OTHER_CASE, (A, A, F, F, F, F)),
    (Action.DELIVER, OWN_CASE, (A, A, A, F, F, F)),
    (Action.DELIVER, OTHER_CASE, (A, A, F, F, F, F)),
    (Action.WITHDRAW, OWN_CASE, (A, A, A, F, F, F)),
    (Action.APPROVE, None, (F, A, F, F, F, F)),
    (Action.READ_PERSONAL, OWN_CASE, (F, A, A, F, F, F)),
    (Action.READ_PERSONAL, OTHER_CASE, (F, A, F, F, F, F)),
]
ROLES = (R.ADMIN, R.MUNICIPALITY, R.ETS, R.COMPANY, R.AUDITOR, R.SERVICE)


@pytest.mark.parametrize(("action", "record", "expected"), TABLE)
def test_decisions_in_the_principals_territory(action: Action, record: Item | None,
                                               expected: tuple[Decision, ...]) -> None:
    got = tuple(decide(principal(role), action, HOME, record) for role in ROLES)
    assert got == expected, dict(zip(ROLES, got, strict=True))


@pytest.mark.parametrize(("action", "record", "expected"), TABLE)
def test_another_territory_is_hidden_except_for_admin(action: Action, record: Item | None,
                                                      expected: tuple[Decision, ...]) -> None:
    for role in ROLES:
        got = decide(principal(role), action, AWAY, record)
        assert got == (expected[0] if role is R.ADMIN else HIDE), role


def test_personal_data_by_subject() -> None:
    own = frozenset({PERSON, ETS_ACTOR})
    assert may_read_personal(principal(R.MUNICIPALITY), None)
    assert may_read_personal(principal(R.ETS), own)
    assert not may_read_personal(principal(R.ETS), frozenset({PERSON, OTHER_ETS}))
    assert not may_read_personal(principal(R.ETS), None)
    for role in (R.ADMIN, R.COMPANY, R.AUDITOR, R.SERVICE):
        assert not may_read_personal(principal(role), own), role


def test_who_manages_which_keys() -> None:
    home = frozenset({HOME})
    assert may_grant(principal(R.ADMIN), R.ADMIN, frozenset()) is ALLOW
    assert may_grant(principal(R.MUNICIPALITY), R.ETS, home) is ALLOW
    assert may_grant(principal(R.MUNICIPALITY), R.ADMIN, home) is FORBID
    assert may_grant(principal(R.MUNICIPALITY), R.AUDITOR, frozenset({HOME, AWAY})) is HIDE
    for role in (R.ETS, R.COMPANY, R.AUDITOR, R.SERVICE):
        assert may_grant(principal(role), R.SERVICE, home) is FORBID
