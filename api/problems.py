"""Every error is application/problem+json (RFC 9457); domain rules map to 404/409/422 here."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.application import AlreadyExists, ConcurrencyConflict, Forbidden, NotFound
from ledger.domain import DomainError, InvalidValueError
from ledger.domain.errors import AggregateMismatchError, SelfApprovalError

log = logging.getLogger(__name__)
TYPE_BASE = "https://ledger.example/problems/"


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str, type_: str = "about:blank",
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.type = status, title, detail, type_
        self.headers = headers or {}
        self.extra = extra


def problem_response(status: int, title: str, detail: str, type_: str = "about:blank",
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail} | extra
    return JSONResponse(body, status_code=status, headers=headers,
                        media_type="application/problem+json")


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.type, exc.headers,
                                **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))}
                  for e in exc.errors()]
        return problem_response(422, "Invalid request", "the request is malformed",
                                TYPE_BASE + "validation", errors=errors)

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return problem_response(403, "Forbidden", str(exc), TYPE_BASE + "forbidden")

    @app.exception_handler(SelfApprovalError)
    async def _self_approval(_: Request, exc: SelfApprovalError) -> JSONResponse:
        return problem_response(403, "Forbidden", str(exc), TYPE_BASE + exc.rule)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem_response(404, "Not found", str(exc), TYPE_BASE + "not-found")

    @app.exception_handler(InvalidValueError)
    async def _invalid_value(_: Request, exc: InvalidValueError) -> JSONResponse:
        return problem_response(422, "Invalid value", str(exc), TYPE_BASE + exc.rule,
                                errors=[{"loc": ["body"], "msg": str(exc)}])

    @app.exception_handler(DomainError)
    async def _rule(_: Request, exc: DomainError) -> JSONResponse:
        return problem_response(409, "Rule violated", str(exc), TYPE_BASE + exc.rule)

    @app.exception_handler(AggregateMismatchError)
    async def _mismatch(_: Request, exc: AggregateMismatchError) -> JSONResponse:
        return problem_response(409, "Items do not belong together", str(exc),
                                TYPE_BASE + "aggregate-mismatch")

    @app.exception_handler(AlreadyExists)
    async def _exists(_: Request, exc: AlreadyExists) -> JSONResponse:
        return problem_response(409, "Already exists", f"{exc} already exists",
                                TYPE_BASE + "already-exists")

    @app.exception_handler(ConcurrencyConflict)
    async def _conflict(_: Request, exc: ConcurrencyConflict) -> JSONResponse:
        return problem_response(409, "Concurrent change", str(exc), TYPE_BASE + "conflict")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body FastAPI cannot even decode: malformed input
            return problem_response(422, "Invalid request", str(exc.detail),
                                    TYPE_BASE + "validation",
                                    errors=[{"loc": ["body"], "msg": str(exc.detail)}])
        return problem_response(exc.status_code, str(exc.detail), str(exc.detail),
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return problem_response(503, "Service unavailable", "the database is not reachable",
                                TYPE_BASE + "unavailable", {"Retry-After": "2"})

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return problem_response(500, "Internal error", "an unexpected error occurred")
