"""``shipyard monitor drift REF CURRENT``: drift between two CSV or Parquet files (docs/monitoring.md).

Offline, before deploying: the numbers are Evidently 0.7's by default. REF may also be a saved drift
summary (``.npz``, as registered with a version's training data).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shipyard.cli.output import print_json, show, table
from shipyard.errors import InvalidRequest

if TYPE_CHECKING:  # pandas and scipy load only when the command runs
    from shipyard.monitoring.drift.report import DriftReport

_PARQUET = (".parquet", ".pq")


def read_table(path: Path) -> Any:
    """A CSV or Parquet file as a DataFrame (by extension; anything else is read as CSV), or a
    saved drift summary (``.npz``)."""
    import pandas as pd

    from shipyard.monitoring.drift.summaries import DatasetSummary

    try:
        if path.suffix.lower() == ".npz":
            return DatasetSummary.from_bytes(path.read_bytes())
        if path.suffix.lower() in _PARQUET:
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except InvalidRequest:
        raise
    except FileNotFoundError as exc:
        raise InvalidRequest(f"no such file: {path}") from exc
    except Exception as exc:  # pandas/pyarrow parse errors: one line, the file named
        raise InvalidRequest(f"cannot read {path.name}: {str(exc).splitlines()[0][:200]}") from exc


def parse_column_stattests(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        column, sep, name = item.partition("=")
        if not sep or not column or not name:
            raise InvalidRequest(f"invalid --column-stattest {item!r}", hint="use COLUMN=TEST, e.g. amount=psi")
        out[column] = name
    return out


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if value == 0 or 1e-4 <= abs(value) < 1e6 else f"{value:.3e}"


def drift_table(report: DriftReport) -> list[Any]:
    from rich.text import Text

    rows = [
        [
            result.column,
            result.column_type,
            result.stattest,
            _number(result.score),
            _number(result.p_value),
            _number(result.threshold),
            Text("DRIFT", style="bold red") if result.drift_detected else Text("ok", style="green"),
        ]
        for result in report.columns.values()
    ]
    grid = table("Drift by column", ["column", "type", "test", "score", "p-value", "threshold", "drift"], rows)
    verdict = "DETECTED" if report.dataset_drift else "not detected"
    summary = (
        f"{report.number_of_drifted_columns} of {report.number_of_columns} columns drifted "
        f"({report.share_of_drifted_columns:.0%}); dataset drift {verdict} "
        f"(at a share of {report.drift_share:.0%}; mode {report.mode})"
    )
    out: list[Any] = [grid, Text(summary, style="bold red" if report.dataset_drift else "")]
    if report.skipped:
        out.append(Text("not tested: " + "; ".join(f"{name} ({why})" for name, why in report.skipped.items())))
    return out


@click.command("drift")
@click.argument("reference", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("current", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--stattest", help="Test for every column: ks, chisquare, z, wasserstein, jensenshannon, psi.")
@click.option(
    "--column-stattest", "column_stattests", multiple=True, metavar="COLUMN=TEST", help="Test for one column."
)
@click.option("--threshold", type=float, help="Threshold for every column (default: each test's own).")
@click.option("--drift-share", type=float, default=0.5, show_default=True, help="Share of drifted columns = drift.")
@click.option("--mode", type=click.Choice(["evidently", "corrected"]), default="evidently", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def drift(
    *,
    reference: Path,
    current: Path,
    stattest: str | None,
    column_stattests: tuple[str, ...],
    threshold: float | None,
    drift_share: float,
    mode: str,
    as_json: bool,
) -> None:
    """Data drift of CURRENT against REFERENCE (CSV or Parquet files; REF may be a .npz summary)."""
    from shipyard.monitoring.drift.engine import drift_report

    per_column = parse_column_stattests(column_stattests)
    report = drift_report(
        read_table(reference),
        read_table(current),
        stattest=stattest,
        per_column_stattest=per_column or None,
        stattest_threshold=threshold,
        drift_share=drift_share,
        mode=mode,
    )
    if as_json:
        print_json(report.to_dict())
    else:
        show(*drift_table(report))
