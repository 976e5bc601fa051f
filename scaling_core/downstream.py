"""Downstream metrics: the loss → metric map and a two-step forecast at a compute budget.

Why two steps: task metrics (accuracy, scores) scale far less predictably with compute than the
log-loss does, but they track the loss through a saturating map. So the forecast goes
compute → loss (the joint law's compute-optimal loss) → metric (a sigmoid of the loss). Each
step has its own uncertainty; the interval combines both by pairing bootstrap samples of each
step, and is therefore wider than either — which is the honest answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaling_core.allocation import allocation_samples, optimal_allocation
from scaling_core.fitting import FitInputError, FitResult, fit_law
from scaling_core.laws import Law, get_law, log_inputs
from scaling_core.uncertainty import BootstrapResult, bootstrap_fit, percentile_interval

CAVEAT = (
    "Downstream metrics scale less predictably than loss (they can saturate or jump): this "
    "forecast chains two fits, compute → loss → metric, and its interval combines the "
    "uncertainty of both, so it is wider than the loss forecast's."
)
MIN_POINTS = 6
"""The sigmoid has four parameters; fewer usable runs leave it undetermined."""


@dataclass(frozen=True)
class LossToMetric:
    """The fitted map metric = lo + (hi − lo)·σ(k·log(loss/x0)) over the runs with a metric."""

    fit: FitResult
    boot: BootstrapResult | None
    loss: np.ndarray
    metric: np.ndarray
    n_left_out: int
    """Runs without a usable metric value (missing, or ≤ 0 which a log-scale fit cannot use)."""

    def predict(self, loss: np.ndarray) -> np.ndarray:
        return get_law("sigmoid").predict(self.fit.params, {"x": np.asarray(loss, float)})

    def band(self, loss: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray] | None:
        """Pointwise bootstrap band of the map over ``loss`` values."""
        if self.boot is None:
            return None
        law = get_law("sigmoid")
        values = np.exp(law.log_predict(self.boot.thetas, log_inputs({"x": np.asarray(loss)})))
        tail = 50.0 * (1.0 - level)
        low, high = np.percentile(values, [tail, 100.0 - tail], axis=0)
        return low, high


def fit_loss_to_metric(
    loss: np.ndarray, metric: np.ndarray, n_resamples: int = 200, seed: int = 0
) -> LossToMetric:
    """Fit the saturating sigmoid of the metric against the loss (least squares on the metric).

    Raises :class:`FitInputError` with fewer than :data:`MIN_POINTS` runs that carry a
    positive metric.
    """
    loss = np.asarray(loss, dtype=float)
    metric = np.asarray(metric, dtype=float)
    usable = np.isfinite(metric) & (metric > 0) & np.isfinite(loss) & (loss > 0)
    if int(usable.sum()) < MIN_POINTS:
        raise FitInputError(
            f"only {int(usable.sum())} runs carry a positive downstream metric; the loss → "
            f"metric map needs at least {MIN_POINTS}"
        )
    law = get_law("sigmoid")
    X = {"x": loss[usable]}
    fit = fit_law(law, X, metric[usable])
    boot = bootstrap_fit(law, X, metric[usable], fit, n_resamples=n_resamples, seed=seed)
    return LossToMetric(fit, boot, loss[usable], metric[usable], int((~usable).sum()))


@dataclass(frozen=True)
class DownstreamForecast:
    """The metric forecast at one budget, and the loss it goes through."""

    compute: float
    loss: float
    loss_interval: tuple[float, float] | None
    metric: float
    metric_interval: tuple[float, float] | None
    caveat: str = CAVEAT

    def to_json(self) -> dict:
        return {
            "compute": self.compute,
            "loss": self.loss,
            "loss_interval": list(self.loss_interval) if self.loss_interval else None,
            "metric": self.metric,
            "metric_interval": list(self.metric_interval) if self.metric_interval else None,
            "caveat": self.caveat,
        }


def two_step_forecast(
    law: Law,
    params: dict[str, float],
    joint_boot: BootstrapResult | None,
    mapping: LossToMetric,
    compute: float,
    level: float = 0.95,
) -> DownstreamForecast:
    """Metric at ``compute`` FLOPs: the compute-optimal loss of the joint law, through the map.

    Bootstrap samples of the two steps are paired in order (both are seeded resamples of their
    own runs), so each pair is one plausible world; the interval is over those worlds.
    """
    loss = optimal_allocation(law, params, compute).loss_opt
    metric = float(mapping.predict(np.array([loss]))[0])
    if joint_boot is None or mapping.boot is None:
        return DownstreamForecast(compute, loss, None, metric, None)
    losses = allocation_samples(law, joint_boot, compute)["loss_opt"]
    sigmoid = get_law("sigmoid")
    m = min(losses.size, mapping.boot.thetas.shape[0])
    # Row b of the map's samples evaluated at row b's loss: inputs shaped (m, 1).
    worlds = np.exp(
        sigmoid.log_predict(mapping.boot.thetas[:m], {"x": np.log(losses[:m])[:, None]})
    )[:, 0]
    return DownstreamForecast(
        compute,
        loss,
        percentile_interval(losses, level),
        metric,
        percentile_interval(worlds, level),
    )
