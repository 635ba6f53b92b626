"""Start, wait for and stop the services the ledger needs: embedded by default, external by URL."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from infra import kafka, postgres
from ledger.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    database_url: str
    kafka_bootstrap: str
    topic: str
    _stops: list[object] = field(default_factory=list, repr=False)

    def heal(self) -> list[str]:
        """Restart every embedded service that died; the names of those restarted."""
        restarted = []
        for service in self._stops:
            if not service.alive():  # type: ignore[attr-defined]
                name = type(service).__name__
                log.warning("%s is down: restarting it", name)
                service.restart()  # type: ignore[attr-defined]
                restarted.append(name)
        return restarted

    def stop(self) -> None:
        for service in reversed(self._stops):
            try:
                service.stop()  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - stopping must go on for the others
                log.exception("stopping %s failed", service)
        self._stops.clear()


def start_services(settings: Settings, data_dir: Path | None = None) -> Services:
    data_dir = (data_dir or settings.data_dir).resolve()
    stops: list[object] = []
    try:
        if settings.database_url:
            database_url = settings.database_url
        else:
            pg = postgres.start_embedded(data_dir)
            stops.append(pg)
            database_url = pg.url
        postgres.wait_ready(database_url)

        if settings.kafka_bootstrap:
            bootstrap = settings.kafka_bootstrap
            kafka.wait_ready(bootstrap)
        else:
            broker = kafka.start_embedded(data_dir, settings.kafka_port,
                                          settings.kafka_controller_port, settings.kafka_heap)
            stops.append(broker)
            bootstrap = broker.bootstrap
        kafka.ensure_topic(bootstrap, settings.topic, settings.topic_partitions)
    except BaseException:
        for service in reversed(stops):
            service.stop()  # type: ignore[attr-defined]
        raise
    return Services(database_url, bootstrap, settings.topic, stops)
