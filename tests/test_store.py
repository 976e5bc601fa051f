"""Tests for scaling_core.store: roundtrips, idempotence, atomicity, renames, locking."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from scaling_core.ingest import ParsedTable, parse_table
from scaling_core.schema import RunTable
from scaling_core.store import (
    DEFAULT_DATASETS,
    STORE_ENV_VAR,
    DatasetExistsError,
    DatasetNotFoundError,
    Store,
    StoreError,
    StoreLockedError,
    default_store_location,
    ensure_default_datasets,
)

REPO = Path(__file__).resolve().parent.parent

STEP_LOG = (
    b"run,arch,params,tokens,step,loss\n"
    b"a,dense,1e8,1e9,100,3.0\n"
    b"a,dense,1e8,3e9,300,2.9\n"
    b"a,dense,1e8,2e9,200,2.95\n"
    b"b,moe,2e8,1e9,100,2.8\n"
    b"b,moe,2e8,2e9,200,2.85\n"
    b"c,moe,4e8,2e9,,2.7\n"  # no step: counts as earliest
    b"c,moe,4e8,1e9,,2.75\n"
)


def parsed(data: bytes = STEP_LOG, filename: str = "log.csv") -> ParsedTable:
    result = parse_table(filename, data)
    assert isinstance(result, ParsedTable)
    return result


def assert_same_runs(a: RunTable, b: RunTable) -> None:
    assert a.run.tolist() == b.run.tolist()
    for column in ("params", "tokens", "compute", "loss"):
        np.testing.assert_array_equal(getattr(a, column), getattr(b, column), err_msg=column)
    assert a.group.tolist() == b.group.tolist()


@pytest.fixture
def store() -> Store:
    return Store.in_memory()


@pytest.mark.parametrize("reduction", ["final", "best"])
def test_sql_reduction_matches_ingest(store: Store, reduction: str) -> None:
    table = parsed()
    store.add_dataset("log", table, STEP_LOG)
    assert_same_runs(store.load_runs("log", reduction), table.run_table(reduction))


def test_reduction_values_are_the_expected_rows(store: Store) -> None:
    store.add_dataset("log", parsed(), STEP_LOG)
    final = store.load_runs("log", "final")
    assert final.loss.tolist() == [2.9, 2.85, 2.75]
    best = store.load_runs("log", "best")
    assert best.loss.tolist() == [2.9, 2.8, 2.7]
    assert best.group.tolist() == ["dense", "moe", "moe"]


def test_default_reduction_is_the_one_chosen_at_upload(store: Store) -> None:
    store.add_dataset("log", parsed(), STEP_LOG, reduction="best")
    assert store.load_runs("log").loss.tolist() == [2.9, 2.8, 2.7]


def test_add_list_and_points_roundtrip(store: Store) -> None:
    table = parsed()
    info = store.add_dataset("log", table, STEP_LOG)
    assert info.created
    assert (info.n_rows, info.n_runs) == (7, 3)
    assert info.source_filename == "log.csv"
    assert [d.name for d in store.list_datasets()] == ["log"]
    points = store.load_points("log")
    assert points.columns.tolist() == table.points.columns.tolist()
    np.testing.assert_array_equal(points["loss"], table.points["loss"])
    assert points["step"].isna().sum() == 2
    assert store.load_source("log") == ("log.csv", STEP_LOG)
    assert store.load_mapping("log")["group"] == "arch"


def test_default_datasets_roundtrip_against_ingest(store: Store) -> None:
    added = ensure_default_datasets(store)
    assert [d.name for d in added] == [name for name, _ in DEFAULT_DATASETS]
    assert ensure_default_datasets(store) == []
    for name, filename in DEFAULT_DATASETS:
        content = (REPO / "data" / filename).read_bytes()
        assert_same_runs(store.load_runs(name), parsed(content, filename).run_table("final"))
    chinchilla = store.load_runs("Chinchilla (Epoch AI reconstruction)")
    assert chinchilla.n == 245
    assert store.get_dataset("Synthetic example runs").n_rows == 260


def test_default_datasets_do_not_return_after_the_user_deletes_one(store: Store) -> None:
    ensure_default_datasets(store)
    store.delete_dataset("Synthetic example runs")
    assert ensure_default_datasets(store) == []
    assert len(store.list_datasets()) == len(DEFAULT_DATASETS) - 1


def test_identical_reupload_is_idempotent(store: Store) -> None:
    first = store.add_dataset("log", parsed(), STEP_LOG)
    again = store.add_dataset("  log ", parsed(), STEP_LOG)
    assert not again.created
    assert again.id == first.id
    assert len(store.list_datasets()) == 1
    assert store.get_dataset("log").n_rows == 7


def test_name_clash_with_different_content_is_a_clear_error(store: Store) -> None:
    store.add_dataset("log", parsed(), STEP_LOG)
    other = STEP_LOG + b"d,moe,8e8,4e9,100,2.6\n"
    with pytest.raises(DatasetExistsError, match="already exists"):
        store.add_dataset("log", parsed(other), other)
    assert store.get_dataset("log").n_rows == 7


def test_same_bytes_under_another_name_is_a_second_dataset(store: Store) -> None:
    store.add_dataset("one", parsed(), STEP_LOG)
    store.add_dataset("two", parsed(), STEP_LOG)
    assert [d.name for d in store.list_datasets()] == ["one", "two"]


def test_failure_mid_transaction_leaves_the_store_unchanged(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add_dataset("kept", parsed(), STEP_LOG)

    def explode(*args: object) -> None:
        raise RuntimeError("disk full")

    # datasets and sources rows are inserted before the points: all must roll back
    monkeypatch.setattr(Store, "_insert_points", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        store.add_dataset("lost", parsed(), STEP_LOG)
    monkeypatch.undo()
    assert [d.name for d in store.list_datasets()] == ["kept"]
    with pytest.raises(DatasetNotFoundError):
        store.load_source("lost")
    assert len(store.load_points("kept")) == 7
    store.add_dataset("lost", parsed(), STEP_LOG)  # the name is free again
    assert len(store.list_datasets()) == 2


def test_delete_removes_dataset_points_and_source(store: Store) -> None:
    store.add_dataset("a", parsed(), STEP_LOG)
    store.add_dataset("b", parsed(), STEP_LOG)
    store.delete_dataset("a")
    assert [d.name for d in store.list_datasets()] == ["b"]
    with pytest.raises(DatasetNotFoundError, match="no dataset is named 'a'"):
        store.load_runs("a")
    assert len(store.load_points("b")) == 7
    with pytest.raises(DatasetNotFoundError):
        store.delete_dataset("a")


def test_rename(store: Store) -> None:
    store.add_dataset("a", parsed(), STEP_LOG)
    store.add_dataset("b", parsed(), STEP_LOG)
    renamed = store.rename_dataset("a", "c")
    assert renamed.name == "c"
    assert sorted(d.name for d in store.list_datasets()) == ["b", "c"]
    assert store.load_runs("c").n == 3
    with pytest.raises(DatasetExistsError):
        store.rename_dataset("c", "b")
    with pytest.raises(DatasetNotFoundError):
        store.rename_dataset("a", "d")
    with pytest.raises(StoreError, match="non-empty"):
        store.rename_dataset("c", "   ")


@pytest.mark.parametrize(
    "name",
    [
        "x'); DROP TABLE datasets; --",
        "<script>alert(1)</script>",
        'quote " and \\ backslash',
        "名前 ✓",
    ],
)
def test_hostile_names_are_stored_as_plain_data(store: Store, name: str) -> None:
    store.add_dataset(name, parsed(), STEP_LOG)
    assert [d.name for d in store.list_datasets()] == [name]
    assert store.load_runs(name).n == 3
    store.rename_dataset(name, name + " 2")
    store.delete_dataset(name + " 2")
    assert store.list_datasets() == []


def test_control_characters_in_names_are_rejected(store: Store) -> None:
    with pytest.raises(StoreError, match="control characters"):
        store.add_dataset("bad\nname", parsed(), STEP_LOG)


def test_unknown_reduction_is_rejected(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown reduction"):
        store.add_dataset("log", parsed(), STEP_LOG, reduction="mean")  # type: ignore[arg-type]


def test_file_store_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "s.duckdb"
    with Store.open(str(path)) as first:
        first.add_dataset("log", parsed(), STEP_LOG)
    with Store.open(str(path)) as second:
        assert [d.name for d in second.list_datasets()] == ["log"]
        assert second.load_runs("log").n == 3


def test_location_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(STORE_ENV_VAR, raising=False)
    assert default_store_location() == str(REPO / "data" / "scalescope.duckdb")
    target = tmp_path / "env.duckdb"
    monkeypatch.setenv(STORE_ENV_VAR, str(target))
    with Store.open() as store:
        assert store.location == str(target)
    assert target.exists()


def test_second_process_holding_the_file_raises_store_locked(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    holder = textwrap.dedent(
        f"""
        import sys, duckdb
        connection = duckdb.connect({str(path)!r})
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError) as info:
            Store.open(str(path))
        message = str(info.value)
        assert str(path) in message
        assert "another Scalescope process" in message
        assert STORE_ENV_VAR in message
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def test_a_version_1_store_is_migrated_on_open(tmp_path) -> None:
    """Stores written before the downstream-metric column open, gain it, and keep their data."""
    import duckdb

    path = str(tmp_path / "v1.duckdb")
    with duckdb.connect(path) as old:
        old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        old.execute("INSERT INTO schema_version VALUES (1)")
        old.execute(
            "CREATE TABLE points (dataset_id BIGINT NOT NULL, row_number BIGINT NOT NULL, "
            "run VARCHAR NOT NULL, params DOUBLE NOT NULL, tokens DOUBLE, flops DOUBLE, "
            "loss DOUBLE NOT NULL, train_loss DOUBLE, val_loss DOUBLE, step DOUBLE, "
            "batch_size DOUBLE, learning_rate DOUBLE, grp VARCHAR)"
        )
    with Store.open(path) as store:
        store.add_dataset("after", parsed(), STEP_LOG)
        assert len(store.load_points("after")) > 0
        assert "metric" in store.load_points("after").columns
    with duckdb.connect(path) as check:
        assert check.execute("SELECT version FROM schema_version").fetchall() == [(3,)]


def test_downstream_metric_column_round_trips() -> None:
    from scaling_core.ingest import parse_table

    data = (
        b"run,params,tokens,loss,accuracy\na,1e8,2e9,3.0,0.3\nb,2e8,4e9,2.8,0.35\nc,4e8,8e9,2.6,0\n"
    )
    table = parse_table("acc.csv", data)
    with Store.in_memory() as store:
        store.add_dataset("acc", table, data)
        np.testing.assert_allclose(store.load_runs("acc").metric, [0.3, 0.35, 0.0])
