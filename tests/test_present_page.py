"""The presentation page (AppTest through app.py) and the sharing controls of the analysis pages.

Each screen must render with the bundled Chinchilla data and state the same numbers the Fit,
Planner and Regimes pages show for the same URL; the "Copy link" and "Present this" controls
must carry the whole view in the query string.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from scaling_core import charts
from scaling_core.charts import engineering
from scaling_core.store import STORE_ENV_VAR, Store, ensure_default_datasets

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
PRESENT = "pages/present.py"


@pytest.fixture(scope="module", autouse=True)
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh store file with the bundled datasets; caches cleared around the module."""
    path = tmp_path_factory.mktemp("present") / "present.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(REPO))
        mp.setenv(STORE_ENV_VAR, str(path))
        seeded = Store.open(str(path))
        try:
            ensure_default_datasets(seeded)
        finally:
            seeded.close()
        st.cache_resource.clear()
        st.cache_data.clear()
        yield path
        st.cache_resource.clear()
        st.cache_data.clear()


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(page: str, **query: str) -> AppTest:
    """``page`` opened from a link carrying ``query`` (the app runs first, as a browser does)."""
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in query.items():
        at.query_params[key] = value
    run(at)
    at.switch_page(page)
    return run(at)


def present(screen: str, **query: str) -> AppTest:
    return open_page(PRESENT, screen=screen, **query)


def headline(at: AppTest) -> tuple[str, str]:
    """(title, value) of the screen's one big number."""
    assert len(at.metric) == 1, [m.label for m in at.metric]
    return at.metric[0].label, at.metric[0].value


def sentence(at: AppTest) -> str:
    texts = [m.value for m in at.markdown if "<style>" not in m.value]
    assert len(texts) == 1, texts
    return texts[0]


def query_of(at: AppTest) -> dict[str, str]:
    return {k: at.query_params[k][0] if isinstance(at.query_params[k], list)
            else at.query_params[k] for k in at.query_params}  # fmt: skip


def fmt(value: float) -> str:
    """The headline's number format (3 significant digits, engineering above 1,000)."""
    return engineering(value) if abs(value) >= 1e3 else f"{value:.3g}"


# ----------------------------------------------------------------------------------- screens


def test_fit_screen_states_the_fit_pages_exponents_and_intervals() -> None:
    fit_page = open_page("pages/fit.py")
    table = fit_page.dataframe[0].value.set_index("parameter")
    at = present("fit", **query_of(fit_page))
    alpha = table.loc["alpha"]
    assert headline(at) == ("L(N, D) fit", f"α = {fmt(alpha['estimate'])}")
    low, high = alpha["95% CI low"], alpha["95% CI high"]
    beta = table.loc["beta"]
    assert sentence(at).startswith(
        f"L(N, D) fit: α = {fmt(alpha['estimate'])} [{fmt(low)}, {fmt(high)}], "
        f"β = {fmt(beta['estimate'])} [{fmt(beta['95% CI low'])}, {fmt(beta['95% CI high'])}]"
    )
    assert "(240 runs, 95% bootstrap intervals)" in sentence(at)
    assert [c.value for c in at.caption if c.value.startswith("95% interval")] == [
        f"95% interval [{fmt(low)}, {fmt(high)}]"
    ]


def test_fit_screen_follows_a_one_resource_law_without_bootstrap() -> None:
    fit_page = open_page("pages/fit.py", law="power", x="params", drop="0", boot="0")
    b = fit_page.dataframe[0].value.set_index("parameter").loc["b", "estimate"]
    at = present("fit", **query_of(fit_page))
    assert headline(at) == ("L(N) fit", f"b = {fmt(b)}")
    assert "(245 runs, no bootstrap intervals)" in sentence(at)


def test_plan_screen_states_the_planners_optimum() -> None:
    planner = open_page("pages/planner.py", budget="1e24")
    n_opt = next(m for m in planner.metric if m.label == "Parameters N*")
    d_opt = next(m for m in planner.metric if m.label == "Tokens D*")
    at = present("plan", **query_of(planner))
    title, value = headline(at)
    assert (title, value) == ("At 1e24 FLOPs", f"N* = {n_opt.value}")
    n_ci = n_opt.help.removeprefix("95% CI ").replace(" – ", ", ")
    d_ci = d_opt.help.removeprefix("95% CI ").replace(" – ", ", ")
    assert sentence(at).startswith(
        f"At 1e24 FLOPs: N* = {n_opt.value} [{n_ci}] parameters, D* = {d_opt.value} [{d_ci}]"
    )


def test_plan_screen_follows_a_budget_set_in_accelerator_hours() -> None:
    query = {"bmode": "hours", "hw": "H100 SXM", "gpus": "512", "hours": "1000", "mfu": "0.5"}
    planner = open_page("pages/planner.py", **query)
    assert planner.radio(key="budget_mode").value == "accelerator-hours"
    assert planner.number_input(key="count").value == 512
    n_opt = next(m for m in planner.metric if m.label == "Parameters N*")
    at = present("plan", **query_of(planner))
    assert headline(at)[1] == f"N* = {n_opt.value}"


def test_regimes_screen_leads_with_the_regimes_pages_main_flag() -> None:
    regimes = open_page("pages/regimes.py", rx="params")
    badges = [m.value for m in regimes.markdown if "-badge[" in m.value]
    at = present("regimes", **query_of(regimes))
    assert headline(at) == ("Regimes", "Saturated")
    assert any(b.endswith(sentence(at)) and "Saturated" in b for b in badges), badges
    assert "32 of 240" in sentence(at)


