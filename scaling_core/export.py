"""Chart and table exports: PNG and SVG images, standalone interactive HTML, predictions CSV.

Not pure, and on purpose: PNG and SVG are rendered by plotly.js inside a headless Chromium that
kaleido 1.x drives through choreographer (a subprocess talking Chrome DevTools over a pipe).
Everything else here (HTML, CSV, tables) is plain computation.

Why a long-lived browser: starting Chromium costs seconds (≈ 2–6 s on a busy machine); a render
in a warm browser costs a few hundred milliseconds. One browser per server process is kept in a
:class:`_RenderSession`: renders are serialised by a lock (Streamlit serves several sessions, and
``st.download_button`` runs its data callable on another thread), a failed or timed-out render
closes the browser so the next one starts clean, an idle browser is closed after
:data:`IDLE_SECONDS`, and an ``atexit`` hook closes it when the process ends. Chromium runs with
``--remote-debugging-pipe``, so it also exits when its parent dies.

Which browser: ``BROWSER_PATH`` (the variable choreographer already honours) when set, else
Debian's ``/usr/bin/chromium``, else choreographer's own search (Chrome/Chromium/Edge/Brave on
``PATH`` and in the usual places, and a Chrome fetched with ``kaleido_get_chrome``). When none
exists, :class:`BrowserNotFoundError` says what was looked at and how to fix it.
"""

from __future__ import annotations

import asyncio
import atexit
import html
import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np
import plotly.graph_objects as go

from scaling_core.fitting import FitResult
from scaling_core.laws import Law, is_joint
from scaling_core.safe_csv import csv_bytes
from scaling_core.uncertainty import BootstrapResult, bootstrap_band

__all__ = [
    "DEBIAN_CHROMIUM",
    "BrowserNotFoundError",
    "ExportError",
    "export_template",
    "figure_html",
    "figure_png",
    "figure_svg",
    "find_browser",
    "predictions_csv",
    "predictions_table",
    "shutdown",
]

DEBIAN_CHROMIUM = "/usr/bin/chromium"
"""Debian's package (``apt-get install chromium``), the browser the project documents."""
BROWSER_ENV = "BROWSER_PATH"
"""Overrides the browser; the variable choreographer itself reads."""
RENDER_TIMEOUT = 60.0
"""Seconds one render may take before the browser is considered stuck and closed."""
START_TIMEOUT = 60.0
"""Seconds Chromium may take to start (it is slow on a loaded machine)."""
IDLE_SECONDS = 600.0
"""A browser unused this long is closed (it holds ~150 MB); the next export restarts it."""
DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_SCALE = 1200, 700, 2.0
"""Default image size in CSS pixels; PNGs are ``scale``× that in pixels (sharp on slides)."""
TEMPLATES = {"light": "plotly_white", "dark": "plotly_dark"}
"""Exported figures are self-contained: they carry a plotly template, not the app's theme."""


class ExportError(RuntimeError):
    """An export failed; the message says why (user-facing)."""


class BrowserNotFoundError(ExportError):
    """No Chromium or Chrome to render PNG/SVG with."""


# ------------------------------------------------------------------------------- the browser


def find_browser() -> str:
    """The browser executable PNG/SVG exports will use (see the module docstring for the order).

    Raises BrowserNotFoundError with what was tried; an explicit ``BROWSER_PATH`` that does
    not point at an executable is an error rather than silently ignored.
    """
    explicit = os.environ.get(BROWSER_ENV)
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise BrowserNotFoundError(
            f"{BROWSER_ENV}={explicit!r} is not an executable file. Point it at a Chromium or "
            "Chrome executable, or unset it to use Debian's /usr/bin/chromium."
        )
    if os.path.isfile(DEBIAN_CHROMIUM) and os.access(DEBIAN_CHROMIUM, os.X_OK):
        return DEBIAN_CHROMIUM
    from choreographer.browsers.chromium import Chromium

    found = Chromium.find_browser(skip_local=False)
    if found and os.path.isfile(found):
        return found
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    raise BrowserNotFoundError(
        "PNG and SVG export need Chromium or Chrome, and none was found (looked at "
        f"{BROWSER_ENV}, {DEBIAN_CHROMIUM} and chromium/chrome on PATH). Install it with "
        f"`apt-get install chromium`, or set {BROWSER_ENV} to a Chromium/Chrome executable. "
        "HTML and CSV exports work without a browser."
    )


