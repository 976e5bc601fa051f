"""One-sentence headlines and the one-page fit report: pure text from results, no I/O.

Why a module: the presentation page, the Fit page's report download and the tests must state the
same numbers in the same words. Everything here takes results (a ``FitResult``, intervals,
flags) and returns strings, so it is cheap to test and never refits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

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
            sentence=f"No flags: all {n_series} series scale as a power law over their range.",
        )
    others = len(flags) - 1
    return Headline(
        title="Regimes",
        value=FLAG_LABELS.get(flag.kind, flag.kind),
        interval=f"{others} more flag{'s' if others != 1 else ''}" if others else "",
        sentence=flag.sentence,
    )
