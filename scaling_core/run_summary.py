"""Per-run summaries of step-level rows, vectorised: reduction picks, run extents, thinned curves.

Why this module: a step-level log is read per run in three ways — each run's *final* row (the
largest step), its *best* row (the lowest loss), and its curve thinned for drawing. The store
computes all three for every write from the rows being written, and ``ingest_reduce`` picks the
reductions of a parsed file. Both use the helpers here, so the rule lives once in numpy:

- rows are grouped by run with one stable sort (``argsort`` of the run codes: a log grouped by
  run is already sorted, so this costs milliseconds per million rows); inside a run, rows keep
  their order (``tiebreak``: row number or stored ``ord``);
- a per-run extreme (largest step, lowest loss) is one ``reduceat``; ties take the last or the
  first row in that order;
- a curve keeps, in log-spaced buckets of its position (the step, or ``ord`` where a row has
  none) between the run's first and last position, each bucket's lowest-loss row (the envelope)
  and its last row (the curve's end); runs with at most ``points_per_run`` rows stay whole.

``scaling_core.store`` thins at other resolutions in SQL with the same formula
(``_CURVES_THINNED``) and reduces at a chosen step in SQL; tests hold those equal to this
module's answers. Pure numpy: no pandas, Arrow or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "RunGroups",
    "RunSummary",
    "first_min",
    "group_by_run",
    "last_max",
    "summarize_runs",
    "thin_curves",
]


@dataclass(frozen=True, eq=False)
class RunGroups:
    """Row positions grouped by run.

    ``order``: every row position, runs contiguous, each run's rows in tiebreak order;
    ``starts``: where each run begins in ``order``; ``group_of``: the run number (0 … k-1, in
    order of the run codes) of each entry of ``order``; ``codes``: each run's code.
    ``in_place``: ``order`` is 0, 1, 2, … (the rows were grouped and in order already, as a
    big log usually is), so per-row values are used as they are instead of gathered.
    """

    order: np.ndarray
    starts: np.ndarray
    group_of: np.ndarray
    codes: np.ndarray
    in_place: bool = False

    @property
    def sizes(self) -> np.ndarray:
        """Rows per run."""
        return np.diff(np.append(self.starts, self.order.size))

    def gather(self, values: np.ndarray) -> np.ndarray:
        """``values`` (one per row) in group order."""
        return values if self.in_place else values[self.order]

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """Rows at these positions of the group order."""
        return positions if self.in_place else self.order[positions]


def _non_decreasing(values: np.ndarray) -> bool:
    return bool(np.all(values[1:] >= values[:-1]))


def group_by_run(codes: np.ndarray, tiebreak: np.ndarray | None = None) -> RunGroups:
    """Group rows by their run code (any integers); inside a run, rows are ordered by
    ``tiebreak`` (then by position), or by position when it is ``None``.

    A non-decreasing ``tiebreak`` (row numbers of one file, ``ord``) is position order already,
    so only the codes are sorted — and not even they when they are non-decreasing too.
    """
    codes = np.asarray(codes)
    if codes.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RunGroups(empty, empty, empty, empty)
    in_position_order = tiebreak is None or _non_decreasing(np.asarray(tiebreak))
    in_place = in_position_order and _non_decreasing(codes)
    if in_place:
        order = np.arange(codes.size, dtype=np.int64)
    elif in_position_order:
        order = np.argsort(codes, kind="stable").astype(np.int64)
    else:
        order = np.lexsort((np.asarray(tiebreak), codes)).astype(np.int64)
    sorted_codes = codes if in_place else codes[order]
    boundary = np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1
    starts = np.concatenate(([0], boundary)).astype(np.int64)
    group_of = np.zeros(codes.size, dtype=np.int64)
    group_of[boundary] = 1
    np.cumsum(group_of, out=group_of)
    return RunGroups(order, starts, group_of, sorted_codes[starts], in_place)


def _pick(groups: RunGroups, values: np.ndarray, *, largest: bool, last: bool) -> np.ndarray:
    """Row position per run of its extreme value; ties → the last (or first) in run order.

    NaN counts as the least extreme value (−∞ for a maximum, +∞ for a minimum), so every run
    gets a row even when all its values are missing.
    """
    if groups.order.size == 0:
        return groups.order
    ordered = groups.gather(np.asarray(values, dtype=float))
    missing = np.isnan(ordered)
    if missing.any():
        ordered = np.where(missing, -np.inf if largest else np.inf, ordered)
    reduce = np.maximum if largest else np.minimum
    extreme = reduce.reduceat(ordered, groups.starts)
    hits = np.flatnonzero(ordered == extreme[groups.group_of])
    run_of_hit = groups.group_of[hits]
    change = run_of_hit[1:] != run_of_hit[:-1]
    keep = np.append(change, True) if last else np.insert(change, 0, True)
    return groups.rows(hits[keep])


def last_max(groups: RunGroups, values: np.ndarray) -> np.ndarray:
    """Per run, the row with the largest value; ties → the run's last such row."""
    return _pick(groups, values, largest=True, last=True)


