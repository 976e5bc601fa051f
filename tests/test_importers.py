"""Importers: every fixture written by wandb / tensorboardX / tensorboard / mlflow gives back
exactly the sweep the generator logged, folders zip deterministically, and hostile input (bad
zips, truncated or corrupted records, random bytes) only ever raises ExportFormatError."""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import math
import shutil
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaling_core import importers
from scaling_core.importers import (
    EXPORT_FORMATS,
    ExportFormatError,
    TrackedRuns,
    _zip,
    detect_export,
    read_export,
    read_export_path,
)
from scaling_core.importers._crc32c import _update, crc32c, masked_crc32c, masked_crc32c_rows

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "importers"


def _load_generator():
    """The fixture generator's pure part (sweep()) — what was logged, without its libraries."""
    spec = importlib.util.spec_from_file_location(
        "make_importer_fixtures", ROOT / "scripts" / "make_importer_fixtures.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


GEN = _load_generator()
SWEEP = GEN.sweep()
METRICS = ("train/loss", "train/learning_rate", "train/tokens_seen", "eval/loss")


def _rows_of(tracked: TrackedRuns, name: str) -> np.ndarray:
    return np.flatnonzero(tracked.columns["run"] == name)


def _assert_recovers_sweep(tracked: TrackedRuns, *, float32: bool = False) -> None:
    """Every run, step, metric value (NaN where not logged) and config value of the sweep."""
    assert sorted(tracked.run_names) == sorted(run.name for run in SWEEP)
    assert tracked.n_rows == sum(len(run.history) for run in SWEEP)
    for run in SWEEP:
        rows = _rows_of(tracked, run.name)
        steps = sorted(run.history)
        np.testing.assert_array_equal(tracked.columns["step"][rows], np.array(steps, float))
        for key in METRICS:
            expected = np.array([run.history[s].get(key, np.nan) for s in steps])
            if float32:
                expected = expected.astype(np.float32).astype(float)
            np.testing.assert_array_equal(tracked.columns[key][rows], expected, err_msg=key)
        assert np.all(tracked.columns["n_params"][rows] == run.config["n_params"])
        assert np.all(tracked.columns["peak_lr"][rows] == run.config["peak_lr"])
        assert np.all(tracked.columns["n_layers"][rows] == run.config["n_layers"])
        assert set(tracked.columns["model_size"][rows]) == {run.config["model_size"]}
        assert set(tracked.columns["architecture"][rows]) == {"gpt"}
        first = int(rows[0])
        assert tracked.record_labels[first] == f"run {run.name!r} step {steps[0]}"
    assert tracked.columns["n_params"].dtype == np.float64
    assert tracked.columns["model_size"].dtype == object
    assert tracked.columns["run"].dtype == object


# --------------------------------------------------------------------------------------------
# Library-made fixtures: exact recovery
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "source_format", "float32"),
    [
        ("wandb", "wandb", False),
        ("mlruns", "mlflow", False),
        ("tensorboard", "tensorboard", True),
        ("wandb_api_runs.json", "wandb", False),
    ],
)
def test_step_level_fixture_recovers_the_logged_sweep(
    fixture: str, source_format: str, float32: bool
) -> None:
    tracked, data = read_export_path(str(FIXTURES / fixture))
    assert tracked.source_format == source_format
    _assert_recovers_sweep(tracked, float32=float32)
    assert set(METRICS) <= set(tracked.metric_names)
    assert detect_export(tracked.filename, data) == source_format


def test_eval_loss_is_nan_exactly_where_it_was_not_logged() -> None:
    tracked, _ = read_export_path(str(FIXTURES / "wandb"))
    rows = _rows_of(tracked, "gpt-70M")
    logged = np.isfinite(tracked.columns["eval/loss"][rows])
    steps = tracked.columns["step"][rows]
    np.testing.assert_array_equal(steps[logged], [1000, 2000, 3000, 4000, 5000])


def test_tensorboardx_hparams_child_folder_is_folded_into_its_run() -> None:
    tracked, _ = read_export_path(str(FIXTURES / "tensorboard"))
    # add_hparams wrote <run>/<time>/events…: no run named after the time folder
    assert all("/" not in name for name in tracked.run_names)
    assert "hparam/final_train_loss" not in tracked.columns


