"""A local store keeps uploaded files beside its DuckDB file, one per distinct content, and
removes each when no dataset references it any more."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import duckdb
import pytest

from scaling_core import store as store_module
from scaling_core.ingest import ParsedTable, parse_table
from scaling_core.source_files import FILE_CODEC, UNREFERENCED
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


def test_files_no_source_references_are_moved_aside_on_open(tmp_path: Path) -> None:
    """What a killed upload leaves: a complete file never referenced, or a half-written one."""
    path = str(tmp_path / "store.duckdb")
    first = log(1)
    with Store.open(path) as store:
        store.add_dataset("a", parsed(first), first)
    folder = tmp_path / "store.duckdb.sources"
    stray = hashlib.sha256(b"never committed").hexdigest()
    (folder / f"{stray}.zst").write_bytes(b"zstd bytes of an upload killed before its commit")
    (folder / f".{stray}.0123.tmp").write_bytes(b"half")
    (folder / "notes.txt").write_text("not ours: left alone")
    with Store.open(path) as store:
        assert store.load_sources("a") == [("log.csv", first)]
    assert kept(tmp_path) == {name_of(first), "notes.txt", UNREFERENCED}
    assert {p.name for p in (folder / UNREFERENCED).iterdir()} == {f"{stray}.zst"}


def test_opening_a_new_store_file_beside_an_old_folder_destroys_nothing(tmp_path: Path) -> None:
    """A store file deleted (or restored from an older backup) while its folder stays: the
    folder's files are the only copy of those originals, so they are set aside, not deleted."""
    path = tmp_path / "store.duckdb"
    uploads = [log(seed) for seed in range(3)]
    with Store.open(str(path)) as store:
        for seed, data in enumerate(uploads):
            store.add_dataset(f"d{seed}", parsed(data), data)
    path.unlink()
    with Store.open(str(path)) as store:
        assert store.list_datasets() == []
    aside = tmp_path / "store.duckdb.sources" / UNREFERENCED
    assert {p.name for p in aside.iterdir()} == {name_of(data) for data in uploads}


def test_a_pinned_file_outlives_a_delete_until_its_upload_settles(tmp_path: Path) -> None:
    """An upload of bytes another dataset holds pins their file before its transaction; a
    delete of that other dataset meanwhile must leave the file (the upload is about to
    reference it), and so must a second Store on the same file sweeping it."""
    path = str(tmp_path / "store.duckdb")
    first = log(1)
    digest = hashlib.sha256(first).hexdigest()
    with Store.open(path) as store:
        store.add_dataset("old", parsed(first), first)
        files = store.source_files
        assert files is not None
        files.keep(digest, b"")  # what an upload of the same bytes does before its commit
        store.delete_dataset("old")
        assert kept(tmp_path) == {name_of(first)}
        with Store.open(path) as second:  # sweeps on open: the pin is process-wide
            assert second.source_files is not None
        assert kept(tmp_path) == {name_of(first)}
        files.settle([digest], lambda wanted: set(), unpin=[digest])  # the upload failed
        assert kept(tmp_path) == set()


def test_an_upload_committed_but_killed_before_settling_has_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window a review found: the upload found the file, a delete of the other dataset
    with those bytes ran before the upload committed, and the process died before the upload
    settled. The pin kept the file, so the committed dataset is whole after a reopen."""
    path = str(tmp_path / "store.duckdb")
    first = log(1)
    store = Store.open(path)
    store.add_dataset("old", parsed(first), first)
    keep, build_points = Store._keep_source, store_module.points_table
    deleted = threading.Event()

    def keep_then_delete(self: Store, content: bytes, digest: object) -> object:
        result = keep(self, content, digest)  # type: ignore[arg-type]
        self.delete_dataset("old")  # before the upload's transaction takes the write lock
        deleted.set()
        return result

    def points_after_the_delete(*args: object) -> object:
        assert deleted.wait(60)
        return build_points(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "_keep_source", keep_then_delete)
    monkeypatch.setattr(store_module, "points_table", points_after_the_delete)
    monkeypatch.setattr(Store, "_settle_upload", lambda *args: None)  # "killed" here
    store.add_dataset("new", parsed(first), first)
    store.close()
    monkeypatch.undo()
    with Store.open(path) as reopened:
        assert [d.name for d in reopened.list_datasets()] == ["new"]
        assert reopened.load_sources("new") == [("log.csv", first)]


def test_a_folder_that_cannot_be_written_is_a_store_error_and_stores_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.duckdb"
    first = log(1)
    with Store.open(str(path)) as store:
        (tmp_path / "store.duckdb.sources").write_text("a file where the folder should be")
        with pytest.raises(
            StoreError, match=r"cannot keep the uploaded file in .*nothing was stored"
        ):
            store.add_dataset("a", parsed(first), first)
        assert store.list_datasets() == []


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
