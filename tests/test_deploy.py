"""Deployment: the Dockerfile checked against the project, and the container's start simulated.

Why static checks: no Docker engine runs where the suite runs, so the image cannot be built
here. What usually breaks a Dockerfile silently is drift: a COPY of a file that moved, a new
package directory the image never receives, a volume that no longer holds the store, an
unpinned requirements file. These tests read the Dockerfile and fail on that drift.

Why the simulation: the container's behaviour is "``streamlit run app.py`` with the CMD's flags,
the image's environment and the store on an empty volume". Running exactly that on this
machine (without Docker) checks the first start (health, bundled datasets created on the
volume) and that an upload survives a restart on the same volume.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import sys
import time
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from load_harness import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    N_RUNS,
    free_port,
    health_ok,
    session_alpha,
    session_csv,
    stored_dataset_names,
    streamlit_server,
)

from scaling_core.store import DEFAULT_DATASETS  # noqa: E402

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PACKAGES = ROOT / "packages.txt"
DEPLOY_DOC = ROOT / "docs" / "DEPLOY.md"


# -- reading the Dockerfile -----------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    result = []
    for text in logical:
        keyword, _, rest = text.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def arguments(keyword: str) -> list[str]:
    return [rest for kw, rest in instructions() if kw == keyword]


def image_env() -> dict[str, str]:
    """The image's environment from its ENV lines (``KEY=value`` pairs, shell-quoted)."""
    env: dict[str, str] = {}
    for rest in arguments("ENV"):
        for word in shlex.split(rest):
            key, sep, value = word.partition("=")
            assert sep, f"ENV {rest!r}: use KEY=value"
            env[key] = value
    return env


def exec_form(rest: str) -> list[str]:
    """A JSON-array (exec form) CMD/ENTRYPOINT, which gets signals directly (no shell)."""
    value = json.loads(rest)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), rest
    return value


