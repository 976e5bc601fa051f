"""Honest uncertainty: a nonparametric bootstrap over runs, and a fast delta-method preview.

Why a bootstrap over runs: the points of a scaling study are runs, and their errors are neither
Gaussian nor independent of scale; resampling runs makes no such assumption (Besiroglu et al. 2024
report the original Chinchilla intervals as implausibly narrow). Why also a delta-method band:
it is instant, so the page can draw a band at once and label it approximate while the bootstrap
runs. All resamples are refitted together by :func:`batched_lbfgs`, warm-started at the full-data
optimum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

from scaling_core.batch_optimize import batched_lbfgs
from scaling_core.fitting import FitResult, _box
from scaling_core.laws import Inputs, Law, log_inputs
from scaling_core.objectives import FitData, get_objective
from scaling_core.threads import single_threaded_blas

DEFAULT_RESAMPLES = 1000
CHUNK = 250
"""Resamples refitted per batch; the progress callback fires after each."""


@dataclass(frozen=True)
class BootstrapResult:
    """Refits of the law to resamples of the runs. ``thetas`` are internal vectors (B, p)."""

    law: str
    n_resamples: int
    seed: int
    thetas: np.ndarray = field(repr=False)
    params: dict[str, np.ndarray] = field(repr=False)
    """Public parameter samples: name → (B,) array."""
    n_failed: int
    """Resamples whose refit did not converge (excluded from ``thetas``)."""

    def intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Percentile interval of each public parameter."""
        return {name: percentile_interval(v, level) for name, v in self.params.items()}


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Central percentile interval of finite ``samples``; (nan, nan) when there are none."""
    finite = np.asarray(samples, float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return (float(low), float(high))


@single_threaded_blas
def bootstrap_fit(
    law: Law,
    X: Inputs,
    y: np.ndarray,
    fit: FitResult,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    weights: np.ndarray | None = None,
    progress: Callable[[float], None] | None = None,
) -> BootstrapResult:
    """Refit ``law`` to ``n_resamples`` resamples of the runs (with replacement), seeded.

    Each resample uses the same objective and δ as ``fit`` and starts from ``fit``'s optimum.
    ``progress`` receives the fraction done (0–1) after each chunk.
    """
    if n_resamples < 1:
        raise ValueError(f"the bootstrap needs at least 1 resample, got {n_resamples}")
    objective = get_objective(fit.objective_name, fit.delta)
    X = {k: np.asarray(v, dtype=float) for k, v in X.items() if k in law.inputs}
    data = FitData.build(X, y, weights)
    n = data.y.size
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n, size=(n_resamples, n))
    lower, upper = _box(law, objective)
    start = np.asarray(fit.theta)
    thetas, ok = [], []
    for first in range(0, n_resamples, CHUNK):
        chunk = data.take(indices[first : first + CHUNK])

        def objective_rows(theta: np.ndarray, rows: np.ndarray, chunk: FitData = chunk):
            return objective.value_and_grad(law, theta, chunk.rows(rows))

        result = batched_lbfgs(objective_rows, np.tile(start, (chunk.y.shape[0], 1)), lower, upper)
        thetas.append(result.x)
        ok.append(result.converged & np.isfinite(result.fun))
        if progress is not None:
            progress(min(1.0, (first + CHUNK) / n_resamples))
    all_thetas = np.concatenate(thetas)
    good = np.concatenate(ok)
    kept = all_thetas[good]
    core = kept[:, : law.n_params]
    public = [law.to_public(t) for t in core]
    params = {name: np.array([p[name] for p in public]) for name in law.param_names}
    return BootstrapResult(
        law=law.name,
        n_resamples=n_resamples,
        seed=seed,
        thetas=core,
        params=params,
        n_failed=int((~good).sum()),
    )


def bootstrap_band(
    law: Law, boot: BootstrapResult, X_grid: Inputs, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise percentile band of the predicted metric over ``X_grid`` (m,) → (low, high)."""
    log_pred = law.log_predict(boot.thetas, log_inputs(X_grid))  # (B, m)
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(np.exp(log_pred), [tail, 100.0 - tail], axis=0)
    return low, high


def delta_method_band(
    law: Law, fit: FitResult, X_grid: Inputs, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray] | None:
    """Approximate band from the Gauss–Newton covariance: exp(log L̂ ± z·√(J Σ Jᵀ)).

    Approximate because it linearises the law and assumes Gaussian residuals; None when the fit
    has no covariance.
    """
    if fit.covariance is None:
        return None
    theta = fit.law_theta
    U = log_inputs(X_grid)
    log_pred = law.log_predict(theta, U)
    jac = law.log_jacobian(theta, U)
    var = np.einsum("mp,pq,mq->m", jac, fit.covariance, jac)
    z = ndtri(0.5 + level / 2.0)
    half = z * np.sqrt(np.maximum(var, 0.0))
    return np.exp(log_pred - half), np.exp(log_pred + half)
