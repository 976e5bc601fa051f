"""Regimes page: where a straight line holds, what it hides, and how far a forecast can be trusted.

Per series: each point's regime (initial / power law / saturated), the flags with their evidence,
one-click exclusion of initial or saturated points (carried to the Fit page through the URL),
and leave-largest-out backtests that calibrate the trust labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages._share import (
    REGIME_DIRECTIONS,
    chart_downloads,
    choice,
    present_link,
    regimes_direction,
    regimes_x_name,
    share_control,
    slug,
)
from pages._ui import (
    cached_backtests,
    cached_diagnosis,
    current_dataset,
    drop_setting,
    ensure_navigation,
    load_runs,
    query_value,
    set_query,
)
from scaling_core import charts
from scaling_core.charts import engineering
from scaling_core.diagnose import infer_direction
from scaling_core.fitting import FitInputError, fit_law
from scaling_core.laws import get_law
from scaling_core.regimes import REGIME_RULE
from scaling_core.schema import RESOURCE_LABELS, RESOURCES

BADGES = {
    "inverse_scaling": ("Inverse scaling", "red"),
    "non_scaling": ("No trend", "orange"),
    "saturated": ("Saturated", "orange"),
    "initial": ("Initial regime", "gray"),
    "emergence": ("Emergence", "violet"),
    "too_small_model": ("Model too small", "orange"),
}

ensure_navigation()
st.title("Regimes and trust")
info = current_dataset()
if info is None:
    st.info("No datasets yet. Upload a run log on the **Data** page.")
    st.stop()
actions = st.container(horizontal=True, vertical_alignment="center")

cols = st.columns([1.2, 1.2, 1, 2])
x_name = cols[0].selectbox(
    "Scale variable", RESOURCES, index=RESOURCES.index(regimes_x_name()),
    format_func=lambda r: RESOURCE_LABELS[r], key="reg_x",
)  # fmt: skip
inferred, why = infer_direction("loss")
direction = cols[1].selectbox(
    "Better is", REGIME_DIRECTIONS, index=REGIME_DIRECTIONS.index(regimes_direction()),
    key="reg_direction", help=f"The fitted column is the dataset's loss: {why}.",
)  # fmt: skip
drop = drop_setting(info)
cols[2].metric("Runs left out", drop, help="Set on the Fit page (highest-loss runs).")
set_query(rx=x_name, rdir=direction if direction != inferred else "")
with st.expander("How regimes are decided"):
    st.markdown(REGIME_RULE)
    st.markdown(
        "Inverse scaling and *no trend* are judged by the 95% bootstrap interval of the whole "
        "series' log-log slope, not by one pair of points. Emergence: one step between "
        "neighbouring scales carries ≥ 40% of the range at ≥ 3× the average rate per decade."
    )

runs = load_runs(info.name, info.sha256, info.reduction).without_highest_loss(drop)
series = cached_diagnosis(info.name, info.sha256, info.reduction, drop, x_name, direction)
if not series:
    st.info("Not enough runs in any series to judge regimes (at least 3 are needed).")
    st.stop()

st.subheader("Flags")
flags = [flag for s in series for flag in s.flags]
if not flags:
    st.success("No flags: every series scales as a power law over its whole range.")
for flag in flags:
    label, color = BADGES.get(flag.kind, (flag.kind, "gray"))
    st.markdown(f":{color}-badge[{label}] {flag.sentence}")

st.subheader("Points by regime")
names = [s.name for s in series]
picked = (
    st.selectbox("Series", names, index=choice(query_value("rseries", ""), names, 0),
                 key="reg_series")
    if len(names) > 1
    else names[0]
)  # fmt: skip
chosen = series[names.index(picked)]

exclude: list[str] = []
toggle = st.columns(3)
url_exclude = query_value("rexcl", "").split(",")
if toggle[0].toggle("Exclude initial points", "initial" in url_exclude, key="reg_excl_initial"):
    exclude.append("initial")
if toggle[1].toggle("Exclude saturated points", "saturated" in url_exclude,
                    key="reg_excl_saturated"):  # fmt: skip
    exclude.append("saturated")
set_query(rseries=picked if len(names) > 1 and picked != names[0] else "", rexcl=",".join(exclude))
with actions:
    share_control("regimes", key="regimes")
    present_link("regimes")
name = f"scalescope-regimes-{slug(info.name)}"
keep = ~np.isin(chosen.regimes.regime, exclude)
curve = None
try:
    before = fit_law(get_law("power"), {"x": chosen.x}, chosen.metric)
    after = fit_law(get_law("power"), {"x": chosen.x[keep]}, chosen.metric[keep])
    grid = charts.log_grid(chosen.x[keep])
    curve = (grid, get_law("power").predict(after.params, {"x": grid}))
    toggle[2].metric(
        "Exponent b of a·x^(-b) + c", f"{after.params['b']:.4f}",
        delta=f"{after.params['b'] - before.params['b']:+.4f} vs all points" if exclude else None,
        delta_color="off",
    )  # fmt: skip
except FitInputError as err:
    toggle[2].caption(f"No power-law fit on these points: {err}")
regimes_fig = charts.regimes_figure(
    x=chosen.x, metric=chosen.metric, regime=chosen.regimes.regime,
    run_names=runs.run[chosen.indices], x_title=RESOURCE_LABELS[x_name], y_title="loss",
    curve=curve,
)  # fmt: skip
st.plotly_chart(regimes_fig, key="regimes_chart")
chart_downloads(regimes_fig, f"{name}-points", f"{info.name}: regimes of {picked}",
                key="regimes")  # fmt: skip
if exclude:
    excl = ",".join(exclude)
    st.page_link(
        "pages/fit.py", label=f"Refit on the Fit page without {' and '.join(exclude)} points",
        icon=":material/monitoring:", query_params={"excl": excl, "dataset": info.name},
    )  # fmt: skip

st.subheader("Backtest: how far can a forecast be trusted?")
backtests = cached_backtests(info.name, info.sha256, info.reduction, drop, x_name)
if isinstance(backtests, str):
    st.info(f"No backtest: {backtests}")
else:
    rows = [
        (b.cutoff, h.extrapolation_ratio, h.relative_error_pct)
        for b in backtests
        for h in b.held_out
    ]
    cutoffs, ratios, errors = (np.array(c) for c in zip(*rows, strict=True))
    backtest_fig = charts.backtest_figure(ratios, errors, cutoffs)
    st.plotly_chart(backtest_fig, key="backtest_chart")
    chart_downloads(backtest_fig, f"{name}-backtest", f"{info.name}: backtest errors",
                    key="backtest")  # fmt: skip
    table = pd.DataFrame(
        [
            {
                "fit on runs with " + x_name + " ≤": engineering(b.cutoff),
                "fitted runs": b.n_train,
                "held-out runs": b.n_test,
                "farthest held-out": f"{b.max_extrapolation_ratio:.3g}×",
                "mean |error|": f"{b.mape_pct:.2f}%",
                "worst |error|": f"{b.max_abs_error_pct:.2f}%",
                "median compute-equivalent": (
                    f"{b.median_compute_factor:.3g}×" if b.median_compute_factor else "—"
                ),
            }
            for b in backtests
        ]
    )
    st.dataframe(table, hide_index=True, key="backtest_table")
    st.caption(
        f"Law: {backtests[0].law}. Compute-equivalent k: the forecast matches the observed loss "
        "at k× the run's compute (k > 1: the run did better than forecast). These errors set "
        "the trust labels next to extrapolated numbers on the Planner."
    )
