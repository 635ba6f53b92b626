"""HTTP metrics: prometheus-fastapi-instrumentator, with the route template of a request found
once per method and path.

The instrumentator names each request by its route template (`/v1/territories/{t}/contributions`),
which it finds by matching the path against every route of the application, on every request
(a tenth of a write's CPU). Routes do not change once the application is built, so
`RouteNamedMetrics` remembers the answer for the most recent paths; the metrics are the
instrumentator's own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator, metrics
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware
from starlette.requests import Request

REMEMBERED = 4096  # paths; writes come back to the same few, reads of items to many


class RouteNamedMetrics(PrometheusInstrumentatorMiddleware):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._names: OrderedDict[tuple[str, str, str], tuple[str, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def _get_handler(self, request: Request) -> tuple[str, bool]:
        scope = request.scope
        key = (scope["method"], scope["path"], scope.get("root_path", ""))
        with self._lock:
            found = self._names.get(key)
            if found is not None:
                self._names.move_to_end(key)
                return found
        found = super()._get_handler(request)
        with self._lock:
            self._names[key] = found
            if len(self._names) > REMEMBERED:
                self._names.popitem(last=False)
        return found


def instrument(app: FastAPI) -> None:
    """HTTP request counts and latencies by route template and status, on /metrics."""
    # The two metrics asked for, rather than the instrumentator's default five (its request
    # and response size summaries and a second, finer latency histogram were a third of its
    # cost on every request).
    instrumentator = Instrumentator(excluded_handlers=["/metrics"])
    instrumentator.add(metrics.requests(), metrics.latency())
    instrumentator.instrument(app)
    for middleware in app.user_middleware:
        if middleware.cls is PrometheusInstrumentatorMiddleware:  # type: ignore[comparison-overlap]
            middleware.cls = RouteNamedMetrics
            return
    raise RuntimeError("the instrumentator added no middleware")
