"""AppTest smoke and behaviour tests for pages/data.py against a temporary store file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from scaling_core.store import DEFAULT_DATASETS, STORE_ENV_VAR, Store

REPO = Path(__file__).resolve().parent.parent
PAGE = str(REPO / "pages" / "data.py")
GOOD = b"run,params,tokens,loss\na,70M,1.4B,3.1\nb,1.4e8,2.8e9,2.9\nc,2.8e8,5.6e9,2.7\n"
BAD = b"run,params,tokens,loss\na,70M,1.4B,3.1\nb,abc,2.8e9,2.9\n"
DEFAULT_COUNT = len(DEFAULT_DATASETS)


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(REPO))
    path = tmp_path / "page.duckdb"
    monkeypatch.setenv(STORE_ENV_VAR, str(path))
    st.cache_resource.clear()
    yield path
    st.cache_resource.clear()


def dataset_names(path: Path) -> list[str]:
    # Same process as the app's cached store: DuckDB shares the open database instance.
    store = Store.open(str(path))
    try:
        return [d.name for d in store.list_datasets()]
    finally:
        store.close()


def run_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="upload").set_value((name, data, "text/csv")).run()
    assert not at.exception, at.exception
    return at


def test_page_renders_and_lists_the_bundled_datasets(store_path: Path) -> None:
    at = run_page()
    assert at.title[0].value == "Data"
    assert not at.error
    listing = at.dataframe[0].value
    assert listing["name"].tolist() == [
        "Chinchilla (Epoch AI reconstruction)",
        "Synthetic example runs",
        "Synthetic architectures",
    ]
    assert listing["runs"].tolist() == [245, 26, 16]


def test_good_upload_previews_and_saves(store_path: Path) -> None:
    at = upload(run_page(), "my runs.csv", GOOD)
    assert not at.error
    key = hashlib.sha256(GOOD).hexdigest()[:12]
    assert at.selectbox(key=f"map_params_{key}").value == "params"
    assert at.selectbox(key=f"map_flops_{key}").value == "(none)"
    preview = at.dataframe[0].value
    assert preview["params"].tolist() == [70e6, 1.4e8, 2.8e8]
    assert at.text_input(key=f"name_{key}").value == "my runs"
    save = at.button(key="save")
    assert not save.disabled
    save.click().run()
    assert not at.exception
    assert "Saved dataset" in at.success[0].value
    assert at.session_state["dataset"] == "my runs"
    assert "my runs" in dataset_names(store_path)
    # uploading the same bytes again under the same name changes nothing
    at.button(key="save").click().run()
    assert "already holds this exact file" in at.success[0].value
    assert len(dataset_names(store_path)) == DEFAULT_COUNT + 1


def test_bad_upload_shows_row_and_column_and_cannot_be_saved(store_path: Path) -> None:
    at = upload(run_page(), "bad.csv", BAD)
    assert len(at.error) == 1
    text = at.error[0].value
    assert "bad" in text
    assert "row 3" in text
    assert "column" in text
    assert "params" in text
    assert "abc" in text
    assert at.button(key="save").disabled
    assert len(dataset_names(store_path)) == DEFAULT_COUNT


def test_editing_the_mapping_revalidates(store_path: Path) -> None:
    data = b"size,toks,metric\n1e8,2e9,2.5\n2e8,4e9,2.3\n"
    at = upload(run_page(), "odd.csv", data)
    assert at.error and "parameter count" in at.error[0].value
    key = hashlib.sha256(data).hexdigest()[:12]
    at.selectbox(key=f"map_params_{key}").select("size")
    at.selectbox(key=f"map_tokens_{key}").select("toks")
    at.selectbox(key=f"map_loss_{key}").select("metric").run()
    assert not at.exception
    assert not at.error
    assert not at.button(key="save").disabled


def test_step_logs_offer_the_reduction_choice(store_path: Path) -> None:
    data = (REPO / "data" / "example_runs.csv").read_bytes()
    at = upload(run_page(), "steps.csv", data)
    key = hashlib.sha256(data).hexdigest()[:12]
    radio = at.radio(key=f"reduction_{key}")
    assert radio.value == "final"
    radio.set_value("best").run()
    at.text_input(key=f"name_{key}").input("steps best").run()
    at.button(key="save").click().run()
    assert not at.exception
    store = Store.open(str(store_path))
    try:
        assert store.get_dataset("steps best").reduction == "best"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("data", "phrase"),
    [(b"", "empty"), (b"params,tokens,loss\n", "no data rows"), (b"PK\x03\x04\x00\x00", "binary")],
)
def test_unusable_files_show_an_error_not_a_crash(
    store_path: Path, data: bytes, phrase: str
) -> None:
    at = upload(run_page(), "x.csv", data)
    assert phrase in at.error[0].value
    assert len(dataset_names(store_path)) == DEFAULT_COUNT


def test_hostile_dataset_name_is_stored_and_shown_as_text(store_path: Path) -> None:
    at = upload(run_page(), "good.csv", GOOD)
    key = hashlib.sha256(GOOD).hexdigest()[:12]
    hostile = "<script>alert(1)</script>'; DROP TABLE datasets; --"
    at.text_input(key=f"name_{key}").input(hostile).run()
    at.button(key="save").click().run()
    assert not at.exception
    assert hostile in dataset_names(store_path)
    listing = at.dataframe[-1].value
    assert hostile in listing["name"].tolist()
    assert "<script>" not in at.success[0].value  # escaped: \<script\>


def test_delete_needs_confirmation(store_path: Path) -> None:
    at = run_page()
    at.selectbox(key="delete_target").select("Synthetic example runs").run()
    assert at.button(key="delete").disabled
    at.checkbox(key="delete_confirm").check().run()
    at.button(key="delete").click().run()
    assert not at.exception
    assert dataset_names(store_path) == [
        "Chinchilla (Epoch AI reconstruction)",
        "Synthetic architectures",
    ]
    assert "Deleted dataset" in at.success[0].value
    assert at.dataframe[0].value["name"].tolist() == [
        "Chinchilla (Epoch AI reconstruction)",
        "Synthetic architectures",
    ]
    assert not at.checkbox(key="delete_confirm").value


def test_rename(store_path: Path) -> None:
    at = run_page()
    at.selectbox(key="rename_target").select("Synthetic example runs")
    at.text_input(key="rename_to").input("toy")
    at.button(key="rename").click().run()
    assert not at.exception
    assert "toy" in dataset_names(store_path)
    at.selectbox(key="rename_target").select("toy")
    at.text_input(key="rename_to").input("Chinchilla (Epoch AI reconstruction)")
    at.button(key="rename").click().run()
    assert "already exists" in at.error[0].value
