"""What every console page shares: who is signed in, in which language, the CSRF check,
rendering with the security headers, and turning errors into readable pages.

The console is served by the API's own app under `/console/`, outside the `/v1` bearer
guards: a page knows its principal from the session cookie (api/console/sessions.py). Every
decision about what a principal may see or press is `ledger.access.decide`, and every write
goes through the write service, exactly as the API's.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Coroutine
from functools import cache
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel

from api.console import errors, labels
from api.console.i18n import Formats, choose, translations
from api.console.sessions import Session, Sessions
from api.deps import get_container
from api.problems import TYPE_BASE, Problem
from api.writes import Outcome, Writes
from ledger import access, commands
from ledger.access import Action, Principal, Role
from ledger.application import Claim, NotFound
from ledger.container import Container
from ledger.domain.territory import ISTAT_CODE
from ledger.idempotency import IdempotencyStore

BASE = "/console"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SESSION_COOKIE = "ledger_console"
SIGN_IN_COOKIE = "ledger_console_signin"  # double-submit CSRF token of the sign-in form
LANG_COOKIE = "ledger_console_lang"
VENDOR = "/static/vendor"
ASSETS = {"bootstrap_italia": f"{VENDOR}/bootstrap-italia-2.18.3",
          "htmx": f"{VENDOR}/htmx.org-2.0.11/htmx.min.js", "console": "/static/console"}
# Nothing but the app's own origin; no inline script; images and fonts may be data: URLs
# (Bootstrap Italia's CSS draws its form controls with them).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
                           "object-src 'none'")


R = TypeVar("R", bound=Response)


class SignInRequired(Exception):
    """No session, or one that ended: the page asks to sign in."""


@cache
def environment(lang: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, extensions=["jinja2.ext.i18n"],
                      trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["sentence"] = labels.sentence
    return env


def sessions(request: Request) -> Sessions:
    found: Sessions | None = getattr(request.app.state, "console_sessions", None)
    if found is None:
        container = get_container(request)
        found = request.app.state.console_sessions = Sessions(container.db, container.api_keys)
    return found


class Console:
    """One request to the console: its language, its session and what it may show."""

    def __init__(self, request: Request, container: Container, with_session: bool = True) -> None:
        self.request, self.container = request, container
        self.lang = choose(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                           request.headers.get("accept-language"))
        self.fmt = Formats(self.lang)
        self.session: Session | None = None
        token = request.cookies.get(SESSION_COOKIE) if with_session else None
        if token:
            self.session = sessions(request).find(token)
            if self.session is not None and not self._still_valid(self.session.principal):
                self.session = None
        self.territory_name: str | None = None

    def _still_valid(self, p: Principal) -> bool:
        settings = self.container.settings
        return p.auth != "dev_token" or bool(settings.dev_admin_token and not settings.is_production)

    # -- who -----------------------------------------------------------------------------------
    @property
    def principal(self) -> Principal:
        if self.session is None:
            raise SignInRequired()
        return self.session.principal

    @property
    def signed_in(self) -> bool:
        return self.session is not None

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""

    def may(self, action: Action, t: str, record: access.Item | None = None) -> bool:
        return access.decide(self.principal, action, t, record) is access.ALLOW

    def territory(self, t: str) -> dict[str, Any]:
        """The territory of the path, or 404 when it is none of the principal's business."""
        if not ISTAT_CODE.fullmatch(t) or not self.principal.sees(t):
            raise NotFound("territory", t)
        row = self.container.reads.territory(t)
        if row is None:
            raise NotFound("territory", t)
        self.territory_name = row["name"]
        return dict(row)

    def nav(self, t: str) -> list[tuple[str, str, str]]:
        """(key, label, url) of the pages this principal may open in the territory; a company's
        pages are its own (its actor, its deliveries, its CSR report)."""
        p, _ = self.principal, self.gettext
        own = (p.actor_id,) if p.role is Role.COMPANY and p.actor_id else ()
        pages = [
            ("board", _("Board"), "/board", Action.READ, access.Item("request")),
            ("deliveries", _("Deliveries"), "/deliveries", Action.READ,
             access.item("fulfilment", companies=own)),
            ("actors", _("Our organisation"), f"/actors/{p.actor_id}", Action.READ,
             access.item("actor", companies=own)) if own else
            ("actors", _("Actors"), "/actors", Action.READ, access.Item("actor")),
            ("overview", _("Overview"), "/reports/overview", Action.READ_REPORT,
             access.Item("overview")),
            ("csr", _("CSR report") if own else _("CSR reports"),
             f"/reports/csr/{p.actor_id}" if own else "/reports/csr", Action.READ_REPORT,
             access.item("csr", companies=own)),
            ("audit", _("Audit"), "/audit", Action.READ_AUDIT, None),
        ]
        return [(key, label, self.url(f"/t/{t}{path}")) for key, label, path, action, record
                in pages if self.may(action, t, record)]

    # -- words ---------------------------------------------------------------------------------
    def gettext(self, message: str, **variables: Any) -> str:
        text = translations(self.lang).gettext(message)
        return text % variables if variables else text

    def label(self, vocabulary: str, value: str | None) -> str:
        found = labels.label(vocabulary, value)
        return "" if found is None else translations(self.lang).gettext(found)

    # -- answers -------------------------------------------------------------------------------
    def url(self, path: str, **query: Any) -> str:
        root = str(self.request.scope.get("root_path", "")).rstrip("/")
        pairs = {k: v for k, v in query.items() if v is not None and v != ""}
        return f"{root}{BASE}{path}" + (f"?{urlencode(pairs, doseq=True)}" if pairs else "")

    def static(self, path: str) -> str:
        return str(self.request.scope.get("root_path", "")).rstrip("/") + path

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = environment(self.lang).get_template(template).render(
            c=self, assets=ASSETS, **context)
        response = HTMLResponse(page, status_code=status)
        return self.secure(response)

    def secure(self, response: R) -> R:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        asked = self.request.query_params.get("lang")
        if asked in ("it", "en"):
            response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, path=BASE,
                                httponly=True, samesite="lax", secure=self.tls)
        return response

    @property
    def tls(self) -> bool:
        return self.request.url.scheme == "https" or self.container.settings.is_production

    def redirect(self, url: str) -> Response:
        return self.secure(RedirectResponse(url, status_code=303))

    def lang_url(self, lang: str) -> str:
        query = dict(self.request.query_params) | {"lang": lang}
        query.pop("min_position", None)
        query.pop("done", None)
        return f"{self.request.url.path}?{urlencode(query)}"

    # -- writes --------------------------------------------------------------------------------
    def write(self, body: BaseModel | None, command: commands.Command, form_key: str | None) -> int:
        """Runs a command through the write service as the signed-in principal, once per form
        (the form's key is an idempotency key: a double submission records nothing twice).
        Returns the ledger position to wait for."""
        c, p = self.container, self.principal

        def run(new_id: uuid.UUID, claim: Claim | None) -> Outcome:
            written = c.app.handle(command, p, new_id, claim)
            return Outcome({"id": str(written.id)}, written.position)

        def recover(resource_id: uuid.UUID, position: int) -> Outcome:
            return Outcome({"id": str(resource_id)}, position)
        route = f"console {self.request.method} {self.request.url.path}"
        key = form_key if form_key and len(form_key) <= 100 else None
        answer = Writes(IdempotencyStore(c.db), c.keys, key, p).run(route, body, run, recover)
        return int(answer.headers["Ledger-Position"])

    def act(self, run: Callable[[], int], done_url: str, done: str,
            again: Callable[[str, int], Response]) -> Response:
        """Do a write; then show the page with `done` (a message key), or the same page again
        with what went wrong and the status the API would have answered."""
        try:
            position = run()
        except errors.KNOWN as exc:
            status, message = errors.describe(exc, self.gettext)
            return again(message, status)
        separator = "&" if "?" in done_url else "?"
        return self.redirect(f"{done_url}{separator}{urlencode({'done': done, 'min_position': position})}")


