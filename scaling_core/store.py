"""DuckDB persistence for datasets: the only module in Scalescope that contains SQL.

Why DuckDB: one embedded file, columnar, fast window functions for per-run reductions, and the
same SQL can later point at a shared catalog — the location is one setting
(``SCALESCOPE_STORE``), so scaling out is configuration, not code.

Rules kept here: every value is bound as a ``?`` parameter (never formatted into SQL); each
call uses its own ``cursor()`` of the one process-wide connection; every write runs in an
explicit transaction that is rolled back on any error, so an upload is all-or-nothing.

Tables (created if absent, version in ``schema_version``):

- ``datasets``  — one row per uploaded file: name (unique), file name, sha256 of the bytes,
  default reduction, creation time (UTC), row and run counts, and the column mapping used.
- ``points``    — the validated step-level rows as ingested, in schema units (params and
  tokens as counts, flops in FLOPs, losses in nats); ``row_number`` is the spreadsheet row.
- ``sources``   — the original uploaded bytes, so a dataset can be re-parsed later.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from scaling_core.ingest import (
    POINT_COLUMNS,
    REDUCTIONS,
    IngestErrors,
    ParsedTable,
    Reduction,
    parse_table,
    run_table_from_reduced,
)
from scaling_core.schema import RunTable

__all__ = [
    "DEFAULT_DATASETS",
    "SCHEMA_VERSION",
    "STORE_ENV_VAR",
    "DatasetExistsError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "Store",
    "StoreError",
    "StoreLockedError",
    "default_store_location",
    "ensure_default_datasets",
]

SCHEMA_VERSION = 2
"""1: datasets, points, sources. 2: points.metric (a downstream metric column)."""
STORE_ENV_VAR = "SCALESCOPE_STORE"
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"

DEFAULT_DATASETS: tuple[tuple[str, str], ...] = (
    ("Chinchilla (Epoch AI reconstruction)", "chinchilla_epoch.csv"),
    ("Synthetic example runs", "example_runs.csv"),
    ("Synthetic architectures", "example_architectures.csv"),
)
"""(dataset name, file in ``data/``) loaded into an empty store."""

MAX_NAME_LENGTH = 200

_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    "CREATE SEQUENCE IF NOT EXISTS dataset_ids START 1",
    """CREATE TABLE IF NOT EXISTS datasets (
        id BIGINT PRIMARY KEY,
        name VARCHAR NOT NULL UNIQUE,
        source_filename VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        reduction VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        n_rows BIGINT NOT NULL,
        n_runs BIGINT NOT NULL,
        mapping_json VARCHAR NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS points (
        dataset_id BIGINT NOT NULL,
        row_number BIGINT NOT NULL,
        run VARCHAR NOT NULL,
        params DOUBLE NOT NULL,
        tokens DOUBLE,
        flops DOUBLE,
        loss DOUBLE NOT NULL,
        train_loss DOUBLE,
        val_loss DOUBLE,
        step DOUBLE,
        batch_size DOUBLE,
        learning_rate DOUBLE,
        grp VARCHAR,
        metric DOUBLE
    )""",
    """CREATE TABLE IF NOT EXISTS sources (
        dataset_id BIGINT PRIMARY KEY,
        filename VARCHAR NOT NULL,
        content BLOB NOT NULL
    )""",
)

_DATASET_FIELDS = "id, name, source_filename, sha256, reduction, created_at, n_rows, n_runs"
_SELECT_DATASETS = f"SELECT {_DATASET_FIELDS} FROM datasets ORDER BY created_at, id"
_SELECT_DATASET = f"SELECT {_DATASET_FIELDS} FROM datasets WHERE name = ?"

# Both reductions pick one row per run with a window, then order runs by first appearance.
# Ordering matches ingest.reduce_points exactly (NULL steps count as earliest).
_REDUCE_SQL: dict[str, str] = {
    "final": """
        SELECT run, params, tokens, flops, loss, grp, metric FROM (
            SELECT *,
                ROW_NUMBER() OVER (
                    PARTITION BY run ORDER BY step DESC NULLS LAST, row_number DESC) AS pick,
                MIN(row_number) OVER (PARTITION BY run) AS first_row
            FROM points WHERE dataset_id = ?
        ) WHERE pick = 1 ORDER BY first_row""",
    "best": """
        SELECT run, params, tokens, flops, loss, grp, metric FROM (
            SELECT *,
                ROW_NUMBER() OVER (PARTITION BY run ORDER BY loss ASC, row_number ASC) AS pick,
                MIN(row_number) OVER (PARTITION BY run) AS first_row
            FROM points WHERE dataset_id = ?
        ) WHERE pick = 1 ORDER BY first_row""",
}

_INSERT_POINTS = """
    INSERT INTO points
    SELECT ?, row_number, run, params, tokens, flops, loss, train_loss, val_loss, step,
           batch_size, learning_rate, "group", metric
    FROM incoming_points"""

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE points ADD COLUMN IF NOT EXISTS metric DOUBLE",),
}
"""Statements that bring a store from version ``k - 1`` to ``k``, applied in order on open."""


class StoreError(Exception):
    """A store operation failed; the message says what to do about it."""


class StoreLockedError(StoreError):
    """The store file is held by another process (DuckDB allows one writer process)."""


class DatasetNotFoundError(StoreError, KeyError):
    """No dataset has the given name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DatasetExistsError(StoreError):
    """Another dataset (with different content) already has the requested name."""


@dataclass(frozen=True)
class DatasetInfo:
    """One stored dataset. ``created`` is False when an upload found it already stored."""

    id: int
    name: str
    source_filename: str
    sha256: str
    reduction: str
    created_at: datetime
    """UTC, naive (DuckDB ``TIMESTAMP``)."""
    n_rows: int
    """Step-level rows stored."""
    n_runs: int
    """Distinct runs."""
    created: bool = True


def default_store_location() -> str:
    """``$SCALESCOPE_STORE`` if set, else ``data/scalescope.duckdb`` in the repository."""
    return os.environ.get(STORE_ENV_VAR) or str(DATA_DIR / "scalescope.duckdb")


def _clean_name(name: str) -> str:
    """Trimmed dataset name; rejects empty, over-long and control-character names."""
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned:
        raise StoreError("a dataset needs a non-empty name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise StoreError(f"a dataset name may have at most {MAX_NAME_LENGTH} characters")
    if any(not ch.isprintable() for ch in cleaned):
        raise StoreError("a dataset name may not contain control characters or line breaks")
    return cleaned


def _check_reduction(reduction: str) -> Reduction:
    if reduction not in REDUCTIONS:
        raise StoreError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    return reduction  # type: ignore[return-value]


class Store:
    """One DuckDB database holding datasets; construct with :meth:`open` or :meth:`in_memory`."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, location: str) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self.location = location
        """File path, or ``":memory:"``."""
        self._create_schema()

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def open(cls, location: str | None = None) -> Store:
        """Open (creating if needed) the store at ``location`` (default: the setting).

        Raises :class:`StoreLockedError` when another process holds the file.
        """
        path = location or default_store_location()
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = duckdb.connect(path)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLockedError(
                    f"the store file {path} is open in another Scalescope process; close it "
                    f"or set {STORE_ENV_VAR} to another file"
                ) from exc
            raise StoreError(f"cannot open the store file {path}: {exc}") from exc
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the store file {path}: {exc}") from exc
        return cls(connection, path)

    @classmethod
    def in_memory(cls) -> Store:
        """A private, empty, in-memory store (for tests and throwaway sessions)."""
        return cls(duckdb.connect(":memory:"), ":memory:")

    def close(self) -> None:
        """Release the connection (and the file lock)."""
        self._connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor: DuckDB connections are not thread-safe, cursors per thread are."""
        with self._lock:
            return self._connection.cursor()

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside ``BEGIN … COMMIT``; any exception rolls everything back."""
        cursor = self._cursor()
        cursor.execute("BEGIN TRANSACTION")
        try:
            yield cursor
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()

    def _create_schema(self) -> None:
        with self._transaction() as cursor:
            for statement in _SCHEMA:
                cursor.execute(statement)
            row = cursor.execute("SELECT max(version) FROM schema_version").fetchone()
            version = row[0] if row else None
            if version is None:
                cursor.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
            elif version < SCHEMA_VERSION:
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS.get(target, ()):
                        cursor.execute(statement)
                cursor.execute("UPDATE schema_version SET version = ?", [SCHEMA_VERSION])
            elif version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store {self.location} has schema version {version}, newer than this "
                    f"Scalescope understands ({SCHEMA_VERSION}); upgrade Scalescope"
                )

    @staticmethod
    def _info(row: tuple, created: bool = True) -> DatasetInfo:
        return DatasetInfo(*row[:5], row[5], int(row[6]), int(row[7]), created=created)

    def _require(self, cursor: duckdb.DuckDBPyConnection, name: str) -> DatasetInfo:
        row = cursor.execute(_SELECT_DATASET, [name]).fetchone()
        if row is None:
            raise DatasetNotFoundError(f"no dataset is named {name!r}")
        return self._info(row)

    # -- writes ---------------------------------------------------------------------------------

    def add_dataset(
        self,
        name: str,
        parsed: ParsedTable,
        source_bytes: bytes,
        reduction: Reduction = "final",
    ) -> DatasetInfo:
        """Store a validated upload in one transaction.

        Re-adding identical bytes under the same name returns the stored dataset with
        ``created=False``; a different file under a taken name raises
        :class:`DatasetExistsError`.
        """
        name = _clean_name(name)
        reduction = _check_reduction(reduction)
        digest = hashlib.sha256(source_bytes).hexdigest()
        with self._transaction() as cursor:
            existing = cursor.execute(_SELECT_DATASET, [name]).fetchone()
            if existing is not None:
                info = self._info(existing, created=False)
                if info.sha256 == digest:
                    return info
                raise DatasetExistsError(
                    f"a dataset named {name!r} already exists (from {info.source_filename}); "
                    "choose another name or delete the existing dataset first"
                )
            row = cursor.execute("SELECT nextval('dataset_ids')").fetchone()
            dataset_id = int(row[0]) if row else 0
            created_at = datetime.now(UTC).replace(tzinfo=None)
            cursor.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    dataset_id,
                    name,
                    parsed.filename,
                    digest,
                    reduction,
                    created_at,
                    parsed.n_rows,
                    parsed.n_runs,
                    json.dumps(parsed.mapping),
                ],
            )
            cursor.execute(
                "INSERT INTO sources VALUES (?, ?, ?)",
                [dataset_id, parsed.filename, source_bytes],
            )
            self._insert_points(cursor, dataset_id, parsed.points)
            return self._require(cursor, name)

    def _insert_points(
        self, cursor: duckdb.DuckDBPyConnection, dataset_id: int, points: pd.DataFrame
    ) -> None:
        """Bulk insert via an Arrow view (NaN becomes NULL, so ``NULLS LAST`` works)."""
        arrow = pa.Table.from_pandas(points[list(POINT_COLUMNS)], preserve_index=False)
        cursor.register("incoming_points", arrow)
        try:
            cursor.execute(_INSERT_POINTS, [dataset_id])
        finally:
            cursor.unregister("incoming_points")

    def delete_dataset(self, name: str) -> None:
        """Remove a dataset, its points and its source bytes."""
        with self._transaction() as cursor:
            info = self._require(cursor, name)
            cursor.execute("DELETE FROM points WHERE dataset_id = ?", [info.id])
            cursor.execute("DELETE FROM sources WHERE dataset_id = ?", [info.id])
            cursor.execute("DELETE FROM datasets WHERE id = ?", [info.id])

    def rename_dataset(self, old: str, new: str) -> DatasetInfo:
        """Give a dataset a new (unused) name."""
        new = _clean_name(new)
        with self._transaction() as cursor:
            info = self._require(cursor, old)
            if new == info.name:
                return info
            if cursor.execute(_SELECT_DATASET, [new]).fetchone() is not None:
                raise DatasetExistsError(f"a dataset named {new!r} already exists")
            cursor.execute("UPDATE datasets SET name = ? WHERE id = ?", [new, info.id])
            return replace(info, name=new)

    # -- reads ----------------------------------------------------------------------------------

    def list_datasets(self) -> list[DatasetInfo]:
        """All datasets, oldest first."""
        cursor = self._cursor()
        try:
            return [self._info(row) for row in cursor.execute(_SELECT_DATASETS).fetchall()]
        finally:
            cursor.close()

    def get_dataset(self, name: str) -> DatasetInfo:
        """The dataset called ``name``; :class:`DatasetNotFoundError` if there is none."""
        cursor = self._cursor()
        try:
            return self._require(cursor, name)
        finally:
            cursor.close()

    def load_points(self, name: str) -> pd.DataFrame:
        """The step-level rows as ingested, columns :data:`ingest.POINT_COLUMNS`."""
        cursor = self._cursor()
        try:
            info = self._require(cursor, name)
            frame = cursor.execute(
                "SELECT row_number, run, params, tokens, flops, loss, train_loss, val_loss, "
                'step, batch_size, learning_rate, grp AS "group", metric FROM points '
                "WHERE dataset_id = ? ORDER BY row_number",
                [info.id],
            ).df()
        finally:
            cursor.close()
        for column in ("run", "group"):
            frame[column] = frame[column].astype(object)
        return frame

    def load_runs(self, name: str, reduction: Reduction | None = None) -> RunTable:
        """One row per run, reduced in SQL (default: the reduction chosen at upload).

        ``final`` takes each run's row with the largest step (last row when steps tie or are
        absent); ``best`` its lowest-loss row. Tokens/FLOPs come from that row.
        """
        cursor = self._cursor()
        try:
            info = self._require(cursor, name)
            chosen = _check_reduction(reduction or info.reduction)
            rows = cursor.execute(_REDUCE_SQL[chosen], [info.id]).fetchall()
        finally:
            cursor.close()
        reduced = pd.DataFrame(
            rows, columns=["run", "params", "tokens", "flops", "loss", "group", "metric"]
        )
        for column in ("tokens", "flops", "metric"):
            reduced[column] = reduced[column].astype(float)
        reduced["run"] = reduced["run"].astype(object)
        reduced["group"] = reduced["group"].astype(object)
        return run_table_from_reduced(reduced)

    def load_source(self, name: str) -> tuple[str, bytes]:
        """The original file name and bytes, for re-parsing with another mapping."""
        cursor = self._cursor()
        try:
            info = self._require(cursor, name)
            row = cursor.execute(
                "SELECT filename, content FROM sources WHERE dataset_id = ?", [info.id]
            ).fetchone()
        finally:
            cursor.close()
        if row is None:
            raise StoreError(f"the source file of dataset {name!r} is missing")
        return str(row[0]), bytes(row[1])

    def load_mapping(self, name: str) -> dict[str, str]:
        """The column mapping used at upload, ``{canonical column: user header}``."""
        cursor = self._cursor()
        try:
            info = self._require(cursor, name)
            row = cursor.execute(
                "SELECT mapping_json FROM datasets WHERE id = ?", [info.id]
            ).fetchone()
        finally:
            cursor.close()
        return dict(json.loads(row[0])) if row else {}


def ensure_default_datasets(store: Store, data_dir: Path = DATA_DIR) -> list[DatasetInfo]:
    """Load the bundled datasets into a store that has none; return what was added.

    A store that already has any dataset is left alone, so users who deleted the samples do
    not see them come back.
    """
    if store.list_datasets():
        return []
    added: list[DatasetInfo] = []
    for name, filename in DEFAULT_DATASETS:
        content = (data_dir / filename).read_bytes()
        parsed = parse_table(filename, content)
        if isinstance(parsed, IngestErrors):
            raise StoreError(f"bundled dataset {filename} is invalid: {parsed.summary()}")
        added.append(store.add_dataset(name, parsed, content, "final"))
    return added
