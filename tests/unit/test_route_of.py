"""route_of reads the method and path as Starlette's URL would, without building the URL."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from api.writes import route_of


@pytest.mark.parametrize("path", [
    "/v1/territories/013098/contributions", "/v1/territories/x?y/matches", "/a#b", "/a\\b",
    "/v1/territories/%20/offers", "/città/é", "/"])
@pytest.mark.parametrize("host", [b"ledger.example.it", b"127.0.0.1:8000", b"[::1]:8000", None])
def test_route_of_is_the_method_and_the_url_path(path: str, host: bytes | None) -> None:
    headers = [(b"host", host)] if host is not None else []
    request = Request({"type": "http", "method": "POST", "path": path, "root_path": "",
                       "query_string": b"a=1", "headers": headers, "scheme": "http",
                       "server": ("127.0.0.1", 8000)})
    assert route_of(request) == f"POST {request.url.path}"
