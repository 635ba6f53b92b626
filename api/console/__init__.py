"""The web console (CONTRACT.md, "Console"): server-rendered pages at `/console/` for the
Comune's operators, ETS case workers, auditors and companies, signed in with the same keys
as the API and allowed exactly what `ledger/access.py` allows them."""

from __future__ import annotations

from fastapi import FastAPI

from api.console import actors, audit, board, deliveries, reports, signin


def install(app: FastAPI) -> None:
    for module in (signin, board, deliveries, actors, audit, reports):
        app.include_router(module.router)
