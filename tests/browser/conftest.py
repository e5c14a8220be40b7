"""Browser fixtures: one headless Debian Chromium per test session, driven by Playwright (never downloaded).

Only the tests in this folder import Playwright, so the rest of the suite collects without it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-extensions"]


@pytest.fixture(scope="session")
def browser() -> Browser:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else None, headless=True, args=FLAGS)
        yield b
        b.close()


class Offline:
    """A page that may load only ``file://`` files it is given and ``blob:``/``data:`` URLs it makes itself.

    Every other request is aborted and recorded; console errors and uncaught exceptions are recorded too.
    ``check()`` fails the test if any were.
    """

    def __init__(self, browser: Browser, width: int = 1400, height: int = 900) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.allowed: set[str] = set()
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", self._seen)

    def _route(self, route) -> None:
        if route.request.url in self.allowed:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def _seen(self, request) -> None:
        url = request.url
        if url not in self.allowed and not url.startswith(("blob:", "data:")) and url not in self.blocked:
            self.blocked.append(url)

    def open(self, path: Path, ready: str | None = ".tgbn-x[data-ready='1']") -> Page:
        """Open ``path`` from disk and wait until every explorer on it has laid its graph out."""
        url = path.resolve().as_uri()
        self.allowed.add(url)
        self.page.goto(url)
        if ready:
            self.page.wait_for_selector(ready, timeout=30_000)
            self.page.wait_for_function("[...document.querySelectorAll('.tgbn-x')].every(e => e.dataset.ready === '1')")
        return self.page

    def check(self) -> None:
        assert not self.blocked, f"requests left the page: {self.blocked}"
        assert not self.errors, f"console errors: {self.errors}"


@pytest.fixture
def offline(browser: Browser):
    """An :class:`Offline` page; the test fails if a request left it or the console logged an error."""
    o = Offline(browser)
    yield o
    o.context.close()
    o.check()


@pytest.fixture(scope="module")
def offline_module(browser: Browser):
    """An :class:`Offline` page shared by a module's tests (one page load for several checks)."""
    o = Offline(browser)
    yield o
    o.context.close()
    o.check()
