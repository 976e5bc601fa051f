"""AppTest tests of the whole app (app.py's navigation) on the Fit and Planner pages.

The Data page has its own tests (tests/test_page_data.py). Here the app runs from app.py so the
sidebar dataset picker, the navigation and the URL query parameters are all exercised. One
temporary store serves the module; the fits and bootstraps it caches are reused across tests.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from pages._text import plain
from scaling_core.charts import SUFFIXES
from scaling_core.ingest import ParsedTable, parse_table
from scaling_core.store import STORE_ENV_VAR, Store, ensure_default_datasets

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
CHINCHILLA = "Chinchilla (Epoch AI reconstruction)"
SYNTHETIC = "Synthetic example runs"
ONE_SIZE = "one model size"
# Twelve runs of a single model size: even after leaving out 5 runs, enough points remain for
# the 5-parameter Chinchilla law, so the only reason it cannot be fitted is the single N.
ONE_SIZE_CSV = (
    "run,params,tokens,loss\n"
    + "".join(f"r{i},1e8,{1e9 * 1.5**i:.6g},{3.6 - 0.05 * i:.3f}\n" for i in range(12))
).encode()
CI_COLUMNS = ["95% CI low", "95% CI high"]
PLANNER_METRICS = ["Parameters N*", "Tokens D*", "Tokens per parameter", "Predicted loss"]
BUDGET_STOPS = [float(f"{10 ** (k / 20):.3g}") for k in range(17 * 20, 27 * 20 + 1)]
"""pages/planner.py's budget slider stops (importing the page would run it)."""


@pytest.fixture(scope="module", autouse=True)
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh store file for this module: the bundled datasets plus a one-size dataset."""
    path = tmp_path_factory.mktemp("pages") / "pages.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(REPO))
        mp.setenv(STORE_ENV_VAR, str(path))
        seeded = Store.open(str(path))
        try:
            ensure_default_datasets(seeded)
            parsed = parse_table("one_size.csv", ONE_SIZE_CSV)
            assert isinstance(parsed, ParsedTable), parsed
            seeded.add_dataset(ONE_SIZE, parsed, ONE_SIZE_CSV)
        finally:
            seeded.close()
        st.cache_resource.clear()  # the app's cached Store reopens at this module's path
        st.cache_data.clear()
        yield path
        st.cache_resource.clear()
        st.cache_data.clear()


def new_app(**query: str) -> AppTest:
    """The whole app, optionally opened with URL query parameters (a shared link)."""
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    return at


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def formula(at: AppTest) -> str:
    assert len(at.latex) == 1, [e.value for e in at.latex]
    return at.latex[0].value


def fit_caption(at: AppTest) -> str:
    """The caption under the formula: '<n> runs of **<dataset>** · objective …'."""
    return next(c.value for c in at.caption if " runs of **" in c.value)


def chinchilla_numbers(latex: str) -> tuple[float, float]:
    """(E, alpha) read from the rendered Chinchilla formula."""
    e_match = re.search(r"=\s*([0-9.]+)\s*\+", latex)
    alpha_match = re.search(r"N\^\{([0-9.]+)\}", latex)
    assert e_match and alpha_match, latex
    return float(e_match.group(1)), float(alpha_match.group(1))


def params_table(at: AppTest) -> pd.DataFrame:
    table = at.dataframe[0].value
    assert list(table.columns[:4]) == ["parameter", "estimate", *CI_COLUMNS], table.columns
    return table


def estimate(at: AppTest, name: str) -> float:
    table = params_table(at)
    return float(table.loc[table["parameter"] == name, "estimate"].iloc[0])


def plotly_figures(at: AppTest) -> dict[str, dict]:
    """The page's plotly charts by key, each as its parsed figure JSON."""
    figures = {}
    for element in at.get("plotly_chart"):
        key = element.proto.id.rsplit("-", 1)[-1]
        figures[key] = json.loads(element.proto.spec)
    return figures


