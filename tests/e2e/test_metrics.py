"""/metrics exposes the event-store head and the relay and projection lags for Prometheus."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.stack import territory_code


def _samples(http: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = http.get("/metrics")
    assert answer.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def test_metrics_report_head_and_lags(http: httpx.Client) -> None:
    created = http.post("/v1/territories", json={"code": territory_code(), "name": "Mantova"})
    position = created.json()["position"]
    deadline = time.monotonic() + 30
    while True:
        samples = _samples(http)
        lags = [samples.get(("ledger_projection_lag_records", (("projection", name),)))
                for name in ("items", "history", "audit")]
        # The gauges are refreshed in the background (absent until the first refresh): wait
        # for a refresh that saw the write.
        if (samples.get(("ledger_event_store_head", ()), -1) >= position
                and samples.get(("ledger_relay_lag_events", ())) == 0 and lags == [0, 0, 0]):
            break
        assert time.monotonic() < deadline, samples
        time.sleep(0.2)
    assert samples[("ledger_event_store_head", ())] >= position
    assert samples[("ledger_relay_position", ())] >= position


def test_metrics_count_http_requests_by_route_and_status(http: httpx.Client) -> None:
    code = territory_code()
    assert http.post("/v1/territories", json={"code": code, "name": "Lodi"}).status_code == 201
    assert http.get(f"/v1/territories/{code}/actors/not-a-uuid").status_code == 422
    samples = _samples(http)
    counted = {labels: value for (name, labels), value in samples.items()
               if name == "http_requests_total"}
    handlers = {dict(labels).get("handler") for labels in counted}
    assert "/v1/territories" in handlers
    assert "/v1/territories/{t}/actors/{actor_id}" in handlers  # route templates, not paths
    assert any(dict(labels).get("status") == "4xx" for labels in counted)
    timed = {dict(labels).get("handler"): dict(labels) for (name, labels), _ in samples.items()
             if name == "http_request_duration_seconds_count"}
    assert timed["/v1/territories"]["status"] == "2xx"
    assert timed["/v1/territories"]["method"] == "POST"
