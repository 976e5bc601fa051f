"""Plotly figures built from results: pure functions, results in, figure out. No fitting here.

Log axes are the point of a scaling dashboard, so every scale axis is logarithmic with decade
ticks labelled in engineering notation (1e9 → 1B) and curves are sampled evenly in log x, so a
curve never looks kinked on log axes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
FIT_COLOR = "#d62728"
POINT_COLOR = "#1f77b4"
BAND_ALPHA = 0.18
NEUTRAL = "#8c8c8c"
"""Reference lines and neutral markers: a mid grey that reads on the light and the dark theme
(black vanished on the dark background)."""
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
)  # fmt: skip


def engineering(value: float, digits: int = 3) -> str:
    """1.4e9 → '1.4B', 7e7 → '70M', 5.76e23 → '5.76e23' (beyond T, scientific), 0.34 → '0.34'."""
    if not np.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1e15:
        mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    for scale, suffix in SUFFIXES:
        if magnitude >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def log_ticks(values: Sequence[float] | np.ndarray) -> tuple[list[float], list[str]]:
    """Decade tick positions covering ``values`` (positive) and their engineering labels."""
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size == 0:
        return [], []
    lo, hi = int(np.floor(np.log10(finite.min()))), int(np.ceil(np.log10(finite.max())))
    step = max(1, (hi - lo) // 8)
    ticks = [10.0**k for k in range(lo, hi + 1, step)]
    return ticks, [engineering(t) for t in ticks]


def log_grid(values: np.ndarray, extend: float = 1.0, n: int = 200) -> np.ndarray:
    """``n`` points evenly spaced in log between min(values) and max(values)·extend."""
    return np.geomspace(float(np.min(values)), float(np.max(values)) * extend, n)


def _axes(
    fig: go.Figure,
    x_title: str,
    y_title: str,
    x_values: np.ndarray,
    y_values: np.ndarray,
    y_log: bool = True,
) -> go.Figure:
    xt, xl = log_ticks(x_values)
    fig.update_xaxes(type="log", title=x_title, tickvals=xt, ticktext=xl)
    if y_log:
        yv = np.asarray(y_values, float)
        yv = yv[np.isfinite(yv) & (yv > 0)]
        # Losses span less than a decade: label a handful of plain values, not decades.
        ticks = np.unique(np.round(np.geomspace(yv.min(), yv.max(), 6), 2)) if yv.size else []
        fig.update_yaxes(
            type="log", title=y_title, tickvals=list(ticks), ticktext=[f"{t:g}" for t in ticks]
        )
    else:
        fig.update_yaxes(title=y_title)
    fig.update_layout(
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hovermode="closest",
        # No template here: copying one costs ~0.1 s per figure, and st.plotly_chart applies
        # the app theme anyway (the standalone HTML export keeps plotly's default look).
    )
    return fig


# Plain shapes rather than fig.add_vline/add_hline/add_vrect: those resolve subplot grids on
# every call and cost ~30 ms each, which a slider move would pay again and again.


def _vline(fig: go.Figure, x: float, text: str = "") -> None:
    """A dotted vertical line at data x across the plot, labelled at the top."""
    fig.add_shape(
        type="line",
        x0=x,
        x1=x,
        y0=0,
        y1=1,
        yref="paper",
        line={"color": NEUTRAL, "dash": "dot", "width": 1},
    )
    if text:
        fig.add_annotation(
            x=np.log10(x),
            y=1,
            yref="paper",
            text=text,
            showarrow=False,
            xanchor="right",
            yanchor="top",
        )


def _hline(fig: go.Figure, y: float, text: str = "") -> None:
    """A dotted horizontal line at data y across the plot, labelled at the right."""
    fig.add_shape(
        type="line",
        x0=0,
        x1=1,
        xref="paper",
        y0=y,
        y1=y,
        line={"color": NEUTRAL, "dash": "dot", "width": 1},
    )
    if text:
        fig.add_annotation(
            x=1, xref="paper", y=y, text=text, showarrow=False, xanchor="right", yanchor="bottom"
        )


def _vrect(fig: go.Figure, x0: float, x1: float, color: str, text: str = "") -> None:
    """A shaded band between data x0 and x1, below the traces."""
    fig.add_shape(
        type="rect",
        x0=x0,
        x1=x1,
        y0=0,
        y1=1,
        yref="paper",
        fillcolor=color,
        line={"width": 0},
        layer="below",
    )
    if text:
        fig.add_annotation(
            x=np.log10(x0),
            y=1,
            yref="paper",
            text=text,
            showarrow=False,
            xanchor="left",
            yanchor="top",
        )


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def add_band(
    fig: go.Figure,
    x: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    color: str,
    name: str,
    legend: bool = True,
) -> None:
    """A filled band between ``low`` and ``high`` along ``x``."""
    fig.add_trace(
        go.Scatter(
            x=x,
            y=high,
            mode="lines",
            line={"width": 0},
            showlegend=False,
            hoverinfo="skip",
            legendgroup=name,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=low,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=_rgba(color, BAND_ALPHA),
            name=name,
            showlegend=legend,
            hoverinfo="skip",
            legendgroup=name,
        )
    )


def _add_saturated(fig: go.Figure, x: np.ndarray, loss: np.ndarray, names: np.ndarray,
                   mask: np.ndarray, color: str) -> None:  # fmt: skip
    """The runs within 5% of the fitted floor, as ✕ markers."""
    fig.add_trace(go.Scatter(
        x=x[mask], y=loss[mask], mode="markers", name="saturated (near floor)",
        marker={"color": color, "size": 11, "symbol": "x"}, text=names[mask],
        hovertemplate="%{text}<br>saturated<br>loss=%{y:.4f}",
    ))  # fmt: skip


def single_resource_figure(
    *,
    x: np.ndarray,
    loss: np.ndarray,
    run_names: np.ndarray,
    curve_x: np.ndarray,
    curve_y: np.ndarray,
    band: tuple[np.ndarray, np.ndarray] | None,
    band_label: str,
    saturated: np.ndarray,
    x_title: str,
    y_title: str,
    floor: float | None = None,
) -> go.Figure:
    """Observed runs, the fitted curve, its band, saturated points marked, and the floor."""
    fig = go.Figure()
    if band is not None:
        add_band(fig, curve_x, band[0], band[1], FIT_COLOR, band_label)
    fig.add_trace(
        go.Scatter(
            x=curve_x, y=curve_y, mode="lines", name="fit", line={"color": FIT_COLOR, "width": 2.5}
        )
    )
    normal = ~saturated
    fig.add_trace(
        go.Scatter(
            x=x[normal],
            y=loss[normal],
            mode="markers",
            name="runs",
            marker={"color": POINT_COLOR, "size": 8, "line": {"width": 1, "color": "white"}},
            text=run_names[normal],
            hovertemplate="%{text}<br>x=%{x:.3s}<br>loss=%{y:.4f}",
        )
    )
    if saturated.any():
        _add_saturated(fig, x, loss, run_names, saturated, "#ff7f0e")
    if floor is not None and floor > 0:
        _hline(fig, floor, f"floor {floor:.3g}")
    all_y = np.concatenate([loss, curve_y] + ([band[0], band[1]] if band is not None else []))
    return _axes(fig, x_title, y_title, np.concatenate([x, curve_x]), all_y)


def joint_figure(
    *,
    tokens: np.ndarray,
    loss: np.ndarray,
    size_bin: np.ndarray,
    bin_sizes: np.ndarray,
    run_names: np.ndarray,
    curve_tokens: np.ndarray,
    curves: np.ndarray,
    bands: tuple[np.ndarray, np.ndarray] | None,
    band_label: str,
    saturated: np.ndarray,
    y_title: str,
) -> go.Figure:
    """Loss vs tokens, one colour per model-size bin: runs and the fitted curve at that size.

    ``curves``/``bands`` have shape (n_bins, m) over ``curve_tokens`` (m,); ``size_bin`` (n,)
    assigns each run to a bin whose representative size is ``bin_sizes[k]``.
    """
    fig = go.Figure()
    for k, size in enumerate(bin_sizes):
        color = PALETTE[k % len(PALETTE)]
        label = f"N ≈ {engineering(size)}"
        if bands is not None:
            add_band(
                fig,
                curve_tokens,
                bands[0][k],
                bands[1][k],
                color,
                f"{label} {band_label}",
                legend=False,
            )
        fig.add_trace(
            go.Scatter(
                x=curve_tokens,
                y=curves[k],
                mode="lines",
                name=label,
                line={"color": color, "width": 2},
                legendgroup=label,
            )
        )
        sel = (size_bin == k) & ~saturated
        fig.add_trace(
            go.Scatter(
                x=tokens[sel],
                y=loss[sel],
                mode="markers",
                showlegend=False,
                legendgroup=label,
                marker={"color": color, "size": 7, "line": {"width": 1, "color": "white"}},
                text=run_names[sel],
                hovertemplate="%{text}<br>D=%{x:.3s}<br>loss=%{y:.4f}",
            )
        )
    if saturated.any():
        _add_saturated(fig, tokens, loss, run_names, saturated, NEUTRAL)
    all_y = np.concatenate([loss, curves.ravel()])
    return _axes(fig, "training tokens D", y_title, np.concatenate([tokens, curve_tokens]), all_y)


def residual_figure(
    x: np.ndarray, residuals: np.ndarray, run_names: np.ndarray, x_title: str
) -> go.Figure:
    """Log residuals (log y − log ŷ) against the scale variable, with the zero line."""
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=residuals,
            mode="markers",
            name="residual",
            text=run_names,
            marker={"color": POINT_COLOR, "size": 7},
            hovertemplate="%{text}<br>x=%{x:.3s}<br>log residual=%{y:+.4f}",
        )
    )
    _hline(fig, 0.0)
    return _axes(fig, x_title, "log residual  (log L − log L̂)", x, residuals, y_log=False)


def isoflop_figure(
    *,
    budgets: Sequence[float],
    n_values: np.ndarray,
    losses: Sequence[np.ndarray],
    optimum_n: float,
    optimum_loss: float,
    n_interval: tuple[float, float] | None,
    observed_n: np.ndarray | None = None,
    observed_loss: np.ndarray | None = None,
    y_title: str = "loss",
) -> go.Figure:
    """IsoFLOP profiles (loss vs N along D = C/6N) at each budget; the chosen one's optimum."""
    fig = go.Figure()
    for k, (budget, curve) in enumerate(zip(budgets, losses, strict=True)):
        chosen = k == len(budgets) // 2
        fig.add_trace(
            go.Scatter(
                x=n_values,
                y=curve,
                mode="lines",
                name=f"C = {engineering(budget)} FLOPs",
                line={
                    "color": FIT_COLOR if chosen else PALETTE[k % len(PALETTE)],
                    "width": 3 if chosen else 1.5,
                    "dash": None if chosen else "dash",
                },
            )
        )
    if n_interval is not None and all(np.isfinite(n_interval)):
        _vrect(fig, n_interval[0], n_interval[1], _rgba(FIT_COLOR, 0.12), "95% CI of N*")
    fig.add_trace(
        go.Scatter(
            x=[optimum_n],
            y=[optimum_loss],
            mode="markers",
            name="compute-optimal N*",
            marker={
                "color": FIT_COLOR,
                "size": 14,
                "symbol": "star",
                "line": {"width": 1, "color": "black"},
            },
            hovertemplate="N*=%{x:.3s}<br>loss=%{y:.4f}",
        )
    )
    ys = [np.asarray(c) for c in losses]
    if observed_n is not None and observed_loss is not None and observed_n.size:
        fig.add_trace(
            go.Scatter(
                x=observed_n,
                y=observed_loss,
                mode="markers",
                name="runs near this budget",
                marker={"color": "grey", "size": 7, "opacity": 0.7},
            )
        )
        ys.append(observed_loss)
    return _axes(fig, "parameters N", y_title, n_values, np.concatenate(ys))


