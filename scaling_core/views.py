"""Display-ready compositions of core results, shared by the pages and the CLI.

Why a module: a page must stay thin (read state → call core → draw), but turning a fit and its
bootstrap into curves, bands, tables and flags is real logic that deserves tests. It lives here,
pure (no Streamlit), and the pages only place what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from scaling_core import charts
from scaling_core.allocation import isoflop_curve
from scaling_core.diagnose import diagnose
from scaling_core.fitting import FitResult, fit_law, law_inputs
from scaling_core.laws import Law, get_law, is_joint
from scaling_core.regimes import SeriesFlag, saturated_mask, scaling_direction_flags
from scaling_core.schema import RESOURCE_LABELS, RunTable
from scaling_core.uncertainty import BootstrapResult, bootstrap_band, delta_method_band

MAX_SIZE_BINS = 8
"""The joint-law chart draws at most this many model-size curves (sizes are binned in log N)."""

CURVE_EXTENSION = 10.0
"""Curves run to 10× the largest observed scale, so the extrapolation is visible."""


@dataclass(frozen=True)
class FitSpec:
    """What to fit: the law, the scale variable for one-resource laws, objective, filters."""

    law: str = "chinchilla"
    x: str = "compute"
    objective: str | None = None
    """None means the law's default objective."""
    drop_highest_loss: int = 0
    exclude_regimes: tuple[str, ...] = ()
    """Regimes ("initial", "saturated") whose points are left out (see :func:`regime_mask`)."""

    @property
    def law_obj(self) -> Law:
        return get_law(self.law)

    @property
    def objective_name(self) -> str:
        return self.objective or self.law_obj.default_objective


def regime_x(spec: FitSpec) -> str:
    """The resource regimes are judged against: compute for joint laws, else the fit's x."""
    return "compute" if is_joint(spec.law_obj) else spec.x


def regime_mask(runs: RunTable, x: str, exclude: tuple[str, ...]) -> np.ndarray:
    """True for runs to keep: those whose regime (per series, lower loss is better) is not in
    ``exclude``."""
    keep = np.ones(runs.n, dtype=bool)
    if not exclude:
        return keep
    for series in diagnose(runs, x, lower_is_better=True):
        keep[series.indices] &= ~np.isin(series.regimes.regime, list(exclude))
    return keep


def prepare_runs(spec: FitSpec, runs: RunTable) -> RunTable:
    """The runs a fit uses: the ``drop_highest_loss`` filter, then the regime exclusions."""
    runs = runs.without_highest_loss(spec.drop_highest_loss)
    if spec.exclude_regimes:
        runs = runs.subset(regime_mask(runs, regime_x(spec), spec.exclude_regimes))
    return runs


def fit_runs(spec: FitSpec, runs: RunTable) -> FitResult:
    """Fit ``spec`` to ``runs`` (already prepared). Raises FitInputError on unfittable data."""
    law = spec.law_obj
    return fit_law(law, law_inputs(law, runs, spec.x), runs.loss, objective=spec.objective_name)


def parameter_rows(
    law: Law, fit: FitResult, boot: BootstrapResult | None
) -> list[dict[str, object]]:
    """One row per public parameter: value, 95% interval (bootstrap), and what it means."""
    intervals = boot.intervals() if boot is not None else {}
    rows = []
    for spec in law.public:
        low, high = intervals.get(spec.name, (None, None))
        rows.append(
            {
                "parameter": spec.name,
                "estimate": fit.params[spec.name],
                "95% CI low": low,
                "95% CI high": high,
                "meaning": spec.meaning,
            }
        )
    return rows


def saturation(spec: FitSpec, runs: RunTable, fit: FitResult) -> np.ndarray:
    """Which runs sit within 5% of the fitted floor (bool, (n,))."""
    law = spec.law_obj
    return saturated_mask(law, fit.params, law_inputs(law, runs, spec.x))


def direction_flags(spec: FitSpec, runs: RunTable) -> list[SeriesFlag]:
    """Inverse-scaling / no-trend flags per series (per group, else all runs) vs the x resource.

    Joint laws are judged against compute, the resource all runs share.
    """
    x_name = "compute" if is_joint(spec.law_obj) else spec.x
    x = runs.resource(x_name)
    if runs.group.size:
        series = {
            f"group {g}": (x[runs.group == g], runs.loss[runs.group == g])
            for g in np.unique(runs.group.astype(str))
        }
    else:
        series = {"all runs": (x, runs.loss)}
    return scaling_direction_flags(series, RESOURCE_LABELS[x_name])


