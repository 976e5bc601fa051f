"""One-sentence headlines and the one-page fit report: pure text from results, no I/O.

Why a module: the presentation page, the Fit page's report download and the tests must state the
same numbers in the same words. Everything here takes results (a ``FitResult``, intervals,
flags) and returns strings, so it is cheap to test and never refits.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from scaling_core.backtest import Backtest, backtest_error_at, trust_sentence
from scaling_core.charts import engineering
from scaling_core.fitting import FitResult
from scaling_core.laws import Law

GREEK = {
    r"\alpha": "α", r"\beta": "β", r"\gamma": "γ", r"\delta": "δ", r"\sigma": "σ",
}  # fmt: skip
"""LaTeX symbols of the laws' parameters as plain text (headlines are not LaTeX)."""

FLAG_ORDER = ("inverse_scaling", "non_scaling", "emergence", "saturated", "too_small_model",
              "initial")  # fmt: skip
"""Regime flags from most to least consequential: the presentation leads with the first."""

FLAG_LABELS = {
    "inverse_scaling": "Inverse scaling",
    "non_scaling": "No trend",
    "saturated": "Saturated",
    "initial": "Initial regime",
    "emergence": "Emergence",
    "too_small_model": "Model too small",
}


@dataclass(frozen=True)
class Headline:
    """One screen's key insight: a big value, its interval, and one sentence with the numbers."""

    title: str
    value: str
    interval: str
    sentence: str


def plain_symbol(symbol: str) -> str:
    r"""A parameter's LaTeX symbol as plain text: ``\alpha_N`` → ``α_N``."""
    for latex, text in GREEK.items():
        symbol = symbol.replace(latex, text)
    return symbol.replace("{", "").replace("}", "")


SIMPLE_TERM = re.compile(r"^[\w.^\-]+$")
FRACTION = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}")
EXPONENT = re.compile(r"\^\{([^{}]*)\}")


def _group(term: str) -> str:
    """``term`` in parentheses unless it is one number or symbol."""
    return term if SIMPLE_TERM.match(term) else f"({term})"


def plain_formula(latex: str) -> str:
    r"""A law's LaTeX as readable plain text: ``\frac{482}{N^{0.35}}`` → ``482/N^0.35``.

    The laws' formulas use a handful of constructs (fractions, braced exponents, sized
    brackets, ``\cdot``, ``\,``); anything else is left as written.
    """
    text = latex.replace(r"\left", "").replace(r"\right", "")
    text = text.replace(r"\cdot", "·").replace(r"\,", " ")
    for _ in range(4):  # nested fractions and exponents unwrap from the inside out
        text = EXPONENT.sub(lambda m: "^" + _group(m.group(1)), text)
        text = FRACTION.sub(lambda m: f"{_group(m.group(1))}/{_group(m.group(2))}", text)
    return plain_symbol(text)


def fmt_number(value: float) -> str:
    """3 significant digits; engineering suffixes for large counts (1.4e9 → 1.4B)."""
    if value is None or not np.isfinite(value):
        return "—"
    return engineering(float(value)) if abs(value) >= 1e3 else f"{value:.3g}"


def fmt_interval(interval: tuple[float, float] | None) -> str:
    """``[low, high]`` or empty when there is no interval."""
    if interval is None or not all(v is not None and np.isfinite(v) for v in interval):
        return ""
    return f"[{fmt_number(interval[0])}, {fmt_number(interval[1])}]"


def headline_parameters(law: Law) -> tuple[str, ...]:
    """The parameters a headline leads with: the exponents (they decide how a law scales), or
    the first parameter of a law without one."""
    names = tuple(p.name for p in law.public if "exponent" in p.meaning)
    return names or (law.public[0].name,)


RESOURCE_SYMBOLS = {"params": "N", "tokens": "D", "compute": "C"}


def law_label(law: Law, x: str | None = None) -> str:
    """``L(N, D)`` for joint laws, ``L(C)`` for a one-resource law fitted against compute."""
    if len(law.inputs) > 1:
        return f"L({', '.join(law.inputs)})"
    return f"L({RESOURCE_SYMBOLS.get(x or '', 'x')})"