def frontier_figure(
    *,
    budgets: np.ndarray,
    params_opt: np.ndarray,
    tokens_opt: np.ndarray,
    params_band: tuple[np.ndarray, np.ndarray] | None,
    tokens_band: tuple[np.ndarray, np.ndarray] | None,
    chosen_budget: float,
    observed_compute: np.ndarray,
    observed_params: np.ndarray,
    observed_tokens: np.ndarray,
) -> go.Figure:
    """The efficient frontier N*(C) and D*(C) on log-log axes, with the observed runs."""
    fig = go.Figure()
    for name, values, band, color, obs in (
        ("N*(C) parameters", params_opt, params_band, PALETTE[0], observed_params),
        ("D*(C) tokens", tokens_opt, tokens_band, PALETTE[1], observed_tokens),
    ):
        if band is not None:
            add_band(fig, budgets, band[0], band[1], color, f"{name} 95% CI", legend=False)
        fig.add_trace(
            go.Scatter(
                x=budgets, y=values, mode="lines", name=name, line={"color": color, "width": 2.5}
            )
        )
        fig.add_trace(
            go.Scatter(
                x=observed_compute,
                y=obs,
                mode="markers",
                showlegend=False,
                marker={"color": color, "size": 5, "opacity": 0.45},
                hoverinfo="skip",
            )
        )
    _vline(fig, chosen_budget, "budget")
    all_x = np.concatenate([budgets, observed_compute])
    all_y = np.concatenate([params_opt, tokens_opt, observed_params, observed_tokens])
    fig = _axes(fig, "training compute C (FLOPs)", "N* or D*", all_x, all_y)
    yt, yl = log_ticks(all_y)
    fig.update_yaxes(tickvals=yt, ticktext=yl)
    return fig


