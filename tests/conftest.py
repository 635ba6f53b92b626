"""Session-wide real services. A service that cannot start is an error, never a skip."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.stack import Services, start_services
from ledger.access import Role
from ledger.container import Container
from ledger.settings import Settings
from tests.support.auth import TerritoryAuth, make_key
from tests.support.stack import Roles, test_settings


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return test_settings(Path(tmp_path_factory.mktemp("ledger")))


@pytest.fixture(scope="session")
def services(settings: Settings) -> Iterator[Services]:
    started = start_services(settings)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def container(settings: Settings, services: Services) -> Iterator[Container]:
    built = Container.build(settings, services.database_url, services.kafka_bootstrap)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(scope="session")
def roles(settings: Settings, services: Services, container: Container) -> Iterator[Roles]:
    running = Roles(settings, services.database_url, services.kafka_bootstrap,
                    settings.data_dir / "logs")
    running.start_all()
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture(scope="session")
def admin_token(container: Container) -> str:
    return make_key(container.api_keys, Role.ADMIN, [], name="test admin")


@pytest.fixture(scope="session")
def auth(container: Container, admin_token: str) -> TerritoryAuth:
    return TerritoryAuth(container.api_keys, admin_token)


@pytest.fixture(scope="session")
def http(roles: Roles, auth: TerritoryAuth) -> Iterator[httpx.Client]:
    """A client signed as each territory's municipal operator (the admin elsewhere)."""
    with httpx.Client(base_url=roles.base_url, timeout=30, auth=auth) as client:
        yield client


os.environ.setdefault("HYPOTHESIS_PROFILE", "default")
