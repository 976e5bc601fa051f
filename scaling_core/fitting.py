"""Robust multi-start fitting of a law to data → a frozen :class:`FitResult`.

The method, and why:
1. Score the law's whole initialisation grid (the 4,500-point Epoch AI grid for the joint law) in
   one vectorised pass — no optimisation yet. This costs milliseconds.
2. Polish only the most promising distinct starts with L-BFGS-B and the *analytic* gradient, with
   tight tolerances. The plain method (L-BFGS-B with numerical gradients from every grid point)
   spends minutes mostly re-finding the same few optima.
3. Report how many polished starts reached the best objective and whether the distinct local
   optima disagree on the extrapolation (the "(Mis)Fitting" paper's concern).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import stdtr

from scaling_core.batch_optimize import BatchResult, batched_lbfgs, batched_levenberg_marquardt
from scaling_core.laws import Inputs, Law, is_joint, log_inputs
from scaling_core.objectives import DEFAULT_DELTA, FitData, Objective, get_objective
from scaling_core.schema import RunTable
from scaling_core.threads import single_threaded_blas

N_POLISHED_STARTS = 16
"""How many grid points at least go to the first (batched) pass."""

MAX_BASIN_STARTS = 32
"""At most this many exponent cells each send their best start to the first pass."""

SAME_OPTIMUM_RTOL = 1e-6
"""Two starts whose least-squares optima agree this closely (relative) share a basin."""

EXTRAPOLATION_FACTOR = 10.0
"""Local optima are compared on their prediction at 10× the largest observed inputs."""

DISAGREEMENT_TOLERANCE = 0.01
"""Relative spread of extrapolations (1%) above which near-optimal fits are said to disagree."""

NEAR_OPTIMAL_RTOL = 0.05
"""A local optimum within 5% of the best objective is a plausible alternative fit."""


class FitInputError(ValueError):
    """The data cannot be fitted by this law; ``str()`` says which column/rows and why."""


@dataclass(frozen=True)
class LocalOptimum:
    """A distinct optimum the polished starts reached."""

    params: dict[str, float]
    objective: float
    n_starts: int
    """How many polished starts ended here."""
    extrapolation: float
    """Predicted metric at 10× the largest observed inputs."""


@dataclass(frozen=True)
class Heteroscedasticity:
    """Spearman correlation of |residual| with the fitted value: a trend means unequal noise."""

    rho: float
    p_value: float
    meaningful: bool = True
    """False when the residuals are at rounding level (a perfect fit has no noise to judge)."""

    @property
    def detected(self) -> bool:
        return bool(self.p_value < 0.01 and abs(self.rho) > 0.2 and self.meaningful)


@dataclass(frozen=True)
class FitResult:
    """The outcome of :func:`fit_law`. Public parameters in the law's units (see ``Law.public``)."""

    law: str
    params: dict[str, float]
    theta: tuple[float, ...]
    """Internal (log-space) parameter vector; includes log-scale σ for the likelihood objective."""
    objective_name: str
    delta: float
    objective: float
    converged: bool
    n_points: int
    residuals: np.ndarray = field(repr=False)
    """Log residuals log y − log ŷ, shape (n,), in the input order."""
    r2_log: float
    """R² of log y explained by the fit."""
    residual_mean: float
    residual_std: float
    heteroscedasticity: Heteroscedasticity
    n_grid: int
    """Size of the initialisation grid scored."""
    n_polished: int
    n_at_best: int
    """First-pass starts whose basin polished to the best optimum."""
    local_optima: tuple[LocalOptimum, ...]
    warnings: tuple[str, ...]
    n_elsewhere: int = 0
    """First-pass starts in basins that scored too poorly to be polished (not in local_optima);
    ``sum(o.n_starts for o in local_optima) + n_elsewhere == n_polished``."""
    covariance: np.ndarray | None = field(default=None, repr=False)
    """Approximate covariance of the internal law parameters (Gauss–Newton on log residuals)."""
    scale: float | None = None
    """Fitted residual scale e^σ of the Huber likelihood, else None."""

    @property
    def law_theta(self) -> np.ndarray:
        """Internal law parameters only (without the likelihood's σ)."""
        return np.asarray(self.theta[: len(self.theta) - (self.scale is not None)])

    def to_json(self) -> dict:
        """The public JSON shape (keys are a contract of the CLI)."""
        return {
            "law": self.law,
            "objective_name": self.objective_name,
            "params": self.params,
            "n_points": self.n_points,
            "objective": self.objective,
            "converged": self.converged,
            "r2_log": self.r2_log,
            "residual_mean": self.residual_mean,
            "residual_std": self.residual_std,
            "heteroscedasticity": {
                "spearman_rho": self.heteroscedasticity.rho,
                "p_value": self.heteroscedasticity.p_value,
                "detected": self.heteroscedasticity.detected,
            },
            "starts": {
                "grid": self.n_grid,
                "polished": self.n_polished,
                "reached_best": self.n_at_best,
                "in_unpolished_basins": self.n_elsewhere,
            },
            "local_optima": [
                {
                    "params": o.params,
                    "objective": o.objective,
                    "n_starts": o.n_starts,
                    "extrapolation_10x": o.extrapolation,
                }
                for o in self.local_optima
            ],
            "scale": self.scale,
            "warnings": list(self.warnings),
        }


