"""Debian's Chromium driven by Playwright (never a downloaded browser), for the
HTML report: a page that records what it asked the network for, what it logged
and what it threw."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, Route

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
READY_MS = 30_000
"""How long a report may take to draw its timeline (an observable effect: the
page sets ``data-timeline`` on its body to ``ready`` or ``failed``)."""


@dataclass
class Opened:
    """A report opened in a page: what it requested, logged and threw."""

    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def off_page(self) -> list[str]:
        """Requests for anything but the report file itself."""
        return [url for url in self.requests if not url.startswith("file://")]

    def problems(self) -> list[str]:
        """Errors and warnings the page logged or threw."""
        logged = [m for m in self.console if m.startswith(("error", "warning"))]
        return logged + self.errors


def open_report(browser: Browser, path: Path, width: int = 1400) -> Opened:
    """``path`` in a new page, once its timeline is drawn (or failed); a request
    for anything off the machine is refused and recorded."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    opened = Opened(context, page)

    def refuse(route: Route) -> None:
        route.abort()

    context.route("http*://**/*", refuse)
    context.route("ws*://**/*", refuse)
    page.on("request", lambda request: opened.requests.append(request.url))
    page.on("console", lambda message: opened.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_function("document.body.dataset.timeline !== 'pending'", timeout=READY_MS)
    return opened
