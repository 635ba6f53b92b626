"""HTTP metrics name requests by their route template, remembered per path (api/metrics.py)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from api.metrics import RouteNamedMetrics, instrument


def _count(handler: str, status: str) -> float:
    value = REGISTRY.get_sample_value("http_requests_total",
                                      {"handler": handler, "method": "GET", "status": status})
    return value or 0.0


def _layer(app: FastAPI) -> RouteNamedMetrics:
    layer = app.middleware_stack
    while layer is not None and not isinstance(layer, RouteNamedMetrics):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, RouteNamedMetrics)
    return layer


def test_requests_are_counted_by_template_and_the_template_is_remembered() -> None:
    app = FastAPI()

    @app.get("/route-named-test/{item}")
    def item(item: str) -> dict[str, str]:
        return {"item": item}

    instrument(app)
    client = TestClient(app)
    templated = "/route-named-test/{item}"
    before, missing_before = _count(templated, "2xx"), _count("none", "4xx")
    for name in ("a", "b", "a", "a"):
        assert client.get(f"/route-named-test/{name}").status_code == 200
    assert client.get("/route-named-missing").status_code == 404
    assert _count(templated, "2xx") == before + 4
    assert _count("none", "4xx") == missing_before + 1  # untemplated paths grouped, as before
    names = _layer(app)._names  # noqa: SLF001 - what it remembered
    assert names[("GET", "/route-named-test/a", "")] == (templated, True)
    assert names[("GET", "/route-named-test/b", "")] == (templated, True)
    assert names[("GET", "/route-named-missing", "")] == ("/route-named-missing", False)
