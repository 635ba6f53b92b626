"""The console in a real browser: Debian's chromium driven by Playwright (sync API), one
browser for the session, a fresh context per test.

Every page a test visits is checked by axe-core (vendored here, injected by the test: the app
never serves it) for serious or critical WCAG 2.1 A/AA violations, and photographed into one
folder, printed at the end of the run (`LEDGER_CONSOLE_SCREENSHOTS` names another). A request
to any host but the app's, a script error or a Content-Security-Policy refusal fails the test.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.support.stack import Roles

CHROMIUM = os.environ.get("LEDGER_TEST_CHROMIUM", "/usr/bin/chromium")
# What the machine's docs ask for: no sandbox as root, and no background traffic to hosts
# this closed network refuses.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE = (Path(__file__).parent / "axe-core-4.14.1" / "axe.min.js").read_text()
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
CSP_PREFIX = "CSP violation: "
# Whatever the page's Content-Security-Policy refuses, with what and where, as a console error.
CSP_WATCH = "document.addEventListener('securitypolicyviolation', e => console.error(" + repr(
    CSP_PREFIX) + """ + JSON.stringify({directive: e.violatedDirective, blocked: e.blockedURI,
                         source: e.sourceFile, line: e.lineNumber,
                         element: e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 160) : ''})));
"""
_folder: list[Path] = []


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no chromium at {CHROMIUM}: `make test` installs Debian's chromium "
                    "(apt-get install chromium); LEDGER_TEST_CHROMIUM names another")
    with sync_playwright() as playwright:
        # launch() gives each browser a fresh, empty profile (user data dir) of its own.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("LEDGER_CONSOLE_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    _folder.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _folder:
        terminalreporter.write_line(f"console screenshots: {_folder[0]}")


@dataclass
class Visit:
    """A browser tab on the console that checks every page it shows."""

    page: Page
    base_url: str
    folder: Path
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def check(self, name: str) -> None:
        """axe-core on the page as it is now, then its screenshot `name`.png. (No CSSOM
        preload: it would add <style> elements that the console's CSP rightly refuses.)"""
        self.page.wait_for_load_state("load")
        result = self.page.evaluate("""async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                               resultTypes: ['violations'], preload: false});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }""", WCAG)
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert bad == [], f"{name}: accessibility violations\n{json.dumps(bad, indent=1)}"
        self.page.screenshot(path=str(self.folder / f"{name}.png"), full_page=True)

    def done(self) -> None:
        assert self.foreign == [], f"requests to other hosts: {self.foreign}"
        assert self.errors == [], f"errors in the page: {self.errors}"


def open_visit(browser: Browser, roles: Roles, folder: Path,
               lang: str = "it-IT") -> tuple[BrowserContext, Visit]:
    context = browser.new_context(locale=lang, viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    context.add_init_script(script=AXE)
    context.add_init_script(script=CSP_WATCH)  # through the DevTools protocol: no CSP exception needed
    page = context.new_page()
    page.set_default_timeout(15_000)
    visit = Visit(page, roles.base_url, folder)
    origin = urlsplit(roles.base_url).netloc

    def request(req: Any) -> None:
        where = urlsplit(req.url)
        if where.scheme in ("http", "https", "ws", "wss") and where.netloc != origin:
            visit.foreign.append(req.url)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and message.text.startswith(CSP_PREFIX):
            visit.errors.append(f"{page.url}: {message.text}")

    page.on("request", request)
    page.on("console", console)
    page.on("pageerror", lambda error: visit.errors.append(f"{page.url}: {error}"))
    return context, visit


@pytest.fixture
def visit_factory(browser: Browser, roles: Roles, screenshots: Path) -> Iterator[Any]:
    opened: list[tuple[BrowserContext, Visit]] = []

    def make(lang: str = "it-IT") -> Visit:
        opened.append(open_visit(browser, roles, screenshots, lang))
        return opened[-1][1]
    yield make
    for context, visit in opened:
        context.close()
        visit.done()
