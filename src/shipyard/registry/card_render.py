"""A model card (``registry/cards.build_card``) as Markdown, HTML or JSON.

The HTML is one self-contained, accessible page (checked with axe-core in headless Chromium,
``tests/cards/test_card_a11y.py``): ``lang``, a ``<title>``, ``<header>``, ``<main>`` and
``<footer>`` landmarks, headings in order (one ``h1``, ``h2`` per section, ``h3`` below),
tables with captions and ``scope`` on every header cell, no images, text contrast above
WCAG AA. Jinja2 escapes every value (autoescape), so narrative text cannot inject markup.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, StrictUndefined

from shipyard.errors import InvalidRequest
from shipyard.registry.card_fields import NARRATIVE_FIELDS

FORMATS = ("md", "html", "json")
MEDIA_TYPES = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8", "json": "application/json"}

_TITLES = {
    "summary": "Summary",
    "intended_use": "Intended use",
    "out_of_scope_use": "Out-of-scope use",
    "users": "Intended users",
    "owners": "Owners",
    "training_data": "Training data",
    "evaluation": "Evaluation",
    "slices": "Slices",
    "limitations": "Limitations",
    "risks": "Risks",
    "mitigations": "Mitigations",
    "ethical_considerations": "Ethical considerations",
    "caveats": "Caveats and recommendations",
    "fairness": "Fairness",
    "profile": "Reference profile",
}
# Narrative fields with a section of their own; the others appear inside generated sections.
_PROSE = tuple(f for f in NARRATIVE_FIELDS if f not in {"owners", "training_data", "evaluation", "slices"})


def _prose_names(card: Mapping[str, Any]) -> list[str]:
    """Narrative fields shown as sections of their own, then the policy's own fields."""
    return [*_PROSE, *(k for k in card["narrative"] if k not in NARRATIVE_FIELDS)]


def title_of(name: str) -> str:
    return _TITLES.get(name, name.replace("_", " ").capitalize())


def render(card: Mapping[str, Any], fmt: str) -> str:
    """``card`` as text in ``fmt`` (``md``, ``html`` or ``json``)."""
    if fmt == "json":
        return json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return markdown(card)
    if fmt == "html":
        return html(card)
    raise InvalidRequest(f"unknown card format {fmt!r}"[:120], hint=f"one of {', '.join(FORMATS)}")