def law_inputs(law: Law, runs: RunTable, x: str = "compute") -> Inputs:
    """The arrays a law consumes from a run table: N and D for joint laws, else resource ``x``."""
    if is_joint(law):
        return {"N": runs.params, "D": runs.tokens}
    return {"x": runs.resource(x)}


# ---------------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------------

_INPUT_LABELS = {"N": "params", "D": "tokens", "x": "the scale variable"}


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i + 1) for i in idx[:limit])
    more = f" and {idx.size - limit} more" if idx.size > limit else ""
    return f"run{'s' if idx.size > 1 else ''} {shown}{more}"


def _validate_weights(weights: np.ndarray | None, n: int, needed: int) -> None:
    """Weights scale each point's term: finite, non-negative, one per point, enough non-zero."""
    if weights is None:
        return
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise FitInputError(f"weights have shape {w.shape}; expected one weight per point ({n},)")
    bad = ~np.isfinite(w)
    if bad.any():
        raise FitInputError(f"weights are NaN or infinite at {_rows(bad)}; expected finite numbers")
    negative = w < 0
    if negative.any():
        raise FitInputError(f"weights are negative at {_rows(negative)}; expected 0 or more")
    if int(np.sum(w > 0)) < needed:
        raise FitInputError(
            f"only {int(np.sum(w > 0))} points have a positive weight; at least {needed} are "
            "needed for this law"
        )


def validate_fit_input(
    law: Law, X: Inputs, y: np.ndarray, weights: np.ndarray | None = None
) -> None:
    """Raise :class:`FitInputError` with a precise message if the data cannot be fitted."""
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise FitInputError(f"loss has shape {y.shape}; expected a 1-D array of values")
    n = y.shape[0]
    missing = [k for k in law.inputs if k not in X]
    if missing:
        raise FitInputError(f"law {law.name!r} needs inputs {', '.join(missing)}")
    columns = [("loss", y)] + [
        (_INPUT_LABELS.get(k, k), np.asarray(X[k], float)) for k in law.inputs
    ]
    for label, col in columns:
        if col.shape != (n,):
            raise FitInputError(f"{label} has {col.shape[0]} values but loss has {n}")
        bad = ~np.isfinite(col)
        if bad.any():
            raise FitInputError(
                f"{label} is NaN or infinite at {_rows(bad)}; expected finite numbers"
            )
        nonpos = col <= 0
        if nonpos.any():
            raise FitInputError(
                f"{label} is zero or negative at {_rows(nonpos)}; expected positive values "
                "(scaling laws live on log axes)"
            )
    needed = law.n_params + 1
    _validate_weights(weights, n, needed)
    if n < needed:
        raise FitInputError(
            f"{n} points are too few for law {law.name!r}: it has {law.n_params} parameters, "
            f"so at least {needed} points are needed"
        )
    if np.ptp(y) == 0:
        raise FitInputError(
            f"every loss equals {y[0]:g}: a flat series carries no scaling information"
        )
    if is_joint(law):
        ratio = np.log(np.asarray(X["D"], float)) - np.log(np.asarray(X["N"], float))
        if np.unique(X["N"]).size > 1 and np.ptp(ratio) < 1e-6:
            raise FitInputError(
                f"every run uses the same tokens per parameter ({np.exp(ratio[0]):.3g}): "
                "with D proportional to N the joint law cannot tell the parameter term from the "
                "data term; it needs runs at different tokens-per-parameter ratios"
            )
        for key in ("N", "D"):
            if np.unique(X[key]).size < 2:
                raise FitInputError(
                    f"all runs share one value of {_INPUT_LABELS[key]} ({X[key][0]:.3g}); "
                    f"the joint law needs at least two distinct {_INPUT_LABELS[key]} values"
                )
    elif np.unique(X["x"]).size < 2:
        raise FitInputError("all runs share one value of the scale variable; nothing to fit")


