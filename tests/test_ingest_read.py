"""Formats: the two delimited-text readers agree; Parquet, JSON Lines and tracking exports."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_core import ingest_read
from scaling_core.ingest import (
    IngestErrors,
    ParsedTable,
    RawTable,
    parse_table,
    read_table,
    validate_table,
)

REPO = Path(__file__).resolve().parent.parent


def python_read(name: str, data: bytes) -> RawTable | IngestErrors:
    decoded = ingest_read._decode(name, data)
    return (
        decoded
        if isinstance(decoded, IngestErrors)
        else ingest_read._python_delimited(name, *decoded)
    )


def view(raw: RawTable | IngestErrors) -> object:
    """Everything a reader decides, in comparable form."""
    if isinstance(raw, IngestErrors):
        return raw.messages()
    cells = {h: [raw.columns[h].cell(i) for i in range(raw.n_rows)] for h in raw.headers}
    numbers = {h: raw.columns[h].numbers() for h in raw.headers}
    return (
        raw.headers,
        raw.row_numbers.tolist(),
        raw.delimiter,
        raw.encoding,
        cells,
        {h: (v.tolist(), s.tolist()) for h, (v, s) in numbers.items()},
        {h: raw.columns[h].texts()[1][raw.columns[h].texts()[0]].tolist() for h in raw.headers},
    )


def assert_readers_agree(data: bytes, name: str = "t.csv") -> RawTable | IngestErrors:
    slow = python_read(name, data)
    fast = ingest_read._arrow_delimited(name, data)
    if fast is not None:  # declining is allowed; a different answer is not
        assert repr(view(fast)) == repr(view(slow))
    return slow


@pytest.mark.parametrize(
    "data",
    [
        b"run,params,tokens,loss\na,70M,2e9,2.5\nb,1.4B,28B,2.4\n",
        b"run\tparams\ttokens\tloss\na\t1e8\t2e9\t2.5\n",
        b"run;params;tokens;loss\na;1,000,000;2e9;2,5\n",
        b"run|params|tokens|loss\na|1e8|2e9|2.5",
        b"run,params,tokens,loss\r\na,1e8,2e9,2.5\r\nb,2e8,4e9,2.4\r\n",
        b"run,params,tokens,loss\n\na,1e8,2e9,2.5\n\n\nb,2e8,4e9,2.4\n\n",
        b"run,params,tokens,loss\r\n\r\na,1e8,2e9,2.5\r\n",
        b'"run","params","tokens","loss"\n\na,1e8,2e9,2.5\n\nb,2e8,4e9,2.4\n',
        b'"run","params"\n"a\n\nb",1\n\nc,2\n',
        b'run,params,tokens,loss\n"a, the first",1e8,"2,000,000,000",2.5\n',
        b'run,params,tokens,loss\n"a ""quoted""",1e8,2e9,2.5\n',
        b'run,params,tokens,loss\n"two\nlines",1e8,2e9,2.5\nb,2e8,4e9,2.4\n',
        b'run,params,tokens,loss\n"",1e8,,2.5\n  ,2e8, 4e9 ,\n',
        "run,params,tokens,loss,Größe\nmodèle,1e8,2e9,2.5,x\n".encode("latin-1"),
        "run,params,tokens,loss\nmodèle,1e8,2e9,2.5\n".encode(),
        "\ufeffrun,params,tokens,loss\na,1e8,2e9,2.5\n".encode(),
        "run,params,tokens,loss\na,1e8,2e9,2.5\n".encode("utf-16"),
        b"run,params,tokens,loss\na,1e8,2e9,2.5,\nb,2e8,4e9,2.4,\n",  # trailing empty fields
        b"run,params,tokens,loss\na,1e8,2e9\n",  # short row
        b"run,params,tokens,loss\na,1e8,2,000,2.5\n",  # unquoted thousands
        b"run,params\ra,1\rb,2\r",  # old Mac line ends
        b"loss,loss,,params,tokens\n2.5,9,1,1e8,2e9\n",
        b"run,params,tokens,loss\na,1e8,2e9,2.5\n" + b"b," + b"9" * 140_000 + b",2e9,2.4\n",
    ],
    ids=lambda data: repr(data[:40]),
)
def test_pyarrow_and_python_readers_give_the_same_table(data: bytes) -> None:
    assert_readers_agree(data)


