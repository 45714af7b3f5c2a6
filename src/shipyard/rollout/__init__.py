"""Deployments: specs, traffic splits and their checks against the registry.

Pure logic (no storage, no web framework): the registry layer below stores revisions, the
serving layer above asks :class:`Splitter` which variant answers.
"""

from shipyard.rollout.compat import check_variants, signature_differences
from shipyard.rollout.spec import (
    Analysis,
    DeploymentSpec,
    Experiment,
    Gates,
    StickyKey,
    Variant,
)
from shipyard.rollout.spec_yaml import parse_spec
from shipyard.rollout.split import BUCKETS, Splitter, sticky_key_from

__all__ = [
    "BUCKETS",
    "Analysis",
    "DeploymentSpec",
    "Experiment",
    "Gates",
    "Splitter",
    "StickyKey",
    "Variant",
    "check_variants",
    "parse_spec",
    "signature_differences",
    "sticky_key_from",
]
