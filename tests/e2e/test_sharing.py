"""End-to-end sharing in a real browser: links that reproduce a view in a fresh browser,
presentation mode, chart and report downloads that open as what they claim to be, and the
read-only Data page of a viewer.

One server for the module (``conftest.streamlit_app``); every test opens its own browser
contexts, so cookies, storage and Streamlit sessions are never shared between the page that
makes a link and the page that opens it.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import re
import struct
import tomllib
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("playwright.sync_api")
from load_harness import APP, ERROR_ELEMENTS, PROGRESS
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from scaling_core.allocation import optimal_allocation
from scaling_core.charts import engineering
from scaling_core.export import DEFAULT_HEIGHT, DEFAULT_SCALE, DEFAULT_WIDTH
from scaling_core.laws import LAWS
from scaling_core.report import headline_parameters, markdown_escape
from scaling_core.schema import RESOURCE_LABELS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
CHINCHILLA = "Chinchilla (Epoch AI reconstruction)"
WAIT_MS = 120_000
"""One wait: a cold fit, its bootstrap or a first chart export on a loaded 2-core machine."""
VIEWPORT = {"width": 1400, "height": 900}
REPORT_WIDTH, REPORT_HEIGHT = 900, 540  # pages._share: the report's chart, rendered at 2×


# -------------------------------------------------------------------------------- helpers


@pytest.fixture
def new_page(
    browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Page]]:
    """Pages in fresh browser contexts (own cookies, storage, Streamlit session); all closed at
    the end, after a screenshot of each when the test failed."""
    contexts: list[BrowserContext] = []
    failed_before = request.session.testsfailed

    def make(**options: Any) -> Page:
        context = browser.new_context(viewport=VIEWPORT, **options)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for index, context in enumerate(contexts):
        for number, page in enumerate(
            context.pages if request.session.testsfailed > failed_before else []
        ):
            with contextlib.suppress(Exception):  # a crashed page has nothing to show
                page.screenshot(path=str(tmp_path / f"context{index}-page{number}.png"))
        context.close()


def wait_idle(page: Page) -> None:
    """Connected, the script run over, no progress bar, no stale elements left."""
    app = page.locator(APP)
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=WAIT_MS)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=WAIT_MS)
    expect(page.locator(PROGRESS)).to_have_count(0, timeout=WAIT_MS)
    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=WAIT_MS)


def no_errors(page: Page) -> None:
    expect(page.locator(ERROR_ELEMENTS)).to_have_count(0)


def fit_done(page: Page) -> None:
    """The Fit page finished: its caption, band caption and formula are shown."""
    expect(page.get_by_role("heading", name="Scaling-law fit")).to_be_visible(timeout=WAIT_MS)
    band = page.get_by_text(re.compile(r"bootstrap resamples over runs|^Band: approximate"))
    expect(band).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    expect(page.locator(".katex-mathml annotation").first).to_be_attached(timeout=WAIT_MS)
    no_errors(page)


def combobox(page: Page, label: str) -> Locator:
    return page.locator('[data-testid="stMain"]').get_by_role("combobox", name=label, exact=True)


def pick(page: Page, opener: Locator, option: str) -> None:
    """Open a dropdown and click ``option``. Retried: a rerun that redraws the widget while
    the list opens closes it again."""
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):
        opener.click()
        try:
            expect(choice).to_be_visible(timeout=5_000)
        except AssertionError:
            page.keyboard.press("Escape")
            wait_idle(page)
            continue
        choice.click()
        return
    pytest.fail(f"option {option!r} never showed")


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox ``label`` and wait for the rerun to finish."""
    pick(page, combobox(page, label), option)
    wait_idle(page)


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def formula(page: Page) -> str:
    """The fitted formula's TeX (KaTeX keeps it in a MathML annotation); polled, as KaTeX loads
    lazily."""
    annotation = page.locator(".katex-mathml annotation")
    expect(annotation).to_have_count(1, timeout=WAIT_MS)
    return annotation.text_content() or ""


def caption(page: Page, has_text: str) -> str:
    return page.locator('[data-testid="stCaptionContainer"]', has_text=has_text).inner_text()


def download(page: Page, button: Locator) -> bytes:
    """Click a download button; the file's bytes."""
    with page.expect_download(timeout=WAIT_MS) as info:
        button.click()
    path = info.value.path()
    return Path(path).read_bytes()


