"""Runs a write command: Idempotency-Key handling, 201 + Ledger-Position, sealed replays."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.problems import TYPE_BASE, Problem
from ledger.access import Principal
from ledger.application import Claim
from ledger.idempotency import IdempotencyStore
from ledger.privacy import KeyStore, SubjectErased, seal, unseal

ID_NAMESPACE = uuid.UUID("0b7d3c55-2f4e-4a53-9f38-6a4d4f1e2b90")


@dataclass
class Outcome:
    body: dict[str, Any]
    position: int
    subject_id: uuid.UUID | None = None
    personal_fields: tuple[str, ...] = field(default_factory=tuple)


def route_of(request: Request) -> str:
    """The method and `request.url.path` ("POST /v1/..."), the path read from the scope as
    Starlette's URL reads it, without building the whole URL (its Host header parsing was
    7% of a write's CPU)."""
    path: str = request.scope["path"]
    path = path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    return f"{request.method} {path}"


def respond(body: dict[str, Any], position: int, status: int = 201) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Ledger-Position": str(position)})


class Writes:
    def __init__(self, store: IdempotencyStore, keys: KeyStore, key: str | None,
                 principal: Principal) -> None:
        self.store = store
        self.keys = keys
        self.key = key
        self.principal = principal

    def run(self, route: str, body: BaseModel | None,
            command: Callable[[uuid.UUID, Claim | None], Outcome],
            recover: Callable[[uuid.UUID, int], Outcome] | None = None) -> JSONResponse:
        """Run command once per principal and Idempotency-Key. command(new id, claim) runs it;
        recover(resource id, position) presents the result of a command that committed but
        whose response was never stored (a crash)."""
        if self.key is None:
            return self._execute(command(uuid.uuid4(), None))
        # Keys belong to the caller: another principal's key never replays this one's answer.
        scope = f"{self.principal.id} {route}"
        if not 1 <= len(self.key) <= 255:
            raise Problem(422, "Invalid Idempotency-Key", "the key must have 1 to 255 characters",
                          TYPE_BASE + "validation",
                          errors=[{"loc": ["header", "Idempotency-Key"], "msg": "bad length"}])
        payload = body.model_dump(mode="json") if body is not None else {}
        fingerprint = hashlib.sha256(
            json.dumps([scope, payload], sort_keys=True).encode()).hexdigest()
        earlier = self.store.claim(scope, self.key, fingerprint)
        if earlier is not None:
            if earlier.fingerprint is not None and earlier.fingerprint != fingerprint:
                raise Problem(409, "Idempotency-Key reused",
                              "this Idempotency-Key was used with a different request body",
                              TYPE_BASE + "idempotency-key-reused")
            if earlier.completed:
                return self._replay(earlier)
            if earlier.committed_id is not None and recover is not None:
                return self._complete(scope, recover(earlier.committed_id,
                                                     earlier.committed_position or 0))
            if not (earlier.stale and self.store.take_over(scope, self.key)):
                raise Problem(409, "Request in progress",
                              "a request with this Idempotency-Key is still being processed",
                              TYPE_BASE + "idempotency-in-progress", {"Retry-After": "1"})
        new_id = uuid.uuid5(ID_NAMESPACE, f"{scope}|{self.key}")
        try:
            outcome = command(new_id, Claim(scope, self.key))
        except BaseException:
            self.store.release(scope, self.key)
            raise
        return self._complete(scope, outcome)

    def _complete(self, scope: str, outcome: Outcome) -> JSONResponse:
        assert self.key is not None
        full = outcome.body | {"position": outcome.position}
        redacted = {k: (None if k in outcome.personal_fields else v) for k, v in full.items()}
        sealed = None
        if outcome.subject_id is not None and outcome.personal_fields:
            key = self.keys.get(outcome.subject_id)
            sealed = seal(key, outcome.subject_id, full) if key else None
        self.store.complete(scope, self.key, 201, outcome.subject_id, sealed, redacted)
        return respond(full, outcome.position)

    def _execute(self, outcome: Outcome) -> JSONResponse:
        return respond(outcome.body | {"position": outcome.position}, outcome.position)

    def _replay(self, stored: Any) -> JSONResponse:
        body = stored.body_redacted or {}
        if stored.body_sealed and stored.subject_id:
            with contextlib.suppress(SubjectErased):
                body = unseal(self.keys.get(stored.subject_id), stored.subject_id,
                              stored.body_sealed)
        return respond(body, int(body.get("position", 0)), stored.status_code or 201)