def test_tf2_style_tensor_scalars_without_repeated_metadata() -> None:
    """gpt-410M was written TF2-style: float tensors, plugin metadata on first values only."""
    tracked, _ = read_export_path(str(FIXTURES / "tensorboard"))
    rows = _rows_of(tracked, "gpt-410M")
    assert np.isfinite(tracked.columns["train/loss"][rows]).all()
    assert rows.size == 20


def test_wandb_edge_cases_written_by_wandb() -> None:
    """Nested keys, automatic steps, config.update, non-numeric values, summary-only runs."""
    tracked, _ = read_export_path(str(FIXTURES / "wandb_edge"))
    assert sorted(tracked.run_names) == ["nested-auto-step", "summary-only"]
    nested = _rows_of(tracked, "nested-auto-step")
    assert tracked.columns["step"][nested].tolist() == [0.0, 1.0, 2.0]
    assert tracked.columns["train.loss"][nested].tolist() == [3.0, 2.9, 2.8]
    assert tracked.columns["model.n_params"][nested].tolist() == [1.2e8] * 3
    assert tracked.columns["tokens_budget"][nested].tolist() == [2.4e9] * 3
    assert "flag" not in tracked.columns and "note" not in tracked.columns
    (only,) = _rows_of(tracked, "summary-only")
    assert math.isnan(tracked.columns["step"][only])
    assert tracked.columns["eval/loss"][only] == 3.3
    assert tracked.columns["n_params"][only] == 5e7
    assert tracked.record_labels[only] == "run 'summary-only'"


def test_single_event_file_and_single_datastore() -> None:
    event_file = sorted((FIXTURES / "tensorboard" / "gpt-25M").glob("events.out.tfevents.*"))[0]
    tracked, data = read_export_path(str(event_file))
    assert data == event_file.read_bytes()
    assert tracked.n_rows == 20 and tracked.run_names == (event_file.name,)
    expected = [SWEEP[1].history[s]["train/loss"] for s in GEN.STEPS]
    np.testing.assert_array_equal(
        tracked.columns["train/loss"], np.array(expected, np.float32).astype(float)
    )

    datastore = sorted((FIXTURES / "wandb").glob("*/run-*.wandb"))[0]
    tracked, _ = read_export_path(str(datastore))
    assert tracked.source_format == "wandb" and tracked.n_rows == 20
    (name,) = tracked.run_names
    spec = next(run for run in SWEEP if run.name == name)
    assert tracked.columns["n_params"][0] == spec.config["n_params"]
    assert tracked.columns["group"][0] == "gpt"


def test_mlflow_file_store_of_one_experiment_folder(tmp_path: Path) -> None:
    (experiment,) = [
        p for p in (FIXTURES / "mlruns").iterdir() if p.name.isdigit() and p.name != "0"
    ]
    tracked, _ = read_export_path(str(experiment))
    _assert_recovers_sweep(tracked)
    # runs come in start-time order, which is the order they were logged in
    assert tracked.run_names == tuple(run.name for run in SWEEP)


# --------------------------------------------------------------------------------------------
# Summary-only exports (documented layouts)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "step"), [("wandb_runs_table.csv", math.nan), ("wandb_api_project.csv", 5000.0)]
)
def test_summary_exports_give_one_row_per_run_with_final_values(fixture: str, step: float) -> None:
    tracked, data = read_export_path(str(FIXTURES / fixture))
    assert detect_export(fixture, data) == "wandb"
    assert tracked.run_names == tuple(run.name for run in SWEEP)
    assert tracked.n_rows == len(SWEEP)
    np.testing.assert_array_equal(tracked.columns["step"], np.full(len(SWEEP), step))
    for index, run in enumerate(SWEEP):
        final = GEN.final_summary(run)
        for key in METRICS:
            assert tracked.columns[key][index] == final[key], key
        assert tracked.columns["n_params"][index] == run.config["n_params"]
        assert tracked.columns["model_size"][index] == run.config["model_size"]
    if math.isnan(step):
        assert tracked.record_labels[0] == "run 'gpt-10M'"


