"""The store under concurrent writers and crashes: threads of one process, and ``kill -9``.

Why these tests exist: the store promises that an upload is all-or-nothing and that one
(workspace, name) holds one dataset even though neither backend enforces uniqueness (DuckLake
has no UNIQUE constraint, so the store checks names inside the write transaction and makes
writers conflict on one row). These tests break that promise if the write lock, the retry
loop or the transaction boundaries are wrong.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from scaling_core.ingest import ParsedTable, parse_table
from scaling_core.store import DatasetExistsError, Store

REPO = Path(__file__).resolve().parent.parent
N_THREADS = 16


def step_log(seed: int, rows: int = 1500) -> bytes:
    """A distinct step log per seed: 10 runs, ``rows`` evaluations."""
    lines = ["run,params,tokens,step,loss"]
    for i in range(rows):
        run = i % 10
        step = i // 10 + 1
        lines.append(f"s{seed}-r{run},{(run + 1) * 1e8:g},{step * 1e7:g},{step},{3 + 1 / step}")
    return ("\n".join(lines) + "\n").encode()


def parsed(data: bytes) -> ParsedTable:
    result = parse_table("log.csv", data)
    assert isinstance(result, ParsedTable)
    return result


def run_threads(target, count: int = N_THREADS) -> list[BaseException]:
    """Start ``count`` threads together (a barrier) and return every exception they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        barrier.wait()
        try:
            target(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer thread hung"
    return errors


def orphans(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows of points/runs/sources/curves whose dataset does not exist (must all be 0)."""
    owners = {"points": ("dataset_key", "key"), "runs": ("dataset_id", "id"),
              "sources": ("dataset_id", "id"), "curves": ("dataset_id", "id")}  # fmt: skip
    return {
        table: connection.execute(
            f"SELECT count(*) FROM {table} WHERE {column} NOT IN (SELECT {key} FROM datasets)"
        ).fetchone()[0]
        for table, (column, key) in owners.items()
    }


def test_sixteen_threads_uploading_at_once_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "threads.duckdb")
    payloads = [step_log(i) for i in range(N_THREADS)]
    tables = [parsed(data) for data in payloads]
    store = Store.open(path)
    infos: dict[int, object] = {}

    def upload(index: int) -> None:
        infos[index] = store.add_dataset(f"upload {index}", tables[index], payloads[index])

    errors = run_threads(upload)
    assert errors == []
    assert sorted(d.name for d in store.list_datasets()) == sorted(
        f"upload {i}" for i in range(N_THREADS)
    )
    for index in range(N_THREADS):
        info = store.get_dataset(f"upload {index}")
        assert (info.n_rows, info.n_runs) == (1500, 10)
        points = store.load_points(f"upload {index}")
        assert len(points) == 1500
        assert set(points["run"]) == {f"s{index}-r{r}" for r in range(10)}
        assert store.load_source(f"upload {index}") == ("log.csv", payloads[index])
    store.close()
    with duckdb.connect(path) as check:
        total, distinct = check.execute(
            "SELECT count(*), count(DISTINCT (dataset_key, ord)) FROM points"
        ).fetchone()
        assert total == distinct == N_THREADS * 1500
        assert check.execute("SELECT count(*) FROM runs").fetchone() == (N_THREADS * 10,)
        assert check.execute("SELECT count(*) FROM sources").fetchone() == (N_THREADS,)
        assert not any(orphans(check).values()), orphans(check)


def test_sixteen_threads_racing_for_one_name_leave_exactly_one_dataset(tmp_path: Path) -> None:
    payloads = [step_log(i, rows=600) for i in range(N_THREADS)]
    tables = [parsed(data) for data in payloads]
    store = Store.open(str(tmp_path / "race.duckdb"))
    winners: list[int] = []

    def race(index: int) -> None:
        try:
            store.add_dataset("shared", tables[index], payloads[index])
            winners.append(index)
        except DatasetExistsError:
            pass

    assert run_threads(race) == []
    assert len(winners) == 1
    assert [d.name for d in store.list_datasets()] == ["shared"]
    assert store.load_source("shared")[1] == payloads[winners[0]]
    assert len(store.load_points("shared")) == 600

    # the same bytes from every thread: one creates it, the others find it stored
    same = step_log(99, rows=600)
    created: list[bool] = []

    def same_bytes(index: int) -> None:
        created.append(store.add_dataset("same", parsed(same), same).created)

    assert run_threads(same_bytes) == []
    assert sorted(created) == [False] * (N_THREADS - 1) + [True]
    assert store.get_dataset("same").n_rows == 600
    store.close()


KILLED_INGEST = textwrap.dedent(
    """
    import dataclasses, sys, time
    import numpy as np
    sys.path.insert(0, {repo!r})
    from scaling_core.ingest import parse_table
    from scaling_core.store import Store

    path, moment = sys.argv[1], sys.argv[2]
    n = 1_000_000
    small = parse_table("big.csv", b"run,params,tokens,step,loss\\na,1e8,1e9,1,3.0\\n")
    rng = np.random.default_rng(0)
    run = np.array([f"run {{i}}" for i in range(200)], dtype=object)[np.arange(n) % 200]
    columns = dict(small.columns)
    columns.update(
        row_number=np.arange(2, n + 2, dtype=np.int64),
        run=run,
        params=(np.arange(n) % 200 + 1) * 1e8,
        tokens=np.arange(1, n + 1, dtype=float) * 1e6,
        flops=np.full(n, np.nan),
        loss=2 + rng.random(n),
        step=np.arange(1, n + 1, dtype=float),
    )
    for name in ("train_loss", "val_loss", "batch_size", "learning_rate", "metric"):
        columns[name] = np.full(n, np.nan)
    columns["group"] = np.full(n, None, dtype=object)
    big = dataclasses.replace(small, columns=columns)
    content = rng.bytes(20_000_000)  # a large original file

    store = Store.open(path)
    if moment == "after-points":  # the points, the file's bytes and the summaries written
        write_derived = Store._write_derived

        def write_then_hang(*args):
            write_derived(*args)
            print("points-written", flush=True)
            time.sleep(600)

        Store._write_derived = staticmethod(write_then_hang)
    print("ingest-starts", flush=True)
    store.add_dataset("big", big, content)
    print("committed", flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize(
    ("moment", "delay"), [("after-points", 0.0), ("timed", 0.8), ("timed", 2.0)]
)
def test_kill_9_during_a_large_ingest_leaves_a_consistent_store(
    tmp_path: Path, moment: str, delay: float
) -> None:
    """Killed inside the transaction (after 1M points were written, or at a fixed moment):
    the store opens afterwards, and holds either the whole dataset or none of it."""
    import time

    path = str(tmp_path / "killed.duckdb")
    kept = step_log(1, rows=300)
    with Store.open(path) as store:
        store.add_dataset("kept", parsed(kept), kept)
    script = tmp_path / "ingest.py"
    script.write_text(KILLED_INGEST.format(repo=str(REPO)))
    process = subprocess.Popen(
        [sys.executable, str(script), path, moment],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        wanted = "points-written" if moment == "after-points" else "ingest-starts"
        seen = []
        while not seen or seen[-1] != wanted:
            line = process.stdout.readline()
            assert line, (seen, process.stderr.read() if process.poll() is not None else "")
            seen.append(line.strip())
        time.sleep(delay)
    finally:
        process.kill()  # SIGKILL: no cleanup, no rollback, no atexit
        process.wait(timeout=30)
    assert process.returncode == -9

    with Store.open(path) as store:  # opens (WAL replayed or discarded), no traceback
        names = [d.name for d in store.list_datasets()]
        assert names in (["kept"], ["kept", "big"])
        if moment == "after-points":
            assert names == ["kept"]  # killed before COMMIT: nothing of it may remain
        if "big" in names:
            assert store.get_dataset("big").n_rows == 1_000_000
        assert len(store.load_points("kept")) == 300
        for name in names:  # every original is there (and readable) …
            assert store.load_sources(name)
        files = store.source_files
        assert files is not None  # … and no file of a killed upload is left behind
        assert len(files.digests()) == len(names) and not list(files.directory.glob(".*"))
        store.add_dataset("after", parsed(step_log(2, rows=50)), step_log(2, rows=50))
    with duckdb.connect(path) as check:
        assert not any(orphans(check).values()), orphans(check)
        per_dataset = check.execute(
            "SELECT d.name, d.n_rows, (SELECT count(*) FROM points p WHERE p.dataset_key = d.key) "
            "FROM datasets d"
        ).fetchall()
        assert all(n_rows == stored for _name, n_rows, stored in per_dataset)


def test_rows_of_a_write_torn_during_its_commit_are_removed_on_open(tmp_path: Path) -> None:
    """What the kill -9 test met once in a few dozen runs: DuckDB replayed part of a killed
    commit's write-ahead log, so an upload's points stood without its datasets row. Built
    here directly: points of no dataset, an append's points beyond its dataset's rows, and
    an orphaned source and runs row. Opening the store removes them and re-derives."""
    path = str(tmp_path / "torn.duckdb")
    kept = step_log(1, rows=300)
    with Store.open(path) as store:
        store.add_dataset("kept", parsed(kept), kept)
        expected_runs = store.load_runs("kept").loss.tolist()
        expected_curves = store.load_curves("kept")
    with duckdb.connect(path) as torn:
        torn.execute("INSERT INTO points SELECT 2, * EXCLUDE (dataset_key) FROM points")
        torn.execute(
            "INSERT INTO points SELECT dataset_key, ord + 300, * EXCLUDE (dataset_key, ord) "
            "FROM points WHERE dataset_key = 1 AND ord < 40"
        )  # an append's rows whose counts never committed
        torn.execute("UPDATE runs SET final_loss = 99 WHERE run = (SELECT min(run) FROM runs)")
        torn.execute("INSERT INTO runs SELECT 'gone', * EXCLUDE (dataset_id) FROM runs LIMIT 1")
        torn.execute(
            "INSERT INTO sources SELECT id, dataset_id, 1, * EXCLUDE (id, dataset_id, position) "
            "FROM sources"
        )
    with Store.open(path) as store:
        assert store.load_runs("kept").loss.tolist() == expected_runs
        pd.testing.assert_frame_equal(store.load_curves("kept"), expected_curves)
        assert len(store.load_points("kept")) == 300
        assert store.load_sources("kept") == [("log.csv", kept)]
    with duckdb.connect(path) as check:
        assert not any(orphans(check).values()), orphans(check)
        assert check.execute("SELECT count(*) FROM points").fetchone() == (300,)
