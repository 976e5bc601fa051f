"""Security through the public APIs (no browser): hostile names stay data, uploaded file names are
never paths, oversize uploads are refused with a clear message, and principals who may not
write can change nothing.

What a browser makes of the same hostile data (the real DOM, the sign-in gate) is checked in
``tests/e2e/test_security_browser.py``; the per-role rules of :mod:`scaling_core.access` in
``tests/test_access.py`` and ``tests/test_workspace_store.py``. This file adds what those do not:
the whole path from stored bytes to every output, and a permission check over *all* write
methods of :class:`WorkspaceStore`, found by introspection so a write method added later without
a permission check fails here.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import io
import tomllib
import unicodedata
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import pytest
from hostile_names import hostile_runs_csv

from scaling_core import workspace_store
from scaling_core.access import AccessPolicy, Principal, resolve_principal
from scaling_core.export import figure_html, predictions_csv
from scaling_core.ingest import IngestErrors, ParsedTable, check_size, parse_table
from scaling_core.report import FitReport, fit_report_html, fit_report_markdown
from scaling_core.safe_csv import FORMULA_PREFIXES
from scaling_core.store import Store, StoreError
from scaling_core.views import FitSpec, fit_figure, fit_runs, prepare_runs
from scaling_core.workspace_store import PermissionDeniedError, WorkspaceStore, write_action

ROOT = Path(__file__).resolve().parents[1]

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=1">'
SQL = "'; DROP TABLE points; --"
FORMULA = '=HYPERLINK("http://evil.example/x","click")'
HOSTILE_NAMES = (
    XSS_SCRIPT,
    XSS_IMG,
    SQL,
    FORMULA,
    "[click](javascript:window.__xss=1)",
    '" onmouseover="window.__xss=1" x="',
    "{{7*7}} ${7*7} %s%n :material/lock: **bold**",
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
)
"""Dataset, workspace, run and group names that are code somewhere (HTML, SQL, a spreadsheet,
Markdown, a template): everywhere they must stay text."""


HOSTILE_CSV = hostile_runs_csv(HOSTILE_NAMES, HOSTILE_NAMES[:3])
CANARY_CSV = b"run,params,tokens,loss\na,70M,1.4B,3.1\nb,1.4e8,2.8e9,2.9\nc,2.8e8,5.6e9,2.7\n"


def parsed(data: bytes, filename: str = "runs.csv") -> ParsedTable:
    table = parse_table(filename, data)
    assert isinstance(table, ParsedTable), table
    return table


@pytest.fixture
def store() -> Iterator[Store]:
    """An in-memory store with one innocent dataset, 'canary', that every test checks survives."""
    with Store.in_memory() as opened:
        opened.add_dataset("canary", parsed(CANARY_CSV), CANARY_CSV)
        yield opened


def assert_canary_intact(store: Store) -> None:
    """The points table and the canary's rows are still there (SQL in names stayed data)."""
    points = store.load_points("canary")
    assert list(points["run"]) == ["a", "b", "c"]
    assert store.get_dataset("canary").n_rows == 3


# -- hostile names are data -------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_dataset_and_workspace_names_are_stored_and_returned_verbatim(
    store: Store, name: str
) -> None:
    local = WorkspaceStore(store, resolve_principal(None, None, viewer_mode=False), "default")
    info = local.add_dataset(name, parsed(HOSTILE_CSV), HOSTILE_CSV)
    assert info.name == name
    assert local.get_dataset(name).name == name
    assert name in [d.name for d in local.list_datasets()]
    assert local.load_runs(name).n == 40
    renamed = local.rename_dataset(name, f"{name} (2)")
    assert renamed.name == f"{name} (2)"
    assert local.rename_dataset(renamed.name, name).name == name
    # as a workspace name too (a URL's ?ws= and the sidebar show it)
    workspace = store.create_workspace(name)
    assert workspace == name.strip() and workspace in store.list_workspaces()
    store.add_dataset(name, parsed(CANARY_CSV), CANARY_CSV, workspace=workspace)
    assert [d.name for d in store.list_datasets(workspace=workspace)] == [name]
    local.delete_dataset(name)
    assert [d.name for d in store.list_datasets(workspace=workspace)] == [name]
    assert_canary_intact(store)


