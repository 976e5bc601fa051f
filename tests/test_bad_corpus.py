"""The malformed-upload corpus (tests/fixtures/bad): every file gets its precise message, none
raises, none changes the store; hostile-but-valid names parse and come back verbatim."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from scaling_core.ingest import IngestErrors, ParsedTable, parse_table
from scaling_core.safe_csv import neutralise
from scaling_core.store import Store, ensure_default_datasets

CORPUS = Path(__file__).resolve().parent / "fixtures" / "bad"
EXPECTED = json.loads((CORPUS / "EXPECTED.json").read_text(encoding="utf-8"))


def _generator():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _generator()


@pytest.fixture(scope="module")
def store() -> Store:
    store = Store.in_memory()
    ensure_default_datasets(store)
    return store


def snapshot(store: Store) -> list[tuple]:
    """Everything an upload could change: the listing and every dataset's points."""
    return [
        (d.name, d.sha256, d.n_rows, d.n_runs, len(store.load_points(d.name)))
        for d in store.list_datasets()
    ]


def try_ingest(store: Store, filename: str, data: bytes) -> ParsedTable | IngestErrors:
    """What the Data page does with an upload: parse, and store only what parsed."""
    result = parse_table(filename, data)
    if isinstance(result, ParsedTable):
        store.add_dataset(f"upload {filename}", result, data)
    return result


def test_the_corpus_is_big_small_and_reproducible() -> None:
    rejected, accepted = EXPECTED["rejected"], EXPECTED["accepted"]
    assert len(rejected) + len(EXPECTED["generated"]) >= 45
    assert len(accepted) >= 5
    names = {p.name for p in CORPUS.iterdir()} - {"EXPECTED.json", "make_corpus.py"}
    assert names == set(rejected) | set(accepted)
    assert sum((CORPUS / name).stat().st_size for name in names) < 3_000_000
    for name, (data, _) in MAKE.rejected().items():
        assert (CORPUS / name).read_bytes() == data, f"{name} differs from make_corpus.py"
    for name, (data, _) in MAKE.accepted().items():
        assert (CORPUS / name).read_bytes() == data, f"{name} differs from make_corpus.py"


def _rejected_cases():
    for name, fragment in EXPECTED["rejected"].items():
        yield pytest.param(name, lambda name=name: (CORPUS / name).read_bytes(), fragment, id=name)
    for name, fragment in EXPECTED["generated"].items():
        yield pytest.param(name, MAKE.GENERATED[name][0], fragment, id=name)


@pytest.mark.parametrize(("name", "load", "fragment"), _rejected_cases())
def test_each_bad_file_is_refused_precisely_and_leaves_the_store_alone(
    store: Store, name: str, load, fragment: str
) -> None:
    before = snapshot(store)
    result = try_ingest(store, name, load())
    assert isinstance(result, IngestErrors), f"{name} was accepted"
    text = "\n".join(result.messages())
    assert fragment in text, text
    assert result.summary().startswith(name)
    assert snapshot(store) == before


@pytest.mark.parametrize("name", list(EXPECTED["accepted"]))
def test_hostile_names_are_kept_verbatim_and_neutralised_on_export(store: Store, name: str) -> None:
    case = EXPECTED["accepted"][name]
    assert case["outcome"] == "parses; name kept verbatim"
    before = snapshot(store)
    data = (CORPUS / name).read_bytes()
    parsed = try_ingest(store, name, data)
    assert isinstance(parsed, ParsedTable), parsed.messages()
    assert parsed.run_table().run.tolist() == case["runs"]
    stored = store.load_runs(f"upload {name}")
    assert stored.run.tolist() == case["runs"]
    exported = store.export_csv(f"upload {name}").decode()
    for run in case["runs"]:
        assert neutralise(run).replace('"', '""') in exported
    store.delete_dataset(f"upload {name}")
    assert snapshot(store) == before
