"""Self-contained HTML monitoring reports (``shipyard monitor report``)."""

from shipyard.monitoring.report.build import render_report

__all__ = ["render_report"]