def fit_headline(
    law: Law,
    fit: FitResult,
    intervals: Mapping[str, tuple[float, float]] | None,
    x: str | None = None,
) -> Headline:
    """The fit screen: the exponent(s) with their 95% intervals, e.g.
    "L(N, D) fit: α = 0.339 [0.31, 0.37], β = 0.285 [0.26, 0.31] (240 runs)."."""
    intervals = intervals or {}
    label = law_label(law, x)
    symbols = {p.name: plain_symbol(p.symbol) for p in law.public}
    names = headline_parameters(law)
    parts = [
        f"{symbols[n]} = {fmt_number(fit.params[n])}"
        + (f" {fmt_interval(intervals.get(n))}" if fmt_interval(intervals.get(n)) else "")
        for n in names
    ]
    lead = names[0]
    how = "95% bootstrap intervals" if intervals else "no bootstrap intervals"
    return Headline(
        title=f"{label} fit",
        value=f"{symbols[lead]} = {fmt_number(fit.params[lead])}",
        interval=fmt_interval(intervals.get(lead)),
        sentence=f"{label} fit: {', '.join(parts)} ({fit.n_points} runs, {how}).",
    )


def plan_headline(
    compute: float,
    params_opt: float,
    tokens_opt: float,
    loss_opt: float,
    intervals: Mapping[str, tuple[float, float]] | None,
) -> Headline:
    """The plan screen: N* at the budget with its interval, D* and the loss in the sentence."""
    intervals = intervals or {}
    n_int = fmt_interval(intervals.get("params_opt"))
    d_int = fmt_interval(intervals.get("tokens_opt"))
    return Headline(
        title=f"At {engineering(compute)} FLOPs",
        value=f"N* = {fmt_number(params_opt)}",
        interval=n_int,
        sentence=(
            f"At {engineering(compute)} FLOPs: N* = {fmt_number(params_opt)}"
            + (f" {n_int}" if n_int else "")
            + f" parameters, D* = {fmt_number(tokens_opt)}"
            + (f" {d_int}" if d_int else "")
            + f" tokens ({tokens_opt / params_opt:.3g} per parameter), "
            f"predicted loss {loss_opt:.4f}."
        ),
    )


def main_flag(flags: Sequence) -> object | None:
    """The most consequential flag (see :data:`FLAG_ORDER`), or None. Flags need ``kind``."""
    ranked = sorted(
        flags, key=lambda f: FLAG_ORDER.index(f.kind) if f.kind in FLAG_ORDER else len(FLAG_ORDER)
    )
    return ranked[0] if ranked else None


def regimes_headline(flags: Sequence, n_series: int) -> Headline:
    """The regimes screen: the main flag's label and sentence, or the all-clear."""
    flag = main_flag(flags)
    if flag is None:
        return Headline(
            title="Regimes",
            value="Power law throughout",
            interval="",
            sentence=(
                "No flags: the series scales as a power law over its whole range."
                if n_series == 1
                else f"No flags: all {n_series} series scale as a power law over their range."
            ),
        )
    others = len(flags) - 1
    return Headline(
        title="Regimes",
        value=FLAG_LABELS.get(flag.kind, flag.kind),
        interval=f"{others} more flag{'s' if others != 1 else ''}" if others else "",
        sentence=flag.sentence,
    )


# ------------------------------------------------------------------------ the fit report


@dataclass(frozen=True)
class BacktestSummary:
    """One leave-largest-out backtest as the report states it."""

    cutoff: float
    """Runs with the scale variable ≤ cutoff were fitted."""
    n_train: int
    n_test: int
    farthest: float
    """Largest held-out scale / largest fitted scale."""
    mape_pct: float
    worst_pct: float


@dataclass(frozen=True)
class FitReport:
    """Everything the one-page fit report states; built by the Fit page from cached results."""

    dataset: str
    law: Law
    fit: FitResult
    intervals: Mapping[str, tuple[float, float]] | None
    """95% bootstrap intervals of the public parameters (None: no bootstrap)."""
    n_resamples: int
    x: str
    """The scale variable (``compute`` for joint laws)."""
    runs_used: int
    runs_total: int
    exclusions: tuple[str, ...]
    """Sentences saying which runs or points were left out, e.g. "5 highest-loss runs"."""
    backtests: tuple[BacktestSummary, ...]
    backtest_law: str
    backtest_note: str
    """Why there are no backtests (empty when there are)."""
    trust: str
    """The trust sentence of a forecast at 10× the largest run."""
    warnings: tuple[str, ...]
    version: str
    generated_at: str
    """ISO date-time (UTC) the report was made."""
    dataset_sha256: str = ""
    seed: int = 0


FORECAST_REACH = 10.0
"""The report's trust sentence is for a forecast at 10× the largest run (where the charts'
curves end)."""


def summarise_backtests(backtests: Sequence[Backtest]) -> tuple[BacktestSummary, ...]:
    """The report's rows of leave-largest-out backtests."""
    return tuple(
        BacktestSummary(
            cutoff=b.cutoff, n_train=b.n_train, n_test=b.n_test,
            farthest=b.max_extrapolation_ratio, mape_pct=b.mape_pct,
            worst_pct=b.max_abs_error_pct,
        )
        for b in backtests
    )  # fmt: skip


