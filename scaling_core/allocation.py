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
from scipy import optimize

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


def _numeric_optimum(law: Law, theta: np.ndarray, compute: float) -> tuple[float, float, float]:
    """Minimise log L̂ along D = C/(6N) over log N (bounded, 1-D)."""
    log_c6 = np.log(compute / FLOPS_PER_PARAM_TOKEN)

    def log_loss(log_n: float) -> float:
        U = {"N": np.array([log_n]), "D": np.array([log_c6 - log_n])}
        return float(law.log_predict(theta, U)[0])

    # Scan first (the isoFLOP curve can be flat at the ends), then refine around the best cell.
    grid = np.linspace(np.log(1e3), log_c6 - np.log(1e3), 241)
    values = [log_loss(v) for v in grid]
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = optimize.minimize_scalar(
        log_loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10}
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
        rows = [_numeric_optimum(law, theta, compute) for theta in boot.thetas]
        n, d, loss = (np.array(col) for col in zip(*rows, strict=True))
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
