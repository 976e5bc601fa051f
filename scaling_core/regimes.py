"""Regime flags: points on the irreducible floor, and series that get worse with scale.

Why these two first: a fit line drawn through saturated points or through an inverse-scaling series
looks convincing and is wrong to extrapolate. Both judgements use evidence, not one pair of points:
saturation uses the fitted floor; inverse scaling uses a bootstrap interval of the log-log slope.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaling_core.laws import Inputs, Law

SATURATION_FRACTION = 0.05
"""A point is saturated when the reducible part of the fitted loss is under 5% of the loss."""


def reducible_fraction(law: Law, params: dict[str, float], X: Inputs) -> np.ndarray | None:
    """(L̂ − floor)/L̂ at each point, or None for a law without a floor. Shape (n,)."""
    floor = law.floor(params)
    if floor is None:
        return None
    predicted = law.predict(params, X)
    return (predicted - floor) / predicted


def saturated_mask(law: Law, params: dict[str, float], X: Inputs) -> np.ndarray:
    """True where the fitted curve is within 5% of its floor (gains have tapered). Shape (n,)."""
    frac = reducible_fraction(law, params, X)
    n = next(iter(X.values())).shape[0]
    if frac is None:
        return np.zeros(n, dtype=bool)
    return frac < SATURATION_FRACTION


@dataclass(frozen=True)
class SlopeEvidence:
    """Log-log slope of a metric against scale, with a bootstrap 95% interval.

    ``slope`` is d log(metric) / d log(x); for a lower-is-better metric a healthy series has a
    negative slope.
    """

    slope: float
    low: float
    high: float
    n_points: int

    def worsens(self, lower_is_better: bool = True) -> bool:
        """The whole interval says the metric gets worse as scale grows."""
        return self.low > 0 if lower_is_better else self.high < 0

    def flat(self) -> bool:
        """The interval contains zero: no detectable trend."""
        return self.low <= 0 <= self.high


def slope_evidence(
    x: np.ndarray, metric: np.ndarray, n_resamples: int = 400, seed: int = 0
) -> SlopeEvidence | None:
    """OLS slope of log metric on log x with a percentile-bootstrap 95% interval over points.

    Returns None with fewer than 3 points or fewer than 2 distinct x values: no evidence.
    """
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(metric, float))
    n = lx.size
    if n < 3 or np.unique(lx).size < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    bx, by = lx[idx], ly[idx]
    bx_c = bx - bx.mean(axis=1, keepdims=True)
    denom = (bx_c * bx_c).sum(axis=1)
    ok = denom > 0
    slopes = (bx_c * (by - by.mean(axis=1, keepdims=True))).sum(axis=1)[ok] / denom[ok]
    slope = float(np.polyfit(lx, ly, 1)[0])
    low, high = np.percentile(slopes, [2.5, 97.5])
    return SlopeEvidence(slope=slope, low=float(low), high=float(high), n_points=n)


@dataclass(frozen=True)
class SeriesFlag:
    """A regime flag on one series, with a sentence that carries its numbers."""

    series: str
    kind: str
    """"inverse_scaling" or "non_scaling"."""
    sentence: str
    evidence: SlopeEvidence


def scaling_direction_flags(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    x_label: str,
    lower_is_better: bool = True,
) -> list[SeriesFlag]:
    """Flag series (name → (x, metric)) whose metric worsens with x, or shows no trend."""
    flags = []
    for name, (x, metric) in series.items():
        ev = slope_evidence(x, metric)
        if ev is None:
            continue
        interval = f"slope {ev.slope:+.3f} (95% CI {ev.low:+.3f} to {ev.high:+.3f})"
        if ev.worsens(lower_is_better):
            flags.append(
                SeriesFlag(
                    name,
                    "inverse_scaling",
                    f"Inverse scaling in {name}: the metric gets worse as {x_label} grows, "
                    f"{interval} on log-log axes over {ev.n_points} runs.",
                    ev,
                )
            )
        elif ev.flat():
            flags.append(
                SeriesFlag(
                    name,
                    "non_scaling",
                    f"No scaling trend in {name}: {interval} includes zero "
                    f"over {ev.n_points} runs.",
                    ev,
                )
            )
    return flags
