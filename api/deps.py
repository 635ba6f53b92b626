"""Request dependencies as Annotated aliases."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from api.problems import TYPE_BASE, Problem
from api.writes import Writes
from ledger.application import NotFound
from ledger.container import Container
from ledger.domain.territory import ISTAT_CODE
from ledger.idempotency import IdempotencyStore


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def check_token(container: ContainerDep,
                authorization: Annotated[str | None, Header()] = None) -> None:
    token = container.settings.dev_admin_token
    if not token:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip(), token):
        raise Problem(401, "Unauthorized", "a valid bearer token is required",
                      TYPE_BASE + "unauthorized", {"WWW-Authenticate": "Bearer"})


def check_territory(request: Request) -> None:
    """A `{t}` that is no ISTAT code names no territory: 404 before it reaches any query."""
    code = request.path_params.get("t")
    if code is not None and not ISTAT_CODE.fullmatch(code):
        raise NotFound("territory", code)


def get_writes(container: ContainerDep,
               idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
               ) -> Writes:
    return Writes(IdempotencyStore(container.db), container.keys, idempotency_key)


WritesDep = Annotated[Writes, Depends(get_writes)]


def wait_for_position(container: ContainerDep, t: str,
                      min_position: Annotated[int | None, Query(ge=0)] = None) -> None:
    """Read-your-writes: wait until the projections have applied min_position for t."""
    if not min_position:
        return
    settings = container.settings
    deadline = time.monotonic() + settings.read_wait_seconds
    while container.reads.applied_position(t) < min_position:
        if time.monotonic() >= deadline:
            raise Problem(503, "Not yet applied",
                          f"the projections have not applied position {min_position} yet",
                          TYPE_BASE + "not-yet-applied", {"Retry-After": "1"})
        time.sleep(0.05)


Fresh = Depends(wait_for_position)
