"""Hyperparameter sweeps: the critical batch size and whether the optimal learning rate transfers.

Critical batch size (McCandlish et al. 2018; SCALING_NOTES "Critical batch size"): for one target
loss, a batch-size sweep gives the optimizer steps S and training examples E = B·S each batch size
B needed to reach it. Steps and examples trade off along

    (S/S_min − 1)·(E/E_min − 1) = 1,

which with E = B·S is ``S(B) = S_min + E_min/B`` (equivalently ``E(B) = E_min + S_min·B``).
``B_crit = E_min/S_min`` is where the trade-off turns: below it doubling the batch nearly halves
the steps; above it extra examples buy few saved steps. At B = B_crit both S and E are twice
their minima.

Learning-rate transfer (SCALING_NOTES "Learning rate"): per width, the loss-minimising LR from a
parabola in log LR around the best grid point; then the slope of log LR* against log width.
Under standard parameterisation LR* drifts (often ∝ 1/width, slope ≈ −1); under μP-style
parameterisations it transfers (slope ≈ 0). "Transfers" means the slope's interval includes 0.

Units: batch size and examples in the same unit (sequences or tokens, as logged); steps are
optimizer steps; learning rates are peak LRs; widths are model widths (d_model) or any size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.special import stdtrit

from scaling_core.uncertainty import percentile_interval


class SweepError(ValueError):
    """The sweep cannot be analysed (too few points, mismatched or non-positive values, …)."""


def _positive(name: str, values: np.ndarray | list[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise SweepError(f"{name} must be a one-dimensional array")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        raise SweepError(
            f"{name} must be positive finite numbers; entry {int(np.flatnonzero(bad)[0])} is "
            f"{arr[bad][0]!r}"
        )
    return arr


# ---------------------------------------------------------------------------------------------
# Critical batch size
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CriticalBatchSize:
    """McCandlish et al.'s fit to a batch-size sweep at one target loss."""

    b_crit: float
    """E_min/S_min, in the batch-size unit of the sweep."""
    b_crit_interval: tuple[float, float] | None
    s_min: float
    """Fewest optimizer steps that could reach the target (infinite batch)."""
    s_min_interval: tuple[float, float] | None
    e_min: float
    """Fewest training examples that could reach the target (batch → 0)."""
    e_min_interval: tuple[float, float] | None
    n_points: int
    residual_std: float
    """Std of log(S / Ŝ): the fit's relative scatter in steps."""
    level: float
    n_resamples_used: int

    def steps_at(self, batch_size: np.ndarray | float) -> np.ndarray:
        """Predicted steps S(B) = S_min + E_min/B to reach the target loss."""
        return self.s_min + self.e_min / np.asarray(batch_size, dtype=float)

    def examples_at(self, batch_size: np.ndarray | float) -> np.ndarray:
        """Predicted examples E(B) = B·S(B) = E_min + S_min·B."""
        return self.e_min + self.s_min * np.asarray(batch_size, dtype=float)

    def to_json(self) -> dict:
        def pair(v: tuple[float, float] | None) -> list[float] | None:
            return list(v) if v is not None and all(np.isfinite(v)) else None

        return {
            "b_crit": self.b_crit,
            "b_crit_interval": pair(self.b_crit_interval),
            "s_min": self.s_min,
            "s_min_interval": pair(self.s_min_interval),
            "e_min": self.e_min,
            "e_min_interval": pair(self.e_min_interval),
            "n_points": self.n_points,
            "residual_std": self.residual_std,
            "level": self.level,
            "n_resamples_used": self.n_resamples_used,
        }


