"""How ``shipyard models show NAME/V`` shows a version's governance: tier, approvals and what
is missing, card status, review rules, PII fields, aliases and deployments
(``registry/governance_view.version_governance``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shipyard.cli.output import table


def governance_renderables(view: Mapping[str, Any]) -> list[RenderableType]:
    gate = view["gate"]
    card = view["card"]
    facts: list[tuple[str, str | Text]] = [
        ("tier", f"{view['tier']}" + ("" if view.get("tier_set") else " (policy default)")),
        ("gate", _gate_line(gate)),
        ("approvals", _approvals_line(gate)),
        ("card", _card_line(card)),
        ("review", _review_line(view["review"])),
        ("pii", ", ".join(f"{k}: {v}" for k, v in sorted(view["pii"].items())) or "-"),
        ("retention", f"{view['retention_days']} days" if view.get("retention_days") else "-"),
        ("aliases", ", ".join(view["aliases"]) or "-"),
        ("latest", "yes (the bare name serves it)" if view["latest"] else "no"),
    ]
    out: list[RenderableType] = [
        Panel(_facts(facts), title=f"[bold]governance of {view['ref']}[/bold]", title_align="left", expand=False)
    ]
    if gate["missing"]:
        out.append(table("still missing", ["for " + gate["purpose"]], [[m] for m in gate["missing"]]))
    deployments: Sequence[Mapping[str, Any]] = view["deployments"]
    if deployments:
        rows = [
            [d["deployment"], str(d.get("revision", "")), d["variant"], d["role"], d["traffic"], d.get("state", "")]
            for d in deployments
        ]
        out.append(table("deployments", ["deployment", "rev", "variant", "role", "traffic", "state"], rows))
    return out


def _gate_line(gate: Mapping[str, Any]) -> Text:
    if gate["allowed"]:
        return Text(f"may take {_purpose(gate['purpose'])}", style="green")
    return Text(f"may not take {_purpose(gate['purpose'])} yet ({len(gate['missing'])} missing)", style="yellow")


def _purpose(purpose: str) -> str:
    kind, _, name = purpose.partition(":")
    return f"alias {name}" if kind == "alias" else f"traffic in deployment {name}"


def _approvals_line(gate: Mapping[str, Any]) -> str:
    needed = gate["required"].get("approvals", 0)
    approvers = gate.get("approvers") or []
    requests = gate.get("approvals") or []
    counts: dict[str, int] = {}
    for r in requests:
        counts[str(r.get("status"))] = counts.get(str(r.get("status")), 0) + 1
    line = f"{len(approvers)} of {needed} counted" if needed else "none required"
    if approvers:
        line += f" ({', '.join(approvers)})"
    if not requests:
        return f"{line}; no request yet"
    return f"{line}; requests: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _card_line(card: Mapping[str, Any]) -> Text:
    revision = f"revision {card['revision']}" if card["revision"] else "no narrative yet"
    if card["complete"]:
        return Text(f"complete ({revision})", style="green")
    return Text(f"missing {', '.join(card['missing'])} ({revision})", style="yellow")


def _review_line(review: Mapping[str, Any]) -> str:
    parts = []
    for target, rules in review.items():
        if not rules:
            continue
        kinds = [_rule(r) for r in rules.get("rules", [])]
        parts.append(f"{target}: {', '.join(kinds)} (timeout {rules.get('timeout_seconds', '?'):g}s)")
    return "; ".join(parts) or "no review rules"


def _rule(rule: Mapping[str, Any]) -> str:
    kind = rule.get("kind")
    if kind == "low_confidence":
        return f"top probability below {rule.get('below')}"
    if kind == "classes":
        return "classes " + ", ".join(str(c) for c in rule.get("classes", []))
    if kind == "sample":
        return f"sample {rule.get('rate')}"
    return str(kind)


def _facts(items: Sequence[tuple[str, str | Text]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in items:
        grid.add_row(key, value)
    return grid
