"""Sharing glue for the analysis pages: view state read from the URL, the "Copy link" control,
the "Present this" link and lazy chart downloads.

Why one module: the Fit, Planner and Regimes pages and the presentation page must read the URL
the same way, or a presented number would differ from the page it came from. The readers here
mirror the pages' widget defaults exactly (same fallbacks for missing or invalid values).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._ui import DEFAULT_RESAMPLES, drop_setting, int_query, query_value
from scaling_core.backtest import backtest_law, leave_largest_out_curve
from scaling_core.diagnose import infer_direction
from scaling_core.export import (
    BrowserNotFoundError,
    ExportError,
    figure_html,
    figure_png,
    figure_svg,
    find_browser,
    scalescope_version,
)
from scaling_core.fitting import FitResult
from scaling_core.hardware import ACCELERATORS, flops_from_hours
from scaling_core.laws import LAWS, is_joint
from scaling_core.objectives import OBJECTIVES
from scaling_core.report import (
    FitReport,
    fit_report_html,
    fit_report_markdown,
    forecast_trust,
    summarise_backtests,
)
from scaling_core.schema import RESOURCES, RunTable
from scaling_core.store import DatasetInfo
from scaling_core.uncertainty import BootstrapResult
from scaling_core.views import FitSpec, regime_x

RESAMPLE_CHOICES = (0, 100, 200, 500, 1000)
"""The Fit page's bootstrap choices (0: delta-method band only)."""
PLAN_RESAMPLE_CHOICES = (100, 200, 500, 1000)
"""The Planner's bootstrap choices (its intervals need samples)."""
BUDGETS = [float(f"{10 ** (k / 20):.3g}") for k in range(17 * 20, 27 * 20 + 1)]
"""The Planner's budget slider stops: 1e17 … 1e27 FLOPs, 20 per decade (log scale)."""
DEFAULT_BUDGET = 5.76e23
"""Chinchilla's (and Gopher's) training budget."""
REGIME_DIRECTIONS = ("lower", "higher")


def choice(value: str, options: list[str] | tuple[str, ...], fallback: int) -> int:
    """Index of ``value`` in ``options``, else ``fallback`` (a widget's index for a URL value)."""
    return options.index(value) if value in options else fallback


def fit_law_name() -> str:
    """The Fit page's law: ``?law=``, Chinchilla by default, the first law when unknown."""
    names = list(LAWS)
    return names[choice(query_value("law", "chinchilla"), names, 0)]


def fit_x_name() -> str:
    """The Fit page's scale variable: ``?x=``, compute by default."""
    return RESOURCES[choice(query_value("x", "compute"), RESOURCES, 2)]


def fit_objective_name(law_name: str) -> str:
    """The Fit page's objective: ``?objective=``, the law's default when absent."""
    names = list(OBJECTIVES)
    return names[choice(query_value("objective", LAWS[law_name].default_objective), names, 0)]


def fit_resamples() -> int:
    """The Fit page's bootstrap resamples: ``?boot=`` among its choices, else 200."""
    wanted = int_query("boot", DEFAULT_RESAMPLES)
    return wanted if wanted in RESAMPLE_CHOICES else RESAMPLE_CHOICES[2]


def fit_excluded() -> tuple[str, ...]:
    """The Fit page's regime exclusions: ``?excl=initial,saturated``."""
    return tuple(r for r in query_value("excl", "").split(",") if r in ("initial", "saturated"))


def make_fit_spec(law_name: str, x: str, objective: str, drop: int,
                  excluded: tuple[str, ...]) -> FitSpec:  # fmt: skip
    """The cache key of a fit: joint laws ignore x and the law's default objective is spelled
    None, so the Fit page, the Planner and the presentation share one cache entry."""
    law = LAWS[law_name]
    return FitSpec(
        law=law_name,
        x="compute" if is_joint(law) else x,
        objective=None if objective == law.default_objective else objective,
        drop_highest_loss=int(drop),
        exclude_regimes=tuple(excluded),
    )


def fit_spec_from_query(info: DatasetInfo) -> tuple[FitSpec, int]:
    """The Fit page's fit and bootstrap size as the URL states them."""
    law_name = fit_law_name()
    spec = make_fit_spec(
        law_name, fit_x_name(), fit_objective_name(law_name), drop_setting(info), fit_excluded()
    )
    return spec, fit_resamples()


