"""The write routes' common case without FastAPI's per-request machinery.

A write (a pledge, a need, a match, a fulfilment, …) spends most of the API's CPU outside the
command: matching the route among a hundred, solving six dependencies, the thread hand-off.
`FastWrites` sits just inside the metrics middleware and answers the common case of a write
route itself, by calling the same endpoint function with the same arguments FastAPI would
give it:

- a POST to a route of `api.routes.writes` whose endpoint takes only path parameters (str or
  UUID), one JSON body model, and the container, the Writes, the principal and the request;
- signed with an API key this process already knows (`ApiKeys.cached`), for a territory the
  key sees;
- a JSON body (Content-Length at most 64 KiB) that the body model accepts.

Everything else — another route, an unknown or new key, an OIDC token, a body the model
refuses, a malformed path — goes on to FastAPI untouched (with the body already read handed
back), so every refusal is FastAPI's own answer. Errors raised by the endpoint are answered
by the application's own exception handlers; an error without one reaches the server error
middleware as it would from FastAPI. tests/e2e/test_fast_writes.py checks that both paths
give the same answers.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
import typing
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import known_principal, territory_visible, writes_for
from ledger.container import Container

MAX_BODY = 64 * 1024
CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
THREADS = 40  # as many as the thread pool FastAPI runs plain `def` endpoints on


@dataclass(frozen=True)
class Plan:
    """How to call one write endpoint."""
    regex: re.Pattern[str]
    endpoint: Callable[..., Response]
    path_params: dict[str, type]  # name -> str or uuid.UUID
    body_name: str
    body_model: type[BaseModel]
    injected: dict[str, str]  # parameter name -> "container" | "writes" | "principal" | "request"


INJECTED = {"Container": "container", "Writes": "writes", "Principal": "principal",
            "Request": "request"}


def plan_for(route: APIRoute) -> Plan | None:
    """A plan for a route whose endpoint takes only what the fast path can give, else None."""
    if route.methods != {"POST"} or route.dependencies:
        return None
    hints = typing.get_type_hints(route.endpoint, include_extras=True)
    if hints.get("return") is not None and getattr(hints["return"], "__name__", "") != "JSONResponse":
        return None
    path_names = set(route.param_convertors)
    path_params: dict[str, type] = {}
    injected: dict[str, str] = {}
    body: tuple[str, type[BaseModel]] | None = None
    for name, param in inspect.signature(route.endpoint).parameters.items():
        hint = hints.get(name)
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
        if name in path_names and base in (str, uuid.UUID):
            path_params[name] = base
        elif isinstance(base, type) and base.__name__ in INJECTED:
            injected[name] = INJECTED[base.__name__]
        elif (isinstance(base, type) and issubclass(base, BaseModel) and body is None
              and param.default is inspect.Parameter.empty):
            body = (name, base)
        else:
            return None
    if body is None or set(path_params) != path_names or "t" not in path_params:
        return None
    return Plan(route.path_regex, route.endpoint, path_params, body[0], body[1], injected)


class FastWrites:
    def __init__(self, app: ASGIApp, routes: list[APIRoute]) -> None:
        self.app = app
        self.plans = [p for p in (plan_for(r) for r in routes) if p is not None]
        self.executor = ThreadPoolExecutor(THREADS, thread_name_prefix="fast-writes")
        self.answered = 0  # requests this path answered itself (for tests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        call = self._prepare(scope)
        if call is None:
            return await self.app(scope, receive, send)
        body, receive_again = await _read_body(receive)
        if body is None:  # the client went away
            return await self.app(scope, receive_again, send)
        handled = await call(body, receive_again, send)
        if not handled:
            await self.app(scope, receive_again, send)

    def _prepare(self, scope: Scope) -> Callable[[bytes, Receive, Send], Awaitable[bool]] | None:
        path: str = scope["path"]
        if not path.startswith("/v1/territories/"):
            return None
        for plan in self.plans:
            match = plan.regex.match(path)
            if match is not None:
                break
        else:
            return None
        headers = _headers(scope)
        if not _is_json(headers.get(b"content-type")):
            return None
        length = headers.get(b"content-length", b"")
        if not length.isdigit() or not 0 < int(length) <= MAX_BODY:
            return None
        app = scope.get("app")
        container: Container | None = getattr(getattr(app, "state", None), "container", None)
        if container is None:
            return None
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        principal = known_principal(container, token) if scheme.lower() == "bearer" else None
        if principal is None:
            return None
        params: dict[str, Any] = {}
        for name, kind in plan.path_params.items():
            raw = match.group(name)
            if kind is uuid.UUID:  # the canonical spelling; any other is FastAPI's to judge
                if not CANONICAL_UUID.fullmatch(raw):
                    return None
                params[name] = uuid.UUID(raw)
            else:
                params[name] = raw
        if not territory_visible(principal, params["t"]):
            return None
        assert isinstance(app, FastAPI)
        idempotency_key = headers.get(b"idempotency-key")

        async def call(body: bytes, receive: Receive, send: Send) -> bool:
            try:
                payload = plan.body_model.model_validate(json.loads(body))
            except (ValueError, ValidationError):  # FastAPI says what is wrong with it
                return False
            request = Request(scope, receive)
            request.state.principal = principal
            values: dict[str, Any] = {"container": container, "principal": principal,
                                      "request": request}
            if "writes" in plan.injected.values():
                values["writes"] = writes_for(container, principal, idempotency_key.decode(
                    "latin-1") if idempotency_key is not None else None)
            kwargs = params | {plan.body_name: payload}
            kwargs |= {name: values[what] for name, what in plan.injected.items()}
            loop = asyncio.get_running_loop()
            try:
                response = await loop.run_in_executor(
                    self.executor, functools.partial(plan.endpoint, **kwargs))
            except Exception as exc:
                response = await _handled(app, request, exc)
            self.answered += 1
            await response(scope, receive, send)
            return True
        return call


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """The first value of each header, by lower-case name (as FastAPI's Header() reads it)."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.lower(), value)
    return found


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    kind = content_type.split(b";", 1)[0].strip().lower()
    return kind == b"application/json"


async def _read_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """The whole body (None if the client went away first), and a receive that hands it over
    again, then the client's own messages."""
    chunks: list[bytes] = []
    pending: list[Message] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            pending.append(message)
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def receive_again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        if pending:
            return pending.pop(0)
        return await receive()
    return (None if pending else body), receive_again


async def _handled(app: FastAPI, request: Request, exc: Exception) -> Response:
    """The application's answer to an error, found as Starlette finds it (by the error's
    classes, most specific first); an error it has no handler for is raised on."""
    for kind in type(exc).__mro__:
        handler = app.exception_handlers.get(kind)
        if handler is not None:
            answer = handler(request, exc)  # the application's handlers are all quick
            response: Response = await answer if inspect.isawaitable(answer) else answer
            return response
    raise exc