# ---------------------------------------------------------------------------------------------
# Optimisation
# ---------------------------------------------------------------------------------------------


def _bounds(law: Law, objective: Objective) -> list[tuple[float | None, float | None]]:
    return law.bounds() + [(-25.0, 5.0)] * objective.extra_params


def _box(law: Law, objective: Objective) -> tuple[np.ndarray, np.ndarray]:
    """The bounds as two arrays (lower, upper), ±inf where a side is open."""
    bounds = _bounds(law, objective)
    lower = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
    upper = np.array([b[1] if b[1] is not None else np.inf for b in bounds])
    return lower, upper


POLISHED_BASINS = 3
"""The best basins of the first pass that get the tight polish on the real objective."""

SCORING_POINTS = 32
"""The grid is ranked on at most this many points spread over the loss range (a cheap pass)."""


@dataclass(frozen=True)
class Optimum:
    """One optimiser run's end point: internal vector, objective value, whether it converged."""

    x: np.ndarray
    fun: float
    success: bool
    message: str


def polish(law: Law, objective: Objective, data: FitData, starts: np.ndarray) -> list[Optimum]:
    """L-BFGS from each row of ``starts`` (k, p) at once, on the real objective with the
    analytic gradient, to the limits of float64 (relative stall 1e-15, projected gradient 1e-11).

    The core's own batched, bound-aware L-BFGS rather than scipy's: it reaches the same optimum,
    polishes several basins for the price of one, and keeps scipy.optimize (a third of the CLI's
    start-up) off the fit path.
    """
    lower, upper = _box(law, objective)
    result = batched_lbfgs(
        lambda theta, rows: objective.value_and_grad(law, theta, data),
        np.atleast_2d(np.asarray(starts, dtype=float)),
        lower,
        upper,
        max_iter=5000,
        ftol=1e-15,
        gtol=1e-11,
    )
    return [
        Optimum(x, float(f), bool(c), "tight L-BFGS")
        for x, f, c in zip(result.x, result.fun, result.converged, strict=True)
    ]


