"""The write service keeps up-to-date copies of aggregates between commands
(ledger/loader.py): a command still decides on what any other process recorded meanwhile,
and a copy handed to one command is never seen changed by another."""

from __future__ import annotations

import pytest

from infra.stack import Services
from ledger import commands as cmd
from ledger.container import Container
from ledger.domain import ActorErasedError
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