class _RenderSession:
    """One headless Chromium (a kaleido ``Kaleido``) on its own event-loop thread, reused.

    Thread-safe: :meth:`render` holds a lock for the whole render. Never leaks a browser: every
    failure path and :meth:`close` (idle timer, ``atexit``) shut Chromium down.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido: Any = None
        self._browser: str | None = None
        self._idle_timer: threading.Timer | None = None

    def forget(self) -> None:
        """After a fork: the child must not drive (or close) the parent's browser."""
        self._lock = threading.RLock()
        self._loop, self._thread, self._kaleido, self._browser = None, None, None, None
        self._idle_timer = None

    @property
    def is_open(self) -> bool:
        return self._kaleido is not None

    def _run(self, coro: Any, timeout: float) -> Any:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise

    def _open(self, browser: str) -> None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_forever, name="scalescope-export-browser", daemon=True
        )
        thread.start()
        self._loop, self._thread = loop, thread

        async def start() -> Any:
            k = _deferred_reload_kaleido()(path=browser, mathjax=False, timeout=RENDER_TIMEOUT)
            try:
                await k.open()
            except BaseException:
                await k.close()
                raise
            return k

        try:
            self._kaleido = self._run(start(), START_TIMEOUT)
        except BaseException:
            self._stop_loop()
            raise
        self._browser = browser

    def _stop_loop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            if not self._loop.is_running():
                self._loop.close()
        self._loop, self._thread = None, None

    def close(self) -> None:
        """Close the browser (if open) and its loop thread; safe to call any time, repeatedly."""
        with self._lock:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
            if self._kaleido is not None:
                try:
                    self._run(self._kaleido.close(), 30)
                except BaseException:  # closing is best effort: kill below
                    _kill_browser(self._kaleido)
            self._kaleido, self._browser = None, None
            self._stop_loop()

    def _arm_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        timer = threading.Timer(IDLE_SECONDS, lambda: self._close_if_idle(timer))
        timer.daemon = True
        timer.start()
        self._idle_timer = timer

    def _close_if_idle(self, timer: threading.Timer) -> None:
        """The idle timer fired: close, unless a render re-armed the timer meanwhile (the
        timer may have fired while that render held the lock)."""
        with self._lock:
            if self._idle_timer is timer:
                self.close()

    def render(self, fig: dict, opts: dict) -> bytes:
        """Bytes of ``fig`` (a figure dict) in ``opts["format"]``; opens the browser if needed."""
        with self._lock:
            browser = find_browser()
            if self._kaleido is not None and self._browser != browser:
                self.close()
            for attempt in (1, 2):
                if self._kaleido is None:
                    try:
                        self._open(browser)
                    except Exception as err:
                        raise ExportError(
                            f"The browser at {browser} could not be started for the image "
                            f"export: {err}"
                        ) from err
                try:
                    data = self._run(self._kaleido.calc_fig(fig, opts=opts), RENDER_TIMEOUT + 10)
                    self._arm_idle_timer()
                    return data
                except Exception as err:
                    # A crashed or stuck browser: close it; try once more with a fresh one.
                    self.close()
                    if attempt == 2:
                        raise ExportError(
                            f"The {opts.get('format', 'image')} export failed: "
                            f"{type(err).__name__}: {err}"
                        ) from err
        raise AssertionError("unreachable")


def _deferred_reload_kaleido() -> type:
    """kaleido's ``Kaleido`` that hands back a render's bytes before reloading the tab.

    kaleido reloads its page after every render (to reset plotly.js state) and only then
    returns the image: 0.5–1 s of a ~2 s warm export on a loaded machine. Here the reload runs
    in the background and the tab rejoins the queue when it is done, so the next render (not
    this one) waits for it. If kaleido renames this private hook, the override is simply never
    called and exports keep working at the old speed; a reload that fails leaves no tab, the
    next render times out and the session restarts the browser.
    """
    import kaleido

    class DeferredReloadKaleido(kaleido.Kaleido):
        _pending: set[asyncio.Task]

        async def _return_kaleido_tab(self, tab: Any) -> None:
            pending = self.__dict__.setdefault("_pending", set())
            task = asyncio.create_task(super()._return_kaleido_tab(tab))
            pending.add(task)
            task.add_done_callback(_settled(pending))

        async def close(self) -> None:
            """Let background reloads finish (briefly) so none is left pending, then close."""
            pending = set(self.__dict__.get("_pending", ()))
            if pending:
                _, late = await asyncio.wait(pending, timeout=5)
                for task in late:
                    task.cancel()
            await super().close()

    return DeferredReloadKaleido


