"""Security in a real browser: hostile names from the store never become markup, the sign-in gate
shows nothing of the data, and a viewer gets no write controls.

Three servers, each started once for the module and only when a test needs it:

- ``local``: no secrets (one local admin). Its store is prepared before the server starts with
  datasets whose dataset, run, group and file names are XSS, Markdown-link, SQL and formula
  payloads; every page that shows them is opened and the DOM is searched for anything the
  payloads could have created (a ``window.__xss`` flag, ``<img src=x>``, ``javascript:`` links,
  ``on*`` handlers). The payloads must still be visible as text.
- ``gated``: ``[auth]`` configured (a fake OIDC provider: nobody ever completes a sign-in) and
  sign-in required: every page and deep link shows only the sign-in screen, and the websocket
  carries no dataset name.
- ``public``: ``[auth]`` with ``require_login = false`` and the default workspace public: a
  visitor is a viewer and the Data page offers no upload, rename or delete.

Secrets are never written into the repository's ``.streamlit/``: the server gets a temporary
``HOME`` whose ``~/.streamlit/secrets.toml`` Streamlit reads (``secrets.files`` lists
``~/.streamlit/secrets.toml`` and ``<cwd>/.streamlit/secrets.toml``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hostile_names import hostile_runs_csv

pytest.importorskip("playwright.sync_api")
from load_harness import APP, ERROR_ELEMENTS, PROGRESS, REPO, ServerHandle, streamlit_server
from playwright.sync_api import Browser, BrowserContext, Page, expect

from scaling_core.ingest import ParsedTable, parse_table
from scaling_core.store import SOURCES_SUFFIX, Store

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

WAIT_MS = 120_000
VIEWPORT = {"width": 1400, "height": 900}

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"
LINK = "[click me](javascript:window.__xss=1)"
DATASETS = (f"{IMG} runs", f"{LINK} {SCRIPT}")
"""Two hostile dataset names: raw HTML, and a Markdown link around a script element."""
RUN_NAMES = (
    SCRIPT,
    IMG,
    "<svg onload=window.__xss=1>",
    '<a href="javascript:window.__xss=1">a link</a>',
    "<iframe src=javascript:window.__xss=1></iframe>",
    LINK,
    "'; DROP TABLE points; --",
    '=HYPERLINK("http://evil.example/x","click")',
    "@SUM(1+1)",
)
GROUPS = (f"{SCRIPT} group", f"{IMG} group")
SOURCE_FILE = "<svg onload=window.__xss=1>.csv"

DOM_INJECTIONS = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    for (const a of el.attributes) {
      const name = a.name.toLowerCase(), value = (a.value || '').trim().toLowerCase();
      if (name.startsWith('on') && value.includes('__xss')) found.push(`${tag}[${name}]`);
      if (/(^|:)(href|src|action|formaction|data)$/.test(name) && value.startsWith('javascript:'))
        found.push(`${tag}[${name}=${value}]`);
      if (name === 'src' && value === 'x') found.push(`${tag}[src=x]`);
    }
    if (tag === 'script' && (el.textContent || '').includes('__xss')) found.push('script');
  }
  return found;
}"""
"""Elements or attributes in the document that only a payload could have put there."""


HOSTILE_CSV = hostile_runs_csv(RUN_NAMES, GROUPS)


# -------------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding the hostile datasets (the server adds the bundled ones)."""
    path = tmp_path_factory.mktemp("hostile-store") / "store.duckdb"
    parsed = parse_table(SOURCE_FILE, HOSTILE_CSV)
    assert isinstance(parsed, ParsedTable), parsed
    with Store.open(str(path)) as store:
        for name in DATASETS:
            store.add_dataset(name, parsed, HOSTILE_CSV)
    return path


@contextlib.contextmanager
def server_with(
    tmp_path_factory: pytest.TempPathFactory, store: Path, secrets: str | None
) -> Iterator[ServerHandle]:
    """A server on a copy of ``store`` (the file and the folder of uploads beside it, as a
    backup copies them); with ``secrets`` written to a temporary HOME's
    ``.streamlit/secrets.toml`` (the repository's own ``.streamlit/`` is never touched)."""
    if (REPO / ".streamlit" / "secrets.toml").exists() and secrets is not None:
        pytest.skip("the repository has a .streamlit/secrets.toml, which would override ours")
    workdir = tmp_path_factory.mktemp("security-server")
    shutil.copy(store, workdir / "store.duckdb")
    shutil.copytree(f"{store}{SOURCES_SUFFIX}", workdir / f"store.duckdb{SOURCES_SUFFIX}")
    env = {}
    if secrets is not None:
        home = workdir / "home"
        (home / ".streamlit").mkdir(parents=True)
        (home / ".streamlit" / "secrets.toml").write_text(secrets)
        env["HOME"] = str(home)
    log = workdir / "streamlit.log"
    try:
        with streamlit_server(workdir / "store.duckdb", log, env=env) as handle:
            yield handle
    finally:
        text = log.read_text(errors="replace") if log.exists() else ""
        if "Traceback" in text:
            print(f"--- streamlit server log ---\n{text[-6000:]}")