def console(request: Request) -> Console:
    return Console(request, get_container(request))


ConsoleDep = Annotated[Console, Depends(console)]


def signed_in(c: ConsoleDep) -> Console:
    if not c.signed_in:
        raise SignInRequired()
    return c


SignedIn = Annotated[Console, Depends(signed_in)]


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


async def checked(request: Request, c: SignedIn) -> Console:
    """A form post of the signed-in principal: same origin, and the session's CSRF token in
    the form (`csrf_token`) or, from htmx, in the `X-CSRF-Token` header."""
    form = await request.form()
    sent = str(form.get("csrf_token") or request.headers.get("x-csrf-token") or "")
    if not same_origin(request) or not secrets.compare_digest(sent.encode(), c.csrf.encode()):
        raise Problem(403, "Forbidden", "the form's CSRF token is missing or wrong",
                      TYPE_BASE + "csrf")
    return c


Checked = Annotated[Console, Depends(checked)]


def error_page(request: Request, exc: BaseException) -> Response:
    try:
        c = console(request)
    except errors.KNOWN:  # the database itself is down: no session to show
        c = Console(request, get_container(request), with_session=False)
    status, message = errors.describe(exc, c.gettext)
    if isinstance(exc, Problem) and exc.type.endswith("/csrf"):
        message = c.gettext("The form has expired: reload the page and send it again.")
    return c.render("console/error.html", status=status, message=message)


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    where = f"{BASE}/sign-in?{urlencode({'next': target})}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": where})
    return RedirectResponse(where, status_code=303)


class ConsoleRoute(APIRoute):
    """Console routes answer pages, never problem+json: errors become readable pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return sign_in_redirect(request)
            except errors.KNOWN as exc:
                return error_page(request, exc)
        return guarded
