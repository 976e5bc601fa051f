"""Planner page: a compute budget → compute-optimal N and D, with bootstrap intervals.

The fit and its bootstrap are cached per dataset and settings; moving the budget slider only
evaluates the closed-form optimum over the cached samples (one array pass), never refits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages._share import (
    BUDGET_MODES,
    BUDGETS,
    COUNT_RANGE,
    DEFAULT_HARDWARE,
    HOURS_RANGE,
    MFU_RANGE,
    PLAN_RESAMPLE_CHOICES,
    chart_downloads,
    csv_download,
    hardware_from_query,
    nearest_budget,
    plan_resamples,
    present_link,
    share_control,
    slug,
    url_budget,
)
from pages._text import plain
from pages._ui import (
    bootstrap_with_progress,
    budget_samples_for_loss,
    cached_backtests,
    cached_fit,
    cached_loss_to_metric,
    cached_methods,
    current_dataset,
    drop_setting,
    ensure_navigation,
    frontier_bands,
    load_runs,
    query_value,
    set_query,
)
from scaling_core import charts
from scaling_core.allocation import (
    allocation_exponents,
    allocation_intervals,
    optimal_allocation,
)
from scaling_core.backtest import backtest_error_at, trust_label, trust_level, trust_sentence
from scaling_core.downstream import MIN_POINTS, two_step_forecast
from scaling_core.export import frontier_table, predictions_csv
from scaling_core.hardware import ACCELERATORS, flops_from_hours, hours_from_flops
from scaling_core.laws import LAWS, is_joint
from scaling_core.methods import compare_methods, detect_isoflop_groups
from scaling_core.planning import (
    R_STAR_DATA,
    PlanningError,
    budget_for_loss,
    data_constrained,
    inference_aware,
)
from scaling_core.uncertainty import percentile_interval
from scaling_core.views import FitSpec, isoflop_profiles_figure, prepare_runs

CONVENTIONS = {
    "total": "total parameters",
    "non-embedding": "non-embedding parameters",
    "active": "active parameters (MoE)",
}

ensure_navigation()
st.title("Compute planner")
info = current_dataset()
if info is None:
    st.info("No datasets yet. Upload a run log on the **Data** page.")
    st.stop()
actions = st.container(horizontal=True, vertical_alignment="center")

joint_laws = [name for name, law in LAWS.items() if is_joint(law)]
with st.expander("Fit used for planning", expanded=False):
    cols = st.columns(4)
    # The planner's law has its own URL key: the Fit page's "law" may be a one-resource law.
    fit_law_name = query_value("law", "chinchilla")
    law_default = query_value("plan_law", fit_law_name)
    law_name = cols[0].selectbox(
        "Joint law",
        joint_laws,
        index=joint_laws.index(law_default) if law_default in joint_laws else 0,
        format_func=lambda name: LAWS[name].title,
        key="plan_law",
    )
    drop = cols[1].number_input(
        "Leave out highest-loss runs",
        min_value=0,
        max_value=max(info.n_runs - 1, 0),
        value=drop_setting(info),
        key="plan_drop",
    )
    resamples = cols[2].selectbox(
        "Bootstrap resamples",
        PLAN_RESAMPLE_CHOICES,
        index=PLAN_RESAMPLE_CHOICES.index(plan_resamples()),
        key="plan_boot",
        help="Intervals of N*, D* and the loss come from refitting resampled runs.",
    )
    convention = cols[3].selectbox(
        "The params column counts",
        list(CONVENTIONS),
        format_func=lambda c: CONVENTIONS[c],
        index=list(CONVENTIONS).index(query_value("params_as", "total"))
        if query_value("params_as", "total") in CONVENTIONS
        else 0,
        key="params_as",
        help="N* is in the same convention as the uploaded params column: fit on "
        "non-embedding counts, plan in non-embedding counts.",
    )
n_label = CONVENTIONS[convention]

# ------------------------------------------------------------------------------------ budget
url_hw = hardware_from_query()
budget_mode = st.radio(
    "Set the budget as", BUDGET_MODES, horizontal=True, key="budget_mode",
    index=BUDGET_MODES.index(url_hw.mode),
)  # fmt: skip
hw = st.columns(4)
accelerators = list(ACCELERATORS)
accelerator = hw[0].selectbox(
    "Accelerator", accelerators, index=accelerators.index(url_hw.accelerator), key="accelerator"
)
peak = ACCELERATORS[accelerator].peak_bf16_flops
mfu = hw[1].number_input(
    "Utilisation (MFU)", MFU_RANGE[0], MFU_RANGE[1], url_hw.mfu, 0.05, key="mfu",
    help=f"Fraction of the peak {peak:.3g} dense BF16 FLOP/s a real run achieves.",
)  # fmt: skip
count = hw[2].number_input("Accelerators", COUNT_RANGE[0], COUNT_RANGE[1], url_hw.count,
                           key="count")  # fmt: skip
if budget_mode == "FLOPs":
    budget = st.select_slider(
        "Training compute budget C (FLOPs, log scale)",
        options=BUDGETS,
        value=nearest_budget(url_budget()),
        format_func=lambda c: f"{c:.3g}",
        key="budget",
    )
    hours = hours_from_flops(peak, mfu, count, budget)
    hw[3].metric("Wall-clock", f"{hours:,.0f} h", help=f"{hours / 24:,.1f} days")
else:
    hours = hw[3].number_input("Hours", HOURS_RANGE[0], HOURS_RANGE[1], url_hw.hours, 24.0,
                               key="hours")  # fmt: skip
    budget = flops_from_hours(peak, mfu, count, hours)
st.caption(
    f"C = {budget:.3g} FLOPs = {count:,} × {accelerator} at {mfu:.0%} MFU for {hours:,.0f} h "
    f"({count * hours:,.0f} accelerator-hours)."
)
by_hours = budget_mode != "FLOPs"
set_query(
    plan_law=law_name, drop=int(drop), budget=f"{budget:.4g}", params_as=convention,
    pboot=int(resamples), bmode="hours" if by_hours else "",
    hw=accelerator if accelerator != DEFAULT_HARDWARE.accelerator else "",
    mfu=f"{mfu:g}" if mfu != DEFAULT_HARDWARE.mfu else "",
    gpus=int(count) if count != DEFAULT_HARDWARE.count else "",
    hours=f"{hours:g}" if by_hours else "",
)  # fmt: skip
with actions:
    share_control("planner", key="planner")
    present_link("plan")

# ------------------------------------------------------------------------------ the optimum
law = LAWS[law_name]
spec = FitSpec(law=law_name, drop_highest_loss=int(drop))
fit = cached_fit(info.name, info.sha256, info.reduction, spec)
if isinstance(fit, str):
    st.error(f"{plain(info.name)}: the joint law cannot be fitted to these runs. {fit}")
    st.stop()
runs = prepare_runs(spec, load_runs(info.name, info.sha256, info.reduction))
boot = bootstrap_with_progress(info, spec, int(resamples))
alloc = optimal_allocation(law, fit.params, budget)
intervals = allocation_intervals(law, boot, budget) if boot is not None else {}


def show(col, label: str, value: float, key: str, fmt=charts.engineering) -> None:
    """A metric with its 95% interval underneath."""
    low, high = intervals.get(key, (np.nan, np.nan))
    ci = f"95% CI {fmt(low)} – {fmt(high)}" if np.isfinite(low) else "no interval"
    col.metric(label, fmt(value), help=ci)
    col.caption(ci)


cols = st.columns(4)
show(cols[0], "Parameters N*", alloc.params_opt, "params_opt")
show(cols[1], "Tokens D*", alloc.tokens_opt, "tokens_opt")
show(cols[2], "Tokens per parameter", alloc.tokens_per_param, "tokens_per_param",
     lambda v: f"{v:.3g}")  # fmt: skip
show(cols[3], "Predicted loss", alloc.loss_opt, "loss_opt", lambda v: f"{v:.4f}")

backtests = cached_backtests(info.name, info.sha256, info.reduction, int(drop), "compute")


def trust_badge(compute: float) -> str:
    """The trust label of a number forecast at ``compute`` FLOPs, as a badge and a sentence:
    distance beyond the largest run, tightened when backtests at that distance missed."""
    reach = compute / float(np.max(runs.compute))
    error = None if isinstance(backtests, str) else backtest_error_at(backtests, reach)
    level = trust_level(reach, error)
    color = ("green", "blue", "orange", "red")[level]
    return f":{color}-badge[{trust_label(reach, error)}] {trust_sentence(reach, error)}"


st.markdown(trust_badge(budget))
st.caption(
    f"N* counts {n_label} · training FLOPs 6·N*·D* = {budget:.3g}: forward 2·N·D = "
    f"{budget / 3:.3g}, backward 4·N·D = {2 * budget / 3:.3g}."
)
if law.name == "chinchilla":
    exps = allocation_exponents(fit.params)
    a_int = intervals.get("a", (np.nan, np.nan))
    b_int = intervals.get("b", (np.nan, np.nan))
    st.markdown(
        f"Scaling of the optimum (joint fit): **N\\* ∝ C^{exps['a']:.3f}** (95% CI "
        f"{a_int[0]:.3f}–{a_int[1]:.3f}), **D\\* ∝ C^{exps['b']:.3f}** (95% CI "
        f"{b_int[0]:.3f}–{b_int[1]:.3f})."
    )
for warning in fit.warnings:
    st.warning(warning)

name = f"scalescope-plan-{law_name}-{slug(info.name)}"
left, right = st.columns(2)
with left:
    st.subheader("IsoFLOP profiles")
    isoflop_fig = isoflop_profiles_figure(
        law, fit.params, alloc.params_opt, alloc.loss_opt, budget, runs,
        intervals.get("params_opt"),
    )  # fmt: skip
    st.plotly_chart(isoflop_fig, key="isoflop_chart")
    chart_downloads(
        isoflop_fig, f"{name}-isoflop", f"{info.name}: isoFLOP profiles at {budget:.3g} FLOPs",
        key="isoflop",
    )  # fmt: skip
with right:
    st.subheader("Efficient frontier")
    frontier = frontier_bands(info, spec, int(resamples), float(runs.compute.min()))
    frontier_fig = charts.frontier_figure(
        budgets=frontier["compute"],
        params_opt=frontier["params_opt"],
        tokens_opt=frontier["tokens_opt"],
        params_band=frontier.get("params_band"),
        tokens_band=frontier.get("tokens_band"),
        chosen_budget=budget,
        observed_compute=runs.compute,
        observed_params=runs.params,
        observed_tokens=runs.tokens,
    )
    st.plotly_chart(frontier_fig, key="frontier_chart")
    st.caption("Bands: 95% bootstrap intervals; they widen as the budget leaves the data.")

    def frontier_csv() -> bytes:
        """N*, D*, D*/N* and the loss along the frontier's budget grid, with intervals."""
        loss = [optimal_allocation(law, fit.params, c).loss_opt for c in frontier["compute"]]
        return predictions_csv(frontier_table(
            frontier["compute"], frontier["params_opt"], frontier["tokens_opt"], np.array(loss),
            frontier.get("params_band"), frontier.get("tokens_band"),
        ))  # fmt: skip

    with st.container(horizontal=True):
        chart_downloads(frontier_fig, f"{name}-frontier", f"{info.name}: efficient frontier",
                        key="frontier")  # fmt: skip
        csv_download("Predictions CSV", frontier_csv, f"{name}-frontier.csv", key="plan_csv")