AUTH = """
[auth]
redirect_uri = "http://127.0.0.1:9/oauth2callback"
cookie_secret = "test-cookie-secret-not-a-real-one-0123456789abcdef"
client_id = "scalescope-test"
client_secret = "not-a-secret"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"
"""
"""A provider nobody can reach (port 9, discard): the tests never complete a sign-in."""

GATED = (
    AUTH
    + """
[scalescope]
admins = ["lead@lab.example.org"]
[scalescope.workspaces.research]
editors = ["*@lab.example.org"]
"""
)
PUBLIC = (
    AUTH
    + """
[scalescope]
require_login = false
public_workspaces = ["default"]
admins = ["lead@lab.example.org"]
"""
)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, hostile_store: Path) -> Iterator[str]:
    with server_with(tmp_path_factory, hostile_store, None) as handle:
        yield handle.url


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory, hostile_store: Path) -> Iterator[str]:
    with server_with(tmp_path_factory, hostile_store, GATED) as handle:
        yield handle.url


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory, hostile_store: Path) -> Iterator[str]:
    with server_with(tmp_path_factory, hostile_store, PUBLIC) as handle:
        yield handle.url


# -------------------------------------------------------------------------------- helpers


@pytest.fixture
def new_page(
    browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Page]]:
    """Pages in fresh browser contexts, each with the injection probes: a ``dialog`` (an
    ``alert``) fails the test; all closed at the end (screenshots first if the test failed)."""
    contexts: list[BrowserContext] = []
    failed_before = request.session.testsfailed
    dialogs: list[str] = []

    def make(**options: Any) -> Page:
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, **options)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        return page

    yield make
    for index, context in enumerate(contexts):
        if request.session.testsfailed > failed_before:
            for number, page in enumerate(context.pages):
                with contextlib.suppress(Exception):  # a crashed page has nothing to show
                    page.screenshot(path=str(tmp_path / f"context{index}-page{number}.png"))
        context.close()
    assert not dialogs, f"a payload opened a dialog: {dialogs}"


def wait_idle(page: Page) -> None:
    app = page.locator(APP)
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=WAIT_MS)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=WAIT_MS)
    expect(page.locator(PROGRESS)).to_have_count(0, timeout=WAIT_MS)


def assert_no_injection(page: Page, where: str) -> None:
    """Nothing a payload could have made is in the document, and no frame ran one."""
    assert page.evaluate(DOM_INJECTIONS) == [], where
    for frame in page.frames:
        with contextlib.suppress(Exception):  # a detached frame ran nothing
            assert frame.evaluate("() => window.__xss") is None, f"{where}: {frame.url}"
    expect(page.locator("img[src='x']")).to_have_count(0)
    expect(page.locator("script", has_text="__xss")).to_have_count(0)


def visible_text(page: Page) -> str:
    """The page's text plus every input's value (selectboxes show their choice in an input)."""
    return page.evaluate(
        """() => document.body.innerText + '\\n' +
            [...document.querySelectorAll('input')].map(i => i.value).join('\\n')"""
    )


def hover_chart(page: Page) -> None:
    """Sweep the pointer over the first chart's plot area so hover labels (run names) draw."""
    plot = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first
    expect(plot).to_be_visible(timeout=WAIT_MS)
    box = plot.bounding_box()
    assert box is not None
    for step in range(1, 25):
        for row in (0.4, 0.8):
            page.mouse.move(box["x"] + box["width"] * step / 25, box["y"] + box["height"] * row)
    page.wait_for_timeout(200)


def sidebar_options(page: Page) -> list[str]:
    """The sidebar dataset picker's options, as the listbox shows them."""
    page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Dataset").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    texts = [t.strip() for t in options.all_inner_texts()]
    page.keyboard.press("Escape")
    return texts


# ------------------------------------------------------------------------ hostile names


