"""Backtests: fit on the small runs, predict the large runs held out, and say how far off it was.

Why: a scaling law is only as good as its extrapolation, and the one honest check available before
spending the compute is to pretend the largest runs do not exist yet (SCALING_NOTES "Validation").
Errors are reported two ways:

- in **loss** (predicted − observed, nats) and in **% of the observed loss**; and
- as a **compute-equivalent factor** k: the fitted law reaches the run's observed loss at k times
  the run's own scale. Sign convention: **k > 1 means the run did better than predicted** (the law
  says reaching that loss would take k× more compute); k < 1 means it did worse. A 0.3% loss error
  near the irreducible floor can be a 2× compute error, which is what a budget decision cares about.

"Scale" is the resource ``x`` for one-resource laws (so for ``x="params"`` k is a parameter-count
factor); for joint laws N and D are each scaled by √k, which scales C = 6·N·D by exactly k.

The cutoff applies to the column ``x`` (compute by default, also for joint laws, whose fitted
inputs are N and D). A held-out run's **extrapolation ratio** is its ``x`` divided by the largest
``x`` among the training runs — the same distance :func:`trust_label` speaks of.

Pure numpy/scipy; results are frozen dataclasses with ``to_json()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from scaling_core.fitting import FitInputError, FitResult, fit_law, law_inputs
from scaling_core.laws import Inputs, Law, get_law, is_joint, log_inputs
from scaling_core.schema import RunTable

FACTOR_LIMIT = 1e6
"""The compute-equivalent factor is searched within [1/FACTOR_LIMIT, FACTOR_LIMIT]; beyond that
the miss is reported as out of range (e.g. the observed loss lies below the fitted floor)."""

_FACTOR_GRID = 481
"""Points of the log-k scan that brackets the root before Brent's method refines it."""

TRUST_LABELS: tuple[str, ...] = (
    "interpolation",
    "near extrapolation (≤3×)",
    "far extrapolation (≤30×)",
    "speculative (>30×)",
)
"""Trust tiers, most to least trusted, named after the distance at which each normally applies."""

NEAR_RATIO, FAR_RATIO = 3.0, 30.0
"""Distance thresholds (target scale / largest fitted scale) between the tiers."""

ERROR_THRESHOLD_PCT = 2.0
"""A backtest MAPE above this (in % of loss) at a similar distance tightens the tier one step."""


class BacktestError(ValueError):
    """The runs cannot be split at this cutoff into a fittable training set and a held-out set."""


@dataclass(frozen=True)
class HeldOutRun:
    """The forecast for one run above the cutoff, against what it actually reached."""

    run: str
    scale: float
    """The run's value of the split column ``x`` (FLOPs for compute, count for params/tokens)."""
    extrapolation_ratio: float
    """``scale`` / largest ``scale`` among the training runs (> 1: beyond the fitted range)."""
    predicted: float
    """Forecast loss (nats, or the metric's units)."""
    observed: float
    error: float
    """predicted − observed (loss units): positive = the forecast was pessimistic."""
    relative_error_pct: float
    """100·(predicted − observed)/observed."""
    compute_factor: float | None
    """k such that the fitted law at k× the run's scale predicts the observed loss; k > 1: the run
    did better than forecast. None when no k within [1e-6, 1e6] exists (``factor_out_of_range``)."""
    factor_out_of_range: int
    """0 when ``compute_factor`` was found; +1 when the run did better than the law reaches even at
    1e6× scale (e.g. below the fitted floor); −1 when it did worse than the law at 1e-6× scale."""

    @property
    def log10_compute_factor(self) -> float | None:
        """log10 k (positive: better than forecast); None when out of range."""
        return None if self.compute_factor is None else float(np.log10(self.compute_factor))

    def to_json(self) -> dict:
        return {
            "run": self.run,
            "scale": self.scale,
            "extrapolation_ratio": self.extrapolation_ratio,
            "predicted": self.predicted,
            "observed": self.observed,
            "error": self.error,
            "relative_error_pct": self.relative_error_pct,
            "compute_factor": self.compute_factor,
            "log10_compute_factor": self.log10_compute_factor,
            "factor_out_of_range": self.factor_out_of_range,
        }


