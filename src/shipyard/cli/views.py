"""Rich renderings of registry records: the model list, a model's versions, a version's lineage."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shipyard.cli.output import UNSAFE, human_size, short_sha, table, unsafe_mark, when
from shipyard.registry.types import Model, ModelVersion


def _aliases(aliases: Mapping[str, int]) -> str:
    return ", ".join(f"{a}→{v}" for a, v in sorted(aliases.items())) or "-"


def models_table(rows: Sequence[tuple[Model, list[int]]]) -> Table:
    """One row per model; a model with unsafe (pickle) versions says which."""
    body = []
    for model, unsafe in rows:
        flag = Text(f"{UNSAFE} (v{', v'.join(map(str, unsafe))})", style="bold red") if unsafe else Text("")
        body.append(
            [
                Text(model.name, style="bold"),
                str(model.latest_version or "-"),
                _aliases(model.aliases),
                model.owner or "-",
                when(model.updated_at),
                flag,
            ]
        )
    return table(None, ["name", "latest", "aliases", "owner", "updated", "unsafe"], body)


def model_view(model: Model, versions: Sequence[ModelVersion]) -> list[RenderableType]:
    facts = _facts(
        [
            ("owner", model.owner or "-"),
            ("created", when(model.created_at)),
            ("updated", when(model.updated_at)),
            ("aliases", _aliases(model.aliases)),
            ("description", model.description or "-"),
            ("tags", _pairs(model.tags)),
        ]
    )
    rows = [
        [
            str(v.version),
            _state(v),
            v.flavor,
            short_sha(v.artifact.sha256),
            human_size(v.artifact.size),
            ", ".join(v.aliases) or "-",
            v.created_by,
            when(v.created_at),
            _metrics_short(v.lineage.metrics),
            unsafe_mark(v.unsafe_format),
        ]
        for v in versions
    ]
    grid = table(
        "versions", ["version", "state", "flavor", "sha256", "size", "aliases", "by", "created", "metrics", ""], rows
    )
    return [Panel(facts, title=f"[bold]{model.name}[/bold]", title_align="left", expand=False), grid]


def version_view(version: ModelVersion) -> list[RenderableType]:
    """A version's lineage: where its bytes, data, code and environment came from."""
    lineage = version.lineage
    data = lineage.training_data
    facts: list[tuple[str, str | Text]] = [
        ("artifact", f"sha256 {version.artifact.sha256}"),
        ("size", f"{human_size(version.artifact.size)} ({version.artifact.size} bytes), {version.artifact.filename}"),
        ("format", version.flavor),
        ("aliases", ", ".join(version.aliases) or "-"),
        *_lifecycle_facts(version),
        (
            "training data",
            f"sha256 {data.sha256[:16]}…, {data.rows} rows, {len(data.columns)} columns" if data else "-",
        ),
        ("metrics", _pairs(lineage.metrics)),
        ("params", _pairs(lineage.params)),
        ("code version", lineage.code_version or "-"),
        ("environment", _pairs(lineage.environment)),
        ("created by", version.created_by),
        ("created", when(version.created_at)),
        ("parent", str(version.parent_version) if version.parent_version is not None else "-"),
        ("trusted types", ", ".join(version.trusted_types) or "-"),
        ("trust code", "yes" if version.trust_code else "no"),
        ("runtime", runtime_line(version)),
        *_compiled_facts(version),
        ("description", version.description or "-"),
        ("tags", _pairs(version.tags)),
    ]
    if version.unsafe_format:
        facts.insert(0, ("", Text(f"{UNSAFE}: pickle format, loading it runs arbitrary code", style="bold red")))
    sig = version.signature
    inputs = table(
        f"signature: {len(sig.inputs)} inputs ({sig.kind})",
        ["input", "dtype", "nullable"],
        [[f.name, f.dtype, "yes" if f.nullable else ""] for f in sig.inputs],
    )
    outputs = table(
        "outputs", ["output", "dtype", "shape"], [[f.name, f.dtype, str(list(f.shape))] for f in sig.outputs]
    )
    panel = Panel(_facts(facts), title=f"[bold]{version.ref}[/bold]", title_align="left", expand=False)
    return [panel, Group(inputs, outputs)]


def _state(version: ModelVersion) -> Text:
    if version.lifecycle == "active":
        return Text("active")
    label = version.lifecycle + (", archived" if version.archived_at is not None else "")
    return Text(label, style="red" if version.lifecycle == "retired" else "yellow")