def isoflop_groups_figure(
    *,
    groups: Sequence,
    params: np.ndarray,
    loss: np.ndarray,
) -> go.Figure:
    """Method 2's evidence: each budget's runs, its fitted parabola over the sampled N range,
    and the vertex (N_opt). Skipped budgets are drawn grey with their reason on hover.

    ``groups`` are :class:`scaling_core.methods.IsoflopGroup`; ``params``/``loss`` index by
    their ``members``.
    """
    fig = go.Figure()
    for k, group in enumerate(groups):
        color = PALETTE[k % len(PALETTE)] if group.used else "#9e9e9e"
        label = f"C ≈ {group.compute:.2g}" + ("" if group.used else " (skipped)")
        members = np.asarray(group.members)
        fig.add_trace(
            go.Scatter(
                x=params[members],
                y=loss[members],
                mode="markers",
                name=label,
                legendgroup=label,
                marker={"color": color, "size": 7},
                hovertemplate=f"{label}<br>N=%{{x:.3s}}<br>loss=%{{y:.4f}}<extra>{group.reason}</extra>",
            )
        )
        n_grid = np.geomspace(group.params_min, group.params_max, 60)
        c0, c1, c2 = group.coefficients
        x = np.log(n_grid)
        fig.add_trace(
            go.Scatter(
                x=n_grid,
                y=c0 + c1 * x + c2 * x * x,
                mode="lines",
                showlegend=False,
                legendgroup=label,
                line={"color": color, "width": 1.5},
                hoverinfo="skip",
            )
        )
        if group.used:
            fig.add_trace(
                go.Scatter(
                    x=[group.params_opt],
                    y=[group.loss_opt],
                    mode="markers",
                    showlegend=False,
                    legendgroup=label,
                    marker={
                        "color": color,
                        "size": 13,
                        "symbol": "star",
                        "line": {"width": 1, "color": "black"},
                    },
                    hovertemplate="N_opt=%{x:.3s}<br>loss=%{y:.4f}<extra></extra>",
                )
            )
    members = (
        np.concatenate([np.asarray(g.members) for g in groups]) if groups else np.array([], int)
    )
    return _axes(fig, "parameters N", "loss", params[members], loss[members])


