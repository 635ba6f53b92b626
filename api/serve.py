"""`ledger api` on several worker processes (LEDGER_HTTP_WORKERS): uvicorn starts each worker
with `worker_app`, which builds the worker's own container (pools, caches) from the same
settings. The HTTP metrics of all workers are collected through prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by `ledger api` before the workers start)."""

from __future__ import annotations

import os
import threading
import time

from fastapi import FastAPI

from api.app import create_app
from ledger.container import Container
from ledger.settings import get_settings


def _exit_with_parent() -> None:
    """A worker whose uvicorn parent is gone (killed) exits: no orphan keeps the port."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def worker_app() -> FastAPI:
    _exit_with_parent()
    settings = get_settings()
    assert settings.database_url and settings.kafka_bootstrap, "set by `ledger api`"
    container = Container.build(settings, settings.database_url, settings.kafka_bootstrap)
    return create_app(container, close_container=True)
