"""Compute-optimal allocation: given C FLOPs, the N and D that minimise the fitted loss.

With C ≈ 6·N·D and the joint law L = E + A/N^α + B/D^β, the optimum has a closed form
(Hoffmann et al. 2022, Appendix D.2):

    N*(C) = G·(C/6)^(β/(α+β)),   D*(C) = G⁻¹·(C/6)^(α/(α+β)),   G = (α·A / (β·B))^(1/(α+β)).

Other joint laws (Kaplan) are solved numerically along the isoFLOP line. Every function is
vectorised over parameter samples so bootstrap intervals cost one array pass, not a refit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaling_core.laws import Law, is_joint, log_inputs
from scaling_core.schema import FLOPS_PER_PARAM_TOKEN
from scaling_core.uncertainty import BootstrapResult, percentile_interval


@dataclass(frozen=True)
class Allocation:
    """The compute-optimal point at one budget."""

    compute: float
    """Training budget C (FLOPs)."""
    params_opt: float
    """N* (parameters)."""
    tokens_opt: float
    """D* (tokens)."""
    tokens_per_param: float
    """D*/N* (tokens per parameter; ≈20 for Chinchilla)."""
    loss_opt: float
    """Predicted loss at (N*, D*) (units of the fitted metric)."""

    def to_json(self) -> dict[str, float]:
        return {
            "compute": self.compute,
            "params_opt": self.params_opt,
            "tokens_opt": self.tokens_opt,
            "tokens_per_param": self.tokens_per_param,
            "loss_opt": self.loss_opt,
        }


def _require_joint(law: Law) -> None:
    if not is_joint(law):
        raise ValueError(
            f"law {law.name!r} takes one resource; compute-optimal allocation needs a joint "
            "law of N and D (chinchilla or kaplan)"
        )


def _require_budget(compute: float) -> None:
    if not (np.isfinite(compute) and compute > 0):
        raise ValueError(f"the compute budget must be a positive number of FLOPs, got {compute!r}")


def chinchilla_optimum_arrays(
    E: np.ndarray,
    A: np.ndarray,
    B: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    compute: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form (N*, D*, L*) at budget ``compute`` for arrays of Chinchilla parameters."""
    s = alpha + beta
    log_g = (np.log(alpha * A) - np.log(beta * B)) / s
    log_c6 = np.log(compute / FLOPS_PER_PARAM_TOKEN)
    n_opt = np.exp(log_g + (beta / s) * log_c6)
    d_opt = np.exp(-log_g + (alpha / s) * log_c6)
    loss = E + A * n_opt**-alpha + B * d_opt**-beta
    return n_opt, d_opt, loss


NUMERIC_GRID = 2001
"""Points of the isoFLOP scan in log N (1e3 params to C/6/1e3 tokens) for non-closed-form laws."""


