"""Compare page: architectures or recipes as parallel curves, and hyper-parameter sweeps.

Groups come from the dataset's ``group`` column (architecture, recipe, family). Each group gets a
power law; the compute-efficiency multiplier says how much less of the resource one group needs
to reach another's loss, with a bootstrap interval, and crossing curves are flagged. The Sweeps
tab reads batch-size and learning-rate sweeps from the step-level logs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages._text import plain
from pages._ui import (
    cached_comparison,
    cached_points,
    current_dataset,
    drop_setting,
    ensure_navigation,
    load_runs,
)
from scaling_core import charts
from scaling_core.compare import power_loss
from scaling_core.schema import RESOURCE_LABELS, RESOURCES
from scaling_core.sweeps import SweepError, critical_batch_size, lr_transfer, steps_to_target

ensure_navigation()
st.title("Compare and sweeps")
info = current_dataset()
if info is None:
    st.info("No datasets yet. Upload a run log on the **Data** page.")
    st.stop()
drop = drop_setting(info)
runs = load_runs(info.name, info.sha256, info.reduction).without_highest_loss(drop)
tab_groups, tab_sweeps = st.tabs(["Architectures / recipes", "Sweeps"])

with tab_groups:
    if not runs.group.size:
        st.info(
            f"**{plain(info.name)}** has no group column. Map a column such as "
            "`architecture`, `recipe` or `family` to *group* on the Data page to compare "
            "groups; the bundled *Synthetic architectures* dataset shows the view."
        )
    else:
        labels = list(dict.fromkeys(runs.group.astype(str)))
        cols = st.columns(4)
        reference = cols[0].selectbox("Reference group", labels, key="cmp_reference")
        x_name = cols[1].selectbox(
            "Scale variable", RESOURCES, index=2, format_func=lambda r: RESOURCE_LABELS[r],
            key="cmp_x",
        )  # fmt: skip
        law_name = cols[2].selectbox(
            "Law", ("power", "power_nofloor"), key="cmp_law",
            format_func=lambda n: "a·x^(-b) + c" if n == "power" else "a·x^(-b)",
        )  # fmt: skip
        shared = cols[3].toggle(
            "Shared exponent", key="cmp_shared",
            help="Fit one exponent (and floor) to all groups: the multiplier is then the same at "
            "every loss, the usual 'parallel curves' reading.",
        )  # fmt: skip
        result = cached_comparison(
            info.name, info.sha256, info.reduction, drop, x_name, law_name, shared, reference
        )
        if isinstance(result, str):
            st.error(f"{plain(info.name)}: the groups cannot be compared. {result}")
        else:
            for pair in result.pairs:
                (st.warning if pair.crossings else st.success)(pair.sentence())
            for group, reason in result.skipped.items():
                st.info(f"Group {group} left out: {reason}")
            x = runs.resource(x_name)
            grid = charts.log_grid(x, 10.0)
            curves = {
                g: power_loss(p["a"], p["b"], p.get("c", 0.0), grid)
                for g, p in result.params.items()
            }
            st.plotly_chart(
                charts.groups_figure(
                    x=x, loss=runs.loss, group=runs.group.astype(str), run_names=runs.run,
                    curve_x=grid, curves=curves, x_title=RESOURCE_LABELS[x_name],
                ),
                key="compare_chart",
            )  # fmt: skip
            st.dataframe(
                pd.DataFrame(
                    [{"group": g, "runs": result.n_runs[g], **p} for g, p in result.params.items()]
                ),
                hide_index=True,
                key="compare_params",
            )
            st.caption(
                f"Multipliers at the reference loss {result.pairs[0].reference_loss:.4g} "
                f"(what {reference} reaches at its largest observed {x_name}); 95% intervals "
                f"from {result.n_resamples} bootstrap resamples within each group."
                if result.pairs
                else ""
            )

with tab_sweeps:
    points = cached_points(info.name, info.sha256)
    st.markdown("#### Critical batch size")
    batch = points["batch_size"].to_numpy(float)
    if np.unique(batch[np.isfinite(batch)]).size < 3 or points["step"].isna().all():
        st.info(
            "Needs a batch-size sweep: step-level logs (a step column) of runs with at least "
            "three different batch sizes."
        )
    else:
        sizes, steps, target = steps_to_target(
            points["run"].to_numpy(), batch, points["step"].to_numpy(float),
            points["loss"].to_numpy(float),
        )  # fmt: skip
        try:
            crit = critical_batch_size(sizes, steps)
            st.markdown(
                f"To reach loss **{target:.4g}**: B_crit = **{crit.b_crit:.3g}** "
                + (
                    f"(95% CI {crit.b_crit_interval[0]:.3g}–{crit.b_crit_interval[1]:.3g})"
                    if crit.b_crit_interval
                    else ""
                )
                + f"; S_min = {crit.s_min:.3g} steps, E_min = {crit.e_min:.3g} examples "
                "(McCandlish et al. 2018: up to B_crit, doubling the batch ≈ halves the steps)."
            )
            st.plotly_chart(
                charts.sweep_figure(sizes, steps, crit.steps_at, "batch size", "steps to target"),
                key="batch_chart",
            )
        except SweepError as err:
            st.error(f"Critical batch size: {err}")
    st.markdown("#### Learning rate across model sizes")
    final = points.sort_values(["run", "step"], na_position="first").groupby("run").tail(1)
    lr = final["learning_rate"].to_numpy(float)
    if np.unique(lr[np.isfinite(lr)]).size < 3:
        st.info(
            "Needs an LR sweep: runs of several model sizes, each at three or more learning "
            "rates (a learning_rate column)."
        )
    else:
        try:
            transfer = lr_transfer(
                final["params"].to_numpy(float), lr, final["loss"].to_numpy(float)
            )
            (st.success if transfer.transfers else st.warning)(transfer.sentence())
            st.dataframe(
                pd.DataFrame([o.to_json() for o in transfer.optima]), hide_index=True,
                key="lr_table",
            )  # fmt: skip
        except SweepError as err:
            st.error(f"Learning-rate transfer: {err}")
        st.caption(
            "Model size (params) stands in for width: the optimum should not drift "
            "under μP-style parameterisations."
        )
