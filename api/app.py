"""The HTTP API: thin routes over the write service and the read model."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from api import docs, problems
from api.deps import authenticate, check_territory
from api.routes import auth, health, reads, reports, writes
from ledger.container import Container
from ledger.oidc import OidcVerifier


def create_app(container: Container) -> FastAPI:
    app = FastAPI(title="Generative welfare contribution ledger", version="1",
                  description="Contributions, requests, matches and fulfilments of a territory's "
                              "generative welfare programme, as an event-sourced ledger.",
                  docs_url=None, redoc_url=None)
    app.state.container = container
    problems.install(app)
    docs.install(app)
    app.include_router(health.router)
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
    app.include_router(reports.router, dependencies=guards)
    return app
