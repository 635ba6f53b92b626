"""The HTTP API: thin routes over the write service and the read model."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from api import console, docs, metrics, problems
from api.deps import authenticate, check_territory
from api.fastpath import FastWrites
from api.routes import auth, health, proofs, reads, reports, writes
from ledger.container import Container
from ledger.oidc import OidcVerifier
from ledger.status import MetricsRefresher


def create_app(container: Container, *, refresh_metrics: bool = True,
               close_container: bool = False, fast_writes: bool = True) -> FastAPI:
    """`close_container`: the app owns the container and closes it on shutdown (a worker
    process of api/serve.py). `fast_writes=False` leaves every write to FastAPI (the tests
    compare both)."""
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        refresher = MetricsRefresher(container) if refresh_metrics else None
        if refresher:
            refresher.start()
        container.api_keys.start_cache()  # live keys in memory, dropped when revoked anywhere
        # What exists once the application is up (modules, routes, models, pools) lives as
        # long as the process: out of the cyclic collector's sight, so that its full passes
        # look at what requests made, not at everything (they stopped a worker for 100-260 ms
        # under load, every request of the process waiting).
        gc.collect()
        gc.freeze()
        yield
        container.api_keys.stop_cache()
        if refresher:
            refresher.stop()
        if close_container:
            container.close()

    app = FastAPI(title="Generative welfare contribution ledger", version="1", lifespan=lifespan,
                  description="Contributions, requests, matches and fulfilments of a territory's "
                              "generative welfare programme, as an event-sourced ledger.",
                  docs_url=None, redoc_url=None,
                  # No OpenTelemetry here (metrics are Prometheus', on /metrics): FastAPI's
                  # own telemetry off, rather than asking on every request whether an OTel
                  # provider was configured (about 2% of a write's CPU).
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.container = container
    problems.install(app)
    docs.install(app)
    app.include_router(health.router)
    # The write routes' common case, inside the metrics (api/fastpath.py).
    if fast_writes:
        app.add_middleware(FastWrites, routes=[r for r in writes.router.routes
                                               if isinstance(r, APIRoute)])
    metrics.instrument(app)  # HTTP request counts and latencies, on /metrics
    settings = container.settings
    if settings.oidc_enabled:
        assert settings.oidc_issuer and settings.oidc_audience and settings.oidc_jwks_url
        app.state.oidc = OidcVerifier(
            settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks_url,
            role_claim=settings.oidc_role_claim,
            territories_claim=settings.oidc_territories_claim,
            actor_claim=settings.oidc_actor_claim)
    guards = [Depends(authenticate), Depends(check_territory)]
    app.include_router(auth.router, dependencies=guards)
    app.include_router(writes.router, dependencies=guards)
    app.include_router(reads.router, dependencies=guards)
    app.include_router(proofs.router, dependencies=guards)
    app.include_router(proofs.documents)  # /asyncapi.json: no credentials, like /openapi.json
    app.include_router(reports.router, dependencies=guards)
    console.install(app)  # /console/: pages signed in with a session cookie, not the bearer guards
    return app
