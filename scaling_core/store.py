"""Persistence for datasets: with :mod:`scaling_core.lake`, the only code in Scalescope with SQL.

Why DuckDB: one embedded file, columnar, fast grouped aggregates for per-run reductions — and
the same SQL runs on a DuckLake catalog shared by a team. The location is one setting
(``SCALESCOPE_STORE``): a file path (default ``data/scalescope.duckdb``), ``:memory:``, or
``ducklake:postgres:dbname=… host=…`` (team mode; data files under ``SCALESCOPE_LAKE_DATA``).

Rules kept here (what a write derives — per-run rows, curves — is written in the same
transaction; ``store_arrow`` builds it from the rows being written):

- Every value is bound as a ``?`` parameter, never formatted into SQL.
- One process-wide connection; each call works on its own ``cursor()`` (DuckDB connections are
  not thread-safe, cursors used by one thread at a time are).
- Every write is one explicit transaction, rolled back on any error: an upload is
  all-or-nothing, also when the process is killed half-way (a local store's kept file of an
  upload killed before its commit is referenced by nothing and moved aside at the next open).
- One schema for both backends. DuckLake has no PRIMARY KEY / UNIQUE constraints and no
  sequences, so ids are uuid4 hex strings made in Python and "one dataset per (workspace,
  name)" is checked inside the write transaction. Two writers could both check, both find the
  name free and both insert; to rule that out every write transaction first bumps the single
  row of ``write_lock``. Both backends refuse to commit two transactions that changed the same
  row (DuckDB: "Conflict on update" at once; DuckLake: a logical conflict at commit, because an
  update is a delete plus an insert), so the loser rolls back, waits (exponential backoff with
  jitter) and runs again — and then sees the winner's dataset.

Tables (layout version in ``schema_version``; older files are migrated on open):

- ``workspaces``  — names of workspaces (``default`` always exists implicitly).
- ``datasets``    — one row per dataset: workspace, name, latest file name, content digest,
  default reduction, counts, the column mapping/units of its first source, and the integer
  ``key`` its points carry.
- ``sources``     — one row per file appended: its SHA-256 and original bytes (zstd-compressed;
  ``codec`` and ``n_bytes`` say how to restore them). A local store file keeps the bytes in
  the folder beside it (``source_files``: codec ``zstd-file``, ``content`` empty); in-memory
  and team stores, and rows written before version 5, keep them in ``content``.
- ``points``      — the validated step-level rows in schema units (params/tokens counts, flops
  in FLOPs, losses in nats), keyed by ``dataset_key``. ``ord`` orders rows within a dataset
  across appended files; ``row_number`` is the spreadsheet row in its own file.
- ``runs``        — derived, one row per (dataset, run): parameter count, first row, row
  count, first and last position (step, or row order without steps), and the ``final`` and
  ``best`` rows' values — so opening a 10M-point dataset reads one row per run.
- ``curves``      — derived, one row per dataset: every run thinned to at most 200 points
  (log-spaced buckets keep their lowest and last loss) as one Arrow IPC blob — so drawing a
  10M-point dataset decodes a couple of megabytes instead of scanning its points.
- ``mappings``    — saved column mappings (and units) per workspace, keyed by the header list.
- ``write_lock``  — one row bumped by every write transaction (see above).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

import duckdb
import numpy as np

from scaling_core import lake
from scaling_core.filenames import upload_name
from scaling_core.ingest import (
    POINT_COLUMNS,
    REDUCTIONS,
    IngestErrors,
    ParsedTable,
    Reduction,
    parse_table,
)
from scaling_core.schema import RunTable
from scaling_core.source_files import FILE_CODEC, UNREFERENCED, SourceFiles
from scaling_core.store_arrow import (
    SOURCE_CODEC,
    compress_source,
    curves_blob,
    decompress_source,
    derived_tables,
    merge_curves,
    points_table,
    read_curves_blob,
    stored_curve_frame,
    thin_stored_curves,
)

if TYPE_CHECKING:  # pandas and pyarrow are imported where a frame or a table is built
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "CURVE_POINTS_PER_RUN",
    "DEFAULT_DATASETS",
    "DEFAULT_WORKSPACE",
    "SCHEMA_VERSION",
    "STORE_ENV_VAR",
    "DatasetExistsError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "Store",
    "StoreBusyError",
    "StoreError",
    "StoreLockedError",
    "WriteMode",
    "default_store_location",
    "ensure_default_datasets",
]

SCHEMA_VERSION = 5
"""1: datasets, points, sources. 2: points.metric. 3: workspaces, uuid ids, appendable datasets
(sources per file, ``points.ord``), derived runs and curves, saved mappings, ``write_lock``; no
PRIMARY KEY, UNIQUE or sequence, so the same layout works on DuckLake. 4: sources compressed
(``codec``, ``n_bytes``), no ``points.source_id``. 5: points name their dataset by
``datasets.key`` (an integer) instead of the uuid string."""
STORE_ENV_VAR = "SCALESCOPE_STORE"
MEMORY = ":memory:"
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
DEFAULT_WORKSPACE = "default"

WriteMode = Literal["create", "append", "replace"]
WRITE_MODES: tuple[str, ...] = get_args(WriteMode)

DEFAULT_DATASETS: tuple[tuple[str, str], ...] = (
    ("Chinchilla (Epoch AI reconstruction)", "chinchilla_epoch.csv"),
    ("Synthetic example runs", "example_runs.csv"),
    ("Synthetic architectures", "example_architectures.csv"),
)
"""(dataset name, file in ``data/``) loaded into an empty store."""

MAX_NAME_LENGTH = 200

SOURCES_SUFFIX = ".sources"
"""A local store file ``X`` keeps its uploaded files in the folder ``X.sources`` beside it
(``source_files``); back both up together. In-memory and team stores keep them in the
``sources`` table."""

# -- schema -------------------------------------------------------------------------------------

_CURVES_DDL = """CREATE TABLE IF NOT EXISTS curves (
        dataset_id VARCHAR NOT NULL,
        n_rows BIGINT NOT NULL,
        content BLOB NOT NULL
    )"""
"""One row per dataset: its thinned curves as an Arrow IPC blob (``store_arrow.curves_blob``)."""

_POINTS_COLUMNS_DDL = """
        ord BIGINT NOT NULL,
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
    )"""
_POINTS_DDL = (
    f"CREATE TABLE IF NOT EXISTS points (dataset_key BIGINT NOT NULL,{_POINTS_COLUMNS_DDL}"
)
"""The validated step-level rows (``ord``: 0 … n-1 within a dataset, in file order).

``dataset_key`` is the dataset's ``datasets.key``: an integer, because the points are the one
big table. A 32-character id on each of a million rows cost a fifth of an upload's insert time
(DuckDB analyses and compresses every string column) and makes each dataset filter compare
strings; the uuid ``id`` stays the dataset's name everywhere else."""
_POINTS_V4_DDL = f"CREATE TABLE points (dataset_id VARCHAR NOT NULL,{_POINTS_COLUMNS_DDL}"
"""The points of layout version 4 (keyed by the uuid), which the version 4 migration builds."""