# ------------------------------------------------------------ the three methods side by side
st.subheader("Three methods side by side")
method_cols = st.columns([1, 2])
tolerance = method_cols[0].slider(
    "IsoFLOP grouping tolerance (± relative compute)",
    0.02,
    0.5,
    0.1,
    0.01,
    key="iso_tol",
    help="Runs whose compute lies within this fraction of a budget's centre form one isoFLOP "
    "profile (Method 2).",
)
detected = detect_isoflop_groups(runs.compute, tolerance)
budget_labels = {
    int(g): f"C ≈ {np.exp(np.mean(np.log(runs.compute[detected == g]))):.2g} "
    f"({int(np.sum(detected == g))} runs)"
    for g in np.unique(detected[detected >= 0])
}
excluded = method_cols[1].multiselect(
    "Leave out isoFLOP budgets", list(budget_labels), format_func=budget_labels.get,
    key="iso_exclude",
)  # fmt: skip
methods = cached_methods(
    info.name,
    info.sha256,
    info.reduction,
    spec,
    tolerance,
    tuple(sorted(excluded)),
    int(resamples),
)
NO_INTERVAL = (np.nan, np.nan)


def with_ci(value: float, interval: tuple[float, float], fmt=lambda v: f"{v:.3f}") -> str:
    """'value [low, high]' in one cell."""
    return f"{fmt(value)} [{fmt(interval[0])}, {fmt(interval[1])}]"


