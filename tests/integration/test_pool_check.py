"""The pools check each connection they hand out without a round trip (ledger.db.check_alive):
a connection the server closed (PostgreSQL restarted, a backend terminated) is discarded and
replaced before any statement fails on it."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from infra.stack import Services
from ledger import commands as cmd
from ledger.container import Container
from ledger.db import check_alive
from ledger.settings import Settings
from tests.support.auth import ADMIN
from tests.support.stack import territory_code

pytestmark = pytest.mark.integration


def _idle_backends(pool: ConnectionPool[Any]) -> list[int]:
    """The backend pids of every connection resting in the pool."""
    held = [pool.getconn() for _ in range(pool.get_stats()["pool_available"])]
    pids = [c.info.backend_pid for c in held]
    for c in held:
        pool.putconn(c)
    return pids


def _terminate(url: str, pids: list[int]) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        deadline = time.monotonic() + 10
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                            (pids,)).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "the backends did not end"
            time.sleep(0.05)


def test_both_pools_use_the_check(container: Container) -> None:
    assert container.db.pool._check is check_alive  # noqa: SLF001
    assert container.app.recorder.datastore.pool._check is check_alive  # type: ignore[attr-defined]  # noqa: SLF001


def test_connections_the_server_closed_are_replaced_before_use(settings: Settings,
                                                               services: Services) -> None:
    c = Container.build(settings, services.database_url, services.kafka_bootstrap)
    try:
        code = territory_code()
        c.app.handle(cmd.RegisterTerritory(territory=code, name="Comune di Prova"), ADMIN)
        store_pool: ConnectionPool[Any] = c.app.recorder.datastore.pool  # type: ignore[attr-defined]
        pids = _idle_backends(store_pool) + _idle_backends(c.db.pool)
        assert pids
        lost_before = (store_pool.get_stats().get("connections_lost", 0)
                       + c.db.pool.get_stats().get("connections_lost", 0))
        _terminate(services.database_url, pids)

        # The write service (eventsourcing's pool) and the side stores (the ledger's pool).
        actor = c.app.handle(cmd.RegisterActor(territory=code, kind="citizen",
                                               display_name="Dopo il riavvio"), ADMIN)
        assert c.app.repository.get(actor.id).version == 1
        assert c.api_keys.list() is not None
        lost = (store_pool.get_stats().get("connections_lost", 0)
                + c.db.pool.get_stats().get("connections_lost", 0)) - lost_before
        assert lost >= 2  # found by the check, at least one in each pool
        with psycopg.connect(services.database_url) as admin:
            alive = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                                  (pids,)).fetchone()
        assert alive == (0,)
    finally:
        c.close()
