"""Regime diagnostics of a run table: per series, each point's regime and the flags with evidence.

A *series* is the metric against one resource: one per group when the runs carry a group
column (architecture, recipe), one per model size for a data-scaling view (x = tokens with
several sizes), else all runs together. This module composes :mod:`scaling_core.regimes` (and the
backtest) into the ``diagnose`` answer the CLI prints and the Regimes page draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scaling_core.fitting import FitInputError, fit_law
from scaling_core.laws import get_law
from scaling_core.regimes import (
    FLAT_FRACTION,
    REGIME_RULE,
    SATURATION_FRACTION,
    PointRegimes,
    classify_points,
    emergence,
    scaling_direction_flags,
    too_small_for_data,
)
from scaling_core.schema import RESOURCE_LABELS, RunTable

LOWER_IS_BETTER_WORDS = ("loss", "error", "err", "perplexity", "ppl", "nll", "bpb", "bpc")
HIGHER_IS_BETTER_WORDS = ("acc", "accuracy", "score", "f1", "exact", "pass", "win", "bleu")
MIN_SERIES_POINTS = 3


def infer_direction(metric_name: str) -> tuple[str, str]:
    """("lower" | "higher", why) from the metric's name; unknown names assume lower."""
    name = metric_name.lower()
    if any(word in name for word in HIGHER_IS_BETTER_WORDS):
        return "higher", f"inferred from the name {metric_name!r} (accuracy-like: higher is better)"
    if any(word in name for word in LOWER_IS_BETTER_WORDS):
        return "lower", f"inferred from the name {metric_name!r} (loss-like: lower is better)"
    return "lower", f"assumed lower is better: {metric_name!r} names no known metric"


@dataclass(frozen=True)
class Flag:
    """One finding on a series: a kind from the contract, a sentence, and its evidence."""

    kind: str
    """"inverse_scaling", "non_scaling", "saturated", "initial", "emergence", "too_small_model"."""
    series: str
    sentence: str
    evidence: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "series": self.series,
            "sentence": self.sentence,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class SeriesDiagnosis:
    """A series, its points' regimes and its flags."""

    name: str
    indices: np.ndarray = field(repr=False)
    """Rows of the run table in this series."""
    x: np.ndarray = field(repr=False)
    metric: np.ndarray = field(repr=False)
    regimes: PointRegimes
    flags: tuple[Flag, ...]
    floor: float | None
    """The floor of a power law with floor fitted to this series (lower-is-better only)."""


def split_series(runs: RunTable, x: str) -> dict[str, np.ndarray]:
    """Series name → row indices (see the module docstring for the rule)."""
    if runs.group.size:
        labels = runs.group.astype(str)
        return {f"group {g}": np.flatnonzero(labels == g) for g in np.unique(labels)}
    if x == "tokens" and np.unique(runs.params).size > 1:
        out = {}
        for n in np.unique(runs.params):
            rows = np.flatnonzero(runs.params == n)
            if rows.size >= MIN_SERIES_POINTS:
                out[f"N = {n:.3g}"] = rows
        if out:
            return out
    return {"all runs": np.arange(runs.n)}


def _series_floor(x: np.ndarray, metric: np.ndarray) -> float | None:
    try:
        fit = fit_law(get_law("power"), {"x": x}, metric)
    except FitInputError:
        return None
    return fit.params["c"] if fit.params["c"] > 1e-9 else None


