"""Concurrent browser sessions against one Scalescope server: the load test's and bench's engine.

Why one module for both: ``tests/e2e/test_load.py`` asserts on what the sessions saw (zero
errors, each session's fitted exponent is its own) and ``bench/bench_load.py`` reports how long
the interactions took and how much memory the server grew; both must drive exactly the same
flow, or the numbers in BENCHMARKS.md would describe a different workload than the test checks.

Also here, because the deployment test (``tests/test_deploy.py``) and the browser fixtures
(``tests/e2e/conftest.py``) need them too: starting ``streamlit run app.py`` on a given store
and reading a process tree's resident memory from ``/proc`` (psutil is not a dependency).

The workload of one session (all sessions run concurrently, one browser context each, in ONE
Chromium process driven by Playwright's async API):

1. open the Data page; upload its own CSV: synthetic Chinchilla-law runs whose parameter
   exponent α is unique to the session (so the fitted α identifies whose data was fitted);
2. save it under its own dataset name;
3. open the Fit page (the saved dataset is the session's current one) and read the fitted α
   from the formula;
4. set a session-local widget ("Leave out highest-loss runs" = a per-session count), refit;
5. wait until every session has done step 4, then change the objective (another rerun) and
   check the page still shows this session's own dataset, run count and drop setting: a
   session seeing another's unsaved state would show another count, name or α here.

Each interaction is timed from the action to its result being visible (the script run over,
no progress bar). Error elements, console errors and uncaught page errors are collected.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    # Playwright adds --headless itself (launch(headless=True)) and a fresh, empty temporary
    # user data dir per launch (it refuses --user-data-dir in launch()'s args).
    "--no-sandbox",  # we run as root in a container: Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    # Closed network: no update checks, component downloads or sync attempts.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
HEALTH_PATH = "/_stcore/health"
HEALTH_TIMEOUT_S = 90.0

APP = '[data-testid="stApp"]'
PROGRESS = '[data-testid="stProgress"]'
CAPTION = '[data-testid="stCaptionContainer"]'
ERROR_ELEMENTS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
"""Streamlit's exception box and ``st.error`` alerts: any of them is a failed interaction."""

# The synthetic runs: Chinchilla's law with the Epoch-style constants; only α varies.
SIZES = (20e6, 50e6, 100e6, 200e6, 500e6, 1e9, 2e9, 5e9)
TOKENS_PER_PARAM = (5, 10, 20, 40, 80)
N_RUNS = len(SIZES) * len(TOKENS_PER_PARAM)
LAW_E, LAW_A, LAW_B, LAW_BETA = 1.69, 406.4, 410.7, 0.28
ALPHA_BASE, ALPHA_STEP = 0.30, 0.01
ALPHA_TOLERANCE = ALPHA_STEP / 4
"""Noise-free data is fitted to ~1e-6; a quarter step still tells neighbours apart."""


# ---------------------------------------------------------------------------------------------
# Server and process memory
# ---------------------------------------------------------------------------------------------


class ServerError(RuntimeError):
    """The server exited or never became healthy; the message carries its log's tail."""


@dataclass(frozen=True)
class ServerHandle:
    """A running ``streamlit run app.py``: where it answers and which process it is."""

    url: str
    pid: int
    store: str
    log: Path


def free_port() -> int:
    """A TCP port free right now on localhost (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def health_ok(url: str, timeout: float = 2.0) -> bool:
    """True when Streamlit's health endpoint answers "ok" (its body when the server is up)."""
    try:
        with urllib.request.urlopen(url + HEALTH_PATH, timeout=timeout) as response:
            return response.read().decode().strip() == "ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _log_tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


