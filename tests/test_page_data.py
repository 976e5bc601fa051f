"""AppTest tests of pages/data.py against a temporary store file.

Covers every way data gets in (CSV with units, Parquet, JSON Lines, tracker exports, warnings
to accept, append and replace), out (CSV and Parquet exports produced on click, formulas
neutralised) and away (rename, delete with confirmation), the upload size limit, viewer mode,
saved mappings, and the malformed-upload corpus (tests/fixtures/bad): every file is refused
with its expected message through the page and leaves the store as it was.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import streamlit as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.util import patch_config_options

from scaling_core.importers import read_export_path
from scaling_core.store import (
    DEFAULT_DATASETS,
    SOURCES_SUFFIX,
    STORE_ENV_VAR,
    Store,
    ensure_default_datasets,
)

REPO = Path(__file__).resolve().parent.parent
PAGE = str(REPO / "pages" / "data.py")
FIXTURES = REPO / "tests" / "fixtures"
CORPUS = FIXTURES / "bad"
EXPECTED = json.loads((CORPUS / "EXPECTED.json").read_text(encoding="utf-8"))
GOOD = b"run,params,tokens,loss\na,70M,1.4B,3.1\nb,1.4e8,2.8e9,2.9\nc,2.8e8,5.6e9,2.7\n"
MORE = b"run,params,tokens,loss\nd,5.6e8,1.1e10,2.5\ne,1.1e9,2.2e10,2.3\n"
OTHER = b"run,params,tokens,loss\nx,1e8,2e9,2.8\n"
BAD = b"run,params,tokens,loss\na,70M,1.4B,3.1\nb,abc,2.8e9,2.9\n"
DEFAULT_COUNT = len(DEFAULT_DATASETS)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding the bundled datasets, copied for each test (seeding costs more)."""
    path = tmp_path_factory.mktemp("seeded") / "seeded.duckdb"
    with Store.open(str(path)) as store:
        ensure_default_datasets(store)
    return path


def copy_store(source: Path, target: Path) -> None:
    """A store file and the folder of uploads beside it (as a backup copies them)."""
    shutil.copyfile(source, target)
    folder = Path(f"{source}{SOURCES_SUFFIX}")
    if folder.is_dir():
        shutil.copytree(folder, f"{target}{SOURCES_SUFFIX}")


