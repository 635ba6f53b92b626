"""The console's sign-in, session and CSRF, its languages and what each role may open, over
plain HTTP (no browser): the same rules as the API, answered as pages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from ledger.access import Role
from ledger.container import Container
from tests.e2e.console.world import World, build
from tests.support.auth import make_key
from tests.support.stack import Roles, territory_code

pytestmark = pytest.mark.e2e
REFERENCE = re.compile(r"""\b(?:src|href|action)\s*=\s*["']([^"']+)["']""")


@pytest.fixture(scope="module")
def world(http: httpx.Client, container: Container, roles: Roles) -> World:
    return build(http, container, roles)


@pytest.fixture
def browser_like(roles: Roles) -> Iterator[httpx.Client]:
    """A client that keeps cookies and does not follow redirects, like a careful browser."""
    with httpx.Client(base_url=roles.base_url, timeout=30) as client:
        yield client


def sign_in(client: httpx.Client, token: str, next_: str = "") -> httpx.Response:
    form = client.get("/console/sign-in")
    assert form.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    return client.post("/console/sign-in", data={"token": token, "csrf_token": csrf.group(1),
                                                 "next": next_})


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_sign_in_sets_a_safe_session_cookie_and_never_the_key(browser_like: httpx.Client,
                                                              world: World) -> None:
    answer = sign_in(browser_like, world.operator_token)
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/")
    home = browser_like.get("/console/")  # one territory: straight to its board
    assert (home.status_code, home.headers["location"]) == (303, f"/console/t/{world.code}/board")
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("ledger_console="))
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "samesite", "path"} <= attributes and "secure" not in attributes  # plain HTTP
    assert "samesite=lax" in cookie.lower() and "path=/console" in cookie.lower()
    assert world.operator_token not in cookie
    board = browser_like.get(home.headers["location"])
    assert board.status_code == 200 and "Bacheca" in board.text
    assert board.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in board.headers["content-security-policy"]


def test_a_wrong_key_a_missing_token_or_a_foreign_next_are_refused(browser_like: httpx.Client,
                                                                   world: World) -> None:
    wrong = sign_in(browser_like, "lk_" + "x" * 43)
    assert wrong.status_code == 401 and "sconosciuta, revocata o non valida" in wrong.text
    browser_like.cookies.clear()
    stale = browser_like.post("/console/sign-in", data={"token": world.operator_token,
                                                        "csrf_token": "forged"})
    assert stale.status_code == 403
    elsewhere = sign_in(browser_like, world.operator_token, "https://example.org/steal")
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/console/"


def test_forms_need_the_sessions_csrf_token_and_the_same_origin(browser_like: httpx.Client,
                                                                world: World) -> None:
    sign_in(browser_like, world.operator_token)
    board = browser_like.get(f"/console/t/{world.code}/board")
    token = csrf_of(board.text)
    approve = f"/console/t/{world.code}/matches/{world.proposal['id']}/reject"
    assert browser_like.post(approve, data={}).status_code == 403
    assert browser_like.post(approve, data={"csrf_token": "x" * 43}).status_code == 403
    other_site = browser_like.post(approve, data={"csrf_token": token},
                                   headers={"Origin": "https://example.org"})
    assert other_site.status_code == 403 and "Il modulo è scaduto" in other_site.text
    # Nothing was rejected by any of them.
    queue = browser_like.get(f"/console/t/{world.code}/board")
    assert world.proposal["id"] in queue.text


def test_a_revoked_key_ends_its_sessions(browser_like: httpx.Client, container: Container,
                                         world: World) -> None:
    token = make_key(container.api_keys, Role.MUNICIPALITY, [world.code], name="temporary")
    sign_in(browser_like, token)
    assert browser_like.get(f"/console/t/{world.code}/board").status_code == 200
    key = container.api_keys.authenticate(token)
    assert key is not None
    container.api_keys.revoke(key.id)
    gone = browser_like.get(f"/console/t/{world.code}/board")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/console/sign-in")


def test_sign_out_ends_the_session(browser_like: httpx.Client, world: World) -> None:
    sign_in(browser_like, world.operator_token)
    board = browser_like.get(f"/console/t/{world.code}/board")
    out = browser_like.post("/console/sign-out", data={"csrf_token": csrf_of(board.text)})
    assert out.status_code == 303
    assert browser_like.get(f"/console/t/{world.code}/board").status_code == 303


def test_italian_by_default_english_by_request_or_browser(browser_like: httpx.Client,
                                                          world: World) -> None:
    sign_in(browser_like, world.operator_token)
    board = f"/console/t/{world.code}/board"
    assert '<html lang="it">' in browser_like.get(board).text
    english = browser_like.get(board, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.text and "Approval queue" in english.text
    chosen = browser_like.get(board + "?lang=en")
    assert "ledger_console_lang=en" in chosen.headers["set-cookie"]
    assert '<html lang="en">' in browser_like.get(board).text  # the choice is remembered
    assert '<html lang="it">' in browser_like.get(board + "?lang=it").text


def test_roles_see_only_their_pages_and_buttons(roles: Roles, container: Container,
                                                world: World) -> None:
    t = world.code
    with httpx.Client(base_url=roles.base_url, timeout=30) as ets:
        sign_in(ets, world.ets_token)
        board = ets.get(f"/console/t/{t}/board")
        assert board.status_code == 200
        assert "/approve" not in board.text  # an ETS never approves
        assert "Rosa Verdi" in board.text  # its own case, by name
        assert "Giulia Neri" not in board.text  # not its case: no name
        assert ets.get(f"/console/t/{t}/reports/overview").status_code == 403
    with httpx.Client(base_url=roles.base_url, timeout=30) as company:
        sign_in(company, world.company_token)
        assert company.get(f"/console/t/{t}/board").status_code == 403
        other = company.get(f"/console/t/{t}/reports/csr/{world.ids['auser']}")
        assert other.status_code == 404
        assert company.get("/console/t/000001/reports/overview").status_code == 404
    auditor = make_key(container.api_keys, Role.AUDITOR, [t], name="Revisore")
    with httpx.Client(base_url=roles.base_url, timeout=30) as reader:
        sign_in(reader, auditor)
        board = reader.get(f"/console/t/{t}/board")
        assert board.status_code == 200 and "/matches\"" not in board.text
        assert "Giulia Neri" not in board.text  # no personal data for auditors
        assert reader.get(f"/console/t/{t}/audit").status_code == 200


def test_pages_and_their_assets_come_from_the_app_only(browser_like: httpx.Client,
                                                       world: World) -> None:
    sign_in(browser_like, world.operator_token)
    origin = urlsplit(str(browser_like.base_url)).netloc
    for path in (f"/console/t/{world.code}/board", f"/console/t/{world.code}/reports/overview"):
        page = browser_like.get(path)
        assert page.status_code == 200
        for reference in REFERENCE.findall(page.text):
            target = urlsplit(urljoin(str(browser_like.base_url.join(path)), reference))
            assert target.netloc == origin, reference
            if target.path.startswith("/static/"):
                asset = browser_like.get(target.path)
                assert asset.status_code == 200, target.path


def test_an_admin_chooses_among_every_territory(browser_like: httpx.Client, admin_token: str,
                                                http: httpx.Client, world: World) -> None:
    other = territory_code()
    assert http.post("/v1/territories", json={"code": other, "name": "Comune di Crema"}
                     ).status_code == 201
    assert browser_like.get("/console").headers["location"].endswith("/console/")
    sign_in(browser_like, admin_token)
    deadline = time.monotonic() + 10
    while other not in (home := browser_like.get("/console/")).text and time.monotonic() < deadline:
        time.sleep(0.2)  # until the projections know the new territory
    assert home.status_code == 200 and "Territori" in home.text
    assert f"/console/t/{world.code}/board" in home.text and "Comune di Voghera" in home.text
    assert f"/console/t/{other}/board" in home.text