REGIME_COLORS = {"initial": "#9e9e9e", "power_law": "#1f77b4", "saturated": "#ff7f0e"}
REGIME_NAMES = {"initial": "initial", "power_law": "power law", "saturated": "saturated"}


def regimes_figure(
    *,
    x: np.ndarray,
    metric: np.ndarray,
    regime: np.ndarray,
    run_names: np.ndarray,
    x_title: str,
    y_title: str,
    curve: tuple[np.ndarray, np.ndarray] | None = None,
) -> go.Figure:
    """A series' points coloured by regime, each regime's x-range shaded, and an optional fit
    (drawn over the points it was fitted to)."""
    fig = go.Figure()
    for name, color in REGIME_COLORS.items():
        sel = regime == name
        if not sel.any():
            continue
        _vrect(fig, float(x[sel].min()), float(x[sel].max()), _rgba(color, 0.1))
        fig.add_trace(
            go.Scatter(
                x=x[sel],
                y=metric[sel],
                mode="markers",
                name=REGIME_NAMES[name],
                marker={"color": color, "size": 9, "line": {"width": 1, "color": "white"}},
                text=run_names[sel],
                hovertemplate="%{text}<br>x=%{x:.3s}<br>%{y:.4g}",
            )
        )
    if curve is not None:
        fig.add_trace(
            go.Scatter(
                x=curve[0],
                y=curve[1],
                mode="lines",
                name="fit",
                line={"color": FIT_COLOR, "width": 2},
            )
        )
    ys = [metric] + ([curve[1]] if curve is not None else [])
    return _axes(fig, x_title, y_title, x, np.concatenate(ys))