def test_wandb_run_folder_without_datastore_reads_files_summary_and_config() -> None:
    config = "_wandb:\n  value: {cli_version: 0.15.0}\nn_params:\n  desc: null\n  value: 7.0e7\n"
    summary = {"train/loss": 3.1, "_step": 900, "_runtime": 12.0, "_wandb": {"runtime": 12}}
    data = _zip_of(
        {
            "wandb/run-20230101_000000-abc123/files/config.yaml": config.encode(),
            "wandb/run-20230101_000000-abc123/files/wandb-summary.json": json.dumps(
                summary
            ).encode(),
        }
    )
    assert detect_export("wandb.zip", data) == "wandb"
    tracked = read_export("wandb.zip", data)
    assert tracked.run_names == ("abc123",)
    assert tracked.columns["step"].tolist() == [900.0]
    assert tracked.columns["train/loss"].tolist() == [3.1]
    assert tracked.columns["n_params"].tolist() == [7.0e7]
    assert "_runtime" not in tracked.columns


# --------------------------------------------------------------------------------------------
# Detection and deterministic folder zips
# --------------------------------------------------------------------------------------------


def test_detect_export_says_none_for_plain_tables_and_junk() -> None:
    assert detect_export("runs.csv", b"run,params,tokens,loss\na,1e6,2e7,3.2\n") is None
    assert detect_export("runs.jsonl", b'{"run": "a", "params": 1e6, "loss": 3.2}\n') is None
    assert detect_export("x.zip", _zip_of({"notes.txt": b"hello"})) is None
    assert detect_export("x.zip", b"PK\x03\x04 broken") is None
    assert detect_export("empty", b"") is None
    assert set(EXPORT_FORMATS) == {"wandb", "tensorboard", "mlflow"}


def test_folder_zip_is_deterministic_and_ignores_mtimes_and_symlinks(tmp_path: Path) -> None:
    _, first = read_export_path(str(FIXTURES / "mlruns"))
    _, again = read_export_path(str(FIXTURES / "mlruns"))
    assert first == again
    copy = tmp_path / "mlruns"
    shutil.copytree(FIXTURES / "mlruns", copy)  # new mtimes, same contents
    (copy / "link").symlink_to("/etc/hostname")
    tracked, copied = read_export_path(str(copy))
    assert copied == first
    assert tracked.filename == "mlruns.zip"
    assert read_export("mlruns.zip", copied).n_rows == tracked.n_rows


def test_missing_path_is_an_export_format_error(tmp_path: Path) -> None:
    with pytest.raises(ExportFormatError, match="cannot be read"):
        read_export_path(str(tmp_path / "nope.zip"))


# --------------------------------------------------------------------------------------------
# Precise errors on damaged and hostile input
# --------------------------------------------------------------------------------------------


def _zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _event_file() -> tuple[str, bytes]:
    path = sorted((FIXTURES / "tensorboard" / "gpt-10M").glob("events.out.tfevents.*"))[0]
    return path.name, path.read_bytes()


def _datastore() -> tuple[str, bytes]:
    path = sorted((FIXTURES / "wandb").glob("*/run-*.wandb"))[0]
    return path.name, path.read_bytes()


def test_truncated_event_file_reports_the_offset() -> None:
    name, data = _event_file()
    with pytest.raises(ExportFormatError, match=r"is truncated: the record at byte \d+ needs"):
        read_export(name, data[: len(data) - 3])
    with pytest.raises(ExportFormatError, match=r"stray bytes at byte \d+"):
        read_export(name, data + b"\x01\x02")


def test_corrupt_event_record_is_a_checksum_error() -> None:
    name, data = _event_file()
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0xFF
    with pytest.raises(ExportFormatError, match=r"record at byte \d+ .*checksum mismatch"):
        read_export(name, bytes(damaged))


def test_truncated_and_corrupt_datastore() -> None:
    name, data = _datastore()
    with pytest.raises(ExportFormatError, match=r"truncated.* at byte \d+"):
        read_export(name, data[:-5])
    damaged = bytearray(data)
    damaged[200] ^= 0x55
    with pytest.raises(ExportFormatError, match=r"record at byte \d+ .*(checksum|corrupt)"):
        read_export(name, bytes(damaged))


def test_zip_member_path_traversal_is_refused() -> None:
    data = _zip_of({"../../etc/evil/events.out.tfevents.1.host": b"x"})
    assert detect_export("evil.zip", data) == "tensorboard"  # recognised, then refused:
    with pytest.raises(ExportFormatError, match="leaves the archive"):
        read_export("evil.zip", data)


