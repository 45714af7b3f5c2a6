"""The two deployment specs of issue 7, verbatim: every spec test starts from them."""

FRAUD_SPEC = """\
deployment: fraud
variants:
  stable: {model: fraud@production, role: primary}
  candidate: {model: fraud/4, role: canary, weight: 10}
  shadowed: {model: fraud/5, role: shadow, sample: 1.0}
analysis:                      # used by progressive delivery (section 2)
  steps: [10, 25, 50, 100]
  bake_seconds: 300
  min_requests: 200
  gates: {max_error_rate: 0.01, max_p99_ratio: 1.5, max_prediction_psi: 0.2, min_agreement: 0.95}
"""

RANKER_SPEC = """\
deployment: ranker
variants:
  a: {model: ranker/1, role: arm, weight: 50}
  b: {model: ranker/2, role: arm, weight: 50}
experiment: {sticky_key: {header: X-User-Id}, metric: conversion, min_detectable_effect: 0.02, alpha: 0.05, power: 0.8}
"""