def first_min(groups: RunGroups, values: np.ndarray) -> np.ndarray:
    """Per run, the row with the smallest value; ties → the run's first such row."""
    return _pick(groups, values, largest=False, last=False)


def thin_curves(
    groups: RunGroups,
    position: np.ndarray,
    loss: np.ndarray,
    points_per_run: int,
    extents: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Row positions of every run's curve thinned to at most ``points_per_run`` rows, sorted.

    ``position`` is the x of the curve (step, or ``ord`` for rows without a step). A run with
    more rows is cut into ``points_per_run // 2`` buckets, log-spaced from its first to its last
    position: ``min(B − 1, ⌊ln((1 + pos) − lo) · B / ln((2 + hi) − lo)⌋)`` (the SQL's formula,
    same evaluation order); each bucket keeps its lowest-loss row (ties: the first) and its
    largest-position row (ties: the last). Shorter runs are kept whole.

    ``extents`` — ``(lo, hi, n_points)`` per group, in group order — are the runs' whole
    extents when ``position`` holds only some of their rows (thinning stored curves further
    must bucket them as the full runs were); by default they are these rows' own.
    """
    if points_per_run < 2:
        raise ValueError("points_per_run must be at least 2")
    if groups.order.size == 0:
        return groups.order
    buckets = points_per_run // 2
    position = np.asarray(position, dtype=float)
    ordered = groups.gather(position)
    if extents is None:
        lo = np.minimum.reduceat(ordered, groups.starts)
        hi = np.maximum.reduceat(ordered, groups.starts)
        sizes = groups.sizes
    else:
        lo, hi, sizes = (np.asarray(values) for values in extents)
    whole = sizes <= points_per_run
    kept = np.zeros(position.size, dtype=bool)
    rows, run, in_place = groups.order, groups.group_of, groups.in_place
    if whole.any():  # (a big log's runs are usually all long: no masks to build)
        thinned = ~whole[groups.group_of]
        kept[rows[~thinned]] = True
        rows, run, ordered, in_place = rows[thinned], run[thinned], ordered[thinned], False
    if rows.size:
        scale = buckets / np.log((2.0 + hi) - lo)
        raw = np.floor(np.log((1.0 + ordered) - lo[run]) * scale[run])
        bucket = np.minimum(buckets - 1, raw).astype(np.int64)
        # (run, bucket) as one key; the stable sort keeps run order inside a bucket
        by_bucket = group_by_run(run * buckets + bucket)
        local = RunGroups(
            rows if by_bucket.in_place else rows[by_bucket.order],
            by_bucket.starts,
            by_bucket.group_of,
            by_bucket.codes,
            in_place and by_bucket.in_place,
        )
        kept[first_min(local, loss)] = True
        kept[last_max(local, position)] = True
    return np.flatnonzero(kept)


@dataclass(frozen=True, eq=False)
class RunSummary:
    """What the store keeps per run (arrays of one entry per run, runs in order of their first
    row): ``first`` row, ``n_points``, position range ``lo``–``hi``, the ``final`` and ``best``
    rows; and ``curve_rows``, the sorted rows of the thinned curves."""

    first: np.ndarray
    n_points: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    final: np.ndarray
    best: np.ndarray
    curve_rows: np.ndarray


def summarize_runs(
    codes: np.ndarray,
    ord_: np.ndarray,
    step: np.ndarray,
    loss: np.ndarray,
    points_per_run: int,
) -> RunSummary:
    """Summaries of step-level rows (one entry per row in each array).

    ``ord_`` is the rows' order in the dataset (unique; ties of the rules below go by it):
    ``final`` = the largest step, a missing step counting as earliest, ties the later row;
    ``best`` = the lowest loss, ties the earlier row; positions are the step, or ``ord_`` where
    the step is missing.
    """
    ord_ = np.asarray(ord_, dtype=np.int64)
    step = np.asarray(step, dtype=float)
    groups = group_by_run(codes, ord_)
    missing = np.isnan(step)
    logged = not missing.any()
    position = step if logged else np.where(missing, ord_.astype(float), step)
    sizes = groups.sizes
    if groups.order.size:
        ordered = groups.gather(position)
        first = groups.rows(groups.starts)
        lo = np.minimum.reduceat(ordered, groups.starts)
        hi = np.maximum.reduceat(ordered, groups.starts)
    else:
        first, lo, hi = groups.order, np.zeros(0), np.zeros(0)
    by_first = np.argsort(ord_[first], kind="stable")
    return RunSummary(
        first=first[by_first],
        n_points=sizes[by_first],
        lo=lo[by_first],
        hi=hi[by_first],
        final=last_max(groups, step if logged else np.where(missing, -np.inf, step))[by_first],
        best=first_min(groups, loss)[by_first],
        # the extents just computed are these rows' own: thin_curves need not find them again
        curve_rows=thin_curves(groups, position, loss, points_per_run, (lo, hi, sizes)),
    )