def _settled(pending: set[asyncio.Task]) -> Any:
    """A done-callback that forgets a background task and consumes its exception (a failed
    reload is handled by the next render's timeout, not logged as never retrieved)."""

    def done(task: asyncio.Task) -> None:
        pending.discard(task)
        if not task.cancelled():
            task.exception()

    return done


def _kill_browser(k: Any) -> None:
    """Last resort when a graceful close failed: kill the browser subprocess."""
    process = getattr(k, "subprocess", None)
    if process is not None and process.poll() is None:
        process.kill()


_SESSION = _RenderSession()
atexit.register(_SESSION.close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_SESSION.forget)


def shutdown() -> None:
    """Close the shared export browser now (tests, or a server that wants the memory back)."""
    _SESSION.close()


def browser_is_running() -> bool:
    """Whether the shared export browser is currently open (for tests and diagnostics)."""
    return _SESSION.is_open


# ------------------------------------------------------------------------------------ figures


def export_template(fig: go.Figure, theme: str = "light", title: str | None = None) -> go.Figure:
    """A copy of ``fig`` with an explicit plotly template (and ``title`` above the plot), so the
    file looks the same anywhere.

    In the app, ``st.plotly_chart`` themes figures; an exported file has no app around it.
    plotly.js reads titles as a small HTML subset, so ``title`` (it may hold a dataset's name)
    is HTML-escaped and shows exactly as written.
    """
    if theme not in TEMPLATES:
        raise ValueError(f"theme must be one of {sorted(TEMPLATES)}, got {theme!r}")
    out = go.Figure(fig)
    out.update_layout(template=TEMPLATES[theme])
    if title:
        out.update_layout(
            title={"text": html.escape(title), "x": 0.01, "xanchor": "left", "y": 0.98},
            margin={"t": max(out.layout.margin.t or 0, 90)},
        )
    return out


def _image(fig: go.Figure, fmt: str, width: int, height: int, scale: float, theme: str,
           title: str | None) -> bytes:  # fmt: skip
    if width <= 0 or height <= 0 or scale <= 0:
        raise ValueError(
            f"width, height and scale must be positive, got {width}, {height}, {scale}"
        )
    opts = {"format": fmt, "width": int(width), "height": int(height), "scale": float(scale)}
    return _SESSION.render(export_template(fig, theme, title).to_dict(), opts)


def figure_png(
    fig: go.Figure,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    scale: float = DEFAULT_SCALE,
    theme: str = "light",
    title: str | None = None,
) -> bytes:
    """PNG bytes of ``fig``: ``width·scale`` × ``height·scale`` pixels (browser rendering)."""
    return _image(fig, "png", width, height, scale, theme, title)


def figure_svg(
    fig: go.Figure,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    theme: str = "light",
    title: str | None = None,
) -> bytes:
    """SVG bytes of ``fig`` (vector: for papers; browser rendering)."""
    return _image(fig, "svg", width, height, 1.0, theme, title)


def figure_html(fig: go.Figure, title: str, theme: str = "light") -> bytes:
    """A standalone interactive HTML page of ``fig``: plotly.js inlined (opens offline, no
    external script), ``title`` HTML-escaped (it may hold a dataset's name).

    plotly serialises the figure's data with ``</`` escaped, so run names cannot end the
    script that holds them.
    """
    div = export_template(fig, theme).to_html(
        full_html=False, include_plotlyjs=True, include_mathjax=False, config={"responsive": True}
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '</head>\n<body style="margin:0;font-family:sans-serif">\n'
        f'<h1 style="font-size:1.2rem;margin:12px 16px">{html.escape(title)}</h1>\n'
        f"{div}\n</body>\n</html>\n"
    )
    return page.encode("utf-8")