def fmt_value(value: Any) -> str:
    """A number or value as a card shows it (4 significant digits for floats)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# -- Markdown -------------------------------------------------------------------------------


def _escape(text: str) -> str:
    """No raw HTML from a card's text reaches a Markdown viewer."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(value: Any) -> str:
    text = _escape(fmt_value(value))
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _md_table(head: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _md_text(text: str | None) -> list[str]:
    return [_escape(text.strip()), ""] if text and text.strip() else ["_Not written yet._", ""]


def markdown(card: Mapping[str, Any]) -> str:
    status = card["status"]
    details = card["details"]
    out = [f"# Model card: {card['ref']}", ""]
    state = "complete" if status["complete"] else "incomplete: missing " + ", ".join(status["missing"])
    out += [
        f"Risk tier **{card['tier']}** · card revision {card['revision']} · {state}",
        "",
        "## Model details",
        "",
    ]
    facts = _details(card)
    out += _md_table(["Fact", "Value"], [[k, v] for k, v in facts])
    if details["signature"]["inputs"]:
        out += ["### Inputs", ""]
        out += _md_table(["Name", "Type", "Shape"], _fields(details["signature"]["inputs"]))
    if details["signature"]["outputs"]:
        out += ["### Outputs", ""]
        out += _md_table(["Name", "Type", "Shape"], _fields(details["signature"]["outputs"]))
    out += ["## Owners", "", f"Registry owner: {_escape(fmt_value(card['owners']['owner']))}", ""]
    if card["owners"]["text"]:
        out += _md_text(card["owners"]["text"])
    for name in _prose_names(card):
        out += [f"## {title_of(name)}", "", *_md_text(card["narrative"].get(name))]
    training = card["training_data"]
    out += ["## Training data", "", *_md_text(training["text"])]
    if training["fingerprint"]:
        fp = training["fingerprint"]
        out += [f"Fingerprint: sha256 `{fp['sha256']}`, {fp['rows']} rows, {len(fp['columns'])} columns.", ""]
    if training["profile"]:
        out += ["### Reference profile", ""]
        out += _md_table(["Column", "Type", "Missing", "Summary"], _profile_rows(training["profile"]))
    evaluation = card["evaluation"]
    out += ["## Evaluation", "", *_md_text(evaluation["text"])]
    if evaluation["metrics"]:
        out += _md_table(["Metric", "Value"], [[k, v] for k, v in evaluation["metrics"].items()])
    if evaluation["slices"] or evaluation["slices_text"]:
        out += ["### Slices", ""]
        if evaluation["slices_text"]:
            out += _md_text(evaluation["slices_text"])
        out += _md_table(["Metric", "Slice", "Value"], _slice_rows(evaluation["slices"]))
    out += ["## Fairness", ""]
    out += _md_fairness(card["fairness"])
    out += ["## Approvals", ""]
    approvals = _approval_rows(card["approvals"])
    out += _md_table(["Request", "Status", "Requested by", "Votes"], approvals) if approvals else ["None.", ""]
    out += ["## Lineage", ""]
    out += _md_table(["Fact", "Value"], _lineage_rows(card["lineage"]))
    out += [f"_Generated {card['generated_at']} by Shipyard._", ""]
    return "\n".join(out)


def _md_fairness(fairness: Mapping[str, Any] | None) -> list[str]:
    if not fairness:
        return ["_No fairness figures recorded._", ""]
    out = _md_table(["Figure", "Value"], _fairness_summary(fairness))
    groups = _fairness_groups(fairness)
    if groups:
        out += ["### By group", ""]
        out += _md_table(["Group", "Count", "Selection rate", "Accuracy", "TPR", "FPR"], groups)
    return out


# -- shared rows ----------------------------------------------------------------------------


def _details(card: Mapping[str, Any]) -> list[tuple[str, Any]]:
    d = card["details"]
    return [
        ("Model", card["model"]),
        ("Version", card["version"]),
        ("Risk tier", card["tier"]),
        ("Description", d["description"] or d["model_description"] or None),
        ("Flavor", d["flavor"]),
        ("Registered by", d["created_by"]),
        ("Registered at", d["created_at"]),
        ("Artifact", f"sha256 {d['artifact']['sha256']} ({d['artifact']['size']} bytes)"),
        ("Lifecycle", d["lifecycle"]),
        ("Aliases", ", ".join(d["aliases"]) or None),
        ("Tags", ", ".join(f"{k}={v}" for k, v in sorted(d["tags"].items())) or None),
    ]


def _fields(fields: list[Mapping[str, Any]]) -> list[list[Any]]:
    return [[f.get("name"), f.get("dtype"), "x".join(str(s) for s in f.get("shape", []))] for f in fields]


def _profile_rows(profile: Mapping[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for col in profile["columns"]:
        if col["type"] == "numeric":
            summary = f"min {fmt_value(col['min'])}, mean {fmt_value(col['mean'])}, max {fmt_value(col['max'])}"
        elif col["type"] == "categorical":
            summary = ", ".join(f"{k} ({n})" for k, n in col.get("top", []))
        elif col["type"] == "boolean":
            summary = f"true rate {fmt_value(col.get('true_rate'))}"
        else:
            summary = ""
        rows.append([col["name"], col["type"], fmt_value(col["missing_rate"]), summary])
    return rows


def _slice_rows(slices: Mapping[str, Mapping[str, Any]]) -> list[list[Any]]:
    return [[metric, name, value] for metric, by in slices.items() for name, value in by.items()]


def _approval_rows(approvals: list[Mapping[str, Any]]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for a in approvals:
        votes = a.get("votes") or []
        shown = ", ".join(f"{v.get('actor')}: {v.get('decision', v.get('vote'))}" for v in votes if isinstance(v, dict))
        rows.append([a.get("id"), a.get("status"), a.get("requested_by"), shown or None])
    return rows


def _lineage_rows(lineage: Mapping[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [
        ["Parent version", lineage["parent_version"]],
        ["Code version", lineage["code_version"]],
    ]
    rows += [[f"Environment: {k}", v] for k, v in sorted(lineage["environment"].items())]
    rows += [
        [f"Parameter: {k}", json.dumps(v) if isinstance(v, (dict, list)) else v] for k, v in lineage["params"].items()
    ]
    drift = lineage["drift_reference"]
    rows.append(["Drift reference", f"sha256 {drift['sha256']}" if drift else None])
    return rows


_FAIRNESS_FIGURES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
)


def _fairness_summary(fairness: Mapping[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for key in ("data", "label", "sensitive", "pos_label", "rows", "computed_by", "computed_at"):
        if key in fairness:
            value = fairness[key]
            rows.append([key.replace("_", " "), ", ".join(map(str, value)) if isinstance(value, list) else value])
    report = fairness.get("report")
    source = report if isinstance(report, Mapping) else fairness
    rows += [[name.replace("_", " "), source.get(name)] for name in _FAIRNESS_FIGURES if name in source]
    return rows


def _fairness_groups(fairness: Mapping[str, Any]) -> list[list[Any]]:
    report = fairness.get("report")
    source = report if isinstance(report, Mapping) else fairness
    groups = source.get("groups")
    if not isinstance(groups, list):
        return []
    rows: list[list[Any]] = []
    for g in groups:
        if isinstance(g, Mapping):
            group = g.get("group")
            shown = " & ".join(map(str, group)) if isinstance(group, list) else group
            rows.append(
                [
                    shown,
                    g.get("count"),
                    g.get("selection_rate"),
                    g.get("accuracy"),
                    g.get("true_positive_rate"),
                    g.get("false_positive_rate"),
                ]
            )
    return rows


# -- HTML -----------------------------------------------------------------------------------

_ENV = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["v"] = fmt_value

_TEMPLATE = _ENV.from_string(
    """{% macro table(caption, head, rows, row_headers=False) %}
<table>
<caption>{{ caption }}</caption>
<thead><tr>{% for h in head %}<th scope="col">{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}<tr>{% for c in row %}{% if loop.first and row_headers %}<th scope="row">{{ c | v }}</th>\
{% else %}<td>{{ c | v }}</td>{% endif %}{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
{% endmacro %}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Model card: {{ card.ref }}</title>
<style>
body { font-family: system-ui, sans-serif; color: #1a1a1a; background: #ffffff; margin: 0 auto;
       max-width: 60rem; padding: 1rem 1.5rem; line-height: 1.5; }
header { border-bottom: 2px solid #1a1a1a; margin-bottom: 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
th, td { border: 1px solid #595959; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.prose { white-space: pre-wrap; }
.missing { color: #8a1c1c; background: #fdecea; padding: 0.1rem 0.35rem; }
.complete { color: #1e5e2b; background: #e7f4ea; padding: 0.1rem 0.35rem; }
.empty { color: #4a4a4a; font-style: italic; }
code { word-break: break-all; }
footer { border-top: 1px solid #595959; margin-top: 2rem; color: #4a4a4a; }
</style>
</head>
<body>
<header>
<h1>Model card: {{ card.ref }}</h1>
<p>Risk tier <strong>{{ card.tier }}</strong> · card revision {{ card.revision }} ·
{% if card.status.complete %}<span class="complete">complete</span>
{% else %}<span class="missing">incomplete: missing {{ card.status.missing | join(", ") }}</span>{% endif %}</p>
</header>
<main>
<section aria-labelledby="details">
<h2 id="details">Model details</h2>
<table>
<caption>Facts the registry holds about {{ card.ref }}</caption>
<tbody>
{% for name, value in details %}<tr><th scope="row">{{ name }}</th><td>{{ value | v }}</td></tr>
{% endfor %}
</tbody>
</table>
{% for title, rows in signature %}
<h3>{{ title }}</h3>
<table>
<caption>{{ title }} of the signature</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Shape</th></tr></thead>
<tbody>
{% for row in rows %}<tr>{% for c in row %}<td>{{ c | v }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
{% endfor %}
</section>
<section aria-labelledby="owners">
<h2 id="owners">Owners</h2>
<p>Registry owner: {{ card.owners.owner | v }}</p>
{% if card.owners.text %}<p class="prose">{{ card.owners.text }}</p>{% endif %}
</section>
{% for name, title, text in prose %}
<section aria-labelledby="{{ name }}">
<h2 id="{{ name }}">{{ title }}</h2>
{% if text %}<p class="prose">{{ text }}</p>{% else %}<p class="empty">Not written yet.</p>{% endif %}
</section>
{% endfor %}
<section aria-labelledby="training-data">
<h2 id="training-data">Training data</h2>
{% if card.training_data.text %}<p class="prose">{{ card.training_data.text }}</p>{% endif %}
{% if card.training_data.fingerprint %}
<p>Fingerprint: sha256 <code>{{ card.training_data.fingerprint.sha256 }}</code>,
{{ card.training_data.fingerprint.rows }} rows, {{ card.training_data.fingerprint.columns | length }} columns.</p>
{% endif %}
{% if not card.training_data.text and not card.training_data.fingerprint %}<p class="empty">Not known.</p>{% endif %}
{% if profile_rows %}
<h3>Reference profile</h3>
{{ table("Reference profile of the training data", ["Column", "Type", "Missing rate", "Summary"], profile_rows) }}
{% endif %}
</section>
<section aria-labelledby="evaluation">
<h2 id="evaluation">Evaluation</h2>
{% if card.evaluation.text %}<p class="prose">{{ card.evaluation.text }}</p>{% endif %}
{% if metric_rows %}
{{ table("Evaluation metrics", ["Metric", "Value"], metric_rows) }}
{% elif not card.evaluation.text %}<p class="empty">No evaluation recorded.</p>{% endif %}
{% if slice_rows or card.evaluation.slices_text %}
<h3>Slices</h3>
{% if card.evaluation.slices_text %}<p class="prose">{{ card.evaluation.slices_text }}</p>{% endif %}
{% if slice_rows %}{{ table("Metrics by slice", ["Metric", "Slice", "Value"], slice_rows) }}{% endif %}
{% endif %}
</section>
<section aria-labelledby="fairness">
<h2 id="fairness">Fairness</h2>
{% if fairness_rows %}
{{ table("Fairness figures", ["Figure", "Value"], fairness_rows) }}
{% if group_rows %}
<h3>By group</h3>
{{ table("Fairness figures by group", ["Group", "Count", "Selection rate", "Accuracy", "TPR", "FPR"], group_rows) }}
{% endif %}
{% else %}<p class="empty">No fairness figures recorded.</p>{% endif %}
</section>
<section aria-labelledby="approvals">
<h2 id="approvals">Approvals</h2>
{% if approval_rows %}
{{ table("Approval requests and votes", ["Request", "Status", "Requested by", "Votes"], approval_rows) }}
{% else %}<p>None.</p>{% endif %}
</section>
<section aria-labelledby="lineage">
<h2 id="lineage">Lineage</h2>
{{ table("Where this version came from", ["Fact", "Value"], lineage_rows, row_headers=True) }}
</section>
</main>
<footer><p>Generated {{ card.generated_at }} by Shipyard.</p></footer>
</body>
</html>
"""
)


def html(card: Mapping[str, Any]) -> str:
    evaluation = card["evaluation"]
    signature = card["details"]["signature"]
    parts = [("Inputs", _fields(signature["inputs"])), ("Outputs", _fields(signature["outputs"]))]
    profile = card["training_data"]["profile"]
    fairness = card["fairness"]
    return _TEMPLATE.render(
        card=card,
        details=_details(card),
        signature=[(title, rows) for title, rows in parts if rows],
        prose=[(name, title_of(name), card["narrative"].get(name)) for name in _prose_names(card)],
        profile_rows=_profile_rows(profile) if profile else [],
        metric_rows=[[k, v] for k, v in evaluation["metrics"].items()],
        slice_rows=_slice_rows(evaluation["slices"]),
        fairness_rows=_fairness_summary(fairness) if fairness else [],
        group_rows=_fairness_groups(fairness) if fairness else [],
        approval_rows=_approval_rows(card["approvals"]),
        lineage_rows=_lineage_rows(card["lineage"]),
    )
