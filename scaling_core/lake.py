"""Team mode plumbing: DuckLake with a PostgreSQL catalog, set up offline from the wheels.

Why a separate module: :mod:`scaling_core.store` holds the data model and every query; this
module only turns a ``ducklake:postgres:…`` location into an attached DuckDB catalog. The
DuckLake and PostgreSQL extensions come from the ``duckdb-extension-ducklake`` and
``duckdb-extension-postgres`` wheels (found through the installed modules, never a hard-coded
``site-packages`` path) and are installed into a project folder, so no extension is ever
downloaded at run time and a machine without internet access works the same.

Settings (environment variables):

- ``SCALESCOPE_STORE`` — ``ducklake:postgres:dbname=… host=…`` selects team mode (see
  :func:`scaling_core.store.default_store_location` for the other forms).
- ``SCALESCOPE_LAKE_DATA`` — where DuckLake writes its Parquet data files (default
  ``data/lake/``); every dashboard process sharing a catalog must see the same folder.
- ``SCALESCOPE_EXTENSION_DIR`` — DuckDB's extension directory (default ``.duckdb_extensions/``
  in the repository, which is git-ignored).

DuckDB's ``ATTACH`` takes no bound parameters, so the location and data path are the one place
where text enters a statement: :func:`sql_literal` quotes them and refuses control characters.
"""

from __future__ import annotations

import os
import random
import re
import time
from contextlib import suppress
from pathlib import Path

import duckdb

__all__ = [
    "EXTENSION_DIR_ENV_VAR",
    "LAKE_ALIAS",
    "LAKE_DATA_ENV_VAR",
    "LAKE_PREFIX",
    "LakeSetupError",
    "connect_lake",
    "default_lake_data_path",
    "extension_directory",
    "is_lake_location",
    "redact",
    "sql_literal",
]

LAKE_PREFIX = "ducklake:"
LAKE_ALIAS = "lake"
"""The name the DuckLake catalog is attached under; every cursor runs ``USE lake``."""
LAKE_DATA_ENV_VAR = "SCALESCOPE_LAKE_DATA"
EXTENSION_DIR_ENV_VAR = "SCALESCOPE_EXTENSION_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent

_EXTENSIONS = (
    ("ducklake", "duckdb_extension_ducklake"),
    ("postgres", "duckdb_extension_postgres"),
)
"""(extension name, module of the wheel that ships its binary)."""

ATTACH_RETRY_SECONDS = 30.0
"""How long opening a team store retries while other processes initialise the catalog."""
_INIT_RACE_MARKERS = ("duplicate key", "already exists", "conflict", "could not serialize")

_SECRET = re.compile(r"(password\s*=\s*)([^\s\"']+)", re.IGNORECASE)


class LakeSetupError(Exception):
    """The team store could not be set up; the message says which part and why."""


def is_lake_location(location: str) -> bool:
    """True for a ``ducklake:…`` location (team mode), False for a file path or ``:memory:``."""
    return location.startswith(LAKE_PREFIX)


def default_lake_data_path() -> str:
    """``$SCALESCOPE_LAKE_DATA`` or ``data/lake/`` in the repository (with a trailing slash)."""
    path = os.environ.get(LAKE_DATA_ENV_VAR) or str(REPO_ROOT / "data" / "lake")
    return path if path.endswith(("/", "\\")) or "://" in path else path + os.sep


def extension_directory() -> str:
    """``$SCALESCOPE_EXTENSION_DIR`` or ``.duckdb_extensions/`` in the repository."""
    return os.environ.get(EXTENSION_DIR_ENV_VAR) or str(REPO_ROOT / ".duckdb_extensions")


def redact(location: str) -> str:
    """The location with any ``password=…`` hidden, for messages and logs."""
    return _SECRET.sub(r"\1***", location)


