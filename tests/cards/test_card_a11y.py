"""The HTML card passes axe-core (WCAG 2.0/2.1 A and AA, and axe's best practices) in a real
headless Chromium (Debian's /usr/bin/chromium driven by Playwright, as
``tests/monitor_report`` does): an empty card, and a full one with every section filled,
hostile text, approvals, slices and fairness by group."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from card_support import FULL_NARRATIVE

from shipyard.bootstrap import Services
from shipyard.registry.card_render import render
from shipyard.registry.cards import card_for

sys.path.insert(0, str(Path(__file__).parents[1] / "monitor_report"))
from report_support import CHROMIUM, CHROMIUM_ARGS, chromium_available

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


@pytest.fixture
def backend() -> str:
    return "sqlite"


def axe(path: Path) -> dict[str, Any]:
    """axe-core's results for the page at ``path``, plus the page's landmarks and headings."""
    if not chromium_available():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package 'chromium')")
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.resolve().as_uri(), wait_until="load")
            results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
            outline = page.evaluate(
                "() => ({landmarks: ['header', 'main', 'footer'].map(t => document.querySelectorAll(t).length),"
                " headings: Array.from(document.querySelectorAll('h1,h2,h3')).map(h => h.tagName),"
                " lang: document.documentElement.lang, title: document.title})"
            )
        finally:
            browser.close()
    return {"axe": results, "outline": outline, "requests": requests}


def _check(found: dict[str, Any]) -> None:
    results = found["axe"]
    assert results.violations_count == 0, results.generate_report()
    assert len(results.response["passes"]) >= 10  # axe really ran its rules
    outline = found["outline"]
    assert outline["landmarks"] == [1, 1, 1]
    assert outline["headings"][0] == "H1" and outline["headings"].count("H1") == 1
    assert outline["lang"] == "en" and outline["title"].startswith("Model card: ")
    assert all(url.startswith("file://") for url in found["requests"])  # self-contained


def test_an_empty_card_passes_axe(svc: Services, tmp_path: Path) -> None:
    page = tmp_path / "empty.html"
    page.write_text(render(card_for(svc.store, "clf", 1), "html"), encoding="utf-8")
    _check(axe(page))


def test_a_full_card_passes_axe(svc: Services, tmp_path: Path) -> None:
    svc.store.set_tier("clf", "high", actor="admin")
    svc.store.cards.edit(
        "clf",
        1,
        {
            **FULL_NARRATIVE,
            "owners": "Risk team <risk@example.com>",
            "training_data": "Applications 2024.\nLabels: repaid within 12 months.",
            "evaluation": "Held-out 20%.",
            "slices": "Per sex, see below.",
            "risks": '<script>alert("x")</script> and a very long word ' + "x" * 300,
        },
    )
    svc.store.cards.record_fairness(
        "clf",
        1,
        {
            "data": "ref.csv",
            "rows": 200,
            "label": "label",
            "sensitive": ["sex"],
            "report": {
                "demographic_parity_difference": 0.04,
                "demographic_parity_ratio": 0.9,
                "equalized_odds_difference": 0.02,
                "equalized_odds_ratio": None,
                "groups": [
                    {
                        "group": "F",
                        "count": 90,
                        "selection_rate": 0.5,
                        "accuracy": 0.9,
                        "true_positive_rate": 0.8,
                        "false_positive_rate": 0.1,
                    },
                    {
                        "group": ["M", "x"],
                        "count": 110,
                        "selection_rate": 0.45,
                        "accuracy": 0.91,
                        "true_positive_rate": 0.82,
                        "false_positive_rate": 0.12,
                    },
                ],
            },
        },
    )
    request = svc.store.approvals.request("clf", 1, comment="please", actor="alice")
    svc.store.approvals.approve(int(request["id"]), comment="ok", actor="bob")
    page = tmp_path / "full.html"
    page.write_text(render(card_for(svc.store, "clf", 1), "html"), encoding="utf-8")
    found = axe(page)
    _check(found)
    assert found["outline"]["headings"].count("H3") >= 4  # inputs, outputs, profile, slices, by group