def _size_bins(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Assign runs to ≤ MAX_SIZE_BINS log-spaced model-size bins; representative size per bin."""
    sizes = np.unique(params)
    if sizes.size <= MAX_SIZE_BINS:
        return np.searchsorted(sizes, params), sizes
    edges = np.geomspace(sizes.min(), sizes.max() * (1 + 1e-12), MAX_SIZE_BINS + 1)
    raw = np.clip(np.searchsorted(edges, params, side="right") - 1, 0, MAX_SIZE_BINS - 1)
    used = np.unique(raw)
    reps = np.array([np.exp(np.mean(np.log(params[raw == k]))) for k in used])
    return np.searchsorted(used, raw), reps


def fit_figure(
    spec: FitSpec,
    runs: RunTable,
    fit: FitResult,
    boot: BootstrapResult | None,
    loss_label: str = "loss",
) -> go.Figure:
    """The log-log chart: runs, fitted curve(s), and the bootstrap (or approximate) band."""
    law = spec.law_obj
    band_label = "95% band (bootstrap)" if boot is not None else "≈95% band (delta method)"
    saturated = saturation(spec, runs, fit)
    if not is_joint(law):
        x = runs.resource(spec.x)
        grid = charts.log_grid(x, CURVE_EXTENSION)
        X_grid = {"x": grid}
        curve = law.predict(fit.params, X_grid)
        band = (
            bootstrap_band(law, boot, X_grid)
            if boot is not None
            else delta_method_band(law, fit, X_grid)
        )
        return charts.single_resource_figure(
            x=x,
            loss=runs.loss,
            run_names=runs.run,
            curve_x=grid,
            curve_y=curve,
            band=band,
            band_label=band_label,
            saturated=saturated,
            x_title=RESOURCE_LABELS[spec.x],
            y_title=loss_label,
            floor=law.floor(fit.params),
        )
    size_bin, bin_sizes = _size_bins(runs.params)
    tokens_grid = charts.log_grid(runs.tokens, CURVE_EXTENSION)
    curves, lows, highs = [], [], []
    for size in bin_sizes:
        X_grid = {"N": np.full_like(tokens_grid, size), "D": tokens_grid}
        curves.append(law.predict(fit.params, X_grid))
        band = (
            bootstrap_band(law, boot, X_grid)
            if boot is not None
            else delta_method_band(law, fit, X_grid)
        )
        if band is not None:
            lows.append(band[0])
            highs.append(band[1])
    return charts.joint_figure(
        tokens=runs.tokens,
        loss=runs.loss,
        size_bin=size_bin,
        bin_sizes=bin_sizes,
        run_names=runs.run,
        curve_tokens=tokens_grid,
        curves=np.array(curves),
        bands=(np.array(lows), np.array(highs)) if lows else None,
        band_label=band_label,
        saturated=saturated,
        y_title=loss_label,
    )


def residual_figure(spec: FitSpec, runs: RunTable, fit: FitResult) -> go.Figure:
    """Residuals against compute (joint laws) or the chosen resource."""
    x_name = "compute" if is_joint(spec.law_obj) else spec.x
    return charts.residual_figure(
        runs.resource(x_name), fit.residuals, runs.run, RESOURCE_LABELS[x_name]
    )


def isoflop_profiles_figure(
    law: Law,
    params: dict[str, float],
    params_opt: float,
    loss_opt: float,
    budget: float,
    runs: RunTable,
    n_interval: tuple[float, float] | None = None,
) -> go.Figure:
    """Loss against model size at ``budget`` and a decade either side (FLOPs), with the
    optimum N* (and its interval) and the runs within 1.5× of the budget.

    The N range spans N*/300 … 300·N*, cut where a model would see fewer than one token
    (C / 6N ≤ 1). One builder for the Planner and the presentation's plan screen, so both
    draw the same curves.
    """
    n_values = np.geomspace(params_opt / 300, params_opt * 300, 240)
    n_values = n_values[budget / (6 * n_values) > 1]
    budgets = [budget / 10, budget, budget * 10]
    near = (runs.compute > budget / 1.5) & (runs.compute < budget * 1.5)
    return charts.isoflop_figure(
        budgets=budgets,
        n_values=n_values,
        losses=[isoflop_curve(law, params, c, n_values) for c in budgets],
        optimum_n=params_opt,
        optimum_loss=loss_opt,
        n_interval=n_interval,
        observed_n=runs.params[near],
        observed_loss=runs.loss[near],
    )
