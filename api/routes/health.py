"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from pydantic import BaseModel

from api.deps import ContainerDep
from ledger.status import readiness

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "something is down"}})
def readyz(c: ContainerDep) -> JSONResponse:
    checks = readiness(c)
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                        status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={
    200: {"description": "Prometheus text exposition", "content": {CONTENT_TYPE_LATEST: {}}}})
def metrics() -> Response:
    """The ledger's gauges (kept fresh by a background refresher, see api/app.py) and the HTTP
    request counts and latencies by route and status."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several API workers: all of them
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