def test_regimes_screen_without_flags_says_so() -> None:
    at = present("regimes")
    assert headline(at)[1] in {"Power law throughout", "Saturated", "Initial regime"}


def test_every_screen_has_one_large_chart_and_no_controls() -> None:
    for screen in ("fit", "plan", "regimes"):
        at = present(screen)
        charts_ = at.get("plotly_chart")
        assert len(charts_) == 1
        main = at.main  # the sidebar (dataset picker) is hidden by the style block
        assert not (main.selectbox or main.number_input or main.slider or main.multiselect)
        assert [b.label for b in at.button] == ["Previous", "Next"]
        style = next(m.value for m in at.markdown if "<style>" in m.value)
        assert 'section[data-testid="stSidebar"]' in style and "display: none" in style


def test_previous_and_next_move_between_screens_and_keep_the_view() -> None:
    at = present("fit", law="chinchilla", drop="5")
    assert at.button(key="present_prev").disabled
    at.button(key="present_next").click()
    run(at)
    assert query_of(at)["screen"] == "plan" and query_of(at)["drop"] == "5"
    assert headline(at)[1].startswith("N* = ")
    at.button(key="present_next").click()
    run(at)
    assert query_of(at)["screen"] == "regimes"
    assert at.button(key="present_next").disabled
    at.button(key="present_prev").click()
    run(at)
    assert query_of(at)["screen"] == "plan"


def test_unknown_screen_falls_back_to_the_fit() -> None:
    at = present("nonsense")
    assert headline(at)[0].endswith("fit")


def test_exit_returns_to_the_page_with_the_view() -> None:
    at = present("plan", budget="1e24")
    link = at.get("page_link")[0].proto
    assert link.label == "Exit presentation" and link.page == "planner"
    query = dict(parse_qsl(link.query_string))
    assert query["budget"] == "1e24" and "screen" not in query


# ------------------------------------------------------------------------- share and present


@pytest.mark.parametrize(
    ("page", "screen", "keys"),
    [
        ("pages/fit.py", "fit", {"dataset", "law", "x", "objective", "drop", "boot"}),
        ("pages/planner.py", "plan", {"dataset", "plan_law", "drop", "budget", "pboot"}),
        ("pages/regimes.py", "regimes", {"dataset", "rx"}),
    ],
)
def test_copy_link_and_present_this_carry_the_whole_view(
    page: str, screen: str, keys: set[str]
) -> None:
    at = open_page(page, excl="saturated") if screen == "fit" else open_page(page)
    shared = at.code[0].value
    parts = urlsplit(shared)
    assert parts.path == f"/{'planner' if screen == 'plan' else screen}"
    query = dict(parse_qsl(parts.query))
    assert keys <= query.keys(), query
    assert query == query_of(at)
    link = next(p.proto for p in at.get("page_link") if p.label == "Present this")
    assert link.page == "present"
    assert dict(parse_qsl(link.query_string)) == {**query, "screen": screen}


def test_a_copied_fit_link_reproduces_the_view_in_a_fresh_session() -> None:
    first = open_page("pages/fit.py", law="power", x="tokens", drop="2", boot="0", excl="initial")
    query = dict(parse_qsl(urlsplit(first.code[0].value).query))
    second = open_page("pages/fit.py", **query)
    assert second.latex[0].value == first.latex[0].value
    assert second.multiselect(key="excl").value == ["initial"]


def test_the_copy_button_cannot_be_broken_out_of_by_a_link() -> None:
    from pages._share import copy_button_html

    page = copy_button_html('x</script><script>alert(1)</script>"')
    assert "</script><script>alert(1)" not in page
    assert page.count("<script>") == 1 and page.count("</script>") == 1


def test_download_controls_are_on_every_analysis_page() -> None:
    fit_page = open_page("pages/fit.py")
    labels = {b.label for b in fit_page.get("download_button")}
    assert {"PNG (2× for slides)", "SVG (vector, for papers)", "Interactive HTML (works offline)",
            "Fit report (HTML)", "Fit report (Markdown)", "Predictions CSV"} <= labels  # fmt: skip
    planner = open_page("pages/planner.py")
    assert "Predictions CSV" in {b.label for b in planner.get("download_button")}
    regimes = open_page("pages/regimes.py")
    assert sum(b.label.startswith("PNG") for b in regimes.get("download_button")) == 2


# ------------------------------------------------------------------------- themes and style


def test_config_defines_light_and_dark_themes_and_keeps_the_base() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text("utf-8"))
    theme = config["theme"]
    assert theme["base"] == "light" and theme["primaryColor"]
    for name in ("light", "dark"):
        assert {"primaryColor", "backgroundColor", "textColor"} <= theme[name].keys()
    assert config["runner"]["magicEnabled"] is False


def test_presentation_style_enlarges_without_touching_the_original() -> None:
    x = np.geomspace(1, 100, 5)
    fig = charts.single_resource_figure(
        x=x, loss=1 / x, run_names=np.array([f"r{i}" for i in range(5)]), curve_x=x,
        curve_y=1 / x, band=None, band_label="", saturated=np.zeros(5, bool), x_title="N",
        y_title="loss", floor=0.005,
    )  # fmt: skip
    big = charts.presentation(fig)
    assert big.layout.font.size == charts.PRESENTATION_FONT
    assert big.data[0].line.width == pytest.approx(2.5 * charts.PRESENTATION_SCALE)
    assert big.data[1].marker.size == pytest.approx(8 * charts.PRESENTATION_SCALE)
    assert fig.data[0].line.width == 2.5 and fig.layout.font.size is None
