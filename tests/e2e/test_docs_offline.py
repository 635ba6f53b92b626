"""`/docs` and `/redoc` work with no internet: every asset they load is served by the app,
without credentials, and nothing in them reaches for another host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

pytestmark = pytest.mark.e2e

PAGES = ("/docs", "/redoc")
# src=, href=, and the spec URL each UI loads (Swagger UI's `url:`, ReDoc's spec-url=).
REFERENCE = re.compile(r"""(?:\b(?:src|href|spec-url)\s*=\s*|\burl:\s*)["']([^"']+)["']""")
ABSOLUTE = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")
EXPECTED_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",),
                  ".png": ("image/png",), ".json": ("application/json",)}
MIN_BYTES = {".js": 100_000, ".css": 10_000, ".png": 100, ".json": 1_000}
# Hosts that the bundles could contact at run time if not disabled (fonts, logos, validator).
REMOTE_HOSTS = ("fonts.googleapis.com", "fonts.gstatic.com", "cdn.redoc.ly", "cdn.jsdelivr.net",
                "unpkg.com")


@pytest.fixture(scope="module")
def public(http: httpx.Client) -> Iterator[httpx.Client]:
    """The running API, with no credentials: the documentation is public."""
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        yield client


def _references(http: httpx.Client, page: str) -> list[str]:
    answer = http.get(page)
    assert answer.status_code == 200, (page, answer.text[:200])
    assert answer.headers["content-type"].startswith("text/html")
    return REFERENCE.findall(answer.text)


@pytest.mark.parametrize("page", PAGES)
def test_pages_reference_only_the_apps_own_origin(public: httpx.Client, page: str) -> None:
    html = public.get(page).text
    references = _references(public, page)
    assert len(references) >= 2, references
    origin = urlsplit(str(public.base_url))
    for reference in references:
        target = urlsplit(urljoin(str(public.base_url.join(page)), reference))
        assert (target.scheme, target.netloc) == (origin.scheme, origin.netloc), reference
    # Not in attributes only: nothing in the page names another host at all.
    others = [u for u in ABSOLUTE.findall(html) if urlsplit(u if ":" in u else "http:" + u).netloc
              != origin.netloc]
    assert others == [], others


@pytest.mark.parametrize("page", PAGES)
def test_every_asset_is_served_without_credentials(public: httpx.Client, page: str) -> None:
    for reference in _references(public, page):
        path = urlsplit(reference).path
        suffix = path[path.rfind("."):]
        answer = public.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        content_type = answer.headers["content-type"].split(";")[0].strip()
        assert content_type in EXPECTED_TYPES[suffix], (path, content_type)
        assert len(answer.content) >= MIN_BYTES[suffix], (path, len(answer.content))


def test_bundles_fetch_nothing_from_other_hosts(public: httpx.Client) -> None:
    assets = [r for page in PAGES for r in _references(public, page)
              if r.endswith((".js", ".css"))]
    assert any(a.endswith("redoc.standalone.js") for a in assets)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        body = public.get(asset).text
        found = [host for host in REMOTE_HOSTS if host in body]
        assert found == [], (asset, found)
        if asset.endswith(".css"):
            assert "@import" not in body, asset


def test_swagger_ui_does_not_call_the_online_validator(public: httpx.Client) -> None:
    page = public.get("/docs")
    assert '"validatorUrl": null' in page.text
    for url in PAGES:
        policy = public.get(url).headers["content-security-policy"]
        assert "img-src 'self' data:" in policy and "font-src 'self' data:" in policy


def test_oauth2_redirect_page_is_served(public: httpx.Client) -> None:
    answer = public.get("/docs/oauth2-redirect")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
