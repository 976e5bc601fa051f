"""The Arrow tables the store writes: points from parsed columns, derived runs and curves rows,
and the compressed copy of an uploaded file.

Why a module of its own: :mod:`scaling_core.store` holds the schema and every SQL statement;
what it inserts is built here from numpy arrays, without SQL. Building the derived rows from the
Arrow table being written (not by querying the rows just inserted) is what keeps a million-row
upload close to DuckDB's own CSV load: :mod:`scaling_core.run_summary` finds each run's rows in
milliseconds, and only the chosen rows are gathered with ``take``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from scaling_core.ingest import POINT_COLUMNS
from scaling_core.ingest_arrow import float_array, int_array, to_numpy
from scaling_core.run_summary import group_by_run, summarize_runs, thin_curves

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "ROW_GROUP_ROWS",
    "SOURCE_CODEC",
    "compress_source",
    "curves_blob",
    "decompress_source",
    "derived_tables",
    "in_row_groups",
    "merge_curves",
    "points_table",
    "read_curves_blob",
    "stored_curve_frame",
    "thin_stored_curves",
]

ROW_GROUP_ROWS = 122_880
"""DuckDB's row-group size. An Arrow table in batches of this size is scanned by all threads,
and each batch fills one row group: a single 1M-row batch took twice as long to insert."""

SOURCE_CODEC = "zstd"
"""How uploaded files are kept: zstd level 1 (pyarrow's codec) shrinks a numeric CSV about 6×
for ~0.2 s per 50 MB, which more than pays for itself in the database write."""
_SOURCE_LEVEL = 1
RAW_CODEC = "identity"
"""Sources stored before compression (schema 3) are kept as they were."""


def points_table(
    columns: Mapping[str, np.ndarray], run_index: np.ndarray | None = None
) -> pa.Table:
    """The parsed columns as an Arrow table in :data:`ROW_GROUP_ROWS` batches (no pandas).

    NaN becomes NULL (:func:`ingest_arrow.float_array`), so ``NULLS LAST`` and ``step <= ?``
    see missing values as missing. ``ord`` numbers the rows from 0. With
    ``run_index`` (ingest's run number per row) the run names become a dictionary array: one
    string per run instead of one per row, which saves most of the conversion time of a
    million-row upload, and the codes are reused to group rows by run.
    """
    import pyarrow as pa

    n = int(np.asarray(columns["row_number"]).size)
    arrays: dict[str, pa.Array] = {
        "ord": int_array(np.arange(n, dtype=np.int64)),
        "row_number": int_array(np.asarray(columns["row_number"])),
    }
    for name in POINT_COLUMNS[1:]:
        stored = "grp" if name == "group" else name
        values = columns.get(name)
        if name == "run" and values is not None:
            arrays[stored] = _run_names(np.asarray(values, dtype=object), run_index)
        elif name in ("run", "group"):
            if values is None:
                arrays[stored] = pa.nulls(n, pa.string())
            else:
                arrays[stored] = pa.array(
                    np.asarray(values, dtype=object), pa.string(), from_pandas=True
                )
        elif values is None:
            arrays[stored] = pa.nulls(n, pa.float64())
        else:
            arrays[stored] = float_array(values)
    return in_row_groups(pa.table(arrays))


def in_row_groups(table: pa.Table) -> pa.Table:
    """``table`` in batches of :data:`ROW_GROUP_ROWS` rows (zero-copy slices)."""
    import pyarrow as pa

    return pa.Table.from_batches(table.to_batches(max_chunksize=ROW_GROUP_ROWS), table.schema)


def _run_names(values: np.ndarray, run_index: np.ndarray | None) -> pa.Array:
    """Run names as a dictionary array when ``run_index`` numbers them consistently (one
    distinct name per number, checked), else as plain strings."""
    import pyarrow as pa

    n = values.size
    if not _usable_index(run_index, n):
        return pa.array(values, pa.string())
    codes = np.asarray(run_index, dtype=np.int32)
    first = np.zeros(int(codes.max()) + 1, dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)  # earliest row of each run wins
    names = values[first]
    if len(set(names.tolist())) != names.size or not np.array_equal(names[codes], values):
        return pa.array(values, pa.string())  # trust, but verify
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names, pa.string()))


def _usable_index(run_index: np.ndarray | None, n: int) -> bool:
    """True for a run number per row, 0 … k-1 (anything else: plain strings are used)."""
    if run_index is None:
        return False
    index = np.asarray(run_index)
    return (
        index.shape == (n,)
        and n > 0
        and np.issubdtype(index.dtype, np.integer)
        and int(index.min()) >= 0
        and int(index.max()) < 2**31 - 1
    )


def _run_codes(run: pa.ChunkedArray) -> np.ndarray:
    """A code per row for the run names (a dictionary column's own codes, else encoded)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(run.type):
        run = pc.dictionary_encode(run)
    combined = run.combine_chunks() if isinstance(run, pa.ChunkedArray) else run
    return to_numpy(combined.indices)


def derived_tables(points: pa.Table, points_per_run: int) -> tuple[pa.Table, pa.Table]:
    """``runs`` and ``curves`` rows (without the dataset id) of a dataset's points.

    ``points`` has the columns ``ord`` (the rows' order in the dataset), ``run``, ``params``,
    ``tokens``, ``flops``, ``loss``, ``step``, ``grp``, ``metric`` and holds *every* row of each
    run it mentions (rows of other runs may be left out: a run's summary depends on its rows
    only). Runs come out in order of their first row; curve rows are unordered (the store
    orders them when reading).
    """
    import pyarrow as pa

    ord_ = to_numpy(points.column("ord")).astype(np.int64)
    step = to_numpy(points.column("step")).astype(float)
    codes = _run_codes(points.column("run"))
    summary = summarize_runs(codes, ord_, step, to_numpy(points.column("loss")), points_per_run)
    first_ord = ord_[summary.first]

    def picked(rows: np.ndarray, prefix: str) -> dict[str, pa.ChunkedArray]:
        chosen = points.select(["tokens", "flops", "loss", "grp", "metric"]).take(int_array(rows))
        return {f"{prefix}_{name}": chosen.column(name) for name in chosen.column_names}

    head = points.select(["run", "params"]).take(int_array(summary.first))
    runs = pa.table(
        {
            "run": head.column("run"),
            "params": head.column("params"),
            "first_ord": pa.array(first_ord),
            "n_points": pa.array(summary.n_points.astype(np.int64)),
            "lo": pa.array(summary.lo),
            "hi": pa.array(summary.hi),
            **picked(summary.final, "final"),
            **picked(summary.best, "best"),
        }
    )
    rows = summary.curve_rows
    run_first = np.zeros(int(codes.max()) + 1 if codes.size else 0, dtype=np.int64)
    run_first[codes[summary.first]] = first_ord
    curve = points.select(["run", "step", "tokens", "flops", "loss", "params", "grp"]).take(
        int_array(rows)
    )
    curve_step = step[rows]
    curves = pa.table(
        {
            "run": curve.column("run"),
            "first_ord": pa.array(run_first[codes[rows]]),
            "ord": pa.array(ord_[rows]),
            "pos": pa.array(np.where(np.isnan(curve_step), ord_[rows].astype(float), curve_step)),
            **{name: curve.column(name) for name in curve.column_names if name != "run"},
        }
    )
    return runs, in_row_groups(curves)


def _curve_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [("run", pa.string()), ("first_ord", pa.int64()), ("ord", pa.int64())]
        + [(name, pa.float64()) for name in ("pos", "step", "tokens", "flops", "loss", "params")]
        + [("grp", pa.string())]
    )


def merge_curves(stored: pa.Table | None, fresh: pa.Table) -> pa.Table:
    """A dataset's curve rows after a write: ``stored`` without the runs ``fresh`` re-derives,
    plus ``fresh``; typed as :func:`curves_blob` keeps them and sorted the way they are drawn
    (a run's first row, then position, then row order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fresh = fresh.cast(_curve_schema())
    if stored is not None and stored.num_rows:
        rewritten = pc.unique(fresh.column("run"))
        kept = stored.filter(pc.invert(pc.is_in(stored.column("run"), value_set=rewritten)))
        fresh = pa.concat_tables([kept.cast(_curve_schema()), fresh])
    first, pos, ord_ = (to_numpy(fresh.column(name)) for name in ("first_ord", "pos", "ord"))
    if _sorted_by(first, pos, ord_):  # a log grouped by run with rising steps: as derived
        return fresh.combine_chunks()
    order = np.lexsort((ord_, pos, first))
    return fresh.take(int_array(order)).combine_chunks()


def _sorted_by(*keys: np.ndarray) -> bool:
    """True when the rows are in lexicographic order of ``keys`` (ties allowed)."""
    undecided = np.ones(max(keys[0].size - 1, 0), dtype=bool)
    for key in keys:
        before, after = key[:-1], key[1:]
        if (undecided & (before > after)).any():
            return False
        undecided &= before == after
    return True


def curves_blob(curves: pa.Table) -> bytes:
    """Curve rows (from :func:`merge_curves`) as stored: one Arrow IPC file with
    zstd-compressed buffers. One value per dataset instead of ~100 rows per run: a million-row
    upload's 140k curve rows are 2 MB written in milliseconds, where inserting them as table
    rows took a tenth of a second, and reading them back is a decode, not a scan."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression="zstd")
    with ipc.new_file(sink, curves.schema, options=options) as writer:
        writer.write_table(curves)
    return sink.getvalue().to_pybytes()


def read_curves_blob(blob: bytes) -> pa.Table:
    """The curve rows a :func:`curves_blob` holds."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    return ipc.open_file(pa.py_buffer(blob)).read_all()


def stored_curve_frame(curves: pa.Table) -> pd.DataFrame:
    """Stored curve rows as ``load_curves`` returns them: columns ``run, step, tokens, flops,
    loss, params, group`` (already in drawing order)."""
    import pandas as pd

    names = {"run": "run", "step": "step", "tokens": "tokens", "flops": "flops", "loss": "loss",
             "params": "params", "grp": "group"}  # fmt: skip
    # strings as objects with None for missing, as DuckDB's .df() gives them
    return pd.DataFrame(
        {new: curves.column(old).to_numpy(zero_copy_only=False) for old, new in names.items()}
    )


def thin_stored_curves(curves: pa.Table, runs: pa.Table, points_per_run: int) -> pa.Table:
    """Stored curve rows thinned further to ``points_per_run`` per run, bucketed by each run's
    whole extent (``runs``: ``run, lo, hi, n_points`` of every run, as the store keeps them)
    — the rule the store's SQL applies to the points (``run_summary.thin_curves``). A
    bucket's lowest loss is then the lowest among the stored rows. Drawing order is kept."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if curves.num_rows == 0:
        return curves
    encoded = pc.dictionary_encode(curves.column("run")).combine_chunks()
    groups = group_by_run(to_numpy(encoded.indices), to_numpy(curves.column("ord")))
    where = pc.index_in(encoded.dictionary.take(pa.array(groups.codes)), runs.column("run"))
    if where.null_count:
        raise ValueError("stored curves name a run the runs table does not have")
    index = to_numpy(where)
    extents = tuple(to_numpy(runs.column(name))[index] for name in ("lo", "hi", "n_points"))
    rows = thin_curves(
        groups,
        to_numpy(curves.column("pos")),
        to_numpy(curves.column("loss")),
        points_per_run,
        extents,  # type: ignore[arg-type]
    )
    return curves.take(int_array(rows))


def compress_source(content: bytes) -> bytes:
    """An uploaded file's bytes as stored (:data:`SOURCE_CODEC`)."""
    import pyarrow as pa

    return pa.Codec(SOURCE_CODEC, compression_level=_SOURCE_LEVEL).compress(content, asbytes=True)


def decompress_source(codec: str, stored: bytes, size: int) -> bytes:
    """The original bytes of a stored source (``size`` = their length)."""
    import pyarrow as pa

    if codec == RAW_CODEC:
        return bytes(stored)
    return pa.Codec(codec).decompress(stored, decompressed_size=size, asbytes=True)
