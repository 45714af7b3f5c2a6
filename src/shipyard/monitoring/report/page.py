"""The HTML page of a monitoring report: one self-contained file that opens offline.

- plotly.js is inlined once; every plot's data sits in a ``<script type="application/json">``
  block (``<``, ``>`` and ``&`` escaped as ``\\u003c`` ..., so no value can close the block)
  and is drawn by one small script;
- a Content-Security-Policy forbids every network request (``default-src 'none'``), so a
  report never reaches out, even if a value tried to make it;
- every user-provided string (model, column, category and variant names) is escaped with
  ``html.escape`` where it lands in HTML, and inside plots too (plotly reads a subset of HTML
  in its labels);
- landmarks (``header``, ``nav``, ``main``, ``footer``), headings, and an ``aria-label`` on
  each plot for screen readers.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;background:#fafbfc}
header,main,footer,nav{padding:0 2rem}
header{background:#0d3b66;color:#fff;padding-top:1rem;padding-bottom:1rem}
header h1{margin:0 0 .3rem 0;font-size:1.6rem}
header p{margin:0;opacity:.9}
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1rem}
nav a{color:#0d3b66}
section{margin:1.5rem 0;background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:1rem 1.5rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:right}
th[scope=row],td.text,thead th:first-child{text-align:left}
thead th{background:#f3f4f6}
.plot{width:100%;min-height:340px}
.drift{color:#b42318;font-weight:600}
.note{color:#57606a}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:1rem}
"""

DRAW = """
(function(){
  var blocks=document.querySelectorAll('script[type="application/json"][data-plot]');
  for(var i=0;i<blocks.length;i++){
    var block=blocks[i];
    var target=document.getElementById(block.getAttribute('data-plot'));
    var spec=JSON.parse(block.textContent);
    Plotly.newPlot(target,spec.data,spec.layout,{responsive:true,displaylogo:false,staticPlot:false});
  }
})();
"""


def esc(value: object) -> str:
    """``value`` as text safe anywhere in HTML (element content and quoted attributes)."""
    return html.escape(str(value), quote=True)


def json_for_script(value: Any) -> str:
    """JSON that cannot end its ``<script>`` block or open a comment inside it."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@dataclass(frozen=True)
class Plot:
    """One plot: its id in the page, the text a screen reader reads, plotly data and layout."""

    id: str
    label: str
    data: list[dict[str, Any]]
    layout: dict[str, Any]

    def html(self) -> str:
        spec = json_for_script({"data": self.data, "layout": self.layout})
        return (
            f'<figure><div id="{esc(self.id)}" class="plot" role="img" aria-label="{esc(self.label)}"></div>'
            f'<figcaption class="note">{esc(self.label)}</figcaption></figure>\n'
            f'<script type="application/json" data-plot="{esc(self.id)}">{spec}</script>'
        )


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    body: str
    """HTML, built with ``esc`` for every value."""


def table(caption: str, head: Sequence[str], rows: Iterable[Sequence[object]], *, row_header: bool = True) -> str:
    """An HTML table; every cell is escaped (a cell given as ``Markup`` is trusted HTML)."""
    out = [f"<table><caption>{esc(caption)}</caption><thead><tr>"]
    out.extend(f'<th scope="col">{esc(h)}</th>' for h in head)
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            text = cell.html if isinstance(cell, Markup) else esc(_cell(cell))
            if i == 0 and row_header:
                out.append(f'<th scope="row">{text}</th>')
            else:
                cls = ' class="text"' if isinstance(cell, str) else ""
                out.append(f"<td{cls}>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


@dataclass(frozen=True)
class Markup:
    """Trusted HTML for a table cell (built with ``esc``)."""

    html: str


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def page(title: str, subtitle: str, sections: Sequence[Section], footer: str) -> str:
    """The whole document."""
    nav = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.id)}" aria-labelledby="{esc(s.id)}-h">'
        f'<h2 id="{esc(s.id)}-h">{esc(s.title)}</h2>{s.body}</section>'
        for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)}</title><style>{STYLE}</style>"
        f"<script>{plotly_js()}</script></head>\n"
        f"<body><header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>\n"
        f'<nav aria-label="Report sections"><ul>{nav}</ul></nav>\n'
        f"<main>{body}</main>\n"
        f'<footer><p class="note">{esc(footer)}</p></footer>\n'
        f"<script>{DRAW}</script></body></html>\n"
    )
