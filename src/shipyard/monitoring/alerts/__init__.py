"""Alerts on monitored figures: rules (``rules``), the engine and its shared state
(``engine``, ``registry/sql/alerts``), signed webhook and retraining deliveries
(``delivery``, ``signing``, ``urls``). See docs/monitoring.md."""

from shipyard.monitoring.alerts.delivery import Backoff, Deliverer
from shipyard.monitoring.alerts.engine import AlertEngine, Figures, rules_from_settings, rules_path
from shipyard.monitoring.alerts.rules import Rule, RuleFile, load_rules, parse_rules
from shipyard.monitoring.alerts.signing import signature, verify

__all__ = [
    "AlertEngine",
    "Backoff",
    "Deliverer",
    "Figures",
    "Rule",
    "RuleFile",
    "load_rules",
    "parse_rules",
    "rules_from_settings",
    "rules_path",
    "signature",
    "verify",
]
