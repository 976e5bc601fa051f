"""Tests for scaling_core.store: roundtrips, idempotence, atomicity, renames, locking."""

from __future__ import annotations

import dataclasses
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
    SCHEMA_VERSION,
    STORE_ENV_VAR,
    DatasetExistsError,
    DatasetNotFoundError,
    Store,
    StoreBusyError,
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

    # points and sources rows are inserted before the derived rows: all must roll back
    monkeypatch.setattr(Store, "_write_derived", explode)
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
        assert check.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_downstream_metric_column_round_trips() -> None:
    from scaling_core.ingest import parse_table

    data = (
        b"run,params,tokens,loss,accuracy\na,1e8,2e9,3.0,0.3\nb,2e8,4e9,2.8,0.35\nc,4e8,8e9,2.6,0\n"
    )
    table = parse_table("acc.csv", data)
    with Store.in_memory() as store:
        store.add_dataset("acc", table, data)
        np.testing.assert_allclose(store.load_runs("acc").metric, [0.3, 0.35, 0.0])


# -- v3: migration from version 2 ---------------------------------------------------------------

V2_DDL = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE SEQUENCE dataset_ids START 1",
    """CREATE TABLE datasets (id BIGINT PRIMARY KEY, name VARCHAR NOT NULL UNIQUE,
        source_filename VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, reduction VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, n_rows BIGINT NOT NULL, n_runs BIGINT NOT NULL,
        mapping_json VARCHAR NOT NULL)""",
    """CREATE TABLE points (dataset_id BIGINT NOT NULL, row_number BIGINT NOT NULL,
        run VARCHAR NOT NULL, params DOUBLE NOT NULL, tokens DOUBLE, flops DOUBLE,
        loss DOUBLE NOT NULL, train_loss DOUBLE, val_loss DOUBLE, step DOUBLE,
        batch_size DOUBLE, learning_rate DOUBLE, grp VARCHAR, metric DOUBLE)""",
    """CREATE TABLE sources (dataset_id BIGINT PRIMARY KEY, filename VARCHAR NOT NULL,
        content BLOB NOT NULL)""",
)


def build_v2_store(path: str, datasets: dict[str, tuple[bytes, str]]) -> None:
    """A version-2 file written the way Scalescope 2 wrote it (old DDL, sequence ids)."""
    import hashlib
    import json

    import duckdb

    with duckdb.connect(path) as old:
        for statement in V2_DDL:
            old.execute(statement)
        old.execute("INSERT INTO schema_version VALUES (2)")
        for name, (data, reduction) in datasets.items():
            table = parsed(data)
            dataset_id = old.execute("SELECT nextval('dataset_ids')").fetchone()[0]
            old.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, ?, ?, ?)",
                [dataset_id, name, "log.csv", hashlib.sha256(data).hexdigest(), reduction,
                 table.n_rows, table.n_runs, json.dumps(table.mapping)],
            )  # fmt: skip
            old.execute("INSERT INTO sources VALUES (?, ?, ?)", [dataset_id, "log.csv", data])
            points = table.points.rename(columns={"group": "grp"})
            old.register("incoming", points)
            old.execute(
                "INSERT INTO points SELECT ?, row_number, run, params, tokens, flops, loss, "
                "train_loss, val_loss, step, batch_size, learning_rate, grp, metric FROM incoming",
                [dataset_id],
            )
            old.unregister("incoming")


OTHER_LOG = STEP_LOG + b"d,moe,8e8,4e9,100,2.6\n"


