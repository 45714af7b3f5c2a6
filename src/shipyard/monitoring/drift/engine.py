"""``drift_report``: per-column drift between a reference and a current sample, Evidently 0.7's way.

Which columns: the current data's (as Evidently takes its data definition from the current
dataset); each must be in the reference. Reference-only columns are named in ``skipped``.

Which test: ``per_column_stattest[column]``, else ``cat_stattest``/``num_stattest`` by the column's
type, else ``stattest``, else Evidently's default (``stattests.default_stattest``). Thresholds
resolve the same way (``per_column_stattest_threshold``, ``cat_/num_stattest_threshold``,
``stattest_threshold``), else the test's default. The dataset drifts when the share of drifted
columns is ≥ ``drift_share`` (0.5).

``mode="evidently"`` (default) gives Evidently's numbers. ``mode="corrected"`` differs in two
documented ways (docs/monitoring.md): column types are inferred from the reference, not from the
current window, and the Z-test's p-value is ``2·sf(|z|)`` rather than ``2·(1 - cdf(|z|))``, which
rounds to 0 below about 1e-16.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import pandas as pd

from shipyard.errors import InvalidRequest
from shipyard.monitoring.drift.columns import CAT, NUM, ColumnType, infer_column_type
from shipyard.monitoring.drift.parallel import parallel_map
from shipyard.monitoring.drift.report import ColumnDrift, DriftReport
from shipyard.monitoring.drift.stattests import (
    CORRECTED,
    EVIDENTLY,
    MODES,
    STATTESTS,
    StatTest,
    default_stattest,
    get_stattest,
)
from shipyard.monitoring.drift.summaries import ColumnSummary, DatasetSummary, summarize_column

Data: TypeAlias = pd.DataFrame | DatasetSummary


def drift_report(
    reference: Data,
    current: Data,
    stattest: str | None = None,
    per_column_stattest: Mapping[str, str] | None = None,
    *,
    cat_stattest: str | None = None,
    num_stattest: str | None = None,
    stattest_threshold: float | None = None,
    per_column_stattest_threshold: Mapping[str, float] | None = None,
    cat_stattest_threshold: float | None = None,
    num_stattest_threshold: float | None = None,
    drift_share: float = 0.5,
    columns: Sequence[str] | None = None,
    mode: str = EVIDENTLY,
    threads: int | None = None,
) -> DriftReport:
    """Drift of every column of ``current`` against ``reference`` (pandas DataFrames or summaries)."""
    if mode not in MODES:
        raise InvalidRequest(f"unknown drift mode {mode!r}", hint=f"modes: {', '.join(MODES)}")
    _check_share(drift_share)
    for name in (stattest, cat_stattest, num_stattest, *(per_column_stattest or {}).values()):
        if name is not None and name not in STATTESTS:
            raise InvalidRequest(f"unknown drift test {name!r}", hint=f"available tests: {', '.join(STATTESTS)}")
    for threshold in (
        stattest_threshold,
        cat_stattest_threshold,
        num_stattest_threshold,
        *(per_column_stattest_threshold or {}).values(),
    ):
        _check_threshold(threshold)
    ref_summary, cur_summary, names, skipped = _summaries(reference, current, columns, threads)
    for option, mapping in (
        ("per_column_stattest", per_column_stattest),
        ("per_column_stattest_threshold", per_column_stattest_threshold),
    ):
        unknown = sorted(set(mapping or {}) - set(names))
        if unknown:
            raise InvalidRequest(
                f"{option} names columns that are not compared: {', '.join(map(repr, unknown))}",
                hint=f"compared columns: {', '.join(names)}",
            )
    plans: list[tuple[str, ColumnType, StatTest, float]] = []
    for name in names:
        ref_column, cur_column = ref_summary.columns[name], cur_summary.columns[name]
        column_type = infer_column_type(ref_column if mode == CORRECTED else cur_column)
        if column_type not in (NUM, CAT):
            skipped[name] = f"{column_type} column (only numerical and categorical columns are tested)"
            continue
        for side, column in (("reference", ref_column), ("current", cur_column)):
            if column.n == 0:
                raise InvalidRequest(f"column {name!r} has no values in the {side} data (all missing or infinite)")
            if column_type == NUM and not column.numeric:
                raise InvalidRequest(f"column {name!r} in the {side} data should contain numerical values only")
        chosen = (
            (per_column_stattest or {}).get(name) or (cat_stattest if column_type == CAT else num_stattest) or stattest
        )
        test = (
            get_stattest(chosen, name, column_type) if chosen else default_stattest(ref_column, cur_column, column_type)
        )
        threshold = (per_column_stattest_threshold or {}).get(name)
        if threshold is None:
            threshold = cat_stattest_threshold if column_type == CAT else num_stattest_threshold
        if threshold is None:
            threshold = stattest_threshold
        plans.append((name, column_type, test, test.default_threshold if threshold is None else float(threshold)))

    def run(plan: tuple[str, ColumnType, StatTest, float]) -> ColumnDrift:
        name, column_type, test, threshold = plan
        ref_column, cur_column = ref_summary.columns[name], cur_summary.columns[name]
        outcome = test.run(ref_column, cur_column, column_type, threshold, mode)
        return ColumnDrift(
            column=name,
            column_type=column_type,
            stattest=test.name,
            stattest_title=test.title,
            score=outcome.score,
            statistic=outcome.statistic,
            p_value=outcome.p_value,
            threshold=threshold,
            drift_detected=bool(outcome.drift_detected),
            reference_rows=ref_column.n,
            current_rows=cur_column.n,
        )

    results = parallel_map(run, plans, threads)
    return DriftReport(
        columns={result.column: result for result in results}, drift_share=drift_share, mode=mode, skipped=skipped
    )


def _summaries(
    reference: Data, current: Data, columns: Sequence[str] | None, threads: int | None
) -> tuple[DatasetSummary, DatasetSummary, list[str], dict[str, str]]:
    """Both sides' summaries of the compared columns (frames summarised together, in parallel)."""
    for side, data in (("reference", reference), ("current", current)):
        if not isinstance(data, (pd.DataFrame, DatasetSummary)):
            raise InvalidRequest(
                f"the {side} data must be a pandas DataFrame or a DatasetSummary, not {type(data).__name__}"
            )
        names_of = [str(name) for name in data.columns]
        if len(set(names_of)) != len(names_of):
            raise InvalidRequest(f"the {side} data has duplicate column names")
        if not names_of:
            raise InvalidRequest(f"the {side} data has no columns")
        rows = data.shape[0] if isinstance(data, pd.DataFrame) else data.rows
        if rows == 0:
            raise InvalidRequest(f"the {side} data has no rows")
    ref_names = [str(name) for name in reference.columns]
    cur_names = [str(name) for name in current.columns]
    if columns is not None:
        names = [str(name) for name in columns]
        if not names or len(set(names)) != len(names):
            raise InvalidRequest("columns must name at least one column, each once")
        missing = [name for name in names if name not in cur_names]
        if missing:
            raise InvalidRequest(f"columns not in the current data: {', '.join(map(repr, missing))}")
    else:
        names = cur_names
    absent = [name for name in names if name not in ref_names]
    if absent:
        raise InvalidRequest(
            f"columns of the current data missing from the reference: {', '.join(map(repr, absent))}",
            hint="compare the same columns, or pass columns=[...] to compare a subset",
        )
    skipped = {name: "only in the reference" for name in ref_names if name not in names and name not in cur_names}
    jobs: list[tuple[int, str, pd.Series]] = []
    ready: list[dict[str, ColumnSummary]] = [{}, {}]
    for index, data in enumerate((reference, current)):
        if isinstance(data, DatasetSummary):
            ready[index] = {name: data.columns[name] for name in names}
        else:
            positions = {str(name): position for position, name in enumerate(data.columns)}
            jobs.extend((index, name, data.iloc[:, positions[name]]) for name in names)
    summaries_of_jobs = parallel_map(lambda job: summarize_column(job[1], job[2]), jobs, threads)
    for (index, name, _), summary in zip(jobs, summaries_of_jobs, strict=True):
        ready[index][name] = summary
    rows = [data.shape[0] if isinstance(data, pd.DataFrame) else data.rows for data in (reference, current)]
    summaries = [
        DatasetSummary(rows=rows[side], columns={name: ready[side][name] for name in names}) for side in (0, 1)
    ]
    return summaries[0], summaries[1], names, skipped


def _check_share(value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise InvalidRequest(f"drift_share must be a number from 0 to 1, got {value!r}")


def _check_threshold(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidRequest(f"a drift threshold must be a finite number, got {value!r}")