def n_values(array: list | dict) -> int:
    """Length of a plotly data array, plain or base64-packed ({"dtype": …, "bdata": …})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).size
    return len(array)


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert len(values) == 1, [m.label for m in at.metric]
    return values[0]


def parse_engineering(text: str) -> float:
    """Inverse of scaling_core.charts.engineering: '72.3B' → 7.23e10, '5.76e23' → 5.76e23."""
    for scale, suffix in SUFFIXES:
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    return float(text)


def open_planner(at: AppTest | None = None) -> AppTest:
    at = at if at is not None else run(new_app())
    at.switch_page("pages/planner.py")
    run(at)
    assert at.title[0].value == "Compute planner"
    return at


# -- Fit page ---------------------------------------------------------------------------------


def test_first_screen_shows_the_chinchilla_fit() -> None:
    at = run(new_app())
    assert at.title[0].value == "Scaling-law fit"
    assert not at.error
    assert at.selectbox(key="dataset_picker").value == CHINCHILLA
    e, alpha = chinchilla_numbers(formula(at))
    assert e == pytest.approx(1.817, abs=0.002)
    assert alpha == pytest.approx(0.347, abs=0.002)
    caption = fit_caption(at)
    assert caption.startswith(f"240 runs of **{plain(CHINCHILLA)}**"), caption
    assert any("200 bootstrap resamples" in c.value for c in at.caption)

    figures = plotly_figures(at)
    assert "fit_chart" in figures, figures.keys()
    traces = figures["fit_chart"]["data"]
    assert sum(n_values(t["x"]) for t in traces if t.get("mode") == "markers") >= 240
    assert any("95% band (bootstrap)" in (t.get("name") or "") for t in traces)

    table = params_table(at)
    assert table["parameter"].tolist() == ["E", "A", "B", "alpha", "beta"]
    assert table[CI_COLUMNS].notna().all().all(), table
    assert (table["95% CI low"] <= table["estimate"]).all()
    assert (table["estimate"] <= table["95% CI high"]).all()
    assert estimate(at, "E") == pytest.approx(e, abs=5e-4)


def test_law_scale_variable_and_drop_controls_refit() -> None:
    at = run(new_app())
    chinchilla_formula = formula(at)

    at.selectbox(key="law").select("power")
    run(at)
    assert not at.error
    power_compute = formula(at)
    assert power_compute != chinchilla_formula
    assert "x^{" in power_compute and "N^{" not in power_compute
    assert params_table(at)["parameter"].tolist() == ["a", "b", "c"]
    compute_exponent = estimate(at, "b")

    at.selectbox(key="x").select("params")
    run(at)
    assert not at.error
    assert formula(at) != power_compute
    assert estimate(at, "b") != pytest.approx(compute_exponent, rel=1e-3)
    assert fit_caption(at).startswith(f"240 runs of **{plain(CHINCHILLA)}**")

    at.number_input(key="drop").set_value(0)
    run(at)
    assert fit_caption(at).startswith(f"245 runs of **{plain(CHINCHILLA)}**"), fit_caption(at)


def test_huber_likelihood_objective_reproduces_epoch_ai() -> None:
    at = run(new_app())
    at.selectbox(key="boot").select(0)  # one run for both changes: no bootstrap needed
    at.selectbox(key="objective").select("huber_likelihood")
    run(at)
    assert not at.error
    assert "objective huber_likelihood" in fit_caption(at)
    e, _ = chinchilla_numbers(formula(at))
    assert e == pytest.approx(1.8169, abs=6e-4)
    assert estimate(at, "E") == pytest.approx(1.8169, abs=2e-4)


def test_no_bootstrap_shows_the_delta_method_band() -> None:
    at = run(new_app())
    assert not any("delta method" in c.value for c in at.caption)
    at.selectbox(key="boot").select(0)
    run(at)
    assert any("approximate" in c.value and "delta method" in c.value for c in at.caption), [
        c.value for c in at.caption
    ]
    assert not any("bootstrap resamples over runs" in c.value for c in at.caption)
    traces = plotly_figures(at)["fit_chart_preview"]["data"]  # the chart stays, fast band
    assert any("band (delta method)" in (t.get("name") or "") for t in traces)
    assert params_table(at)[CI_COLUMNS].isna().all().all()  # no bootstrap: no intervals


def test_unfittable_dataset_shows_the_reason_not_a_traceback() -> None:
    at = run(new_app())
    at.selectbox(key="dataset_picker").select(ONE_SIZE)
    run(at)
    assert at.session_state["dataset"] == ONE_SIZE
    assert len(at.error) == 1, [e.value for e in at.error]
    message = at.error[0].value
    assert message.startswith(f"{ONE_SIZE}: this law cannot be fitted"), message
    assert "all runs share one value of params" in message
    assert not at.latex
    assert not plotly_figures(at)

    open_planner(at)
    assert len(at.error) == 1, [e.value for e in at.error]
    assert "all runs share one value of params" in at.error[0].value
    assert not [m for m in at.metric if m.label in PLANNER_METRICS]


def test_synthetic_example_fits_with_chinchilla() -> None:
    at = run(new_app(dataset=SYNTHETIC))
    assert at.selectbox(key="dataset_picker").value == SYNTHETIC
    assert at.selectbox(key="law").value == "chinchilla"
    assert not at.error
    assert fit_caption(at).startswith(f"26 runs of **{plain(SYNTHETIC)}**"), fit_caption(at)
    table = params_table(at)
    assert table["parameter"].tolist() == ["E", "A", "B", "alpha", "beta"]
    assert table["estimate"].gt(0).all()
    assert table[CI_COLUMNS].notna().all().all()
    assert "fit_chart" in plotly_figures(at)


def test_picking_a_dataset_applies_its_own_default_drop() -> None:
    """Chinchilla's default (leave out 5 runs) must not leak into other datasets."""
    at = run(new_app())
    at.selectbox(key="dataset_picker").select(SYNTHETIC)
    run(at)
    assert at.number_input(key="drop").value == 0
    assert fit_caption(at).startswith(f"26 runs of **{plain(SYNTHETIC)}**"), fit_caption(at)
    at.selectbox(key="dataset_picker").select(CHINCHILLA)
    run(at)
    assert at.number_input(key="drop").value == 5
    assert fit_caption(at).startswith(f"240 runs of **{plain(CHINCHILLA)}**"), fit_caption(at)


