"""scaling_core.run_summary against plain-Python references (hypothesis).

The vectorised grouping, the reduction picks and the curve thinning are what the store keeps
for every dataset, so each is checked against a row-by-row implementation of its rule on
random logs: interleaved runs, tied values, missing steps, runs shorter and longer than the
thinning resolution.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_core.run_summary import (
    first_min,
    group_by_run,
    last_max,
    summarize_runs,
    thin_curves,
)


def by_run(codes: list[int], order_key: list[int]) -> dict[int, list[int]]:
    """Row positions per run code, each run's rows ordered by (order_key, position)."""
    runs: dict[int, list[int]] = defaultdict(list)
    for position in sorted(range(len(codes)), key=lambda p: (order_key[p], p)):
        runs[codes[position]].append(position)
    return dict(sorted(runs.items()))


def reference_pick(rows: list[int], values: list[float], largest: bool, last: bool) -> int:
    fill = -math.inf if largest else math.inf
    clean = [fill if math.isnan(values[r]) else values[r] for r in rows]
    best = max(clean) if largest else min(clean)
    hits = [r for r, v in zip(rows, clean, strict=True) if v == best]
    return hits[-1] if last else hits[0]


def reference_thin(rows: list[int], position: list[float], loss: list[float], per_run: int):
    """One run's kept rows, by the documented formula, with math.log."""
    if len(rows) <= per_run:
        return set(rows)
    buckets = per_run // 2
    lo = min(position[r] for r in rows)
    hi = max(position[r] for r in rows)
    scale = buckets / math.log((2.0 + hi) - lo)
    groups: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        bucket = min(buckets - 1, math.floor(math.log((1.0 + position[r]) - lo) * scale))
        groups[bucket].append(r)
    kept = set()
    for members in groups.values():
        kept.add(reference_pick(members, loss, largest=False, last=False))
        kept.add(reference_pick(members, position, largest=True, last=True))
    return kept


logs = st.lists(
    st.tuples(
        st.integers(0, 5),  # run code
        st.one_of(st.none(), st.integers(0, 400)),  # step (None = not logged)
        st.sampled_from([2.0, 2.5, 3.0, 3.25, 4.0, float("nan")]),  # loss, ties and NaN
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=logs, shuffle_ties=st.booleans(), grouped=st.booleans())
def test_group_picks_match_a_row_by_row_reference(data, shuffle_ties: bool, grouped) -> None:
    if grouped:  # rows already grouped by run, in order: the in-place path
        data = sorted(data, key=lambda row: row[0])
    codes = [code for code, _, _ in data]
    step = [math.nan if s is None else float(s) for _, s, _ in data]
    loss = [value for _, _, value in data]
    # a tiebreak in file order, or one that disagrees with it (row numbers out of order)
    tiebreak = list(range(len(data)))[::-1] if shuffle_ties else list(range(len(data)))
    groups = group_by_run(np.array(codes), np.array(tiebreak))
    expected = by_run(codes, tiebreak)
    assert groups.codes.tolist() == list(expected)
    assert groups.sizes.tolist() == [len(rows) for rows in expected.values()]
    final = last_max(groups, np.where(np.isnan(step), -np.inf, step))
    best = first_min(groups, np.array(loss))
    for index, rows in enumerate(expected.values()):
        assert final[index] == reference_pick(rows, step, largest=True, last=True)
        assert best[index] == reference_pick(rows, loss, largest=False, last=False)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=logs, per_run=st.integers(2, 12), grouped=st.booleans())
def test_thinning_matches_a_row_by_row_reference(data, per_run: int, grouped: bool) -> None:
    if grouped:  # grouped by run with increasing steps: every in-place path
        data = sorted(data, key=lambda row: (row[0], -1 if row[1] is None else row[1]))
    codes = [code for code, _, _ in data]
    position = [float(i) if s is None else float(s) for i, (_, s, _) in enumerate(data)]
    loss = [3.0 if math.isnan(value) else value for _, _, value in data]
    order = list(range(len(data)))
    kept = thin_curves(group_by_run(np.array(codes), np.array(order)), np.array(position),
                       np.array(loss), per_run)  # fmt: skip
    expected: set[int] = set()
    for rows in by_run(codes, order).values():
        expected |= reference_thin(rows, position, loss, per_run)
    assert kept.tolist() == sorted(expected)
    for rows in by_run(codes, order).values():  # never more than asked for
        assert len(set(rows) & set(kept.tolist())) <= per_run


@settings(max_examples=100, deadline=None, derandomize=True)
@given(data=logs)
def test_summaries_follow_the_documented_rules(data) -> None:
    n = len(data)
    codes = np.array([code for code, _, _ in data])
    ord_ = np.arange(10, 10 + n)  # a later file of a dataset: ord does not start at 0
    step = np.array([np.nan if s is None else float(s) for _, s, _ in data])
    loss = np.array([3.0 if math.isnan(v) else v for _, _, v in data])
    summary = summarize_runs(codes, ord_, step, loss, 4)
    runs = by_run(codes.tolist(), ord_.tolist())
    ordered = sorted(runs.values(), key=lambda rows: rows[0])  # by first row
    assert summary.first.tolist() == [rows[0] for rows in ordered]
    assert summary.n_points.tolist() == [len(rows) for rows in ordered]
    position = np.where(np.isnan(step), ord_.astype(float), step)
    assert summary.lo.tolist() == [min(position[rows]) for rows in ordered]
    assert summary.hi.tolist() == [max(position[rows]) for rows in ordered]
    steps = step.tolist()
    assert summary.final.tolist() == [
        reference_pick(rows, steps, largest=True, last=True) for rows in ordered
    ]
    assert summary.best.tolist() == [
        reference_pick(rows, loss.tolist(), largest=False, last=False) for rows in ordered
    ]


def test_a_million_rows_summarise_with_every_run_present() -> None:
    """The shape of a big sweep (runs contiguous, steps increasing): every run has a final row
    at its last step, a best row, and a thinned curve with both of its ends."""
    runs, steps = 400, 2_500
    codes = np.repeat(np.arange(runs), steps)
    step = np.tile(np.arange(1, steps + 1, dtype=float), runs)
    loss = 2 + 1 / step + 0.01 * np.sin(np.arange(codes.size))
    summary = summarize_runs(codes, np.arange(codes.size), step, loss, 200)
    assert summary.n_points.tolist() == [steps] * runs
    assert (step[summary.final] == steps).all()
    kept_step = step[summary.curve_rows]
    kept_run = codes[summary.curve_rows]
    per_run = np.bincount(kept_run, minlength=runs)
    assert (per_run <= 200).all() and (per_run >= 100).all()
    assert set(kept_step[kept_run == 0]) >= {1.0, float(steps)}


def test_thinning_refuses_fewer_than_two_points() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        thin_curves(group_by_run(np.zeros(3, int)), np.arange(3.0), np.ones(3), 1)


def test_empty_input_gives_empty_summaries() -> None:
    empty = np.zeros(0)
    summary = summarize_runs(empty.astype(int), empty.astype(int), empty, empty, 200)
    assert summary.first.size == summary.curve_rows.size == 0
