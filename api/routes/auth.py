"""Who is calling (`/v1/me`) and API keys (`/v1/keys`): create, list, revoke."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api import models
from api.deps import ContainerDep, PrincipalDep
from api.problems import TYPE_BASE, Problem
from api.schemas import KeyCreate
from ledger import access
from ledger.access import Principal, Role
from ledger.apikeys import ApiKey, InvalidScope, check_scope
from ledger.application import Forbidden, NotFound
from ledger.container import Container

KEY_PROBLEMS = models.problem_responses(401, 403, 404, 422, 503)
router = APIRouter(prefix="/v1", responses=KEY_PROBLEMS)


@router.get("/me", response_model=models.Me,
            response_model_exclude_unset=True)
def me(p: PrincipalDep) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "role": p.role.value, "territories": sorted(p.territories),
            "actor_id": str(p.actor_id) if p.actor_id else None, "auth": p.auth}


def _grant(p: Principal, role: Role, territories: frozenset[str]) -> None:
    decision = access.may_grant(p, role, territories)
    if decision is access.HIDE:
        outside = sorted(territories - p.territories) or ["(none given)"]
        raise NotFound("territory", ", ".join(outside))
    if decision is access.FORBID:
        raise Forbidden(f"a {p.role.value} key may not manage {role.value} keys")


def _check_scope(c: Container, body: KeyCreate) -> None:
    try:
        check_scope(c.reads, body.role, body.territories, body.actor_id)
    except InvalidScope as err:
        raise Problem(422, "Invalid key", str(err), TYPE_BASE + "validation",
                      errors=[{"loc": ["body", err.field], "msg": str(err)}]) from None


@router.post("/keys", status_code=201, response_model=models.KeyCreated)
def create_key(body: KeyCreate, c: ContainerDep, p: PrincipalDep) -> JSONResponse:
    """A new API key. The token is in this answer only: it is stored as a hash."""
    territories = frozenset(body.territories)
    _grant(p, body.role, territories)
    _check_scope(c, body)
    key, token = c.api_keys.create(body.name, body.role,
                                   [] if body.role is Role.ADMIN else sorted(territories),
                                   body.actor_id, p.id)
    return JSONResponse(key.public() | {"token": token}, status_code=201)


def _visible(p: Principal, key: ApiKey) -> bool:
    return access.may_grant(p, key.role, frozenset(key.territories)) is access.ALLOW


@router.get("/keys", response_model=models.KeyPage,
            response_model_exclude_unset=True)
def list_keys(c: ContainerDep, p: PrincipalDep) -> dict[str, Any]:
    """The keys this principal manages (an admin: all; a municipality: its territories')."""
    if p.role not in (Role.ADMIN, Role.MUNICIPALITY):
        raise Forbidden(f"a {p.role.value} key may not manage keys")
    return {"items": [k.public() for k in c.api_keys.list() if _visible(p, k)], "next": None}


@router.delete("/keys/{key_id}", response_model=models.KeyPublic)
def revoke_key(key_id: uuid.UUID, c: ContainerDep, p: PrincipalDep) -> dict[str, Any]:
    """Revokes a key at once; it stays listed with `revoked_at`."""
    if p.role not in (Role.ADMIN, Role.MUNICIPALITY):
        raise Forbidden(f"a {p.role.value} key may not manage keys")
    key = c.api_keys.get(key_id)
    if key is None or not _visible(p, key):
        raise NotFound("key", key_id)
    revoked = c.api_keys.revoke(key_id)
    assert revoked is not None
    return revoked.public()