# -------------------------------------------------------------------------------- predictions

PREDICTION_POINTS = 50
"""Rows per curve in the predictions table (log-spaced)."""
PREDICTION_EXTENSION = 10.0
"""The grid runs to 10× the largest observed scale, like the charts' curves."""


def predictions_table(
    law: Law,
    fit: FitResult,
    boot: BootstrapResult | None,
    grid: Mapping[str, np.ndarray],
    labels: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """The fitted law's predictions at the points of ``grid`` (the law's inputs, linear units),
    with the 95% bootstrap interval when ``boot`` exists.

    Returns columns (equal length): one per input (named by ``labels`` or the input name),
    ``predicted_loss``, and ``ci95_low``/``ci95_high`` with a bootstrap. Pure.
    """
    labels = labels or {}
    columns: dict[str, np.ndarray] = {
        labels.get(name, name): np.asarray(grid[name], float) for name in law.inputs
    }
    columns["predicted_loss"] = law.predict(fit.params, dict(grid))
    if boot is not None:
        low, high = bootstrap_band(law, boot, dict(grid))
        columns["ci95_low"], columns["ci95_high"] = low, high
    return columns


def prediction_grid(
    law: Law,
    x: np.ndarray,
    params: np.ndarray | None = None,
    tokens: np.ndarray | None = None,
    n: int = PREDICTION_POINTS,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """A default grid: for a one-resource law, ``n`` points in log from the smallest observed
    ``x`` to 10× the largest; for a joint law, that tokens grid at each observed model size.

    Returns the grid and column labels with units.
    """
    if is_joint(law):
        if params is None or tokens is None:
            raise ValueError("a joint law's grid needs the observed params and tokens")
        sizes = np.unique(np.asarray(params, float))
        d = np.geomspace(float(np.min(tokens)), float(np.max(tokens)) * PREDICTION_EXTENSION, n)
        grid = {"N": np.repeat(sizes, n), "D": np.tile(d, sizes.size)}
        return grid, {"N": "params_N", "D": "tokens_D"}
    values = np.asarray(x, float)
    grid = {"x": np.geomspace(values.min(), values.max() * PREDICTION_EXTENSION, n)}
    return grid, {"x": "x"}


def predictions_csv(
    columns: Mapping[str, Sequence[object] | np.ndarray], header: Mapping[str, str] | None = None
) -> bytes:
    """The predictions table as spreadsheet-safe CSV (:func:`scaling_core.safe_csv.csv_bytes`).

    ``header`` renames columns (e.g. ``{"x": "compute_flops"}``); names are neutralised too.
    """
    header = header or {}
    return csv_bytes({header.get(k, k): [_plain(v) for v in col] for k, col in columns.items()})


def _plain(value: object) -> object:
    """numpy scalars as Python numbers (CSV writes them round-trip exact)."""
    return value.item() if isinstance(value, np.generic) else value


def scalescope_version() -> str:
    """The installed Scalescope version, else the one in the source tree's pyproject.toml
    (reports state which code made them)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scalescope")
    except PackageNotFoundError:
        pass
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text("utf-8"))["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def frontier_table(
    compute: np.ndarray,
    params_opt: np.ndarray,
    tokens_opt: np.ndarray,
    loss_opt: np.ndarray,
    params_band: tuple[np.ndarray, np.ndarray] | None = None,
    tokens_band: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The Planner's predictions as columns: per budget, N*, D*, D*/N*, the predicted loss and
    the 95% bootstrap intervals of N* and D* when they exist. Pure."""
    columns = {
        "compute_flops": np.asarray(compute, float),
        "params_opt": np.asarray(params_opt, float),
        "tokens_opt": np.asarray(tokens_opt, float),
        "tokens_per_param": np.asarray(tokens_opt, float) / np.asarray(params_opt, float),
        "predicted_loss": np.asarray(loss_opt, float),
    }
    if params_band is not None:
        columns["params_ci95_low"], columns["params_ci95_high"] = params_band
    if tokens_band is not None:
        columns["tokens_ci95_low"], columns["tokens_ci95_high"] = tokens_band
    return columns