def forecast_trust(backtests: Sequence[Backtest] | None, reach: float = FORECAST_REACH,
                   resource: str = "compute") -> str:  # fmt: skip
    """The trust sentence of a forecast at ``reach``× the largest fitted scale, tightened when
    backtests at a similar distance missed (see :func:`scaling_core.backtest.trust_sentence`)."""
    error = backtest_error_at(list(backtests), reach) if backtests else None
    return trust_sentence(reach, error, resource)


def _rows(report: FitReport) -> list[tuple[str, str, str, str, str]]:
    """Parameter rows: name, symbol, estimate, interval, meaning (plain text, unescaped)."""
    intervals = report.intervals or {}
    return [
        (
            p.name,
            plain_symbol(p.symbol),
            f"{report.fit.params[p.name]:.6g}",
            _precise_interval(intervals.get(p.name)),
            p.meaning,
        )
        for p in report.law.public
    ]


def _precise_interval(interval: tuple[float, float] | None) -> str:
    """A parameter-table interval: 4 significant digits (the estimate column shows 6)."""
    if not fmt_interval(interval):
        return "—"
    return f"[{interval[0]:.4g}, {interval[1]:.4g}]"


def _summary_lines(report: FitReport) -> list[tuple[str, str]]:
    """Label/value pairs of the report's header (plain text, unescaped)."""
    fit = report.fit
    band = (
        f"{report.n_resamples} bootstrap resamples over runs (seed {report.seed})"
        if report.intervals
        else "no bootstrap (no intervals)"
    )
    return [
        ("Dataset", report.dataset),
        ("Law", report.law.title),
        ("Objective", fit.objective_name),
        ("Runs used", f"{report.runs_used} of {report.runs_total}"),
        ("Left out", "; ".join(report.exclusions) or "nothing"),
        ("Fit quality", f"R² (log) = {fit.r2_log:.4f}; residual std {fit.residual_std:.4f}"),
        ("Intervals", band),
        ("Converged", "yes" if fit.converged else "no"),
    ]


REPORT_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#222;line-height:1.45}h1{font-size:1.5rem}
h2{font-size:1.15rem;margin-top:1.6rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}.num{text-align:right;
font-variant-numeric:tabular-nums}pre{background:#f6f6f6;padding:.6rem;overflow-x:auto}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.4rem .7rem;margin:.3rem 0}
img{max-width:100%}footer{color:#666;font-size:.85rem;margin-top:2rem}"""


def fit_report_html(report: FitReport, chart_svg: bytes | None = None,
                    chart_note: str = "") -> str:  # fmt: skip
    """The one-page report as a standalone HTML document.

    Every string that can come from a user (dataset and run names, warnings that quote them)
    is HTML-escaped. The chart is embedded as an SVG *image* (``data:`` URI): self-contained,
    scalable, and an ``<img>`` never runs script, whatever text the SVG holds.
    """
    e = html_escape
    h = fit_headline(report.law, report.fit, report.intervals, report.x)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Fit report: {e(report.dataset)}</title>",
        f"<style>{REPORT_CSS}</style></head><body>",
        f"<h1>Fit report: {e(report.dataset)}</h1>",
        f"<p><strong>{e(h.sentence)}</strong></p>",
        "<table>",
        *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _summary_lines(report)),
        "</table>",
        "<h2>Law and fitted formula</h2>",
        f"<p>{e(report.law.title)}</p>",
        f"<pre>{e(plain_formula(report.law.formula(report.fit.params)))}</pre>",
        f"<p>LaTeX: <code>{e(report.law.formula(report.fit.params))}</code></p>",
        "<h2>Parameters</h2>",
        "<table><tr><th>parameter</th><th>symbol</th><th>estimate</th>"
        "<th>95% interval</th><th>meaning</th></tr>",
        *(
            f'<tr><td>{e(n)}</td><td>{e(s)}</td><td class="num">{e(v)}</td>'
            f'<td class="num">{e(i)}</td><td>{e(m)}</td></tr>'
            for n, s, v, i, m in _rows(report)
        ),
        "</table>",
        "<h2>Chart</h2>",
    ]
    if chart_svg:
        uri = "data:image/svg+xml;base64," + base64.b64encode(chart_svg).decode("ascii")
        parts.append(f'<img alt="Fit chart of {e(report.dataset)}" src="{uri}">')
    else:
        parts.append(f"<p>{e(chart_note or 'Chart not included.')}</p>")
    parts += ["<h2>Backtest and trust</h2>", *_backtest_html(report)]
    parts.append("<h2>Warnings</h2>")
    if report.warnings:
        parts += [f'<div class="warn">{e(w)}</div>' for w in report.warnings]
    else:
        parts.append("<p>No warnings: converged, no parameter on a bound, residuals unbiased.</p>")
    parts += [
        f"<footer>{e(_provenance(report))}</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _backtest_html(report: FitReport) -> list[str]:
    e = html_escape
    out = []
    if report.backtests:
        out += [
            f"<p>Leave-largest-out backtests of the {e(report.backtest_law)} law along "
            f"{e(report.x)}: fit on the runs up to a cutoff, forecast the rest.</p>",
            "<table><tr><th>fit on runs with scale ≤</th><th>fitted runs</th>"
            "<th>held-out runs</th><th>farthest held-out</th><th>mean |error|</th>"
            "<th>worst |error|</th></tr>",
            *(
                f'<tr><td class="num">{e(fmt_number(b.cutoff))}</td>'
                f'<td class="num">{b.n_train}</td><td class="num">{b.n_test}</td>'
                f'<td class="num">{b.farthest:.3g}×</td><td class="num">{b.mape_pct:.2f}%</td>'
                f'<td class="num">{b.worst_pct:.2f}%</td></tr>'
                for b in report.backtests
            ),
            "</table>",
        ]
    else:
        out.append(f"<p>No backtest: {e(report.backtest_note or 'not computed')}</p>")
    out.append(f"<p><strong>Trust:</strong> {e(report.trust)}</p>")
    return out


def _provenance(report: FitReport) -> str:
    digest = f" · data sha256 {report.dataset_sha256[:12]}" if report.dataset_sha256 else ""
    return (
        f"Scalescope {report.version} · generated {report.generated_at} · objective "
        f"{report.fit.objective_name} · {report.runs_used} runs used, "
        f"{report.runs_total - report.runs_used} left out{digest}"
    )


def html_escape(text: object) -> str:
    """HTML-escape any value's text (quotes too: values also land in attributes)."""
    return html.escape(str(text), quote=True)


MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~])")