@dataclass(frozen=True)
class PlanState:
    """The Planner's settings that decide its headline numbers."""

    law: str
    drop: int
    resamples: int
    budget: float

    @property
    def spec(self) -> FitSpec:
        return FitSpec(law=self.law, drop_highest_loss=self.drop)


def joint_law_names() -> list[str]:
    return [name for name, law in LAWS.items() if is_joint(law)]


def plan_law_name() -> str:
    """``?plan_law=``, else the Fit page's law when joint, else the first joint law."""
    joint = joint_law_names()
    wanted = query_value("plan_law", query_value("law", "chinchilla"))
    return joint[choice(wanted, joint, 0)]


def plan_resamples() -> int:
    """``?pboot=`` among the Planner's choices, else 200."""
    wanted = int_query("pboot", 200)
    return wanted if wanted in PLAN_RESAMPLE_CHOICES else 200


def url_budget() -> float:
    """``?budget=`` in FLOPs (the Chinchilla budget when absent or not a number)."""
    try:
        value = float(query_value("budget", str(DEFAULT_BUDGET)))
    except ValueError:
        return DEFAULT_BUDGET
    return value if np.isfinite(value) and value > 0 else DEFAULT_BUDGET


def nearest_budget(budget: float) -> float:
    """The slider stop closest in log to ``budget``."""
    return min(BUDGETS, key=lambda b: abs(np.log(b) - np.log(max(budget, 1.0))))


BUDGET_MODES = ("FLOPs", "accelerator-hours")
MFU_RANGE = (0.05, 1.0)
COUNT_RANGE = (1, 1_000_000)
HOURS_RANGE = (1.0, 1e7)


@dataclass(frozen=True)
class Hardware:
    """The Planner's hardware settings: the budget in accelerator-hours when ``mode`` says so."""

    mode: str = "FLOPs"
    accelerator: str = list(ACCELERATORS)[1]
    mfu: float = 0.4
    count: int = 1024
    hours: float = 720.0

    @property
    def budget(self) -> float:
        """FLOPs of ``count`` accelerators at ``mfu`` for ``hours``."""
        peak = ACCELERATORS[self.accelerator].peak_bf16_flops
        return flops_from_hours(peak, self.mfu, self.count, self.hours)


DEFAULT_HARDWARE = Hardware()


def float_query(key: str, default: float, bounds: tuple[float, float]) -> float:
    """A number from the URL inside ``bounds``; ``default`` when absent, invalid or outside."""
    try:
        value = float(query_value(key, str(default)))
    except ValueError:
        return default
    return value if np.isfinite(value) and bounds[0] <= value <= bounds[1] else default


def hardware_from_query() -> Hardware:
    """``?bmode=hours&hw=…&mfu=…&gpus=…&hours=…`` (defaults for what is absent or invalid)."""
    accelerators = list(ACCELERATORS)
    d = DEFAULT_HARDWARE
    count = int(float_query("gpus", d.count, COUNT_RANGE))
    return Hardware(
        mode=BUDGET_MODES[1] if query_value("bmode", "") == "hours" else BUDGET_MODES[0],
        accelerator=accelerators[choice(query_value("hw", d.accelerator), accelerators, 1)],
        mfu=float_query("mfu", d.mfu, MFU_RANGE),
        count=count,
        hours=float_query("hours", d.hours, HOURS_RANGE),
    )


def plan_state_from_query(info: DatasetInfo) -> PlanState:
    """The Planner's law, drop, bootstrap size and budget from the URL: the budget slider's
    nearest stop, or the accelerator-hours budget when the link was made in that mode."""
    hardware = hardware_from_query()
    by_hours = hardware.mode != BUDGET_MODES[0]
    return PlanState(
        law=plan_law_name(),
        drop=drop_setting(info),
        resamples=plan_resamples(),
        budget=hardware.budget if by_hours else nearest_budget(url_budget()),
    )


def regimes_x_name() -> str:
    """The Regimes page's scale variable: ``?rx=``, compute by default."""
    return RESOURCES[choice(query_value("rx", "compute"), RESOURCES, 2)]


def regimes_direction() -> str:
    """The Regimes page's "better is": ``?rdir=``, else inferred from the loss column (lower)."""
    inferred, _ = infer_direction("loss")
    return REGIME_DIRECTIONS[choice(query_value("rdir", inferred), REGIME_DIRECTIONS, 0)]


# ------------------------------------------------------------------------------------ links


def current_query() -> dict[str, str]:
    """The URL's view settings (last value of each key)."""
    return {key: st.query_params.get(key, "") for key in st.query_params}