@contextmanager
def streamlit_server(
    store: str | Path,
    log: Path,
    *,
    address: str = "127.0.0.1",
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[ServerHandle]:
    """Run ``python -m streamlit run app.py`` from the repository root on ``store``.

    The flags are the Dockerfile CMD's (address, port); headless mode and the rest come from
    ``.streamlit/config.toml``, as in the container. The server gets its own process group and
    is stopped with it (SIGTERM, then SIGKILL), so no child outlives a test.
    """
    port = port or free_port()
    full_env = {
        **os.environ,
        "SCALESCOPE_STORE": str(store),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        # No source watching: other edits to the tree must not reload scaling_core modules
        # mid-test (cached results would then fail to pickle: "not the same object as ...").
        # The container sets the same (Dockerfile): its code never changes while it runs.
        "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        f"--server.address={address}",
        f"--server.port={port}",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole below
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while not health_ok(url):
            if process.poll() is not None:
                raise ServerError(
                    f"streamlit exited with code {process.returncode} before becoming "
                    f"healthy:\n{_log_tail(log)}"
                )
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{url}{HEALTH_PATH} did not answer 'ok' within {HEALTH_TIMEOUT_S:.0f} s:\n"
                    + _log_tail(log)
                )
            time.sleep(0.25)
        yield ServerHandle(url=url, pid=process.pid, store=str(store), log=log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, from the parent field of every ``/proc/<n>/stat``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # "pid (comm) state ppid ...": comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _status_kib(pid: int, key: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in KiB (VmRSS summed)."""
    return sum(_status_kib(member, "VmRSS") for member in _tree(pid))


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants alive now."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(_children(current))
    return found


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its live descendants."""
    ticks = 0
    for member in _tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_kib(pid: int) -> int:
    """The process's own high-water resident memory (VmHWM), in KiB."""
    return _status_kib(pid, "VmHWM")


# ---------------------------------------------------------------------------------------------
# Workload
# ---------------------------------------------------------------------------------------------


def session_alpha(index: int) -> float:
    """The parameter exponent planted in session ``index``'s data."""
    return round(ALPHA_BASE + ALPHA_STEP * index, 6)


def session_csv(alpha: float) -> bytes:
    """Noise-free runs of L = E + A/N^α + B/D^β on a grid of sizes × tokens-per-parameter.

    Several token ratios per size make the joint law identifiable (the Fit page's default law
    refuses a design with one ratio); noise-free losses make α recoverable to ~1e-6.
    """
    lines = ["run,params,tokens,loss"]
    for params in SIZES:
        for ratio in TOKENS_PER_PARAM:
            tokens = params * ratio
            loss = LAW_E + LAW_A / params**alpha + LAW_B / tokens**LAW_BETA
            lines.append(f"N{params:.0e}-r{ratio},{params:.0f},{tokens:.0f},{loss:.9f}")
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class SessionPlan:
    """What one session uploads and which session-local setting it chooses."""

    index: int
    dataset: str
    alpha: float
    drop: int
    """Highest-loss runs to leave out: distinct per session, so a leak shows as a wrong count."""


def plan_sessions(n_sessions: int, tag: str | None = None) -> list[SessionPlan]:
    """Distinct dataset names (one tag per load run, so reruns never collide) and settings."""
    tag = tag or uuid.uuid4().hex[:6]
    if n_sessions > N_RUNS - 10:
        raise ValueError(f"at most {N_RUNS - 10} sessions: each drops a distinct number of runs")
    return [
        SessionPlan(index=i, dataset=f"load-{tag}-{i:02d}", alpha=session_alpha(i), drop=i + 1)
        for i in range(n_sessions)
    ]


@dataclass
class SessionResult:
    """What one session measured and saw."""

    plan: SessionPlan
    latencies: dict[str, float] = field(default_factory=dict)
    """Interaction name → seconds from the action to its result being visible."""
    alphas: dict[str, float] = field(default_factory=dict)
    """Fitted α read from the formula after each fit (step → value)."""
    errors: list[str] = field(default_factory=list)
    """Error elements, console errors, page errors, failed steps and mismatches."""
    ignored: list[str] = field(default_factory=list)
    """Console errors judged benign by :func:`benign_console_error` (reported, not failed)."""
    step: str = "not started"
    """The interaction in progress (or "done"): names where an unfinished session hung."""


INTERACTIONS = ("open data page", "upload", "save", "open fit page", "set drop", "set objective")


@dataclass(frozen=True)
class LoadReport:
    """The whole load run: per-session results and server memory."""

    sessions: list[SessionResult]
    wall_s: float
    rss_before_kib: int
    rss_after_kib: int
    peak_rss_kib: int
    server_cpu_s: float
    """CPU seconds the server's process tree used during the sessions."""
    browser_cpu_s: float
    """CPU seconds the Playwright driver and Chromium used during the sessions."""
    n_cpus: int
    load_avg: tuple[float, float]

    @property
    def errors(self) -> list[str]:
        return [f"session {s.plan.index}: {e}" for s in self.sessions for e in s.errors]

    @property
    def ignored(self) -> list[str]:
        return [f"session {s.plan.index}: {e}" for s in self.sessions for e in s.ignored]

    @property
    def rss_per_session_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(len(self.sessions), 1)

    def latencies(self, interaction: str | None = None) -> list[float]:
        """All measured latencies (seconds), or those of one interaction."""
        return [
            seconds
            for s in self.sessions
            for name, seconds in s.latencies.items()
            if interaction is None or name == interaction
        ]

    def summary(self) -> dict[str, object]:
        """JSON-ready numbers for the bench (latencies in seconds, memory in MiB)."""

        def stats(values: Sequence[float]) -> dict[str, float | int]:
            return {
                "n": len(values),
                "p50": percentile(values, 50),
                "p95": percentile(values, 95),
                "max": max(values, default=math.nan),
            }

        return {
            "sessions": len(self.sessions),
            "errors": self.errors,
            "ignored_console_errors": dict(
                Counter(entry.split(":", 2)[1].strip() for entry in self.ignored)
            ),
            "wall_s": self.wall_s,
            "latency_s": {
                "all": stats(self.latencies()),
                **{name: stats(self.latencies(name)) for name in INTERACTIONS},
            },
            "rss_mib": {
                "before": self.rss_before_kib / 1024,
                "after": self.rss_after_kib / 1024,
                "per_session": self.rss_per_session_kib / 1024,
                "peak_main_process": self.peak_rss_kib / 1024,
            },
            "cpu_s": {"server": self.server_cpu_s, "browser": self.browser_cpu_s},
            "n_cpus": self.n_cpus,
            "load_avg_1min_start_end": list(self.load_avg),
            "alphas": {s.plan.dataset: s.alphas for s in self.sessions},
        }


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) without importing numpy."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# ---------------------------------------------------------------------------------------------
# One browser session
# ---------------------------------------------------------------------------------------------

ALPHA_IN_FORMULA = re.compile(r"N\^\{([-+0-9.e]+)\}")


_PAGE_PATH_PROBE = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")
_MEDIA_FILE = re.compile(r"^/media/[0-9a-f]+\.\w+$")
_DOWNLOAD_CHECK = "Client Error: Download Button source error"


def benign_console_error(base_url: str, text: str, resource_url: str) -> str | None:
    """Why a console error says nothing about the app (its category), or None when it counts.

    - "offline resource": a resource on another host. The favicon of
      ``page_icon=":material/…"`` comes from fonts.gstatic.com, which a closed network cannot
      resolve (an air-gapped deployment sees the same; the page works without it).
    - "base-path probe": opened at ``/data``, Streamlit's frontend first tries
      ``/data/_stcore/health`` and ``/data/_stcore/host-config`` (404) before ``/_stcore/…``.
    - "stale download source": a download button rendered by one script run checks its file
      (``/media/<hash>.json``) with a request; when the next run of the same session has already
      finished, Streamlit has dropped that run's files, so the check of the replaced button gets
      a 404 (the current button's file exists). Seen under load only. Pages avoid it with
      deferred downloads (``data=`` a callable), which the frontend does not pre-check.
    """
    base, resource = urllib.parse.urlsplit(base_url), urllib.parse.urlsplit(resource_url)
    if resource.netloc and resource.netloc != base.netloc:
        return "offline resource"
    if _PAGE_PATH_PROBE.match(resource.path):
        return "base-path probe"
    if text.startswith(_DOWNLOAD_CHECK) or (_MEDIA_FILE.match(resource.path) and "404" in text):
        return "stale download source"
    return None


async def _wait_idle(page, timeout_ms: float) -> None:
    """Connected, script run over, no progress bar: the result of an interaction is shown."""
    from playwright.async_api import expect

    app = page.locator(APP)
    await expect(app).to_have_attribute(
        "data-test-connection-state", "CONNECTED", timeout=timeout_ms
    )
    await expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout_ms)
    await expect(page.locator(PROGRESS)).to_have_count(0, timeout=timeout_ms)