_CELLS = st.sampled_from(["a", "b", "1e8", "70M", "2,5", "", " ", "nan", '"q,x"', "2.5", "é"])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    rows=st.lists(st.lists(_CELLS, min_size=3, max_size=3), min_size=1, max_size=8),
    blanks=st.lists(st.booleans(), min_size=8, max_size=8),
    crlf=st.booleans(),
)
def test_readers_agree_on_random_tables(rows: list[list[str]], blanks: list[bool], crlf: bool):
    end = "\r\n" if crlf else "\n"
    lines = ["run,params,loss"]
    for row, blank in zip(rows, blanks, strict=False):
        lines.append(",".join(row))
        if blank:
            lines.append("")
    assert_readers_agree((end.join(lines) + end).encode())


def test_long_fields_get_the_same_message_from_both_readers() -> None:
    data = b"run,params,tokens,loss\na,1e8,2e9,2.5\nb," + b"x" * 140_000 + b",2e9,2.4\n"
    slow = python_read("t.csv", data)
    fast = ingest_read._arrow_delimited("t.csv", data)
    assert isinstance(slow, IngestErrors) and isinstance(fast, IngestErrors)
    for errors in (slow, fast):
        assert "row 3 (header = row 1)" in errors.summary()
        assert "longer than 131,072 characters" in errors.summary()


def test_large_files_take_the_pyarrow_path_and_give_the_same_parse(monkeypatch) -> None:
    data = (REPO / "data" / "example_runs.csv").read_bytes()
    slow = parse_table("example_runs.csv", data)
    monkeypatch.setattr(ingest_read, "ARROW_MIN_BYTES", 0)
    monkeypatch.setattr(ingest_read, "ARROW_MIN_BYTES_LOADED", 0)
    raw = read_table("example_runs.csv", data)
    assert isinstance(raw, RawTable)
    kinds = {header: column.kind for header, column in raw.columns.items()}
    assert kinds["run"] == "arrow" and kinds["params"] == kinds["val_loss"] == "parsed"
    fast = validate_table(raw)
    assert isinstance(slow, ParsedTable) and isinstance(fast, ParsedTable)
    for name, values in slow.columns.items():
        np.testing.assert_array_equal(fast.columns[name], values, err_msg=name)
    assert fast.n_runs == slow.n_runs == 26


def test_quoted_headers_with_blank_lines_stay_in_the_pyarrow_reader() -> None:
    """Only quotes below the header can make a record span lines: a quoted header (as pandas
    and R write it) keeps blank lines countable by position."""
    data = b'"params","tokens","loss"\n1e8,2e9,2.5\n\n1e8,x,2.5\n'
    fast = ingest_read._arrow_delimited("q.csv", data)
    assert isinstance(fast, RawTable)
    assert fast.row_numbers.tolist() == [2, 4]


def test_blank_lines_and_crlf_keep_spreadsheet_rows_in_the_pyarrow_reader() -> None:
    data = b"params,tokens,loss\r\n\r\n1e8,2e9,2.5\r\n1e8,x,2.5\r\n"
    fast = ingest_read._arrow_delimited("b.csv", data)
    assert isinstance(fast, RawTable)
    assert fast.row_numbers.tolist() == [3, 4]
    errors = validate_table(fast)
    assert isinstance(errors, IngestErrors)
    assert errors.summary().startswith('b.csv, row 4 (header = row 1), column "tokens": "x"')


# -- Parquet ------------------------------------------------------------------------------------


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_parquet_typed_columns_parse() -> None:
    table = pa.table(
        {
            "run": pa.array(["a", "a", "b"]).dictionary_encode(),
            "n_params": pa.array([100_000_000, 100_000_000, 200_000_000], pa.int64()),
            "tokens": pa.array(["1B", "2B", "2B"]),
            "step": pa.array([1, 2, None], pa.int32()),
            "loss": pa.array([3.0, 2.9, 2.8], pa.float32()),
        }
    )
    parsed = parse_table("runs.parquet", parquet_bytes(table))
    assert isinstance(parsed, ParsedTable), parsed
    assert parsed.format == "parquet"
    assert parsed.columns["tokens"].tolist() == [1e9, 2e9, 2e9]
    assert parsed.run_table().run.tolist() == ["a", "b"]
    assert np.isnan(parsed.columns["step"][2])