def _ls_residuals(law: Law, objective: Objective, data: FitData):
    """θ (B, p) → (√w·residuals (B, n), their Jacobian (B, n, p)) for least squares in the
    objective's space (log, or linear for ``ls_linear``)."""
    root_w = np.sqrt(data.weights)
    linear = objective.name == "ls_linear"

    def residuals(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_pred, jac = law.log_predict_and_jacobian(theta, data.U)
        if linear:
            pred = np.exp(log_pred)
            return root_w * (data.y - pred), -(root_w * pred)[..., None] * jac
        return root_w * (data.log_y - log_pred), -root_w[:, None] * jac

    return residuals


def least_squares_polish(law: Law, objective: Objective, data: FitData, result: Optimum) -> Optimum:
    """A Gauss–Newton (Levenberg–Marquardt) finish where the objective is a sum of squares.

    Why: near a well-fitting optimum the Huber objective is quadratic (every residual inside
    ±δ) and least squares always is. There L-BFGS crawls along flat valleys — e.g. a data term
    B/D^β that is tiny over the observed design — and stops at an objective far above the
    optimum. Gauss–Newton uses the curvature the Jacobian gives for free and converges in a few
    steps. The result is kept only if it lowers the objective.
    """
    if objective.name == "huber_likelihood":
        return result
    theta = np.asarray(result.x, dtype=float)
    r = objective.residuals(law, theta, data)
    if objective.name == "huber_log" and np.max(np.abs(r)) > objective.delta:
        return result  # not in the quadratic regime: Gauss-Newton would solve another problem
    lower, upper = _box(law, objective)
    fitted = batched_levenberg_marquardt(
        _ls_residuals(law, objective, data), theta[None, :], lower, upper, max_iter=200,
        rtol=1e-15,
    )  # fmt: skip
    value = float(objective.value_and_grad(law, fitted.x[0], data)[0])
    if not np.isfinite(value) or value >= result.fun:
        return result
    return Optimum(fitted.x[0], value, True, "least-squares polish")


def _initial_scale(law: Law, objective: Objective, data: FitData, theta: np.ndarray) -> float:
    """log σ that minimises the Huber NLL for fixed law parameters (golden-section search)."""
    r = objective.residuals(law, theta, data)
    scale0 = max(float(np.median(np.abs(r))) * 1.4826, 1e-8)

    def nll(sigma: float) -> float:
        value, _ = objective.value_and_grad(law, np.append(theta, sigma), data)
        return float(value)

    lo, hi = np.log(scale0) - 8.0, min(np.log(scale0) + 8.0, 5.0)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fc, fd = nll(c), nll(d)
    for _ in range(80):  # the bracket shrinks by 0.618 per step: 80 steps reach ~1e-16 of it
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - ratio * (hi - lo)
            fc = nll(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + ratio * (hi - lo)
            fd = nll(d)
    return float((lo + hi) / 2.0)


def _best_starts(law: Law, objective: Objective, data: FitData, k: int) -> tuple[np.ndarray, int]:
    grid = law.initial_grid(data.X, data.y)
    grid = np.clip(grid, *_box(law, Objective("huber_log")))
    score_objective = objective if objective.extra_params == 0 else Objective("huber_log")
    if data.y.size > SCORING_POINTS:
        picks = np.argsort(data.y, kind="stable")[
            np.linspace(0, data.y.size - 1, SCORING_POINTS).astype(int)
        ]
        data = data.take(picks)
    values = score_objective.batch_values(law, grid, data)
    order = np.argsort(values, kind="stable")
    finite = order[np.isfinite(values[order])]
    if finite.size == 0:
        finite = order
    return grid[_diverse(law, grid, finite, k)], grid.shape[0]


def _diverse(law: Law, grid: np.ndarray, ranked: np.ndarray, k: int) -> np.ndarray:
    """Start indices: the best-scoring start of every distinct combination of grid exponents
    (up to :data:`MAX_BASIN_STARTS`), then the best remaining starts up to ``k``.

    Why: basins are set mostly by the exponents. The k best-scoring grid points can all share
    one exponent cell and one wrong basin (seen on noise-free Chinchilla data with a small data
    term), so every exponent cell sends its best start to the first pass.
    """
    keys = np.round(grid[:, list(law.exponent_indices)], 6)
    chosen: list[int] = []
    seen: set[tuple[float, ...]] = set()
    for i in ranked:
        key = tuple(keys[i])
        if key not in seen:
            seen.add(key)
            chosen.append(int(i))
            if len(chosen) == MAX_BASIN_STARTS:
                break
    rest = [int(i) for i in ranked if int(i) not in set(chosen)]
    return np.array(chosen + rest[: max(k - len(chosen), 0)], dtype=int)


def _extrapolate(law: Law, theta: np.ndarray, X: Inputs) -> float:
    far = {k: np.array([np.max(v) * EXTRAPOLATION_FACTOR]) for k, v in X.items()}
    return float(np.exp(law.log_predict(theta, log_inputs(far)))[0])


def _first_pass(
    law: Law, objective: Objective, data: FitData, starts: np.ndarray
) -> tuple[BatchResult, np.ndarray]:
    """Least squares from every start at once (batched Levenberg–Marquardt), and a basin label
    per start: starts whose least-squares optima agree to 1e-6 (relative) share a basin.

    Why least squares first: it converges in tens of Gauss–Newton iterations where L-BFGS on the
    Huber objective needs hundreds, and the basins of the two objectives coincide on data a law
    describes; the real objective then polishes the best basins (see :func:`fit_law`).
    """
    lower, upper = _box(law, Objective("huber_log"))
    residuals = _ls_residuals(law, objective, data)
    first = batched_levenberg_marquardt(residuals, starts, lower, upper)
    order = np.argsort(first.fun, kind="stable")
    basins = np.empty(first.fun.size, dtype=int)
    label, anchor = -1, None
    for i in order:
        if anchor is None or abs(first.fun[i] - anchor) > SAME_OPTIMUM_RTOL * max(
            abs(anchor), 1e-300
        ):
            label, anchor = label + 1, first.fun[i]
        basins[i] = label
    return first, basins


def spearman(a: np.ndarray, b: np.ndarray) -> Heteroscedasticity:
    """Spearman rank correlation with its two-sided t-approximation p-value.

    Written here rather than imported from scipy.stats, whose import alone costs about a second
    of every CLI call.
    """
    n = a.size
    if n < 4 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return Heteroscedasticity(rho=0.0, p_value=1.0)
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    rho = float(np.corrcoef(ra, rb)[0, 1])
    if abs(rho) >= 1.0:
        return Heteroscedasticity(rho=rho, p_value=0.0)
    t = rho * np.sqrt((n - 2) / (1.0 - rho * rho))
    return Heteroscedasticity(rho=rho, p_value=float(2.0 * stdtr(n - 2, -abs(t))))


def _approx_covariance(
    law: Law, theta: np.ndarray, data: FitData, r: np.ndarray
) -> np.ndarray | None:
    """Gauss–Newton covariance s²(JᵀJ)⁻¹ of the internal parameters — a fast approximation."""
    jac = law.log_jacobian(theta, data.U)
    dof = max(r.size - theta.size, 1)
    s2 = float(r @ r) / dof
    try:
        return s2 * np.linalg.pinv(jac.T @ jac)
    except np.linalg.LinAlgError:
        return None


def _on_bound(law: Law, theta: np.ndarray) -> list[str]:
    names = []
    for name, value, (lo, hi) in zip(law.internal_names, theta, law.bounds(), strict=True):
        for edge in (lo, hi):
            if edge is not None and abs(value - edge) <= 1e-6 * max(1.0, abs(edge)):
                names.append(name)
    return names


def _warnings(
    law: Law,
    theta: np.ndarray,
    data: FitData,
    r2: float,
    resid: np.ndarray,
    hetero: Heteroscedasticity,
    optima: list[LocalOptimum],
    converged: bool,
) -> list[str]:
    from scaling_core.regimes import saturated_mask  # late import: regimes builds on laws only

    out = []
    n, p = resid.size, law.n_params
    if not converged:
        out.append("The optimiser stopped before converging; treat the parameters as approximate.")
    for name in _on_bound(law, theta):
        out.append(
            f"Parameter {name} sits on its bound: the data do not pin it down, and intervals "
            "involving it are unreliable."
        )
    if n < 3 * p:
        out.append(
            f"Only {n} points for {p} parameters: the fit is barely determined; "
            "intervals will be wide and extrapolations fragile."
        )
    if r2 < 0.9:
        out.append(f"Poor fit: the law explains only {100 * r2:.1f}% of the variance of log loss.")
    se = resid.std(ddof=1) / np.sqrt(n) if n > 1 else np.inf
    if abs(resid.mean()) > 3 * se and abs(resid.mean()) > 1e-3:
        out.append(
            f"Residuals are biased (mean {resid.mean():+.4f} in log loss): a robust objective "
            "ignores outliers, but a systematic offset can bias the exponents."
        )
    if hetero.detected:
        out.append(
            f"Residuals are heteroscedastic (Spearman ρ = {hetero.rho:+.2f} between |residual| and "
            "the fitted loss): the noise level changes with scale, which can bias exponents."
        )
    sat = saturated_mask(law, law.to_public(theta), data.X)
    if sat.any():
        out.append(
            f"{int(sat.sum())} of {n} points sit within 5% of the irreducible floor (saturated): "
            "they carry little information about the exponent."
        )
    best = optima[0]
    rivals = [
        o for o in optima[1:] if o.objective <= best.objective * (1 + NEAR_OPTIMAL_RTOL) + 1e-12
    ]
    if rivals:
        spread = max(abs(o.extrapolation - best.extrapolation) for o in rivals)
        if spread > DISAGREEMENT_TOLERANCE * abs(best.extrapolation):
            out.append(
                f"{len(rivals)} other local optimum(s) fit almost as well (objective within "
                f"{100 * NEAR_OPTIMAL_RTOL:.0f}%) but extrapolate differently at 10× scale "
                f"(up to {100 * spread / abs(best.extrapolation):.1f}% apart): the data do not "
                "identify the law well."
            )
    return out


@single_threaded_blas
def fit_law(
    law: Law,
    X: Inputs,
    y: np.ndarray,
    objective: str = "huber_log",
    delta: float = DEFAULT_DELTA,
    weights: np.ndarray | None = None,
    n_starts: int = N_POLISHED_STARTS,
) -> FitResult:
    """Fit ``law`` to metric ``y`` (shape (n,)) at inputs ``X``, robustly and reproducibly.

    ``objective`` is a key of :data:`scaling_core.objectives.OBJECTIVES`; ``weights`` (n,) scale
    each point's term. Raises :class:`FitInputError` for data that cannot be fitted.
    """
    obj = get_objective(objective, delta)
    X = {k: np.asarray(v, dtype=float) for k, v in X.items() if k in law.inputs}
    validate_fit_input(law, X, y, weights)
    data = FitData.build(X, y, weights)
    starts, n_grid = _best_starts(law, obj, data, n_starts)
    first, basins = _first_pass(law, obj, data, starts)
    # Tight polish, on the real objective, of the best few basins (ranked by that objective).
    score = obj if obj.extra_params == 0 else Objective("huber_log", obj.delta)
    representatives = [int(np.flatnonzero(basins == b)[0]) for b in np.unique(basins)]
    ranked = sorted(
        representatives, key=lambda i: float(score.batch_values(law, first.x[i : i + 1], data)[0])
    )[:POLISHED_BASINS]
    starts0 = np.array([first.x[i] for i in ranked])
    if obj.extra_params:
        scales = [_initial_scale(law, obj, data, theta0) for theta0 in starts0]
        starts0 = np.column_stack([starts0, scales])
    polished = [
        (i, least_squares_polish(law, obj, data, optimum))
        for i, optimum in zip(ranked, polish(law, obj, data, starts0), strict=True)
    ]
    _, best = min(polished, key=lambda item: item[1].fun)
    theta = np.asarray(best.x)
    core = theta[: law.n_params]
    if not np.all(np.isfinite(core)) or not np.isfinite(best.fun):
        raise FitInputError(f"law {law.name!r} could not be fitted: every start diverged")
    # Basins whose polished optima coincide are one optimum: merge them, adding their starts.
    merged: list[tuple[Optimum, int]] = []
    for i, res in sorted(polished, key=lambda item: item[1].fun):
        count = int(np.sum(basins == basins[i]))
        for k, (kept, n_kept) in enumerate(merged):
            if abs(res.fun - kept.fun) <= SAME_OPTIMUM_RTOL * max(abs(kept.fun), 1e-300):
                merged[k] = (kept, n_kept + count)
                break
        else:
            merged.append((res, count))
    optima = [
        LocalOptimum(
            params=law.to_public(np.asarray(res.x)[: law.n_params]),
            objective=float(res.fun),
            n_starts=count,
            extrapolation=_extrapolate(law, np.asarray(res.x)[: law.n_params], X),
        )
        for res, count in merged
    ]
    n_at_best = merged[0][1]
    results = first.x

    log_pred = law.log_predict(core, data.U)
    log_resid = data.log_y - log_pred
    ss_tot = float(np.sum((data.log_y - data.log_y.mean()) ** 2))
    r2 = 1.0 - float(log_resid @ log_resid) / ss_tot if ss_tot > 0 else 0.0
    hetero = spearman(np.abs(log_resid), log_pred)
    if float(np.max(np.abs(log_resid))) < 1e-9:  # rounding noise of an exact fit
        hetero = Heteroscedasticity(rho=hetero.rho, p_value=hetero.p_value, meaningful=False)
    converged = bool(best.success)
    warnings = _warnings(law, core, data, r2, log_resid, hetero, optima, converged)
    return FitResult(
        law=law.name,
        params=law.to_public(core),
        theta=tuple(float(v) for v in theta),
        objective_name=obj.name,
        delta=obj.delta,
        objective=float(best.fun),
        converged=converged,
        n_points=int(data.y.size),
        residuals=log_resid,
        r2_log=r2,
        residual_mean=float(log_resid.mean()),
        residual_std=float(log_resid.std(ddof=1)),
        heteroscedasticity=hetero,
        n_grid=n_grid,
        n_polished=len(results),  # starts in the first pass
        n_at_best=n_at_best,
        local_optima=tuple(optima),
        n_elsewhere=int(len(results) - sum(o.n_starts for o in optima)),
        warnings=tuple(warnings),
        covariance=_approx_covariance(law, core, data, log_resid),
        scale=float(np.exp(theta[law.n_params])) if obj.extra_params else None,
    )
