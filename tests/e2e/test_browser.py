"""End-to-end: a real browser against a real server — the main flow, and the README screenshot.

Fit page on first load → Data page: upload a run log, name it, save → Fit page shows that
dataset → Planner: moving the budget slider with the keyboard changes N*. The whole flow must
take under a minute, cold server included.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CSV = REPO / "data" / "example_runs.csv"
SCREENSHOT = REPO / "docs" / "fit-page.png"
CHINCHILLA = "Chinchilla (Epoch AI reconstruction)"
FLOW_BUDGET_S = 60.0
WAIT_MS = 60_000  # a single wait: the first fit and its bootstrap on a cold server

CHART = '[data-testid="stPlotlyChart"]'
TABLE = '[data-testid="stDataFrame"]'
PROGRESS = '[data-testid="stProgress"]'
APP = '[data-testid="stApp"]'
SCROLL_TO_BOTTOM = """e => {
    e.scrollIntoView({block: "end"});
    let box = e.parentElement;
    while (box && box.scrollHeight <= box.clientHeight) box = box.parentElement;
    if (box) box.scrollBy(0, 12);
}"""
"""Scroll ``e``'s bottom to just above the bottom of the window (its scroll box's bottom)."""


def nav(page: Page, title: str) -> None:
    """Click a page link in the sidebar navigation."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()


def wait_idle(page: Page) -> None:
    """Wait until the app is connected and its script run is over, with no progress bar."""
    app = page.locator(APP)
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=WAIT_MS)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=WAIT_MS)
    expect(page.locator(PROGRESS)).to_have_count(0, timeout=WAIT_MS)


def settled_metric(page: Page, label: str, differs_from: str | None = None) -> str:
    """The metric's value once a finished run shows exactly one value (and one different from
    ``differs_from``): during a rerun Streamlit may briefly show the stale element as well."""
    values = page.locator('[data-testid="stMetric"]', has_text=label).locator(
        '[data-testid="stMetricValue"]'
    )
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        wait_idle(page)
        texts = [t.strip() for t in values.all_inner_texts()]
        if len(texts) == 1 and texts[0] != differs_from:
            return texts[0]
        page.wait_for_timeout(200)
    pytest.fail(f"{label}: expected one value other than {differs_from!r}, saw {texts}")


def wait_for_fit(page: Page, dataset: str) -> None:
    """The Fit page of ``dataset`` fully rendered: caption, formula, chart, parameter table."""
    expect(page.get_by_role("heading", name="Scaling-law fit")).to_be_visible(timeout=WAIT_MS)
    caption = page.locator('[data-testid="stCaptionContainer"]', has_text=f"runs of {dataset}")
    expect(caption).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("bootstrap resamples over runs")).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    rendered_charts = page.locator(f"{CHART} .js-plotly-plot .main-svg").filter(visible=True)
    expect(rendered_charts).not_to_have_count(0)
    expect(page.locator(".katex").first).to_be_visible()  # the formula
    expect(page.locator(TABLE).first).to_be_visible()


def test_upload_fit_and_plan_in_a_browser(server: str, browser: Browser, tmp_path: Path) -> None:
    name = f"e2e runs {uuid.uuid4().hex[:8]}"
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        start = time.monotonic()
        page.goto(server)
        expect(page.locator(CHART).first).to_be_visible(timeout=WAIT_MS)
        expect(page.locator(TABLE).first).to_be_visible(timeout=WAIT_MS)
        wait_for_fit(page, CHINCHILLA)

        # Data page: upload, preview, name, save.
        nav(page, "Data")
        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible(timeout=WAIT_MS)
        page.set_input_files("input[type=file]", str(EXAMPLE_CSV))
        expect(page.get_by_text(re.compile(r"rows, \d+ runs; first 20 rows"))).to_be_visible(
            timeout=WAIT_MS
        )
        expect(page.locator(TABLE).first).to_be_visible()  # the preview
        name_box = page.get_by_label("Dataset name")
        expect(name_box).to_have_value("example_runs")
        name_box.fill(name)
        name_box.press("Enter")
        wait_idle(page)
        save = page.get_by_role("button", name="Save dataset")
        expect(save).to_be_enabled()
        save.click()
        expect(page.get_by_text(f"Saved dataset {name}")).to_be_visible(timeout=WAIT_MS)
        wait_idle(page)

        # Fit page: the new dataset is picked in the sidebar and fitted.
        nav(page, "Fit")
        wait_for_fit(page, name)
        picker = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Dataset")
        expect(picker).to_have_value(name)

        # Planner: the budget slider moved with the keyboard changes N*.
        nav(page, "Planner")
        expect(page.get_by_role("heading", name="Compute planner")).to_be_visible(timeout=WAIT_MS)
        before = settled_metric(page, "Parameters N*")
        # Streamlit's slider thumb is a visually hidden <input type="range"> (role "slider").
        slider = page.get_by_role("slider", name=re.compile(r"^Training compute budget"))
        slider.focus()
        for _ in range(10):  # half a decade of compute
            page.keyboard.press("ArrowRight")
        after = settled_metric(page, "Parameters N*", differs_from=before)
        assert after != before
        assert "budget=" in page.url

        elapsed = time.monotonic() - start
        assert elapsed < FLOW_BUDGET_S, f"the browser flow took {elapsed:.1f} s"
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"))  # what the browser showed
        raise
    finally:
        context.close()


def test_readme_screenshot_of_the_fit_page(server: str, browser: Browser, tmp_path: Path) -> None:
    """docs/fit-page.png: the Fit page on the bundled Chinchilla data, fully rendered."""
    # 1400×1100: tall enough for the share/export row, the formula, the chart and the table.
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    try:
        page.goto(server)
        wait_for_fit(page, CHINCHILLA)
        expect(page.get_by_text("240 runs of")).to_be_visible()
        expect(page.locator('[data-testid="stSpinner"]')).to_have_count(0)
        # The parameter table sits below the fold: scroll it up to the bottom of
        # the window so the shot holds the formula, the fit caption, the chart and the table.
        page.locator(TABLE).first.evaluate(SCROLL_TO_BOTTOM)
        page.wait_for_timeout(750)  # let plotly finish its layout pass
        visible_parts = (".katex-display .katex", f"{CHART} .main-svg", TABLE)
        for visible in (page.locator(selector).first for selector in visible_parts):
            expect(visible).to_be_in_viewport(ratio=1)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"))  # what the browser showed
        raise
    finally:
        context.close()
    assert SCREENSHOT.stat().st_size > 20_000  # a real rendering, not a blank page