def fit_json(page: Page) -> dict[str, Any]:
    """The Fit page's "Download fit as JSON": every fitted number at full precision."""
    return json.loads(download(page, page.get_by_role("button", name="Download fit as JSON")))


def share_link(page: Page) -> str:
    """Open the "Copy link" popover, read the link from its code block, press the one-click
    copy button and check the clipboard holds the same link; close the popover."""
    page.get_by_role("button", name="Copy link").click()
    body = page.locator('[data-testid="stPopoverBody"]')
    code = body.locator('[data-testid="stCode"] code')
    expect(code).to_contain_text("http", timeout=WAIT_MS)
    link = (code.text_content() or "").strip()
    frame = body.frame_locator('iframe[title="st.iframe"]')
    frame.get_by_role("button", name="Copy link").click()
    expect(frame.locator("#status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == link
    page.get_by_role("button", name="Copy link").click()  # the popover's own button closes it
    expect(body).to_be_hidden()
    return link


def sharing_page(new_page: Callable[..., Page]) -> Page:
    """A page whose context may read and write the clipboard (to check the copy button)."""
    return new_page(permissions=["clipboard-read", "clipboard-write"])


# ------------------------------------------------------------------------- share links


def fit_view(page: Page) -> dict[str, Any]:
    """Everything the Fit page's state decides: widget values, the formula, the fit caption,
    and the fitted numbers at full precision."""
    fit_done(page)
    tags = page.locator('[data-testid="stMultiSelect"] [data-tag]')
    return {
        "law": combobox(page, "Law family").input_value(),
        "x": combobox(page, "Scale variable").input_value(),
        "objective": combobox(page, "Objective").input_value(),
        "drop": page.get_by_role("spinbutton", name="Leave out highest-loss runs").input_value(),
        "boot": combobox(page, "Bootstrap resamples").input_value(),
        "excluded": [tag.get_attribute("aria-label") for tag in tags.all()],
        "dataset": page.locator('[data-testid="stSidebar"]')
        .get_by_role("combobox", name="Dataset")
        .input_value(),
        "formula": formula(page),
        "caption": caption(page, "runs of"),
        "fit": fit_json(page),
    }


def test_a_fit_link_opens_the_same_view_in_a_fresh_browser(
    server: str, new_page: Callable[..., Page]
) -> None:
    page = sharing_page(new_page)
    page.goto(f"{server}/")
    default = fit_view(page)

    law = LAWS["power"]
    choose(page, "Bootstrap resamples", "0")  # first: no bootstrap of each intermediate view
    choose(page, "Law family", law.title)
    choose(page, "Scale variable", RESOURCE_LABELS["tokens"])
    choose(page, "Objective", "ls_log")
    drop = page.get_by_role("spinbutton", name="Leave out highest-loss runs")
    drop.fill("7")
    drop.press("Enter")
    wait_idle(page)
    pick(page, page.get_by_role("combobox", name="Leave out points in these regimes"), "initial")
    page.keyboard.press("Escape")
    wait_idle(page)
    shown = fit_view(page)
    assert shown["law"] == law.title and shown["x"] == RESOURCE_LABELS["tokens"]
    assert (shown["objective"], shown["drop"], shown["boot"]) == ("ls_log", "7", "0")
    assert shown["excluded"] == ["initial"]
    assert shown["fit"]["params"] != default["fit"]["params"]  # the settings changed the fit

    link = share_link(page)
    assert urlsplit(link).netloc == urlsplit(server).netloc
    assert urlsplit(link).path in ("", "/")  # the Fit page is the app's default page
    assert query(link) == query(page.url)

    fresh = new_page()
    fresh.goto(link)
    assert fit_view(fresh) == shown
    assert query(fresh.url) == query(link)


def open_expander(page: Page, title: str) -> None:
    """Expand ``st.expander(title)`` if it is collapsed (its widgets are hidden until then)."""
    details = page.locator('[data-testid="stExpander"] details', has_text=title)
    if not details.evaluate("e => e.open"):
        details.locator("summary").click()
    expect(details).to_have_attribute("open", "")


def test_a_link_made_on_a_page_opened_at_fit_opens_without_page_not_found(
    server: str, new_page: Callable[..., Page]
) -> None:
    page = sharing_page(new_page)
    page.goto(f"{server}/fit?boot=0&objective=ls_log")
    fit_done(page)
    dialog = page.get_by_role("dialog").filter(has_text="Page not found")
    if dialog.count():  # the dialog this test is about makes the page inert: close it first
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
    link = share_link(page)
    fresh = new_page()
    fresh.goto(link)
    fit_done(fresh)
    fresh.wait_for_timeout(500)
    expect(fresh.get_by_text("Page not found")).to_have_count(0)
    assert urlsplit(link).path in ("", "/"), link


def planner_view(page: Page) -> dict[str, Any]:
    expect(page.get_by_role("heading", name="Compute planner")).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    no_errors(page)
    open_expander(page, "Fit used for planning")
    metrics = page.locator('[data-testid="stMetric"]')
    expect(metrics.filter(has_text="Parameters N*")).to_have_count(1, timeout=WAIT_MS)
    return {
        "metrics": [" ".join(m.inner_text().split()) for m in metrics.all()],
        "budget": caption(page, "FLOPs ="),
        "mode": page.locator('[data-testid="stRadio"] input:checked').evaluate(
            "e => e.closest('label').innerText.trim()"
        ),
        "convention": combobox(page, "The params column counts").input_value(),
        "boot": combobox(page, "Bootstrap resamples").input_value(),
        "accelerator": combobox(page, "Accelerator").input_value(),
    }


def test_a_planner_link_keeps_the_budget_and_its_method(
    server: str, new_page: Callable[..., Page]
) -> None:
    page = sharing_page(new_page)
    page.goto(f"{server}/planner")
    default = planner_view(page)

    # The budget as FLOPs: move the slider with the keyboard, count non-embedding parameters.
    slider = page.get_by_role("slider", name=re.compile(r"^Training compute budget"))
    slider.focus()
    for _ in range(3):  # 0.15 decade less compute
        page.keyboard.press("ArrowLeft")
    wait_idle(page)
    choose(page, "The params column counts", "non-embedding parameters")
    flops = planner_view(page)
    assert flops["metrics"] != default["metrics"]
    value = slider.get_attribute("aria-valuetext") or slider.get_attribute("aria-valuenow")
    link = share_link(page)
    fresh = new_page()
    fresh.goto(link)
    assert planner_view(fresh) == flops
    fresh_slider = fresh.get_by_role("slider", name=re.compile(r"^Training compute budget"))
    assert (
        fresh_slider.get_attribute("aria-valuetext") or fresh_slider.get_attribute("aria-valuenow")
    ) == value

    # The budget as accelerator-hours: another method, other widgets.
    page.get_by_text("accelerator-hours", exact=True).click()
    wait_idle(page)
    hours = page.get_by_role("spinbutton", name="Hours")
    hours.fill("2000")
    hours.press("Enter")
    wait_idle(page)
    by_hours = planner_view(page)
    assert "2,000 h" in by_hours["budget"]
    fresh = new_page()
    fresh.goto(share_link(page))
    assert planner_view(fresh) == by_hours
    assert fresh.get_by_role("spinbutton", name="Hours").input_value() == "2000.00"


def regimes_view(page: Page) -> dict[str, Any]:
    expect(page.get_by_role("heading", name="Regimes and trust")).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    no_errors(page)
    exponent = page.locator('[data-testid="stMetric"]', has_text="Exponent b")
    expect(exponent).to_have_count(1, timeout=WAIT_MS)
    switches = page.get_by_role("checkbox")
    return {
        "x": combobox(page, "Scale variable").input_value(),
        "direction": combobox(page, "Better is").input_value(),
        "toggles": {s.get_attribute("aria-label") or "": s.is_checked() for s in switches.all()},
        "exponent": " ".join(exponent.inner_text().split()),
        "flags": page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"]')
        .filter(has_text=re.compile(r"regime|scaling|trend|Emergence|Saturated|No flags"))
        .all_inner_texts(),
    }


def test_a_regimes_link_keeps_the_scale_variable_and_exclusions(
    server: str, new_page: Callable[..., Page]
) -> None:
    page = sharing_page(new_page)
    page.goto(f"{server}/regimes")
    default = regimes_view(page)
    choose(page, "Scale variable", RESOURCE_LABELS["params"])
    page.get_by_text("Exclude saturated points").click()
    wait_idle(page)
    shown = regimes_view(page)
    assert shown["x"] == RESOURCE_LABELS["params"] and shown != default
    fresh = new_page()
    fresh.goto(share_link(page))
    assert regimes_view(fresh) == shown


# --------------------------------------------------------------------------- presentation


def present_caption(page: Page, expected: str) -> None:
    expect(page.get_by_text(expected, exact=True)).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    no_errors(page)


def headline(page: Page) -> str:
    value = page.locator('[data-testid="stMetricValue"]')
    expect(value).to_have_count(1, timeout=WAIT_MS)
    return value.inner_text().strip()


def test_presentation_mode_shows_the_pages_numbers_and_navigates(
    server: str, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    page.goto(f"{server}/")  # the default view: the plan screen uses the same fit
    fit = fit_view(page)
    fit_query = query(page.url)

    page.get_by_role("link", name="Present this").click()
    present_caption(page, "1 / 3 · Fit")
    assert urlsplit(page.url).path == "/present"
    assert query(page.url) == {**fit_query, "screen": ["fit"]}
    for hidden in ('[data-testid="stSidebar"]', '[data-testid="stHeader"]'):
        expect(page.locator(hidden)).to_be_hidden()
    expect(page.get_by_role("combobox")).to_have_count(0)  # no controls, only navigation
    # The headline: the law's lead exponent, large, as the Fit page fitted it.
    lead = headline_parameters(LAWS["chinchilla"])[0]
    shown = headline(page)
    assert shown.endswith(f"= {fit['fit']['params'][lead]:.3g}"), shown
    size = page.locator('[data-testid="stMetricValue"]').evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert size >= 48

    page.get_by_role("button", name="Next").click()
    present_caption(page, "2 / 3 · Plan")
    plan_number = headline(page)
    # N* at the screen's budget from the Fit page's fitted numbers (the same cached fit).
    label = page.locator('[data-testid="stMetricLabel"]').inner_text()
    budget = float(re.fullmatch(r"At (\S+) FLOPs", label.strip()).group(1))
    optimum = optimal_allocation(LAWS["chinchilla"], fit["fit"]["params"], budget)
    assert plan_number == f"N* = {engineering(optimum.params_opt)}", (plan_number, budget)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("ArrowRight")
    present_caption(page, "3 / 3 · Regimes")
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    page.keyboard.press("ArrowLeft")
    present_caption(page, "2 / 3 · Plan")
    assert headline(page) == plan_number
    page.get_by_role("button", name="Previous").click()
    present_caption(page, "1 / 3 · Fit")
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()

    page.get_by_role("link", name="Exit presentation").click()
    expect(page.get_by_role("heading", name="Scaling-law fit")).to_be_visible(timeout=WAIT_MS)
    assert urlsplit(page.url).path == "/"
    assert fit_view(page) == fit
    assert query(page.url) == fit_query


def theme_colours() -> dict[str, str]:
    """The configured background of each theme as the browser reports it (``rgb(r, g, b)``)."""
    theme = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["theme"]
    out = {}
    for scheme in ("light", "dark"):
        code = theme[scheme]["backgroundColor"].lstrip("#")
        out[scheme] = "rgb({}, {}, {})".format(*(int(code[i : i + 2], 16) for i in (0, 2, 4)))
    return out


def test_presentation_renders_in_both_themes(server: str, new_page: Callable[..., Page]) -> None:
    colours = theme_colours()
    assert colours["light"] != colours["dark"]
    for scheme, expected in colours.items():
        page = new_page(color_scheme=scheme)
        page.goto(f"{server}/present?boot=0")
        present_caption(page, "1 / 3 · Fit")
        chart = page.locator('[data-testid="stPlotlyChart"] .main-svg').first
        expect(chart).to_be_visible(timeout=WAIT_MS)
        background = page.locator(APP).evaluate("e => getComputedStyle(e).backgroundColor")
        assert background == expected, scheme


# ------------------------------------------------------------------------------ downloads


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking it decodes: signature, chunk CRCs, IHDR, and
    the inflated image data has exactly one filtered row per line (no PIL needed)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        position += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    assert depth == 8 and interlace == 0
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(pixels) == height * (1 + width * channels)
    return width, height


def svg_root(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
    return root


def chart_legend(page: Page) -> list[str]:
    """The legend of the page's fit chart. Scoped to one chart: while a rerun replaces the
    chart, Streamlit can briefly show the old element beside the new one (seen in CI as every
    legend entry twice)."""
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    legend = chart.locator(".legendtext")
    expect(legend.first).to_be_attached(timeout=WAIT_MS)
    return legend.all_text_contents()


def test_chart_and_report_downloads_open_as_what_they_claim(
    server: str, new_page: Callable[..., Page], browser: Browser, tmp_path: Path
) -> None:
    page = new_page()
    page.goto(f"{server}/")
    fitted = fit_view(page)["fit"]
    legend = chart_legend(page)
    estimates = [f"{fitted['params'][p.name]:.6g}" for p in LAWS["chinchilla"].public]

    page.get_by_role("button", name="Export chart").click()
    body = page.locator('[data-testid="stPopoverBody"]')
    png = download(page, body.get_by_role("button", name="PNG (2× for slides)"))
    assert png_size(png) == (DEFAULT_WIDTH * DEFAULT_SCALE, DEFAULT_HEIGHT * DEFAULT_SCALE)
    svg = svg_root(download(page, body.get_by_role("button", name="SVG (vector, for papers)")))
    assert svg.get("width") == str(DEFAULT_WIDTH)
    assert CHINCHILLA in "".join(svg.itertext())  # the title names the dataset
    html = download(page, body.get_by_role("button", name="Interactive HTML (works offline)"))
    page.keyboard.press("Escape")
    text = html.decode("utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.IGNORECASE)
    assert "Plotly.newPlot" in text
    # Open it with the network cut off: the chart draws, with the page's legend.
    chart_file = tmp_path / "chart.html"
    chart_file.write_bytes(html)
    offline = browser.new_context(offline=True)
    try:
        opened = offline.new_page()
        requests: list[str] = []
        opened.on("request", lambda r: requests.append(r.url))
        opened.goto(chart_file.as_uri())
        rendered = opened.locator(".js-plotly-plot .legendtext")
        expect(rendered.first).to_be_attached(timeout=WAIT_MS)
        assert rendered.all_text_contents() == legend
        assert all(url.startswith(("file:", "data:", "blob:")) for url in requests), requests
    finally:
        offline.close()

    report = download(page, page.get_by_role("button", name="Fit report (HTML)")).decode("utf-8")
    assert f"Fit report: {CHINCHILLA}" in report and "<script" not in report
    assert all(estimate in report for estimate in estimates), estimates
    (chart_uri,) = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', report)
    assert svg_root(base64.b64decode(chart_uri)).get("width") == str(REPORT_WIDTH)

    markdown = download(page, page.get_by_role("button", name="Fit report (Markdown)"))
    md = markdown.decode("utf-8")
    assert md.startswith(f"# Fit report: {markdown_escape(CHINCHILLA)}")
    assert all(markdown_escape(estimate) in md for estimate in estimates), estimates
    (png_uri,) = re.findall(r"\(data:image/png;base64,([^)]+)\)", md)
    assert png_size(base64.b64decode(png_uri)) == (REPORT_WIDTH * 2, REPORT_HEIGHT * 2)

    table = download(page, page.get_by_role("button", name="Predictions CSV")).decode("utf-8")
    rows = list(csv.reader(io.StringIO(table)))
    header, body_rows = rows[0], rows[1:]
    assert header[:3] == ["params_N", "tokens_D", "predicted_loss"]
    assert body_rows and all(len(row) == len(header) for row in body_rows)
    assert all(float(cell) > 0 for row in body_rows for cell in row)  # numbers, not text


# ---------------------------------------------------------------------------- viewer mode


def test_a_viewer_link_shows_no_upload_rename_or_delete(
    server: str, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    page.goto(f"{server}/data?mode=view")
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    no_errors(page)
    picker = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Dataset")
    expect(picker).to_have_value(CHINCHILLA)  # viewers still see the data
    toggle = page.get_by_role("switch", name="Viewer mode (read-only)")
    expect(toggle).to_be_checked()
    main = page.locator('[data-testid="stMain"]')
    expect(main.locator('input[type="file"]')).to_have_count(0)
    for control in ("Save dataset", "Rename", "Delete dataset", "Delete"):
        expect(main.get_by_role("button", name=control, exact=True)).to_have_count(0)
    expect(main.get_by_text(re.compile(r"^(Rename|Delete) a dataset"))).to_have_count(0)
    assert query(page.url).get("mode") == ["view"]
