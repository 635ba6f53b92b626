"""Signing in and out, and the home page that leads to a territory's pages.

Sign-in takes the same credentials as the API: an API key (`lk_…`), or, when OIDC is
configured, a JWT from the Comune's identity provider; `api.deps.identify` checks it. The
sign-in form itself is protected by a double-submit token (a cookie and a hidden field), every
later form by the session's own CSRF token.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

import jwt
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials

from api.console.web import (
    BASE,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Checked,
    Console,
    ConsoleDep,
    ConsoleRoute,
    SignedIn,
    same_origin,
    sessions,
)
from api.deps import identify
from api.problems import Problem
from ledger.access import Principal, Role

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)
Text = Annotated[str, Form(max_length=8192)]


def _next(target: str | None) -> str | None:
    """Only a console page: never another site (no open redirect)."""
    if target and target.startswith(BASE + "/") and not target.startswith("//"):
        return target
    return None


def _form(c: Console, status: int = 200, error: str | None = None, target: str | None = None
          ) -> Response:
    token = c.request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
    response = c.render("console/sign_in.html", status=status, error=error, form_token=token,
                        next=_next(target) or "", oidc=c.container.settings.oidc_enabled,
                        done=c.request.query_params.get("done"))
    response.set_cookie(SIGN_IN_COOKIE, token, path=BASE, httponly=True, samesite="strict",
                        secure=c.tls)
    return response


@router.get("/sign-in")
def sign_in_page(c: ConsoleDep, next: str | None = None) -> Response:
    if c.signed_in:
        return c.redirect(_next(next) or c.url("/"))
    return _form(c, target=next)


def _expiry(principal: Principal, token: str) -> datetime | None:
    """A session made with a JWT ends when the JWT does (it was verified a moment ago)."""
    if principal.auth != "oidc":
        return None
    claims = jwt.decode(token, options={"verify_signature": False})
    return datetime.fromtimestamp(int(claims["exp"]), UTC)


@router.post("/sign-in")
def sign_in(request: Request, c: ConsoleDep, token: Text, csrf_token: Text,
            next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not same_origin(request) or not secrets.compare_digest(
            csrf_token.encode(), expected.encode()):
        return _form(c, 403, c.gettext("The form has expired: send it again."), next)
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip())
    try:
        principal = identify(request, c.container, credentials)
    except Problem:
        return _form(c, 401, c.gettext("This key is unknown, revoked or not valid."), next)
    cookie = sessions(request).open(principal, _expiry(principal, token.strip()))
    response = c.redirect(_next(next) or c.url("/"))
    response.set_cookie(SESSION_COOKIE, cookie, path=BASE, httponly=True, samesite="lax",
                        secure=c.tls)
    response.delete_cookie(SIGN_IN_COOKIE, path=BASE)
    return response


@router.post("/sign-out")
def sign_out(request: Request, c: Checked) -> Response:
    sessions(request).close(request.cookies.get(SESSION_COOKIE, ""))
    response = c.redirect(c.url("/sign-in", done="signed-out"))
    response.delete_cookie(SESSION_COOKIE, path=BASE, httponly=True, samesite="lax", secure=c.tls)
    return response


def landing(c: Console, t: str) -> str:
    """The first page of a territory for this principal: a company's own CSR report, else
    the board, else the first page its role may open."""
    p = c.principal
    if p.role is Role.COMPANY and p.actor_id:
        return c.url(f"/t/{t}/reports/csr/{p.actor_id}")
    links = c.nav(t)
    return links[0][2] if links else c.url(f"/t/{t}/deliveries")


@router.get("/")
def home(c: SignedIn) -> Response:
    p = c.principal
    codes = None if p.role is Role.ADMIN else sorted(p.territories)
    territories = [dict(r) for r in c.container.reads.territories(codes)]
    if len(territories) == 1:
        return c.redirect(landing(c, territories[0]["code"]))
    return c.render("console/home.html", territories=territories,
                    landings={r["code"]: landing(c, r["code"]) for r in territories})