def dockerignore_patterns() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _docker_glob(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore pattern as a regex: ``*`` and ``?`` stay inside one path
    segment, ``**`` spans any number of segments, patterns are anchored at the context root."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context: a pattern that matches
    the path or one of its parent directories excludes it; ``!`` re-includes; the last
    matching line wins."""
    verdict = False
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in dockerignore_patterns():
        negate = pattern.startswith("!")
        glob = _docker_glob(pattern.lstrip("!").strip("/"))
        if any(glob.fullmatch(candidate) for candidate in candidates):
            verdict = not negate
    return verdict


def copy_sources() -> list[tuple[str, str]]:
    """(source, destination) of every COPY (sources relative to the build context)."""
    pairs = []
    for rest in arguments("COPY"):
        words = [w for w in shlex.split(rest) if not w.startswith("--")]
        *sources, destination = words
        pairs.extend((source, destination) for source in sources)
    return pairs


def copied(path: str) -> bool:
    """Whether the repository file ``path`` reaches the image through some COPY."""
    for source, _ in copy_sources():
        source = source.rstrip("/")
        if source in (".", path) or path.startswith(source + "/"):
            return not ignored(path)
    return False


# -- static checks ------------------------------------------------------------------------------


def test_base_image_is_python_311_slim_bookworm() -> None:
    assert arguments("FROM") == ["python:3.11-slim-bookworm"]


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    assert copy_sources(), "the Dockerfile copies nothing"
    for source, _ in copy_sources():
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert not ignored(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"


def test_the_image_gets_every_runtime_file() -> None:
    """Entry point, pages, every scaling_core module and the bundled datasets are copied, and
    no runtime module imports a repository directory that the image lacks."""
    runtime = [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("scaling_core/**/*.py")]
    runtime = [p for p in runtime if "__pycache__" not in p.parts]
    for path in runtime:
        assert copied(path.relative_to(ROOT).as_posix()), f"{path} is not copied into the image"
    for _, filename in DEFAULT_DATASETS:
        assert copied(f"data/{filename}"), f"bundled dataset data/{filename} is not copied"
    assert copied(".streamlit/config.toml")
    top_level_dirs = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    for path in runtime:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            for name in names:
                package = name.split(".")[0]
                if package in top_level_dirs:
                    modules = (ROOT / package).rglob("*.py")
                    assert any(copied(p.relative_to(ROOT).as_posix()) for p in modules), (
                        f"{path} imports {name}, which the image does not contain"
                    )


def test_secrets_and_stores_stay_out_of_the_image() -> None:
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        "data/scalescope.duckdb",
        "data/scalescope.duckdb.wal",
        "data/scalescope.duckdb.sources/0a1b.zst",
        "elsewhere/store.duckdb",
        ".streamlit/secrets.toml",
        "scaling_core/__pycache__/store.cpython-311.pyc",
    ):
        assert ignored(path), f".dockerignore does not exclude {path}"
    assert not ignored("data/chinchilla_epoch.csv")
    assert not ignored("scaling_core/store.py")


def test_installs_the_pinned_requirements() -> None:
    installs = [rest for rest in arguments("RUN") if "pip install" in rest]
    assert len(installs) == 1, installs
    assert re.search(r"(^|\s)-r requirements\.txt(\s|$)", installs[0]), installs[0]
    assert ("requirements.txt", "./") in copy_sources()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if requirement:
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+==[0-9][0-9A-Za-z.+\-]*", requirement), (
                f"requirements.txt: {requirement!r} is not pinned with =="
            )


def test_chromium_from_debian_for_chart_exports() -> None:
    apt = [rest for rest in arguments("RUN") if "apt-get install" in rest]
    assert len(apt) == 1, apt
    assert "--no-install-recommends" in apt[0]
    assert re.search(r"\bchromium\b", apt[0])
    assert "rm -rf /var/lib/apt/lists" in apt[0], "apt lists must not stay in the layer"
    assert image_env()["BROWSER_PATH"] == "/usr/bin/chromium"
    assert "chromium" in PACKAGES.read_text().split(), "packages.txt (Community Cloud) lacks it"


def test_runs_as_a_non_root_user() -> None:
    order = [kw for kw, _ in instructions()]
    users = arguments("USER")
    assert users and users[-1] not in ("root", "0"), users
    assert order.index("USER") < order.index("CMD")


def test_cmd_runs_the_entry_point_on_all_interfaces() -> None:
    (cmd,) = arguments("CMD")
    words = exec_form(cmd)
    assert words[:3] == ["streamlit", "run", "app.py"], words
    assert (ROOT / words[2]).is_file()
    assert "--server.address=0.0.0.0" in words
    assert "--server.port=8501" in words
    assert arguments("EXPOSE") == ["8501"]
    # Headless comes from the config file the image copies.
    assert re.search(r"(?m)^headless\s*=\s*true", (ROOT / ".streamlit/config.toml").read_text())


def test_the_volume_holds_the_store() -> None:
    store = image_env()["SCALESCOPE_STORE"]
    volumes = arguments("VOLUME")
    assert volumes == [str(PurePosixPath(store).parent)], (volumes, store)
    assert store.endswith(".duckdb")


def test_healthcheck_uses_streamlits_health_route() -> None:
    from streamlit.web.server.starlette.starlette_routes import ROUTE_HEALTH

    (check,) = arguments("HEALTHCHECK")
    assert f"http://127.0.0.1:8501/{ROUTE_HEALTH}" in check, check


def test_deploy_doc_names_the_real_settings() -> None:
    """DEPLOY.md must not drift from the names the code reads."""
    text = DEPLOY_DOC.read_text()
    for name in ("SCALESCOPE_STORE", "server.baseUrlPath", "/oauth2callback", "packages.txt"):
        assert name in text, name
    example = ROOT / ".streamlit" / "secrets.toml.example"
    if example.exists():
        assert "secrets.toml.example" in text
        for key in ("redirect_uri", "cookie_secret", "client_id", "client_secret"):
            if key in example.read_text():
                assert key in text, f"DEPLOY.md does not mention the secrets key {key}"


# -- the container's start, simulated -----------------------------------------------------------


def container_env(volume: Path) -> dict[str, str]:
    """The image's ENV with the volume's mount point replaced by a local directory."""
    env = image_env()
    store = PurePosixPath(env["SCALESCOPE_STORE"])
    env["SCALESCOPE_STORE"] = str(volume / store.name)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # irrelevant here; keep the venv's caches
    return env


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_container_start_creates_the_store_on_the_volume_and_keeps_uploads(
    tmp_path: Path,
) -> None:
    """First start on an empty volume: healthy, bundled datasets in the volume's store; an
    upload saved in the browser is still served after a restart on the same volume."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)")
    expect = sync_api.expect
    volume = tmp_path / "volume"
    volume.mkdir()
    env = container_env(volume)
    store = env["SCALESCOPE_STORE"]
    name = "deploy-check"
    started = time.monotonic()

    def serve(log_name: str):
        return streamlit_server(
            store, tmp_path / log_name, address="0.0.0.0", port=free_port(), env=env
        )

    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            with serve("first.log") as app:
                assert health_ok(app.url)
                page = chromium.new_page()
                page.goto(f"{app.url}/data")
                uploader = page.locator("input[type=file]").first
                uploader.set_input_files(
                    {"name": f"{name}.csv", "mimeType": "text/csv", "buffer": session_csv(0.3)}
                )
                save = page.get_by_role("button", name="Save dataset")
                expect(save).to_be_enabled(timeout=60_000)
                save.click()
                expect(page.get_by_text(f"Saved dataset {name}")).to_be_visible(timeout=60_000)
                page.close()
            first = stored_dataset_names(store)
            assert sorted(first) == sorted([n for n, _ in DEFAULT_DATASETS] + [name])
            assert [p.name for p in volume.iterdir() if p.suffix == ".duckdb"] == [Path(store).name]

            with serve("second.log") as app:
                page = chromium.new_page()
                page.goto(f"{app.url}/?dataset={name}")
                caption = page.locator(
                    '[data-testid="stCaptionContainer"]', has_text=f"{N_RUNS} runs of {name}"
                )
                expect(caption).to_be_visible(timeout=60_000)
                formula = page.locator(".katex-mathml annotation").first.text_content() or ""
                assert f"N^{{{session_alpha(0):g}}}" in formula, formula
                page.close()
        finally:
            chromium.close()
    # The restart neither lost the upload nor loaded the bundled datasets a second time.
    assert sorted(stored_dataset_names(store)) == sorted(first)
    for log in ("first.log", "second.log"):
        assert "Traceback" not in (tmp_path / log).read_text(errors="replace")
    print(f"container start simulated twice in {time.monotonic() - started:.1f} s")