PAGE_PATHS = ("fit", "planner", "regimes", "compare", "data", "present")
"""The pages' ``url_path`` values in app.py; ``fit`` is the default page, served at ``/``."""
DEFAULT_PAGE_PATH = "fit"


def page_url(url: str, url_path: str) -> str:
    """``url`` (the browser's, without query) pointed at the page ``url_path``'s canonical path.

    Streamlit serves the default page at ``/`` and knows no ``/fit``: a session that was opened
    at ``/fit`` must still share a link to ``/``. The server's base path (``server.baseUrlPath``)
    is kept: only a trailing page segment is replaced.
    """
    parts = urlsplit(url)
    segments = [part for part in parts.path.split("/") if part]
    if segments and segments[-1] in PAGE_PATHS:
        segments.pop()
    if url_path != DEFAULT_PAGE_PATH:
        segments.append(url_path)
    path = "/" + "/".join(segments)
    if url_path == DEFAULT_PAGE_PATH and segments:
        path += "/"  # the base path's own root
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def view_link(url_path: str) -> str:
    """The full link of the current view: the browser's URL (scheme, host, page path, from
    ``st.context.url``, which excludes the query) plus the current query parameters.

    Outside a browser session (tests, scripts) there is no URL: a root-relative link is given.
    """
    base = page_url(st.context.url, url_path) if st.context.url else f"/{url_path}"
    query = urlencode(current_query())
    return f"{base}?{query}" if query else base


COPY_HTML = """<!doctype html><html><body style="margin:0">
<button id="copy" style="font:14px sans-serif;padding:4px 10px;border-radius:6px;
 border:1px solid #bbb;background:transparent;color:inherit;cursor:pointer">Copy link</button>
<span id="status" style="font:13px sans-serif;margin-left:8px;color:#888"></span>
<script>
const link = __LINK__;
const status = document.getElementById("status");
function fallback() {
  const area = document.createElement("textarea");
  area.value = link; document.body.appendChild(area); area.select();
  let ok = false; try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  area.remove();
  status.textContent = ok ? "Copied" : "Copy failed: select the link below";
}
document.getElementById("copy").addEventListener("click", () => {
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(link).then(
      () => { status.textContent = "Copied"; }, fallback);
  } else { fallback(); }
});
</script></body></html>"""
"""A one-click copy button. The link is inserted as a JSON string with ``<`` escaped, so no
value can close the script; the iframe Streamlit creates allows ``clipboard-write``. Over plain
http (not localhost) ``navigator.clipboard`` is absent: ``execCommand('copy')`` is the fallback,
and the link is always shown in ``st.code`` (with its own copy icon) under the button."""


def copy_button_html(link: str) -> str:
    """The copy-button page for ``link`` (escaped for a script context)."""
    literal = json.dumps(link).replace("<", "\\u003c").replace(">", "\\u003e")
    return COPY_HTML.replace("__LINK__", literal)


def share_control(url_path: str, key: str) -> None:
    """A "Copy link" popover: a one-click copy button and the full link in ``st.code``."""
    with st.popover("Copy link", icon=":material/link:", key=f"{key}_share"):
        link = view_link(url_path)
        st.iframe(copy_button_html(link), height=40)
        st.code(link, language=None, wrap_lines=True)
        st.caption("Opening this link in a fresh browser shows the same view.")


def present_link(screen: str) -> None:
    """ "Present this": the presentation page on ``screen`` with the current view's settings."""
    st.page_link(
        "pages/present.py",
        label="Present this",
        icon=":material/slideshow:",
        query_params={**current_query(), "screen": screen},
    )


# -------------------------------------------------------------------------------- downloads


