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

    def to_json(self) -> dict[str, float | int]:
        return {
            "slope": self.slope,
            "ci_low": self.low,
            "ci_high": self.high,
            "n_points": self.n_points,
        }


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


# --------------------------------------------------------------------------------------------
# Per-point regimes: initial · power law · saturated
# --------------------------------------------------------------------------------------------

REGIMES: tuple[str, ...] = ("initial", "power_law", "saturated")

FLAT_FRACTION = 0.3
"""A point is in a flat regime when its local log-log slope is under 30% of the steepest."""

REGIME_RULE = (
    "Scale is cut into 0.1-decade bins and each bin keeps its best value (the envelope: for a "
    "cloud of runs, the best result reachable at that scale). The local log-log slope of the "
    "envelope is the least-squares slope over its nearest bins. Points before the steepest "
    f"part of the curve whose slope is under {FLAT_FRACTION:.0%} of the steepest are "
    "**initial** (little improvement yet, e.g. near random-guess loss); points after it with "
    f"slope under {FLAT_FRACTION:.0%} of the steepest, or within {SATURATION_FRACTION:.0%} of "
    "the fitted floor, are **saturated**; the rest are **power law**, the only part that "
    "extrapolates."
)
"""The rule in words, shown in the UI and the CLI's JSON."""


def local_slopes(x: np.ndarray, metric: np.ndarray, window: int | None = None) -> np.ndarray:
    """d log(metric)/d log(x) at each point, by least squares over its ``window`` nearest
    neighbours in log x (default max(3, n/4)); points must be sorted by x. Shape (n,)."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(metric, float))
    n = lx.size
    k = min(n, window or max(3, n // 4))
    slopes = np.zeros(n)
    for i in range(n):
        nearest = np.argsort(np.abs(lx - lx[i]), kind="stable")[:k]
        xs, ys = lx[nearest], ly[nearest]
        spread = xs - xs.mean()
        denom = float(spread @ spread)
        slopes[i] = float(spread @ (ys - ys.mean())) / denom if denom > 0 else 0.0
    return slopes


@dataclass(frozen=True)
class PointRegimes:
    """Regime of every point of one series, in the caller's order."""

    regime: np.ndarray
    """One of :data:`REGIMES` per point (dtype object)."""
    slope: np.ndarray
    """Local log-log slope per point."""
    steepest: float
    """The steepest improving slope in the series (magnitude)."""

    def count(self, name: str) -> int:
        return int(np.sum(self.regime == name))


BIN_DECADES = 0.1
"""Points are grouped in bins of 0.1 decade of scale; each bin is represented by its best value."""


def _bins(x: np.ndarray) -> np.ndarray:
    """Bin index per point: 0.1-decade bins in log10 x, numbered from the smallest x."""
    lx = np.log10(x)
    return np.floor((lx - lx.min()) / BIN_DECADES + 1e-9).astype(int)


def classify_points(
    x: np.ndarray,
    metric: np.ndarray,
    lower_is_better: bool = True,
    floor: float | None = None,
) -> PointRegimes:
    """Label each point initial / power_law / saturated by the rule in :data:`REGIME_RULE`.

    The slopes are those of the *envelope*: the best value in each 0.1-decade bin of scale. A
    clean single curve is its own envelope; a cloud (many model sizes at each compute, as in an
    isoFLOP study) is judged by the best result reachable at each scale, not by the spread of
    sub-optimal runs. ``floor`` (units of the metric) is a fitted irreducible level, if known:
    points within 5% of it are saturated whatever their slope.
    """
    x = np.asarray(x, float)
    metric = np.asarray(metric, float)
    bins = _bins(x)
    used = np.unique(bins)
    best = np.array([
        (metric[bins == b].min() if lower_is_better else metric[bins == b].max()) for b in used
    ])  # fmt: skip
    centre = np.array([np.exp(np.mean(np.log(x[bins == b]))) for b in used])
    slopes_env = local_slopes(centre, best)
    improving = -slopes_env if lower_is_better else slopes_env
    regime_env = np.full(used.size, "power_law", dtype=object)
    steepest = float(np.max(improving)) if improving.size else 0.0
    if steepest > 0 and used.size >= 4:
        peak = int(np.argmax(improving))
        flat = improving < FLAT_FRACTION * steepest
        # Phases are contiguous: initial is a flat prefix ending before the steepest part,
        # saturated a flat suffix starting after it (a lone flat bin mid-curve is noise).
        prefix = np.cumprod(flat[:peak]).astype(bool)
        suffix = np.cumprod(flat[peak + 1 :][::-1]).astype(bool)[::-1]
        regime_env[:peak][prefix] = "initial"
        regime_env[peak + 1 :][suffix] = "saturated"
    where = np.searchsorted(used, bins)
    regime = regime_env[where].copy()
    if floor is not None and 0 < floor < metric.min() and lower_is_better:
        regime[(metric - floor) / metric < SATURATION_FRACTION] = "saturated"
    return PointRegimes(regime=regime, slope=slopes_env[where], steepest=steepest)