def _fit_steps(b: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """(S_min, E_min) minimising Σ (log S − log(S_min + E_min/B))².

    Log residuals because step counts span orders of magnitude and their noise is relative.
    Start: linear least squares of S on (1, 1/B) weighted by 1/S, clipped positive.
    """
    design = np.column_stack([np.ones_like(b), 1.0 / b]) / s[:, None]
    coef, *_ = np.linalg.lstsq(design, np.ones_like(s), rcond=None)
    s0 = max(float(coef[0]), 1e-3 * float(s.min()))
    e0 = max(float(coef[1]), 1e-3 * float((b * s).min()))

    def resid(p: np.ndarray) -> np.ndarray:
        return np.log(s) - np.logaddexp(p[0], p[1] - np.log(b))

    res = least_squares(resid, np.log([s0, e0]), method="lm", xtol=1e-14, ftol=1e-14)
    return float(np.exp(res.x[0])), float(np.exp(res.x[1]))


def critical_batch_size(
    batch_size: np.ndarray | list[float],
    steps: np.ndarray | list[float],
    examples: np.ndarray | list[float] | None = None,
    n_resamples: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> CriticalBatchSize:
    """Fit ``S(B) = S_min + E_min/B`` to a sweep and return B_crit = E_min/S_min with intervals.

    ``batch_size`` (n,) and ``steps`` (n,): per sweep point, the batch size and the optimizer steps
    it took to reach the target loss. ``examples`` (n,), optional, must equal batch_size × steps
    (within 1%) — it is checked, not used, so mismatched units (tokens vs sequences) are caught.
    Intervals: percentile bootstrap over sweep points (``n_resamples``; 0 for none); resamples
    with fewer than two distinct batch sizes are skipped.
    """
    b = _positive("batch_size", batch_size)
    s = _positive("steps", steps)
    if s.shape != b.shape:
        raise SweepError(f"steps has {s.size} values but batch_size has {b.size}")
    if examples is not None:
        e = _positive("examples", examples)
        if e.shape != b.shape:
            raise SweepError(f"examples has {e.size} values but batch_size has {b.size}")
        if not np.allclose(e, b * s, rtol=0.01):
            raise SweepError(
                "examples must equal batch_size × steps; pass batch size in the unit examples "
                "are counted in (e.g. tokens per step if examples are tokens)"
            )
    if b.size < 3 or np.unique(b).size < 2:
        raise SweepError(
            f"{b.size} sweep point(s) at {np.unique(b).size} batch size(s): fitting S_min and "
            "E_min needs at least 3 points at 2 or more batch sizes"
        )
    if not 0 < level < 1:
        raise SweepError(f"level must be in (0, 1), got {level!r}")
    s_min, e_min = _fit_steps(b, s)
    resid = np.log(s) - np.log(s_min + e_min / b)
    samples = []
    if n_resamples > 0:
        rng = np.random.default_rng(seed)
        for idx in rng.integers(0, b.size, size=(n_resamples, b.size)):
            if np.unique(b[idx]).size < 2:
                continue
            samples.append(_fit_steps(b[idx], s[idx]))
    arr = np.array(samples).reshape(-1, 2)
    has = arr.shape[0] > 0
    return CriticalBatchSize(
        b_crit=e_min / s_min,
        b_crit_interval=percentile_interval(arr[:, 1] / arr[:, 0], level) if has else None,
        s_min=s_min,
        s_min_interval=percentile_interval(arr[:, 0], level) if has else None,
        e_min=e_min,
        e_min_interval=percentile_interval(arr[:, 1], level) if has else None,
        n_points=int(b.size),
        residual_std=float(resid.std(ddof=1)) if b.size > 2 else 0.0,
        level=level,
        n_resamples_used=int(arr.shape[0]),
    )


# ---------------------------------------------------------------------------------------------
# Learning-rate transfer across widths
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WidthOptimum:
    """The loss-minimising learning rate at one width."""

    width: float
    lr_star: float
    """Estimated optimal LR (parabola vertex in log LR, or the best grid LR — see ``method``)."""
    loss_star: float
    """Loss at ``lr_star`` (the parabola's minimum, or the best observed loss)."""
    best_grid_lr: float
    n_points: int
    at_edge: bool
    """The best grid LR is the smallest or largest tried: the optimum may lie outside the grid,
    so this width is left out of the drift slope."""
    method: str
    """"parabola" or "grid" (no bracketing neighbours, or a parabola that opens downward)."""

    def to_json(self) -> dict:
        return {
            "width": self.width,
            "lr_star": self.lr_star,
            "loss_star": self.loss_star,
            "best_grid_lr": self.best_grid_lr,
            "n_points": self.n_points,
            "at_edge": self.at_edge,
            "method": self.method,
        }


@dataclass(frozen=True)
class LRTransfer:
    """Per-width optimal LRs and the drift of log LR* with log width."""

    optima: tuple[WidthOptimum, ...]
    slope: float | None
    """d log LR* / d log width over the widths with bracketed optima: LR* ∝ width^slope.
    None with fewer than 2 such widths."""
    slope_interval: tuple[float, float] | None
    """t-interval of the slope (needs 3 or more widths)."""
    level: float
    n_widths_used: int

    @property
    def verdict(self) -> str:
        """ "transfers" (interval includes 0), "drifts" (it excludes 0) or "inconclusive"."""
        if self.slope_interval is None:
            return "inconclusive"
        lo, hi = self.slope_interval
        return "transfers" if lo <= 0.0 <= hi else "drifts"

    @property
    def transfers(self) -> bool | None:
        """True / False per :attr:`verdict`; None when inconclusive."""
        v = self.verdict
        return None if v == "inconclusive" else v == "transfers"

    def sentence(self) -> str:
        """E.g. "The optimal LR drifts with width: LR* ∝ width^-0.98 [-1.05, -0.91]"."""
        if self.slope is None:
            return "Too few widths with a bracketed optimum to tell whether the LR transfers."
        ci = ""
        if self.slope_interval is not None:
            ci = f" [{self.slope_interval[0]:.2f}, {self.slope_interval[1]:.2f}]"
        head = {
            "transfers": "The optimal LR transfers across widths",
            "drifts": "The optimal LR drifts with width",
            "inconclusive": "Inconclusive (only two widths)",
        }[self.verdict]
        return f"{head}: LR* ∝ width^{self.slope:.2f}{ci}"

    def to_json(self) -> dict:
        return {
            "optima": [o.to_json() for o in self.optima],
            "slope": self.slope,
            "slope_interval": list(self.slope_interval) if self.slope_interval else None,
            "level": self.level,
            "n_widths_used": self.n_widths_used,
            "verdict": self.verdict,
            "sentence": self.sentence(),
        }


def _optimum(width: float, lr: np.ndarray, loss: np.ndarray) -> WidthOptimum:
    """Parabola in log LR through the best grid point and up to two neighbours each side."""
    # Repeated LRs (seeds) are averaged so the neighbours are distinct LRs.
    grid, inv = np.unique(lr, return_inverse=True)
    yy = np.bincount(inv, weights=loss) / np.bincount(inv)
    uu = np.log(grid)
    i = int(np.argmin(yy))
    at_edge = i == 0 or i == uu.size - 1
    if at_edge or uu.size < 3:
        return WidthOptimum(
            width, float(grid[i]), float(yy[i]), float(grid[i]), lr.size, True, "grid"
        )
    lo, hi = max(0, i - 2), min(uu.size, i + 3)
    c2, c1, c0 = np.polyfit(uu[lo:hi], yy[lo:hi], 2)
    if c2 <= 0:
        return WidthOptimum(
            width, float(grid[i]), float(yy[i]), float(grid[i]), lr.size, False, "grid"
        )
    # The vertex, kept within the neighbours it was fitted on (a parabola extrapolates poorly).
    v = float(np.clip(-c1 / (2 * c2), uu[i - 1], uu[i + 1]))
    return WidthOptimum(
        width=width,
        lr_star=float(np.exp(v)),
        loss_star=float(c0 + c1 * v + c2 * v * v),
        best_grid_lr=float(grid[i]),
        n_points=int(lr.size),
        at_edge=False,
        method="parabola",
    )


def lr_transfer(
    width: np.ndarray | list[float],
    learning_rate: np.ndarray | list[float],
    loss: np.ndarray | list[float],
    level: float = 0.95,
) -> LRTransfer:
    """Per width the loss-minimising LR, and whether it drifts with width.

    Inputs are one row per sweep run, shape (n,). Each width needs at least 3 distinct LRs.
    The drift slope is an ordinary least-squares fit of log LR* on log width over the widths whose
    optimum is bracketed by the grid (edge optima are reported but left out: they are bounds, not
    estimates), with a Student-t interval. Raises :class:`SweepError` for malformed input.
    """
    w = _positive("width", width)
    lr = _positive("learning_rate", learning_rate)
    y = np.asarray(loss, dtype=float)
    if not (w.shape == lr.shape == y.shape):
        raise SweepError("width, learning_rate and loss must have the same length")
    if not np.all(np.isfinite(y)):
        raise SweepError("loss must be finite (drop diverged runs, or record them separately)")
    if not 0 < level < 1:
        raise SweepError(f"level must be in (0, 1), got {level!r}")
    optima = []
    for width_value in np.unique(w):
        rows = w == width_value
        if np.unique(lr[rows]).size < 3:
            raise SweepError(
                f"width {width_value:g} has {np.unique(lr[rows]).size} distinct learning rate(s); "
                "finding an optimum needs at least 3"
            )
        optima.append(_optimum(float(width_value), lr[rows], y[rows]))
    used = [o for o in optima if not o.at_edge]
    slope, interval = None, None
    if len(used) >= 2:
        xw = np.log([o.width for o in used])
        yl = np.log([o.lr_star for o in used])
        slope_fit, intercept = np.polyfit(xw, yl, 1)
        slope = float(slope_fit)
        dof = len(used) - 2
        if dof >= 1:
            resid = yl - (intercept + slope_fit * xw)
            sxx = float(np.sum((xw - xw.mean()) ** 2))
            se = float(np.sqrt(np.sum(resid**2) / dof / sxx))
            # A numerical floor: exact synthetic data give se ≈ 1e-16, not a real precision.
            half = float(stdtrit(dof, 0.5 + level / 2)) * max(se, 1e-9)
            interval = (slope - half, slope + half)
    return LRTransfer(
        optima=tuple(optima),
        slope=slope,
        slope_interval=interval,
        level=level,
        n_widths_used=len(used),
    )


__all__ = [
    "CriticalBatchSize",
    "LRTransfer",
    "SweepError",
    "WidthOptimum",
    "critical_batch_size",
    "lr_transfer",
]


def steps_to_target(
    run: np.ndarray,
    batch_size: np.ndarray,
    step: np.ndarray,
    loss: np.ndarray,
    target: float | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """From step-level logs of a batch-size sweep: per batch size, the fewest optimizer steps
    any of its runs took to first reach ``target`` loss (log-linear interpolation between
    evaluations). The fewest, because a sweep that also varies other settings (learning rate)
    should be read at each batch size's best-tuned run, as an under-tuned run is slower for
    reasons that have nothing to do with the batch.

    ``target`` defaults to the highest of the runs' best losses, the lowest loss every run
    reaches. Runs that never reach it, or with a missing batch size, are left out. Returns
    (batch sizes (m,), steps (m,), target), sorted by batch size.
    """
    run = np.asarray(run).astype(str)
    batch_size, step, loss = (np.asarray(v, dtype=float) for v in (batch_size, step, loss))
    ok = np.isfinite(batch_size) & np.isfinite(step) & np.isfinite(loss) & (step > 0)
    names = [r for r in dict.fromkeys(run[ok])]
    if target is None:
        target = max(float(loss[ok & (run == r)].min()) for r in names) if names else np.nan
    sizes, steps = [], []
    for name in names:
        mine = ok & (run == name)
        order = np.argsort(step[mine], kind="stable")
        s, curve = step[mine][order], loss[mine][order]
        hit = np.flatnonzero(curve <= target)
        if hit.size == 0:
            continue
        i = int(hit[0])
        if i == 0:
            reached = s[0]
        else:  # interpolate log step between the last evaluation above and the first below
            frac = (curve[i - 1] - target) / (curve[i - 1] - curve[i])
            reached = float(np.exp(np.log(s[i - 1]) + frac * (np.log(s[i]) - np.log(s[i - 1]))))
        sizes.append(float(np.median(batch_size[mine])))
        steps.append(float(reached))
    fastest: dict[float, float] = {}
    for size, n_steps in zip(sizes, steps, strict=True):
        fastest[size] = min(n_steps, fastest.get(size, np.inf))
    order = sorted(fastest)
    return np.array(order), np.array([fastest[b] for b in order]), float(target)