@dataclass(frozen=True)
class Backtest:
    """One fit-below / predict-above experiment and its error summary."""

    law: str
    x: str
    """The split column (and, for one-resource laws, the fitted resource)."""
    cutoff: float
    """Runs with ``x`` ≤ cutoff were fitted (units of ``x``)."""
    max_train_scale: float
    """Largest ``x`` among the training runs (the reference of ``extrapolation_ratio``)."""
    n_train: int
    fit: FitResult
    held_out: tuple[HeldOutRun, ...]
    mape_pct: float
    """Mean absolute relative error over held-out runs (% of observed loss)."""
    max_abs_error_pct: float
    """Largest absolute relative error (%)."""
    mean_error_pct: float
    """Mean signed relative error (%): > 0 means forecasts were pessimistic on average."""
    median_compute_factor: float | None
    """Median k over held-out runs (out-of-range runs count as ±∞); None if the median is one."""
    max_extrapolation_ratio: float

    @property
    def n_test(self) -> int:
        return len(self.held_out)

    def to_json(self) -> dict:
        return {
            "law": self.law,
            "x": self.x,
            "cutoff": self.cutoff,
            "max_train_scale": self.max_train_scale,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "fit_params": dict(self.fit.params),
            "fit_warnings": list(self.fit.warnings),
            "held_out": [h.to_json() for h in self.held_out],
            "mape_pct": self.mape_pct,
            "max_abs_error_pct": self.max_abs_error_pct,
            "mean_error_pct": self.mean_error_pct,
            "median_compute_factor": self.median_compute_factor,
            "max_extrapolation_ratio": self.max_extrapolation_ratio,
        }


def _resolve(law: Law | str) -> Law:
    return get_law(law) if isinstance(law, str) else law


def _scaled(law: Law, X: Inputs, log_k: np.ndarray) -> Inputs:
    """Inputs of one run (arrays (1,)) at k× its scale, for each ``log_k`` (m,) → arrays (m,)."""
    if is_joint(law):
        half = np.exp(0.5 * log_k)
        return {"N": X["N"][0] * half, "D": X["D"][0] * half}
    return {"x": X["x"][0] * np.exp(log_k)}


def compute_equivalent_factor(
    law: Law, params: dict[str, float], X: Inputs, observed: float
) -> tuple[float | None, int]:
    """The factor k at which ``law`` (fitted ``params``) predicts ``observed`` for one run.

    ``X`` holds the run's inputs as arrays of shape (1,). One-resource laws scale x by k; joint
    laws scale N and D by √k each (so C = 6·N·D scales by k). Returns ``(k, 0)``, or
    ``(None, ±1)`` when no k in [1/FACTOR_LIMIT, FACTOR_LIMIT] matches: +1 when the observed loss
    is lower than the law predicts anywhere in that range, −1 when it is higher.

    The root nearest k = 1 is taken (laws that are not monotone may have several).
    """
    theta = law.from_public(params)
    target = np.log(observed)
    limit = np.log(FACTOR_LIMIT)
    grid = np.linspace(-limit, limit, _FACTOR_GRID)

    def gap(log_k: np.ndarray) -> np.ndarray:
        return law.log_predict(theta, log_inputs(_scaled(law, X, log_k))) - target

    values = gap(grid)
    finite = np.isfinite(values)
    sign = np.sign(values)
    crossings = np.flatnonzero(finite[:-1] & finite[1:] & (sign[:-1] * sign[1:] <= 0))
    if crossings.size == 0:
        if not finite.any():
            return None, 0
        # The law stays above (or below) the observed loss over the whole range.
        above = float(np.nanmedian(np.where(finite, values, np.nan))) > 0
        return None, 1 if above else -1
    mids = 0.5 * (grid[crossings] + grid[crossings + 1])
    i = crossings[int(np.argmin(np.abs(mids)))]
    lo, hi = grid[i], grid[i + 1]
    if values[i] == 0:
        return float(np.exp(lo)), 0
    if values[i + 1] == 0:
        return float(np.exp(hi)), 0
    root = brentq(lambda u: float(gap(np.array([u]))[0]), lo, hi, xtol=1e-12)
    return float(np.exp(root)), 0


def _signed_log10(h: HeldOutRun) -> float:
    return (
        h.log10_compute_factor if h.compute_factor is not None else h.factor_out_of_range * np.inf
    )


def _median_factor(held: list[HeldOutRun]) -> float | None:
    # Out-of-range runs count as ±∞ (better / worse than any factor in range); unknowns drop out.
    logs = np.array(
        [
            _signed_log10(h)
            for h in held
            if h.compute_factor is not None or h.factor_out_of_range != 0
        ],
        dtype=float,
    )
    if logs.size == 0:
        return None
    if np.all(np.isfinite(logs)):
        med = float(np.median(logs))
    else:  # an order statistic: no arithmetic on infinities
        med = float(np.percentile(logs, 50, method="inverted_cdf"))
    return float(10.0**med) if np.isfinite(med) else None


