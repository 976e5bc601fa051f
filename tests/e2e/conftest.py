"""Fixtures for the browser tests: a real Streamlit server and Debian's headless Chromium.

The server runs ``python -m streamlit run app.py`` from the repository root on a free port,
with ``SCALESCOPE_STORE`` pointing to a fresh temporary file (so the bundled datasets load and
nothing touches ``data/scalescope.duckdb``). It is killed with its whole process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HEALTH_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    """Poll ``/_stcore/health`` until it answers "ok"; fail early if the server died."""
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"streamlit exited with code {process.returncode} before becoming healthy:\n"
                + log.read_text(errors="replace")[-4000:]
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(
        f"{url} did not answer 'ok' within {HEALTH_TIMEOUT:.0f} s:\n"
        + log.read_text(errors="replace")[-4000:]
    )


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
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a fresh Streamlit server running app.py against a temporary store."""
    workdir = tmp_path_factory.mktemp("e2e-server")
    log = workdir / "streamlit.log"
    port = free_port()
    env = {
        **os.environ,
        "SCALESCOPE_STORE": str(workdir / "store.duckdb"),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole below
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(f"{base}/_stcore/health", process, log)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        server_log = log.read_text(errors="replace")
        if "Traceback" in server_log:
            print(f"--- streamlit server log ---\n{server_log[-6000:]}")


@pytest.fixture(scope="module")
def browser(chromium_executable: str) -> Iterator[object]:
    """A headless Chromium driven by Playwright's sync API."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_executable, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
