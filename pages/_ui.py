"""Shared Streamlit glue for the pages: the store, the chosen dataset, cached computations.

Store rule: pages only ever get a :class:`~scaling_core.workspace_store.WorkspaceStore` from
:func:`get_store`, the session's workspace seen through the session's principal
(``pages._auth``), so what a user may do is checked on the server for every call. The DuckDB
store underneath is one per process (``st.cache_resource``).

Caching rule: every expensive result is cached by the workspace, the dataset's content hash
(sha256 of the uploaded bytes) and the options, so a re-upload invalidates it, a slider move
never refits, and a workspace never reads another workspace's entries.
Shareable view state lives in ``st.query_params`` so a copied URL reproduces the view.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from pages._auth import SessionAccess, session_access
from scaling_core.access import Principal
from scaling_core.allocation import allocation_samples, optimal_allocation
from scaling_core.backtest import Backtest, backtest_law, leave_largest_out_curve
from scaling_core.compare import Comparison, compare_groups
from scaling_core.diagnose import SeriesDiagnosis, diagnose
from scaling_core.downstream import LossToMetric, fit_loss_to_metric
from scaling_core.fitting import FitInputError, FitResult
from scaling_core.ingest import curve_arrays
from scaling_core.methods import (
    MethodInputError,
    MethodResult,
    detect_isoflop_groups,
    envelope_method,
    isoflop_method,
)
from scaling_core.planning import budget_for_loss, over_samples
from scaling_core.schema import RunTable
from scaling_core.store import (
    DEFAULT_WORKSPACE,
    DatasetInfo,
    Store,
    StoreError,
    default_store_location,
    ensure_default_datasets,
)
from scaling_core.uncertainty import BootstrapResult, bootstrap_fit, percentile_interval
from scaling_core.views import FitSpec, fit_runs, law_inputs, prepare_runs
from scaling_core.workspace_store import PermissionDeniedError, WorkspaceStore, open_workspaces

CHINCHILLA_NAME = "Chinchilla (Epoch AI reconstruction)"
DATASET_DEFAULTS: dict[str, dict[str, int]] = {CHINCHILLA_NAME: {"drop": 5}}
"""Per-dataset view defaults: Epoch AI fit the 240 lowest-loss of the 245 Chinchilla runs."""

DEFAULT_RESAMPLES = 200

DATASET_SCOPED_KEYS = (
    "drop", "plan_drop", "iso_exclude", "target_loss", "unique_tokens", "excl", "reg_series",
    "reg_excl_initial", "reg_excl_saturated",
)  # fmt: skip
"""Widget keys whose values only make sense for one dataset: reset when the dataset changes."""
DATASET_SCOPED_QUERY = ("drop", "excl", "rseries", "rexcl")
"""URL settings reset with the dataset (the dataset's own default applies)."""
WORKSPACE_KEY = "workspace"
"""Session-state key of the chosen workspace."""
WORKSPACE_QUERY = "ws"
"""URL key of the chosen workspace (absent: the default workspace)."""


def ensure_navigation() -> None:
    """Route a first visit through app.py's ``st.navigation``.

    Streamlit treats an app with a ``pages/`` folder as a legacy (v1) multipage app until the
    entrypoint has called ``st.navigation`` once in the server process. A deep link such as
    ``/planner`` opened first after a restart would run the page alone: no sidebar, no page
    config. When that happens, flip Streamlit to navigation mode and rerun; the rerun executes
    app.py, which resolves the same URL path (and keeps the query string) to this page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource(show_spinner=False)
def _open_store(location: str) -> Store:
    """One Store per location per server process; the bundled samples fill an empty store."""
    store = Store.open(location)
    ensure_default_datasets(store)
    return store


def _process_store() -> Store:
    """The process-wide store at the configured location (``SCALESCOPE_STORE``)."""
    return _open_store(default_store_location())


def requested_workspace() -> str:
    """The workspace this session asks for: the sidebar's choice, else ``?ws=``, else default."""
    return st.session_state.get(WORKSPACE_KEY) or query_value(WORKSPACE_QUERY, DEFAULT_WORKSPACE)


def session_principal(access: SessionAccess | None = None) -> Principal:
    """The principal whose rights every store call is checked against.

    Raises :class:`PermissionDeniedError` when the access configuration is broken: a page must
    show the reason, not fall back to an open store.
    """
    access = access if access is not None else session_access()
    if access.config_error is not None:
        raise PermissionDeniedError(
            f"access is closed until the configuration is fixed: {access.config_error}"
        )
    return access.principal


def get_store() -> WorkspaceStore:
    """The session's workspace of the process-wide store, as its principal may use it.

    Raises :class:`~scaling_core.store.StoreError` (a :class:`PermissionDeniedError` when the
    principal has no role in the workspace, e.g. a visitor who has not signed in).
    """
    return WorkspaceStore(_process_store(), session_principal(), requested_workspace())


def store_scope() -> tuple[str, str]:
    """(store location, workspace): the part of every cache key that says whose data it is."""
    store = get_store()
    return store.location, store.workspace


@st.cache_resource(show_spinner=False)
def _configured_workspaces(location: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """Create the workspaces the access policy names, once per store and configuration (only
    the missing ones: a store that already has them is never written to)."""
    store = _open_store(location)
    existing = set(store.list_workspaces())
    return tuple(name if name in existing else store.create_workspace(name) for name in names)


def available_workspaces(access: SessionAccess) -> list[str]:
    """The workspaces this session's principal may open (the configured ones exist first)."""
    store = _process_store()
    if access.policy is not None and access.policy.workspace_names:
        _configured_workspaces(store.location, access.policy.workspace_names)
    return open_workspaces(store, session_principal(access))


def choose_workspace(workspaces: list[str]) -> str | None:
    """Settle this session's workspace among the permitted ones and mirror it in the URL.

    A requested workspace the principal may not open (an old link, a hand-edited ``?ws=``)
    falls back to the default (or first permitted) workspace; the caller says so.
    """
    if not workspaces:
        return None
    wanted = requested_workspace()
    chosen = wanted if wanted in workspaces else (
        DEFAULT_WORKSPACE if DEFAULT_WORKSPACE in workspaces else workspaces[0]
    )  # fmt: skip
    st.session_state[WORKSPACE_KEY] = chosen
    set_query(**{WORKSPACE_QUERY: "" if chosen == DEFAULT_WORKSPACE else chosen})
    return chosen


def switch_workspace(name: str) -> None:
    """Widget callback: open another workspace; the dataset and its settings start afresh."""
    st.session_state[WORKSPACE_KEY] = name
    st.session_state.pop("dataset", None)
    st.query_params.pop("dataset", None)
    for key in DATASET_SCOPED_KEYS:
        st.session_state.pop(key, None)
    for key in DATASET_SCOPED_QUERY:
        st.query_params.pop(key, None)


def query_value(key: str, default: str) -> str:
    """A view setting from the URL (``?key=value``), or ``default``."""
    value = st.query_params.get(key)
    return value if value else default


def set_query(**values: Any) -> None:
    """Write view settings into the URL so a copied link reproduces this view."""
    for key, value in values.items():
        if str(value) == "":
            st.query_params.pop(key, None)  # an empty setting is the default: keep URLs short
        elif st.query_params.get(key) != str(value):
            st.query_params[key] = str(value)


def current_dataset() -> DatasetInfo | None:
    """The dataset chosen in the sidebar (URL ``?dataset=``) among the session workspace's
    datasets, or None when the workspace is empty or cannot be opened (the reason is shown)."""
    try:
        datasets = get_store().list_datasets()
    except StoreError as err:
        st.error(f"The run store cannot be opened: {err}")
        return None
    if not datasets:
        return None
    names = [d.name for d in datasets]
    wanted = st.session_state.get("dataset") or query_value("dataset", names[0])
    return datasets[names.index(wanted)] if wanted in names else datasets[0]


@st.cache_data(show_spinner=False, max_entries=32)
def _load_runs(scope: tuple[str, str], name: str, sha256: str, reduction: str) -> RunTable:
    return get_store().load_runs(name, reduction=reduction)  # type: ignore[arg-type]


def load_runs(name: str, sha256: str, reduction: str) -> RunTable:
    """Per-run table of a stored dataset of the session's workspace; ``sha256`` is in the key
    so re-uploads invalidate."""
    return _load_runs(store_scope(), name, sha256, reduction)


@st.cache_data(show_spinner="Fitting…", max_entries=128)
def cached_fit(name: str, sha256: str, reduction: str, spec: FitSpec) -> FitResult | str:
    """The fit, or the precise reason it cannot be made (a string, cached like a result)."""
    runs = prepare_runs(spec, load_runs(name, sha256, reduction))
    try:
        return fit_runs(spec, runs)
    except FitInputError as err:
        return str(err)


BOOTSTRAP_CACHE_SIZE = 64


@st.cache_resource(show_spinner=False)
def _bootstrap_cache() -> OrderedDict[tuple, BootstrapResult | None]:
    """Process-wide LRU of bootstrap results.

    Not ``st.cache_data``: its replay cannot drive a progress bar created outside the cached
    function, and the bootstrap is the one computation long enough to need one.
    """
    return OrderedDict()


def bootstrap_with_progress(
    info: DatasetInfo, spec: FitSpec, n_resamples: int, seed: int = 0
) -> BootstrapResult | None:
    """The bootstrap of the cached fit (seeded, so caching is exact), with a progress bar while
    it computes; None when the fit itself failed."""
    key = (store_scope(), info.name, info.sha256, info.reduction, spec, n_resamples, seed)
    cache = _bootstrap_cache()
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    fit = cached_fit(info.name, info.sha256, info.reduction, spec)
    result = None
    if not isinstance(fit, str):
        runs = prepare_runs(spec, load_runs(info.name, info.sha256, info.reduction))
        law = spec.law_obj
        bar = st.progress(0.0, text=f"Bootstrap: 0 of {n_resamples} resamples")

        def progress(fraction: float) -> None:
            done = round(fraction * n_resamples)
            bar.progress(fraction, text=f"Bootstrap: {done} of {n_resamples} resamples")

        result = bootstrap_fit(
            law,
            law_inputs(law, runs, spec.x),
            runs.loss,
            fit,
            n_resamples=n_resamples,
            seed=seed,
            progress=progress,
        )
        bar.empty()
    cache[key] = result
    while len(cache) > BOOTSTRAP_CACHE_SIZE:
        cache.popitem(last=False)
    return result


FRONTIER_POINTS = 60
FRONTIER_MAX_FLOPS = 1e27


@st.cache_data(show_spinner=False, max_entries=32)
def _frontier(
    scope: tuple[str, str],
    name: str,
    sha256: str,
    reduction: str,
    spec: FitSpec,
    n_resamples: int,
    min_compute: float,
) -> dict[str, Any]:
    info = get_store().get_dataset(name)
    fit = cached_fit(name, sha256, reduction, spec)
    boot = bootstrap_with_progress(info, spec, n_resamples)
    law = spec.law_obj
    grid = np.geomspace(min_compute / 3, FRONTIER_MAX_FLOPS, FRONTIER_POINTS)
    points = [optimal_allocation(law, fit.params, c) for c in grid]
    out: dict[str, Any] = {
        "compute": grid,
        "params_opt": np.array([p.params_opt for p in points]),
        "tokens_opt": np.array([p.tokens_opt for p in points]),
    }
    if boot is not None:
        samples = [allocation_samples(law, boot, c) for c in grid]
        for key, band in (("params_opt", "params_band"), ("tokens_opt", "tokens_band")):
            bounds = np.array([percentile_interval(s[key]) for s in samples])
            out[band] = (bounds[:, 0], bounds[:, 1])
    return out


def frontier_bands(
    info: DatasetInfo, spec: FitSpec, n_resamples: int, min_compute: float
) -> dict[str, Any]:
    """N*(C), D*(C) and their bootstrap bands on a fixed budget grid (independent of the
    slider, so it is computed once per dataset and settings)."""
    return _frontier(
        store_scope(),
        info.name,
        info.sha256,
        info.reduction,
        spec,
        n_resamples,
        min_compute,
    )


@st.cache_data(show_spinner="Methods 1 and 2…", max_entries=32)
def _cached_methods(
    scope: tuple[str, str],
    name: str,
    sha256: str,
    reduction: str,
    spec: FitSpec,
    rel_tolerance: float,
    excluded: tuple[int, ...],
    n_resamples: int,
) -> dict[str, MethodResult | str]:
    runs = prepare_runs(spec, load_runs(name, sha256, reduction))
    out: dict[str, MethodResult | str] = {}
    # Curves thinned in DuckDB (each log-step bucket keeps its lowest and last loss), so the
    # envelope of a 10M-point dataset reads ~200 rows per run, not every logged step.
    curves = curve_arrays(get_store().load_curves(name))
    try:
        out["envelope"] = envelope_method(
            curves["run"], curves["params"], curves["tokens"], curves["loss"],
            n_resamples=n_resamples,
        )  # fmt: skip
    except (MethodInputError, KeyError) as err:
        out["envelope"] = str(err)
    groups = detect_isoflop_groups(runs.compute, rel_tolerance)
    groups = np.where(np.isin(groups, excluded), -1, groups)
    try:
        out["isoflop"] = isoflop_method(
            runs.params,
            runs.tokens,
            runs.loss,
            runs.compute,
            groups=groups,
            n_resamples=n_resamples,
        )
    except MethodInputError as err:
        out["isoflop"] = str(err)
    return out


def cached_methods(
    name: str,
    sha256: str,
    reduction: str,
    spec: FitSpec,
    rel_tolerance: float,
    excluded: tuple[int, ...],
    n_resamples: int,
) -> dict[str, MethodResult | str]:
    """Methods 1 (envelope, from step-level curves) and 2 (isoFLOP parabolas): each a result or
    the precise reason it does not apply to this dataset."""
    return _cached_methods(
        store_scope(), name, sha256, reduction, spec, rel_tolerance, excluded, n_resamples
    )


@st.cache_data(show_spinner="Diagnosing regimes…", max_entries=64)
def cached_diagnosis(
    name: str, sha256: str, reduction: str, drop: int, x: str, direction: str
) -> list[SeriesDiagnosis]:
    """Every series' regimes and flags (see :func:`scaling_core.diagnose.diagnose`)."""
    runs = load_runs(name, sha256, reduction).without_highest_loss(drop)
    return diagnose(runs, x, lower_is_better=direction == "lower")


@st.cache_data(show_spinner="Backtesting…", max_entries=64)
def cached_backtests(
    name: str, sha256: str, reduction: str, drop: int, x: str
) -> list[Backtest] | str:
    """Leave-largest-out backtests along ``x`` (the joint law when runs vary N and D), or why
    there are none."""
    runs = load_runs(name, sha256, reduction).without_highest_loss(drop)
    try:
        return leave_largest_out_curve(backtest_law(runs), runs, x=x)
    except ValueError as err:  # BacktestError or an unfittable split
        return str(err)


@st.cache_data(show_spinner=False, max_entries=64)
def _budget_samples(
    scope: tuple[str, str],
    name: str,
    sha256: str,
    reduction: str,
    spec: FitSpec,
    n_resamples: int,
    target: float,
) -> np.ndarray:
    info = get_store().get_dataset(name)
    boot = bootstrap_with_progress(info, spec, n_resamples)
    if boot is None:
        return np.array([])
    law = spec.law_obj
    samples = [
        dict(zip(boot.params, v, strict=True)) for v in zip(*boot.params.values(), strict=True)
    ]
    return over_samples(law, samples, lambda p: budget_for_loss(law, p, target))


def budget_samples_for_loss(
    info: DatasetInfo, spec: FitSpec, n_resamples: int, target: float
) -> np.ndarray:
    """Per bootstrap sample, the compute that reaches ``target`` loss (NaN: never). Cached, so
    the budget slider does not recompute it."""
    return _budget_samples(
        store_scope(), info.name, info.sha256, info.reduction, spec, n_resamples, target
    )


@st.cache_data(show_spinner="Comparing groups…", max_entries=64)
def cached_comparison(
    name: str,
    sha256: str,
    reduction: str,
    drop: int,
    x: str,
    law: str,
    shared: bool,
    reference: str,
) -> Comparison | str:
    """Per-group fits and efficiency multipliers, or why the groups cannot be compared."""
    runs = load_runs(name, sha256, reduction).without_highest_loss(drop)
    try:
        return compare_groups(runs, x=x, law_name=law, shared_exponent=shared,
                              reference=reference)  # fmt: skip
    except ValueError as err:  # CompareError or an unfittable group
        return str(err)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_points(scope: tuple[str, str], name: str, sha256: str) -> pd.DataFrame:
    return get_store().load_points(name)


def cached_points(name: str, sha256: str) -> pd.DataFrame:
    """The dataset's step-level rows (``sha256`` keys the cache to the content)."""
    return _cached_points(store_scope(), name, sha256)


@st.cache_data(show_spinner="Fitting the loss → metric map…", max_entries=32)
def cached_loss_to_metric(name: str, sha256: str, reduction: str, drop: int) -> LossToMetric | str:
    """The sigmoid map from loss to the dataset's downstream metric, or why there is none."""
    runs = load_runs(name, sha256, reduction).without_highest_loss(drop)
    try:
        return fit_loss_to_metric(runs.loss, runs.metric)
    except FitInputError as err:
        return str(err)


def int_query(key: str, default: int) -> int:
    """An integer view setting from the URL; ``default`` when absent or not a whole number."""
    try:
        return int(query_value(key, str(default)))
    except ValueError:
        return default


def drop_setting(info: DatasetInfo) -> int:
    """How many highest-loss runs to leave out: the URL's ``drop``, else the dataset's default,
    clipped to what the dataset can spare (at least one run must stay)."""
    wanted = int_query("drop", dataset_default(info, "drop", 0))
    return min(max(wanted, 0), max(info.n_runs - 1, 0))


def dataset_default(info: DatasetInfo, key: str, fallback: int) -> int:
    """A per-dataset view default (see :data:`DATASET_DEFAULTS`)."""
    return DATASET_DEFAULTS.get(info.name, {}).get(key, fallback)