def test_a_version_2_store_is_migrated_keeping_every_dataset(tmp_path: Path) -> None:
    import hashlib

    import duckdb

    path = str(tmp_path / "v2.duckdb")
    build_v2_store(path, {"first": (STEP_LOG, "final"), "second <b>": (OTHER_LOG, "best")})
    with Store.open(path) as store:
        infos = store.list_datasets()
        assert [d.name for d in infos] == ["first", "second <b>"]
        assert [d.reduction for d in infos] == ["final", "best"]
        assert [d.sha256 for d in infos] == [
            hashlib.sha256(STEP_LOG).hexdigest(),
            hashlib.sha256(OTHER_LOG).hexdigest(),
        ]
        assert all(len(d.id) == 32 and int(d.id, 16) >= 0 for d in infos)  # uuid hex
        assert [(d.n_rows, d.n_runs, d.n_sources) for d in infos] == [(7, 3, 1), (8, 4, 1)]
        for name, data in (("first", STEP_LOG), ("second <b>", OTHER_LOG)):
            for reduction in ("final", "best"):
                assert_same_runs(
                    store.load_runs(name, reduction), parsed(data).run_table(reduction)
                )
            assert store.load_source(name) == ("log.csv", data)
            assert store.load_mapping(name)["group"] == "arch"
        # the migrated store takes appends and new datasets like a new one
        store.add_dataset("first", parsed(OTHER_LOG), OTHER_LOG, mode="append")
        assert store.get_dataset("first").n_sources == 2
        # rows numbered 0 … n-1 by the migration, so the appended file's rows follow them
        points = store.load_points("first")
        assert points["row_number"].tolist()[:7] == list(range(2, 9))
        runs = store.load_runs("first").run.tolist()
        assert store.load_curves("first")["run"].drop_duplicates().tolist() == runs
        store.add_dataset("third", parsed(), STEP_LOG)
    with duckdb.connect(path) as check:
        assert check.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        tables = {
            row[0] for row in check.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        assert not {"datasets_v2", "points_v2", "sources_v2", "id_map_v3"} & tables
        keys = check.execute("SELECT name, key FROM datasets ORDER BY key").fetchall()
        assert keys == [("first", 1), ("second <b>", 2), ("third", 3)]  # the old ids, then max + 1
        assert check.execute("SELECT count(*) FROM duckdb_sequences()").fetchone() == (0,)


def test_a_failed_migration_leaves_the_version_2_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    from scaling_core import store as store_module

    path = str(tmp_path / "v2.duckdb")
    build_v2_store(path, {"first": (STEP_LOG, "final")})
    broken = (*store_module._MIGRATE_TO_V3[:-3], "SELECT no_such_column FROM points")
    monkeypatch.setattr(store_module, "_MIGRATE_TO_V3", broken)
    with pytest.raises(StoreError, match="cannot prepare the store"):
        Store.open(path)
    with duckdb.connect(path) as check:
        assert check.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
        assert check.execute("SELECT id, name FROM datasets").fetchall() == [(1, "first")]
        assert check.execute("SELECT count(*) FROM points").fetchone() == (7,)
    monkeypatch.undo()
    with Store.open(path) as store:  # and the real migration still works afterwards
        assert [d.name for d in store.list_datasets()] == ["first"]


def test_a_store_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    import duckdb

    path = str(tmp_path / "future.duckdb")
    with duckdb.connect(path) as future:
        future.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        future.execute("INSERT INTO schema_version VALUES (99)")
    with pytest.raises(StoreError, match="schema version 99, newer"):
        Store.open(path)


# -- workspaces ---------------------------------------------------------------------------------


def test_workspaces_keep_their_datasets_apart(store: Store) -> None:
    assert store.list_workspaces() == ["default"]
    assert store.create_workspace("  team a ") == "team a"
    assert store.create_workspace("team a") == "team a"  # idempotent
    store.add_dataset("log", parsed(), STEP_LOG)
    other = store.add_dataset("log", parsed(OTHER_LOG), OTHER_LOG, workspace="team a")
    assert other.workspace == "team a" and other.n_runs == 4
    store.add_dataset("only b", parsed(), STEP_LOG, workspace="team b")  # created on first use
    assert store.list_workspaces() == ["default", "team a", "team b"]
    assert [d.n_runs for d in store.list_datasets()] == [3]
    assert [d.name for d in store.list_datasets(workspace="team b")] == ["only b"]
    assert store.load_runs("log", workspace="team a").n == 4
    with pytest.raises(DatasetNotFoundError, match="in workspace 'team b'"):
        store.get_dataset("log", workspace="team b")
    store.delete_dataset("log", workspace="team a")
    assert store.get_dataset("log").n_runs == 3
    with pytest.raises(StoreError, match="workspace name may not contain control"):
        store.create_workspace("a\tb")


# -- write modes --------------------------------------------------------------------------------

MORE_STEPS = (
    b"run,arch,params,tokens,step,loss\n"
    b"a,dense,1e8,4e9,400,2.88\n"  # a continues
    b"e,dense,3e8,2e9,200,2.5\n"  # a new run
)


def test_append_adds_rows_and_keeps_the_reduction_rule_across_files(store: Store) -> None:
    import hashlib

    first = store.add_dataset("log", parsed(), STEP_LOG, reduction="best")
    appended = store.add_dataset(
        "log", parsed(MORE_STEPS, "more.csv"), MORE_STEPS, reduction="final", mode="append"
    )
    assert appended.created and appended.id == first.id
    assert (appended.n_rows, appended.n_runs, appended.n_sources) == (9, 4, 2)
    assert appended.source_filename == "more.csv"
    assert appended.reduction == "best"  # an append keeps the dataset's default
    digests = [hashlib.sha256(STEP_LOG).hexdigest(), hashlib.sha256(MORE_STEPS).hexdigest()]
    assert appended.sha256 == hashlib.sha256("\n".join(digests).encode()).hexdigest()
    final = store.load_runs("log", "final")
    assert final.run.tolist() == ["a", "b", "c", "e"]
    assert final.loss.tolist() == [2.88, 2.85, 2.75, 2.5]
    assert store.load_sources("log") == [("log.csv", STEP_LOG), ("more.csv", MORE_STEPS)]
    points = store.load_points("log")
    assert points["row_number"].tolist() == [2, 3, 4, 5, 6, 7, 8, 2, 3]  # each file's own rows
    again = store.add_dataset("log", parsed(MORE_STEPS, "more.csv"), MORE_STEPS, mode="append")
    assert not again.created and again.n_rows == 9 and again.sha256 == appended.sha256


def test_append_to_a_missing_dataset_creates_it(store: Store) -> None:
    info = store.add_dataset("new", parsed(), STEP_LOG, mode="append")
    assert info.created and info.n_sources == 1 and info.n_rows == 7


def test_append_refuses_a_run_with_another_parameter_count(store: Store) -> None:
    store.add_dataset("log", parsed(), STEP_LOG)
    clash = b"run,params,tokens,step,loss\ne,1e8,1e9,100,3.1\nb,9e8,3e9,300,2.7\n"
    with pytest.raises(StoreError, match=r"run 'b' has 9e\+08 parameters.*2e\+08"):
        store.add_dataset("log", parsed(clash, "clash.csv"), clash, mode="append")
    info = store.get_dataset("log")
    assert (info.n_rows, info.n_sources) == (7, 1)  # unchanged
    assert len(store.load_points("log")) == 7


def test_replace_swaps_the_content_and_keeps_id_and_name(store: Store) -> None:
    import hashlib

    first = store.add_dataset("log", parsed(), STEP_LOG)
    store.add_dataset("log", parsed(MORE_STEPS, "more.csv"), MORE_STEPS, mode="append")
    replaced = store.add_dataset(
        "log", parsed(OTHER_LOG, "other.csv"), OTHER_LOG, reduction="best", mode="replace"
    )
    assert replaced.id == first.id and replaced.name == "log" and replaced.created
    assert replaced.created_at == first.created_at
    assert (replaced.n_rows, replaced.n_runs, replaced.n_sources) == (8, 4, 1)
    assert replaced.sha256 == hashlib.sha256(OTHER_LOG).hexdigest()
    assert replaced.reduction == "best"
    assert store.load_sources("log") == [("other.csv", OTHER_LOG)]
    assert_same_runs(store.load_runs("log"), parsed(OTHER_LOG).run_table("best"))
    same = store.add_dataset("log", parsed(OTHER_LOG), OTHER_LOG, mode="replace")
    assert not same.created and same.n_rows == 8
    missing = store.add_dataset("fresh", parsed(), STEP_LOG, mode="replace")
    assert missing.created and missing.n_rows == 7


def test_create_mode_refuses_an_appended_dataset_even_with_its_first_file(store: Store) -> None:
    store.add_dataset("log", parsed(), STEP_LOG)
    store.add_dataset("log", parsed(MORE_STEPS), MORE_STEPS, mode="append")
    with pytest.raises(DatasetExistsError, match="append to it or replace it"):
        store.add_dataset("log", parsed(), STEP_LOG)


def test_unknown_write_mode_is_rejected(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown write mode 'merge'"):
        store.add_dataset("log", parsed(), STEP_LOG, mode="merge")  # type: ignore[arg-type]


# -- reductions in SQL match ingest's numpy reductions ------------------------------------------


def random_log(seed: int) -> bytes:
    """A messy step log: runs interleaved out of order, empty steps, tied losses (each run logs
    a step at most once, as ingest requires)."""
    rng = np.random.default_rng(seed)
    rows = []
    for run in range(int(rng.integers(2, 7))):
        steps = rng.choice(np.arange(0, 1000, 100), size=int(rng.integers(1, 8)), replace=False)
        for step in [*steps.tolist(), *([None] * int(rng.integers(0, 3)))]:
            loss = round(float(rng.choice([2.5, 2.6, 2.7, rng.uniform(2, 4)])), 3)
            accuracy = "" if rng.random() < 0.3 else f"{rng.uniform(0, 1):.3f}"
            tokens = float(rng.integers(1, 9)) * 1e9
            rows.append(f"r{run},{(run + 1) * 1e8:g},{tokens:g},{'' if step is None else step},"
                        f"{loss},{accuracy}")  # fmt: skip
    order = rng.permutation(len(rows))
    lines = ["run,params,tokens,step,loss,accuracy", *(rows[i] for i in order)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("seed", range(8))
def test_sql_reductions_match_ingest_on_messy_logs(store: Store, seed: int) -> None:
    data = random_log(seed)
    table = parsed(data)
    store.add_dataset("log", table, data)
    for reduction in ("final", "best"):
        sql, numpy_ = store.load_runs("log", reduction), table.run_table(reduction)
        assert_same_runs(sql, numpy_)
        np.testing.assert_array_equal(sql.metric, numpy_.metric)


# -- at a chosen step ---------------------------------------------------------------------------


def test_at_step_takes_each_runs_last_evaluation_by_that_step(store: Store) -> None:
    store.add_dataset("log", parsed(), STEP_LOG, reduction="best")
    at_200 = store.load_runs("log", at_step=200)
    assert at_200.run.tolist() == ["a", "b"]  # c has no step numbers: left out
    assert at_200.loss.tolist() == [2.95, 2.85]
    at_100 = store.load_runs("log", at_step=150)
    assert at_100.loss.tolist() == [3.0, 2.8]
    assert store.load_runs("log", "best", at_step=300).loss.tolist() == [2.9, 2.8]
    with pytest.raises(StoreError, match=r"at or before step 50.*earliest logged step is 100"):
        store.load_runs("log", at_step=50)
    with pytest.raises(StoreError, match="finite"):
        store.load_runs("log", at_step=float("nan"))


def test_at_step_without_any_steps_says_so(store: Store) -> None:
    data = b"run,params,tokens,loss\na,1e8,2e9,3.0\nb,2e8,4e9,2.8\n"
    store.add_dataset("flat", parsed(data), data)
    with pytest.raises(StoreError, match="has no step numbers"):
        store.load_runs("flat", at_step=100)


def test_at_step_matches_ingest(store: Store) -> None:
    data = random_log(3)
    table = parsed(data)
    store.add_dataset("log", table, data)
    for step in (0, 100, 250, 550):
        for reduction in ("final", "best"):
            assert_same_runs(
                store.load_runs("log", reduction, at_step=step),
                table.run_table(reduction, at_step=step),
            )


# -- curves thinned in SQL ----------------------------------------------------------------------


def long_run_log(steps: int = 5000) -> bytes:
    lines = ["run,params,tokens,step,loss"]
    for run, params in (("small", 1e8), ("big", 4e8)):
        for step in range(1, steps + 1):
            loss = 2 + 10 / step**0.3 + (0.05 if step % 97 == 0 else 0.0)
            lines.append(f"{run},{params:g},{step * 1e6:g},{step},{loss:.6f}")
    lines.append("short,2e8,1e9,10,3.5")
    lines.append("short,2e8,2e9,20,3.4")
    return ("\n".join(lines) + "\n").encode()


def test_load_curves_thins_long_runs_and_keeps_short_ones_whole(store: Store) -> None:
    data = long_run_log()
    table = parsed(data)
    store.add_dataset("curves", table, data)
    curves = store.load_curves("curves", max_points_per_run=100)
    assert curves.columns.tolist() == ["run", "step", "tokens", "flops", "loss", "params", "group"]
    assert list(dict.fromkeys(curves["run"])) == ["small", "big", "short"]
    counts = curves.groupby("run", sort=False).size()
    assert counts["short"] == 2
    for run in ("small", "big"):
        mine = curves[curves["run"] == run]
        assert 40 <= len(mine) <= 100
        assert mine["step"].is_monotonic_increasing
        assert mine["step"].iloc[0] == 1 and mine["step"].iloc[-1] == 5000  # both ends kept
        full = table.points[table.points["run"] == run]
        assert mine["loss"].min() == full["loss"].min()  # the envelope survives
        # log-spaced: early steps are dense, late steps sparse
        assert (mine["step"] <= 50).sum() >= 10
    whole = store.load_curves("curves", max_points_per_run=20_000)
    assert len(whole) == table.n_rows


def test_stored_curves_equal_curves_computed_on_request(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default resolution is read from ``curves`` (written with the upload); forcing the
    on-request query at the same resolution must give the same rows, also after an append."""
    import pandas as pd

    from scaling_core import store as store_module

    data = long_run_log(steps=800)
    store.add_dataset("curves", parsed(data), data)
    more = b"run,params,tokens,step,loss\nsmall,1e8,9e9,9000,2.1\nlate,3e8,1e9,5,3.3\n"
    store.add_dataset("curves", parsed(more, "more.csv"), more, mode="append")
    stored = store.load_curves("curves")
    assert stored["step"].iloc[-1] == 5 and stored["run"].iloc[-1] == "late"
    assert 9000 in stored.loc[stored["run"] == "small", "step"].tolist()
    monkeypatch.setattr(store_module, "CURVE_POINTS_PER_RUN", 2)  # 200 is now "more"
    computed = store.load_curves("curves", max_points_per_run=200)
    pd.testing.assert_frame_equal(stored, computed)


def test_fewer_points_per_run_thin_the_stored_curves(store: Store) -> None:
    data = long_run_log(steps=3000)
    table = parsed(data)
    store.add_dataset("curves", table, data)
    coarse = store.load_curves("curves", max_points_per_run=40)
    stored = store.load_curves("curves")
    keys = set(zip(stored["run"], stored["step"], strict=True))
    assert set(zip(coarse["run"], coarse["step"], strict=True)) <= keys
    for run in ("small", "big"):
        mine = coarse[coarse["run"] == run]
        assert 10 <= len(mine) <= 40
        assert (mine["step"].iloc[0], mine["step"].iloc[-1]) == (1, 3000)
        assert mine["loss"].min() == table.points.loc[table.points["run"] == run, "loss"].min()
    assert (coarse["run"] == "short").sum() == 2


def test_load_curves_on_runs_without_steps_orders_by_row(store: Store) -> None:
    data = b"run,params,tokens,loss\na,1e8,1e9,3.0\na,1e8,2e9,2.9\nb,2e8,1e9,2.8\n"
    store.add_dataset("flat", parsed(data), data)
    curves = store.load_curves("flat", max_points_per_run=2)
    assert curves["loss"].tolist() == [3.0, 2.9, 2.8]
    with pytest.raises(StoreError, match="at least 2"):
        store.load_curves("flat", max_points_per_run=1)


# -- exports ------------------------------------------------------------------------------------


def test_export_csv_neutralises_formula_cells_and_keeps_numbers(store: Store) -> None:
    import csv
    import io

    data = (
        b"run,params,tokens,loss,arch\n"
        b'=HYPERLINK("http://x"),1e8,2e9,3.0,+cmd\n'
        b"@sum,2e8,4e9,2.8,-1\n"
        b"plain,4e8,8e9,2.6,dense\n"
    )
    store.add_dataset("evil", parsed(data), data)
    rows = list(csv.reader(io.StringIO(store.export_csv("evil").decode())))
    assert rows[0][:3] == ["row_number", "run", "params"]
    assert [r[1] for r in rows[1:]] == ['\'=HYPERLINK("http://x")', "'@sum", "plain"]
    assert [r[11] for r in rows[1:]] == ["'+cmd", "'-1", "dense"]
    assert [float(r[5]) for r in rows[1:]] == [3.0, 2.8, 2.6]
    assert [r[8] for r in rows[1:]] == ["", "", ""]  # no steps: empty cells


def test_export_parquet_round_trips_the_points(store: Store) -> None:
    import io

    import pyarrow.parquet as pq

    table = parsed()
    store.add_dataset("log", table, STEP_LOG)
    frame = pq.read_table(io.BytesIO(store.export_parquet("log"))).to_pandas()
    assert frame.columns.tolist() == list(table.points.columns)
    np.testing.assert_array_equal(frame["loss"], table.points["loss"])
    assert frame["run"].tolist() == table.points["run"].tolist()
    assert frame["step"].isna().sum() == 2


# -- saved mappings -----------------------------------------------------------------------------


def test_saved_mappings_are_found_by_exact_headers_per_workspace(store: Store) -> None:
    headers = ("Model", "N", "Tokens (B)", "val")
    assert store.find_mapping(headers) is None
    store.save_mapping(headers, {"run": "Model", "params": "N"}, {"tokens": "B"})
    assert store.find_mapping(list(headers)) == ({"run": "Model", "params": "N"}, {"tokens": "B"})
    store.save_mapping(headers, {"run": "Model", "params": "N", "loss": "val"}, {})
    assert store.find_mapping(headers) == ({"run": "Model", "params": "N", "loss": "val"}, {})
    assert store.find_mapping(headers[:3]) is None
    assert store.find_mapping(headers, workspace="other") is None


# -- errors are StoreErrors with a reason -------------------------------------------------------


def test_an_unexpected_database_error_becomes_a_store_error(store: Store) -> None:
    store.add_dataset("log", parsed(), STEP_LOG)
    cursor = store._cursor()
    cursor.execute("DROP TABLE runs")  # simulate a damaged store
    cursor.close()
    with pytest.raises(StoreError, match=r"writing to the store :memory: failed: .*runs"):
        store.add_dataset("other", parsed(), STEP_LOG)
    assert [d.name for d in store.list_datasets()] == ["log"]


def test_a_closed_store_says_so() -> None:
    store = Store.in_memory()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_datasets()


def test_a_writer_that_keeps_losing_gets_store_busy_and_changes_nothing(store: Store) -> None:
    store.retry_seconds = 0.3
    holder = store._cursor()
    holder.execute("BEGIN TRANSACTION")
    holder.execute("UPDATE write_lock SET writes = writes + 1")  # another writer mid-transaction
    try:
        with pytest.raises(StoreBusyError, match="busy with other writers"):
            store.add_dataset("log", parsed(), STEP_LOG)
        assert store.write_retries > 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.list_datasets() == []
    assert store.add_dataset("log", parsed(), STEP_LOG).created  # free again


def test_returned_info_is_what_the_store_then_reads(store: Store) -> None:
    """add_dataset builds its DatasetInfo without reading it back: it must match a read."""
    for mode, data in (("create", STEP_LOG), ("append", MORE_STEPS), ("replace", OTHER_LOG)):
        info = store.add_dataset("log", parsed(data), data, mode=mode)  # type: ignore[arg-type]
        assert info == store.get_dataset("log"), mode
    again = store.add_dataset("log", parsed(OTHER_LOG), OTHER_LOG, mode="replace")
    assert again == dataclasses.replace(store.get_dataset("log"), created=False)