def _numeric_optima(
    law: Law, thetas: np.ndarray, compute: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimum along D = C/(6N) for each row of ``thetas`` (B, p): a scan in log N refined by
    the vertex of the parabola through the best three points (vectorised over samples)."""
    log_c6 = np.log(compute / FLOPS_PER_PARAM_TOKEN)
    grid = np.linspace(np.log(1e3), log_c6 - np.log(1e3), NUMERIC_GRID)
    values = law.log_predict(np.atleast_2d(thetas), {"N": grid, "D": log_c6 - grid})
    i = np.clip(np.argmin(values, axis=1), 1, grid.size - 2)
    rows = np.arange(values.shape[0])
    y0, y1, y2 = values[rows, i - 1], values[rows, i], values[rows, i + 1]
    h = grid[1] - grid[0]
    curvature = y0 - 2 * y1 + y2
    shift = np.where(curvature > 0, 0.5 * h * (y0 - y2) / np.where(curvature > 0, curvature, 1), 0)
    log_n = grid[i] + np.clip(shift, -h, h)
    n = np.exp(log_n)
    d = np.exp(log_c6 - log_n)
    # One (N, D) per sample: inputs shaped (B, 1) pair row b of thetas with point b.
    at_optimum = {"N": log_n[:, None], "D": (log_c6 - log_n)[:, None]}
    loss = np.exp(law.log_predict(np.atleast_2d(thetas), at_optimum))[:, 0]
    return n, d, loss


def _numeric_optimum(law: Law, theta: np.ndarray, compute: float) -> tuple[float, float, float]:
    """One optimum to full precision: the vectorised scan, then a bounded 1-D refinement."""
    log_c6 = np.log(compute / FLOPS_PER_PARAM_TOKEN)
    n0 = float(_numeric_optima(law, theta[None, :], compute)[0][0])
    step = (log_c6 - 2 * np.log(1e3)) / (NUMERIC_GRID - 1)

    def log_loss(log_n: float) -> float:
        U = {"N": np.array([log_n]), "D": np.array([log_c6 - log_n])}
        return float(law.log_predict(theta, U)[0])

    from scipy import optimize  # only non-closed-form laws need it; keep it off the CLI's path

    res = optimize.minimize_scalar(
        log_loss,
        bounds=(np.log(n0) - 2 * step, np.log(n0) + 2 * step),
        method="bounded",
        options={"xatol": 1e-10},
    )
    log_n = float(res.x)
    return float(np.exp(log_n)), float(np.exp(log_c6 - log_n)), float(np.exp(res.fun))


def optimal_allocation(law: Law, params: dict[str, float], compute: float) -> Allocation:
    """N*, D*, D*/N* and L* at ``compute`` FLOPs for a fitted joint law."""
    _require_joint(law)
    _require_budget(compute)
    if law.name == "chinchilla":
        n, d, loss = (
            float(v)
            for v in chinchilla_optimum_arrays(
                params["E"], params["A"], params["B"], params["alpha"], params["beta"], compute
            )
        )
    else:
        n, d, loss = _numeric_optimum(law, law.from_public(params), compute)
    return Allocation(
        compute=compute, params_opt=n, tokens_opt=d, tokens_per_param=d / n, loss_opt=loss
    )


def allocation_samples(law: Law, boot: BootstrapResult, compute: float) -> dict[str, np.ndarray]:
    """N*, D*, D*/N*, L* for every bootstrap sample: name → (B,) array."""
    _require_joint(law)
    _require_budget(compute)
    if law.name == "chinchilla":
        p = boot.params
        n, d, loss = chinchilla_optimum_arrays(
            p["E"], p["A"], p["B"], p["alpha"], p["beta"], compute
        )
    else:
        n, d, loss = _numeric_optima(law, boot.thetas, compute)
    return {"params_opt": n, "tokens_opt": d, "tokens_per_param": d / n, "loss_opt": loss}


def allocation_intervals(
    law: Law, boot: BootstrapResult, compute: float, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of N*, D*, D*/N*, L* (and the exponents a, b for Chinchilla)."""
    samples = allocation_samples(law, boot, compute)
    if law.name == "chinchilla":
        samples.update(exponent_samples(boot))
    return {name: percentile_interval(v, level) for name, v in samples.items()}


def allocation_exponents(params: dict[str, float]) -> dict[str, float]:
    """N* ∝ C^a and D* ∝ C^b with a = β/(α+β), b = α/(α+β) (Chinchilla law)."""
    s = params["alpha"] + params["beta"]
    return {"a": params["beta"] / s, "b": params["alpha"] / s}


def exponent_samples(boot: BootstrapResult) -> dict[str, np.ndarray]:
    """The exponents a and b for every bootstrap sample of a Chinchilla fit."""
    s = boot.params["alpha"] + boot.params["beta"]
    return {"a": boot.params["beta"] / s, "b": boot.params["alpha"] / s}


def isoflop_curve(
    law: Law, params: dict[str, float], compute: float, n_values: np.ndarray
) -> np.ndarray:
    """Predicted loss along the isoFLOP line D = C/(6N) at each N in ``n_values``."""
    _require_joint(law)
    n_values = np.asarray(n_values, float)
    d_values = compute / (FLOPS_PER_PARAM_TOKEN * n_values)
    return np.exp(
        law.log_predict(law.from_public(params), log_inputs({"N": n_values, "D": d_values}))
    )
