"""Run one part of `make bench` on its own, on a throwaway embedded stack."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.machine import watched
from infra.stack import start_services
from ledger.container import Container
from tests.support.stack import test_settings


def run_alone(part: Callable[[Container, Path], dict[str, Any]]) -> int:
    """part(container, temp dir) on fresh services; prints its result as one JSON line, with
    the share of the machine's CPU time its host took meanwhile (bench/machine.py)."""
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        settings = test_settings(Path(tmp))
        services = start_services(settings)
        try:
            container = Container.build(settings, services.database_url,
                                        services.kafka_bootstrap)
            try:
                with watched() as machine:
                    result = part(container, Path(tmp))
                print(machine.line(), flush=True)
                result |= {"machine_steal_share": round(machine.steal, 4)}
            finally:
                container.close()
        finally:
            services.stop()
    print(json.dumps(result), flush=True)
    return 0
