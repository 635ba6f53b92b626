"""`/docs` (Swagger UI) and `/redoc` (ReDoc) served with the app's own copies of their assets,
so the API documentation works offline and the browser contacts no other host.

The assets are vendored under `api/static/vendor/` (see VERSIONS.md there) and served at
`/static`. These routes, like `/openapi.json`, need no credentials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api import models

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/static"
VENDOR_URL = f"{STATIC_URL}/vendor"
SWAGGER_JS_URL = f"{VENDOR_URL}/swagger-ui-dist/swagger-ui-bundle.js"
SWAGGER_CSS_URL = f"{VENDOR_URL}/swagger-ui-dist/swagger-ui.css"
FAVICON_URL = f"{VENDOR_URL}/swagger-ui-dist/favicon-32x32.png"
REDOC_JS_URL = f"{VENDOR_URL}/redoc/redoc.standalone.js"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"

# Belt and braces: should a future bundle reach for a remote image or font, the browser
# refuses it. Scripts, styles and fetches are left alone (Swagger UI's inline set-up script,
# ReDoc's styled-components and an OAuth2 token endpoint elsewhere must keep working).
CONTENT_SECURITY_POLICY = "img-src 'self' data:; font-src 'self' data:"

# `validatorUrl: null` turns off Swagger UI's badge, which otherwise sends the spec URL to
# validator.swagger.io whenever the API is not on localhost.
SWAGGER_UI_PARAMETERS: dict[str, Any] = {"validatorUrl": None}


def _guarded(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def install(app: FastAPI) -> None:
    """Mount `/static` and add `/docs`, its OAuth2 redirect and `/redoc` to an app created
    with `docs_url=None, redoc_url=None`. Every URL in the pages is on the app's own origin,
    under the ASGI `root_path` when the app is mounted below a prefix.

    Also completes the OpenAPI document these pages render (`api.models.install`): the
    `ProblemDetails` schema that `problem_responses` refers to, and the automatic 422
    documented as application/problem+json."""
    models.install(app)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS_URL}/oauth2-redirect"

    def prefix(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def openapi_url(request: Request) -> str:
        return prefix(request) + (app.openapi_url or "/openapi.json")

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        return _guarded(get_swagger_ui_html(
            openapi_url=openapi_url(request), title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + oauth2_redirect_url, init_oauth=app.swagger_ui_init_oauth,
            swagger_js_url=root + SWAGGER_JS_URL, swagger_css_url=root + SWAGGER_CSS_URL,
            swagger_favicon_url=root + FAVICON_URL, swagger_ui_parameters=SWAGGER_UI_PARAMETERS))

    @app.get(oauth2_redirect_url, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = prefix(request)
        return _guarded(get_redoc_html(
            openapi_url=openapi_url(request), title=f"{app.title} - ReDoc",
            redoc_js_url=root + REDOC_JS_URL, redoc_favicon_url=root + FAVICON_URL,
            with_google_fonts=False))
