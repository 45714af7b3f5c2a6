"""Memory per server process: RSS (and PSS) of every process of each configuration's servers.

Read from /proc after the load, with every model of the run loaded: `VmRSS` from `status` (what
`ps` and `top` show) and `Pss` from `smaps_rollup` (pages shared between a server's processes,
such as forked workers' copy-on-write pages, divided among them, so PSS adds up honestly where RSS
counts shared pages once per process). A configuration with several servers (mlflow: one per
model) lists them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from processes import ServerProcess, tree_pids
from rich.console import Console
from rich.markup import escape
from rich.table import Table


@dataclass(frozen=True)
class ProcessMemory:
    server: str  # the configuration
    label: str  # the server process (its launcher label)
    pid: int
    command: str
    rss_mb: float
    pss_mb: float | None


def _kb(path: Path, field: str) -> float | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    parts = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    return " ".join(Path(parts[0]).name.split() + parts[1:3])[:80] if parts else "?"


def measure(server: str, processes: list[ServerProcess]) -> list[ProcessMemory]:
    rows = []
    for process in processes:
        try:
            pids = tree_pids(process.pid)
        except RuntimeError:  # not running
            continue
        for pid in pids:
            rss = _kb(Path(f"/proc/{pid}/status"), "VmRSS")
            if rss is None:
                continue  # gone, or a kernel thread
            pss = _kb(Path(f"/proc/{pid}/smaps_rollup"), "Pss")
            rows.append(
                ProcessMemory(
                    server, process.label, pid, _command(pid), rss / 1024, None if pss is None else pss / 1024
                )
            )
    return rows


def totals(rows: list[ProcessMemory]) -> dict[str, dict[str, float]]:
    """Per configuration: processes, summed RSS and summed PSS (MB)."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        entry = out.setdefault(row.server, {"processes": 0, "rss_mb": 0.0, "pss_mb": 0.0})
        entry["processes"] += 1
        entry["rss_mb"] += row.rss_mb
        entry["pss_mb"] += row.pss_mb or 0.0
    return out


def as_json(rows: list[ProcessMemory]) -> dict[str, Any]:
    return {"processes": [asdict(row) for row in rows], "totals": totals(rows)}


def rows_from_json(document: dict[str, Any] | None) -> list[ProcessMemory]:
    return [ProcessMemory(**row) for row in (document or {}).get("processes", [])]


CAPTION = (
    "After the load, every model of the run loaded. RSS counts pages shared between processes in each; "
    "PSS divides them among the sharers, so the PSS total is the configuration's real footprint."
)


def render(console: Console, rows: list[ProcessMemory], titles: dict[str, str]) -> None:
    if not rows:
        return
    table = Table(title="Memory per server process", title_justify="left", caption=CAPTION)
    for header in ("config", "process", "pid", "command", "RSS MB", "PSS MB"):
        table.add_column(header, justify="left" if header in ("config", "process", "command") else "right")
    sums = totals(rows)
    for server in dict.fromkeys(row.server for row in rows):
        for row in (r for r in rows if r.server == server):
            pss = "—" if row.pss_mb is None else f"{row.pss_mb:,.0f}"
            table.add_row(
                escape(titles.get(server, server)), row.label, str(row.pid), row.command, f"{row.rss_mb:,.0f}", pss
            )
        total = sums[server]
        table.add_row(
            "",
            f"total ({total['processes']:.0f} processes)",
            "",
            "",
            f"{total['rss_mb']:,.0f}",
            f"{total['pss_mb']:,.0f}",
            style="bold",
        )
        table.add_section()
    console.print(table)
