"""A vectorised, box-projected L-BFGS that optimises many independent problems in lock step.

Why: a bootstrap refits the same law to 1,000 resamples. Each fit is small (a few hundred points,
five parameters), so a per-fit ``scipy.optimize.minimize`` loop is dominated by Python overhead,
not arithmetic. Stacking the resamples as rows of ``(B, n)`` arrays turns 1,000 small fits into one
sequence of array operations. Problems that have converged are frozen and stop costing anything.

The algorithm is textbook L-BFGS (Nocedal & Wright, Alg. 7.4 two-loop recursion) with box bounds
handled by an active set — variables on a bound whose gradient points outward are held fixed and
the direction is computed in the free ones — and a projected backtracking Armijo line search;
curvature pairs with sᵀy ≤ 0 are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MAX_MOVE = 2.0
"""Largest change of any parameter in one trial step (internal units: logs and exponents)."""

MAX_BACKTRACKS = 16
"""Step shrinks per iteration: three halvings, then tenfold cuts (down to ~1e-16 of the step)."""

BatchFunction = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``f(theta (b, p), rows (b,) int) -> (values (b,), gradients (b, p))`` for the given rows."""


@dataclass(frozen=True)
class BatchResult:
    """Solutions ``x`` (B, p), objective values ``fun`` (B,), and which converged (B,)."""

    x: np.ndarray
    fun: np.ndarray
    converged: np.ndarray
    iterations: int


def _two_loop(grad: np.ndarray, s_hist: list, y_hist: list, rho_hist: list) -> np.ndarray:
    """L-BFGS direction −H·g for each row, from the stored pairs (lists of (b, p) / (b,))."""
    q = grad.copy()
    alphas = []
    for s, y, rho in zip(reversed(s_hist), reversed(y_hist), reversed(rho_hist), strict=True):
        a = rho * np.sum(s * q, axis=1)
        q -= a[:, None] * y
        alphas.append(a)
    if s_hist:
        s, y = s_hist[-1], y_hist[-1]
        yy = np.sum(y * y, axis=1)
        gamma = np.where(yy > 0, np.sum(s * y, axis=1) / np.where(yy > 0, yy, 1.0), 1.0)
        q *= gamma[:, None]
    for s, y, rho, a in zip(s_hist, y_hist, rho_hist, reversed(alphas), strict=True):
        b = rho * np.sum(y * q, axis=1)
        q += (a - b)[:, None] * s
    return -q


def batched_lbfgs(
    fun: BatchFunction,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    max_iter: int = 1000,
    memory: int = 12,
    ftol: float = 1e-13,
    gtol: float = 1e-10,
) -> BatchResult:
    """Minimise B independent problems from starts ``x0`` (B, p) within ``[lower, upper]`` (p,).

    A row converges when its relative decrease stays under ``ftol`` for three iterations in a
    row, or its projected gradient's max-norm falls under ``gtol``.
    """
    x = np.clip(np.array(x0, dtype=float), lower, upper)
    n_rows = x.shape[0]
    all_rows = np.arange(n_rows)
    f, g = fun(x, all_rows)
    active = np.isfinite(f)
    converged = np.zeros(n_rows, dtype=bool)
    quiet = np.zeros(n_rows, dtype=int)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    rho_hist: list[np.ndarray] = []
    # History is kept for all rows; rows that leave the active set simply stop updating.
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - reported in the result
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        if rows.size == n_rows:  # every row still active: no copies of the history
            hs, hy, hr = s_hist, y_hist, rho_hist
        else:
            hs = [h[rows] for h in s_hist]
            hy = [h[rows] for h in y_hist]
            hr = [h[rows] for h in rho_hist]
        # Active set: a variable on a bound whose gradient pushes outward stays fixed; the
        # quasi-Newton direction is taken in the free variables only (projected L-BFGS).
        xr, gr = x[rows], g[rows]
        fixed = ((xr <= lower) & (gr > 0)) | ((xr >= upper) & (gr < 0))
        g_free = np.where(fixed, 0.0, gr)
        direction = np.where(fixed, 0.0, _two_loop(g_free, hs, hy, hr))
        slope = np.sum(direction * gr, axis=1)
        uphill = slope >= 0
        direction[uphill] = -g_free[uphill]  # reset to steepest descent on the free variables

        # Unit steps, except that no parameter moves more than MAX_MOVE at once: the first
        # (steepest-descent) directions are unscaled and would otherwise cost many halvings.
        step = np.minimum(1.0, MAX_MOVE / np.maximum(np.max(np.abs(direction), axis=1), 1e-300))
        x_new = np.empty((rows.size, x.shape[1]))
        f_new = np.full(rows.size, np.inf)
        g_new = np.zeros((rows.size, x.shape[1]))
        pending = np.ones(rows.size, dtype=bool)
        for attempt in range(MAX_BACKTRACKS):  # shrink the step until Armijo holds
            # A row whose step no longer moves x (relative 1e-14) is at its optimum: stop it.
            size = np.max(np.abs(step[:, None] * direction), axis=1)
            pending &= size > 1e-14 * (1.0 + np.max(np.abs(x[rows]), axis=1))
            idx = np.flatnonzero(pending)
            if idx.size == 0:
                break
            trial = np.clip(x[rows[idx]] + step[idx, None] * direction[idx], lower, upper)
            ft, gt = fun(trial, rows[idx])
            moved = np.sum((trial - x[rows[idx]]) * g[rows[idx]], axis=1)
            ok = np.isfinite(ft) & (ft <= f[rows[idx]] + 1e-4 * np.minimum(moved, 0.0))
            done = idx[ok]
            x_new[done], f_new[done], g_new[done] = trial[ok], ft[ok], gt[ok]
            pending[done] = False
            step[idx[~ok]] *= 0.5 if attempt < 3 else 0.1
        failed = np.isinf(f_new)  # no acceptable step: the row is at its optimum (float precision)
        good = ~failed
        r_good = rows[good]
        s = x_new[good] - x[r_good]
        yv = g_new[good] - g[r_good]
        sy = np.sum(s * yv, axis=1)
        rel_drop = (f[r_good] - f_new[good]) / np.maximum(np.abs(f[r_good]), 1e-300)
        x[r_good], f[r_good], g[r_good] = x_new[good], f_new[good], g_new[good]

        new_s = np.zeros_like(x)
        new_y = np.zeros_like(x)
        new_rho = np.zeros(n_rows)
        curv = sy > 1e-300
        new_s[r_good[curv]] = s[curv]
        new_y[r_good[curv]] = yv[curv]
        new_rho[r_good[curv]] = 1.0 / sy[curv]
        s_hist.append(new_s)
        y_hist.append(new_y)
        rho_hist.append(new_rho)
        if len(s_hist) > memory:
            s_hist.pop(0)
            y_hist.pop(0)
            rho_hist.pop(0)

        quiet[r_good] = np.where(rel_drop < ftol, quiet[r_good] + 1, 0)
        proj = np.clip(x[rows] - g[rows], lower, upper) - x[rows]
        small_grad = np.max(np.abs(proj), axis=1) < gtol
        finished = small_grad | failed
        finished[good] |= quiet[r_good] >= 3
        converged[rows[finished]] = True
        active[rows[finished]] = False
    return BatchResult(x=x, fun=f, converged=converged, iterations=iteration)


