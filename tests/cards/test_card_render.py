"""The card generated from the registry (``registry/cards.py``) and its three renderings
(``registry/card_render.py``): what each section holds, escaping, the HTML's structure."""

from __future__ import annotations

import itertools
import json
import re
from html.parser import HTMLParser

import pytest
from card_support import FULL_NARRATIVE, HIGH_FIELDS

from shipyard.bootstrap import Services
from shipyard.errors import InvalidRequest
from shipyard.registry.card_render import render
from shipyard.registry.cards import card_for, profile_summary, split_metrics


@pytest.fixture
def backend() -> str:
    """Rendering does not depend on the backend: SQLite only here."""
    return "sqlite"


HOSTILE = '<script>alert("x")</script> | <img src=x onerror=alert(1)> & **bold**'


def test_the_card_is_generated_from_the_registry(svc: Services) -> None:
    card = card_for(svc.store, "clf", 1)
    assert (card["model"], card["version"], card["ref"], card["tier"], card["revision"]) == (
        "clf",
        1,
        "clf/1",
        "minimal",
        0,
    )
    assert card["owners"] == {"owner": "team-risk", "text": None}
    assert card["details"]["created_by"] == "alice" and card["details"]["flavor"] == "sklearn"
    assert [f["name"] for f in card["details"]["signature"]["inputs"]] == ["a", "b", "c"]
    assert card["training_data"]["fingerprint"]["rows"] == 200
    profile = card["training_data"]["profile"]
    assert profile["rows"] == 200 and [c["name"] for c in profile["columns"]][:3] == ["a", "b", "c"]
    assert {"min", "max", "mean", "std"} <= set(profile["columns"][0])
    assert card["evaluation"]["metrics"] == {"accuracy": 0.93}
    assert card["evaluation"]["slices"] == {"accuracy": {"sex=F": 0.91}}
    assert card["lineage"]["environment"]["python"]
    assert card["fairness"] is None and card["approvals"] == []
    assert card["status"] == {"complete": True, "required": [], "missing": []}


def test_a_high_tier_card_lists_what_is_missing(svc: Services) -> None:
    svc.store.set_tier("clf", "high", actor="admin")
    card = card_for(svc.store, "clf", 1)
    assert card["tier"] == "high"
    assert card["status"]["required"] == [*HIGH_FIELDS, "fairness"]
    assert card["status"]["missing"] == ["intended_use", "out_of_scope_use", "limitations", "risks", "fairness"]
    assert any("model card" in m for m in card["governance_missing"])
    svc.store.cards.edit("clf", 1, FULL_NARRATIVE)
    svc.store.cards.record_fairness("clf", 1, {"report": {"groups": []}})
    card = card_for(svc.store, "clf", 1)
    assert card["status"]["complete"] is True and card["status"]["missing"] == []
    assert not any("model card" in m for m in card["governance_missing"])


def test_an_earlier_revision_can_be_shown(svc: Services) -> None:
    svc.store.cards.edit("clf", 1, {"risks": "first"})
    svc.store.cards.edit("clf", 1, {"risks": "second"})
    assert card_for(svc.store, "clf", 1, revision=1)["narrative"] == {"risks": "first"}
    assert card_for(svc.store, "clf", 1)["narrative"] == {"risks": "second"}


def test_markdown_escapes_markup_and_table_pipes(svc: Services) -> None:
    svc.store.cards.edit("clf", 1, {"risks": HOSTILE})
    svc.store.update_model("clf", owner="a|b <i>")
    text = render(card_for(svc.store, "clf", 1), "md")
    assert "<script>" not in text and "<img" not in text and "<i>" not in text
    assert "&lt;script&gt;" in text
    assert "# Model card: clf/1" in text and "## Risks" in text and "### Slices" in text
    assert "| accuracy | sex=F | 0.91 |" in text
    assert "Registry owner: a|b &lt;i&gt;" in text


def test_markdown_table_cells_escape_pipes_and_newlines(svc: Services) -> None:
    svc.store.set_version_tag("clf", 1, "note", "a|b\nc")
    text = render(card_for(svc.store, "clf", 1), "md")
    row = next(line for line in text.splitlines() if line.startswith("| Tags |"))
    assert row == "| Tags | note=a\\|b c |"


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Structure:
    parser = _Structure()
    parser.feed(html)
    return parser


def test_html_is_escaped_and_structured(svc: Services) -> None:
    svc.store.cards.edit("clf", 1, {**FULL_NARRATIVE, "risks": HOSTILE})
    svc.store.cards.record_fairness(
        "clf", 1, {"rows": 5, "report": {"demographic_parity_difference": 0.1, "groups": [{"group": "F", "count": 3}]}}
    )
    html = render(card_for(svc.store, "clf", 1), "html")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    parsed = _parse(html)
    tags = [t for t, _ in parsed.tags]
    assert tags.count("main") == 1 and tags.count("header") == 1 and tags.count("footer") == 1
    assert ("html", {"lang": "en"}) in parsed.tags
    assert "img" not in tags and "script" not in tags
    headings = [int(t[1]) for t in tags if re.fullmatch(r"h[1-6]", t)]
    assert headings[0] == 1 and headings.count(1) == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(headings))
    assert all(attrs.get("scope") in ("col", "row") for tag, attrs in parsed.tags if tag == "th")
    assert tags.count("caption") == tags.count("table")
    assert "Fairness figures by group" in "".join(parsed.text)


def test_json_is_the_card(svc: Services) -> None:
    card = card_for(svc.store, "clf", 1)
    assert json.loads(render(card, "json")) == card
    with pytest.raises(InvalidRequest, match="unknown card format"):
        render(card, "pdf")


def test_metrics_and_profiles_of_odd_shapes() -> None:
    overall, slices = split_metrics({"acc": 0.9, "acc[g=a]": 0.8, "acc[g=b]": float("nan"), "f1[x]": 1.0, "odd[": 2.0})
    assert overall == {"acc": 0.9, "odd[": 2.0}
    assert slices == {"acc": {"g=a": 0.8, "g=b": None}, "f1": {"x": 1.0}}
    assert profile_summary(None) is None and profile_summary({}) is None
    summary = profile_summary(
        {
            "rows": 3,
            "columns": {
                "c": {"type": "categorical", "top": {"x": 2, "y": 1}},
                "z": "junk",
                "b": {"type": "boolean", "true_rate": 0.5},
            },
        }
    )
    assert summary is not None
    assert summary["columns"][0]["top"] == [["x", 2], ["y", 1]]
    assert [c["name"] for c in summary["columns"]] == ["c", "b"]