def backtest(
    law: Law | str,
    runs: RunTable,
    x: str = "compute",
    *,
    cutoff: float,
    objective: str | None = None,
) -> Backtest:
    """Fit ``law`` to the runs with ``x`` ≤ ``cutoff`` and score its forecasts of the rest.

    ``x`` is the split column (one of params, tokens, compute) and, for one-resource laws, the
    resource fitted; joint laws always fit N and D. ``objective`` defaults to the law's own.
    Raises :class:`BacktestError` when fewer than ``law.n_params + 1`` runs lie at or below the
    cutoff, when none lie above it, or when the training runs cannot be fitted.
    """
    law = _resolve(law)
    scale = runs.resource(x)
    if not np.isfinite(cutoff):
        raise BacktestError(f"the cutoff must be a finite number, got {cutoff!r}")
    train = scale <= cutoff
    n_train, n_test = int(train.sum()), int((~train).sum())
    needed = law.n_params + 1
    if n_train < needed:
        raise BacktestError(
            f"only {n_train} run(s) have {x} ≤ {cutoff:.3g}; law {law.name!r} has "
            f"{law.n_params} parameters, so the backtest needs at least {needed} runs below the "
            "cutoff"
        )
    if n_test == 0:
        raise BacktestError(
            f"no run has {x} above the cutoff {cutoff:.3g} (largest is {scale.max():.3g}): "
            "nothing is held out to check the forecast against"
        )
    train_runs, test_runs = runs.subset(train), runs.subset(~train)
    try:
        fit = fit_law(
            law,
            law_inputs(law, train_runs, x),
            train_runs.loss,
            objective=objective or law.default_objective,
        )
    except FitInputError as exc:
        raise BacktestError(f"the runs below the cutoff cannot be fitted: {exc}") from exc

    X_test = law_inputs(law, test_runs, x)
    predicted = law.predict(fit.params, X_test)
    max_train = float(scale[train].max())
    test_scale = scale[~train]
    held = []
    for i in np.argsort(test_scale, kind="stable"):
        obs, pred = float(test_runs.loss[i]), float(predicted[i])
        one = {k: v[i : i + 1] for k, v in X_test.items()}
        k, out = compute_equivalent_factor(law, fit.params, one, obs)
        held.append(
            HeldOutRun(
                run=str(test_runs.run[i]),
                scale=float(test_scale[i]),
                extrapolation_ratio=float(test_scale[i] / max_train),
                predicted=pred,
                observed=obs,
                error=pred - obs,
                relative_error_pct=100.0 * (pred - obs) / obs,
                compute_factor=k,
                factor_out_of_range=out,
            )
        )
    pct = np.array([h.relative_error_pct for h in held])
    return Backtest(
        law=law.name,
        x=x,
        cutoff=float(cutoff),
        max_train_scale=max_train,
        n_train=n_train,
        fit=fit,
        held_out=tuple(held),
        mape_pct=float(np.mean(np.abs(pct))),
        max_abs_error_pct=float(np.max(np.abs(pct))),
        mean_error_pct=float(np.mean(pct)),
        median_compute_factor=_median_factor(held),
        max_extrapolation_ratio=float(test_scale.max() / max_train),
    )


def backtest_law(runs: RunTable) -> Law:
    """The law a default backtest uses: the Chinchilla joint law when the runs vary both N and
    D (so it is identifiable), else a power law with floor on the backtest's resource."""
    joint = np.unique(runs.params).size > 1 and np.unique(runs.tokens).size > 1
    return get_law("chinchilla" if joint else "power")


def leave_largest_out_curve(
    law: Law | str,
    runs: RunTable,
    x: str = "compute",
    min_train_fraction: float = 0.5,
    n_cutoffs: int = 6,
    objective: str | None = None,
) -> list[Backtest]:
    """Backtests with the cutoff moving over the upper part of the ``x`` range.

    Cutoffs are the ``x`` values of runs at quantiles from ``min_train_fraction`` up to the
    second-largest run (so every cutoff is an observed value and at least one run is held out);
    duplicates are merged. Each backtest's held-out runs carry their extrapolation ratio, so the
    UI can plot error against distance. Cutoffs whose training set is too small are skipped;
    raises :class:`BacktestError` when none is usable.
    """
    law = _resolve(law)
    if not 0.0 < min_train_fraction < 1.0:
        raise BacktestError(f"min_train_fraction must be in (0, 1), got {min_train_fraction!r}")
    if n_cutoffs < 1:
        raise BacktestError(f"n_cutoffs must be at least 1, got {n_cutoffs!r}")
    scale = runs.resource(x)
    n = scale.size
    if n < 2:
        raise BacktestError(f"{n} run(s): a backtest needs runs to fit and runs to hold out")
    top = (n - 2) / (n - 1)
    qs = np.linspace(min(min_train_fraction, top), top, n_cutoffs)
    cutoffs = np.unique(np.quantile(scale, qs, method="lower"))
    cutoffs = cutoffs[cutoffs < scale.max()]
    out, reasons = [], []
    for c in cutoffs:
        try:
            out.append(backtest(law, runs, x, cutoff=float(c), objective=objective))
        except BacktestError as exc:
            reasons.append(str(exc))
    if not out:
        detail = reasons[0] if reasons else "no cutoff below the largest run"
        raise BacktestError(f"no usable cutoff for a leave-largest-out curve: {detail}")
    return out