def test_parquet_structs_are_flattened_and_bad_cells_named_by_record() -> None:
    table = pa.table(
        {
            "config": pa.array([{"n_params": 1e8}, {"n_params": 2e8}]),
            "eval": pa.array([{"loss": 2.5}, {"loss": float("nan")}]),
            "tokens": pa.array([2e9, 4e9]),
        }
    )
    raw = read_table("nested.parquet", parquet_bytes(table))
    assert isinstance(raw, RawTable)
    assert raw.headers == ("config.n_params", "eval.loss", "tokens")
    errors = validate_table(raw)
    assert isinstance(errors, IngestErrors)
    assert errors.summary() == (
        'nested.parquet, record 2, column "eval.loss": "NaN" is not a finite number; '
        "expected a positive loss in nats like 2.35"
    )


def test_parquet_list_column_is_reported_with_its_type_only_if_mapped() -> None:
    table = pa.table(
        {
            "params": [1e8, 2e8],
            "tokens": [2e9, 4e9],
            "loss": [2.5, 2.4],
            "history": pa.array([[1, 2], [3]]),
            "when": pa.array([1, 2], pa.timestamp("s")),
        }
    )
    data = parquet_bytes(table)
    assert isinstance(parse_table("l.parquet", data), ParsedTable)
    errors = parse_table(
        "l.parquet", data, {"params": "history", "tokens": "tokens", "loss": "loss"}
    )
    assert isinstance(errors, IngestErrors)
    assert errors.summary().startswith('l.parquet, column "history": holds list<')
    named = parse_table(
        "l.parquet", data, {"params": "params", "tokens": "tokens", "loss": "loss", "run": "when"}
    )
    assert isinstance(named, ParsedTable)
    assert named.columns["run"][0].startswith("1970-01-01")


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"PAR1" + b"\x00" * 20, "not a readable Parquet file"),
        (b"not parquet at all", "footer is missing"),
    ],
)
def test_broken_parquet_files_get_a_message(data: bytes, phrase: str) -> None:
    errors = read_table("bad.parquet", data)
    assert isinstance(errors, IngestErrors)
    assert phrase in errors.summary()


