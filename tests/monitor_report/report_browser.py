"""Open a report in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright) and collect what happened: console messages, page errors, dialogs, every
request the page made, and the data of each plotly plot (``gd.data``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from report_support import CHROMIUM, CHROMIUM_ARGS, chromium_available

PLOTS_JS = """
() => Array.from(document.querySelectorAll('div.plot')).map(gd => ({
  id: gd.id,
  label: gd.getAttribute('aria-label'),
  role: gd.getAttribute('role'),
  drawn: gd.classList.contains('js-plotly-plot') && !!gd.querySelector('svg.main-svg'),
  traces: (gd.data || []).map(t => ({
    type: t.type,
    name: t.name === undefined ? null : String(t.name),
    points: Math.max((t.x || []).length, (t.y || []).length),
    finite: (t.y || []).filter(v => typeof v === 'number' && isFinite(v)).length,
  })),
}))
"""


@dataclass
class Opened:
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    plots: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    landmarks: dict[str, int] = field(default_factory=dict)
    headings: list[str] = field(default_factory=list)
    text: str = ""
    images: int = 0
    scripts: int = 0

    @property
    def console_errors(self) -> list[str]:
        return [text for kind, text in self.console if kind in ("error", "assert")] + self.errors


def require_chromium() -> None:
    if not chromium_available():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package 'chromium'; the set-up installs it)")


def open_report(path: Path, *, timeout_ms: float = 30_000) -> Opened:
    """Load ``path`` (file://) and wait until every plot is drawn."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    seen = Opened()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: seen.console.append((m.type, m.text)))
            page.on("pageerror", lambda e: seen.errors.append(str(e)))
            page.on("request", lambda r: seen.requests.append(r.url))

            def dialog(d: Any) -> None:
                seen.dialogs.append(d.message)
                d.dismiss()

            page.on("dialog", dialog)
            page.goto(path.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('div.plot'))"
                ".every(d => d.classList.contains('js-plotly-plot'))",
                timeout=timeout_ms,
            )
            page.wait_for_timeout(300)  # late errors (resize handlers, fonts) surface here
            seen.plots = page.evaluate(PLOTS_JS)
            seen.title = page.title()
            seen.landmarks = page.evaluate(
                "() => Object.fromEntries(['header','nav','main','footer']"
                ".map(t => [t, document.querySelectorAll(t).length]))"
            )
            seen.headings = page.evaluate(
                "() => Array.from(document.querySelectorAll('h1,h2')).map(h => h.textContent)"
            )
            seen.text = page.evaluate("() => document.body.innerText")
            seen.images = page.evaluate("() => document.querySelectorAll('img').length")
            seen.scripts = page.evaluate("() => document.querySelectorAll('script').length")
        finally:
            browser.close()
    return seen


def assert_clean(opened: Opened, path: Path) -> None:
    """No console error, no page error, no dialog, no request but the file itself."""
    assert opened.console_errors == [], opened.console_errors
    assert opened.dialogs == []
    own = path.resolve().as_uri()
    assert [url for url in opened.requests if url != own and not url.startswith("data:")] == []


def assert_plots_have_data(opened: Opened, *, at_least: int) -> None:
    assert len(opened.plots) >= at_least, [p["id"] for p in opened.plots]
    for plot in opened.plots:
        assert plot["drawn"], plot["id"]
        assert plot["role"] == "img" and plot["label"], plot["id"]
        assert plot["traces"], f"{plot['id']} has no traces"
        assert any(t["points"] > 0 and t["finite"] > 0 for t in plot["traces"]), plot