def method_row(label: str, a: float, a_ci, b: float, b_ci, n: float, n_ci, tpp: float, tpp_ci,
               note: str) -> dict[str, str]:  # fmt: skip
    return {
        "method": label,
        "a (N* ∝ C^a)": with_ci(a, a_ci),
        "b (D* ∝ C^b)": with_ci(b, b_ci),
        f"N* at {budget:.3g}": with_ci(n, n_ci, charts.engineering),
        "tokens/param": with_ci(tpp, tpp_ci, lambda v: f"{v:.3g}"),
        "note": note,
    }


rows, comparable = [], {}
for key, label in (("envelope", "1 · minimum envelope"), ("isoflop", "2 · isoFLOP parabolas")):
    result = methods[key]
    if isinstance(result, str):
        rows.append({"method": label, "note": result})
        continue
    at = result.interval_at(budget)
    rows.append(method_row(
        label, result.a, result.a_interval, result.b, result.b_interval,
        result.params_at(budget), at["params_opt"], result.tokens_per_param_at(budget),
        at["tokens_per_param"], " ".join(result.warnings) or f"{result.n_runs} runs",
    ))  # fmt: skip
    comparable[key] = (result.a, result.a_interval)
if law.name == "chinchilla":
    joint = allocation_exponents(fit.params)
    rows.append(method_row(
        "3 · joint fit", joint["a"], intervals.get("a", NO_INTERVAL), joint["b"],
        intervals.get("b", NO_INTERVAL), alloc.params_opt,
        intervals.get("params_opt", NO_INTERVAL), alloc.tokens_per_param,
        intervals.get("tokens_per_param", NO_INTERVAL), f"{fit.n_points} runs, {law.name} law",
    ))  # fmt: skip
    comparable["joint"] = (joint["a"], intervals.get("a", NO_INTERVAL))