def test_truncated_parquet_and_empty_parquet() -> None:
    data = parquet_bytes(pa.table({"params": [1e8], "tokens": [2e9], "loss": [2.5]}))
    truncated = read_table("t.parquet", data[: len(data) // 2])
    assert isinstance(truncated, IngestErrors)
    assert "truncated" in truncated.summary()
    empty = read_table("e.parquet", parquet_bytes(pa.table({"params": pa.array([], pa.float64())})))
    assert isinstance(empty, IngestErrors)
    assert "has no rows" in empty.summary()


# -- JSON Lines ---------------------------------------------------------------------------------


def jsonl(*records: object) -> bytes:
    return ("\n".join(json.dumps(r) for r in records) + "\n").encode()


def test_json_lines_with_nested_objects_and_sparse_keys() -> None:
    data = jsonl(
        {"run": "a", "config": {"n_params": 1e8}, "step": 1, "tokens": 1e9, "train/loss": 3.1},
        {"run": "a", "config": {"n_params": 1e8}, "step": 1, "tokens": 1e9, "eval": {"loss": 3.0}},
        {"run": "a", "config": {"n_params": 1e8}, "step": 2, "tokens": 2e9, "eval": {"loss": 2.9}},
    )
    raw = read_table("log.jsonl", data)
    assert isinstance(raw, RawTable)
    assert "config.n_params" in raw.headers and "eval.loss" in raw.headers
    parsed = validate_table(raw)
    assert isinstance(parsed, ParsedTable), parsed.messages()
    assert parsed.mapping["loss"] == "eval.loss"
    assert parsed.mapping["params"] == "config.n_params"
    assert parsed.columns["row_number"].tolist() == [2, 3]  # line 1 logs no eval loss
    assert parsed.warnings == ()
    assert parsed.run_table().loss.tolist() == [2.9]


def test_json_lines_bad_line_is_reported_by_number() -> None:
    data = jsonl({"params": 1e8, "tokens": 2e9, "loss": 2.5}) + b'{"params": 1e8,, }\n[1, 2]\n'
    errors = read_table("log.jsonl", data)
    assert isinstance(errors, IngestErrors)
    messages = errors.messages()
    assert messages[0].startswith('log.jsonl, line 2: "{\\"params\\": 1e8,, }" is not valid JSON')
    assert messages[1].startswith('log.jsonl, line 3: "[1, 2]" is an array, not a JSON object')


def test_json_lines_cut_off_last_line_is_a_warning() -> None:
    data = jsonl({"params": 1e8, "tokens": 2e9, "loss": 2.5}) + b'{"params": 2e8, "tok'
    parsed = parse_table("log.jsonl", data)
    assert isinstance(parsed, ParsedTable)
    assert parsed.n_rows == 1
    assert "line 2: is cut off" in parsed.warnings[0].message()


def test_json_lines_values_are_located_by_line() -> None:
    data = jsonl(
        {"params": 1e8, "tokens": 2e9, "loss": 2.5}, {"params": "big", "tokens": 2e9, "loss": 2}
    )
    errors = parse_table("log.jsonl", data)
    assert isinstance(errors, IngestErrors)
    assert errors.summary().startswith('log.jsonl, line 2, column "params": "big" is not a number')


def test_json_lines_loss_under_two_keys_is_mixed_metrics() -> None:
    data = jsonl(
        {"run": "a", "params": 1e8, "tokens": 2e9, "eval/loss": 2.5},
        {"run": "b", "params": 2e8, "tokens": 2e9, "eval_loss": 2.4},
    )
    errors = parse_table("log.jsonl", data)
    assert isinstance(errors, IngestErrors)
    assert 'run "a" logs its loss as "eval/loss", other runs as "eval_loss"' in errors.summary()
    assert errors.summary().startswith('log.jsonl, line 1, column "eval/loss": "2.5"')


# -- tracking exports (scaling_core.importers, faked here) --------------------------------------


class FakeExportError(ValueError):
    pass


@dataclass(frozen=True, eq=False)
class FakeTrackedRuns:
    source_format: str
    filename: str
    columns: dict[str, np.ndarray]
    record_labels: tuple[str, ...]


def fake_importers(monkeypatch, runs=None, error: str | None = None, broken: bool = False):
    module = types.ModuleType("scaling_core.importers")

    def detect_export(filename: str, data: bytes) -> str | None:
        if broken:
            raise RuntimeError("importer bug")
        return "wandb" if filename.endswith(".zip") else None

    def read_export(filename: str, data: bytes):
        if error:
            raise FakeExportError(error)
        return runs

    module.detect_export = detect_export
    module.read_export = read_export
    module.ExportFormatError = FakeExportError
    monkeypatch.setitem(sys.modules, "scaling_core.importers", module)
    monkeypatch.setattr(sys.modules["scaling_core"], "importers", module, raising=False)


def tracked(loss: list[float], params: float = 7e7) -> FakeTrackedRuns:
    n = len(loss)
    steps = np.arange(1, n + 1) * 100.0
    return FakeTrackedRuns(
        "wandb",
        "runs.zip",
        {
            "run": np.array(["gpt-70M"] * n, dtype=object),
            "_step": steps,
            "trainer/global_step": steps * 10,
            "model.n_params": np.full(n, params),
            "tokens_seen": steps * 1e6,
            "train/loss": np.array(loss),
            "eval/loss": np.where(np.arange(n) % 2 == 1, np.array(loss) + 0.1, np.nan),
            "lr": np.full(n, 3e-4),
        },
        tuple(f"run 'gpt-70M' step {int(s * 10)}" for s in steps),
    )


def test_export_columns_map_and_sparse_records_are_skipped(monkeypatch) -> None:
    fake_importers(monkeypatch, tracked([3.0, 2.9, 2.8, 2.7]))
    parsed = parse_table("runs.zip", b"PK\x03\x04 fake")
    assert isinstance(parsed, ParsedTable), parsed.messages()
    assert parsed.format == "wandb"
    assert parsed.mapping == {
        "run": "run",
        "params": "model.n_params",
        "tokens": "tokens_seen",
        "loss": "eval/loss",
        "train_loss": "train/loss",
        "val_loss": "eval/loss",
        "step": "trainer/global_step",
        "learning_rate": "lr",
    }
    assert parsed.columns["step"].tolist() == [2000.0, 4000.0]
    assert parsed.warnings == ()


def test_export_errors_are_located_by_run_and_step(monkeypatch) -> None:
    fake_importers(monkeypatch, tracked([3.0, -2.9, 2.8, 2.7]))
    errors = parse_table("runs.zip", b"PK\x03\x04 fake", {
        "run": "run", "params": "model.n_params", "tokens": "tokens_seen", "loss": "train/loss",
    })  # fmt: skip
    assert isinstance(errors, IngestErrors)
    assert errors.summary() == (
        'runs.zip, run \'gpt-70M\' step 2000, column "train/loss": "-2.9" is not positive; '
        "expected a positive loss in nats like 2.35"
    )


def test_export_format_error_becomes_an_ingest_error(monkeypatch) -> None:
    fake_importers(monkeypatch, error="runs.zip: member wandb/run-1.wandb is truncated; expected …")
    errors = read_table("runs.zip", b"PK\x03\x04 fake")
    assert isinstance(errors, IngestErrors)
    assert errors.summary() == "runs.zip: member wandb/run-1.wandb is truncated; expected …"


def test_a_broken_importer_never_breaks_csv(monkeypatch) -> None:
    fake_importers(monkeypatch, broken=True)
    parsed = parse_table("runs.csv", b"params,tokens,loss\n1e8,2e9,2.5\n")
    assert isinstance(parsed, ParsedTable)
    monkeypatch.setitem(sys.modules, "scaling_core.importers", None)  # import fails
    assert isinstance(parse_table("runs.csv", b"params,tokens,loss\n1e8,2e9,2.5\n"), ParsedTable)


# -- pyarrow without pandas ---------------------------------------------------------------------


def test_arrow_to_numpy_handles_nulls_slices_and_booleans() -> None:
    from scaling_core.ingest_arrow import bool_array, int_array, to_numpy

    floats = pa.array([1.5, None, 3.0, 4.0]).slice(1)
    np.testing.assert_array_equal(to_numpy(floats), [np.nan, 3.0, 4.0])
    assert to_numpy(pa.array([1, 2, 3], pa.int32()).slice(1)).tolist() == [2, 3]
    flags = pa.array([True, None, False, True, True, False, True, True, False]).slice(2)
    assert to_numpy(flags).tolist() == [False, True, True, False, True, True, False]
    assert to_numpy(pa.chunked_array([], pa.float64())).size == 0
    mask = np.array([True, False, True] * 5)
    assert to_numpy(bool_array(mask)).tolist() == mask.tolist()
    assert to_numpy(int_array(np.array([3, 1]))).tolist() == [3, 1]


def test_a_large_csv_is_read_without_importing_pandas(tmp_path: Path) -> None:
    """The CLI fits large files through pyarrow; pyarrow's own conversions would import
    pandas (0.4 s or more), so ingest converts through buffers."""
    rows = [f"r{i % 50},{(i % 50 + 1) * 1e7:g},{(i + 1) * 1e6:g},{i},{3 + 1 / (i + 1):.6f},"
            f"{'70M' if i % 7 else ''}" for i in range(60_000)]  # fmt: skip
    path = tmp_path / "big.csv"
    path.write_text("run,params,tokens,step,loss,note\n" + "\n".join(rows) + "\n")
    assert path.stat().st_size > ingest_read.ARROW_MIN_BYTES
    script = (
        "import sys; from scaling_core.ingest import load_runs_from_file; "
        f"runs = load_runs_from_file({str(path)!r}); "
        "print(runs.n, 'pyarrow' in sys.modules, 'pandas' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.split() == ["50", "True", "False"]


def test_a_real_tracker_export_maps_its_logged_names() -> None:
    fixture = REPO / "tests" / "fixtures" / "importers" / "wandb_api_project.csv"
    if not fixture.exists():
        pytest.skip("the importer fixtures are not in this checkout")
    parsed = parse_table(fixture.name, fixture.read_bytes())
    assert isinstance(parsed, ParsedTable), parsed.messages()
    assert parsed.format == "wandb"
    assert parsed.mapping["loss"] == "eval/loss"
    assert parsed.mapping["tokens"] == "train/tokens_seen"
    assert parsed.n_runs == 5
