"""Debian's Chromium driven by Playwright (never a downloaded browser), for the
HTML report: a page that records what it asked the network for, what it logged
and what it threw."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Playwright is imported by the tests that drive a browser, not by all
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


_SCENE = """(only) => {
  const wanted = (value, allowed) => !allowed || allowed.includes(value);
  const view = window.chaoskitTimeline;
  const canvas = view.container().querySelector("canvas").getBoundingClientRect();
  const pad = view.padding();  // drawn inside the padding, beyond the origin
  const [ox, oy] = [view.origin()[0] + (pad.left || 0), view.origin()[1] + (pad.top || 0)];
  const out = [];
  const plain = (datum) => {
    if (!datum || typeof datum !== "object") return null;
    const kept = {};
    for (const [key, value] of Object.entries(datum)) {
      const simple = value === null || ["string", "number", "boolean"].includes(typeof value);
      if (simple) kept[key] = value;
    }
    return kept;
  };
  const walk = (mark, x, y, view) => {
    for (const [index, item] of (mark.items || []).entries()) {
      if (only.onePerMark && index > 0 && mark.marktype !== "group") break;
      if (mark.marktype === "group") {
        const name = mark.name && mark.name.endsWith("_group") ? mark.name : view;
        const [gx, gy] = [x + (item.x || 0), y + (item.y || 0)];
        for (const child of item.items || []) walk(child, gx, gy, name);
        continue;
      }
      if (!wanted(view, only.views) || !wanted(mark.marktype, only.marktypes)) continue;
      if (!wanted(mark.role, only.roles)) continue;
      const b = item.bounds;
      out.push({
        view, marktype: mark.marktype, role: mark.role,
        text: item.text == null ? null : String(item.text),
        datum: plain(item.datum),
        x1: canvas.left + ox + x + b.x1, x2: canvas.left + ox + x + b.x2,
        y1: canvas.top + oy + y + b.y1, y2: canvas.top + oy + y + b.y2,
        origin: canvas.left + ox + x,
      });
    }
  };
  walk(view.scenegraph().root, 0, 0, null);
  return out;
}"""


def scene(
    page: Page,
    views: list[str] | None = None,
    marktypes: list[str] | None = None,
    roles: list[str] | None = None,
    one_per_mark: bool = False,
) -> list[dict[str, Any]]:
    """The drawn items of the timeline (Vega's scenegraph, on a canvas), those
    of the given views, mark types and roles only when given: each with its view
    (``view0_group``, ...), mark type and role, text, datum (its plain fields)
    and bounds in page pixels; ``origin`` is the page x of its view's plot area
    (where the x scale's 0 px is). ``one_per_mark``: the first item of each
    mark only (a line is one mark per series, an item per point)."""
    only = {"views": views, "marktypes": marktypes, "roles": roles, "onePerMark": one_per_mark}
    items: list[dict[str, Any]] = page.evaluate(_SCENE, only)
    return items


def point_at(page: Page, item: dict[str, Any]) -> tuple[float, float]:
    """The centre of a drawn item (from :func:`scene`), the page scrolled first
    so that it is in the middle of the viewport: the mouse can only reach what
    is on screen."""
    x, y = (item["x1"] + item["x2"]) / 2, (item["y1"] + item["y2"]) / 2
    moved: float = page.evaluate(
        "y => { const before = window.scrollY; window.scrollBy(0, y - innerHeight / 2); "
        "return window.scrollY - before; }",
        y,
    )
    return x, y - moved
