"""Stores in older layouts built from their own DDL, for the migration tests (a file or a
DuckLake).

Filled with what a current store holds for the same uploads, converted back. Version 3:
sources uncompressed, a source id on every point, curve blobs exploded into rows. Version 4:
points keyed by the dataset's uuid, datasets without keys.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd

from scaling_core.ingest import ParsedTable, parse_table
from scaling_core.store import Store
from scaling_core.store_arrow import decompress_source, read_curves_blob

V3_TABLES = {
    "sources": """CREATE TABLE sources (id VARCHAR NOT NULL, dataset_id VARCHAR NOT NULL,
        position BIGINT NOT NULL, filename VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
        content BLOB NOT NULL, n_rows BIGINT NOT NULL, added_at TIMESTAMP NOT NULL,
        mapping_json VARCHAR NOT NULL, units_json VARCHAR NOT NULL)""",
    "points": """CREATE TABLE points (dataset_id VARCHAR NOT NULL, source_id VARCHAR NOT NULL,
        ord BIGINT NOT NULL, row_number BIGINT NOT NULL, run VARCHAR NOT NULL,
        params DOUBLE NOT NULL, tokens DOUBLE, flops DOUBLE, loss DOUBLE NOT NULL,
        train_loss DOUBLE, val_loss DOUBLE, step DOUBLE, batch_size DOUBLE,
        learning_rate DOUBLE, grp VARCHAR, metric DOUBLE)""",
    "curves": """CREATE TABLE curves (dataset_id VARCHAR NOT NULL, run VARCHAR NOT NULL,
        first_ord BIGINT NOT NULL, ord BIGINT NOT NULL, pos DOUBLE NOT NULL, step DOUBLE,
        tokens DOUBLE, flops DOUBLE, loss DOUBLE NOT NULL, params DOUBLE NOT NULL,
        grp VARCHAR)""",
}
"""The version-3 tables that version 4 changes (the others are copied, see ``V3_COLUMNS``)."""
V3_COLUMNS = {
    "schema_version": "*",
    "write_lock": "*",
    "workspaces": "*",
    "datasets": "* EXCLUDE (key)",  # keys came with version 5
    "runs": "*",
    "mappings": "*",
}
"""The tables version 3 already had as they are now (what to select of each)."""

LOG = (
    b"run,arch,params,tokens,step,loss\n"
    + b"".join(
        f"{run},{arch},{size:g},{step * 1e7:g},{step},{2 + 4 / step**0.4:.6f}\n".encode()
        for run, arch, size in (("a", "dense", 1e8), ("b", "moe", 2e8))
        for step in range(1, 451)
    )
    + b"c,moe,4e8,1e9,,2.7\n"
)
MORE = b"run,arch,params,tokens,step,loss\na,dense,1e8,9e9,900,2.1\nd,moe,8e8,1e9,5,3.3\n"


def parsed(data: bytes, filename: str) -> ParsedTable:
    result = parse_table(filename, data)
    assert isinstance(result, ParsedTable), result
    return result


def fill(store: Store) -> None:
    store.add_dataset("appended", parsed(LOG, "log.csv"), LOG)
    store.add_dataset("appended", parsed(MORE, "more.csv"), MORE, mode="append")
    store.add_dataset("second <b>", parsed(LOG, "log.csv"), LOG, reduction="best")
    store.save_mapping(["run", "arch"], {"run": "run"})


def build_v3_store(
    old: duckdb.DuckDBPyConnection, current: Store, *, rows_from_two: bool = False
) -> None:
    """Write ``current``'s content through ``old`` (a new file, or a catalog in use) laid out
    as version 3: each point tagged with its source (a dataset's sources hold its next
    ``n_rows`` ords in turn).

    ``rows_from_two``: number each dataset's first file from 2, as the version 2 → 3
    migration of earlier releases did (``ord`` = spreadsheet row), so that a later append's
    rows reuse ords of the first file — the layout version 4 must repair. The v3 runs and
    curves are then stale, as that release left them.
    """
    with current._read() as cursor:
        _copy(old, cursor, V3_COLUMNS)
        old.execute("UPDATE schema_version SET version = 3")
        for ddl in V3_TABLES.values():
            old.execute(ddl)
        sources = cursor.execute(
            "SELECT id, dataset_id, position, filename, sha256, content, n_rows, added_at, "
            "mapping_json, units_json, codec, n_bytes FROM sources ORDER BY dataset_id, position"
        ).fetchall()
        points = cursor.execute(
            "SELECT d.id AS dataset_id, p.* EXCLUDE (dataset_key) FROM points p "
            "JOIN datasets d ON d.key = p.dataset_key"
        ).to_arrow_table()
        old.register("rows", points)
        first_ord: dict[str, int] = {}
        for *head, content, n_rows, added, mapping, units, codec, n_bytes in sources:
            source_id, dataset_id, position = head[0], head[1], head[2]
            raw = decompress_source(codec, content, n_bytes)
            old.execute("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [*head, raw, n_rows, added, mapping, units])  # fmt: skip
            start = first_ord.get(dataset_id, 0)
            first_ord[dataset_id] = start + n_rows
            shift = 2 if rows_from_two and position == 0 else 0
            old.execute(
                "INSERT INTO points SELECT dataset_id, ?, ord + ?, * EXCLUDE (dataset_id, ord) "
                "FROM rows WHERE dataset_id = ? AND ord >= ? AND ord < ?",
                [source_id, shift, dataset_id, start, start + n_rows],
            )
        old.unregister("rows")
        for dataset_id, blob in cursor.execute("SELECT dataset_id, content FROM curves").fetchall():
            old.register("rows", read_curves_blob(blob))
            old.execute("INSERT INTO curves SELECT ?, * FROM rows", [dataset_id])
            old.unregister("rows")


def _copy(
    old: duckdb.DuckDBPyConnection, cursor: duckdb.DuckDBPyConnection, columns: dict[str, str]
) -> None:
    """Create each table of ``columns`` in ``old`` with these columns of the current one."""
    for table, selected in columns.items():
        old.register("rows", cursor.execute(f"SELECT {selected} FROM {table}").to_arrow_table())
        old.execute(f"CREATE TABLE {table} AS SELECT * FROM rows")
        old.unregister("rows")


V4_POINTS = """CREATE TABLE points (dataset_id VARCHAR NOT NULL, ord BIGINT NOT NULL,
    row_number BIGINT NOT NULL, run VARCHAR NOT NULL, params DOUBLE NOT NULL, tokens DOUBLE,
    flops DOUBLE, loss DOUBLE NOT NULL, train_loss DOUBLE, val_loss DOUBLE, step DOUBLE,
    batch_size DOUBLE, learning_rate DOUBLE, grp VARCHAR, metric DOUBLE)"""
"""The points of version 4 (the only table version 5 rebuilds)."""


def build_v4_store(old: duckdb.DuckDBPyConnection, current: Store) -> None:
    """Write ``current``'s content through ``old`` (a new file) laid out as version 4."""
    with current._read() as cursor:
        _copy(old, cursor, {**V3_COLUMNS, "sources": "*", "curves": "*"})
        old.execute("UPDATE schema_version SET version = 4")
        old.execute(V4_POINTS)
        points = cursor.execute(
            "SELECT d.id AS dataset_id, p.* EXCLUDE (dataset_key) FROM points p "
            "JOIN datasets d ON d.key = p.dataset_key ORDER BY d.created_at DESC, p.ord"
        ).to_arrow_table()  # the datasets' rows in another order than their keys
        old.register("rows", points)
        old.execute("INSERT INTO points SELECT * FROM rows")
        old.unregister("rows")


def old_store_file(
    path: str, build: Callable[[duckdb.DuckDBPyConnection, Store], None]
) -> dict[str, object]:
    """Write :func:`fill`'s datasets to ``path`` with ``build`` (an old layout); returns the
    :func:`snapshot` the migrated store must show."""
    current = Store.in_memory()
    fill(current)
    with duckdb.connect(path) as old:
        build(old, current)
    return snapshot(current)


def snapshot(store: Store) -> dict[str, object]:
    """Everything a user can read of every dataset."""
    result: dict[str, object] = {}
    for info in store.list_datasets():
        name = info.name
        result[name] = {
            "info": (info.id, info.sha256, info.n_rows, info.n_runs, info.n_sources),
            "runs": [
                store.load_runs(name, reduction).loss.tolist() for reduction in ("final", "best")
            ],
            "curves": store.load_curves(name),
            "coarse": store.load_curves(name, max_points_per_run=20),
            "points": store.load_points(name),
            "sources": store.load_sources(name),
        }
    return result


def assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        left, right = a[name], b[name]
        for key in ("info", "runs", "sources"):
            assert left[key] == right[key], (name, key)
        for key in ("curves", "coarse", "points"):
            pd.testing.assert_frame_equal(left[key], right[key])