@pytest.mark.parametrize("payload", RUN_NAMES[:5])
def test_the_probe_finds_each_payload_when_it_is_markup(
    new_page: Callable[..., Page], payload: str
) -> None:
    """The checks below are not vacuous: each payload, inserted as markup, is caught."""
    page = new_page()
    page.set_content(f"<!doctype html><body><p>{payload}</p></body>")
    with pytest.raises(AssertionError):
        assert_no_injection(page, "a page built from the raw payload")


@pytest.mark.parametrize("dataset", DATASETS, ids=["html", "markdown-link"])
def test_hostile_names_never_become_markup_on_the_analysis_pages(
    local: str, new_page: Callable[..., Page], dataset: str
) -> None:
    page = new_page()
    page.goto(f"{local}/?boot=0&dataset={quote(dataset)}")
    caption = page.locator('[data-testid="stCaptionContainer"]', has_text="40 runs of")
    expect(caption).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    expect(page.locator(ERROR_ELEMENTS)).to_have_count(0)
    picker = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Dataset")
    expect(picker).to_have_value(dataset, timeout=WAIT_MS)
    assert set(DATASETS) <= set(sidebar_options(page))
    hover_chart(page)
    page.get_by_role("button", name="Copy link").click()  # the link (and its iframe) hold it
    expect(page.locator('[data-testid="stPopoverBody"] [data-testid="stCode"]')).to_be_visible()
    assert_no_injection(page, "Fit page")

    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Regimes").click()
    expect(page.get_by_role("heading", name="Regimes and trust")).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    text = visible_text(page)
    assert any(group in text for group in GROUPS), "the series (group) names show as text"
    hover_chart(page)
    assert_no_injection(page, "Regimes page")

    page.goto(f"{local}/present?boot=0&dataset={quote(dataset)}")
    expect(page.get_by_text("Dataset: ", exact=False)).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    assert_no_injection(page, "presentation")


@pytest.mark.parametrize("dataset", DATASETS, ids=["html", "markdown-link"])
def test_dataset_names_show_as_written_in_captions(
    local: str, new_page: Callable[..., Page], dataset: str
) -> None:
    """Not as Markdown: '[click me](…)' must not become a link (Streamlit would only blank a
    javascript: URL; an https one would be live)."""
    page = new_page()
    for path, prefix in (("/", "40 runs of "), ("/present", "Dataset: ")):
        page.goto(f"{local}{path}?boot=0&dataset={quote(dataset)}")
        caption = page.locator('[data-testid="stCaptionContainer"]', has_text=prefix.strip())
        expect(caption.first).to_be_visible(timeout=WAIT_MS)
        wait_idle(page)
        expect(caption.first).to_contain_text(f"{prefix}{dataset}")
        expect(caption.locator("a")).to_have_count(0)