def slug(text: str) -> str:
    """A file-name-safe version of ``text`` (dataset names are user input)."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return cleaned[:60] or "dataset"


def browser_problem() -> str | None:
    """Why PNG/SVG export cannot work here (no Chromium), or None. A file check: no browser
    is started by asking."""
    try:
        find_browser()
    except BrowserNotFoundError as err:
        return str(err)
    return None


def chart_downloads(fig: go.Figure, name: str, title: str, key: str) -> None:
    """A popover with PNG, SVG and standalone-HTML downloads of ``fig``.

    The files are made only when a button is clicked (``data`` is a callable, run by Streamlit
    on another thread), so a normal rerun never starts the export browser.
    """
    problem = browser_problem()
    with st.popover("Export chart", icon=":material/download:", key=f"{key}_export"):
        st.download_button(
            "PNG (2× for slides)", data=lambda: figure_png(fig, title=title),
            file_name=f"{name}.png",
            mime="image/png", on_click="ignore", disabled=problem is not None,
            key=f"{key}_png", icon=":material/image:",
        )  # fmt: skip
        st.download_button(
            "SVG (vector, for papers)", data=lambda: figure_svg(fig, title=title),
            file_name=f"{name}.svg",
            mime="image/svg+xml", on_click="ignore", disabled=problem is not None,
            key=f"{key}_svg", icon=":material/polyline:",
        )  # fmt: skip
        st.download_button(
            "Interactive HTML (works offline)", data=lambda: figure_html(fig, title),
            file_name=f"{name}.html", mime="text/html", on_click="ignore", key=f"{key}_html",
            icon=":material/html:",
        )  # fmt: skip
        if problem is not None:
            st.caption(problem)


def csv_download(label: str, make: Callable[[], bytes], file_name: str, key: str) -> None:
    """A CSV download made on click (see :func:`chart_downloads`)."""
    st.download_button(
        label, data=make, file_name=file_name, mime="text/csv", on_click="ignore", key=key,
        icon=":material/table:",
    )  # fmt: skip


def fit_report(
    info: DatasetInfo,
    spec: FitSpec,
    fit: FitResult,
    boot: BootstrapResult | None,
    all_runs: RunTable,
    extra_warnings: tuple[str, ...],
) -> FitReport:
    """The report's content. Runs the leave-largest-out backtests the Regimes page shows
    (same law choice, same runs: the drop filter, along compute or the fit's x) — so call it
    only when a report is asked for."""
    x = regime_x(spec)
    runs = all_runs.without_highest_loss(spec.drop_highest_loss)
    try:
        backtests = leave_largest_out_curve(backtest_law(runs), runs, x=x)
        note, law_name = "", backtests[0].law if backtests else ""
    except ValueError as err:  # BacktestError or an unfittable split
        backtests, note, law_name = [], str(err), ""
    exclusions = []
    if spec.drop_highest_loss:
        exclusions.append(f"the {spec.drop_highest_loss} highest-loss runs")
    exclusions += [f"points in the {regime} regime" for regime in spec.exclude_regimes]
    return FitReport(
        dataset=info.name,
        law=spec.law_obj,
        fit=fit,
        intervals=boot.intervals() if boot is not None else None,
        n_resamples=boot.n_resamples if boot is not None else 0,
        x=x,
        runs_used=fit.n_points,
        runs_total=all_runs.n,
        exclusions=tuple(exclusions),
        backtests=summarise_backtests(backtests),
        backtest_law=law_name,
        backtest_note=note,
        trust=forecast_trust(backtests, resource=x),
        warnings=tuple(fit.warnings) + extra_warnings,
        version=scalescope_version(),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        dataset_sha256=info.sha256,
        seed=boot.seed if boot is not None else 0,
    )


REPORT_WIDTH, REPORT_HEIGHT = 900, 540
"""The report's chart in CSS pixels: about the page's width, so its text stays readable."""


def report_downloads(make_report: Callable[[], FitReport], fig: go.Figure, name: str,
                     key: str) -> None:  # fmt: skip
    """ "Fit report" downloads (HTML with the chart as SVG, Markdown with a PNG), made on click.
    Without a browser the report is still made, and says the chart is missing and why."""

    def chart(render: Callable[[go.Figure], bytes]) -> tuple[bytes | None, str]:
        try:
            return render(fig), ""
        except ExportError as err:
            return None, f"Chart not included: {err}"

    def html_report() -> bytes:
        svg, note = chart(lambda f: figure_svg(f, width=REPORT_WIDTH, height=REPORT_HEIGHT))
        return fit_report_html(make_report(), svg, note).encode("utf-8")

    def markdown_report() -> bytes:
        png, note = chart(lambda f: figure_png(f, REPORT_WIDTH, REPORT_HEIGHT, scale=2))
        return fit_report_markdown(make_report(), png, note).encode("utf-8")

    st.download_button(
        "Fit report (HTML)", data=html_report, file_name=f"{name}.html", mime="text/html",
        on_click="ignore", key=f"{key}_report_html", icon=":material/description:",
    )  # fmt: skip
    st.download_button(
        "Fit report (Markdown)", data=markdown_report, file_name=f"{name}.md",
        mime="text/markdown", on_click="ignore", key=f"{key}_report_md",
        icon=":material/description:",
    )  # fmt: skip