def diagnose_series(name: str, x: np.ndarray, metric: np.ndarray, lower_is_better: bool,
                    x_label: str, indices: np.ndarray) -> SeriesDiagnosis:  # fmt: skip
    """Regimes and flags of one series.

    A series without a detectable trend (slope interval including zero) has not started to
    scale: all its points are *initial*, and it is not searched for saturation or emergence.
    """
    floor = _series_floor(x, metric) if lower_is_better and x.size >= 5 else None
    if floor is not None and floor >= metric.min():
        floor = None  # a fitted floor above observed values is a poor fit, not evidence
    regimes = classify_points(x, metric, lower_is_better, floor)
    flags: list[Flag] = []
    # The slope verdicts are the Fit page's own (regimes.scaling_direction_flags).
    for found in scaling_direction_flags({name: (x, metric)}, x_label, lower_is_better):
        flags.append(Flag(found.kind, name, found.sentence, found.evidence.to_json()))
    flat = any(flag.kind == "non_scaling" for flag in flags)
    if flat:
        regimes = PointRegimes(
            regime=np.full(x.size, "initial", dtype=object), slope=regimes.slope,
            steepest=regimes.steepest,
        )  # fmt: skip
    for kind in ("saturated", "initial"):
        count = regimes.count(kind)
        if not count or (flat and kind == "initial"):
            continue  # a flat series is already flagged non_scaling
        at = x[regimes.regime == kind]
        why = (
            f"local log-log slope under {FLAT_FRACTION:.0%} of the steepest "
            f"({regimes.steepest:.3g})"
        )
        if kind == "saturated" and floor is not None:
            why += f", or within {SATURATION_FRACTION:.0%} of the fitted floor {floor:.4g}"
        where = "after" if kind == "saturated" else "before"
        flags.append(Flag(
            kind, name,
            f"{count} of {x.size} points in {name} are {kind} ({where} the power-law part: "
            f"{why}; {x_label} {at.min():.3g}–{at.max():.3g}). Exclude them from fits that "
            "extrapolate.",
            {"n_points": count, "x_min": float(at.min()), "x_max": float(at.max()),
             "steepest_slope": regimes.steepest, "flat_fraction": FLAT_FRACTION,
             "floor": floor},
        ))  # fmt: skip
    # Emergence is a property of downstream (higher-is-better) metrics that do scale.
    jump = None if (lower_is_better or flat) else emergence(x, metric, higher_is_better=True)
    if jump is not None:
        flags.append(Flag("emergence", name, jump.sentence, jump.to_json()))
    return SeriesDiagnosis(name, indices, x, metric, regimes, tuple(flags), floor)


def diagnose(runs: RunTable, x: str = "compute", lower_is_better: bool = True
             ) -> list[SeriesDiagnosis]:  # fmt: skip
    """Every series of ``runs`` against resource ``x``, diagnosed."""
    values = runs.resource(x)
    out = []
    for name, rows in split_series(runs, x).items():
        out.append(diagnose_series(name, values[rows], runs.loss[rows], lower_is_better,
                                   RESOURCE_LABELS[x], rows))  # fmt: skip
    if x == "tokens" and lower_is_better:
        extra = [
            Flag("too_small_model", "all runs", sentence, {})
            for sentence in too_small_for_data(runs.params, runs.tokens, runs.loss)
        ]
        if extra and out:
            first = out[0]
            out[0] = SeriesDiagnosis(
                first.name,
                first.indices,
                first.x,
                first.metric,
                first.regimes,
                first.flags + tuple(extra),
                first.floor,
            )
    return out


def diagnosis_json(runs: RunTable, series: list[SeriesDiagnosis], x: str) -> list[dict]:
    """The ``series`` part of the CLI's JSON."""
    return [
        {
            "name": s.name,
            "n_points": int(s.x.size),
            "floor": s.floor,
            "points": [
                {
                    "run": str(runs.run[i]),
                    "x": float(xv),
                    "value": float(v),
                    "regime": str(r),
                    "local_slope": float(sl),
                }
                for i, xv, v, r, sl in zip(
                    s.indices, s.x, s.metric, s.regimes.regime, s.regimes.slope, strict=True
                )
            ],
            "flags": [f.to_json() for f in s.flags],
        }
        for s in series
    ]


__all__ = [
    "REGIME_RULE",
    "Flag",
    "SeriesDiagnosis",
    "diagnose",
    "diagnosis_json",
    "infer_direction",
    "split_series",
]