EMERGENCE_SHARE = 0.4
"""A jump must carry at least 40% of the envelope's whole range…"""
EMERGENCE_RATE = 3.0
"""…at a rate (per decade of scale) at least 3× the series' average rate…"""
EMERGENCE_NOISE = 4.0
"""…and at least 4× the median step between neighbouring scales (so noise does not qualify)."""


@dataclass(frozen=True)
class Emergence:
    """A sudden jump in a metric with scale, with the numbers behind the judgement."""

    jump: float
    """Improvement across the jump (units of the metric)."""
    scale_from: float
    scale_to: float
    share: float
    """Jump as a fraction of the envelope's whole range."""
    rate_ratio: float
    """Jump per decade over the series' average change per decade."""

    @property
    def sentence(self) -> str:
        return (
            f"Sudden jump (emergence): the metric improves by {self.jump:.3g} between scale "
            f"{self.scale_from:.3g} and {self.scale_to:.3g} — {self.share:.0%} of its whole range "
            f"at {self.rate_ratio:.1f}× its average rate per decade, so a smooth power law will "
            "not forecast it."
        )

    def to_json(self) -> dict[str, float]:
        return {
            "jump": self.jump,
            "scale_from": self.scale_from,
            "scale_to": self.scale_to,
            "share_of_range": self.share,
            "rate_ratio": self.rate_ratio,
        }


def emergence(x: np.ndarray, metric: np.ndarray, higher_is_better: bool = True
              ) -> Emergence | None:  # fmt: skip
    """The sudden jump of a metric with scale (downstream "emergence"), or None.

    Rule: take the best value per 0.1-decade bin of scale (the envelope). The largest
    improvement between neighbouring bins must carry ≥ 40% of the envelope's range, at a rate
    per decade ≥ 3× the series' average, and be ≥ 4× the median step. A steady climb with
    unevenly spaced sizes is not a jump; neither is noise on a flat series (callers also skip
    series whose slope interval includes zero).
    """
    x = np.asarray(x, float)
    metric = np.asarray(metric, float)
    bins = _bins(x)
    used = np.unique(bins)
    if used.size < 4:
        return None
    pick = np.max if higher_is_better else np.min
    values = np.array([pick(metric[bins == b]) for b in used])
    scales = np.array([np.exp(np.mean(np.log(x[bins == b]))) for b in used])
    steps = np.diff(values) if higher_is_better else -np.diff(values)
    decades = np.diff(np.log10(scales))
    span = float(values.max() - values.min())
    total_decades = float(np.log10(scales[-1] / scales[0]))
    if span <= 0 or total_decades <= 0:
        return None
    i = int(np.argmax(steps))
    jump = float(steps[i])
    rate_ratio = (jump / decades[i]) / (span / total_decades)
    typical = float(np.median(np.abs(steps)))
    if (
        jump >= EMERGENCE_SHARE * span
        and rate_ratio >= EMERGENCE_RATE
        and jump >= EMERGENCE_NOISE * max(typical, 1e-12)
    ):
        return Emergence(jump, float(scales[i]), float(scales[i + 1]), jump / span, rate_ratio)
    return None


def too_small_for_data(params: np.ndarray, tokens: np.ndarray, loss: np.ndarray) -> list[str]:
    """Data-scaling series whose model is too small to show data gains, as sentences.

    A model size's loss-vs-tokens series is flagged when its largest-token points are
    saturated (local slope under 30% of its steepest) while a larger model reaches a lower loss
    with no more tokens: the model, not the data, is the limit, so this series understates the
    data exponent.
    """
    out = []
    for n in np.unique(params):
        mine = params == n
        if np.unique(tokens[mine]).size < 4:
            continue
        regimes = classify_points(tokens[mine], loss[mine])
        d_sorted = np.argsort(tokens[mine])
        tail = regimes.regime[d_sorted][-2:]
        if not np.all(tail == "saturated"):
            continue
        d_max = float(tokens[mine].max())
        best_mine = float(loss[mine].min())
        larger = (params > n) & (tokens <= d_max)
        if larger.any() and float(loss[larger].min()) < best_mine:
            out.append(
                f"The data-scaling series at N = {n:.3g} parameters flattens at loss "
                f"{best_mine:.4g} while a larger model reaches {float(loss[larger].min()):.4g} "
                f"with at most {d_max:.3g} tokens: this model is too small to show data gains, "
                "so a data exponent fitted to it is biased low."
            )
    return out
