"""The API's key cache (ledger.apikeys.KeyCache): a known live key names its principal with no
query, and a revocation made by any process reaches every process that keeps the key."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from ledger.access import Role
from ledger.apikeys import LISTENER_NAME, ApiKeys, token_hash
from ledger.container import Container
from ledger.db import Database

pytestmark = pytest.mark.integration


@pytest.fixture
def two_processes(container: Container) -> Iterator[tuple[ApiKeys, ApiKeys]]:
    """Two key stores on their own pools, as two API processes have them, both caching."""
    stores = []
    for _ in range(2):
        keys = ApiKeys(Database(container.database_url, max_size=2))
        assert keys.start_cache().wait_listening(10)
        stores.append(keys)
    yield stores[0], stores[1]
    for keys in stores:
        keys.stop_cache()
        keys.db.close()


def test_a_known_key_is_answered_from_memory(two_processes: tuple[ApiKeys, ApiKeys]) -> None:
    api, _ = two_processes
    key, token = api.create("cache test", Role.AUDITOR, [], None, "test")
    assert api.cached(token) is None  # not looked up yet
    found = api.authenticate(token)
    assert found is not None and found.id == key.id
    cached = api.cached(token)
    assert cached is not None and cached.principal() == found.principal()
    api.db.close()  # no query can be made now, and the key is still known
    for _ in range(50):
        assert api.cached(token) == found
    assert api.cached("lk_" + "x" * 43) is None  # unknown tokens are never answered from memory


def test_a_revocation_in_another_process_reaches_the_cache(
        two_processes: tuple[ApiKeys, ApiKeys]) -> None:
    api, other = two_processes
    key, token = api.create("revoked elsewhere", Role.AUDITOR, [], None, "test")
    assert api.authenticate(token) is not None and api.cached(token) is not None
    assert other.revoke(key.id) is not None
    deadline = time.monotonic() + 5
    while api.cached(token) is not None:
        assert time.monotonic() < deadline, "the revocation never reached the other process"
        time.sleep(0.01)
    assert api.authenticate(token) is None
    assert api.cached(token) is None


def test_a_revocation_in_the_same_process_is_immediate(
        two_processes: tuple[ApiKeys, ApiKeys]) -> None:
    api, _ = two_processes
    key, token = api.create("revoked here", Role.AUDITOR, [], None, "test")
    assert api.authenticate(token) is not None and api.cached(token) is not None
    api.revoke(key.id)
    assert api.cached(token) is None
    assert api.authenticate(token) is None


def test_a_lookup_racing_a_revocation_is_not_kept(two_processes: tuple[ApiKeys, ApiKeys]) -> None:
    api, _ = two_processes
    _, token = api.create("raced", Role.AUDITOR, [], None, "test")
    cache = api.cache
    assert cache is not None
    found = api.authenticate(token)
    assert found is not None
    started = cache.generation  # a lookup begins …
    cache.drop(None)  # … a revocation is heard meanwhile …
    cache.put(token_hash(token), found, started)  # … and its answer is not kept
    assert cache.get(token_hash(token)) is None


def test_without_the_listening_connection_nothing_is_answered_from_memory(
        two_processes: tuple[ApiKeys, ApiKeys], container: Container) -> None:
    api, _ = two_processes
    _, token = api.create("listener lost", Role.AUDITOR, [], None, "test")
    assert api.authenticate(token) is not None and api.cached(token) is not None
    with psycopg.connect(container.database_url, autocommit=True) as admin:
        killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE application_name = %s", (LISTENER_NAME,)).fetchone()
    assert killed is not None and killed[0] >= 2  # both processes' listeners
    cache = api.cache
    assert cache is not None
    deadline = time.monotonic() + 5
    while cache.listening and api.cached(token) is not None:
        assert time.monotonic() < deadline, "the loss of the listener went unnoticed"
        time.sleep(0.01)
    assert api.cached(token) is None  # emptied: every lookup asks PostgreSQL again
    assert cache.wait_listening(10), "the cache did not listen again"
    assert api.cached(token) is None
    assert api.authenticate(token) is not None and api.cached(token) is not None
