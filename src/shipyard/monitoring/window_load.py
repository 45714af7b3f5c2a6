"""A window of a target's logged traffic read back and turned into figures: the log rows
(``predlog.query.read_window``), the feedback recorded for them (``FeedbackStore.facts``,
joined by ``join_feedback``), and the registered reference of each version that answered."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from shipyard.errors import NotFound
from shipyard.monitoring.predlog.query import join_feedback, read_window
from shipyard.monitoring.window import WindowFigures, compute_window, references_for, table_to_frame
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.store import RegistryStore


def check_target(store: RegistryStore, target: str) -> None:
    """NotFound unless ``target`` names a registered model or a deployment."""
    try:
        store.get_model(target)
        return
    except NotFound:
        pass
    try:
        store.deployments.get(target)
    except NotFound:
        raise NotFound(f"no model or deployment named {target!r}") from None


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def load_window(
    home: Path,
    registry: RegistryService,
    target: str,
    *,
    seconds: float,
    until: float | None = None,
    price_per_core_hour: float = 0.0,
    sensitive: str | None = None,
    series: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> WindowFigures:
    """The figures of ``target``'s traffic in the ``seconds`` up to ``until`` (default now)."""
    store = registry.store
    check_target(store, target)
    end = time.time() if until is None else until
    start = end - seconds
    table = read_window(home, target, start, end)
    facts = store.feedback.facts(target=target, since=_moment(start), until=_moment(end))
    table = join_feedback(table, facts)
    frame = table_to_frame(table)
    keys: list[tuple[str, int]] = []
    if not frame.empty:
        pairs = frame[["model", "version"]].dropna().drop_duplicates()
        keys = [(str(m), int(v)) for m, v in zip(pairs["model"], pairs["version"], strict=True)]
    references = references_for(registry, keys)
    return compute_window(
        frame,
        target=target,
        since=start,
        until=end,
        references=references,
        price_per_core_hour=price_per_core_hour,
        cpu_seconds=cpu_seconds_of(frame),
        sensitive=sensitive,
        series=series,
        progress=progress,
    )


def cpu_seconds_of(frame: pd.DataFrame) -> dict[tuple[int | None, str | None], float] | None:
    """Worker CPU charged to the window's rows (the log's ``cpu_ms``), per (version, variant)
    and per (version, None); None when the log carries no CPU figures (older records)."""
    if frame.empty or "cpu_ms" not in frame.columns or frame["cpu_ms"].isna().all():
        return None
    result: dict[tuple[int | None, str | None], float] = {}
    versions = frame["version"].astype("Int64")
    variants = frame["variant"].astype(object).where(frame["variant"].notna(), None)
    cpu = frame["cpu_ms"].fillna(0.0).to_numpy(dtype=float) / 1000.0
    for version in versions.dropna().unique().tolist():
        chosen = (versions == version).fillna(False).to_numpy(dtype=bool)
        result[(int(version), None)] = float(cpu[chosen].sum())
        for variant in {v for v in variants[chosen].tolist() if v is not None}:
            mask = chosen & (variants == variant).to_numpy(dtype=bool)
            result[(int(version), str(variant))] = float(cpu[mask].sum())
    return result
