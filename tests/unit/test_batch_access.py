"""A batch (LedgerApplication.decide_each, as `ledger import` runs it) asks access.decide
once per action and territory it was allowed: a refusal is never kept, nor anything of one
batch in the next."""

from __future__ import annotations

import uuid

import pytest

from ledger.access import Principal, Role
from ledger.application import Forbidden, LedgerApplication, NotFound
from ledger.commands import ApproveMatch, Command, DefineTheme, RegisterTerritory

A, B = "018182", "018183"
ADMIN = Principal("op:admin", "admin", Role.ADMIN)


def _app() -> LedgerApplication:
    app = LedgerApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for code in (A, B):
        app.handle(RegisterTerritory(territory=code, name=code), ADMIN)
    return app


def _run(app: LedgerApplication, commands: list[Command], by: Principal) -> int:
    made = 0
    for events in app.decide_each(((c, None) for c in commands), by):
        made += len(events)
    return made


def test_what_a_principal_may_not_do_is_refused_after_what_it_may() -> None:
    app = _app()
    # An admin configures a territory (asked once, then kept), and may never approve.
    with pytest.raises(Forbidden, match="may not approve"):
        _run(app, [DefineTheme(territory=A, code="a.x", label="x"),
                   DefineTheme(territory=A, code="a.y", label="y"),
                   ApproveMatch(territory=A, match_id=uuid.uuid4())], ADMIN)


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.SERVICE])
def test_every_command_of_a_refused_principal_is_refused(role: Role) -> None:
    app = _app()
    reader = Principal(f"op:{role.value}", role.value, role, frozenset({A}))
    for _ in range(2):  # the refusal is not kept as if it had been allowed
        with pytest.raises(Forbidden):
            _run(app, [DefineTheme(territory=A, code="a.x", label="x")], reader)


def test_what_one_principal_was_allowed_is_not_kept_for_the_next_batch() -> None:
    app = _app()
    municipality = Principal("op:comune", "comune", Role.MUNICIPALITY, frozenset({A, B}))
    assert _run(app, [DefineTheme(territory=A, code="a.x", label="x"),
                      DefineTheme(territory=B, code="b.x", label="x")], municipality) == 2
    auditor = Principal("op:auditor", "auditor", Role.AUDITOR, frozenset({A, B}))
    with pytest.raises(Forbidden):
        _run(app, [DefineTheme(territory=A, code="a.y", label="y")], auditor)
    elsewhere = Principal("op:other", "other", Role.MUNICIPALITY, frozenset({B}))
    with pytest.raises(NotFound):
        _run(app, [DefineTheme(territory=A, code="a.z", label="z")], elsewhere)