def test_hostile_run_and_group_names_round_trip_and_export_inert(store: Store) -> None:
    store.add_dataset(SQL, parsed(HOSTILE_CSV), HOSTILE_CSV)
    runs = store.load_runs(SQL)
    assert set(HOSTILE_NAMES) <= set(runs.run.tolist())
    assert set(store.load_points(SQL)["group"]) == set(HOSTILE_NAMES[:3])
    assert store.load_source(SQL) == ("runs.csv", HOSTILE_CSV)  # the original bytes, untouched

    rows = list(csv.reader(io.StringIO(store.export_csv(SQL).decode("utf-8"))))
    header, body = rows[0], rows[1:]
    assert header[:2] == ["row_number", "run"] and "loss" in header
    assert len(body) == 40
    exported = [row[header.index("run")] for row in body]
    for original, cell in zip(runs.run.tolist(), exported, strict=True):
        if original.lstrip(" ").startswith(FORMULA_PREFIXES):
            assert cell == "'" + original  # a spreadsheet shows it as text, never evaluates it
        else:
            assert cell == original
    groups = {row[header.index("group")] for row in body}
    assert groups == {XSS_SCRIPT, XSS_IMG, SQL}  # no formula prefix: unchanged
    assert_canary_intact(store)


class Elements(HTMLParser):
    """The elements and attributes a browser would build from an HTML document, and its text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_hostile_names_stay_text_from_the_store_to_reports_and_chart_html(store: Store) -> None:
    """Stored hostile names through the fit into the HTML report, the Markdown report and the
    standalone chart page: no element or attribute comes from the data, the text reads as
    written."""
    store.add_dataset(XSS_IMG, parsed(HOSTILE_CSV), HOSTILE_CSV)
    spec = FitSpec(law="chinchilla")
    runs = prepare_runs(spec, store.load_runs(XSS_IMG))
    fit = fit_runs(spec, runs)
    report = FitReport(
        dataset=XSS_IMG,
        law=spec.law_obj,
        fit=fit,
        intervals=None,
        n_resamples=0,
        x="compute",
        runs_used=fit.n_points,
        runs_total=runs.n,
        exclusions=(),
        backtests=(),
        backtest_law="",
        backtest_note=f"run {XSS_SCRIPT} is alone",
        trust="",
        warnings=tuple(f"Saturated: run {name}" for name in HOSTILE_NAMES),
        version="test",
        generated_at="2026-11-26 12:00 UTC",
    )
    page = Elements(fit_report_html(report))
    assert "script" not in page.tags and "img" not in page.tags
    assert not [a for a in page.attributes if a.startswith("on")]
    text = "".join(page.text)
    assert f"Fit report: {XSS_IMG}" in text
    assert all(f"Saturated: run {name}" in text for name in HOSTILE_NAMES)

    markdown = fit_report_markdown(report)
    assert "<script" not in markdown and "<img" not in markdown
    assert "](javascript:" not in markdown

    figure = fit_figure(spec, runs, fit, None)
    benign = Elements(figure_html(figure, "runs: Chinchilla").decode("utf-8"))
    chart = Elements(figure_html(figure, f"{XSS_IMG}: Chinchilla").decode("utf-8"))
    assert chart.tags == benign.tags  # the hostile names added no element (plotly's own only)
    assert sorted(chart.attributes) == sorted(benign.attributes)
    assert f"{XSS_IMG}: Chinchilla" in "".join(chart.text)


def test_hostile_column_names_are_neutralised_in_prediction_csv() -> None:
    data = predictions_csv({"x": [1.0, 2.0], FORMULA: [-0.5, 3.0]}, header={"x": SQL})
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert rows[0] == [SQL, "'" + FORMULA]
    assert rows[1] == ["1.0", "-0.5"]  # numbers stay numbers, a negative one included


# -- uploaded file names are never paths ------------------------------------------------------

HOSTILE_FILENAMES = (
    "../../etc/passwd.csv",
    "..\\..\\x.csv",
    "/abs/path.csv",
    "C:\\Windows\\system.csv",
    "runs\x00.csv",
    "runs\n.csv",
    "runs\x1b[2J\x1b[31m.csv",
)
"""Names with a directory part or control characters (a browser sends only a base name, but
the CLI, a script or a forged request can send anything)."""


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("filename", [*HOSTILE_FILENAMES, "<svg onload=window.__xss=1>.csv"])
def test_uploaded_file_names_are_never_used_as_paths(tmp_path: Path, filename: str) -> None:
    """Ingest and the store treat the name as a label: nothing is created outside the store's
    own files (the name's directories included), and the bytes come back unchanged."""
    home = tmp_path / "deep" / "store"
    home.mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    before = tree(tmp_path)
    table = parsed(HOSTILE_CSV, filename)
    with Store.open(str(home / "store.duckdb")) as store:
        store.add_dataset("runs", table, HOSTILE_CSV)
        sources = store.load_sources("runs")
    created = tree(tmp_path) - before
    assert created and all(path.startswith("deep/store/store.duckdb") for path in created)
    assert [content for _, content in sources] == [HOSTILE_CSV]


def plain_file_name(name: str) -> bool:
    """A name that is safe wherever a file name ends up (a download's name, a listing, a
    terminal): no directory part in either path syntax, no control characters, not a dot name."""
    printable = not any(unicodedata.category(ch).startswith("C") for ch in name)
    no_directory = PurePosixPath(name).name == name and PureWindowsPath(name).name == name
    return bool(name) and printable and no_directory and name not in (".", "..")


@pytest.mark.parametrize("filename", HOSTILE_FILENAMES)
def test_stored_source_file_names_are_plain_file_names(store: Store, filename: str) -> None:
    info = store.add_dataset("runs", parsed(HOSTILE_CSV, filename), HOSTILE_CSV)
    stored = [name for name, _ in store.load_sources("runs")]
    assert plain_file_name(info.source_filename), repr(info.source_filename)
    assert all(plain_file_name(name) for name in stored), stored


# -- oversize uploads -------------------------------------------------------------------------


def upload_limit_mb() -> float:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    return float(config["server"]["maxUploadSize"])


def test_oversize_uploads_get_one_clear_message() -> None:
    limit = upload_limit_mb()
    assert 1 <= limit <= 1024  # set explicitly: Streamlit's uploader refuses bigger files too
    n_bytes = int(limit * 1024 * 1024)
    assert check_size("runs.csv", n_bytes, limit) is None  # exactly the limit is fine
    refused = check_size(XSS_SCRIPT + ".csv", n_bytes + 1, limit)
    assert isinstance(refused, IngestErrors)
    (message,) = refused.messages()
    assert XSS_SCRIPT in message  # named as written (pages escape it when they show it)
    assert f"the upload limit is {limit:g} MB" in message
    assert "server.maxUploadSize" in message and "Parquet" in message  # how to get past it


# -- principals who may not write -------------------------------------------------------------

POLICY = AccessPolicy.from_mapping(
    {
        "require_login": False,
        "public_workspaces": ["default"],
        "workspaces": {"default": {"viewers": ["viewer@lab.org"], "editors": ["ed@lab.org"]}},
    }
)
CLOSED = AccessPolicy.from_mapping({"workspaces": {"default": {"admins": ["ada@lab.org"]}}})
READ_ONLY: dict[str, Principal] = {
    "visitor of a public workspace": resolve_principal(None, POLICY, viewer_mode=False),
    "viewer": resolve_principal(
        {"is_logged_in": True, "email": "viewer@lab.org"}, POLICY, viewer_mode=False
    ),
    "editor in viewer mode": resolve_principal(
        {"is_logged_in": True, "email": "ed@lab.org"}, POLICY, viewer_mode=True
    ),
    "local admin in viewer mode": resolve_principal(None, None, viewer_mode=True),
}
NO_ACCESS: dict[str, Principal] = {
    "not signed in (login required)": resolve_principal(None, CLOSED, viewer_mode=False),
    "signed in, no role": resolve_principal(
        {"is_logged_in": True, "email": "eve@evil.example"}, CLOSED, viewer_mode=False
    ),
    "unverified e-mail of an admin": resolve_principal(
        {"is_logged_in": True, "email": "ada@lab.org", "email_verified": False},
        CLOSED,
        viewer_mode=False,
    ),
}

READ_METHODS = {
    "can",
    "list_datasets",
    "get_dataset",
    "load_points",
    "load_runs",
    "load_curves",
    "load_mapping",
    "find_mapping",
    "load_source",
    "load_sources",
    "export_csv",
    "export_parquet",
}
"""The WorkspaceStore methods that change nothing. Every OTHER public method counts as a write:
a method added later is refused to read-only principals here until it is listed above, so a
write method without a permission check cannot slip in."""


def write_methods() -> list[str]:
    public = [
        name
        for name, member in inspect.getmembers(WorkspaceStore)
        if not name.startswith("_") and inspect.isfunction(member)
    ]
    return [name for name in public if name not in READ_METHODS]


def arguments(method: Callable[..., Any], mode: str | None) -> tuple[list[Any], dict[str, Any]]:
    """Plausible arguments for any write method, made from its signature's parameter names.

    The permission check must come before anything looks at them, so an unknown parameter
    gets a harmless string."""
    known: dict[str, Any] = {
        "name": "canary",
        "old": "canary",
        "new": "renamed",
        "parsed": parsed(HOSTILE_CSV),
        "source_bytes": HOSTILE_CSV,
        "headers": ["run", "params", "tokens", "loss"],
        "mapping": {"run": "run"},
        "units": {},
        "mode": mode,
    }
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in list(inspect.signature(method).parameters.values())[1:]:
        if parameter.name == "mode" and mode is not None:
            kwargs["mode"] = mode
        elif parameter.default is not inspect.Parameter.empty:
            continue
        elif parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = known.get(parameter.name, "x")
        elif parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            args.append(known.get(parameter.name, "x"))
    return args, kwargs


WRITES = [
    (name, mode)
    for name in write_methods()
    for mode in (
        workspace_store.WRITE_MODES
        if "mode" in inspect.signature(getattr(WorkspaceStore, name)).parameters
        else (None,)
    )
]


class UntouchableStore:
    """Fails on any use: a refused call must be refused before the store is asked anything."""

    location = ":untouchable:"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was asked for {name!r} before the permission check")


def snapshot(store: Store) -> list[tuple]:
    """Everything a write could change, in every workspace (mappings included)."""
    return [
        (
            workspace,
            [
                (d.id, d.name, d.sha256, d.n_rows, d.n_sources, d.source_filename, d.reduction)
                for d in store.list_datasets(workspace=workspace)
            ],
            store.find_mapping(["run", "params", "tokens", "loss"], workspace=workspace),
        )
        for workspace in store.list_workspaces()
    ]


def test_the_write_methods_are_found() -> None:
    """The introspection sees the known writes (and every READ_METHODS entry still exists)."""
    found = set(write_methods())
    assert {"add_dataset", "rename_dataset", "delete_dataset", "save_mapping"} <= found
    assert {"create", "append", "replace"} == {mode for name, mode in WRITES if mode}
    assert all(callable(getattr(WorkspaceStore, name)) for name in READ_METHODS)


@pytest.mark.parametrize(
    ("method", "mode"), WRITES, ids=[f"{n}-{m}" if m else n for n, m in WRITES]
)
@pytest.mark.parametrize("who", READ_ONLY)
def test_read_only_principals_cannot_write_through_any_method(
    store: Store, who: str, method: str, mode: str | None
) -> None:
    principal = READ_ONLY[who]
    if mode is not None:
        assert not principal.can(write_action(mode), "default")
    before = snapshot(store)
    ws = WorkspaceStore(store, principal, "default")
    args, kwargs = arguments(getattr(WorkspaceStore, method), mode)
    with pytest.raises(PermissionDeniedError) as refused:
        getattr(ws, method)(*args, **kwargs)
    message = str(refused.value)
    assert "workspace 'default'" in message and "may not" in message
    assert snapshot(store) == before
    untouchable = WorkspaceStore(UntouchableStore(), principal, "default")  # type: ignore[arg-type]
    with pytest.raises(PermissionDeniedError):
        getattr(untouchable, method)(*args, **kwargs)


@pytest.mark.parametrize("who", NO_ACCESS)
def test_principals_without_a_role_cannot_open_a_workspace_or_create_one(
    store: Store, who: str
) -> None:
    principal = NO_ACCESS[who]
    before = snapshot(store)
    for workspace in ("default", "research"):
        with pytest.raises(PermissionDeniedError, match="may not view datasets"):
            WorkspaceStore(store, principal, workspace)
    with pytest.raises(PermissionDeniedError, match="may not create workspaces"):
        workspace_store.create_workspace(store, principal, "mine")
    assert workspace_store.open_workspaces(store, principal) == []
    assert snapshot(store) == before


def test_a_refused_write_leaves_the_bytes_of_the_store_file_unchanged(tmp_path: Path) -> None:
    """On disk too: a viewer's attempts change not one byte of the store file."""
    path = tmp_path / "store.duckdb"
    with Store.open(str(path)) as store:
        store.add_dataset("canary", parsed(CANARY_CSV), CANARY_CSV)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with Store.open(str(path)) as store:
        ws = WorkspaceStore(store, READ_ONLY["viewer"], "default")
        for method, mode in WRITES:
            args, kwargs = arguments(getattr(WorkspaceStore, method), mode)
            with pytest.raises(PermissionDeniedError):
                getattr(ws, method)(*args, **kwargs)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_a_store_error_is_what_pages_catch() -> None:
    """Pages show StoreError messages cleanly; a refusal must be one of them."""
    assert issubclass(PermissionDeniedError, StoreError)
