"""Presentation mode: one key insight per screen (fit, plan, regimes), controls hidden.

Reads the same URL state as the analysis pages (``pages/_share.py`` mirrors their defaults) and
the same caches (``pages/_ui.py``), so a presented number is the number the page shows. Each
screen: a big headline value with its interval, one sentence, one large chart. Prev/next
buttons (and the ← → keys) move between screens; ``?screen=`` keeps the screen in the link.
"""

from __future__ import annotations

import streamlit as st

from pages._share import (
    current_query,
    fit_spec_from_query,
    plan_state_from_query,
    regimes_direction,
    regimes_x_name,
)
from pages._text import plain
from pages._ui import (
    bootstrap_with_progress,
    cached_diagnosis,
    cached_fit,
    current_dataset,
    drop_setting,
    ensure_navigation,
    load_runs,
    query_value,
)
from scaling_core import charts
from scaling_core.allocation import allocation_intervals, optimal_allocation
from scaling_core.report import (
    Headline,
    fit_headline,
    main_flag,
    plan_headline,
    regimes_headline,
)
from scaling_core.schema import RESOURCE_LABELS
from scaling_core.views import fit_figure, isoflop_profiles_figure, prepare_runs

SCREENS = ("fit", "plan", "regimes")
SCREEN_TITLES = {"fit": "Fit", "plan": "Plan", "regimes": "Regimes"}
RETURN_PAGES = {"fit": "pages/fit.py", "plan": "pages/planner.py", "regimes": "pages/regimes.py"}
CHART_HEIGHT = 560

PRESENTATION_CSS = """<style>
section[data-testid="stSidebar"], div[data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"], header[data-testid="stHeader"],
div[data-testid="stToolbar"], div[data-testid="stDecoration"] { display: none !important; }
div[data-testid="stMainBlockContainer"] { padding-top: 1.5rem; max-width: 1400px; }
div[data-testid="stMarkdownContainer"] p { font-size: 1.35rem; }
div[data-testid="stMetricValue"], div[data-testid="stMetricValue"] p {
  font-size: 4rem; line-height: 1.15; font-weight: 600; }
div[data-testid="stMetricLabel"] p { font-size: 1.4rem; }
div[data-testid="stCaptionContainer"] p { font-size: 1.05rem; }
</style>"""
"""A constant style block (no user text ever goes through ``unsafe_allow_html``): hides the
sidebar, header and toolbar, and enlarges numbers and text for a projector."""


def headline(h: Headline, caption: str) -> None:
    """The big value, its interval, the sentence and where it comes from."""
    st.metric(h.title, h.value, help=h.interval or None)
    if h.interval:
        st.caption(f"95% interval {h.interval}")
    st.markdown(h.sentence)
    st.caption(caption)


def big_chart(fig, key: str) -> None:
    st.plotly_chart(charts.presentation(fig), key=key, height=CHART_HEIGHT, theme="streamlit")


def fit_screen(info) -> None:
    spec, resamples = fit_spec_from_query(info)
    fit = cached_fit(info.name, info.sha256, info.reduction, spec)
    if isinstance(fit, str):
        st.error(f"This law cannot be fitted to these runs. {fit}")
        return
    runs = prepare_runs(spec, load_runs(info.name, info.sha256, info.reduction))
    boot = bootstrap_with_progress(info, spec, resamples) if resamples else None
    intervals = boot.intervals() if boot is not None else None
    h = fit_headline(spec.law_obj, fit, intervals, spec.x)
    headline(h, f"Dataset: {plain(info.name)} · objective {fit.objective_name}")
    big_chart(fit_figure(spec, runs, fit, boot), "present_fit_chart")


def plan_screen(info) -> None:
    state = plan_state_from_query(info)
    spec = state.spec
    law = spec.law_obj
    fit = cached_fit(info.name, info.sha256, info.reduction, spec)
    if isinstance(fit, str):
        st.error(f"The joint law cannot be fitted to these runs. {fit}")
        return
    runs = prepare_runs(spec, load_runs(info.name, info.sha256, info.reduction))
    boot = bootstrap_with_progress(info, spec, state.resamples)
    alloc = optimal_allocation(law, fit.params, state.budget)
    intervals = allocation_intervals(law, boot, state.budget) if boot is not None else {}
    h = plan_headline(state.budget, alloc.params_opt, alloc.tokens_opt, alloc.loss_opt, intervals)
    headline(h, f"Dataset: {plain(info.name)} · {law.title}")
    fig = isoflop_profiles_figure(
        law, fit.params, alloc.params_opt, alloc.loss_opt, state.budget, runs,
        intervals.get("params_opt"),
    )  # fmt: skip
    big_chart(fig, "present_plan_chart")


def regimes_screen(info) -> None:
    x_name = regimes_x_name()
    drop = drop_setting(info)
    direction = regimes_direction()
    series = cached_diagnosis(info.name, info.sha256, info.reduction, drop, x_name, direction)
    if not series:
        st.info("Not enough runs in any series to judge regimes (at least 3 are needed).")
        return
    flags = [flag for s in series for flag in s.flags]
    h = regimes_headline(flags, len(series))
    headline(h, f"Dataset: {plain(info.name)} · scale variable {RESOURCE_LABELS[x_name]}")
    flag = main_flag(flags)
    chosen = next((s for s in series if flag is not None and s.name == flag.series), series[0])
    runs = load_runs(info.name, info.sha256, info.reduction).without_highest_loss(drop)
    fig = charts.regimes_figure(
        x=chosen.x, metric=chosen.metric, regime=chosen.regimes.regime,
        run_names=runs.run[chosen.indices], x_title=RESOURCE_LABELS[x_name], y_title="loss",
    )  # fmt: skip
    big_chart(fig, "present_regimes_chart")


def go_to(screen: str) -> None:
    st.query_params["screen"] = screen


ensure_navigation()
st.markdown(PRESENTATION_CSS, unsafe_allow_html=True)
info = current_dataset()
if info is None:
    st.info("No datasets yet. Upload a run log on the **Data** page.")
    st.stop()

screen = query_value("screen", "fit")
screen = screen if screen in SCREENS else "fit"
index = SCREENS.index(screen)
nav = st.container(horizontal=True, vertical_alignment="center")
nav.button(
    "Previous", icon=":material/arrow_back:", disabled=index == 0, shortcut="Left",
    on_click=go_to, args=(SCREENS[max(index - 1, 0)],), key="present_prev",
)  # fmt: skip
nav.button(
    "Next", icon=":material/arrow_forward:", disabled=index == len(SCREENS) - 1,
    shortcut="Right", on_click=go_to, args=(SCREENS[min(index + 1, len(SCREENS) - 1)],),
    key="present_next",
)  # fmt: skip
nav.caption(f"{index + 1} / {len(SCREENS)} · {SCREEN_TITLES[screen]}")
nav.space("stretch")
nav.page_link(
    RETURN_PAGES[screen],
    label="Exit presentation",
    icon=":material/close:",
    query_params={k: v for k, v in current_query().items() if k != "screen"},
)

{"fit": fit_screen, "plan": plan_screen, "regimes": regimes_screen}[screen](info)
