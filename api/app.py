"""The HTTP API: thin routes over the write service and the read model."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from api import problems
from api.deps import check_territory, check_token
from api.routes import health, reads, writes
from ledger.container import Container


def create_app(container: Container) -> FastAPI:
    app = FastAPI(title="Generative welfare contribution ledger", version="1",
                  description="Contributions, requests, matches and fulfilments of a territory's "
                              "generative welfare programme, as an event-sourced ledger.")
    app.state.container = container
    problems.install(app)
    app.include_router(health.router)
    guards = [Depends(check_token), Depends(check_territory)]
    app.include_router(writes.router, dependencies=guards)
    app.include_router(reads.router, dependencies=guards)
    return app
