"""``shipyard monitor``: drift, reports and summaries of logged traffic (docs/monitoring.md)."""

from __future__ import annotations

import click

from shipyard.cli.monitor_drift import drift
from shipyard.cli.monitor_report import report, summary


@click.group()
def monitor() -> None:
    """Watch served models: drift, data quality, performance, HTML reports."""


monitor.add_command(drift)
monitor.add_command(report)
monitor.add_command(summary)