st.dataframe(pd.DataFrame(rows), hide_index=True, key="methods_table")
disagreements = compare_methods(comparable)
for sentence in disagreements:
    st.warning(sentence)
if len(comparable) > 1 and not disagreements:
    st.success("The methods' exponent intervals overlap: they agree.")
isoflop = methods["isoflop"]
if not isinstance(isoflop, str):
    st.plotly_chart(
        charts.isoflop_groups_figure(groups=isoflop.groups, params=runs.params, loss=runs.loss),
        key="isoflop_groups_chart",
    )
    st.caption(
        "Method 2's evidence: each budget's runs, its parabola over the sampled range and "
        "the vertex (★). A vertex near the edge of its sampled range is biased."
    )

# ---------------------------------------------------------------------- the inverse question
st.subheader("Which budget reaches a target loss?")
floor = law.floor(fit.params)
target = st.number_input(
    "Target loss",
    min_value=float(floor) + 1e-4 if floor else 0.01,
    value=float(round(alloc.loss_opt, 3)),
    step=0.01,
    format="%.4f",
    key="target_loss",
)
try:
    needed = budget_for_loss(law, fit.params, target)
    needed_samples = budget_samples_for_loss(info, spec, int(resamples), float(target))
    reachable = np.isfinite(needed_samples)
    low, high = percentile_interval(needed_samples[reachable])
    share = reachable.mean() if needed_samples.size else 1.0
    st.markdown(trust_badge(needed))
    st.markdown(
        f"Loss **{target:.4f}** needs **C = {needed:.3g} FLOPs** "
        f"(95% CI {low:.3g} – {high:.3g}) = {hours_from_flops(peak, mfu, count, needed):,.0f} h "
        f"on {count:,} × {accelerator}."
    )
    if share < 0.975:
        st.warning(
            f"In {100 * (1 - share):.0f}% of bootstrap resamples this loss is at or below the "
            "fitted floor: it may not be reachable at any budget, and the upper bound of the "
            "interval is only over the resamples that reach it."
        )
except PlanningError as err:
    st.error(str(err))

