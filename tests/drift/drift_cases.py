"""Synthetic frames that drift in known ways, each with the options it is compared under.

Small references (≤ 1000 rows) get Evidently's hypothesis tests by default (KS, chi-square, Z),
large ones its distances (Wasserstein, Jensen-Shannon), so both halves of its default choice run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

Case = tuple[str, pd.DataFrame, pd.DataFrame, dict[str, Any]]


def _frame(rng: np.random.Generator, n: int, drift: float) -> pd.DataFrame:
    """Columns that drift by ``drift`` (0: none) in each of the ways a feature drifts."""
    categories = np.array(["red", "green", "blue", "amber", "violet"])
    mix = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
    shifted = mix + drift * np.array([-0.2, 0.0, 0.05, 0.05, 0.1])
    shifted = shifted / shifted.sum()
    few = rng.choice([0.0, 1.0, 2.0, 3.0], n, p=[0.4, 0.3, 0.2, 0.1] if drift == 0 else [0.25, 0.25, 0.25, 0.25])
    frame = pd.DataFrame(
        {
            "shift": rng.normal(drift * 0.5, 1.0, n),
            "scale": rng.normal(0.0, 1.0 + drift, n),
            "stable": rng.normal(10.0, 3.0, n),
            "lognormal": rng.lognormal(0.0 + drift * 0.3, 1.0, n),
            "color": pd.Series(rng.choice(categories, n, p=shifted), dtype=object),
            "flag": rng.random(n) < 0.3 + 0.15 * drift,
            "yes_no": pd.Series(rng.choice(["yes", "no"], n, p=[0.5 + 0.1 * drift, 0.5 - 0.1 * drift]), dtype=object),
            "few_values": few,
            "binary_float": rng.choice([0.0, 1.0], n, p=[0.7 - 0.2 * drift, 0.3 + 0.2 * drift]),
            "small_int": rng.integers(0, 6 + int(drift * 2), n),
            "wide_int": rng.integers(0, 40 + int(drift * 10), n),
            "counts15": rng.poisson(4.0 + drift, n).astype(np.float64),
        }
    )
    return frame


def _with_missing(rng: np.random.Generator, frame: pd.DataFrame, share: float) -> pd.DataFrame:
    frame = frame.copy()
    n = len(frame)
    for column in ("shift", "scale", "lognormal", "few_values"):
        frame.loc[rng.random(n) < share, column] = np.nan
    frame.loc[rng.random(n) < share / 5, "stable"] = np.inf
    frame.loc[rng.random(n) < share / 5, "stable"] = -np.inf
    color = frame["color"].astype(object)
    color[rng.random(n) < share] = None
    frame["color"] = color
    return frame


def cases() -> list[Case]:
    rng = np.random.default_rng(20260601)
    out: list[Case] = []
    for label, n_ref, n_cur in (("small", 600, 400), ("tiny", 120, 90), ("large", 5000, 3000)):
        reference = _frame(rng, n_ref, 0.0)
        same = _frame(rng, n_cur, 0.0)
        drifted = _frame(rng, n_cur, 1.0)
        out.append((f"{label}-no-drift", reference, same, {}))
        out.append((f"{label}-drift", reference, drifted, {}))
        out.append((f"{label}-missing", _with_missing(rng, reference, 0.1), _with_missing(rng, drifted, 0.2), {}))
        for method in ("psi", "jensenshannon"):
            out.append((f"{label}-{method}", reference, drifted, {"method": method}))
        out.append(
            (
                f"{label}-per-column",
                reference,
                drifted,
                {
                    "num_method": "ks",
                    "cat_method": "psi",
                    "per_column_method": {"shift": "wasserstein", "color": "jensenshannon", "stable": "psi"},
                    "threshold": 0.2,
                    "per_column_threshold": {"shift": 0.01, "flag": 0.3},
                    "drift_share": 0.25,
                },
            )
        )
    big_reference = _frame(rng, 20_000, 0.0)
    out.append(("ks-asymptotic", big_reference, _frame(rng, 15_000, 1.0), {"num_method": "ks"}))
    out.append(("ks-asymptotic-same", big_reference, _frame(rng, 12_000, 0.0), {"num_method": "ks", "cat_method": "z"}))
    out.append(("chisquare-large", big_reference, _frame(rng, 8_000, 1.0), {"cat_method": "chisquare"}))
    # A numeric reference with 21+ distinct values but a narrow range; integers binned by Sturges.
    ints_ref = pd.DataFrame({"ints": rng.integers(0, 23, 4000), "floats": rng.integers(0, 23, 4000).astype(float)})
    ints_cur = pd.DataFrame({"ints": rng.integers(2, 30, 3000), "floats": rng.integers(2, 30, 3000).astype(float)})
    out.append(("sturges-integers", ints_ref, ints_cur, {"method": "psi"}))
    out.append(("sturges-integers-js", ints_ref, ints_cur, {"method": "jensenshannon"}))
    # One value only on both sides (Z-test's p = 1 branch), and a constant numeric column (std floor).
    constant_ref = pd.DataFrame({"one": ["a"] * 300, "const": np.full(3000, 2.5)[:300], "x": rng.normal(0, 1, 300)})
    constant_cur = pd.DataFrame({"one": ["a"] * 200, "const": np.full(200, 2.5), "x": rng.normal(0, 1, 200)})
    out.append(("single-value", constant_ref, constant_cur, {}))
    wide_ref = pd.DataFrame({"const": np.full(3000, 2.5), "x": rng.normal(0, 1e-5, 3000)})
    wide_cur = pd.DataFrame({"const": np.r_[np.full(1990, 2.5), np.full(10, 2.6)], "x": rng.normal(0, 1e-5, 2000)})
    out.append(("std-floor", wide_ref, wide_cur, {"method": "wasserstein"}))
    return out
