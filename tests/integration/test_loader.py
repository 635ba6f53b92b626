"""The write service keeps up-to-date copies of aggregates between commands
(ledger/loader.py): a command still decides on what any other process recorded meanwhile,
and a copy handed to one command is never seen changed by another."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from infra.stack import Services
from ledger import commands as cmd
from ledger.container import Container
from ledger.domain import ActorErasedError, Territory
from ledger.settings import Settings
from tests.support.auth import ADMIN
from tests.support.stack import territory_code

pytestmark = pytest.mark.integration


def _pledge(c: Container, code: str, actor: object, quantity: int = 60) -> cmd.Pledge:
    return cmd.Pledge(territory=code, contributor_id=actor, resource_kind="time",  # type: ignore[arg-type]
                      unit="minute", quantity=quantity, theme="cts.a")


def test_a_command_sees_what_another_process_recorded_after_its_copy(
        container: Container, settings: Settings, services: Services) -> None:
    other = Container.build(settings, services.database_url, services.kafka_bootstrap)
    try:
        code = territory_code()
        app = container.app
        app.handle(cmd.RegisterTerritory(territory=code, name="Comune di Prova"), ADMIN)
        anna = app.handle(cmd.RegisterActor(territory=code, kind="citizen",
                                            display_name="Anna"), ADMIN).id
        app.handle(_pledge(container, code, anna), ADMIN)  # both kept in memory now
        assert app._loader.kept[anna].version == 1  # noqa: SLF001

        # Another process (its own pools and copies) themes the territory and erases Anna.
        other.app.handle(cmd.DefineTheme(territory=code, code="x.orti", label="Orti"), ADMIN)
        other.app.handle(cmd.EraseActor(territory=code, actor_id=anna), ADMIN)

        with pytest.raises(ActorErasedError):
            app.handle(_pledge(container, code, anna), ADMIN)
        beppe = app.handle(cmd.RegisterActor(territory=code, kind="citizen",
                                             display_name="Beppe"), ADMIN).id
        themed = app.handle(cmd.Pledge(territory=code, contributor_id=beppe,
                                       resource_kind="time", unit="minute", quantity=30,
                                       theme="x.orti"), ADMIN)
        assert themed.aggregate.theme == "x.orti"  # the theme the other process defined
    finally:
        other.close()


def test_kept_copies_never_change_under_a_command(container: Container) -> None:
    code = territory_code()
    app = container.app
    app.handle(cmd.RegisterTerritory(territory=code, name="Comune di Prova"), ADMIN)
    carla = app.handle(cmd.RegisterActor(territory=code, kind="citizen",
                                         display_name="Carla"), ADMIN).id
    offer = app.handle(_pledge(container, code, carla, 120), ADMIN).id
    app.handle(cmd.WithdrawContribution(territory=code, contribution_id=offer), ADMIN)
    kept = app._loader.kept.get(offer)  # noqa: SLF001
    assert kept is not None and kept.version == 1  # what a command saved is read back, not kept
    handed = app._loader.get(offer)  # noqa: SLF001
    assert handed is not kept
    assert handed.version == app.repository.get(offer).version == 2  # the withdrawal read
    handed.quantity = 0  # a command's private copy
    assert app._loader.get(offer).quantity == 120  # noqa: SLF001


def test_concurrent_commands_share_one_query_and_each_gets_its_own_copies(
        container: Container, settings: Settings, services: Services) -> None:
    """While one command's load is under way, the commands that arrive meanwhile are loaded
    together by the next query, which starts after they arrived: it reads what another
    process recorded before then, and each command gets copies of its own."""
    other = Container.build(settings, services.database_url, services.kafka_bootstrap)
    try:
        code = territory_code()
        app = container.app
        app.handle(cmd.RegisterTerritory(territory=code, name="Comune di Prova"), ADMIN)
        people = [app.handle(cmd.RegisterActor(territory=code, kind="citizen",
                                               display_name=f"Persona {i}"), ADMIN).id
                  for i in range(4)]
        territory = Territory.id_for(code)
        loader = app._loader  # noqa: SLF001
        loader.prefetch([territory, *people])  # all kept in memory now
        loader.clear()

        real_fetch = loader._fetch  # noqa: SLF001
        first_read, release = threading.Event(), threading.Event()
        queries: list[list[uuid.UUID]] = []

        def fetch(ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
            found: dict[uuid.UUID, Any] = real_fetch(ids)
            queries.append(list(ids))
            if len(queries) == 1:  # the first query has read; hold it there
                first_read.set()
                assert release.wait(10)
            return found

        got: dict[int, dict[uuid.UUID, Any]] = {}

        def command(n: int) -> None:
            loader.prefetch([territory, people[n]])
            got[n] = loader.local.ready

        loader._fetch = fetch  # type: ignore[method-assign]  # noqa: SLF001
        try:
            first = threading.Thread(target=command, args=(0,))
            first.start()
            assert first_read.wait(10)
            # Recorded elsewhere after the first query read, before the others arrive.
            other.app.handle(cmd.DefineTheme(territory=code, code="x.orti", label="Orti"), ADMIN)
            rest = [threading.Thread(target=command, args=(n,)) for n in (1, 2, 3)]
            for t in rest:
                t.start()
            deadline = time.monotonic() + 10
            while len(loader.reads.queue) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(loader.reads.queue) == 3  # the three wait for the first query to end
            release.set()
            for t in (first, *rest):
                t.join(10)
        finally:
            loader._fetch = real_fetch  # type: ignore[method-assign]  # noqa: SLF001

        assert len(queries) == 2  # the first command's, then one for the three others
        assert set(queries[1]) == {territory, *people[1:]}
        assert loader.reads.groups >= 1
        assert "x.orti" not in got[0][territory].own_themes
        for n in (1, 2, 3):
            assert set(got[n]) == {territory, people[n]}
            assert "x.orti" in got[n][territory].own_themes
        copies = [got[n][territory] for n in (1, 2, 3)]
        assert len({id(c) for c in copies}) == 3  # each command's own copy
        assert all(c is not loader.kept[territory] for c in copies)
    finally:
        other.close()
