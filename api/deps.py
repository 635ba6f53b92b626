"""Request dependencies as Annotated aliases."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.problems import TYPE_BASE, Problem
from api.writes import Writes
from ledger.access import Principal, Role
from ledger.apikeys import looks_like_key
from ledger.application import NotFound
from ledger.container import Container
from ledger.domain.territory import ISTAT_CODE
from ledger.idempotency import IdempotencyStore
from ledger.oidc import InvalidToken


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


# Dependencies that never block are `async def`: FastAPI runs a plain `def` dependency in its
# thread pool, a thread hand-off each, for every request.
async def _container(request: Request) -> Container:
    return get_container(request)


ContainerDep = Annotated[Container, Depends(_container)]


_bearer = HTTPBearer(auto_error=False, description="An API key (`lk_…`) or, when OIDC is "
                     "configured, a JWT from the Comune's identity provider")
DEV_ADMIN = Principal("dev-admin", "development admin token", Role.ADMIN, auth="dev_token")


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, TYPE_BASE + "unauthorized",
                   {"WWW-Authenticate": "Bearer"})


def identify(request: Request, container: Container,
             credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """Every /v1 call names its principal: an API key, an OIDC token or the dev token."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _unauthorized("a bearer token is required (an API key or an OIDC token)")
    token = credentials.credentials.strip()
    principal: Principal | None = None
    dev_token = container.settings.dev_admin_token
    if dev_token and not container.settings.is_production and secrets.compare_digest(
            token.encode(), dev_token.encode()):
        principal = DEV_ADMIN
    elif looks_like_key(token):
        key = container.api_keys.authenticate(token)
        principal = key.principal() if key else None
    elif getattr(request.app.state, "oidc", None) is not None:
        try:
            principal = request.app.state.oidc.principal(token)
        except InvalidToken as err:
            raise _unauthorized(f"the token is not valid: {err}") from None
    if principal is None:
        raise _unauthorized("the token is unknown, revoked or not valid")
    request.state.principal = principal
    return principal


async def authenticate(request: Request, container: ContainerDep,
                       credentials: Annotated[HTTPAuthorizationCredentials | None,
                                              Depends(_bearer)] = None) -> Principal:
    """`identify`, answered from the process's key cache when it can (no query, no thread),
    else on the thread pool (a query, an OIDC key fetch)."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        principal = known_principal(container, credentials.credentials)
        if principal is not None:
            request.state.principal = principal
            return principal
    return await run_in_threadpool(identify, request, container, credentials)


def known_principal(container: Container, token: str) -> Principal | None:
    """The principal of an API key this process already knows (only keys `identify` found
    are kept, never the dev token); None: ask `identify`."""
    token = token.strip()
    if not looks_like_key(token):
        return None
    key = container.api_keys.cached(token)
    return key.principal() if key is not None else None


PrincipalDep = Annotated[Principal, Depends(authenticate)]


async def check_territory(request: Request, principal: PrincipalDep) -> None:
    """A `{t}` that is no ISTAT code, or outside the principal's territories, names nothing:
    404 before it reaches any query."""
    code = request.path_params.get("t")
    if code is not None and not territory_visible(principal, code):
        raise NotFound("territory", code)


def territory_visible(principal: Principal, code: str) -> bool:
    return bool(ISTAT_CODE.fullmatch(code)) and principal.sees(code)


async def get_writes(container: ContainerDep, principal: PrincipalDep,
               idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
               ) -> Writes:
    return writes_for(container, principal, idempotency_key)


def writes_for(container: Container, principal: Principal, idempotency_key: str | None) -> Writes:
    return Writes(IdempotencyStore(container.db), container.keys, idempotency_key, principal)


WritesDep = Annotated[Writes, Depends(get_writes)]


def wait_for_position(request: Request, container: ContainerDep,
                      min_position: Annotated[int | None, Query(ge=0)] = None) -> None:
    """Read-your-writes: wait until the projections have applied min_position for the
    territory `{t}` of the path (every territory's, for reads across territories)."""
    t = request.path_params.get("t")
    if not min_position or t is None:
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