async def _fit_shown(page, dataset: str, n_points: int, timeout_ms: float, extra: str = "") -> None:
    """The Fit page shows a finished fit of ``n_points`` runs of ``dataset`` with its band."""
    from playwright.async_api import expect

    caption = re.compile(rf"(^|\s){n_points} runs of {re.escape(dataset)}\b.*{re.escape(extra)}")
    await expect(page.locator(CAPTION, has_text=caption)).to_be_visible(timeout=timeout_ms)
    await _wait_idle(page, timeout_ms)
    await expect(page.get_by_text("bootstrap resamples over runs")).to_be_visible(
        timeout=timeout_ms
    )


async def _read_alpha(page, timeout_ms: float) -> float:
    """α from the formula's TeX source (KaTeX keeps it in a MathML annotation).

    Polled: KaTeX is a lazily loaded chunk, so on a busy machine the formula can appear after
    the script run is over and the caption is shown.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        sources = await page.locator(".katex-mathml annotation").all_text_contents()
        values = [float(m.group(1)) for s in sources for m in [ALPHA_IN_FORMULA.search(s)] if m]
        if len(values) == 1:
            return values[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"expected one fitted formula with N^{{α}}, saw {sources!r}")
        await page.wait_for_timeout(250)


async def _error_elements(page) -> list[str]:
    """Texts of Streamlit exception boxes and error alerts currently on the page."""
    return [t.strip()[:300] for t in await page.locator(ERROR_ELEMENTS).all_inner_texts()]


async def run_session(
    context, base_url: str, result: SessionResult, barrier: asyncio.Barrier, timeout_ms: float
) -> None:
    """Drive one session through the workload (see the module docstring), recording into
    ``result`` as it goes (so a cancelled session still reports how far it got); never raises
    except when cancelled."""
    from playwright.async_api import expect

    plan = result.plan
    context.set_default_timeout(timeout_ms)  # also page.goto's 30 s: 20 cold loads take longer
    context.set_default_navigation_timeout(timeout_ms)
    page = await context.new_page()

    def on_console(message) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        category = benign_console_error(base_url, message.text, url)
        text = f"console error: {message.text[:300]} ({url})"
        if category is None:
            result.errors.append(text)
        else:
            result.ignored.append(f"{category}: {text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: result.errors.append(f"page error: {error}"))

    async def step(name: str, action, until) -> None:
        result.step = name
        started = time.monotonic()
        await action()
        await until()
        result.latencies[name] = time.monotonic() - started
        for text in await _error_elements(page):
            result.errors.append(f"{name}: error shown: {text}")

    def check_alpha(when: str, value: float) -> None:
        result.alphas[when] = value
        if abs(value - plan.alpha) > ALPHA_TOLERANCE:
            result.errors.append(
                f"{when}: fitted α {value} but this session's data has {plan.alpha}"
            )

    try:
        # 1. Data page. Located by labels and text, not layout: the page is still evolving.
        async def data_page_ready() -> None:
            await expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible(
                timeout=timeout_ms
            )
            await _wait_idle(page, timeout_ms)

        await step(
            "open data page",
            lambda: page.goto(f"{base_url}/data", wait_until="domcontentloaded"),
            data_page_ready,
        )

        uploader = page.locator(
            '[data-testid="stFileUploader"]', has_text=re.compile("upload", re.IGNORECASE)
        ).first.locator("input[type=file]")
        payload = {
            "name": f"{plan.dataset}.csv",  # the name box defaults to the file's stem
            "mimeType": "text/csv",
            "buffer": session_csv(plan.alpha),
        }

        async def preview_shown() -> None:
            preview = page.get_by_text(re.compile(rf"\b{N_RUNS} rows, {N_RUNS} runs\b"))
            await expect(preview).to_be_visible(timeout=timeout_ms)
            await _wait_idle(page, timeout_ms)

        await step("upload", lambda: uploader.set_input_files(payload), preview_shown)

        name_box = page.get_by_label("Dataset name")
        if await name_box.input_value() != plan.dataset:  # a changed default: type the name
            await name_box.fill(plan.dataset)
            await name_box.press("Enter")
            await _wait_idle(page, timeout_ms)

        async def saved() -> None:
            await expect(page.get_by_text(f"Saved dataset {plan.dataset}")).to_be_visible(
                timeout=timeout_ms
            )
            await _wait_idle(page, timeout_ms)

        save_button = page.get_by_role("button", name="Save dataset")
        await step("save", save_button.click, saved)

        # 2. Fit page: the saved dataset is this session's current one.
        sidebar_nav = page.locator('[data-testid="stSidebarNav"]')
        await step(
            "open fit page",
            sidebar_nav.get_by_role("link", name="Fit").click,
            lambda: _fit_shown(page, plan.dataset, N_RUNS, timeout_ms),
        )
        check_alpha("first fit", await _read_alpha(page, timeout_ms))

        # 3. Session-local setting: leave out this session's own number of runs.
        drop_box = page.get_by_role("spinbutton", name="Leave out highest-loss runs")

        async def set_drop() -> None:
            await drop_box.fill(str(plan.drop))
            await drop_box.press("Enter")

        await step(
            "set drop",
            set_drop,
            lambda: _fit_shown(page, plan.dataset, N_RUNS - plan.drop, timeout_ms),
        )
        check_alpha("after drop", await _read_alpha(page, timeout_ms))

        # 4. Everyone has set their drop: another rerun must still show this session's state.
        await barrier.wait()

        async def set_objective() -> None:
            await page.get_by_role("combobox", name="Objective").click()
            await page.get_by_role("option", name="ls_log", exact=True).click()

        await step(
            "set objective",
            set_objective,
            lambda: _fit_shown(
                page, plan.dataset, N_RUNS - plan.drop, timeout_ms, extra="objective ls_log"
            ),
        )
        check_alpha("after objective", await _read_alpha(page, timeout_ms))
        shown_drop = await drop_box.input_value()
        if shown_drop != str(plan.drop):
            result.errors.append(f"drop shows {shown_drop}, this session set {plan.drop}")
        picker = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Dataset")
        shown_dataset = await picker.input_value()
        if shown_dataset != plan.dataset:
            result.errors.append(f"dataset picker shows {shown_dataset!r}, not {plan.dataset!r}")
        if f"drop={plan.drop}" not in page.url:
            result.errors.append(f"URL {page.url} lacks drop={plan.drop}")
        result.step = "done"
    except asyncio.BrokenBarrierError:
        result.errors.append("stopped: another session failed before the shared checkpoint")
    except Exception as exc:  # report every session's failure, not only the first one
        result.errors.append(f"failed: {type(exc).__name__}: {str(exc)[:1500]}")
        await barrier.abort()  # the others stop at the checkpoint instead of waiting forever
        with suppress(Exception):  # the page may be gone; the error above is what matters
            result.errors.append(f"page text at failure: {(await page.inner_text(APP))[:1500]}")
    finally:
        with suppress(Exception):  # closing may fail when the session was cancelled
            await page.close()


# ---------------------------------------------------------------------------------------------
# The load run
# ---------------------------------------------------------------------------------------------


async def _warm_up(browser, base_url: str, timeout_ms: float) -> None:
    """One visit to the home page: imports, the store, the bundled datasets and their first fit
    are then in the server before the baseline memory is read."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(base_url)
        await _wait_idle(page, timeout_ms)
        from playwright.async_api import expect

        await expect(page.get_by_text("bootstrap resamples over runs")).to_be_visible(
            timeout=timeout_ms
        )
    finally:
        await context.close()


