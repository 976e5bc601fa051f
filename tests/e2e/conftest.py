"""Fixtures for the browser tests: a real Streamlit server and Debian's headless Chromium.

The server runs ``python -m streamlit run app.py`` from the repository root on a free port,
with ``SCALESCOPE_STORE`` pointing to a fresh temporary file (so the bundled datasets load and
nothing touches ``data/scalescope.duckdb``); one server per test module, so a module's tests
share its warm caches but never another module's data. It is stopped with its whole process
group. Starting it and the Chromium flags live in ``load_harness`` because the load test, the
load benchmark and the deployment test start the same server the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from load_harness import CHROMIUM, CHROMIUM_ARGS, ServerHandle, streamlit_server


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's Chromium; CI must have it (fail), a developer machine may not (skip)."""
    if not CHROMIUM.exists():
        message = (
            f"{CHROMIUM} not found: the browser tests use Debian's chromium "
            "(apt-get install -y chromium)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {message}")
        pytest.skip(message)
    return str(CHROMIUM)


@pytest.fixture(scope="module")
def streamlit_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """A fresh Streamlit server running app.py against a temporary store (URL, pid, store)."""
    workdir = tmp_path_factory.mktemp("e2e-server")
    log = workdir / "streamlit.log"
    try:
        with streamlit_server(workdir / "store.duckdb", log) as handle:
            yield handle
    finally:
        server_log = log.read_text(errors="replace") if log.exists() else ""
        if "Traceback" in server_log:
            print(f"--- streamlit server log ---\n{server_log[-6000:]}")


@pytest.fixture(scope="module")
def server(streamlit_app: ServerHandle) -> str:
    """Base URL of the module's server."""
    return streamlit_app.url


@pytest.fixture(scope="module")
def browser(chromium_executable: str) -> Iterator[object]:
    """A headless Chromium driven by Playwright's sync API."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield chromium
        finally:
            chromium.close()
