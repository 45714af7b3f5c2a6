"""The report as HTML: self-contained (plotly.js inlined once, no external reference, a CSP
that forbids any request), every user-provided string escaped, landmarks and labels."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
from report_frames import HOUR, NOW, labelled, log_frame, reference_frame

from shipyard.lineage.profile import profile
from shipyard.monitoring.drift import summarize
from shipyard.monitoring.report import render_report
from shipyard.monitoring.report.page import CSP, esc, json_for_script, plotly_js
from shipyard.monitoring.window import Reference, compute_window

EVIL = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'


def hostile_window():  # type: ignore[no-untyped-def]
    """A window whose column names, categories, group names and target are all markup."""
    frame = labelled(log_frame(80, seed=1, shift=8.0), share=1.0, seed=2)
    frame = frame.rename(columns={"in.plan": f"in.{EVIL}"})
    frame.loc[frame.index[::3], f"in.{EVIL}"] = EVIL
    frame["attribute.segment"] = np.where(frame["status"] == 200, np.resize(["a", EVIL], len(frame)), None)
    frame["outcome.revenue"] = 1.0
    ref = reference_frame().rename(columns={"plan": EVIL})
    refs = {("fraud", 1): Reference("fraud", 1, profile(ref), summary=summarize(ref))}
    return compute_window(frame, target=f"fraud{EVIL}", since=NOW - 24 * HOUR, until=NOW, references=refs)


def test_escaping_helpers() -> None:
    assert esc('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"
    text = json_for_script({"k": "</script><!-- & -->"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"k": "</script><!-- & -->"}


def test_no_user_string_reaches_the_page_unescaped() -> None:
    html = render_report(hostile_window())
    assert EVIL not in html
    assert "<img" not in html
    # The only <script> elements: plotly.js, the JSON blocks, and the drawing script.
    scripts = re.findall(r"<script[^>]*>", html)
    assert all(s == "<script>" or s.startswith('<script type="application/json" data-plot=') for s in scripts)
    assert html.count("<script>") == 2
    # Every JSON block parses back to the original strings.
    blocks = re.findall(r'<script type="application/json" data-plot="[^"]+">(.*?)</script>', html, flags=re.S)
    assert blocks and all(json.loads(b) for b in blocks)


def test_self_contained() -> None:
    html = render_report(hostile_window())
    assert f'content="{esc(CSP)}"' in html
    assert "default-src &#x27;none&#x27;" in html
    assert html.count("Plotly.newPlot") == 1  # one drawing loop, not one script per plot
    assert len(re.findall(r"plotly\.js v\d", html)) == 1  # the library inlined once
    ours = html.replace(plotly_js(), "")  # the page without the library: no external reference
    assert len(ours) < len(html) / 10
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", ours)
    assert "cdn.plot.ly" not in ours and "<link" not in ours
    for landmark in ("<header>", "<nav ", "<main>", "<footer>", "<h1>", 'lang="en"'):
        assert landmark in html


def test_empty_window_renders_without_plots() -> None:
    empty = compute_window(pd.DataFrame(), target="idle", since=NOW - HOUR, until=NOW)
    html = render_report(empty)
    assert 'class="plot"' not in html
    assert "No requests in this window." in html


class _Balance(HTMLParser):
    """Open and close tags must pair up (void elements aside): a user string that broke out of
    its element would unbalance them."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr", "col", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def test_the_page_is_well_formed() -> None:
    parser = _Balance()
    parser.feed(render_report(hostile_window()))
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