ResidualFunction = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``f(theta (B, p)) -> (residuals (B, n), Jacobian of the residuals (B, n, p))``."""


def batched_levenberg_marquardt(
    fun: ResidualFunction,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    max_iter: int = 60,
    rtol: float = 1e-10,
) -> BatchResult:
    """Minimise ½‖r(θ)‖² for B independent rows at once (Levenberg–Marquardt, Marquardt's
    diagonal scaling, steps clipped into the box).

    Why: a least-squares first pass from many starts converges in tens of iterations where
    L-BFGS on a Huber objective needs hundreds, and every iteration is a handful of batched
    array operations (B small p×p solves). The caller polishes the winners on its own objective.
    """
    x = np.clip(np.array(x0, dtype=float), lower, upper)
    n_rows, p = x.shape
    r, jac = fun(x)
    cost = 0.5 * np.sum(r * r, axis=1)
    damping = np.full(n_rows, 1e-3)
    active = np.isfinite(cost)
    quiet = np.zeros(n_rows, dtype=int)
    eye = np.eye(p)
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - reported in the result
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        j, res = jac[rows], r[rows]
        jt = j.transpose(0, 2, 1)
        jtj = jt @ j  # batched matmul: several times faster than the equivalent einsum
        grad = (jt @ res[:, :, None])[:, :, 0]
        diag = np.diagonal(jtj, axis1=1, axis2=2)
        scale = np.maximum(diag, 1e-12 * np.maximum(diag.max(axis=1, keepdims=True), 1e-300))
        system = jtj + damping[rows, None, None] * scale[:, :, None] * eye
        try:
            step = -np.linalg.solve(system, grad[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = -grad / np.maximum(scale, 1e-300)
        trial = np.clip(x[rows] + step, lower, upper)
        r_new, jac_new = fun(trial)
        cost_new = 0.5 * np.sum(r_new * r_new, axis=1)
        better = np.isfinite(cost_new) & (cost_new < cost[rows])
        gained = np.where(better, (cost[rows] - cost_new) / np.maximum(cost[rows], 1e-300), 0.0)
        up = rows[better]
        x[up], r[up], jac[up], cost[up] = (
            trial[better],
            r_new[better],
            jac_new[better],
            (cost_new[better]),
        )
        damping[up] = np.maximum(damping[up] * 0.3, 1e-12)
        damping[rows[~better]] *= 10.0
        quiet[rows] = np.where(better & (gained < rtol), quiet[rows] + 1, 0)
        stalled = damping[rows] > 1e10
        finished = stalled | (quiet[rows] >= 2) | (cost[rows] == 0)
        active[rows[finished]] = False
    return BatchResult(x=x, fun=cost, converged=~active, iterations=iteration)
