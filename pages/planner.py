"""Planner page: a compute budget → compute-optimal N and D, with bootstrap intervals.

The fit and its bootstrap are cached per dataset and settings; moving the budget slider only
evaluates the closed-form optimum over the cached samples (one array pass), never refits.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages._ui import (
    bootstrap_with_progress,
    cached_fit,
    current_dataset,
    dataset_default,
    ensure_navigation,
    load_runs,
    query_value,
    set_query,
)
from scaling_core import charts
from scaling_core.allocation import (
    allocation_exponents,
    allocation_intervals,
    allocation_samples,
    isoflop_curve,
    optimal_allocation,
)
from scaling_core.laws import LAWS, is_joint
from scaling_core.uncertainty import percentile_interval
from scaling_core.views import FitSpec, prepare_runs

BUDGETS = [float(f"{10 ** (k / 20):.3g}") for k in range(17 * 20, 27 * 20 + 1)]
"""Slider stops: 1e17 … 1e27 FLOPs, 20 per decade (log scale)."""
DEFAULT_BUDGET = 5.76e23  # Chinchilla's own training budget
FRONTIER_POINTS = 60

ensure_navigation()
st.title("Compute planner")
info = current_dataset()
if info is None:
    st.info("No datasets yet. Upload a run log on the **Data** page.")
    st.stop()

joint_laws = [name for name, law in LAWS.items() if is_joint(law)]
with st.expander("Fit used for planning", expanded=False):
    cols = st.columns(3)
    law_default = query_value("law", "chinchilla")
    law_name = cols[0].selectbox(
        "Joint law",
        joint_laws,
        index=joint_laws.index(law_default) if law_default in joint_laws else 0,
        format_func=lambda name: LAWS[name].title,
        key="plan_law",
    )
    try:
        drop_default = int(query_value("drop", str(dataset_default(info, "drop", 0))))
    except ValueError:
        drop_default = 0
    drop = cols[1].number_input(
        "Leave out highest-loss runs",
        min_value=0,
        max_value=max(info.n_runs - 1, 0),
        value=min(max(drop_default, 0), max(info.n_runs - 1, 0)),
        key="plan_drop",
    )
    resamples = cols[2].selectbox(
        "Bootstrap resamples",
        (100, 200, 500, 1000),
        index=1,
        key="plan_boot",
        help="Intervals of N*, D* and the loss come from refitting resampled runs.",
    )

try:
    budget_default = float(query_value("budget", str(DEFAULT_BUDGET)))
except ValueError:
    budget_default = DEFAULT_BUDGET
nearest = min(BUDGETS, key=lambda b: abs(np.log(b) - np.log(max(budget_default, 1.0))))
budget = st.select_slider(
    "Training compute budget C (FLOPs, log scale)",
    options=BUDGETS,
    value=nearest,
    format_func=lambda c: f"{c:.3g}",
    key="budget",
)
set_query(law=law_name, drop=int(drop), budget=f"{budget:.4g}")

law = LAWS[law_name]
spec = FitSpec(law=law_name, drop_highest_loss=int(drop))
fit = cached_fit(info.name, info.sha256, info.reduction, spec)
if isinstance(fit, str):
    st.error(f"{info.name}: the joint law cannot be fitted to these runs. {fit}")
    st.stop()
runs = prepare_runs(spec, load_runs(info.name, info.sha256, info.reduction))
boot = bootstrap_with_progress(info, spec, int(resamples))

alloc = optimal_allocation(law, fit.params, budget)
intervals = allocation_intervals(law, boot, budget) if boot is not None else {}


def show(col, label: str, value: float, key: str, fmt=charts.engineering) -> None:
    low, high = intervals.get(key, (np.nan, np.nan))
    ci = f"95% CI {fmt(low)} – {fmt(high)}" if np.isfinite(low) else "no interval"
    col.metric(label, fmt(value), help=ci)
    col.caption(ci)


cols = st.columns(4)
show(cols[0], "Parameters N*", alloc.params_opt, "params_opt")
show(cols[1], "Tokens D*", alloc.tokens_opt, "tokens_opt")
show(
    cols[2],
    "Tokens per parameter",
    alloc.tokens_per_param,
    "tokens_per_param",
    lambda v: f"{v:.3g}",
)
show(cols[3], "Predicted loss", alloc.loss_opt, "loss_opt", lambda v: f"{v:.4f}")

reach = budget / float(np.max(runs.compute))
trust = "interpolation" if reach <= 1 else f"extrapolation {reach:.3g}× beyond the largest run"
st.caption(
    f"C ≈ 6·N·D. From the {law.name} fit to {fit.n_points} runs of **{info.name}** ({trust}). "
    "Intervals: bootstrap over runs; they widen the further the budget is from the data."
)
if law.name == "chinchilla":
    exps = allocation_exponents(fit.params)
    a_int = intervals.get("a", (np.nan, np.nan))
    b_int = intervals.get("b", (np.nan, np.nan))
    st.markdown(
        f"Scaling of the optimum: **N\\* ∝ C^{exps['a']:.3f}** (95% CI {a_int[0]:.3f}–"
        f"{a_int[1]:.3f}), **D\\* ∝ C^{exps['b']:.3f}** (95% CI {b_int[0]:.3f}–{b_int[1]:.3f})."
    )
for warning in fit.warnings:
    st.warning(warning)

left, right = st.columns(2)
with left:
    st.subheader("IsoFLOP profiles")
    n_values = np.geomspace(alloc.params_opt / 300, alloc.params_opt * 300, 240)
    n_values = n_values[budget / (6 * n_values) > 1]
    budgets = [budget / 10, budget, budget * 10]
    losses = [isoflop_curve(law, fit.params, c, n_values) for c in budgets]
    near = (runs.compute > budget / 1.5) & (runs.compute < budget * 1.5)
    st.plotly_chart(
        charts.isoflop_figure(
            budgets=budgets,
            n_values=n_values,
            losses=losses,
            optimum_n=alloc.params_opt,
            optimum_loss=alloc.loss_opt,
            n_interval=intervals.get("params_opt"),
            observed_n=runs.params[near],
            observed_loss=runs.loss[near],
        ),
        key="isoflop_chart",
    )
with right:
    st.subheader("Efficient frontier")
    grid = np.geomspace(
        min(float(runs.compute.min()), budget) / 3,
        max(float(runs.compute.max()), budget) * 3,
        FRONTIER_POINTS,
    )
    points = [optimal_allocation(law, fit.params, c) for c in grid]
    bands = None
    if boot is not None:
        samples = [allocation_samples(law, boot, c) for c in grid]
        bands = {
            key: tuple(np.array([percentile_interval(s[key])[i] for s in samples]) for i in (0, 1))
            for key in ("params_opt", "tokens_opt")
        }
    st.plotly_chart(
        charts.frontier_figure(
            budgets=grid,
            params_opt=np.array([p.params_opt for p in points]),
            tokens_opt=np.array([p.tokens_opt for p in points]),
            params_band=bands["params_opt"] if bands else None,
            tokens_band=bands["tokens_opt"] if bands else None,
            chosen_budget=budget,
            observed_compute=runs.compute,
            observed_params=runs.params,
            observed_tokens=runs.tokens,
        ),
        key="frontier_chart",
    )