def test_hostile_names_on_the_data_page_and_in_its_csv_export(
    local: str, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    page.goto(f"{local}/data?dataset={quote(DATASETS[0])}")
    expect(page.get_by_role("heading", name="Stored datasets")).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    for title in ("Runs of a dataset", "Export a dataset", "Rename a dataset", "Delete a dataset"):
        page.get_by_text(title).first.click()  # open every panel: their pickers list the names
    wait_idle(page)
    assert DATASETS[0] in visible_text(page)  # the chosen dataset, in the pickers
    assert_no_injection(page, "Data page")

    export = page.locator('[data-testid="stExpander"]', has_text="Export a dataset")
    export.get_by_role("combobox", name="Dataset to export").click()
    page.get_by_role("option", name=DATASETS[0], exact=True).click()
    wait_idle(page)
    with page.expect_download(timeout=WAIT_MS) as info:
        export.get_by_role("button", name="CSV").click()
    download = info.value
    assert "<" not in download.suggested_filename and "/" not in download.suggested_filename
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    header, body = rows[0], rows[1:]
    runs = [row[header.index("run")] for row in body]
    assert "'" + RUN_NAMES[7] in runs and "'" + RUN_NAMES[8] in runs  # formulas made inert
    assert RUN_NAMES[7] not in runs and RUN_NAMES[8] not in runs
    assert {SCRIPT, IMG, RUN_NAMES[6]} <= set(runs)  # the rest verbatim: CSV is not HTML
    with page.expect_download(timeout=WAIT_MS) as info:
        export.get_by_role("button", name="Original upload").click()
    assert Path(info.value.path()).read_bytes() == HOSTILE_CSV
    assert "/" not in info.value.suggested_filename
    assert_no_injection(page, "Data page after the downloads")


def test_a_hostile_upload_is_saved_under_its_name_shown_as_text(
    local: str, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    page.goto(f"{local}/data")
    expect(page.get_by_role("heading", name="Upload")).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    upload = page.locator('[data-testid="stFileUploader"] input[type="file"]').first
    upload.set_input_files(
        {"name": "<img src=x onerror=window.__xss=1>.csv", "mimeType": "text/csv",
         "buffer": HOSTILE_CSV.replace(b"group", b"family")}  # other bytes: a new dataset
    )  # fmt: skip
    name_box = page.get_by_label("Dataset name")
    expect(name_box).to_have_value("<img src=x onerror=window.__xss=1>", timeout=WAIT_MS)
    wait_idle(page)
    assert_no_injection(page, "upload preview")
    page.get_by_role("button", name="Save dataset").click()
    saved = page.get_by_text("Saved dataset <img src=x onerror=window.__xss=1> (created)")
    expect(saved).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    assert_no_injection(page, "after saving")


def test_an_oversize_upload_is_refused_by_the_browser_and_nothing_is_stored(
    local: str, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    page = new_page()
    page.goto(f"{local}/data")
    expect(page.get_by_role("heading", name="Upload")).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    limit_mb = 50  # .streamlit/config.toml server.maxUploadSize (tests/test_security.py reads it)
    big = tmp_path / "big.csv"
    with big.open("wb") as out:  # sparse: one byte over the limit costs no disk
        out.write(b"run,params,tokens,loss\n")
        out.truncate(limit_mb * 1024 * 1024 + 1)
    upload = page.locator('[data-testid="stFileUploader"] input[type="file"]').first
    upload.set_input_files(str(big))
    expect(page.get_by_text(re.compile(r"must be .*MB or smaller"))).to_be_visible()
    wait_idle(page)
    expect(page.get_by_label("Dataset name")).to_have_count(0)
    save = page.get_by_role("button", name="Save dataset", exact=True, disabled=False)
    expect(save).to_have_count(0)
    assert "big" not in sidebar_options(page)


# ------------------------------------------------------------------------------- sign-in


GATED_PATHS = (
    "/",
    "/data?mode=view",
    f"/?dataset={quote(DATASETS[0])}&law=power",
    "/planner?budget=1e24",
    "/present?screen=plan",
    "/?ws=research",
)
"""The entry page, the page with write controls, deep links with a dataset, settings, a
presentation screen and a named workspace."""


@pytest.mark.parametrize("path", GATED_PATHS)
def test_a_visitor_who_is_not_signed_in_sees_only_the_sign_in_screen(
    gated: str, new_page: Callable[..., Page], path: str
) -> None:
    page = new_page()
    frames: list[bytes] = []

    def record(socket: Any) -> None:
        socket.on(
            "framereceived",
            lambda payload: frames.append(
                payload if isinstance(payload, bytes) else payload.encode()
            ),
        )

    page.on("websocket", record)
    page.goto(f"{gated}{path}")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    expect(page.get_by_text("This Scalescope deployment is private")).to_be_visible()
    for selector in (
        '[data-testid="stSidebarNav"]',
        '[data-testid="stPlotlyChart"]',
        '[data-testid="stMetric"]',
        '[data-testid="stDataFrame"]',
        '[data-testid="stFileUploader"]',
        ".katex",
    ):
        expect(page.locator(selector)).to_have_count(0)
    text = page.locator(APP).inner_text()
    assert not re.search(r"\d", text), text  # no number of any dataset
    secrets = ["Chinchilla", *DATASETS, *RUN_NAMES, "research"]
    seen = b"".join(frames)
    assert frames and not [s for s in secrets if s.encode() in seen or s in text]
    assert_no_injection(page, path)


def test_a_viewer_of_a_public_workspace_gets_no_write_controls(
    public: str, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    page.goto(f"{public}/data")
    expect(page.get_by_role("heading", name="Stored datasets")).to_be_visible(timeout=WAIT_MS)
    wait_idle(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("Not signed in · viewer")).to_be_visible()
    expect(sidebar.get_by_role("button", name="Sign in")).to_be_visible()
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text(re.compile(r"read-only: .* sign in first"))).to_be_visible()
    expect(main.locator('input[type="file"]')).to_have_count(0)
    for control in ("Save dataset", "Rename", "Delete dataset"):
        expect(main.get_by_role("button", name=control, exact=True)).to_have_count(0)
    expect(
        main.get_by_text(re.compile(r"^(Upload|Rename a dataset|Delete a dataset)$"))
    ).to_have_count(0)
    # Viewing and exporting are a viewer's rights: the data is there, downloads too.
    expect(main.get_by_text("Export a dataset")).to_be_visible()
    assert set(DATASETS) <= set(sidebar_options(page))