# ------------------------------------------------------------------ real-world constraints
inf_col, data_col = st.columns(2)
with inf_col:
    st.subheader("Inference-aware sizing")
    inference_tokens = st.number_input(
        "Lifetime inference tokens",
        min_value=0.0,
        value=1e13,
        format="%.3g",
        key="inference_tokens",
        help="Tokens the model will process in deployment; each costs ≈ 2·N FLOPs.",
    )
    try:
        plan = inference_aware(law, fit.params, budget, inference_tokens)
        st.dataframe(
            pd.DataFrame(
                {
                    "": ["compute-optimal", "inference-aware"],
                    "N": [
                        charts.engineering(plan.compute_optimal_params),
                        charts.engineering(plan.params),
                    ],
                    "D": [
                        charts.engineering(plan.compute_optimal_tokens),
                        charts.engineering(plan.tokens),
                    ],
                    "tokens/param": [
                        f"{plan.compute_optimal_tokens / plan.compute_optimal_params:.3g}",
                        f"{plan.tokens_per_param:.3g}",
                    ],
                    "training + inference FLOPs": [
                        f"{plan.compute_optimal_total_flops:.3g}",
                        f"{plan.total_flops:.3g}",
                    ],
                }
            ),
            hide_index=True,
            key="inference_table",
        )
        st.caption(
            f"Both reach loss {plan.target_loss:.4f}. The inference-aware model saves "
            f"{plan.saving:.1%} of total FLOPs (Sardana et al. 2023: minimise 6·N·D + 2·N·D_inf)."
        )
    except PlanningError as err:
        st.error(str(err))
with data_col:
    st.subheader("Limited unique data")
    unique = st.number_input(
        "Unique tokens available", min_value=1e6, value=max(alloc.tokens_opt / 4, 1e6),
        format="%.3g", key="unique_tokens",
    )  # fmt: skip
    r_star = st.number_input(
        "R* (repetition half-life)", min_value=0.5, value=R_STAR_DATA, step=0.1, key="r_star",
        help="Muennighoff et al. 2023 fit R* ≈ 15.4 for data.",
    )  # fmt: skip
    constrained = data_constrained(law, fit.params, budget, unique, r_star)
    if constrained.exceeds_unique:
        st.warning(
            f"D* = {charts.engineering(constrained.tokens)} exceeds the "
            f"{charts.engineering(unique)} unique tokens: {constrained.epochs:.2g} epochs, worth "
            f"{charts.engineering(constrained.effective_tokens)} fresh tokens. Repeating costs "
            f"{constrained.loss_penalty:+.4f} in loss; under the limit the best model has "
            f"N = {charts.engineering(constrained.best_params)} "
            f"(loss {constrained.best_loss:.4f})."
        )
    else:
        st.success(
            f"D* = {charts.engineering(constrained.tokens)} fits in the unique data "
            f"({constrained.epochs:.2g} epochs): no repetition penalty."
        )

# -------------------------------------------------------------------- downstream forecast
if runs.metric.size and np.sum(np.isfinite(runs.metric)) >= MIN_POINTS:
    st.subheader("Downstream metric at this budget")
    mapping = cached_loss_to_metric(info.name, info.sha256, info.reduction, int(drop))
    if isinstance(mapping, str):
        st.info(f"No loss → metric map: {mapping}")
    else:
        forecast = two_step_forecast(law, fit.params, boot, mapping, budget)
        low, high = forecast.metric_interval or (np.nan, np.nan)
        cols = st.columns(2)
        cols[0].metric("Forecast metric", f"{forecast.metric:.3f}",
                       help=f"95% interval {low:.3f} – {high:.3f}")  # fmt: skip
        cols[0].caption(f"95% interval {low:.3f} – {high:.3f} (two-step: compute → loss "
                        f"{forecast.loss:.4f} → metric)")  # fmt: skip
        cols[1].markdown(trust_badge(budget))
        st.warning(forecast.caveat)
        grid = np.linspace(min(mapping.loss.min(), forecast.loss) * 0.97,
                           mapping.loss.max() * 1.02, 120)  # fmt: skip
        st.plotly_chart(
            charts.downstream_figure(
                loss=mapping.loss, metric=mapping.metric, grid=grid,
                curve=mapping.predict(grid), band=mapping.band(grid),
                forecast=(forecast.loss, forecast.metric, forecast.metric_interval),
            ),
            key="downstream_chart",
        )  # fmt: skip
        if mapping.n_left_out:
            st.caption(f"{mapping.n_left_out} runs without a positive metric value were left out "
                       "of the map.")  # fmt: skip
