"""Stores of older layouts open in the current one with every dataset intact: version 3
(uncompressed sources, ``points.source_id``, curve rows) and version 4 (points keyed by the
dataset's uuid); the files are built by ``old_store_layouts`` from the old DDL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest
from old_store_layouts import (
    LOG,
    MORE,
    assert_same,
    build_v3_store,
    build_v4_store,
    fill,
    old_store_file,
    parsed,
    snapshot,
)

from scaling_core.store import SCHEMA_VERSION, Store


def test_a_version_3_store_opens_in_the_current_layout_with_every_dataset(tmp_path: Path) -> None:
    path = str(tmp_path / "v3.duckdb")
    expected = old_store_file(path, build_v3_store)
    with Store.open(path) as store:
        assert_same(snapshot(store), expected)
        assert store.load_sources("appended") == [("log.csv", LOG), ("more.csv", MORE)]
        assert store.find_mapping(["run", "arch"]) is not None
        # and it takes new writes like a new store
        later = MORE.replace(b"900", b"950").replace(b",5,", b",6,")
        store.add_dataset("appended", parsed(later, "x.csv"), later, mode="append")
        store.add_dataset("third", parsed(LOG, "log.csv"), LOG)
        assert store.get_dataset("third").sha256 == hashlib.sha256(LOG).hexdigest()
        store.delete_dataset("second <b>")
    with duckdb.connect(path) as check:
        assert check.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        columns = [row[0] for row in check.execute("DESCRIBE points").fetchall()]
        assert "source_id" not in columns and "dataset_id" not in columns
        assert columns[0] == "dataset_key"
        keys = check.execute("SELECT name, key FROM datasets ORDER BY key").fetchall()
        assert keys == [("appended", 1), ("third", 3)]  # "second <b>" (2) was deleted
        codecs = check.execute(
            "SELECT filename, codec FROM sources ORDER BY added_at, position"
        ).fetchall()
        # migrated sources stay in the table; a new upload is kept beside the store file
        assert ("log.csv", "identity") in codecs and ("log.csv", "zstd-file") in codecs
        assert check.execute("SELECT count(*) FROM curves").fetchone() == (2,)
    assert (tmp_path / "v3.duckdb.sources" / f"{hashlib.sha256(LOG).hexdigest()}.zst").exists()


def test_a_failed_v4_migration_leaves_the_version_3_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaling_core import store as store_module

    current = Store.in_memory()
    fill(current)
    path = str(tmp_path / "v3.duckdb")
    with duckdb.connect(path) as old:
        build_v3_store(old, current)

    def broken(cursor: object) -> None:
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(store_module.Store, "_curves_to_blobs", staticmethod(broken))
    with pytest.raises(store_module.StoreError, match="cannot prepare the store"):
        Store.open(path)
    with duckdb.connect(path) as check:
        assert check.execute("SELECT version FROM schema_version").fetchall() == [(3,)]
        columns = [row[0] for row in check.execute("DESCRIBE points").fetchall()]
        assert "source_id" in columns
    monkeypatch.undo()
    with Store.open(path) as store:
        assert [d.name for d in store.list_datasets()] == ["appended", "second <b>"]


def test_rows_numbered_from_2_by_an_old_migration_are_renumbered_in_file_order(
    tmp_path: Path,
) -> None:
    """Earlier releases' version 2 → 3 migration set ``ord`` to the spreadsheet row, so an
    append reused ords of the first file; version 4 renumbers such datasets by (file, row)
    before dropping the per-point source id, and derives their runs and curves again."""
    current = Store.in_memory()
    fill(current)
    expected = snapshot(current)
    path = str(tmp_path / "v3.duckdb")
    with duckdb.connect(path) as old:
        build_v3_store(old, current, rows_from_two=True)
        clashes = old.execute(
            "SELECT count(*) - count(DISTINCT ord) FROM points p JOIN datasets d "
            "ON d.id = p.dataset_id WHERE d.name = 'appended'"
        ).fetchone()
        assert clashes is not None and clashes[0] > 0  # the broken layout really is built
    with Store.open(path) as store:
        assert_same(snapshot(store), expected)
        runs = store.load_runs("appended").run.tolist()
        curves = store.load_curves("appended")["run"].drop_duplicates().tolist()
        assert runs == curves == ["a", "b", "c", "d"]
    with duckdb.connect(path) as check:
        per_dataset = check.execute(
            "SELECT min(ord), max(ord), count(*), count(DISTINCT ord) FROM points "
            "GROUP BY dataset_key"
        ).fetchall()
        assert all(lo == 0 and hi == n - 1 and distinct == n for lo, hi, n, distinct in per_dataset)


def test_a_version_4_store_gets_integer_keys_and_keeps_every_dataset(tmp_path: Path) -> None:
    """Version 5 numbers the datasets 1 … n by creation and keys their points by it."""
    path = str(tmp_path / "v4.duckdb")
    expected = old_store_file(path, build_v4_store)
    with Store.open(path) as store:
        assert_same(snapshot(store), expected)
        assert [(d.name, d.key) for d in store.list_datasets()] == [
            ("appended", 1),
            ("second <b>", 2),
        ]
        store.add_dataset("third", parsed(LOG, "log.csv"), LOG)
        assert store.get_dataset("third").key == 3
        store.delete_dataset("appended")
        kept = {name: data for name, data in snapshot(store).items() if name != "third"}
        assert_same(kept, {"second <b>": expected["second <b>"]})
    with duckdb.connect(path) as check:
        assert check.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert check.execute(
            "SELECT DISTINCT dataset_key FROM points ORDER BY dataset_key"
        ).fetchall() == [(2,), (3,)]
