"""Credentials for the tests: real API keys made in the test database.

``TerritoryAuth`` signs each request the way a Comune's operator would: calls under
`/v1/territories/{t}` carry a `municipality` key of t (made on first use), everything else
the admin key. Tests that need another role make its key with ``make_key``.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Generator

import httpx

from ledger.access import Principal, Role
from ledger.apikeys import ApiKeys

TERRITORY_PATH = re.compile(r"^/v1/territories/([0-9]{6})(/|$)")
# For calls straight to the write service: an operator with every right but personal reads.
ADMIN = Principal("test-admin", "tests", Role.ADMIN)


def make_key(keys: ApiKeys, role: Role, territories: list[str],
             actor_id: uuid.UUID | str | None = None, name: str | None = None) -> str:
    actor = uuid.UUID(str(actor_id)) if actor_id else None
    _, token = keys.create(name or f"test {role.value}", role, territories, actor, "tests")
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TerritoryAuth(httpx.Auth):
    def __init__(self, keys: ApiKeys, admin_token: str) -> None:
        self.keys = keys
        self.admin_token = admin_token
        self.municipal: dict[str, str] = {}
        self.lock = threading.Lock()  # one operator per territory, even for racing threads

    def token_for(self, path: str) -> str:
        found = TERRITORY_PATH.match(path)
        if not found:
            return self.admin_token
        code = found.group(1)
        with self.lock:
            if code not in self.municipal:
                self.municipal[code] = make_key(self.keys, Role.MUNICIPALITY, [code],
                                                name=f"Servizi sociali {code}")
            return self.municipal[code]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "Authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {self.token_for(request.url.path)}"
        yield request
