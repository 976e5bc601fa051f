"""The one-page fit report and the presentation headlines: numbers from the results, intervals,
warnings, and every user string escaped (HTML and Markdown)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser

import numpy as np
import pytest

from scaling_core.backtest import backtest_law, leave_largest_out_curve
from scaling_core.fitting import fit_law, law_inputs
from scaling_core.laws import get_law
from scaling_core.report import (
    FitReport,
    Headline,
    fit_headline,
    fit_report_html,
    fit_report_markdown,
    forecast_trust,
    markdown_escape,
    plain_formula,
    plan_headline,
    regimes_headline,
    summarise_backtests,
)
from scaling_core.schema import RunTable
from scaling_core.uncertainty import bootstrap_fit

HOSTILE = "<script>alert(1)</script>"
HOSTILE_MD = "[click](javascript:alert(1)) ![x](http://evil/x.png) | *bold*"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'


@pytest.fixture(scope="module")
def chinchilla_report(chinchilla_240: RunTable) -> FitReport:
    """The Chinchilla fit with a small bootstrap and real backtests, under a hostile name."""
    law = get_law("chinchilla")
    X = law_inputs(law, chinchilla_240)
    fit = fit_law(law, X, chinchilla_240.loss)
    boot = bootstrap_fit(law, X, chinchilla_240.loss, fit, n_resamples=30, seed=1)
    backtests = leave_largest_out_curve(backtest_law(chinchilla_240), chinchilla_240)
    return FitReport(
        dataset=HOSTILE,
        law=law,
        fit=fit,
        intervals=boot.intervals(),
        n_resamples=boot.n_resamples,
        x="compute",
        runs_used=fit.n_points,
        runs_total=245,
        exclusions=("the 5 highest-loss runs",),
        backtests=summarise_backtests(backtests),
        backtest_law=backtests[0].law,
        backtest_note="",
        trust=forecast_trust(backtests),
        warnings=(f"Saturated: run {HOSTILE} sits near the floor", *fit.warnings),
        version="0.1.0",
        generated_at="2026-11-26 12:00 UTC",
        dataset_sha256="ab" * 32,
        seed=boot.seed,
    )


class _Collect(HTMLParser):
    """Element tags and text of an HTML document (to check what a browser would build)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Collect:
    parser = _Collect()
    parser.feed(page)
    return parser


def test_html_report_states_the_fitted_numbers_and_intervals(chinchilla_report: FitReport) -> None:
    page = fit_report_html(chinchilla_report, SVG)
    text = " ".join(parse(page).text)
    fit, intervals = chinchilla_report.fit, chinchilla_report.intervals
    for name in ("E", "A", "B", "alpha", "beta"):
        assert f"{fit.params[name]:.6g}" in text
        low, high = intervals[name]
        assert f"[{low:.4g}, {high:.4g}]" in text
    assert "α = " in text and "240 of 245" in text
    assert f"{fit.r2_log:.4f}" in text
    assert "Scalescope 0.1.0" in text and "2026-11-26 12:00 UTC" in text
    assert "huber_log" in text and "the 5 highest-loss runs" in text


def test_html_report_has_backtests_trust_warnings_and_the_chart(
    chinchilla_report: FitReport,
) -> None:
    page = fit_report_html(chinchilla_report, SVG)
    for b in chinchilla_report.backtests:
        assert f"{b.mape_pct:.2f}%" in page and f"{b.farthest:.3g}×" in page
    assert chinchilla_report.trust.split(" (")[0] in page
    assert "Saturated: run" in page
    uri = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert uri is not None
    import base64

    assert ET.fromstring(base64.b64decode(uri.group(1))).tag.endswith("svg")


def test_html_report_escapes_hostile_names(chinchilla_report: FitReport) -> None:
    page = fit_report_html(chinchilla_report, SVG)
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert parse(page).tags.count("script") == 0  # no script element anywhere
    attr = replace(chinchilla_report, dataset='x" onerror="alert(1)')
    assert 'onerror="alert(1)"' not in fit_report_html(attr, SVG)


def test_html_report_without_a_chart_says_why(chinchilla_report: FitReport) -> None:
    page = fit_report_html(chinchilla_report, None, f"Chart not included: no browser {HOSTILE}")
    assert "Chart not included: no browser" in page and "<img" not in page
    assert HOSTILE not in page