# -- URL state --------------------------------------------------------------------------------


def test_query_params_reflect_the_view_state() -> None:
    at = run(new_app())
    assert at.query_params["dataset"] == CHINCHILLA
    assert at.query_params["law"] == "chinchilla"
    assert at.query_params["x"] == "compute"
    assert at.query_params["objective"] == "huber_log"
    assert at.query_params["drop"] == "5"
    assert at.query_params["boot"] == "200"

    at.selectbox(key="law").select("power")
    at.number_input(key="drop").set_value(3)
    run(at)
    assert at.query_params["law"] == "power"
    assert at.query_params["drop"] == "3"

    planner = open_planner()
    assert planner.query_params["law"] == "chinchilla"
    assert planner.query_params["budget"] == "5.62e+23"
    planner.select_slider(key="budget").set_value(1e25)
    run(planner)
    assert planner.query_params["budget"] == "1e+25"


def test_a_shared_link_reproduces_the_view() -> None:
    at = run(new_app(law="power", x="params", drop="0", boot="0"))
    assert at.selectbox(key="law").value == "power"
    assert at.selectbox(key="x").value == "params"
    assert at.number_input(key="drop").value == 0
    assert at.selectbox(key="boot").value == 0
    assert fit_caption(at).startswith(f"245 runs of **{plain(CHINCHILLA)}**")
    assert "x^{" in formula(at)

    planner = run(new_app(budget="1e25"))
    planner.switch_page("pages/planner.py")
    run(planner)
    assert planner.select_slider(key="budget").value == 1e25


def test_fit_page_law_survives_a_visit_to_the_planner() -> None:
    at = run(new_app())
    at.selectbox(key="law").select("power")
    run(at)
    open_planner(at)
    at.switch_page("pages/fit.py")
    run(at)
    assert at.selectbox(key="law").value == "power"


# -- Planner page -----------------------------------------------------------------------------


def test_planner_metrics_at_the_default_budget() -> None:
    at = open_planner()
    assert not at.error
    labels = [m.label for m in at.metric]
    assert [label for label in labels if label in PLANNER_METRICS] == PLANNER_METRICS, labels
    slider = at.select_slider(key="budget")
    assert slider.value == pytest.approx(5.62e23)  # the stop nearest Chinchilla's 5.76e23
    n_opt = parse_engineering(metric(at, "Parameters N*"))
    d_opt = parse_engineering(metric(at, "Tokens D*"))
    ratio = float(metric(at, "Tokens per parameter"))
    assert 10 <= ratio <= 40
    assert ratio == pytest.approx(d_opt / n_opt, rel=0.02)
    assert 6 * n_opt * d_opt == pytest.approx(slider.value, rel=0.02)  # C ≈ 6·N·D
    assert 1.5 < float(metric(at, "Predicted loss")) < 2.5
    assert any(c.value.startswith("95% CI") for c in at.caption)
    assert {"isoflop_chart", "frontier_chart"} <= plotly_figures(at).keys()


def test_larger_budget_grows_the_model_and_the_data_and_lowers_the_loss(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pages._ui as ui  # the module the pages import; its global is what cached_fit calls

    fits = []
    real_fit_runs = ui.fit_runs

    def counting_fit_runs(spec, runs):
        fits.append(spec)
        return real_fit_runs(spec, runs)

    monkeypatch.setattr(ui, "fit_runs", counting_fit_runs)
    st.cache_data.clear()  # so the first fit is computed (and counted), not replayed
    at = open_planner()
    assert fits, "the spy must see the planner's initial fit, else it cannot detect a refit"
    assert any(spec.objective is None for spec in fits)  # the planner's own FitSpec
    n_fits = len(fits)

    before = {label: metric(at, label) for label in ("Parameters N*", "Tokens D*")}
    loss_before = float(metric(at, "Predicted loss"))
    current = at.select_slider(key="budget").value
    bigger = BUDGET_STOPS[BUDGET_STOPS.index(current) + 20]  # one decade more compute
    at.select_slider(key="budget").set_value(bigger)
    run(at)
    assert at.select_slider(key="budget").value == bigger
    assert parse_engineering(metric(at, "Parameters N*")) > parse_engineering(
        before["Parameters N*"]
    )
    assert parse_engineering(metric(at, "Tokens D*")) > parse_engineering(before["Tokens D*"])
    assert float(metric(at, "Predicted loss")) < loss_before
    assert len(fits) == n_fits, "moving the budget slider refitted the law"
