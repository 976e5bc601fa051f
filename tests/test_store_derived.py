"""The per-run rows and curves every write stores, checked against SQL over the stored points.

The store derives them in numpy from the rows being written (``store_arrow.derived_tables``);
these tests hold that equal to independent SQL run on the points afterwards — an aggregation
written the way the store computed them before (``arg_max``/``arg_min`` per run) and the
store's own on-request thinning query — on random logs, after a first file and after an
append that continues some runs and adds others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaling_core import store as store_module
from scaling_core.ingest import ParsedTable, parse_table
from scaling_core.store import Store

RUNS_BY_SQL = """
    SELECT run, arg_min(params, ord) AS params, min(ord) AS first_ord, count(*) AS n_points,
           min(coalesce(step, ord::DOUBLE)) AS lo, max(coalesce(step, ord::DOUBLE)) AS hi,
           arg_max([tokens, flops, loss, metric], (coalesce(step, '-inf'::DOUBLE), ord)) AS f,
           arg_min([tokens, flops, loss, metric], (loss, ord)) AS b,
           arg_max(grp, (coalesce(step, '-inf'::DOUBLE), ord)) AS f_grp,
           arg_min(grp, (loss, ord)) AS b_grp
    FROM points WHERE dataset_key = ? GROUP BY run ORDER BY first_ord"""
STORED_RUNS = """
    SELECT run, params, first_ord, n_points, lo, hi,
           [final_tokens, final_flops, final_loss, final_metric],
           [best_tokens, best_flops, best_loss, best_metric], final_grp, best_grp
    FROM runs WHERE dataset_id = ? ORDER BY first_ord"""


def parsed(data: bytes, filename: str = "log.csv") -> ParsedTable:
    result = parse_table(filename, data)
    assert isinstance(result, ParsedTable), result
    return result


def log_file(rows: list[tuple[str, int | None, float, str]], sizes: dict[str, float]) -> bytes:
    lines = ["run,arch,params,tokens,step,loss,accuracy"]
    for index, (run, step, loss, arch) in enumerate(rows):
        accuracy = "" if index % 3 == 0 else f"{0.1 + index % 7 / 10:.2f}"
        lines.append(f"{run},{arch},{sizes[run]:g},{(index + 1) * 1e9:g},"
                     f"{'' if step is None else step},{loss},{accuracy}")  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


def rows_of(run_names: str, max_size: int) -> st.SearchStrategy:
    """Rows (run, step, loss, arch); a run logs each step at most once, as ingest requires."""
    return st.lists(
        st.tuples(
            st.sampled_from(run_names),
            st.one_of(st.none(), st.integers(0, 3000)),
            st.sampled_from([2.5, 2.75, 3.0, 3.5, 4.125]),
            st.sampled_from(["dense", "moe"]),
        ),
        min_size=1,
        max_size=max_size,
        unique_by=lambda row: (row[0], row[1]) if row[1] is not None else object(),
    )


def check_derived(store: Store, name: str) -> None:
    info = store.get_dataset(name)
    with store._read() as cursor:
        expected = cursor.execute(RUNS_BY_SQL, [info.key]).fetchall()
        stored = cursor.execute(STORED_RUNS, [info.id]).fetchall()
    assert stored == expected
    computed_on_request = store.load_curves(name)  # the stored blob
    with pytest.MonkeyPatch.context() as patch:  # force the SQL thinning from the points
        patch.setattr(store_module, "CURVE_POINTS_PER_RUN", 2)
        by_sql = store.load_curves(name, max_points_per_run=200)
    pd.testing.assert_frame_equal(computed_on_request, by_sql)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    first=rows_of("abc", 300),
    second=rows_of("cd", 120),
    long_run=st.integers(0, 900),
)
def test_stored_runs_and_curves_equal_sql_over_the_points(first, second, long_run) -> None:
    """Runs long enough to be thinned (a 200-point curve) and short ones, a first file and an
    append that continues run c and adds run d."""
    sizes = {"a": 1e8, "b": 2e8, "c": 4e8, "d": 8e8, "long": 3e8}
    long_rows = [("long", step, 2 + 5 / (step + 1), "dense") for step in range(long_run)]
    store = Store.in_memory()
    first_file = log_file(long_rows + first, sizes)
    store.add_dataset("log", parsed(first_file), first_file)
    check_derived(store, "log")
    second_steps = {(run, step) for run, step, _, _ in first if step is not None}
    continued = [row for row in second if (row[0], row[1]) not in second_steps]
    if continued:
        second_file = log_file(continued, sizes)
        store.add_dataset("log", parsed(second_file, "more.csv"), second_file, mode="append")
        check_derived(store, "log")


def test_an_append_rewrites_only_the_runs_it_touches() -> None:
    store = Store.in_memory()
    steps = np.arange(1, 701)
    lines = ["run,params,tokens,step,loss"]
    for run, size in (("kept", 1e8), ("grown", 2e8)):
        lines += [f"{run},{size:g},{s * 1e6:g},{s},{2 + 3 / s**0.5:.6f}" for s in steps]
    first = ("\n".join(lines) + "\n").encode()
    store.add_dataset("log", parsed(first), first)
    before = store.load_curves("log")
    more = b"run,params,tokens,step,loss\ngrown,2e8,9e9,9000,2.01\nnew,4e8,1e9,10,3.3\n"
    store.add_dataset("log", parsed(more, "more.csv"), more, mode="append")
    after = store.load_curves("log")
    kept_before = before[before["run"] == "kept"].reset_index(drop=True)
    kept_after = after[after["run"] == "kept"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept_before, kept_after)
    grown = after[after["run"] == "grown"]
    assert grown["step"].iloc[-1] == 9000 and len(grown) <= 200
    assert after["run"].drop_duplicates().tolist() == ["kept", "grown", "new"]
    runs = store.load_runs("log")
    assert runs.run.tolist() == ["kept", "grown", "new"]
    assert runs.loss.tolist()[1] == 2.01
    check_derived(store, "log")


@pytest.mark.parametrize("per_run", [2, 7, 40, 150])
def test_fewer_points_per_run_equal_the_sql_rule_over_the_stored_rows(per_run: int) -> None:
    """Thinning the stored curves further (numpy) buckets by each run's whole extent, as the
    store's SQL thinning does when given the stored rows in place of the points."""
    import pyarrow as pa

    from scaling_core.store_arrow import read_curves_blob

    rng = np.random.default_rng(per_run)
    lines = ["run,params,tokens,step,loss"]
    for run, size, steps in (("a", 1e8, 900), ("b", 2e8, 120), ("c", 4e8, 3), ("d", 8e8, 500)):
        chosen = np.sort(rng.choice(np.arange(1, 5000), size=steps, replace=False))
        loss = np.round(2 + 4 / chosen**0.3 + rng.choice([0, 0.01], size=steps), 4)
        lines += [f"{run},{size:g},{s * 1e6:g},{s},{v}" for s, v in zip(chosen, loss, strict=True)]
    data = ("\n".join(lines) + "\n").encode()
    store = Store.in_memory()
    store.add_dataset("log", parsed(data), data)
    info = store.get_dataset("log")
    with store._read() as cursor:
        blob = cursor.execute("SELECT content FROM curves WHERE dataset_id = ?", [info.id])
        stored = read_curves_blob(blob.fetchone()[0])
        keys = pa.array([info.key] * stored.num_rows, pa.int64())
        cursor.register("stored_curves", stored.append_column("dataset_key", keys))
        query = (
            'SELECT run, step, tokens, flops, loss, params, grp AS "group" FROM ('
            + store_module._CURVES_THINNED.format(rows="stored_curves")
            + ") ORDER BY first_ord, pos, ord"
        )
        buckets = per_run // 2
        by_sql = cursor.execute(
            query, [per_run, buckets, info.id, buckets, info.key, info.key]
        ).df()
        cursor.unregister("stored_curves")
    for column in ("run", "group"):
        by_sql[column] = by_sql[column].astype(object)
    pd.testing.assert_frame_equal(store.load_curves("log", max_points_per_run=per_run), by_sql)