def sql_literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal (quotes doubled, control characters
    refused) — only for ``ATTACH``, which cannot bind parameters."""
    if any(not ch.isprintable() for ch in text):
        raise LakeSetupError("the store location may not contain control characters")
    return "'" + text.replace("'", "''") + "'"


def _wheel_binary(extension: str, module_name: str) -> Path:
    """The ``.duckdb_extension`` file inside the installed wheel for this DuckDB version."""
    try:
        module = __import__(module_name)
    except ImportError as exc:
        raise LakeSetupError(
            f"team mode needs the {module_name.replace('_', '-')} package "
            "(pip install -r requirements.txt)"
        ) from exc
    base = Path(module.__file__).resolve().parent
    wanted = base / "extensions" / f"v{duckdb.__version__}" / f"{extension}.duckdb_extension"
    if wanted.is_file():
        return wanted
    found = sorted(base.rglob(f"{extension}.duckdb_extension"))
    if not found:
        raise LakeSetupError(f"no {extension}.duckdb_extension file in {base}")
    raise LakeSetupError(
        f"the {extension} extension in {base} was built for "
        f"{found[0].parent.name}, not DuckDB v{duckdb.__version__}; install matching versions"
    )


def _load_extensions(connection: duckdb.DuckDBPyConnection) -> None:
    """Load DuckLake and PostgreSQL, installing them from the wheels on first use."""
    connection.execute("SET extension_directory = ?", [extension_directory()])
    for extension, module_name in _EXTENSIONS:
        try:
            connection.load_extension(extension)
        except duckdb.Error:
            binary = _wheel_binary(extension, module_name)
            Path(extension_directory()).mkdir(parents=True, exist_ok=True)
            try:
                connection.install_extension(str(binary), force_install=True)
                connection.load_extension(extension)
            except duckdb.Error as exc:
                raise LakeSetupError(
                    f"cannot load the {extension} extension from {binary}: {_first_line(exc)}"
                ) from exc


def connect_lake(location: str, data_path: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the DuckLake catalog at ``location`` attached as ``lake``.

    Extensions are never downloaded (``autoinstall_known_extensions`` is off). Raises
    :class:`LakeSetupError` naming the part that failed (extension, catalog, data path).
    """
    if not is_lake_location(location):
        raise LakeSetupError(f"{redact(location)!r} is not a ducklake: location")
    data = data_path or default_lake_data_path()
    if "://" not in data:
        Path(data).mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(
        ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    try:
        _load_extensions(connection)
        statement = (
            f"ATTACH {sql_literal(location)} AS {LAKE_ALIAS} (DATA_PATH {sql_literal(data)})"
        )
        _attach(connection, statement, location, data)
    except BaseException:
        connection.close()
        raise
    return connection


def _attach(
    connection: duckdb.DuckDBPyConnection, statement: str, location: str, data: str
) -> None:
    """Run ``ATTACH``, retrying while another process initialises the same new catalog.

    Why: DuckLake creates its catalog tables on the first ``ATTACH``; two processes doing that
    at once race in PostgreSQL ("duplicate key value violates unique constraint
    pg_type_typname_nsp_index", seen here with two dashboards starting together). The loser's
    initialisation is rolled back, so attaching again finds the winner's catalog.
    """
    deadline = time.monotonic() + ATTACH_RETRY_SECONDS
    delay = 0.05
    while True:
        try:
            connection.execute(statement)
            return
        except duckdb.Error as exc:
            text = str(exc).lower()
            racing = any(marker in text for marker in _INIT_RACE_MARKERS)
            if not racing or time.monotonic() >= deadline:
                raise LakeSetupError(
                    f"cannot attach the team store {redact(location)} (data in {data}): "
                    f"{redact(_first_line(exc))}"
                ) from None
        with suppress(duckdb.Error):
            connection.execute(f"DETACH DATABASE IF EXISTS {LAKE_ALIAS}")
        time.sleep(random.uniform(delay / 2, delay))
        delay = min(delay * 2, 1.0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
