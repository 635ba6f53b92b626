"""HTTP metrics name requests by their route template, remembered per path (api/metrics.py)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware
from starlette.requests import Request

from api.metrics import RouteNamedMetrics, instrument


def _layer(app: FastAPI) -> RouteNamedMetrics:
    layer = app.middleware_stack
    while layer is not None and not isinstance(layer, RouteNamedMetrics):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, RouteNamedMetrics), "the instrumentator's middleware was not replaced"
    return layer


def test_the_template_of_each_path_is_the_instrumentators_and_is_remembered() -> None:
    app = FastAPI()

    @app.get("/route-named-test/{item}")
    def item(item: str) -> dict[str, str]:
        return {"item": item}

    instrument(app)
    client = TestClient(app)
    for name in ("a", "b", "a", "a"):
        assert client.get(f"/route-named-test/{name}").status_code == 200
    assert client.get("/route-named-missing").status_code == 404
    layer = _layer(app)
    templated = "/route-named-test/{item}"
    names = layer._names  # noqa: SLF001 - what it remembered
    assert names[("GET", "/route-named-test/a", "")] == (templated, True)
    assert names[("GET", "/route-named-test/b", "")] == (templated, True)
    assert names[("GET", "/route-named-missing", "")] == ("/route-named-missing", False)
    # The same answers as the instrumentator's own lookup, remembered or not.
    for path in ("/route-named-test/a", "/route-named-test/zz", "/route-named-missing"):
        scope = {"type": "http", "method": "GET", "path": path, "root_path": "",
                 "headers": [], "query_string": b"", "app": app}
        request = Request(scope)
        assert layer._get_handler(request) == \
            PrometheusInstrumentatorMiddleware._get_handler(layer, request)  # noqa: SLF001
