"""Exports: PNG/SVG through a real headless Chromium (kaleido), standalone HTML, predictions CSV.

Browser tests need Debian's chromium (``apt-get install chromium``); without it they skip and
say so (``pytest -ra`` lists the reason). One browser serves the module and is closed at the end.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from scaling_core import export
from scaling_core.fitting import fit_law
from scaling_core.laws import get_law
from scaling_core.uncertainty import bootstrap_fit

HOSTILE = "<script>alert(1)</script>"
HAS_CHROMIUM = os.path.exists(export.DEBIAN_CHROMIUM)
needs_browser = pytest.mark.skipif(
    not HAS_CHROMIUM,
    reason=f"PNG/SVG export needs Debian's chromium at {export.DEBIAN_CHROMIUM} "
    "(apt-get install chromium)",
)


@pytest.fixture(scope="module", autouse=True)
def close_browser() -> Iterator[None]:
    """Whatever a test does, no export browser outlives this module."""
    yield
    export.shutdown()
    assert not export.browser_is_running()


@pytest.fixture
def figure() -> go.Figure:
    """A small log-log chart whose run names are hostile."""
    x = np.geomspace(1e18, 1e21, 6)
    return go.Figure(
        go.Scatter(
            x=x, y=3.0 * (x / 1e18) ** -0.05, mode="markers+lines", name="runs",
            text=[f"{HOSTILE} run {i}" for i in range(6)],
        )
    ).update_xaxes(type="log")  # fmt: skip


# ------------------------------------------------------------------------------- images


@needs_browser
def test_png_has_the_magic_bytes_and_the_requested_size(figure: go.Figure) -> None:
    png = export.figure_png(figure, width=640, height=360, scale=2)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()  # decodes every pixel, not only the header
    assert image.size == (1280, 720)
    assert len(image.convert("L").getcolors(maxcolors=1 << 16) or ()) > 2  # something drawn


@needs_browser
def test_svg_parses_as_xml_with_an_svg_root(figure: go.Figure) -> None:
    svg = export.figure_svg(figure, width=500, height=300)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("width") == "500" and root.get("height") == "300"
    assert b"<script" not in svg  # hostile run names are text, never markup


@needs_browser
def test_a_hostile_title_shows_as_written_and_stays_text(figure: go.Figure) -> None:
    svg = export.figure_svg(figure, width=500, height=300, title=f"Fit of <b>{HOSTILE}</b>")
    root = ET.fromstring(svg)
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert f"Fit of <b>{HOSTILE}</b>" in texts  # plotly did not read it as markup
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))


def test_export_template_sets_the_theme_and_escapes_the_title(figure: go.Figure) -> None:
    out = export.export_template(figure, "dark", title="<i>x</i>")
    assert out.layout.title.text == "&lt;i&gt;x&lt;/i&gt;"
    assert out.layout.template.layout.paper_bgcolor == "rgb(17,17,17)"
    assert figure.layout.title.text is None  # the page's figure is untouched
    with pytest.raises(ValueError, match="theme"):
        export.export_template(figure, "sepia")


@needs_browser
def test_the_browser_is_reused_and_renders_are_thread_safe(figure: go.Figure) -> None:
    export.figure_png(figure, width=200, height=100, scale=1)
    first = export._SESSION._kaleido
    sizes = [(200 + 10 * i, 100 + 5 * i) for i in range(4)]
    results: dict[int, tuple[int, int]] = {}

    def render(i: int) -> None:
        png = export.figure_png(figure, width=sizes[i][0], height=sizes[i][1], scale=1)
        results[i] = Image.open(io.BytesIO(png)).size

    threads = [threading.Thread(target=render, args=(i,)) for i in range(len(sizes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == dict(enumerate(sizes))  # each caller got its own image
    assert export._SESSION._kaleido is first  # one browser served every render


@needs_browser
def test_shutdown_ends_the_browser_process_and_the_next_export_restarts_it(
    figure: go.Figure,
) -> None:
    export.figure_png(figure, width=100, height=100, scale=1)
    process = export._SESSION._kaleido.subprocess
    export.shutdown()
    assert not export.browser_is_running()
    process.wait(timeout=30)  # the browser (its wrapper) has exited
    assert export.figure_svg(figure, width=100, height=100).lstrip().startswith(b"<svg")
    assert export.browser_is_running()


def test_invalid_sizes_are_refused_before_any_browser_starts(figure: go.Figure) -> None:
    with pytest.raises(ValueError, match="positive"):
        export.figure_png(figure, width=0, height=100)


# ------------------------------------------------------------------------- missing browser


def test_a_missing_browser_names_what_was_tried_and_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch, figure: go.Figure
) -> None:
    from choreographer.browsers.chromium import Chromium

    export.shutdown()
    monkeypatch.delenv(export.BROWSER_ENV, raising=False)
    monkeypatch.setattr(export, "DEBIAN_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(Chromium, "find_browser", classmethod(lambda cls, **kw: None))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(export.BrowserNotFoundError) as err:
        export.figure_png(figure)
    message = str(err.value)
    assert "apt-get install chromium" in message and export.BROWSER_ENV in message
    assert "/nonexistent/chromium" in message
    assert not export.browser_is_running()


def test_a_wrong_browser_path_variable_is_an_error_not_ignored(
    monkeypatch: pytest.MonkeyPatch, figure: go.Figure
) -> None:
    monkeypatch.setenv(export.BROWSER_ENV, "/nonexistent/chrome")
    with pytest.raises(export.BrowserNotFoundError, match="BROWSER_PATH='/nonexistent/chrome'"):
        export.figure_svg(figure)


# ---------------------------------------------------------------------------------- HTML


def test_standalone_html_inlines_plotly_and_the_data_with_no_external_script(
    figure: go.Figure,
) -> None:
    page = export.figure_html(figure, title=f"Fit of {HOSTILE}").decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "plotly.js v" in page or "Plotly" in page  # the library itself is inlined
    assert len(page) > 1_000_000
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
    assert "cdn.plot.ly" not in page.split("<body", 1)[0]
    # The data are in the file: plotly 7 stores arrays as base64 typed arrays.
    x = figure.data[0].x
    encoded = base64.b64encode(np.asarray(x, float).tobytes()).decode()
    assert encoded in page.replace("\\u002f", "/")  # plotly's JSON escapes "/" as well
    assert "run 5" in page
    assert f"<title>Fit of {HOSTILE}</title>" not in page
    assert "<title>Fit of &lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    # The hostile run names are inside the JSON: "</" is escaped so they cannot end the script.
    assert "</script><script>alert(1)" not in page
    assert page.count("<script>alert(1)</script>") == 0


# ----------------------------------------------------------------------------- predictions


def synthetic_fit(n_resamples: int = 0):
    law = get_law("power")
    rng = np.random.default_rng(0)
    x = np.geomspace(1e18, 1e21, 12)
    y = (2.0 * (x / 1e18) ** -0.3 + 1.5) * np.exp(rng.normal(0, 0.003, x.size))
    fit = fit_law(law, {"x": x}, y)
    boot = bootstrap_fit(law, {"x": x}, y, fit, n_resamples=n_resamples) if n_resamples else None
    return law, x, fit, boot


def test_predictions_table_matches_the_law_and_carries_the_bootstrap_interval() -> None:
    law, x, fit, boot = synthetic_fit(n_resamples=40)
    grid, _ = export.prediction_grid(law, x)
    table = export.predictions_table(law, fit, boot, grid, {"x": "compute_flops"})
    assert list(table) == ["compute_flops", "predicted_loss", "ci95_low", "ci95_high"]
    assert table["compute_flops"][0] == pytest.approx(x.min())
    assert table["compute_flops"][-1] == pytest.approx(x.max() * export.PREDICTION_EXTENSION)
    np.testing.assert_allclose(table["predicted_loss"], law.predict(fit.params, grid))
    assert np.all(table["ci95_low"] <= table["ci95_high"])
    no_boot = export.predictions_table(law, fit, None, grid)
    assert list(no_boot) == ["x", "predicted_loss"]


def test_joint_prediction_grid_has_a_curve_per_model_size() -> None:
    law = get_law("chinchilla")
    params = np.array([1e8, 1e8, 4e8, 1e9])
    grid, labels = export.prediction_grid(
        law, params * 0, params=params, tokens=np.array([1e9, 2e9, 8e9, 2e10]), n=5
    )
    assert grid["N"].tolist() == [1e8] * 5 + [4e8] * 5 + [1e9] * 5
    assert labels == {"N": "params_N", "D": "tokens_D"}


def test_predictions_csv_is_spreadsheet_safe_and_keeps_numbers() -> None:
    law, x, fit, _ = synthetic_fit()
    grid, _ = export.prediction_grid(law, x, n=4)
    table = export.predictions_table(law, fit, None, grid)
    table["dataset"] = np.array(['=HYPERLINK("http://evil","x")'] * 4, dtype=object)
    data = export.predictions_csv(table, header={"x": "=cmd|' /C calc'!A0"})
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert rows[0][0] == "'=cmd|' /C calc'!A0"  # a hostile header is neutralised too
    assert rows[1][2] == '\'=HYPERLINK("http://evil","x")'
    assert float(rows[1][1]) == pytest.approx(float(table["predicted_loss"][0]), rel=1e-15)
    assert len(rows) == 5


@needs_browser
def test_an_idle_browser_is_closed(monkeypatch: pytest.MonkeyPatch, figure: go.Figure) -> None:
    monkeypatch.setattr(export, "IDLE_SECONDS", 0.5)
    export.figure_png(figure, width=100, height=100, scale=1)
    assert export.browser_is_running()
    for _ in range(100):  # the idle timer closes it (closing takes a moment on a busy machine)
        if not export.browser_is_running():
            break
        threading.Event().wait(0.2)
    assert not export.browser_is_running()
