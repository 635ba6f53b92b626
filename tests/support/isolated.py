"""A stack of its own for tests that kill roles or fence the relay: another database on the
session's PostgreSQL, another topic on its Kafka, and roles bound to both."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from infra.kafka import ensure_topic
from infra.postgres import create_database
from infra.stack import Services
from ledger.container import Container
from ledger.settings import Settings
from tests.support.stack import Roles


@dataclass
class Isolated:
    settings: Settings
    database_url: str
    bootstrap: str
    container: Container
    roles: Roles

    def stored_events(self) -> list[tuple[str, int, int]]:
        """(originator id, version, notification id) of every stored event."""
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute("SELECT originator_id, originator_version, notification_id "
                                "FROM ledger_events ORDER BY notification_id").fetchall()
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


@contextmanager
def isolated_stack(settings: Settings, services: Services, name: str) -> Iterator[Isolated]:
    suffix = f"{name}{random.randrange(10**6)}"  # noqa: S311
    own = settings.model_copy(update={"topic": f"ledger.events.{suffix}"})
    url = create_database(services.database_url, f"ledger_{suffix}")
    ensure_topic(services.kafka_bootstrap, own.topic, own.topic_partitions)
    container = Container.build(own, url, services.kafka_bootstrap)
    roles = Roles(own, url, services.kafka_bootstrap, settings.data_dir / "logs" / suffix)
    try:
        yield Isolated(own, url, services.kafka_bootstrap, container, roles)
    finally:
        roles.stop_all()
        container.close()