async def run_load(
    server: ServerHandle,
    n_sessions: int = 20,
    *,
    chromium: str | Path = CHROMIUM,
    timeout_s: float = 150.0,
    total_timeout_s: float = 330.0,
    tag: str | None = None,
) -> LoadReport:
    """Drive ``n_sessions`` concurrent sessions (one Chromium, one context each) to the end.

    ``timeout_s`` bounds each wait of an interaction; ``total_timeout_s`` the whole run: a
    session still running then is cancelled and reported as an error naming the interaction
    it was in, so a slow run ends with a diagnosis instead of a killed test.
    """
    from playwright.async_api import async_playwright

    plans = plan_sessions(n_sessions, tag)
    timeout_ms = timeout_s * 1000
    load_start = os.getloadavg()[0]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            await _warm_up(browser, server.url, timeout_ms)
            rss_before = tree_rss_kib(server.pid)
            contexts = [
                await browser.new_context(viewport={"width": 1280, "height": 900}) for _ in plans
            ]
            barrier = asyncio.Barrier(n_sessions)
            sessions = [SessionResult(plan=plan) for plan in plans]
            server_cpu, own_cpu = tree_cpu_s(server.pid), tree_cpu_s(os.getpid())
            started = time.monotonic()
            tasks = [
                asyncio.create_task(run_session(context, server.url, result, barrier, timeout_ms))
                for context, result in zip(contexts, sessions, strict=True)
            ]
            _, pending = await asyncio.wait(tasks, timeout=total_timeout_s)
            wall = time.monotonic() - started
            server_cpu = tree_cpu_s(server.pid) - server_cpu
            # This process's tree holds the driver and Chromium, and the server when it was
            # started here: count the server once.
            browser_cpu = tree_cpu_s(os.getpid()) - own_cpu - server_cpu
            if server.pid not in _tree(os.getpid()):
                browser_cpu += server_cpu
            for task, result in zip(tasks, sessions, strict=True):
                if task in pending:
                    result.errors.append(
                        f"unfinished after {total_timeout_s:.0f} s, in step {result.step!r}"
                    )
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            rss_after = tree_rss_kib(server.pid)  # every session still connected
            for context in contexts:
                await context.close()
        finally:
            await browser.close()
    return LoadReport(
        sessions=sessions,
        wall_s=wall,
        rss_before_kib=rss_before,
        rss_after_kib=rss_after,
        peak_rss_kib=peak_rss_kib(server.pid),
        server_cpu_s=server_cpu,
        browser_cpu_s=browser_cpu,
        n_cpus=os.cpu_count() or 0,
        load_avg=(load_start, os.getloadavg()[0]),
    )


def stored_dataset_names(store_path: str | Path) -> list[str]:
    """Every dataset name in the store (all workspaces when the store has them), with
    repeats: the caller checks each session's dataset exists exactly once. The server must be
    stopped first (DuckDB allows one process per file)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from scaling_core.store import Store

    with Store.open(str(store_path)) as store:
        workspaces = store.list_workspaces() if hasattr(store, "list_workspaces") else [None]
        names: list[str] = []
        for workspace in workspaces:
            listed = (
                store.list_datasets()
                if workspace is None
                else store.list_datasets(workspace=workspace)
            )
            names.extend(info.name for info in listed)
    return names