def test_html_report_without_bootstrap_or_backtests(chinchilla_report: FitReport) -> None:
    bare = replace(
        chinchilla_report, intervals=None, backtests=(), backtest_note="only 4 runs", warnings=()
    )
    page = fit_report_html(bare)
    assert "no bootstrap" in page and "No backtest: only 4 runs" in page
    assert "No warnings" in page


def test_markdown_report_numbers_escaping_and_chart(chinchilla_report: FitReport) -> None:
    report = replace(chinchilla_report, dataset=HOSTILE_MD)
    md = fit_report_markdown(report, b"\x89PNG fake")
    fit = report.fit
    assert f"{fit.params['alpha']:.6g}" in md.replace("\\.", ".")
    assert "](data:image/png;base64," in md
    assert f"$$\n{report.law.formula(fit.params)}\n$$" in md  # the fitted formula (LaTeX)
    assert "[click](javascript" not in md and "![x](http" not in md
    assert "\\[click\\]" in md
    assert HOSTILE not in fit_report_markdown(chinchilla_report)
    for b in report.backtests:
        assert f"{b.mape_pct:.2f}%" in md.replace("\\.", ".")


def test_markdown_escape_neutralises_html_and_markdown() -> None:
    assert markdown_escape("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    assert markdown_escape("a|b") == "a\\|b"
    assert markdown_escape("[a](b)") == "\\[a\\]\\(b\\)"


# -------------------------------------------------------------------------------- headlines


def test_fit_headline_leads_with_the_exponents(chinchilla_report: FitReport) -> None:
    h = fit_headline(chinchilla_report.law, chinchilla_report.fit, chinchilla_report.intervals)
    alpha = chinchilla_report.fit.params["alpha"]
    low, high = chinchilla_report.intervals["alpha"]
    assert h.value == f"α = {alpha:.3g}"
    assert h.interval == f"[{low:.3g}, {high:.3g}]"
    assert h.sentence.startswith(f"L(N, D) fit: α = {alpha:.3g} [{low:.3g}, {high:.3g}], β = ")
    assert "(240 runs, 95% bootstrap intervals)" in h.sentence


def test_one_resource_headline_names_the_variable() -> None:
    law = get_law("power")
    x = np.geomspace(1e18, 1e21, 10)
    fit = fit_law(law, {"x": x}, 2 * (x / 1e18) ** -0.3 + 1.5)
    h = fit_headline(law, fit, None, "compute")
    assert h.title == "L(C) fit" and h.value == f"b = {fit.params['b']:.3g}" and h.interval == ""


def test_plan_headline_states_n_d_and_their_intervals() -> None:
    h = plan_headline(5.76e23, 6.9e10, 1.39e12, 1.93, {"params_opt": (5e10, 9e10)})
    assert h == Headline(
        title="At 5.76e23 FLOPs",
        value="N* = 69B",
        interval="[50B, 90B]",
        sentence="At 5.76e23 FLOPs: N* = 69B [50B, 90B] parameters, D* = 1.39T tokens "
        "(20.1 per parameter), predicted loss 1.9300.",
    )


class _Flag:
    def __init__(self, kind: str, sentence: str, series: str = "all runs") -> None:
        self.kind, self.sentence, self.series = kind, sentence, series


def test_regimes_headline_leads_with_the_most_consequential_flag() -> None:
    flags = [_Flag("initial", "first points flat"), _Flag("saturated", "near the floor")]
    h = regimes_headline(flags, 2)
    assert (h.value, h.sentence, h.interval) == ("Saturated", "near the floor", "1 more flag")
    clear = regimes_headline([], 3)
    assert clear.value == "Power law throughout" and "all 3 series" in clear.sentence


def test_plain_formula_reads_without_latex() -> None:
    params = {"E": 1.82, "A": 482.0, "B": 2085.4, "alpha": 0.3478, "beta": 0.3658}
    latex = get_law("chinchilla").formula(params)
    assert plain_formula(latex) == "L(N, D) = 1.82 + 482/N^0.3478 + 2085/D^0.3658"
    sigmoid = get_law("sigmoid").formula({"lo": 0.25, "hi": 0.9, "k": 1.5, "x0": 1e21})
    assert "\\" not in plain_formula(sigmoid) and "{" not in plain_formula(sigmoid)