def backtest_error_at(
    backtests: list[Backtest], extrapolation_ratio: float, window: float = 3.0
) -> float | None:
    """Mean absolute % error of held-out runs whose extrapolation ratio lies within a factor
    ``window`` of ``extrapolation_ratio`` — "how wrong were backtests at a similar distance".

    None when no held-out run is that close (the backtests say nothing about that distance).
    """
    if extrapolation_ratio <= 0 or window < 1:
        raise ValueError("extrapolation_ratio must be positive and window at least 1")
    errors = [
        abs(h.relative_error_pct)
        for b in backtests
        for h in b.held_out
        if extrapolation_ratio / window <= h.extrapolation_ratio <= extrapolation_ratio * window
    ]
    return float(np.mean(errors)) if errors else None


def trust_level(
    extrapolation_ratio: float,
    backtest_error_pct: float | None = None,
    error_threshold_pct: float = ERROR_THRESHOLD_PCT,
) -> int:
    """Trust tier index 0 (most trusted) … 3 of a forecast; see :func:`trust_label`."""
    if not (np.isfinite(extrapolation_ratio) and extrapolation_ratio > 0):
        raise ValueError(
            f"extrapolation_ratio must be a positive number, got {extrapolation_ratio!r}"
        )
    if extrapolation_ratio <= 1.0:
        level = 0
    elif extrapolation_ratio <= NEAR_RATIO:
        level = 1
    elif extrapolation_ratio <= FAR_RATIO:
        level = 2
    else:
        level = 3
    if (
        backtest_error_pct is not None
        and np.isfinite(backtest_error_pct)
        and abs(backtest_error_pct) > error_threshold_pct
    ):
        level = min(level + 1, len(TRUST_LABELS) - 1)
    return level


def trust_label(
    extrapolation_ratio: float,
    backtest_error_pct: float | None = None,
    error_threshold_pct: float = ERROR_THRESHOLD_PCT,
) -> str:
    """A short trust label for a forecast at ``extrapolation_ratio`` = target scale / largest
    fitted scale.

    Rule: by distance alone, ratio ≤ 1 → "interpolation"; ≤ 3× → "near extrapolation (≤3×)";
    ≤ 30× → "far extrapolation (≤30×)"; beyond → "speculative (>30×)". When a backtest at a
    similar distance (see :func:`backtest_error_at`) missed by more than ``error_threshold_pct``
    (default 2% of loss, mean absolute), the forecast is moved **one tier down** (less trusted;
    "speculative" stays speculative): the data have already shown that the law misses at that
    distance. The tiers are named after the distance at which they normally apply, so a tightened
    interpolation reads "near extrapolation (≤3×)" — trust it as you would a 3× extrapolation.
    The label is never raised by a good backtest: a few held-out runs cannot vouch for more.
    """
    return TRUST_LABELS[trust_level(extrapolation_ratio, backtest_error_pct, error_threshold_pct)]


def trust_sentence(
    extrapolation_ratio: float,
    backtest_error_pct: float | None = None,
    resource: str = "compute",
    error_threshold_pct: float = ERROR_THRESHOLD_PCT,
) -> str:
    """:func:`trust_label` with its numbers, e.g. "The target is 12× the largest fitted compute
    (far extrapolation (≤30×)); backtests at a similar distance missed by 3.1% on average, more
    than 2%, so treat it as speculative (>30×)."""
    base = trust_level(extrapolation_ratio, None, error_threshold_pct)
    final = trust_level(extrapolation_ratio, backtest_error_pct, error_threshold_pct)
    if extrapolation_ratio <= 1.0:
        where = f"The target lies within the fitted {resource} range ({TRUST_LABELS[base]})"
    else:
        where = (
            f"The target is {extrapolation_ratio:.3g}× the largest fitted {resource} "
            f"({TRUST_LABELS[base]})"
        )
    if backtest_error_pct is None or not np.isfinite(backtest_error_pct):
        return (
            f"{where}; no backtest reaches a similar distance: the label rests on distance alone."
        )
    err = abs(backtest_error_pct)
    if final > base:
        return (
            f"{where}; backtests at a similar distance missed by {err:.2g}% on average, more than "
            f"{error_threshold_pct:g}%, so treat it as {TRUST_LABELS[final]}."
        )
    return f"{where}; backtests at a similar distance missed by {err:.2g}% on average."


__all__ = [
    "Backtest",
    "BacktestError",
    "HeldOutRun",
    "backtest",
    "backtest_error_at",
    "compute_equivalent_factor",
    "leave_largest_out_curve",
    "trust_label",
    "trust_level",
    "trust_sentence",
]