def backtest_figure(ratios: np.ndarray, errors_pct: np.ndarray, cutoffs: np.ndarray) -> go.Figure:
    """Held-out forecast error against extrapolation distance, one colour per cutoff."""
    fig = go.Figure()
    for k, cutoff in enumerate(np.unique(cutoffs)):
        sel = cutoffs == cutoff
        fig.add_trace(
            go.Scatter(
                x=ratios[sel],
                y=errors_pct[sel],
                mode="markers",
                name=f"fit on ≤ {engineering(cutoff)}",
                marker={"color": PALETTE[k % len(PALETTE)]},
                hovertemplate="%{x:.3g}× beyond the fit<br>error %{y:+.2f}%",
            )
        )
    _hline(fig, 0.0)
    fig = _axes(
        fig,
        "extrapolation distance (held-out scale / largest fitted scale)",
        "forecast error (% of observed loss)",
        ratios,
        errors_pct,
        y_log=False,
    )
    fig.update_xaxes(
        tickvals=[1, 2, 3, 5, 10, 30, 100, 300, 1000],
        ticktext=["1×", "2×", "3×", "5×", "10×", "30×", "100×", "300×", "1000×"],
    )
    return fig


def groups_figure(
    *,
    x: np.ndarray,
    loss: np.ndarray,
    group: np.ndarray,
    run_names: np.ndarray,
    curve_x: np.ndarray,
    curves: dict[str, np.ndarray],
    x_title: str,
) -> go.Figure:
    """Each group's runs and fitted curve in its own colour (parallel on log-log axes when the
    groups differ by a constant efficiency multiplier)."""
    fig = go.Figure()
    for k, name in enumerate(dict.fromkeys(group)):
        color = PALETTE[k % len(PALETTE)]
        sel = group == name
        fig.add_trace(
            go.Scatter(
                x=x[sel],
                y=loss[sel],
                mode="markers",
                name=name,
                legendgroup=name,
                marker={"color": color, "size": 8},
                text=run_names[sel],
                hovertemplate="%{text}<br>x=%{x:.3s}<br>loss=%{y:.4f}",
            )
        )
        if name in curves:
            fig.add_trace(
                go.Scatter(
                    x=curve_x,
                    y=curves[name],
                    mode="lines",
                    showlegend=False,
                    legendgroup=name,
                    line={"color": color, "width": 2},
                )
            )
    ys = [loss, *curves.values()]
    return _axes(fig, x_title, "loss", np.concatenate([x, curve_x]), np.concatenate(ys))