def test_zip_bomb_and_member_count_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_zip, "MAX_TOTAL_BYTES", 1_000_000)
    bomb = _zip_of({"tb/run/events.out.tfevents.1.host": bytes(2_000_000)})
    assert len(bomb) < 10_000
    assert detect_export("bomb.zip", bomb) == "tensorboard"
    with pytest.raises(ExportFormatError, match="would unpack to"):
        read_export("bomb.zip", bomb)
    monkeypatch.setattr(_zip, "MAX_MEMBERS", 10)
    many = _zip_of({f"tb/run{i}/events.out.tfevents.1.host": b"" for i in range(11)})
    with pytest.raises(ExportFormatError, match="has 11 members"):
        read_export("many.zip", many)


def test_zip_member_whose_header_lies_about_its_size() -> None:
    data = bytearray(_zip_of({"tb/run/events.out.tfevents.1.host": bytes(5000)}))
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 100)  # uncompressed size in the central directory
    with pytest.raises(ExportFormatError, match=r"member tb/run/events\.out\.tfevents\.1\.host"):
        read_export("liar.zip", bytes(data))


def test_encrypted_member_is_refused() -> None:
    data = bytearray(_zip_of({"tb/run/events.out.tfevents.1.host": b"abc"}))
    central = data.rfind(b"PK\x01\x02")
    flags = struct.unpack_from("<H", data, central + 8)[0]
    struct.pack_into("<H", data, central + 8, flags | 1)
    with pytest.raises(ExportFormatError, match="is encrypted"):
        read_export("locked.zip", bytes(data))


def test_mlflow_bad_metric_line_names_member_and_line() -> None:
    tracked_zip = _fixture_zip("mlruns")
    with zipfile.ZipFile(io.BytesIO(tracked_zip)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    target = sorted(name for name in members if name.endswith("metrics/train/loss"))[0]
    lines = members[target].decode().splitlines()
    lines[2] = "x y"
    members[target] = ("\n".join(lines) + "\n").encode()
    with pytest.raises(ExportFormatError) as error:
        read_export("mlruns.zip", _zip_of(members))
    assert str(error.value) == (
        f"mlruns.zip: member {target} line 3: 'x y' is not 'timestamp value step'; expected "
        "lines like '1700000000000 2.35 1000' (milliseconds, value, integer step)"
    )


def test_yaml_alias_bomb_in_wandb_config_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} {{{', '.join(f'k{j}: *a{i - 1}' for j in range(10))}}}" for i in range(1, 9)
    ]
    bomb = "\n".join(lines).encode()
    data = _zip_of(
        {
            "run-1-abc/files/config.yaml": bomb,
            "run-1-abc/files/wandb-summary.json": b'{"loss": 1.0}',
        }
    )
    with pytest.raises(ExportFormatError, match=r"too large|too deeply"):
        read_export("wandb.zip", data)


def test_api_project_csv_cell_that_is_not_a_dict() -> None:
    data = b',summary,config,name\n0,"__import__(\'os\')","{}",a\n'
    with pytest.raises(ExportFormatError, match=r"row 2, column 'summary'.* is not a Python dict"):
        read_export("project.csv", data)


def test_not_an_export_message_says_what_is_accepted() -> None:
    with pytest.raises(ExportFormatError, match="is not a W&B, TensorBoard or MLflow export"):
        read_export("runs.csv", b"run,loss\na,1\n")
    with pytest.raises(ExportFormatError, match="no tracker files"):
        read_export("x.zip", _zip_of({"a.txt": b"1"}))


def _fixture_zip(name: str) -> bytes:
    return _zip.zip_directory(FIXTURES / name)


# --------------------------------------------------------------------------------------------
# CRC-32C and fuzzing
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=0, max_size=70_000))
def test_crc32c_fast_path_matches_the_byte_loop(data: bytes) -> None:
    assert crc32c(data) == _update(0xFFFFFFFF, data) ^ 0xFFFFFFFF


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=200, max_size=3000), st.integers(0, 40), st.integers(1, 64))
def test_batched_masked_crc_matches_one_at_a_time(data: bytes, rows: int, length: int) -> None:
    starts = np.arange(rows, dtype=np.int64) * 3 % max(1, len(data) - length)
    expected = [masked_crc32c(data[s : s + length]) for s in starts.tolist()]
    assert masked_crc32c_rows(data, starts, length).tolist() == expected


