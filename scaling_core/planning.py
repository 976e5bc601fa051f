"""Real-world questions on top of a fitted joint law: target loss, inference, repeated data.

- :func:`budget_for_loss` — the inverse question: the smallest compute whose optimum reaches L.
- :func:`inference_aware` — Sardana et al. (2023): minimise training + lifetime inference FLOPs,
  ``6·N·D + 2·N·D_inf``, subject to reaching a target loss. Expected inference pushes to smaller
  models trained on more tokens per parameter.
- :func:`data_constrained` — Muennighoff et al. (2023): with U unique tokens repeated, effective
  data ``D' = U + U·R*·(1 − exp(−R/R*))`` where R = D/U − 1 repetitions beyond the first epoch
  and R* ≈ 15.4. About 4 epochs are nearly as good as new data; far more are nearly worthless.

All functions take a law and its public parameters; intervals come from calling them on
bootstrap samples (see :func:`over_samples`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from scaling_core.allocation import optimal_allocation
from scaling_core.laws import Law, log_inputs
from scaling_core.schema import FLOPS_PER_PARAM_TOKEN

R_STAR_DATA = 15.4
"""Muennighoff et al. (2023): the repetition half-life of data (fitted)."""

INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0
"""Forward pass only: ≈ 2·N FLOPs per generated or processed token."""


class PlanningError(ValueError):
    """A planning question with no answer for this law (e.g. a loss below the floor)."""


def _loss(law: Law, params: dict[str, float], n: np.ndarray, d: np.ndarray) -> np.ndarray:
    return np.exp(law.log_predict(law.from_public(params), log_inputs({"N": n, "D": d})))


def budget_for_loss(law: Law, params: dict[str, float], target_loss: float) -> float:
    """Smallest compute C (FLOPs) whose compute-optimal model reaches ``target_loss``.

    The optimal loss falls monotonically with C, so a bracketing root search in log C is exact.
    """
    floor = law.floor(params)
    if floor is not None and target_loss <= floor:
        raise PlanningError(
            f"loss {target_loss:g} is at or below the fitted irreducible loss {floor:.4g}: "
            "no budget reaches it"
        )

    def gap(log_c: float) -> float:
        return optimal_allocation(law, params, float(np.exp(log_c))).loss_opt - target_loss

    lo, hi = np.log(1e10), np.log(1e40)
    if gap(lo) <= 0:
        return float(np.exp(lo))
    if gap(hi) > 0:
        raise PlanningError(f"loss {target_loss:g} is not reached below 1e40 FLOPs")
    return float(np.exp(optimize.brentq(gap, lo, hi, xtol=1e-12, rtol=1e-12)))


@dataclass(frozen=True)
class InferencePlan:
    """Inference-aware sizing: the model that reaches ``target_loss`` at least total cost."""

    target_loss: float
    inference_tokens: float
    params: float
    tokens: float
    training_flops: float
    inference_flops: float
    compute_optimal_params: float
    compute_optimal_tokens: float
    compute_optimal_total_flops: float

    @property
    def total_flops(self) -> float:
        return self.training_flops + self.inference_flops

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params

    @property
    def saving(self) -> float:
        """Fraction of total (training + inference) FLOPs saved versus the compute-optimal model."""
        return 1.0 - self.total_flops / self.compute_optimal_total_flops

    def to_json(self) -> dict[str, float]:
        return {
            "target_loss": self.target_loss,
            "inference_tokens": self.inference_tokens,
            "params": self.params,
            "tokens": self.tokens,
            "tokens_per_param": self.tokens_per_param,
            "training_flops": self.training_flops,
            "inference_flops": self.inference_flops,
            "total_flops": self.total_flops,
            "compute_optimal_total_flops": self.compute_optimal_total_flops,
            "saving": self.saving,
        }


def tokens_for_loss(law: Law, params: dict[str, float], n: float, target: float) -> float:
    """Training tokens a model of ``n`` parameters needs to reach ``target`` loss (inf if never).

    Closed form for the Chinchilla law, D = (B / (L − E − A/N^α))^(1/β); a root search in
    log D otherwise (every joint law here falls monotonically in D).
    """
    if law.name == "chinchilla":
        room = target - params["E"] - params["A"] * n ** -params["alpha"]
        return float((params["B"] / room) ** (1.0 / params["beta"])) if room > 0 else float("inf")

    def gap(log_d: float) -> float:
        return float(_loss(law, params, np.array([n]), np.array([np.exp(log_d)]))[0]) - target

    lo, hi = np.log(1.0), np.log(1e20)
    if gap(hi) > 0:
        return float("inf")
    if gap(lo) <= 0:
        return 1.0
    return float(np.exp(optimize.brentq(gap, lo, hi, xtol=1e-12, rtol=1e-12)))


def inference_aware(
    law: Law,
    params: dict[str, float],
    compute: float,
    inference_tokens: float,
    target_loss: float | None = None,
) -> InferencePlan:
    """Minimise 6·N·D + 2·N·D_inf over N, with D chosen so the model reaches the target loss.

    The target defaults to the loss the compute-optimal model at ``compute`` reaches.
    """
    if not (np.isfinite(inference_tokens) and inference_tokens >= 0):
        raise PlanningError(f"inference tokens must be 0 or more, got {inference_tokens!r}")
    base = optimal_allocation(law, params, compute)
    target = base.loss_opt if target_loss is None else float(target_loss)

    def total(log_n: float) -> float:
        n = float(np.exp(log_n))
        d = tokens_for_loss(law, params, n, target)
        if not np.isfinite(d):
            return 1e300
        return (
            FLOPS_PER_PARAM_TOKEN * n * d + INFERENCE_FLOPS_PER_PARAM_TOKEN * n * inference_tokens
        )

    # The smallest feasible N is where the model alone (D → ∞) just reaches the target.
    grid = np.linspace(np.log(base.params_opt) - 9.0, np.log(base.params_opt) + 4.0, 131)
    values = np.array([total(v) for v in grid])
    if not np.isfinite(values).any() or values.min() >= 1e300:
        raise PlanningError(f"no model size reaches loss {target:g}")
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = optimize.minimize_scalar(
        total, bounds=(lo, hi), method="bounded", options={"xatol": 1e-9}
    )
    n = float(np.exp(res.x))
    d = tokens_for_loss(law, params, n, target)
    n_co = base.params_opt if target_loss is None else None
    if n_co is None:  # the compute-optimal model for a chosen target: the budget that reaches it
        co = optimal_allocation(law, params, budget_for_loss(law, params, target))
        n_co, d_co = co.params_opt, co.tokens_opt
    else:
        d_co = base.tokens_opt
    co_total = FLOPS_PER_PARAM_TOKEN * n_co * d_co + INFERENCE_FLOPS_PER_PARAM_TOKEN * n_co * (
        inference_tokens
    )
    return InferencePlan(
        target_loss=target,
        inference_tokens=float(inference_tokens),
        params=n,
        tokens=d,
        training_flops=FLOPS_PER_PARAM_TOKEN * n * d,
        inference_flops=INFERENCE_FLOPS_PER_PARAM_TOKEN * n * inference_tokens,
        compute_optimal_params=n_co,
        compute_optimal_tokens=d_co,
        compute_optimal_total_flops=co_total,
    )


def effective_data(
    tokens: float | np.ndarray, unique_tokens: float, r_star: float = R_STAR_DATA
) -> float | np.ndarray:
    """Effective tokens D' when ``tokens`` are drawn from ``unique_tokens`` by repetition.

    D' = U + U·R*·(1 − exp(−R/R*)), R = D/U − 1 repetitions beyond the first epoch (R ≥ 0);
    no repetition (D ≤ U) means D' = D.
    """
    if not (unique_tokens > 0 and r_star > 0):
        raise PlanningError("unique tokens and R* must be positive")
    tokens = np.asarray(tokens, dtype=float)
    repeats = np.maximum(tokens / unique_tokens - 1.0, 0.0)
    repeated = unique_tokens + unique_tokens * r_star * (1.0 - np.exp(-repeats / r_star))
    out = np.where(tokens <= unique_tokens, tokens, repeated)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class DataConstrainedPlan:
    """The budget's plan when only ``unique_tokens`` of fresh data exist."""

    unique_tokens: float
    r_star: float
    tokens: float
    """D* of the unconstrained plan (tokens seen)."""
    epochs: float
    """D*/U: passes over the unique data."""
    effective_tokens: float
    loss_unconstrained: float
    loss_repeated: float
    """Loss of the unconstrained (N*, D*) when its data are repeats: L(N*, D')."""
    best_params: float
    """N minimising L(N, D'(C/6N)) under the data limit."""
    best_tokens: float
    best_loss: float

    @property
    def exceeds_unique(self) -> bool:
        return self.tokens > self.unique_tokens

    @property
    def loss_penalty(self) -> float:
        return self.loss_repeated - self.loss_unconstrained

    def to_json(self) -> dict[str, float | bool]:
        return {
            "unique_tokens": self.unique_tokens,
            "r_star": self.r_star,
            "epochs": self.epochs,
            "effective_tokens": self.effective_tokens,
            "loss_penalty": self.loss_penalty,
            "exceeds_unique": self.exceeds_unique,
            "best_params": self.best_params,
            "best_tokens": self.best_tokens,
            "best_loss": self.best_loss,
        }