def sweep_figure(x: np.ndarray, y: np.ndarray, fitted, x_title: str, y_title: str
                 ) -> go.Figure:  # fmt: skip
    """Sweep points and a fitted relation ``fitted(x)`` on log-log axes."""
    grid = np.geomspace(float(x.min()) / 2, float(x.max()) * 2, 100)
    fig = go.Figure([
        go.Scatter(x=x, y=y, mode="markers", name="sweep", marker={"size": 9}),
        go.Scatter(x=grid, y=fitted(grid), mode="lines", name="fit",
                   line={"color": FIT_COLOR, "width": 2}),
    ])  # fmt: skip
    return _axes(fig, x_title, y_title, grid, np.concatenate([y, fitted(grid)]))


def downstream_figure(
    *,
    loss: np.ndarray,
    metric: np.ndarray,
    grid: np.ndarray,
    curve: np.ndarray,
    band: tuple[np.ndarray, np.ndarray] | None,
    forecast: tuple[float, float, tuple[float, float] | None],
) -> go.Figure:
    """The loss → metric map (runs, sigmoid, band) and the forecast with its two-step interval.

    Loss runs left to right from high to low (the direction of scale), on a linear axis: the
    map is read in loss units, not decades.
    """
    fig = go.Figure()
    if band is not None:
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=band[1],
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=band[0],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=_rgba(FIT_COLOR, BAND_ALPHA),
                name="95% band of the map",
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=grid, y=curve, mode="lines", name="sigmoid map", line={"color": FIT_COLOR, "width": 2}
        )
    )
    fig.add_trace(
        go.Scatter(
            x=loss, y=metric, mode="markers", name="runs", marker={"color": POINT_COLOR, "size": 8}
        )
    )
    f_loss, f_metric, interval = forecast
    error = None
    if interval is not None:
        error = {
            "type": "data",
            "symmetric": False,
            "array": [interval[1] - f_metric],
            "arrayminus": [f_metric - interval[0]],
            "color": NEUTRAL,
        }
    fig.add_trace(
        go.Scatter(
            x=[f_loss],
            y=[f_metric],
            mode="markers",
            name="forecast",
            error_y=error,
            marker={
                "color": NEUTRAL,
                "size": 13,
                "symbol": "star",
                "line": {"width": 1, "color": FIT_COLOR},
            },
        )
    )
    fig.update_xaxes(title="loss (nats)", autorange="reversed")
    fig.update_yaxes(title="downstream metric")
    fig.update_layout(
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


PRESENTATION_FONT = 20
PRESENTATION_SCALE = 1.6
"""Presentation style: fonts in px, line widths and marker sizes multiplied by this."""


def presentation(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` styled for a projector: larger fonts, thicker lines, bigger markers,
    no hover clutter. Colours are left alone, so the app theme (light or dark) still applies.

    Why a copy: figures may be cached or reused by the analysis pages, which keep their style.
    """
    out = go.Figure(fig)
    for trace in out.data:
        line = getattr(trace, "line", None)
        if line is not None and line.width:
            line.width = line.width * PRESENTATION_SCALE
        marker = getattr(trace, "marker", None)
        if marker is not None and marker.size is not None and np.isscalar(marker.size):
            marker.size = marker.size * PRESENTATION_SCALE
    for annotation in out.layout.annotations:
        annotation.font.size = PRESENTATION_FONT - 4
    out.update_layout(
        font={"size": PRESENTATION_FONT},
        legend={"font": {"size": PRESENTATION_FONT - 2}},
        margin={"l": 90, "r": 30, "t": 60, "b": 80},
        hoverlabel={"font": {"size": PRESENTATION_FONT - 2}},
    )
    out.update_xaxes(
        title_font={"size": PRESENTATION_FONT + 2}, tickfont={"size": PRESENTATION_FONT}
    )
    out.update_yaxes(
        title_font={"size": PRESENTATION_FONT + 2}, tickfont={"size": PRESENTATION_FONT}
    )
    return out
