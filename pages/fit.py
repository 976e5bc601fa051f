"""Fit page: choose a law and variables; log-log chart with band, parameters, residuals, flags."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from pages._share import (
    RESAMPLE_CHOICES,
    chart_downloads,
    csv_download,
    fit_report,
    present_link,
    report_downloads,
    share_control,
    slug,
)
from pages._text import plain
from pages._ui import (
    DEFAULT_RESAMPLES,
    bootstrap_with_progress,
    cached_fit,
    current_dataset,
    drop_setting,
    ensure_navigation,
    int_query,
    load_runs,
    query_value,
    set_query,
)
from scaling_core.export import prediction_grid, predictions_csv, predictions_table
from scaling_core.laws import LAWS, is_joint
from scaling_core.objectives import OBJECTIVES
from scaling_core.schema import RESOURCE_LABELS, RESOURCES
from scaling_core.views import (
    FitSpec,
    direction_flags,
    fit_figure,
    parameter_rows,
    prepare_runs,
    residual_figure,
    saturation,
)

PREDICTION_COLUMNS = {"x": {"params": "params_N", "tokens": "tokens_D", "compute": "compute_flops"}}

ensure_navigation()
st.title("Scaling-law fit")
info = current_dataset()
if info is None:
    st.info("No datasets yet. Upload a run log on the **Data** page.")
    st.stop()
actions = st.container(horizontal=True, vertical_alignment="center")

law_names = list(LAWS)
controls = st.columns([2, 1.3, 1.6, 1.2, 1.2])
law_name = controls[0].selectbox(
    "Law family",
    law_names,
    index=law_names.index(query_value("law", "chinchilla"))
    if query_value("law", "chinchilla") in law_names
    else 0,
    format_func=lambda name: LAWS[name].title,
    key="law",
)
law = LAWS[law_name]
x_default = query_value("x", "compute")
x_name = controls[1].selectbox(
    "Scale variable",
    RESOURCES,
    index=RESOURCES.index(x_default) if x_default in RESOURCES else 2,
    format_func=lambda r: RESOURCE_LABELS[r],
    disabled=is_joint(law),
    help="Joint laws use both N and D; one-resource laws fit loss against this column.",
    key="x",
)
objective_names = list(OBJECTIVES)
objective_default = query_value("objective", law.default_objective)
objective = controls[2].selectbox(
    "Objective",
    objective_names,
    index=objective_names.index(objective_default) if objective_default in objective_names else 0,
    help="\n\n".join(f"**{k}**: {v}" for k, v in OBJECTIVES.items()),
    key="objective",
)
drop = controls[3].number_input(
    "Leave out highest-loss runs",
    min_value=0,
    max_value=max(info.n_runs - 1, 0),
    value=drop_setting(info),
    help="Epoch AI left out the 5 highest-loss of the 245 Chinchilla runs.",
    key="drop",
)
resample_default = int_query("boot", DEFAULT_RESAMPLES)
resamples = controls[4].selectbox(
    "Bootstrap resamples",
    RESAMPLE_CHOICES,
    index=RESAMPLE_CHOICES.index(resample_default) if resample_default in RESAMPLE_CHOICES else 2,
    help="Resampling runs with replacement gives the 95% intervals; 0 shows the fast "
    "approximate (delta-method) band only.",
    key="boot",
)
excl_default = [r for r in query_value("excl", "").split(",") if r in ("initial", "saturated")]
excluded = st.multiselect(
    "Leave out points in these regimes",
    ("initial", "saturated"),
    default=excl_default,
    key="excl",
    help="Regimes are judged per series against compute (joint laws) or the scale variable; "
    "see the Regimes page for the rule and the evidence.",
)
set_query(
    law=law_name, x=x_name, objective=objective, drop=int(drop), boot=resamples,
    excl=",".join(excluded),
)  # fmt: skip

spec = FitSpec(
    law=law_name,
    x="compute" if is_joint(law) else x_name,  # joint laws ignore x: one cache entry
    # The law's default objective is spelled None, as on the Planner, so both share one cache.
    objective=None if objective == law.default_objective else objective,
    drop_highest_loss=int(drop),
    exclude_regimes=tuple(excluded),
)
fit = cached_fit(info.name, info.sha256, info.reduction, spec)
if isinstance(fit, str):
    st.error(f"{plain(info.name)}: this law cannot be fitted to these runs. {fit}")
    st.stop()
runs = prepare_runs(spec, load_runs(info.name, info.sha256, info.reduction))

st.latex(law.formula(fit.params))
st.caption(
    f"{fit.n_points} runs of **{plain(info.name)}** · objective {fit.objective_name} = "
    f"{fit.objective:.6g} · R² (log) = {fit.r2_log:.4f} · "
    f"{fit.n_at_best} of {fit.n_polished} polished starts reached the best optimum "
    f"(from a grid of {fit.n_grid})"
)

with actions:
    share_control("fit", key="fit")
    present_link("fit")

chart_slot = st.empty()
figure = fit_figure(spec, runs, fit, None)
chart_slot.plotly_chart(figure, key="fit_chart_preview")
boot = bootstrap_with_progress(info, spec, resamples) if resamples else None
if boot is not None:
    figure = fit_figure(spec, runs, fit, boot)
    chart_slot.plotly_chart(figure, key="fit_chart")
    st.caption(
        f"Band and intervals: {boot.n_resamples} bootstrap resamples over runs (seed {boot.seed})"
        + (f"; {boot.n_failed} did not converge and were dropped." if boot.n_failed else ".")
    )
else:
    st.caption(
        "Band: approximate (delta method, Gauss–Newton covariance). Choose bootstrap "
        "resamples for honest intervals."
    )

saturated = saturation(spec, runs, fit)
page_warnings: list[str] = []
if saturated.any():
    page_warnings.append(
        f"Saturated: {int(saturated.sum())} of {runs.n} runs (✕ on the chart) sit within 5% of "
        f"the fitted irreducible loss; they say little about the exponent and extrapolating "
        "past them is unreliable."
    )
    st.warning(f"⚠ {page_warnings[-1]}")
for flag in direction_flags(spec, runs):
    badge = "Inverse scaling" if flag.kind == "inverse_scaling" else "No trend"
    page_warnings.append(f"{badge} — {flag.sentence}")
    st.warning(f"**⚠ {badge}** — {flag.sentence}")


def predictions() -> bytes:
    """The fitted law over a grid (to 10× the largest run), with the bootstrap interval."""
    grid, labels = prediction_grid(law, runs.resource(spec.x), runs.params, runs.tokens)
    labels = {**labels, **{"x": PREDICTION_COLUMNS["x"][spec.x]}}
    return predictions_csv(predictions_table(law, fit, boot, grid, labels))


all_runs = load_runs(info.name, info.sha256, info.reduction)
name = f"scalescope-fit-{law_name}-{slug(info.name)}"
with st.container(horizontal=True):
    chart_downloads(figure, name, f"{info.name}: {law.title}", key="fit")
    report_downloads(
        lambda: fit_report(info, spec, fit, boot, all_runs, tuple(page_warnings)),
        figure, f"{name}-report", key="fit",
    )  # fmt: skip
    csv_download("Predictions CSV", predictions, f"{name}-predictions.csv", key="fit_csv")

tab_params, tab_resid, tab_diag = st.tabs(["Parameters", "Residuals", "Diagnostics"])
with tab_params:
    table = pd.DataFrame(parameter_rows(law, fit, boot))
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "estimate": st.column_config.NumberColumn(format="%.5g"),
            "95% CI low": st.column_config.NumberColumn(format="%.5g"),
            "95% CI high": st.column_config.NumberColumn(format="%.5g"),
        },
        key="param_table",
    )
    payload = fit.to_json()
    if boot is not None:
        payload["intervals"] = {k: list(v) for k, v in boot.intervals().items()}
    st.download_button(  # deferred: a rerun never leaves the button pointing at a dropped file
        "Download fit as JSON",
        lambda: json.dumps(payload, indent=2),
        file_name=f"fit-{law_name}.json",
        mime="application/json",
    )
with tab_resid:
    st.plotly_chart(residual_figure(spec, runs, fit), key="residual_chart")
    st.caption(
        f"Mean log residual {fit.residual_mean:+.4f}, std {fit.residual_std:.4f}; "
        f"Spearman ρ(|residual|, fit) = {fit.heteroscedasticity.rho:+.2f} "
        f"(p = {fit.heteroscedasticity.p_value:.3g})."
    )
with tab_diag:
    if fit.warnings:
        for warning in fit.warnings:
            st.warning(warning)
    else:
        st.success("No warnings: converged, no parameter on a bound, residuals unbiased.")
    optima = pd.DataFrame(
        [
            {
                "objective": o.objective,
                "starts": o.n_starts,
                "prediction at 10× scale": o.extrapolation,
                **o.params,
            }
            for o in fit.local_optima
        ]
    )
    st.markdown("**Distinct optima reached by the polished starts** (best first)")
    st.dataframe(optima, hide_index=True, key="optima_table")
