"""A local store keeps uploaded files beside its DuckDB file, one per distinct content, and
removes each when no dataset references it any more."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import duckdb
import pytest

from scaling_core.ingest import ParsedTable, parse_table
from scaling_core.source_files import FILE_CODEC, SourceFiles
from scaling_core.store import DatasetExistsError, Store, StoreError


def log(seed: int, runs: int = 6) -> bytes:
    lines = ["run,params,tokens,loss"]
    lines += [
        f"r{i},{(i + 1) * 1e7:g},{(i + 1) * 2e8:g},{3 + seed - i / 10:.3f}" for i in range(runs)
    ]
    return ("\n".join(lines) + "\n").encode()


def parsed(data: bytes) -> ParsedTable:
    result = parse_table("log.csv", data)
    assert isinstance(result, ParsedTable), result
    return result


def kept(tmp_path: Path) -> set[str]:
    folder = tmp_path / "store.duckdb.sources"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def name_of(data: bytes) -> str:
    return f"{hashlib.sha256(data).hexdigest()}.zst"


def test_an_upload_is_kept_as_one_file_and_read_back(tmp_path: Path) -> None:
    path = str(tmp_path / "store.duckdb")
    first = log(1)
    with Store.open(path) as store:
        store.add_dataset("a", parsed(first), first)
        assert not store.add_dataset("a", parsed(first), first).created
        store.add_dataset("copy", parsed(first), first)  # same bytes: the same file
        assert kept(tmp_path) == {name_of(first)}
        assert store.load_sources("a") == store.load_sources("copy") == [("log.csv", first)]
    with duckdb.connect(path) as check:
        rows = check.execute("SELECT codec, octet_length(content) FROM sources").fetchall()
        assert rows == [(FILE_CODEC, 0), (FILE_CODEC, 0)]  # the bytes are not in the table
    with Store.open(path) as store:
        assert store.load_source("copy") == ("log.csv", first)


def test_a_file_goes_when_its_last_dataset_goes(tmp_path: Path) -> None:
    first, second, third = log(1), log(2), log(3)
    with Store.open(str(tmp_path / "store.duckdb")) as store:
        store.add_dataset("a", parsed(first), first)
        store.add_dataset("b", parsed(first), first)
        store.add_dataset("a", parsed(second), second, mode="append")
        store.delete_dataset("b")
        assert kept(tmp_path) == {name_of(first), name_of(second)}  # "a" still has both
        store.add_dataset("a", parsed(third), third, mode="replace")
        assert kept(tmp_path) == {name_of(third)}
        store.delete_dataset("a")
        assert kept(tmp_path) == set()


def test_a_refused_upload_leaves_no_file(tmp_path: Path) -> None:
    first, other = log(1), log(2)
    with Store.open(str(tmp_path / "store.duckdb")) as store:
        store.add_dataset("a", parsed(first), first)
        with pytest.raises(DatasetExistsError):
            store.add_dataset("a", parsed(other), other)
        assert kept(tmp_path) == {name_of(first)}


def test_files_no_source_references_are_removed_on_open(tmp_path: Path) -> None:
    """What a killed upload leaves: a complete file never referenced, or a half-written one."""
    path = str(tmp_path / "store.duckdb")
    first = log(1)
    with Store.open(path) as store:
        store.add_dataset("a", parsed(first), first)
    folder = SourceFiles(tmp_path / "store.duckdb.sources")
    stray = hashlib.sha256(b"never committed").hexdigest()
    folder.put(stray, b"zstd bytes of an upload killed before its commit")
    (folder.directory / f".{stray}.0123.tmp").write_bytes(b"half")
    (folder.directory / "notes.txt").write_text("not ours: left alone")
    with Store.open(path) as store:
        assert store.load_sources("a") == [("log.csv", first)]
    assert kept(tmp_path) == {name_of(first), "notes.txt"}


def test_a_missing_file_is_a_clear_message_not_a_traceback(tmp_path: Path) -> None:
    path = str(tmp_path / "store.duckdb")
    first = log(1)
    with Store.open(path) as store:
        store.add_dataset("a", parsed(first), first)
        (tmp_path / "store.duckdb.sources" / name_of(first)).unlink()
        with pytest.raises(StoreError, match=r"original of log\.csv \(dataset 'a'\) is missing"):
            store.load_sources("a")
        assert store.load_runs("a").n == 6  # the dataset itself is intact


def test_memory_stores_keep_the_bytes_in_the_table() -> None:
    store = Store.in_memory()
    first = log(1)
    store.add_dataset("a", parsed(first), first)
    assert store.source_files is None
    assert store.load_sources("a") == [("log.csv", first)]


def test_deleting_while_the_same_bytes_are_uploaded_keeps_the_new_dataset_whole(
    tmp_path: Path,
) -> None:
    """A delete removes a file no source references; an upload of the same bytes under
    another name may have found that file before the delete and commit after it. The
    upload's check after its commit restores the file, under the same lock as the delete's."""
    first = log(1)
    with Store.open(str(tmp_path / "store.duckdb")) as store:
        for round_ in range(12):
            store.add_dataset(f"old {round_}", parsed(first), first)
            errors: list[BaseException] = []

            def run(action: object, errors: list[BaseException] = errors) -> None:
                try:
                    action()  # type: ignore[operator]
                except BaseException as exc:  # reported by the assert below
                    errors.append(exc)

            threads = [
                threading.Thread(
                    target=run, args=(lambda r=round_: store.delete_dataset(f"old {r}"),)
                ),
                threading.Thread(
                    target=run,
                    args=(lambda r=round_: store.add_dataset(f"new {r}", parsed(first), first),),
                ),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            assert store.load_sources(f"new {round_}") == [("log.csv", first)]
        assert kept(tmp_path) == {name_of(first)}