@pytest.fixture
def store_path(seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.delenv("SCALESCOPE_VIEWER", raising=False)
    path = tmp_path / "page.duckdb"
    copy_store(seeded, path)
    monkeypatch.setenv(STORE_ENV_VAR, str(path))
    st.cache_resource.clear()
    yield path
    st.cache_resource.clear()


def open_store(path: Path) -> Store:
    # Same process as the app's cached store: DuckDB shares the open database instance.
    return Store.open(str(path))


def dataset_names(path: Path) -> list[str]:
    with open_store(path) as store:
        return [d.name for d in store.list_datasets()]


def key_of(data: bytes) -> str:
    """The page's per-file widget-key suffix."""
    return hashlib.sha256(data).hexdigest()[:12]


def shown(text: str) -> str:
    """Markdown source as the reader sees it (the page escapes every special character)."""
    return re.sub(r"\\(.)", r"\1", text)


def texts(elements: Any) -> str:
    return "\n".join(shown(e.value) for e in elements)


def listing(at: AppTest) -> Any:
    """The stored-datasets table (the other tables are previews)."""
    (table,) = [d.value for d in at.dataframe if "sources" in d.value.columns]
    return table


def run_page(**query: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="upload").set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def click_save(at: AppTest) -> AppTest:
    save = at.button(key="save")
    assert not save.disabled
    save.click().run()
    assert not at.exception, at.exception
    return at


def save_as(at: AppTest, data: bytes, name: str) -> AppTest:
    at.text_input(key=f"name_{key_of(data)}").input(name).run()
    return click_save(at)


# -- listing and the basic upload -----------------------------------------------------------


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
    assert listing["sources"].tolist() == [1, 1, 1]
    caption = texts(at.caption)
    assert "Limit 50 MB per file" in caption and "browser refuses a larger file" in caption
    assert "events.out.tfevents" in caption and "Parquet" in caption
    assert at.file_uploader(key="upload").allowed_type == []  # content decides, not the name


def test_good_upload_previews_and_saves(store_path: Path) -> None:
    at = upload(run_page(), "my runs.csv", GOOD)
    assert not at.error
    key = key_of(GOOD)
    assert at.selectbox(key=f"map_params_{key}").value == "params"
    assert at.selectbox(key=f"map_flops_{key}").value == "(none)"
    assert at.selectbox(key=f"unit_params_{key}").value == "count"
    assert at.selectbox(key=f"unit_flops_{key}").disabled  # nothing mapped to flops
    assert "Read as delimited text (comma-separated, utf-8): 3 records" in texts(at.caption)
    preview = at.dataframe[0].value
    assert preview["params"].tolist() == [70e6, 1.4e8, 2.8e8]
    assert at.text_input(key=f"name_{key}").value == "my runs"
    click_save(at)
    assert shown(at.success[0].value) == "Saved dataset my runs (created): 3 runs, 3 rows."
    assert at.session_state["dataset"] == "my runs"
    assert "my runs" in dataset_names(store_path)
    assert listing(at)["name"].tolist()[-1] == "my runs"  # listing is current
    # the same bytes again under the same name change nothing
    click_save(at)
    assert "already holds this exact file; nothing changed" in at.success[0].value
    assert len(dataset_names(store_path)) == DEFAULT_COUNT + 1


def test_bad_upload_shows_row_and_column_and_cannot_be_saved(store_path: Path) -> None:
    at = upload(run_page(), "bad.csv", BAD)
    assert len(at.error) == 1
    text = shown(at.error[0].value)
    assert 'bad.csv, row 3 (header = row 1), column "params": "abc" is not a number' in text
    assert at.button(key="save").disabled
    assert len(dataset_names(store_path)) == DEFAULT_COUNT


def test_editing_the_mapping_revalidates(store_path: Path) -> None:
    data = b"size,toks,metric\n1e8,2e9,2.5\n2e8,4e9,2.3\n"
    at = upload(run_page(), "odd.csv", data)
    assert at.error and "parameter count" in at.error[0].value
    assert at.button(key="save").disabled
    key = key_of(data)
    at.selectbox(key=f"map_params_{key}").select("size")
    at.selectbox(key=f"map_tokens_{key}").select("toks")
    at.selectbox(key=f"map_metric_{key}").select("(none)")
    at.selectbox(key=f"map_loss_{key}").select("metric").run()
    assert not at.exception
    assert not at.error
    assert not at.button(key="save").disabled


def test_units_scale_the_stored_values(store_path: Path) -> None:
    data = b"run,params,tokens,loss\na,70,1.4,3.1\nb,140,2.8,2.9\nc,280,5.6,2.7\n"
    at = upload(run_page(), "in millions.csv", data)
    key = key_of(data)
    assert at.dataframe[0].value["params"].tolist() == [70, 140, 280]  # counts by default
    at.selectbox(key=f"unit_params_{key}").set_value("M")
    at.selectbox(key=f"unit_tokens_{key}").set_value("B").run()
    assert not at.error, texts(at.error)
    assert at.dataframe[0].value["params"].tolist() == [70e6, 140e6, 280e6]
    click_save(at)
    with open_store(store_path) as store:
        points = store.load_points("in millions")
    assert points["params"].tolist() == [70e6, 140e6, 280e6]
    assert points["tokens"].tolist() == pytest.approx([1.4e9, 2.8e9, 5.6e9])


def test_loss_in_bits_is_stored_in_nats(store_path: Path) -> None:
    at = upload(run_page(), "bits.csv", GOOD)
    at.selectbox(key=f"unit_loss_{key_of(GOOD)}").set_value("bits").run()
    click_save(at)
    with open_store(store_path) as store:
        loss = store.load_points("bits")["loss"].tolist()
    assert loss == pytest.approx([3.1 * 0.6931471805599453, 2.9 * 0.6931471805599453,
                                  2.7 * 0.6931471805599453])  # fmt: skip


# -- other formats -------------------------------------------------------------------------


def parquet_bytes() -> bytes:
    table = pa.table(
        {
            "run": ["a", "b", "c"],
            "n_params": [7e7, 1.4e8, 2.8e8],
            "tokens": [1.4e9, 2.8e9, 5.6e9],
            "val_loss": [3.1, 2.9, 2.7],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


JSONL = (
    b'{"run": "a", "params": 7e7, "step": 100, "tokens": 2e8, "loss": 3.9}\n'
    b'{"run": "a", "params": 7e7, "step": 200, "tokens": 4e8, "loss": 3.5}\n'
    b'{"run": "b", "params": 1.4e8, "step": 100, "tokens": 2e8, "loss": 3.7}\n'
    b'{"run": "b", "params": 1.4e8, "step": 200, "tokens": 4e8, "loss": 3.2}\n'
)


@pytest.mark.parametrize(
    ("filename", "make", "described", "runs", "rows"),
    [
        ("sweep.parquet", parquet_bytes, "Read as Parquet: 3 records", 3, 3),
        ("sweep.jsonl", lambda: JSONL, "Read as JSON Lines: 4 records", 2, 4),
    ],
)
def test_parquet_and_json_lines_upload_and_save(
    store_path: Path,
    filename: str,
    make: Callable[[], bytes],
    described: str,
    runs: int,
    rows: int,
) -> None:
    data = make()
    at = upload(run_page(), filename, data, "application/octet-stream")
    assert not at.error, texts(at.error)
    assert described in texts(at.caption)
    click_save(at)
    assert shown(at.success[0].value) == f"Saved dataset sweep (created): {runs} runs, {rows} rows."
    with open_store(store_path) as store:
        info = store.get_dataset("sweep")
    assert (info.n_runs, info.n_rows, info.source_filename) == (runs, rows, filename)


def test_an_mlflow_tracking_directory_zip_uploads_and_saves(store_path: Path) -> None:
    _, data = read_export_path(str(FIXTURES / "importers" / "mlruns"))  # the folder, zipped
    at = upload(run_page(), "mlruns.zip", data, "application/zip")
    assert not at.error, texts(at.error)
    assert "Read as an MLflow tracking directory: 100 records (one per run and step)" in texts(
        at.caption
    )
    key = key_of(data)
    assert at.selectbox(key=f"map_loss_{key}").value == "eval/loss"
    assert at.selectbox(key=f"map_step_{key}").value == "step"
    # eval/loss is logged every 1000 steps: runs are reduced from their evaluations
    assert at.radio(key=f"reduction_{key}").value == "final"
    click_save(at)
    assert shown(at.success[0].value) == "Saved dataset mlruns (created): 5 runs, 25 rows."
    with open_store(store_path) as store:
        runs = store.load_runs("mlruns")
    # the exact n_params counts (not the "10M" labels, which are up to 2% off)
    assert sorted(runs.params.tolist()) == pytest.approx([10e6, 25e6, 70e6, 160e6, 410e6], rel=0.03)
    assert sorted(runs.params.tolist())[0] == 10_200_000


def test_a_single_tensorboard_event_file_uploads(store_path: Path) -> None:
    path = next((FIXTURES / "importers" / "tensorboard" / "gpt-410M").glob("events.out.*"))
    data = path.read_bytes()
    at = upload(run_page(), path.name, data, "application/octet-stream")
    assert not at.error, texts(at.error)
    assert "Read as TensorBoard event files" in texts(at.caption)
    click_save(at)
    assert "Saved dataset" in at.success[0].value and "1 run," in at.success[0].value


# -- warnings, targets and outcomes --------------------------------------------------------


def test_warnings_must_be_accepted_before_saving(store_path: Path) -> None:
    data = b"params,tokens,loss\n1e8,2e9,2.5\n2e8,4e9,2.4\n1e8,2e9,2.5\n"
    at = upload(run_page(), "dupes.csv", data)
    assert not at.error
    assert "row 4 repeats row 2 exactly; it is counted once" in texts(at.warning)
    accept = at.checkbox(key=f"accept_{key_of(data)}")
    assert accept.label == "Accept 1 warning(s) and save" and not accept.value
    assert at.button(key="save").disabled
    assert "Accept the warnings above to save." in texts(at.caption)
    accept.check().run()
    click_save(at)
    assert shown(at.success[0].value) == "Saved dataset dupes (created): 2 runs, 2 rows."


def test_append_then_replace_then_idempotent_reupload(store_path: Path) -> None:
    at = save_as(upload(run_page(), "first.csv", GOOD), GOOD, "sweep")
    assert shown(at.success[0].value) == "Saved dataset sweep (created): 3 runs, 3 rows."

    upload(at, "more.csv", MORE)
    key = key_of(MORE)
    at.radio(key=f"target_{key}").set_value("append").run()
    at.selectbox(key=f"target_dataset_{key}").select("sweep").run()
    click_save(at)
    assert shown(at.success[0].value) == (
        "Appended 2 rows from more.csv to sweep: now 5 runs, 5 rows from 2 files."
    )
    click_save(at)  # the same file again
    assert (
        shown(at.success[0].value)
        == "Dataset sweep already holds this exact file; nothing changed."
    )
    with open_store(store_path) as store:
        info = store.get_dataset("sweep")
    assert (info.n_runs, info.n_rows, info.n_sources, info.source_filename) == (
        5, 5, 2, "more.csv"
    )  # fmt: skip
    assert listing(at).set_index("name").loc["sweep", "sources"] == 2

    upload(at, "other.csv", OTHER)
    key = key_of(OTHER)
    at.radio(key=f"target_{key}").set_value("replace").run()
    at.selectbox(key=f"target_dataset_{key}").select("sweep").run()
    assert at.button(key="save").disabled  # a replacement needs its confirmation
    at.checkbox(key=f"replace_confirm_{key}").check().run()
    click_save(at)
    assert (
        shown(at.success[0].value) == "Replaced the data of sweep with other.csv: now 1 run, 1 row."
    )
    with open_store(store_path) as store:
        info = store.get_dataset("sweep")
        assert store.load_runs("sweep").run.tolist() == ["x"]
    assert (info.n_runs, info.n_rows, info.n_sources) == (1, 1, 1)
    click_save(at)
    assert "already holds this exact file; nothing changed" in at.success[0].value


def test_a_taken_name_is_flagged_and_refused_with_the_stores_message(store_path: Path) -> None:
    at = upload(run_page(), "other.csv", OTHER)
    at.text_input(key=f"name_{key_of(OTHER)}").input("Synthetic example runs").run()
    assert "A dataset named Synthetic example runs already exists" in texts(at.caption)
    click_save(at)
    assert "already exists" in texts(at.error)
    assert len(dataset_names(store_path)) == DEFAULT_COUNT


# -- reductions ------------------------------------------------------------------------------


def test_step_logs_offer_final_best_and_at_step(store_path: Path) -> None:
    data = (REPO / "data" / "example_runs.csv").read_bytes()
    at = upload(run_page(), "steps.csv", data)
    key = key_of(data)
    radio = at.radio(key=f"reduction_{key}")
    assert radio.value == "final"
    assert radio.options == [
        "final — each run's last evaluation (largest step)",
        "best — each run's lowest loss",
        "at step S — each run's last evaluation at or before a step",
    ]
    radio.set_value("at_step").run()
    step = at.number_input(key=f"at_step_{key}")
    assert step.value > 0  # preset so that every run has an evaluation by then
    assert f"26 of 26 runs have an evaluation at or before step {step.value:g}." in texts(
        at.caption
    )
    step.set_value(763).run()  # the last step of the shortest run; 16 runs start later
    assert "10 of 26 runs have an evaluation at or before step 763. Left out: 40M-40tpp" in (
        texts(at.caption)
    )
    assert len(at.dataframe[1].value) == 10  # the per-run preview
    at.number_input(key=f"at_step_{key}").set_value(0).run()
    assert "no run has an evaluation at or before step 0" in texts(at.warning)

    at.radio(key=f"reduction_{key}").set_value("best").run()
    at.text_input(key=f"name_{key}").input("steps best").run()
    click_save(at)
    with open_store(store_path) as store:
        assert store.get_dataset("steps best").reduction == "best"


def test_stored_runs_at_a_step(store_path: Path) -> None:
    at = run_page()
    at.selectbox(key="runs_target").select("Synthetic example runs").run()
    at.radio(key="runs_reduction").set_value("at_step").run()
    assert not at.exception
    at.number_input(key="runs_step").set_value(1).run()
    assert "no run of dataset 'Synthetic example runs' has an evaluation" in texts(at.info)
    with open_store(store_path) as store:
        points = store.load_points("Synthetic example runs")
        middle = float(points["step"].median())
        expected = store.load_runs("Synthetic example runs", "final", at_step=middle)
    at.number_input(key="runs_step").set_value(middle).run()
    frame = at.dataframe[-1].value
    assert frame["run"].tolist() == expected.run.tolist()
    assert frame["loss"].tolist() == expected.loss.tolist()
    assert f"{len(expected.run)} of 26 runs have an evaluation at or before step" in texts(
        at.caption
    )


# -- exports ---------------------------------------------------------------------------------


@pytest.fixture
def deferred(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str | None, Callable]]:
    """Download buttons' deferred data callables by file name, as the page registered them
    (the browser would call them on click)."""
    seen: dict[str, tuple[str | None, Callable]] = {}
    original = MediaFileManager.add_deferred

    def record(self: MediaFileManager, data_callable: Callable, mimetype: str | None,
               coordinates: str, file_name: str | None = None, **kwargs: Any) -> str:  # fmt: skip
        seen[file_name or ""] = (mimetype, data_callable)
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return seen


def test_export_csv_and_parquet_on_click_with_formulas_neutralised(
    store_path: Path, deferred: dict[str, tuple[str | None, Callable]]
) -> None:
    data = (CORPUS / "formula_run_names.csv").read_bytes()
    hostile = "../evil/<b>\\ name"
    at = save_as(upload(run_page(), "formula_run_names.csv", data), data, hostile)
    assert not at.error, texts(at.error)
    deferred.clear()
    at.selectbox(key="export_target").select(hostile).run()
    names = [b.label for b in at.download_button]
    assert names[:2] == ["CSV", "Parquet"]
    safe = "_evil__b__ name"  # no separators, no leading dot
    assert set(deferred) >= {f"{safe}.csv", f"{safe}.parquet", "formula_run_names.csv"}

    mime, produce = deferred[f"{safe}.csv"]
    assert mime == "text/csv"
    rows = list(csv.DictReader(io.StringIO(produce().decode("utf-8"))))
    runs = [row["run"] for row in rows]
    expected = EXPECTED["accepted"]["formula_run_names.csv"]["runs"]
    assert runs == ["'" + name if name[0] in "=+-@" else name for name in expected]

    _, produce = deferred[f"{safe}.parquet"]
    table = pq.read_table(io.BytesIO(produce()))
    assert table.column("run").to_pylist() == expected  # verbatim in Parquet
    assert table.num_rows == len(rows)

    _, produce = deferred["formula_run_names.csv"]
    assert produce() == data  # the original upload, byte for byte


def test_export_bytes_are_not_built_while_rendering(
    store_path: Path, deferred: dict[str, tuple[str | None, Callable]], monkeypatch
) -> None:
    calls: list[str] = []
    for method in ("export_csv", "export_parquet"):
        original = getattr(Store, method)

        def counting(self: Store, *args: Any, _o=original, _m=method, **kwargs: Any) -> bytes:
            calls.append(_m)
            return _o(self, *args, **kwargs)

        monkeypatch.setattr(Store, method, counting)
    at = run_page()
    at.selectbox(key="export_target").select("Synthetic example runs").run()
    assert calls == []
    _, produce = deferred["Synthetic example runs.csv"]
    assert produce().startswith(b"row_number,run,")
    assert calls == ["export_csv"]


# -- limits, access and saved mappings -------------------------------------------------------


def test_an_upload_over_the_size_limit_is_refused_with_the_limit(store_path: Path) -> None:
    data = GOOD + b"d,1e9,2e10,2.1\n" * 80_000  # ~1.2 MB
    at = AppTest.from_file(PAGE, default_timeout=60)
    with patch_config_options({"server.maxUploadSize": 1}):
        at.run()
        assert "Limit 1 MB per file" in texts(at.caption)
        at.file_uploader(key="upload").set_value(("big.csv", data, "text/csv")).run()
    assert not at.exception
    message = texts(at.error)
    assert (
        f"big.csv: is {len(data) / 1024**2:.1f} MB; the upload limit is 1 MB (server.maxUploadSize"
        in message
    )
    assert "Parquet" in message
    assert not [b for b in at.button if b.key == "save"]
    assert len(dataset_names(store_path)) == DEFAULT_COUNT


def test_viewer_mode_shows_no_write_widgets_but_exports(store_path: Path) -> None:
    at = run_page(mode="view")
    assert at.dataframe  # the listing is still there
    assert not at.file_uploader
    keys = {w.key for w in [*at.button, *at.selectbox, *at.checkbox, *at.text_input]}
    assert not keys & {"save", "rename", "rename_target", "rename_to", "delete",
                       "delete_target", "delete_confirm"}  # fmt: skip
    assert "read-only" in texts(at.caption) and "viewer mode is on" in texts(at.caption)
    assert [b.label for b in at.download_button][:2] == ["CSV", "Parquet"]


def test_the_saved_mapping_presets_the_next_upload_with_these_headers(store_path: Path) -> None:
    first = b"size,toks,metric\n1e8,2e9,2.5\n2e8,4e9,2.3\n"
    at = upload(run_page(), "odd.csv", first)
    key = key_of(first)
    at.selectbox(key=f"map_params_{key}").select("size")
    at.selectbox(key=f"map_tokens_{key}").select("toks")
    at.selectbox(key=f"map_metric_{key}").select("(none)")
    at.selectbox(key=f"map_loss_{key}").select("metric").run()
    at.selectbox(key=f"unit_loss_{key}").set_value("bits").run()
    click_save(at)
    assert "Using the mapping saved" not in texts(at.caption[:3])

    second = b"size,toks,metric\n4e8,8e9,2.2\n8e8,1.6e10,2.0\n"
    at = upload(run_page(), "odd again.csv", second)
    key = key_of(second)
    assert "Using the mapping saved for these columns in this workspace." in texts(at.caption)
    assert at.selectbox(key=f"map_params_{key}").value == "size"
    assert at.selectbox(key=f"map_loss_{key}").value == "metric"
    assert at.selectbox(key=f"map_metric_{key}").value == "(none)"
    assert at.selectbox(key=f"unit_loss_{key}").value == "bits"
    assert not at.error


def test_a_mapping_that_cannot_be_remembered_does_not_block_the_save(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaling_core.store import StoreError

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise StoreError("the store is busy; try again")

    monkeypatch.setattr(Store, "save_mapping", refuse)
    at = click_save(upload(run_page(), "good.csv", GOOD))
    assert "Saved dataset good (created)" in texts(at.success)
    assert "The column mapping was not remembered: the store is busy; try again" in texts(
        at.caption
    )
    assert "good" in dataset_names(store_path)


# -- hostile names ---------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "phrase"), [
    (b"", "empty"), (b"params,tokens,loss\n", "no data rows"), (b"PK\x03\x04\x00\x00", "zip"),
])  # fmt: skip
def test_unusable_files_show_an_error_not_a_crash(
    store_path: Path, data: bytes, phrase: str
) -> None:
    at = upload(run_page(), "x.csv", data)
    assert phrase in at.error[0].value
    assert len(dataset_names(store_path)) == DEFAULT_COUNT


def test_hostile_dataset_name_is_stored_and_shown_as_text(store_path: Path) -> None:
    hostile = "<script>alert(1)</script>'; DROP TABLE datasets; --"
    at = save_as(upload(run_page(), "good.csv", GOOD), GOOD, hostile)
    assert hostile in dataset_names(store_path)
    assert hostile in listing(at)["name"].tolist()
    assert "<script>" not in at.success[0].value  # escaped: \<script\>
    assert shown(at.success[0].value).startswith(f"Saved dataset {hostile} (created):")


def test_a_file_name_with_directories_and_control_characters_is_stored_plain(
    store_path: Path,
) -> None:
    at = upload(run_page(), "../../etc/\x1b[31mruns\x00.csv", GOOD)
    assert not at.error
    save_as(at, GOOD, "plain file name")
    with open_store(store_path) as store:
        assert store.get_dataset("plain file name").source_filename == "[31mruns.csv"


# -- rename and delete -----------------------------------------------------------------------


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


# -- the malformed-upload corpus through the page ---------------------------------------------


def _make_corpus_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _make_corpus_module()


def _corpus_cases() -> Iterator[Any]:
    for name, fragment in EXPECTED["rejected"].items():
        yield pytest.param(name, lambda name=name: (CORPUS / name).read_bytes(), fragment, id=name)
    for name, fragment in EXPECTED["generated"].items():
        yield pytest.param(name, MAKE.GENERATED[name][0], fragment, id=name)


@pytest.fixture(scope="module")
def corpus_page(
    seeded: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AppTest, Path]]:
    """One page session for the whole corpus (a fresh AppTest per file costs a full run)."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.duckdb"
    copy_store(seeded, path)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(REPO))
        mp.setenv(STORE_ENV_VAR, str(path))
        mp.delenv("SCALESCOPE_VIEWER", raising=False)
        st.cache_resource.clear()
        yield run_page(), path
        st.cache_resource.clear()


def snapshot(path: Path) -> list[tuple]:
    with open_store(path) as store:
        return [(d.name, d.sha256, d.n_rows, d.n_runs, d.n_sources) for d in store.list_datasets()]


@pytest.mark.parametrize(("name", "load", "fragment"), _corpus_cases())
def test_each_bad_file_is_refused_through_the_page_with_its_message(
    corpus_page: tuple[AppTest, Path],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    load: Callable[[], bytes],
    fragment: str,
) -> None:
    at, path = corpus_page
    monkeypatch.setenv(STORE_ENV_VAR, str(path))
    before = snapshot(path)
    upload(at, name, load(), "application/octet-stream")
    assert fragment in texts(at.error), texts(at.error)
    assert not [b for b in at.button if b.key == "save" and not b.disabled]
    assert snapshot(path) == before


@pytest.mark.parametrize("name", sorted(EXPECTED["accepted"]))
def test_hostile_run_names_parse_and_show_verbatim(
    corpus_page: tuple[AppTest, Path], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    at, path = corpus_page
    monkeypatch.setenv(STORE_ENV_VAR, str(path))
    upload(at, name, (CORPUS / name).read_bytes())
    assert not at.error, texts(at.error)
    preview = at.dataframe[0].value
    expected = EXPECTED["accepted"][name]["runs"]
    assert list(dict.fromkeys(preview["run"].tolist())) == expected