def data_constrained(
    law: Law,
    params: dict[str, float],
    compute: float,
    unique_tokens: float,
    r_star: float = R_STAR_DATA,
) -> DataConstrainedPlan:
    """Epochs needed, the loss penalty of repeating, and the best N under the data limit."""
    base = optimal_allocation(law, params, compute)
    d_eff = float(effective_data(base.tokens_opt, unique_tokens, r_star))
    repeated = float(_loss(law, params, np.array([base.params_opt]), np.array([d_eff]))[0])
    log_c6 = np.log(compute / FLOPS_PER_PARAM_TOKEN)

    def constrained_loss(log_n: float) -> float:
        d = np.exp(log_c6 - log_n)
        d_eff_n = effective_data(d, unique_tokens, r_star)
        return float(_loss(law, params, np.array([np.exp(log_n)]), np.array([d_eff_n]))[0])

    grid = np.linspace(np.log(base.params_opt) - 6.0, np.log(base.params_opt) + 6.0, 241)
    grid = grid[grid < log_c6]
    i = int(np.argmin([constrained_loss(v) for v in grid]))
    res = optimize.minimize_scalar(
        constrained_loss,
        bounds=(grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]),
        method="bounded",
        options={"xatol": 1e-9},
    )
    best_n = float(np.exp(res.x))
    return DataConstrainedPlan(
        unique_tokens=float(unique_tokens),
        r_star=float(r_star),
        tokens=base.tokens_opt,
        epochs=base.tokens_opt / unique_tokens,
        effective_tokens=d_eff,
        loss_unconstrained=base.loss_opt,
        loss_repeated=repeated,
        best_params=best_n,
        best_tokens=float(np.exp(log_c6) / best_n),
        best_loss=float(res.fun),
    )


def over_samples(
    law: Law, samples: list[dict[str, float]], question: Callable[[dict[str, float]], float]
) -> np.ndarray:
    """``question(params)`` for every bootstrap sample; NaN where it has no answer."""
    out = np.full(len(samples), np.nan)
    for i, params in enumerate(samples):
        try:
            out[i] = question(params)
        except (PlanningError, ValueError, FloatingPointError):
            continue
    return out