def markdown_escape(text: object) -> str:
    """Text safe inside Markdown: HTML-escaped (Markdown passes raw HTML through) and Markdown
    punctuation backslash-escaped (a run name cannot become a link, an image or a table cell)."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=True))


def fit_report_markdown(report: FitReport, chart_png: bytes | None = None,
                        chart_note: str = "") -> str:  # fmt: skip
    """The one-page report as Markdown. The chart is a ``data:`` PNG image when given (viewers
    that block data URIs show the alt text), else ``chart_note``."""
    m = markdown_escape
    h = fit_headline(report.law, report.fit, report.intervals, report.x)
    lines = [
        f"# Fit report: {m(report.dataset)}",
        "",
        f"**{m(h.sentence)}**",
        "",
        "| | |",
        "|---|---|",
        *(f"| {m(k)} | {m(v)} |" for k, v in _summary_lines(report)),
        "",
        "## Law and fitted formula",
        "",
        m(report.law.title),
        "",
        "$$",
        report.law.formula(report.fit.params),
        "$$",
        "",
        "## Parameters",
        "",
        "| parameter | symbol | estimate | 95% interval | meaning |",
        "|---|---|---:|---:|---|",
        *(f"| {m(n)} | {m(s)} | {m(v)} | {m(i)} | {m(mm)} |" for n, s, v, i, mm in _rows(report)),
        "",
        "## Chart",
        "",
    ]
    if chart_png:
        uri = "data:image/png;base64," + base64.b64encode(chart_png).decode("ascii")
        lines.append(f"![Fit chart]({uri})")
    else:
        lines.append(m(chart_note or "Chart not included."))
    lines += ["", "## Backtest and trust", ""]
    if report.backtests:
        lines += [
            f"Leave-largest-out backtests of the {m(report.backtest_law)} law along "
            f"{m(report.x)}: fit on the runs up to a cutoff, forecast the rest.",
            "",
            "| fit on runs with scale ≤ | fitted runs | held-out runs | farthest held-out "
            "| mean \\|error\\| | worst \\|error\\| |",
            "|---:|---:|---:|---:|---:|---:|",
            *(
                f"| {m(fmt_number(b.cutoff))} | {b.n_train} | {b.n_test} | {b.farthest:.3g}× "
                f"| {b.mape_pct:.2f}% | {b.worst_pct:.2f}% |"
                for b in report.backtests
            ),
        ]
    else:
        lines.append(f"No backtest: {m(report.backtest_note or 'not computed')}")
    lines += ["", f"**Trust:** {m(report.trust)}", "", "## Warnings", ""]
    if report.warnings:
        lines += [f"- {m(w)}" for w in report.warnings]
    else:
        lines.append("No warnings: converged, no parameter on a bound, residuals unbiased.")
    lines += ["", "---", "", m(_provenance(report)), ""]
    return "\n".join(lines)