def test_crc32c_known_values() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(100_000)) == _update(0xFFFFFFFF, bytes(100_000)) ^ 0xFFFFFFFF
    assert masked_crc32c(b"") == ((0 >> 15 | 0 << 17) + 0xA282EAD8) & 0xFFFFFFFF


def _only_export_errors(filename: str, data: bytes) -> None:
    found = detect_export(filename, data)
    assert found is None or found in EXPORT_FORMATS
    try:
        tracked = read_export(filename, data)
    except ExportFormatError as exc:
        assert str(exc).startswith(filename) and "\n" not in str(exc)
    else:
        assert {"run", "step"} <= set(tracked.columns)


_NAMES = st.sampled_from(
    ["x.bin", "events.out.tfevents.1.host", "run-abc.wandb", "runs.csv", "export.zip", "r.json"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_NAMES, st.binary(max_size=2048))
def test_random_bytes_only_ever_raise_export_format_error(filename: str, data: bytes) -> None:
    _only_export_errors(filename, data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["events", "datastore", "zip", "csv", "json"]),
    st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(0, 10**9),
)
def test_mutated_real_exports_only_ever_raise_export_format_error(
    kind: str, flips: list[tuple[int, int]], cut: int
) -> None:
    filename, data = {
        "events": _event_file,
        "datastore": _datastore,
        "zip": lambda: ("tensorboard.zip", _TB_ZIP),
        "csv": lambda: ("project.csv", (FIXTURES / "wandb_api_project.csv").read_bytes()),
        "json": lambda: ("runs.json", (FIXTURES / "wandb_api_runs.json").read_bytes()[:4000]),
    }[kind]()
    damaged = bytearray(data)
    for position, value in flips:
        damaged[position % len(damaged)] = value
    damaged = damaged[: max(1, cut % (len(damaged) + 1))]
    _only_export_errors(filename, bytes(damaged))


_TB_ZIP = _zip.zip_directory(FIXTURES / "tensorboard")


def test_package_does_not_import_ingest_or_tracker_packages() -> None:
    """ingest imports importers (no cycle), and no tracker package is a runtime dependency."""
    imported: set[str] = set()
    for path in Path(importers.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    roots = {name.split(".")[0] for name in imported}
    assert "scaling_core.ingest" not in imported
    assert not roots & {"wandb", "mlflow", "tensorboard", "tensorboardX", "tensorflow", "torch"}
    assert roots <= {
        "__future__",
        "ast",
        "collections",
        "csv",
        "dataclasses",
        "functools",
        "google",
        "io",
        "json",
        "math",
        "numpy",
        "os",
        "pathlib",
        "posixpath",
        "re",
        "scaling_core",
        "stat",
        "struct",
        "typing",
        "yaml",
        "zipfile",
        "zlib",
    }, roots


# --------------------------------------------------------------------------------------------
# End to end: ingest reads every fixture through the importers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "float32"),
    [
        ("wandb", False),
        ("tensorboard", True),
        ("mlruns", False),
        ("wandb_runs_table.csv", False),
        ("wandb_api_project.csv", False),
        ("wandb_api_runs.json", False),
    ],
)
def test_ingest_parses_each_fixture_with_loss_and_params_auto_mapped(
    fixture: str, float32: bool
) -> None:
    from scaling_core import ingest

    tracked, data = read_export_path(str(FIXTURES / fixture))
    parsed = ingest.parse_table(tracked.filename, data)
    assert not isinstance(parsed, ingest.IngestErrors), parsed.messages()
    assert parsed.mapping["loss"] == "eval/loss"
    assert parsed.mapping["params"] == "n_params"  # the exact count, not the "10M" label
    assert parsed.mapping["tokens"] == "train/tokens_seen"
    assert parsed.n_runs == len(SWEEP)
    table = parsed.run_table("final")
    by_run = dict(zip(table.run.tolist(), range(len(table.run)), strict=True))
    for run in SWEEP:
        index = by_run[run.name]
        final = GEN.final_summary(run)["eval/loss"]
        expected = float(np.float32(final)) if float32 else final
        assert table.loss[index] == expected
        assert table.params[index] == pytest.approx(run.config["n_params"], rel=0.03)
        assert table.tokens is not None
        assert table.tokens[index] == GEN.STEPS[-1] * GEN.BATCH_SIZE * GEN.SEQ_LEN