_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS write_lock (writes BIGINT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS workspaces (
        name VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS datasets (
        id VARCHAR NOT NULL,
        workspace VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        source_filename VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        reduction VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        n_rows BIGINT NOT NULL,
        n_runs BIGINT NOT NULL,
        n_sources BIGINT NOT NULL,
        mapping_json VARCHAR NOT NULL,
        units_json VARCHAR NOT NULL,
        key BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS sources (
        id VARCHAR NOT NULL,
        dataset_id VARCHAR NOT NULL,
        position BIGINT NOT NULL,
        filename VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        content BLOB NOT NULL,
        n_rows BIGINT NOT NULL,
        added_at TIMESTAMP NOT NULL,
        mapping_json VARCHAR NOT NULL,
        units_json VARCHAR NOT NULL,
        codec VARCHAR NOT NULL,
        n_bytes BIGINT NOT NULL
    )""",
    _POINTS_DDL,
    """CREATE TABLE IF NOT EXISTS runs (
        dataset_id VARCHAR NOT NULL,
        run VARCHAR NOT NULL,
        params DOUBLE NOT NULL,
        first_ord BIGINT NOT NULL,
        n_points BIGINT NOT NULL,
        lo DOUBLE NOT NULL,
        hi DOUBLE NOT NULL,
        final_tokens DOUBLE,
        final_flops DOUBLE,
        final_loss DOUBLE NOT NULL,
        final_grp VARCHAR,
        final_metric DOUBLE,
        best_tokens DOUBLE,
        best_flops DOUBLE,
        best_loss DOUBLE NOT NULL,
        best_grp VARCHAR,
        best_metric DOUBLE
    )""",
    _CURVES_DDL,
    """CREATE TABLE IF NOT EXISTS mappings (
        workspace VARCHAR NOT NULL,
        headers_key VARCHAR NOT NULL,
        headers_json VARCHAR NOT NULL,
        mapping_json VARCHAR NOT NULL,
        units_json VARCHAR NOT NULL,
        saved_at TIMESTAMP NOT NULL
    )""",
)

_LEGACY_V2_SCHEMA: tuple[str, ...] = (
    "CREATE SEQUENCE IF NOT EXISTS dataset_ids START 1",
    """CREATE TABLE IF NOT EXISTS datasets (
        id BIGINT PRIMARY KEY, name VARCHAR NOT NULL UNIQUE, source_filename VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL, reduction VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
        n_rows BIGINT NOT NULL, n_runs BIGINT NOT NULL, mapping_json VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sources (
        dataset_id BIGINT PRIMARY KEY, filename VARCHAR NOT NULL, content BLOB NOT NULL)""",
)
"""Tables a version-1/2 file may lack (version 1 files were created lazily); created before
migrating so the v3 rebuild always finds the old layout."""

_MIGRATE_TO_V3: tuple[str, ...] = (
    "ALTER TABLE datasets RENAME TO datasets_v2",
    "ALTER TABLE sources RENAME TO sources_v2",
    "ALTER TABLE points RENAME TO points_v2",
    *_SCHEMA,
    """INSERT INTO datasets
        SELECT m.dataset_id, ?, d.name, d.source_filename, d.sha256, d.reduction, d.created_at,
               d.created_at, d.n_rows, d.n_runs,
               (SELECT count(*) FROM sources_v2 s WHERE s.dataset_id = d.id),
               d.mapping_json, '{}', d.id
        FROM datasets_v2 d JOIN id_map_v3 m ON m.old_id = d.id""",
    """INSERT INTO sources
        SELECT m.source_id, m.dataset_id, 0, s.filename, d.sha256, s.content, d.n_rows,
               d.created_at, d.mapping_json, '{}', 'identity', octet_length(s.content)
        FROM sources_v2 s JOIN datasets_v2 d ON d.id = s.dataset_id
        JOIN id_map_v3 m ON m.old_id = s.dataset_id""",
    """INSERT INTO points
        SELECT p.dataset_id,
               row_number() OVER (PARTITION BY p.dataset_id ORDER BY p.row_number) - 1,
               p.row_number, p.run, p.params,
               p.tokens, p.flops, p.loss, p.train_loss, p.val_loss, p.step, p.batch_size,
               p.learning_rate, p.grp, p.metric
        FROM points_v2 p JOIN id_map_v3 m ON m.old_id = p.dataset_id""",
    "DROP TABLE points_v2",
    "DROP TABLE sources_v2",
    "DROP TABLE datasets_v2",
    "DROP TABLE id_map_v3",
    "DROP SEQUENCE IF EXISTS dataset_ids",
)
"""Version 2 → the current layout in place: old tables renamed, current tables created and
filled (old BIGINT ids mapped to uuids made in Python, through ``id_map_v3``, and kept as the
datasets' keys; sources kept uncompressed), old tables dropped; then each dataset's ``runs``
and ``curves`` are derived (:meth:`Store._derive_all`). All in the opening transaction: a crash
half-way leaves the version-2 file as it was."""

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE points ADD COLUMN IF NOT EXISTS metric DOUBLE",),
    4: (
        """CREATE TABLE points_v4 AS
            SELECT p.dataset_id,
                   row_number() OVER (PARTITION BY p.dataset_id
                                      ORDER BY coalesce(s.position, 0), p.ord) - 1,
                   p.row_number, p.run, p.params, p.tokens, p.flops, p.loss, p.train_loss,
                   p.val_loss, p.step, p.batch_size, p.learning_rate, p.grp, p.metric
            FROM points p LEFT JOIN sources s ON s.id = p.source_id""",
        "DROP TABLE points",
        _POINTS_V4_DDL,
        "INSERT INTO points SELECT * FROM points_v4",
        "DROP TABLE points_v4",
        "ALTER TABLE sources ADD COLUMN codec VARCHAR",
        "ALTER TABLE sources ADD COLUMN n_bytes BIGINT",
        "UPDATE sources SET codec = 'identity', n_bytes = octet_length(content)",
    ),
    5: (
        "ALTER TABLE datasets ADD COLUMN key BIGINT",
        """UPDATE datasets SET key = numbered.key
            FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS key
                  FROM datasets) numbered
            WHERE datasets.id = numbered.id""",
        """CREATE TABLE points_v5 AS
            SELECT d.key AS dataset_key, p.* EXCLUDE (dataset_id)
            FROM points p JOIN datasets d ON d.id = p.dataset_id
            ORDER BY d.key, p.ord""",
        "DROP TABLE points",
        _POINTS_DDL,
        "INSERT INTO points SELECT * FROM points_v5",
        "DROP TABLE points_v5",
    ),
}
"""Statements that bring a store from version ``k - 1`` to ``k`` (3 is a rebuild from 1 or 2,
which creates the current layout directly). 4: points are rebuilt without ``source_id`` (a
point's file follows from ``ord``: each source's rows are the next ``n_rows`` ords) and with
``ord`` renumbered 0 … n-1 by (source position, ord) — earlier releases' 2 → 3 migration
numbered rows from 2, so an append reused ords (DuckDB cannot UPDATE a table and then alter
it in one transaction, hence the rebuild); sources record
how their bytes are kept (``codec``: ``identity`` for the old ones) and their length — left
nullable in a migrated store (DuckDB cannot add NOT NULL in the transaction that filled them;
every write sets both); each dataset's curve rows become one blob (see
:meth:`Store._upgrade_to_v4`). 5: datasets get integer keys 1 … n in order of creation
(``key`` left nullable in a migrated store, as above; every write sets it) and the points are
rebuilt keyed by them, in (dataset, ord) order."""

_V3_CURVE_ROWS = (
    "SELECT run, first_ord, ord, pos, step, tokens, flops, loss, params, grp FROM curves "
    "WHERE dataset_id = ?"
)
"""A dataset's curves as version 3 kept them (rows), for :meth:`Store._curves_to_blobs`."""

_V3_MISNUMBERED = """
    SELECT dataset_id FROM points GROUP BY dataset_id
    HAVING min(ord) <> 0 OR max(ord) <> count(*) - 1 OR count(DISTINCT ord) <> count(*)"""
"""Version-3 datasets whose rows are not numbered 0 … n-1 (see :meth:`Store._upgrade_to_v4`)."""


# -- queries ------------------------------------------------------------------------------------

_DATASET_FIELDS = (
    "id, workspace, name, source_filename, sha256, reduction, created_at, n_rows, n_runs, "
    "n_sources, key"
)
_SELECT_DATASETS = (
    f"SELECT {_DATASET_FIELDS} FROM datasets WHERE workspace = ? ORDER BY created_at, id"
)
_SELECT_DATASET = (
    f"SELECT {_DATASET_FIELDS} FROM datasets WHERE workspace = ? AND name = ? "
    "ORDER BY created_at, id LIMIT 1"
)

_PICKED = "{'params': params, 'tokens': tokens, 'flops': flops, 'loss': loss, 'grp': grp, " \
    "'metric': metric}"  # fmt: skip

_STORED_REDUCTION: dict[str, str] = {
    reduction: f"""
        SELECT run, params, {reduction}_tokens, {reduction}_flops, {reduction}_loss,
               {reduction}_grp, {reduction}_metric
        FROM runs WHERE dataset_id = ? ORDER BY first_ord"""
    for reduction in REDUCTIONS
}
"""``final`` and ``best`` read from ``runs``, where every write stores them (see
:data:`_WRITE_DERIVED`): opening a 10M-point dataset reads one row per run, not the points."""

_AT_STEP_SQL: dict[str, str] = {
    # final: each run's row with the largest step ≤ S (ties: the later row).
    "final": f"""
        SELECT run, pick.params, pick.tokens, pick.flops, pick.loss, pick.grp, pick.metric
        FROM (
            SELECT run, min(ord) AS first_ord,
                   arg_max({_PICKED}, (step, ord)) FILTER (WHERE step <= ?) AS pick
            FROM points WHERE dataset_key = ?
            GROUP BY run
        ) WHERE pick IS NOT NULL ORDER BY first_ord""",
    # best: each run's lowest-loss row among those with a step ≤ S (ties: the earlier row).
    "best": f"""
        SELECT run, pick.params, pick.tokens, pick.flops, pick.loss, pick.grp, pick.metric
        FROM (
            SELECT run, min(ord) AS first_ord,
                   arg_min({_PICKED}, (loss, ord)) FILTER (WHERE step <= ?) AS pick
            FROM points WHERE dataset_key = ?
            GROUP BY run
        ) WHERE pick IS NOT NULL ORDER BY first_ord""",
}
"""Reductions at a chosen step, computed on request as grouped ``arg_max``/``arg_min`` (hash
aggregates, no sort of the points). Rows without a step cannot be placed and are skipped; runs
keep the order of their first row in the whole dataset. Parameters: the step, the dataset key."""

CURVE_POINTS_PER_RUN = 200
"""Resolution of the curves every write stores (``load_curves``' default reads them)."""

_CURVES_THINNED = """
    WITH r AS (
        SELECT run, first_ord, n_points <= ? AS whole, lo, ? / ln(2 + hi - lo) AS scale,
               row_number() OVER (ORDER BY first_ord) AS k
        FROM runs WHERE dataset_id = ?
    ),
    b AS (
        SELECT p.ord, p.loss, coalesce(p.step, p.ord::DOUBLE) AS pos,
               r.k * 4294967296 + least(
                   ? - 1, floor(ln(1 + coalesce(p.step, p.ord::DOUBLE) - r.lo) * r.scale)
               )::BIGINT AS bucket
        FROM {rows} p JOIN r ON p.run = r.run
        WHERE p.dataset_key = ? AND NOT r.whole
    ),
    picks AS (
        SELECT arg_min(ord, (loss, ord)) AS low, arg_max(ord, (pos, ord)) AS last
        FROM b GROUP BY bucket
    ),
    kept AS (SELECT low AS ord FROM picks UNION SELECT last FROM picks)
    SELECT p.run, r.first_ord, p.ord, coalesce(p.step, p.ord::DOUBLE) AS pos,
           p.step, p.tokens, p.flops, p.loss, p.params, p.grp
    FROM {rows} p JOIN r ON p.run = r.run
    WHERE p.dataset_key = ? AND (r.whole OR p.ord IN (SELECT ord FROM kept))"""
"""A dataset's curves thinned in SQL from ``{rows}`` (the points), as the stored curve rows
(``store_arrow.derived_tables`` applies the same rule in numpy when a write stores them). Runs
with more than the requested points per run are cut into log-spaced buckets of their position
(the step, or the row order where a row has none) between the run's first and last position
(kept in ``runs``, so no extra pass finds them); each bucket keeps its lowest-loss row (the
envelope) and its last row (the curve's end). One BIGINT per (run, bucket) is the grouping key —
several times faster than grouping on (run name, bucket) — both picks come from one aggregation
(so ``b`` streams instead of being materialised), and only row numbers are picked; the rows are
read in one final pass. Shorter runs come back whole. Parameters: points per run, buckets,
dataset id, buckets, dataset key, dataset key."""

_CURVES_FROM_POINTS = (
    'SELECT run, step, tokens, flops, loss, params, grp AS "group" '
    f"FROM ({_CURVES_THINNED.format(rows='points')}) ORDER BY first_ord, pos, ord"
)
"""Curves at more points per run than stored go back to the points (seconds at 10M points);
fewer thin the stored blob (``store_arrow.thin_stored_curves``, the same rule in numpy, with
the runs' whole extents from :data:`_RUN_EXTENTS`: milliseconds at any dataset size)."""
_STORED_CURVES = "SELECT content FROM curves WHERE dataset_id = ?"
_RUN_EXTENTS = "SELECT run, lo, hi, n_points FROM runs WHERE dataset_id = ?"

_POINTS_SELECT = (
    "SELECT row_number, run, params, tokens, flops, loss, train_loss, val_loss, step, "
    'batch_size, learning_rate, grp AS "group", metric FROM points WHERE dataset_key = ? '
    "ORDER BY ord"
)

_INSERT_POINTS = """
    INSERT INTO points
    SELECT ?, ? + ord, row_number, run, params, tokens, flops, loss, train_loss, val_loss,
           step, batch_size, learning_rate, grp, metric
    FROM incoming_points"""
"""The registered Arrow table (``store_arrow.points_table``) as a dataset's rows; parameters:
dataset key, ord offset (the dataset's rows before this file)."""

_DERIVE_FROM = "SELECT ord, run, params, tokens, flops, loss, step, grp, metric FROM points"
_TOUCHED_RUNS_POINTS = (
    f"{_DERIVE_FROM} WHERE dataset_key = ? AND run IN (SELECT run FROM incoming_points)"
)
"""Every stored row of the runs an appended file touches (its own rows included)."""
_ALL_POINTS_TO_DERIVE = f"{_DERIVE_FROM} WHERE dataset_key = ?"

_WRITE_DERIVED: tuple[str, ...] = (
    "DELETE FROM runs WHERE dataset_id = ? AND run IN (SELECT run FROM derived_runs)",
    "INSERT INTO runs BY NAME SELECT ? AS dataset_id, * FROM derived_runs",
    "DELETE FROM curves WHERE dataset_id = ?",
)
"""What every write derives, in the same transaction, for each run it touches: one ``runs`` row
with both reductions (``final``: the row with the largest step, no step counting as earliest,
ties the later row; ``best``: the lowest loss, ties the earlier row — the rule of
``ingest_reduce``; params are one per run, which ingest and append enforce) and the curve at
:data:`CURVE_POINTS_PER_RUN`, computed by ``store_arrow.derived_tables`` from the rows being
written (the runs registered as ``derived_runs``). A run's summary depends on its own rows
only, so an append re-derives just the runs it touches. The curves are one blob per dataset
(``store_arrow.curves_blob``), replaced whole after these statements. Parameter: the dataset
id."""

_DELETE_POINTS = "DELETE FROM points WHERE dataset_key = ?"
_DELETE_CONTENT = (
    "DELETE FROM runs WHERE dataset_id = ?",
    "DELETE FROM curves WHERE dataset_id = ?",
    "DELETE FROM sources WHERE dataset_id = ?",
)
"""A dataset's content (everything but its ``datasets`` row), for replace and delete: its
points (:data:`_DELETE_POINTS`, by key), then these (by id)."""
_DATASET_FILE_SOURCES = "SELECT sha256 FROM sources WHERE dataset_id = ? AND codec = ?"
_FILE_SOURCES = "SELECT DISTINCT sha256 FROM sources WHERE codec = ?"
_FILE_SOURCES_AMONG = (
    "SELECT DISTINCT sha256 FROM sources WHERE codec = ? AND list_contains(?::VARCHAR[], sha256)"
)
"""Sources kept as files (``source_files``): a dataset's, all, and those among some digests."""
_TORN_POINTS = """
    SELECT c.dataset_key, d.id, d.n_rows, d.n_sources
    FROM (SELECT dataset_key, count(*) AS n, max(ord) AS hi FROM points GROUP BY dataset_key) c
    LEFT JOIN datasets d ON d.key = c.dataset_key
    WHERE d.key IS NULL OR c.n > d.n_rows OR c.hi >= d.n_rows"""
"""Datasets (by key) whose points go beyond their ``n_rows``, or points of no dataset."""
_DELETE_ORPHANS = tuple(
    f"DELETE FROM {table} WHERE dataset_id NOT IN (SELECT id FROM datasets)"
    for table in ("runs", "curves", "sources")
)
_NEXT_KEY = "SELECT coalesce(max(key), 0) + 1 FROM datasets"
"""A new dataset's key. Read inside the write transaction, which holds ``write_lock``: no other
writer can take the same key before this one commits (see the module docstring)."""

_USE_LAKE = f"USE {lake.LAKE_ALIAS}"

_TAKE_WRITE_LOCK = "UPDATE write_lock SET writes = writes + 1"
"""First statement of every write transaction: makes any two writers conflict (see above)."""

_CONFLICT_MARKERS = (
    "conflict",
    "could not serialize",
    "deadlock",
    "duplicate key",
    "maximum retry count",
)
"""Lower-case fragments of the errors that mean "another transaction won; run again": DuckDB's
"Conflict on update!"/"write-write conflict", DuckLake's "Transaction conflict - …" and its
"Exceeded the maximum retry count" (a snapshot-id race it could not settle alone), and
PostgreSQL serialization failures coming through the catalog."""

T = TypeVar("T")

_LOG = logging.getLogger(__name__)

_PREPARE = ThreadPoolExecutor(max_workers=2, thread_name_prefix="scalescope-store-prepare")
"""Threads that compress an upload's bytes and derive its runs/curves while the caller's thread
builds the rest (both release the GIL; a 2-core machine does them side by side)."""


# -- errors and records -------------------------------------------------------------------------


class StoreError(Exception):
    """A store operation failed; the message says what to do about it."""


class StoreLockedError(StoreError):
    """The store file is held by another process (DuckDB allows one writer process)."""


class StoreBusyError(StoreError):
    """Other writers kept winning the store for longer than the retry budget."""


class DatasetNotFoundError(StoreError, KeyError):
    """No dataset has the given name in the workspace."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DatasetExistsError(StoreError):
    """Another dataset (with different content) already has the requested name."""


@dataclass(frozen=True)
class DatasetInfo:
    """One stored dataset. ``created`` is False when an upload found its bytes already stored."""

    id: str
    """Opaque (uuid4 hex)."""
    key: int
    """The dataset's integer key in the store's ``points`` table (unique within the store
    while the dataset exists; not meant for display)."""
    workspace: str
    name: str
    source_filename: str
    """The latest source file's name."""
    sha256: str
    """Content digest: the file's SHA-256 for a one-file dataset; for appended datasets the
    SHA-256 of the sources' digests in order. Changes on every append/replace (a cache key)."""
    reduction: str
    """Default per-run reduction chosen at upload: ``final`` or ``best``."""
    created_at: datetime
    """UTC, naive (DuckDB ``TIMESTAMP``)."""
    n_rows: int
    """Step-level rows stored."""
    n_runs: int
    """Distinct runs."""
    n_sources: int = 1
    """Files the dataset was built from (more than one after appends)."""
    created: bool = True


# -- helpers ------------------------------------------------------------------------------------


def default_store_location() -> str:
    """``$SCALESCOPE_STORE`` if set, else ``data/scalescope.duckdb`` in the repository."""
    return os.environ.get(STORE_ENV_VAR) or str(DATA_DIR / "scalescope.duckdb")


def _clean_name(name: str, what: str = "dataset") -> str:
    """Trimmed name; rejects empty, over-long and control-character names."""
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned:
        raise StoreError(f"a {what} needs a non-empty name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise StoreError(f"a {what} name may have at most {MAX_NAME_LENGTH} characters")
    if any(not ch.isprintable() for ch in cleaned):
        raise StoreError(f"a {what} name may not contain control characters or line breaks")
    return cleaned


def _check_reduction(reduction: str) -> Reduction:
    if reduction not in REDUCTIONS:
        raise StoreError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    return reduction  # type: ignore[return-value]


def _check_mode(mode: str) -> WriteMode:
    if mode not in WRITE_MODES:
        raise StoreError(f"unknown write mode {mode!r}; expected one of {WRITE_MODES}")
    return mode  # type: ignore[return-value]


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _combined_digest(digests: Sequence[str]) -> str:
    """A dataset's content digest: the file's own for one source, else SHA-256 of the list."""
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("\n".join(digests).encode("ascii")).hexdigest()


def _headers_key(headers: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(headers), ensure_ascii=False).encode()).hexdigest()


def _is_conflict(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _CONFLICT_MARKERS)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- the store ----------------------------------------------------------------------------------


class Store:
    """Datasets in DuckDB (a file or memory) or DuckLake; build with :meth:`open`."""

    retry_seconds: float = 120.0
    """How long a write keeps retrying after conflicts before :class:`StoreBusyError`."""
    _backoff_start = 0.005
    _backoff_cap = 0.25

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        location: str,
        *,
        catalog: str | None = None,
        source_files: SourceFiles | None = None,
    ) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._catalog = catalog
        self.location = location
        """File path, ``":memory:"`` or the ``ducklake:`` location."""
        self.source_files = source_files
        """Where a local store keeps uploaded files (``None``: in the ``sources`` table)."""
        self.write_retries = 0
        """Write transactions run again after losing a conflict (for tests and diagnostics)."""
        self._create_schema()
        self._sweep_source_files()

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def open(cls, location: str | None = None) -> Store:
        """Open (creating if needed) the store at ``location`` (default: the setting).

        Raises :class:`StoreLockedError` when another process holds the file, and
        :class:`StoreError` with the reason when a team store cannot be reached.
        """
        path = location or default_store_location()
        if lake.is_lake_location(path):
            try:
                connection = lake.connect_lake(path)
            except lake.LakeSetupError as exc:
                raise StoreError(str(exc)) from exc
            return cls(connection, path, catalog=lake.LAKE_ALIAS)
        if path != MEMORY:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = duckdb.connect(path)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLockedError(
                    f"the store file {path} is open in another Scalescope process; close it "
                    f"or set {STORE_ENV_VAR} to another file"
                ) from exc
            raise StoreError(f"cannot open the store file {path}: {_first_line(exc)}") from exc
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the store file {path}: {_first_line(exc)}") from exc
        if path == MEMORY:
            return cls(connection, path)
        return cls(connection, path, source_files=SourceFiles(Path(f"{path}{SOURCES_SUFFIX}")))

    @classmethod
    def in_memory(cls) -> Store:
        """A private, empty, in-memory store (for tests and throwaway sessions)."""
        return cls(duckdb.connect(MEMORY), MEMORY)

    def close(self) -> None:
        """Release the connection (and the file lock)."""
        self._connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def is_team_store(self) -> bool:
        """True for a DuckLake (shared) store."""
        return self._catalog is not None

    # -- plumbing -------------------------------------------------------------------------------

    def _where(self) -> str:
        return lake.redact(self.location)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor of the one connection (team mode: pointed at the lake catalog)."""
        with self._lock:
            try:
                cursor = self._connection.cursor()
            except duckdb.Error as exc:
                raise StoreError(f"the store {self._where()} is closed") from exc
        if self._catalog is not None:
            cursor.execute(_USE_LAKE)
        return cursor

    @contextmanager
    def _read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor in a read transaction: several queries see one snapshot of the store."""
        cursor = self._cursor()
        try:
            cursor.execute("BEGIN TRANSACTION")
            try:
                yield cursor
                cursor.execute("COMMIT")
            except BaseException:
                _rollback(cursor)
                raise
        except duckdb.Error as exc:
            raise StoreError(
                f"reading the store {self._where()} failed: {_first_line(exc)}"
            ) from exc
        finally:
            cursor.close()

    def _write(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``work`` in one transaction that first takes the write lock row; retry on
        conflicts with exponential backoff and jitter until :attr:`retry_seconds` pass.

        ``work`` must be safe to run again (it is, as long as it only touches the cursor).
        StoreErrors raised by ``work`` roll back and propagate at once.
        """
        deadline = time.monotonic() + self.retry_seconds
        delay = self._backoff_start
        while True:
            cursor = self._cursor()
            try:
                cursor.execute("BEGIN TRANSACTION")
                try:
                    cursor.execute(_TAKE_WRITE_LOCK)
                    result = work(cursor)
                    cursor.execute("COMMIT")
                    return result
                except BaseException:
                    _rollback(cursor)
                    raise
            except duckdb.Error as exc:
                if not _is_conflict(exc):
                    raise StoreError(
                        f"writing to the store {self._where()} failed: {_first_line(exc)}"
                    ) from exc
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"the store {self._where()} was busy with other writers for "
                        f"{self.retry_seconds:g} s; nothing was changed — try again"
                    ) from exc
            finally:
                cursor.close()
            with self._lock:
                self.write_retries += 1
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, self._backoff_cap)

    def _create_schema(self) -> None:
        """Create or migrate the tables (one transaction, retried when another process
        creates them at the same moment)."""
        deadline = time.monotonic() + self.retry_seconds
        delay = self._backoff_start
        while True:
            cursor = self._cursor()
            try:
                cursor.execute("BEGIN TRANSACTION")
                try:
                    self._create_or_migrate(cursor)
                    cursor.execute("COMMIT")
                    return
                except BaseException:
                    _rollback(cursor)
                    raise
            except duckdb.Error as exc:
                if not _is_conflict(exc) or time.monotonic() >= deadline:
                    raise StoreError(
                        f"cannot prepare the store {self._where()}: {_first_line(exc)}"
                    ) from exc
            finally:
                cursor.close()
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, self._backoff_cap)

    def _create_or_migrate(self, cursor: duckdb.DuckDBPyConnection) -> None:
        cursor.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = cursor.execute("SELECT max(version) FROM schema_version").fetchone()
        version = row[0] if row else None
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self._where()} has schema version {version}, newer than this "
                f"Scalescope understands ({SCHEMA_VERSION}); upgrade Scalescope"
            )
        rederive: list[str] = []  # datasets whose runs and curves are derived again at the end
        if version is not None and version < 3:
            rederive = self._rebuild_from_v2(cursor, version)
        elif version is not None:
            for target in range(version + 1, SCHEMA_VERSION + 1):
                if target == 4:
                    rederive = self._upgrade_to_v4(cursor)
                    continue
                for statement in _MIGRATIONS.get(target, ()):
                    cursor.execute(statement)
        for dataset_id in rederive:  # in the current layout, after every step
            self._derive_all(cursor, dataset_id)
        for statement in _SCHEMA:
            cursor.execute(statement)
        if version is None:
            cursor.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
        elif version < SCHEMA_VERSION:
            cursor.execute("UPDATE schema_version SET version = ?", [SCHEMA_VERSION])
        lock_rows = cursor.execute("SELECT count(*) FROM write_lock").fetchone()
        if not lock_rows or lock_rows[0] == 0:
            cursor.execute("INSERT INTO write_lock VALUES (0)")
        if version is not None and self._catalog is None:
            self._repair_torn_writes(cursor)

    def _repair_torn_writes(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Remove what a write killed during its COMMIT left without the rest of its
        transaction (a local DuckDB file only; DuckLake commits in PostgreSQL).

        Measured (``tests/test_store_concurrency.py``): DuckDB 1.5 can replay part of a
        transaction's write-ahead log when the process dies while writing it, so the points of
        an upload appear without its ``datasets`` row (or an append's points without the
        counts that include them). Every dataset's points are ``ord`` 0 … ``n_rows`` - 1, so
        rows outside that range, and summaries or sources of no dataset, are the torn write's:
        they are removed and the dataset's summaries derived again. One grouped count over the
        points' integer key per open.
        """
        torn = cursor.execute(_TORN_POINTS).fetchall()
        for key, dataset_id, n_rows, n_sources in torn:
            if dataset_id is None:
                cursor.execute(_DELETE_POINTS, [key])
                continue
            cursor.execute("DELETE FROM points WHERE dataset_key = ? AND ord >= ?", [key, n_rows])
            cursor.execute(
                "DELETE FROM sources WHERE dataset_id = ? AND position >= ?",
                [dataset_id, n_sources],
            )
            self._derive_all(cursor, dataset_id)
        for statement in _DELETE_ORPHANS:
            cursor.execute(statement)
        if torn:
            _LOG.warning(
                "the store %s held rows of %d write(s) interrupted while committing; removed",
                self._where(),
                len(torn),
            )

    def _rebuild_from_v2(self, cursor: duckdb.DuckDBPyConnection, version: int) -> list[str]:
        """Bring a version 1 or 2 file to the current layout inside the opening transaction;
        returns every dataset (their runs and curves are still to be derived)."""
        if self._catalog is not None:
            raise StoreError(f"the team store {self._where()} has an unsupported old layout")
        for statement in _LEGACY_V2_SCHEMA:
            cursor.execute(statement)
        for target in range(version + 1, 3):
            for statement in _MIGRATIONS.get(target, ()):
                cursor.execute(statement)
        old_ids = [row[0] for row in cursor.execute("SELECT id FROM datasets").fetchall()]
        cursor.execute(
            "CREATE TABLE id_map_v3 (old_id BIGINT, dataset_id VARCHAR, source_id VARCHAR)"
        )
        if old_ids:
            cursor.executemany(
                "INSERT INTO id_map_v3 VALUES (?, ?, ?)",
                [[old, _new_id(), _new_id()] for old in old_ids],
            )
        for statement in _MIGRATE_TO_V3:
            cursor.execute(statement, [DEFAULT_WORKSPACE] if "?" in statement else [])
        return [str(row[0]) for row in cursor.execute("SELECT id FROM datasets").fetchall()]

    def _upgrade_to_v4(self, cursor: duckdb.DuckDBPyConnection) -> list[str]:
        """Version 3 → 4: :data:`_MIGRATIONS` [4], curve rows to blobs, and one repair;
        returns the repaired datasets.

        The points are rebuilt with ``ord`` renumbered by (source position, ord) while
        ``points.source_id`` still tells the files apart: the version 2 → 3 migration of
        earlier releases set ``ord`` to the spreadsheet row (from 2), so a later append reused
        ords. The datasets that were misnumbered must get their runs and curves derived again
        (by the caller, once the layout is current); the others' curve rows become one blob as
        they are.
        """
        renumbered = [str(row[0]) for row in cursor.execute(_V3_MISNUMBERED).fetchall()]
        for statement in _MIGRATIONS[4]:
            cursor.execute(statement)
        self._curves_to_blobs(cursor)
        return renumbered

    @staticmethod
    def _curves_to_blobs(cursor: duckdb.DuckDBPyConnection) -> None:
        """Version 3 → 4: each dataset's curve rows become one blob (same rows, same order)."""
        blobs = []
        for (dataset_id,) in cursor.execute("SELECT id FROM datasets").fetchall():
            rows = cursor.execute(_V3_CURVE_ROWS, [dataset_id]).to_arrow_table()
            curves = merge_curves(None, rows)
            blobs.append([dataset_id, curves.num_rows, curves_blob(curves)])
        cursor.execute("DROP TABLE curves")
        cursor.execute(_CURVES_DDL)
        if blobs:
            cursor.executemany("INSERT INTO curves VALUES (?, ?, ?)", blobs)

    def _info(self, row: tuple, created: bool = True) -> DatasetInfo:
        return DatasetInfo(
            id=str(row[0]),
            key=int(row[10]),
            workspace=str(row[1]),
            name=str(row[2]),
            source_filename=str(row[3]),
            sha256=str(row[4]),
            reduction=str(row[5]),
            created_at=row[6],
            n_rows=int(row[7]),
            n_runs=int(row[8]),
            n_sources=int(row[9]),
            created=created,
        )

    def _find(
        self, cursor: duckdb.DuckDBPyConnection, workspace: str, name: str
    ) -> DatasetInfo | None:
        row = cursor.execute(_SELECT_DATASET, [workspace, name]).fetchone()
        return None if row is None else self._info(row)

    def _require(self, cursor: duckdb.DuckDBPyConnection, workspace: str, name: str) -> DatasetInfo:
        info = self._find(cursor, workspace, name)
        if info is None:
            where = "" if workspace == DEFAULT_WORKSPACE else f" in workspace {workspace!r}"
            raise DatasetNotFoundError(f"no dataset is named {name!r}{where}")
        return info

    # -- workspaces -----------------------------------------------------------------------------

    def list_workspaces(self) -> list[str]:
        """Workspace names, ``default`` first, then in order of creation."""
        with self._read() as cursor:
            rows = cursor.execute(
                "SELECT name, min(created_at) AS first_at FROM workspaces GROUP BY name "
                "ORDER BY first_at, name"
            ).fetchall()
        names = [str(row[0]) for row in rows if row[0] != DEFAULT_WORKSPACE]
        return [DEFAULT_WORKSPACE, *names]

    def create_workspace(self, name: str) -> str:
        """Create a workspace (no-op if it exists); returns the cleaned name."""
        name = _clean_name(name, "workspace")
        self._write(lambda cursor: self._ensure_workspace(cursor, name))
        return name

    @staticmethod
    def _ensure_workspace(cursor: duckdb.DuckDBPyConnection, workspace: str) -> None:
        found = cursor.execute("SELECT 1 FROM workspaces WHERE name = ?", [workspace]).fetchone()
        if found is None:
            cursor.execute("INSERT INTO workspaces VALUES (?, ?)", [workspace, _now()])

    # -- writes ---------------------------------------------------------------------------------

    def add_dataset(
        self,
        name: str,
        parsed: ParsedTable,
        source_bytes: bytes,
        reduction: Reduction = "final",
        *,
        workspace: str = DEFAULT_WORKSPACE,
        mode: WriteMode = "create",
    ) -> DatasetInfo:
        """Store a validated upload in one transaction.

        ``create``: a new dataset; identical bytes under the same name return the stored one
        with ``created=False``, other content under a taken name raises
        :class:`DatasetExistsError`. ``append``: add the file's rows to the dataset (created if
        missing); bytes already among its sources change nothing (``created=False``); a run
        name already present with another parameter count is refused. ``replace``: the
        dataset's sources and points become this file's (id, name and creation time kept).
        ``reduction`` is the default reduction of a new or replaced dataset (an append keeps
        the dataset's own).
        """
        name = _clean_name(name)
        workspace = _clean_name(workspace, "workspace")
        reduction = _check_reduction(reduction)
        mode = _check_mode(mode)
        # Prepared once, outside the retried transaction. Compressing the file and deriving the
        # runs/curves are single-threaded and release the GIL, so they run beside the rest;
        # the derived rows are used when the file is its dataset's only one (create, replace).
        content = bytes(source_bytes)
        digest = _PREPARE.submit(lambda: hashlib.sha256(content).hexdigest())
        kept = _PREPARE.submit(self._keep_source, content, digest)
        incoming = points_table(parsed.columns, getattr(parsed, "run_index", None))
        # an append to an existing dataset re-derives its touched runs from the store instead
        derived = (
            None
            if mode == "append"
            else _PREPARE.submit(derived_tables, incoming, CURVE_POINTS_PER_RUN)
        )
        upload = _Upload(
            name=name,
            workspace=workspace,
            reduction=reduction,
            mode=mode,
            digest=digest.result(),
            kept=kept,
            n_bytes=len(content),
            filename=upload_name(parsed.filename),  # client data: never a path
            n_rows=parsed.n_rows,
            mapping_json=json.dumps(parsed.mapping),
            units_json=json.dumps(dict(getattr(parsed, "units", None) or {})),
            points=incoming,
            derived=derived,
        )
        removed: list[str] = []  # file digests a replace dropped
        try:
            return self._write(lambda cursor: self._add(cursor, upload, removed))
        finally:
            self._settle_upload(upload, kept, removed)

    def _keep_source(self, content: bytes, digest: Future[str]) -> _KeptSource:
        """Compress an upload and, in a local store, pin and write its file (worker thread:
        both release the GIL, beside DuckDB's insert): the file is durable before the
        transaction that references it commits, and no delete removes it until the upload
        has settled (:meth:`_settle_upload`)."""
        stored = compress_source(content)
        files = self.source_files
        if files is None:
            return _KeptSource(SOURCE_CODEC, stored, stored)
        try:
            files.keep(digest.result(), stored)
        except OSError as exc:
            raise StoreError(
                f"cannot keep the uploaded file in {files.directory}: "
                f"{exc.strerror or exc}; nothing was stored"
            ) from exc
        return _KeptSource(FILE_CODEC, b"", stored)

    def _settle_upload(self, up: _Upload, kept: Future[_KeptSource], removed: list[str]) -> None:
        """After an upload's transaction (committed or not): release its file, and remove the
        files of it and of ``removed`` that no source references."""
        try:
            pinned = kept.result()
        except Exception:  # compressing or writing failed: the write failed with it
            return
        if pinned.codec == FILE_CODEC:
            self._settle_source_files(
                [up.digest, *removed], unpin=[up.digest], restore={up.digest: pinned.stored}
            )

    def _settle_source_files(
        self,
        digests: Sequence[str],
        *,
        unpin: Sequence[str] = (),
        restore: dict[str, bytes] | None = None,
    ) -> None:
        """After a committed (or failed) write: ``source_files.SourceFiles.settle``. The write
        itself stands whatever happens here: a file left behind is moved aside at the next
        open, so a failure is logged, not raised."""
        files = self.source_files
        if files is None:
            return

        def referenced(wanted: list[str]) -> set[str]:
            with self._read() as cursor:
                rows = cursor.execute(_FILE_SOURCES_AMONG, [FILE_CODEC, wanted]).fetchall()
            return {str(row[0]) for row in rows}

        try:
            files.settle(digests, referenced, unpin=unpin, restore=restore)
        except (OSError, StoreError) as exc:
            _LOG.warning("tidying the kept files in %s failed: %s", files.directory, exc)

    def _sweep_source_files(self) -> None:
        """On open: move kept files no source references aside (``source_files.UNREFERENCED``:
        what an upload killed before its commit leaves) and delete half-written ones."""
        files = self.source_files
        if files is None:
            return

        def referenced() -> set[str]:
            with self._read() as cursor:
                return {str(r[0]) for r in cursor.execute(_FILE_SOURCES, [FILE_CODEC]).fetchall()}

        try:
            moved = files.sweep(referenced)
        except OSError as exc:
            _LOG.warning("checking the kept files in %s failed: %s", files.directory, exc)
            return
        if moved:
            _LOG.warning(
                "%d kept file(s) no dataset references were moved to %s",
                len(moved),
                files.directory / UNREFERENCED,
            )

    def _add(
        self, cursor: duckdb.DuckDBPyConnection, up: _Upload, removed: list[str]
    ) -> DatasetInfo:
        removed.clear()  # a retried transaction starts over
        existing = self._find(cursor, up.workspace, up.name)
        if existing is None:
            self._ensure_workspace(cursor, up.workspace)
            return self._create(cursor, up)
        if up.mode == "create":
            if existing.sha256 == up.digest:
                return _with(existing, created=False)
            raise DatasetExistsError(
                f"a dataset named {up.name!r} already exists (from {existing.source_filename}); "
                "choose another name, append to it or replace it"
            )
        if up.mode == "replace":
            return self._replace(cursor, existing, up, removed)
        return self._append(cursor, existing, up)

    # Each branch writes the datasets row once and builds the returned DatasetInfo in Python:
    # on DuckLake every extra read inside the transaction is a round trip to the catalog.

    def _create(self, cursor: duckdb.DuckDBPyConnection, up: _Upload) -> DatasetInfo:
        dataset_id, now = _new_id(), _now()
        found = cursor.execute(_NEXT_KEY).fetchone()
        key = int(found[0]) if found else 1
        n_runs = self._insert_file(cursor, dataset_id, key, up, position=0, ord_offset=0)
        cursor.execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [dataset_id, up.workspace, up.name, up.filename, up.digest, up.reduction, now, now,
             up.n_rows, n_runs, 1, up.mapping_json, up.units_json, key],
        )  # fmt: skip
        return DatasetInfo(
            id=dataset_id,
            key=key,
            workspace=up.workspace,
            name=up.name,
            source_filename=up.filename,
            sha256=up.digest,
            reduction=up.reduction,
            created_at=now,
            n_rows=up.n_rows,
            n_runs=n_runs,
            n_sources=1,
        )

    def _replace(
        self,
        cursor: duckdb.DuckDBPyConnection,
        existing: DatasetInfo,
        up: _Upload,
        removed: list[str],
    ) -> DatasetInfo:
        if existing.n_sources == 1 and existing.sha256 == up.digest:
            return _with(existing, created=False)
        removed.extend(self._delete_content(cursor, existing))
        n_runs = self._insert_file(cursor, existing.id, existing.key, up, position=0, ord_offset=0)
        cursor.execute(
            "UPDATE datasets SET source_filename = ?, sha256 = ?, reduction = ?, updated_at = ?, "
            "n_rows = ?, n_runs = ?, n_sources = 1, mapping_json = ?, units_json = ? WHERE id = ?",
            [up.filename, up.digest, up.reduction, _now(), up.n_rows, n_runs, up.mapping_json,
             up.units_json, existing.id],
        )  # fmt: skip
        return _with(
            existing,
            source_filename=up.filename,
            sha256=up.digest,
            reduction=up.reduction,
            n_rows=up.n_rows,
            n_runs=n_runs,
            n_sources=1,
            created=True,
        )

    def _append(
        self, cursor: duckdb.DuckDBPyConnection, existing: DatasetInfo, up: _Upload
    ) -> DatasetInfo:
        digests = [
            str(row[0])
            for row in cursor.execute(
                "SELECT sha256 FROM sources WHERE dataset_id = ? ORDER BY position",
                [existing.id],
            ).fetchall()
        ]
        if up.digest in digests:
            return _with(existing, created=False)
        cursor.register("incoming_points", up.points)
        try:
            clash = cursor.execute(
                "SELECT r.run, r.params, i.params FROM runs r JOIN (SELECT run, min(params) AS "
                "params, min(ord) AS first_ord FROM incoming_points GROUP BY run) i "
                "ON i.run = r.run WHERE r.dataset_id = ? AND r.params <> i.params "
                "ORDER BY i.first_ord LIMIT 1",
                [existing.id],
            ).fetchone()
        finally:
            cursor.unregister("incoming_points")
        if clash is not None:
            raise StoreError(
                f"{up.filename}: run {clash[0]!r} has {clash[2]:g} parameters, but dataset "
                f"{up.name!r} already has it with {clash[1]:g}; give different models different "
                "run names"
            )
        # ord runs 0 … n_rows-1 without gaps (rows are only ever removed with their dataset)
        n_runs = self._insert_file(
            cursor, existing.id, existing.key, up, position=len(digests), ord_offset=existing.n_rows
        )
        digest = _combined_digest([*digests, up.digest])
        cursor.execute(
            "UPDATE datasets SET source_filename = ?, sha256 = ?, updated_at = ?, n_rows = ?, "
            "n_runs = ?, n_sources = ? WHERE id = ?",
            [up.filename, digest, _now(), existing.n_rows + up.n_rows, n_runs,
             len(digests) + 1, existing.id],
        )  # fmt: skip
        return _with(
            existing,
            source_filename=up.filename,
            sha256=digest,
            n_rows=existing.n_rows + up.n_rows,
            n_runs=n_runs,
            n_sources=len(digests) + 1,
            created=True,
        )

    def _insert_file(
        self,
        cursor: duckdb.DuckDBPyConnection,
        dataset_id: str,
        key: int,
        up: _Upload,
        *,
        position: int,
        ord_offset: int,
    ) -> int:
        """The file's points (ord continuing after ``ord_offset``), its source row, the derived
        runs and curves of the runs it touches; returns the dataset's number of runs.

        The points go first: the file's bytes are still being compressed meanwhile."""
        cursor.register("incoming_points", up.points)
        try:
            cursor.execute(_INSERT_POINTS, [key, ord_offset])
            if ord_offset == 0:  # the dataset's only file: its rows are the whole runs
                derived = (
                    up.derived.result()
                    if up.derived is not None
                    else derived_tables(up.points, CURVE_POINTS_PER_RUN)
                )
            else:  # earlier files may hold rows of the same runs
                rows = cursor.execute(_TOUCHED_RUNS_POINTS, [key]).to_arrow_table()
                derived = derived_tables(rows, CURVE_POINTS_PER_RUN)
        finally:
            cursor.unregister("incoming_points")
        kept = up.kept.result()
        cursor.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_new_id(), dataset_id, position, up.filename, up.digest, kept.content, up.n_rows,
             _now(), up.mapping_json, up.units_json, kept.codec, up.n_bytes],
        )  # fmt: skip
        self._write_derived(cursor, dataset_id, *derived)
        row = cursor.execute(
            "SELECT count(*) FROM runs WHERE dataset_id = ?", [dataset_id]
        ).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _write_derived(
        cursor: duckdb.DuckDBPyConnection,
        dataset_id: str,
        derived_runs: pa.Table,
        derived_curves: pa.Table,
    ) -> None:
        """Replace the ``runs`` rows and the curves of the runs in ``derived_runs`` with these
        (``store_arrow.derived_tables`` of all their points)."""
        found = cursor.execute(_STORED_CURVES, [dataset_id]).fetchone()
        stored = read_curves_blob(found[0]) if found else None
        curves = merge_curves(stored, derived_curves)
        cursor.register("derived_runs", derived_runs)
        try:
            for statement in _WRITE_DERIVED:
                cursor.execute(statement, [dataset_id])
        finally:
            cursor.unregister("derived_runs")
        cursor.execute(
            "INSERT INTO curves VALUES (?, ?, ?)",
            [dataset_id, curves.num_rows, curves_blob(curves)],
        )

    def _delete_content(self, cursor: duckdb.DuckDBPyConnection, info: DatasetInfo) -> list[str]:
        """Remove a dataset's points, runs, curves and sources (not its ``datasets`` row);
        returns the digests of its sources kept as files (removed once the deletion has
        committed). Stores without a source folder skip that query (on DuckLake every read
        inside the transaction is a round trip to the catalog)."""
        kept = (
            cursor.execute(_DATASET_FILE_SOURCES, [info.id, FILE_CODEC]).fetchall()
            if self.source_files is not None
            else []
        )
        cursor.execute(_DELETE_POINTS, [info.key])
        for statement in _DELETE_CONTENT:
            cursor.execute(statement, [info.id])
        return [str(row[0]) for row in kept]

    def _derive_all(self, cursor: duckdb.DuckDBPyConnection, dataset_id: str) -> None:
        """Derive every run of a dataset from its stored points (migrations)."""
        found = cursor.execute("SELECT key FROM datasets WHERE id = ?", [dataset_id]).fetchone()
        key = found[0] if found else None
        rows = cursor.execute(_ALL_POINTS_TO_DERIVE, [key]).to_arrow_table()
        self._write_derived(cursor, dataset_id, *derived_tables(rows, CURVE_POINTS_PER_RUN))

    def delete_dataset(self, name: str, *, workspace: str = DEFAULT_WORKSPACE) -> None:
        """Remove a dataset with its points, runs and source bytes."""

        def work(cursor: duckdb.DuckDBPyConnection) -> list[str]:
            info = self._require(cursor, workspace, name)
            removed = self._delete_content(cursor, info)
            cursor.execute("DELETE FROM datasets WHERE id = ?", [info.id])
            return removed

        self._settle_source_files(self._write(work))

    def rename_dataset(
        self, old: str, new: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> DatasetInfo:
        """Give a dataset a new name that no other dataset of the workspace has."""
        new = _clean_name(new)

        def work(cursor: duckdb.DuckDBPyConnection) -> DatasetInfo:
            info = self._require(cursor, workspace, old)
            if new == info.name:
                return info
            if self._find(cursor, workspace, new) is not None:
                raise DatasetExistsError(f"a dataset named {new!r} already exists")
            cursor.execute(
                "UPDATE datasets SET name = ?, updated_at = ? WHERE id = ?", [new, _now(), info.id]
            )
            return _with(info, name=new)

        return self._write(work)

    def save_mapping(
        self,
        headers: Sequence[str],
        mapping: dict[str, str],
        units: dict[str, str] | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> None:
        """Remember the column mapping (and units) chosen for files with exactly these headers."""
        workspace = _clean_name(workspace, "workspace")
        key = _headers_key(headers)
        values = [
            workspace,
            key,
            json.dumps(list(headers), ensure_ascii=False),
            json.dumps(dict(mapping)),
            json.dumps(dict(units or {})),
            _now(),
        ]

        def work(cursor: duckdb.DuckDBPyConnection) -> None:
            cursor.execute(
                "DELETE FROM mappings WHERE workspace = ? AND headers_key = ?", [workspace, key]
            )
            cursor.execute("INSERT INTO mappings VALUES (?, ?, ?, ?, ?, ?)", values)

        self._write(work)

    # -- reads ----------------------------------------------------------------------------------

    def find_mapping(
        self, headers: Sequence[str], *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[dict[str, str], dict[str, str]] | None:
        """The saved ``(mapping, units)`` for files with exactly these headers, or None."""
        with self._read() as cursor:
            row = cursor.execute(
                "SELECT mapping_json, units_json FROM mappings WHERE workspace = ? AND "
                "headers_key = ? ORDER BY saved_at DESC LIMIT 1",
                [workspace, _headers_key(headers)],
            ).fetchone()
        if row is None:
            return None
        return dict(json.loads(row[0])), dict(json.loads(row[1]))

    def list_datasets(self, *, workspace: str = DEFAULT_WORKSPACE) -> list[DatasetInfo]:
        """The workspace's datasets, oldest first."""
        with self._read() as cursor:
            rows = cursor.execute(_SELECT_DATASETS, [workspace]).fetchall()
        return [self._info(row) for row in rows]

    def get_dataset(self, name: str, *, workspace: str = DEFAULT_WORKSPACE) -> DatasetInfo:
        """The dataset called ``name``; :class:`DatasetNotFoundError` if there is none."""
        with self._read() as cursor:
            return self._require(cursor, workspace, name)

    def load_points(self, name: str, *, workspace: str = DEFAULT_WORKSPACE) -> pd.DataFrame:
        """The step-level rows as ingested, columns :data:`ingest.POINT_COLUMNS`, in file order
        (appended files after the earlier ones)."""
        with self._read() as cursor:
            info = self._require(cursor, workspace, name)
            frame = cursor.execute(_POINTS_SELECT, [info.key]).df()
        for column in ("run", "group"):
            frame[column] = frame[column].astype(object)
        return frame

    def load_runs(
        self,
        name: str,
        reduction: Reduction | None = None,
        *,
        at_step: float | None = None,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> RunTable:
        """One row per run, reduced in SQL (default: the reduction chosen at upload).

        ``final`` takes each run's row with the largest step (last row when steps tie or are
        absent); ``best`` its lowest-loss row. Both are stored at write time, so this reads one
        row per run. With ``at_step`` (computed on request) only rows with a step at or before
        it count (``final`` then means "the last evaluation by step S"; rows without a step
        are left out), and runs with no such row are dropped. Tokens/FLOPs come from the
        chosen row.
        """
        if at_step is not None and not np.isfinite(at_step):
            raise StoreError(f"at_step must be a finite step number, not {at_step!r}")
        with self._read() as cursor:
            info = self._require(cursor, workspace, name)
            if at_step is not None:
                chosen = _check_reduction(reduction or "final")
            else:
                chosen = _check_reduction(reduction or info.reduction)
            if at_step is None:
                rows = cursor.execute(_STORED_REDUCTION[chosen], [info.id]).fetchall()
            else:
                rows = cursor.execute(_AT_STEP_SQL[chosen], [float(at_step), info.key]).fetchall()
            if not rows and at_step is not None:
                found = cursor.execute(
                    "SELECT min(step) FROM points WHERE dataset_key = ?", [info.key]
                ).fetchone()
                earliest = None if found is None else found[0]
        if not rows and at_step is not None:
            if earliest is None:
                raise StoreError(
                    f"dataset {name!r} has no step numbers, so runs cannot be compared at a "
                    "step; use the final or best reduction"
                )
            raise StoreError(
                f"no run of dataset {name!r} has an evaluation at or before step {at_step:g} "
                f"(the earliest logged step is {earliest:g})"
            )
        if not rows:
            raise StoreError(f"dataset {name!r} has no rows")
        return _run_table(rows)

    def load_curves(
        self,
        name: str,
        *,
        max_points_per_run: int = CURVE_POINTS_PER_RUN,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> pd.DataFrame:
        """Step-level curves for drawing, thinned to at most ``max_points_per_run`` rows per
        run (log-spaced step buckets keep their lowest and their last loss).

        Columns ``run, step, tokens, flops, loss, params, group``; runs in order of first
        appearance, rows by step. The default resolution is stored by every write, so reading
        it decodes one blob however many points the dataset has; fewer points per run thin
        the stored curves (milliseconds), more go back to the points in DuckDB (seconds at
        10M).
        """
        if max_points_per_run < 2:
            raise StoreError("max_points_per_run must be at least 2")
        buckets = max_points_per_run // 2
        with self._read() as cursor:
            info = self._require(cursor, workspace, name)
            params = [max_points_per_run, buckets, info.id, buckets, info.key, info.key]
            if max_points_per_run > CURVE_POINTS_PER_RUN:
                frame = cursor.execute(_CURVES_FROM_POINTS, params).df()
            else:
                found = cursor.execute(_STORED_CURVES, [info.id]).fetchone()
                if found is None:
                    raise StoreError(f"the curves of dataset {name!r} are missing")
                stored = read_curves_blob(found[0])
                if max_points_per_run < CURVE_POINTS_PER_RUN:
                    extents = cursor.execute(_RUN_EXTENTS, [info.id]).to_arrow_table()
                    stored = thin_stored_curves(stored, extents, max_points_per_run)
                frame = stored_curve_frame(stored)
        for column in ("run", "group"):
            frame[column] = frame[column].astype(object)
        return frame

    def load_sources(
        self, name: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> list[tuple[str, bytes]]:
        """Every source file's name and bytes, in the order they were added."""
        with self._read() as cursor:
            info = self._require(cursor, workspace, name)
            rows = cursor.execute(
                "SELECT filename, content, codec, n_bytes, sha256 FROM sources "
                "WHERE dataset_id = ? ORDER BY position",
                [info.id],
            ).fetchall()
        return [
            (str(filename), self._source_bytes(name, str(filename), *kept))
            for filename, *kept in rows
        ]

    def _source_bytes(
        self, dataset: str, filename: str, content: bytes, codec: str, n_bytes: int, digest: str
    ) -> bytes:
        """A source's original bytes, from its row or (local stores) its file."""
        if codec != FILE_CODEC:
            return decompress_source(codec, content, n_bytes)
        try:
            if self.source_files is None:
                raise FileNotFoundError(digest)
            stored = self.source_files.read(digest)
        except OSError as exc:
            where = self.source_files.directory if self.source_files else "this store"
            raise StoreError(
                f"the original of {filename} (dataset {dataset!r}) is missing from {where}: "
                "restore that folder from the backup made with the store file"
            ) from exc
        return decompress_source(SOURCE_CODEC, stored, n_bytes)

    def load_source(self, name: str, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[str, bytes]:
        """The first source file's name and bytes, for re-parsing with another mapping."""
        sources = self.load_sources(name, workspace=workspace)
        if not sources:
            raise StoreError(f"the source file of dataset {name!r} is missing")
        return sources[0]

    def load_mapping(self, name: str, *, workspace: str = DEFAULT_WORKSPACE) -> dict[str, str]:
        """The column mapping of the first source, ``{canonical column: user header}``."""
        with self._read() as cursor:
            info = self._require(cursor, workspace, name)
            row = cursor.execute(
                "SELECT mapping_json FROM datasets WHERE id = ?", [info.id]
            ).fetchone()
        return dict(json.loads(row[0])) if row else {}

    def export_csv(self, name: str, *, workspace: str = DEFAULT_WORKSPACE) -> bytes:
        """The step-level rows as spreadsheet-safe CSV (text starting ``= + - @`` neutralised)."""
        from scaling_core.safe_csv import csv_bytes

        with self._read() as cursor:
            info = self._require(cursor, workspace, name)
            rows = cursor.execute(_POINTS_SELECT, [info.key]).fetchall()
        columns = {
            column: [row[index] for row in rows] for index, column in enumerate(POINT_COLUMNS)
        }
        return csv_bytes(columns)

    def export_parquet(self, name: str, *, workspace: str = DEFAULT_WORKSPACE) -> bytes:
        """The step-level rows as a Parquet file (columns :data:`ingest.POINT_COLUMNS`)."""
        import pyarrow.parquet as pq

        with self._read() as cursor:
            info = self._require(cursor, workspace, name)
            table = cursor.execute(_POINTS_SELECT, [info.key]).to_arrow_table()
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return buffer.getvalue()


@dataclass(frozen=True, eq=False)
class _Upload:
    """Everything one ``add_dataset`` call writes, prepared before the transaction."""

    name: str
    workspace: str
    reduction: str
    mode: str
    digest: str
    kept: Future[_KeptSource]
    """The file's bytes, being compressed (and, in a local store, written to its file)."""
    n_bytes: int
    filename: str
    n_rows: int
    mapping_json: str
    units_json: str
    points: Any  # pyarrow.Table
    derived: Future[tuple[pa.Table, pa.Table]] | None
    """``store_arrow.derived_tables`` of ``points`` alone, being computed (used when they are
    the dataset's only rows); ``None`` for an append, which computes it only if the dataset
    turns out not to exist."""


@dataclass(frozen=True, eq=False)
class _KeptSource:
    """How an upload's bytes are kept: ``codec`` and ``content`` of its ``sources`` row, and
    the compressed bytes (``stored``) whatever their place."""

    codec: str
    content: bytes
    stored: bytes


def _with(info: DatasetInfo, **changes: Any) -> DatasetInfo:
    return replace(info, **changes)


def _rollback(cursor: duckdb.DuckDBPyConnection) -> None:
    """Roll back, ignoring "no transaction is active" (a failed COMMIT already ended it)."""
    with suppress(duckdb.Error):
        cursor.execute("ROLLBACK")


def _run_table(rows: list[tuple]) -> RunTable:
    """RunTable from reduced rows ``(run, params, tokens, flops, loss, grp, metric)``."""

    def column(index: int) -> np.ndarray:
        return np.array([np.nan if r[index] is None else r[index] for r in rows], dtype=float)

    def optional(index: int) -> np.ndarray | None:
        values = column(index)
        return None if np.isnan(values).all() else values

    group = np.array([r[5] for r in rows], dtype=object)
    has_group = any(g is not None for g in group)
    return RunTable.from_arrays(
        params=column(1),
        loss=column(4),
        tokens=optional(2),
        compute=optional(3),
        run=np.array([r[0] for r in rows], dtype=object),
        group=group if has_group else None,
        metric=optional(6),
    )


def ensure_default_datasets(store: Store, data_dir: Path = DATA_DIR) -> list[DatasetInfo]:
    """Load the bundled datasets into a store that has none; return what was added.

    A store that already has any dataset is left alone, so users who deleted the samples do
    not see them come back. Two processes doing this at once on a team store end with one
    copy: the second finds the same bytes under the same name (``created=False``).
    """
    if store.list_datasets():
        return []
    added: list[DatasetInfo] = []
    for name, filename in DEFAULT_DATASETS:
        content = (data_dir / filename).read_bytes()
        parsed = parse_table(filename, content)
        if isinstance(parsed, IngestErrors):
            raise StoreError(f"bundled dataset {filename} is invalid: {parsed.summary()}")
        info = store.add_dataset(name, parsed, content, "final")
        if info.created:
            added.append(info)
    return added