def _lifecycle_facts(version: ModelVersion) -> list[tuple[str, str | Text]]:
    facts: list[tuple[str, str | Text]] = [("lifecycle", _state(version))]
    for label, value in (
        ("deprecated", version.deprecated_at),
        ("sunset", version.sunset_at),
        ("retired", version.retired_at),
        ("archived", version.archived_at),
    ):
        if value is not None:
            facts.append((label, value.isoformat(timespec="seconds")))
    if version.successor:
        facts.append(("successor", version.successor))
    if version.lifecycle_reason:
        facts.append(("lifecycle reason", version.lifecycle_reason))
    return facts


def lifecycle_line(version: ModelVersion) -> str:
    """One line for a lifecycle change: ``fraud/3: retired (archived), successor fraud/5``."""
    parts = [f"{version.ref}: {version.lifecycle}"]
    if version.archived_at is not None:
        parts[0] += " (artifacts archived)"
    if version.sunset_at is not None:
        parts.append(f"sunset {version.sunset_at.isoformat(timespec='seconds')}")
    if version.successor:
        parts.append(f"successor {version.successor}")
    return ", ".join(parts)


def runtime_line(version: ModelVersion) -> str:
    """Which runtime serves and why: ``compiled (agrees with the native model on 605 rows)``."""
    from shipyard.compile import runtime_statement

    report = version.compiled.report if version.compiled is not None else None
    return runtime_statement(version.serving_runtime, version.compile_error, report)


def _compiled_facts(version: ModelVersion) -> list[tuple[str, str | Text]]:
    compiled = version.compiled
    facts: list[tuple[str, str | Text]] = []
    if compiled is not None:
        art = compiled.artifact
        facts.append(("compiled", f"sha256 {art.sha256} ({human_size(art.size)}, {compiled.runtime})"))
        facts.append(("agreement", agreement_line(compiled.report)))
        timing = timing_line(compiled.report)
        if timing:
            facts.append(("one-row call", timing))
    if compiled is None and not version.compile_error:
        facts.append(("compiled", "-"))
    return facts


def agreement_line(report: Mapping[str, Any]) -> str:
    """``10000 rows (training data …): labels identical, max |diff| predict_proba 2.2e-16 (abs 1e-06)``."""
    parts = []
    labels = report.get("labels_identical")
    if labels is not None:
        parts.append("labels identical" if labels else "labels DIFFER")
    tolerance = report.get("tolerance") or {}
    for name, diff in (report.get("max_abs_diff") or {}).items():
        bound = tolerance.get(name) or tolerance.get("values", "")
        parts.append(f"max |diff| {name} {diff:.2g} (tolerance {bound})")
    checked = int(report.get("rows_checked") or 0)
    if not checked:
        reason = str(report.get("reason") or "no rows to check the compiled form on")
        return reason if reason.startswith("not checked") else f"not checked: {reason}"
    if report.get("agreed"):
        verdict = f"agrees on {checked} rows"
    else:
        # Reports written before ``disagreed_rows`` existed: the worst output's count.
        disagreed = report.get("disagreed_rows", max((report.get("mismatched_rows") or {}).values(), default=0))
        verdict = f"disagrees on {disagreed} of {checked} rows"
    rows = f"({report.get('data', '?')})"
    precision = f", {report['precision']}" if report.get("precision") else ""
    return f"{verdict} {rows}{precision}: " + ("; ".join(parts) or str(report.get("reason") or "-"))


def timing_line(report: Mapping[str, Any]) -> str | None:
    native, compiled = report.get("native_one_row_us"), report.get("compiled_one_row_us")
    if native is None or compiled is None:
        return None
    return f"native {native:g} µs, compiled {compiled:g} µs"


def compile_lines(version: ModelVersion) -> list[str]:
    """What ``shipyard models compile`` prints: the outcome, its agreement figures, its timings."""
    compiled = version.compiled
    if compiled is None:
        return [f"{version.ref}: {runtime_line(version)}"]
    head = f"{version.ref}: {runtime_line(version)}"
    lines = [head, f"  compiled form: sha256 {short_sha(compiled.artifact.sha256)}"]
    lines.append(f"  {agreement_line(compiled.report)}")
    timing = timing_line(compiled.report)
    if timing:
        lines.append(f"  one-row call: {timing}")
    return lines


def _facts(items: Sequence[tuple[str, str | Text]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in items:
        grid.add_row(key, value)
    return grid


def _pairs(values: Mapping[str, Any]) -> str:
    if not values:
        return "-"
    return ", ".join(f"{k}={_scalar(v)}" for k, v in values.items())


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _metrics_short(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in list(metrics.items())[:3]) or "-"
