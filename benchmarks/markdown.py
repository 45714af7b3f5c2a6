"""`--markdown PATH`: the run as Markdown for docs/performance.md — machine, configurations, tables, targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import memory
from report import CAPTION, COLUMNS, Summary, table_rows
from targets import Check


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _machine(meta: dict[str, Any]) -> list[str]:
    machine = meta["machine"]
    bench = meta["versions"].get("bench", {})
    start = ", ".join(f"{value:.2f}" for value in machine.get("loadavg_at_start", ()))
    end = ", ".join(f"{value:.2f}" for value in machine.get("loadavg_at_end", ()))
    generator = meta.get("load_generator") or {}
    lines = [
        f"- CPU: {machine.get('cpu')}, {machine.get('cores')} cores; memory {machine.get('memory_gib')} GiB",
        f"- Kernel: {machine.get('kernel')}; Python {bench.get('python')}; {machine.get('platform')}",
        f"- Load average (1, 5, 15 min): {start} at the start, {end} at the end",
        f"- Load generator: {generator.get('version', 'none')}, one thread, connections = concurrency, 127.0.0.1",
        *(
            [f"- gRPC load generator: {meta['grpc_load_generator']}, one channel per connection"]
            if meta.get("grpc_load_generator")
            else []
        ),
        f"- Commit {str(machine.get('git_commit'))[:12]}{' (dirty tree)' if machine.get('git_dirty') else ''}, "
        f"{machine.get('time_utc')}",
    ]
    config = meta["config"]
    lines.append(
        f"- {config['duration']:g} s per point after a {config['warmup']:g} s warm-up, {config['repeats']} repeat(s), "
        "servers alternated point by point; medians shown"
    )
    return lines


def _versions(meta: dict[str, Any]) -> list[str]:
    wanted = (
        "shipyard",
        "mlflow",
        "bentoml",
        "mlserver",
        "mlserver-sklearn",
        "uvloop",
        "scikit-learn",
        "numpy",
        "onnxruntime",
        "skl2onnx",
    )
    lines = []
    for venv, versions in meta["versions"].items():
        shown = ", ".join(f"{name} {versions[name]}" for name in wanted if name in versions)
        where = "project venv: in-process and Shipyard" if venv == "bench" else f"benchmarks/.venvs/{venv}"
        lines.append(f"- `{venv}` ({where}): Python {versions.get('python', '?')}; {shown}")
    return lines


def _memory(meta: dict[str, Any], server_titles: dict[str, str]) -> list[str]:
    rows = memory.rows_from_json(meta.get("memory"))
    if not rows:
        return []
    lines = [
        "",
        "## Memory per server process",
        "",
        "| config | process | command | RSS MB | PSS MB |",
        "| --- | --- | --- | --- | --- |",
    ]
    sums = memory.totals(rows)
    for server in dict.fromkeys(row.server for row in rows):
        title = _escape(server_titles.get(server, server))
        for row in (r for r in rows if r.server == server):
            pss = "—" if row.pss_mb is None else f"{row.pss_mb:,.0f}"
            lines.append(
                f"| {title} | {row.label} (pid {row.pid}) | `{_escape(row.command)}` | {row.rss_mb:,.0f} | {pss} |"
            )
        total = sums[server]
        lines.append(
            f"| **{title}** | **total, {total['processes']:.0f} processes** | | **{total['rss_mb']:,.0f}** | **{total['pss_mb']:,.0f}** |"
        )
    return [*lines, "", memory.CAPTION]


def write(path: Path, meta: dict[str, Any], summaries: list[Summary], checks: list[Check]) -> None:
    titles, server_titles = meta["model_titles"], meta["server_titles"]
    lines = ["## Machine", "", *_machine(meta), "", "## Versions", "", *_versions(meta), "", "## Configurations", ""]
    configurations = meta.get("configurations", {})
    for key, title in server_titles.items():
        settings = configurations.get(key, {}).get("settings")
        shown = ", ".join(f"{name}={value}" for name, value in settings.items()) if settings else "its defaults"
        lines.append(f"- `{key}`: {_escape(title)}" + ("" if key.startswith("inprocess") else f" — {_escape(shown)}"))
    for key, reason in meta.get("skipped", {}).items():
        lines.append(f"- `{key}`: skipped ({_escape(reason)})")
    for model, title in titles.items():
        groups = table_rows(summaries, model, list(server_titles))
        if not groups:
            continue
        lines += ["", f"## {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
        for group in groups:
            for cells in group:
                server = cells[2]
                cells = [*cells[:2], server_titles.get(server, server), *cells[3:]]
                if server == "shipyard":
                    cells = [f"**{cell}**" if cell else cell for cell in cells]
                lines.append("| " + " | ".join(_escape(cell) for cell in cells) + " |")
        lines += ["", CAPTION]
    lines += _memory(meta, server_titles)
    lines += ["", "## Targets", "", "| check | target | measured | verdict |", "| --- | --- | --- | --- |"]
    lines += [f"| {_escape(c.name)} | {_escape(c.target)} | {_escape(c.measured)} | {c.verdict} |" for c in checks]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
