"""Tests for scaling_core.ingest: mapping, number parsing, encodings, validation, reduction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_core.ingest import (
    IngestError,
    IngestErrors,
    ParsedTable,
    RawTable,
    load_runs_from_file,
    parse_number,
    parse_table,
    read_table,
    suggest_mapping,
    validate_table,
)

REPO = Path(__file__).resolve().parent.parent
CHINCHILLA = REPO / "data" / "chinchilla_epoch.csv"
EXAMPLE = REPO / "data" / "example_runs.csv"


def parsed_ok(filename: str, data: bytes, mapping: dict[str, str] | None = None) -> ParsedTable:
    result = parse_table(filename, data, mapping)
    assert isinstance(result, ParsedTable), result.messages()
    return result


def rejected(filename: str, data: bytes, mapping: dict[str, str] | None = None) -> IngestErrors:
    result = parse_table(filename, data, mapping)
    assert isinstance(result, IngestErrors), "expected the file to be rejected"
    return result


# -- column mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("params", "params"),
        ("n_params", "params"),
        ("Num Params", "params"),
        ("N", "params"),
        ("Model Size", "params"),
        ("PARAMETERS", "params"),
        ("model-size", "params"),
        ("tokens", "tokens"),
        ("D", "tokens"),
        ("n_tokens", "tokens"),
        ("Training Tokens", "tokens"),
        ("data", "tokens"),
        ("flops", "flops"),
        ("compute", "flops"),
        ("C", "flops"),
        ("Training FLOP", "flops"),
        ("training_flops", "flops"),
        ("Final Loss", "loss"),
        ("eval_loss", "val_loss"),
        ("Validation Loss", "val_loss"),
        ("training_loss", "train_loss"),
        ("run_name", "run"),
        ("Run ID", "run"),
        ("model", "run"),
        ("global_step", "step"),
        ("iteration", "step"),
        ("bs", "batch_size"),
        ("LR", "learning_rate"),
        ("model_family", "group"),
        ("arch", "group"),
    ],
)
def test_synonyms_map_to_canonical_columns(header: str, canonical: str) -> None:
    mapping = suggest_mapping(["unrelated", header])
    assert mapping.get(canonical) == header


def test_chinchilla_headers_map_automatically() -> None:
    headers = ["x", "y", "color", "Model Size", "Training FLOP", "hex_color", "loss"]
    assert suggest_mapping(headers) == {
        "params": "Model Size",
        "flops": "Training FLOP",
        "loss": "loss",
    }


def test_loss_falls_back_to_val_loss_then_train_loss() -> None:
    assert suggest_mapping(["N", "D", "train_loss", "val_loss"])["loss"] == "val_loss"
    assert suggest_mapping(["N", "D", "training_loss"])["loss"] == "training_loss"
    explicit = suggest_mapping(["N", "D", "val_loss", "loss"])
    assert explicit["loss"] == "loss"
    assert explicit["val_loss"] == "val_loss"


def test_user_mapping_overrides_the_suggestion() -> None:
    data = b"size,toks,metric,other\n1e8,2e9,2.5,9\n2e8,4e9,2.3,8\n"
    parsed = parsed_ok("m.csv", data, {"params": "size", "tokens": "toks", "loss": "metric"})
    assert parsed.points["loss"].tolist() == [2.5, 2.3]
    unmapped = rejected("m.csv", data)
    assert "no column gives parameter count" in unmapped.summary()


# -- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2.35", 2.35),
        ("1.4e9", 1.4e9),
        ("70M", 70e6),
        ("1.4B", 1.4e9),
        ("2T", 2e12),
        ("500K", 500e3),
        ("500k", 500e3),
        (" 3.5 B ", 3.5e9),
        ("1,000", 1000.0),
        ("1,234,567.5", 1234567.5),
        (".5", 0.5),
    ],
)
def test_parse_number_accepts_common_spellings(text: str, value: float) -> None:
    assert parse_number(text) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("text", ["abc", "", "1,5", "12,34", "1.2.3", "70X", "B", "1e"])
def test_parse_number_rejects_non_numbers(text: str) -> None:
    assert parse_number(text) is None


def test_suffixes_and_quoted_thousands_in_a_comma_csv() -> None:
    data = b'run,params,tokens,loss\na,70M,"1,400,000,000",3.1\nb,1.4B,28B,2.4\n'
    parsed = parsed_ok("s.csv", data)
    assert parsed.points["params"].tolist() == [70e6, 1.4e9]
    assert parsed.points["tokens"].tolist() == [1.4e9, 28e9]


def test_unquoted_thousands_in_a_comma_csv_is_reported_as_extra_fields() -> None:
    data = b"params,tokens,loss\n7e7,1,400,000,000,3.1\n"
    errors = rejected("t.csv", data)
    assert "row 2" in errors.summary()
    assert "must be quoted" in errors.summary()


# -- encodings and delimiters -------------------------------------------------------------------


def test_utf8_bom_is_stripped_from_the_first_header() -> None:
    data = "\ufeffparams,tokens,loss\n1e8,2e9,2.5\n".encode()
    parsed = parsed_ok("bom.csv", data)
    assert parsed.encoding == "utf-8-sig"
    assert parsed.mapping["params"] == "params"


def test_latin1_fallback_keeps_accented_headers_and_names() -> None:
    data = "run,params,tokens,loss,Größe\nmodèle-1,1e8,2e9,2.5,x\n".encode("latin-1")
    parsed = parsed_ok("l1.csv", data)
    assert parsed.encoding == "latin-1"
    assert parsed.points["run"].tolist() == ["modèle-1"]
    assert "Größe" in parsed.headers


def test_utf16_with_bom_is_read() -> None:
    data = "params\ttokens\tloss\n1e8\t2e9\t2.5\n".encode("utf-16")
    assert parsed_ok("u16.txt", data).n_rows == 1


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_sniffed(delimiter: str) -> None:
    text = delimiter.join(["run", "params", "tokens", "loss"]) + "\n"
    text += delimiter.join(["a", "1,000,000", "2e9", "2.5"]) + "\n"
    parsed = parsed_ok("d.csv", text.encode())
    assert parsed.delimiter == delimiter
    assert parsed.points["params"].tolist() == [1e6]


def test_semicolon_file_with_decimal_commas_gets_a_hint() -> None:
    errors = rejected("eu.csv", b"params;tokens;loss\n1e8;2e9;2,5\n")
    assert "decimal separator" in errors.summary()


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"", "empty"),
        (b"  \n\n ", "empty"),
        (b"params,tokens,loss\n", "no data rows"),
        (b"params,tokens,loss\n\n\n", "no data rows"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "zip archive"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ],
)
def test_unreadable_files_are_rejected_with_a_reason(data: bytes, phrase: str) -> None:
    result = read_table("bad.csv", data)
    assert isinstance(result, IngestErrors)
    assert phrase in result.summary()
    assert result.summary().startswith("bad.csv")


def test_blank_lines_keep_spreadsheet_row_numbers() -> None:
    raw = read_table("b.csv", b"params,tokens,loss\n\n1e8,2e9,2.5\n")
    assert isinstance(raw, RawTable)
    assert raw.row_numbers.tolist() == [3]


# -- validation messages ------------------------------------------------------------------------

GOOD_HEADER = b"run,n_params,tokens,loss\n"


@pytest.mark.parametrize(
    ("line", "column", "value", "phrase"),
    [
        (b"a,abc,2e9,2.5", "n_params", "abc", "not a number"),
        (b"a,0,2e9,2.5", "n_params", "0", "not positive"),
        (b"a,-1e8,2e9,2.5", "n_params", "-1e8", "not positive"),
        (b"a,1e8,nan,2.5", "tokens", "nan", "not a finite number"),
        (b"a,1e8,inf,2.5", "tokens", "inf", "not a finite number"),
        (b"a,1e8,2e9,-0.1", "loss", "-0.1", "not positive"),
        (b"a,1e8,2e9,two", "loss", "two", "not a number"),
        (b"a,1e8,20,2.5", "tokens", "20", "wrong unit"),
    ],
)
def test_each_error_names_file_row_column_value_and_expectation(
    line: bytes, column: str, value: str, phrase: str
) -> None:
    data = GOOD_HEADER + b"ok,1e8,2e9,2.5\n" + line + b"\n"
    errors = rejected("runs.csv", data)
    message = errors.summary()
    assert message.startswith("runs.csv, row 3 (header = row 1)"), message
    assert f'column "{column}"' in message
    assert f'"{value}"' in message
    assert phrase in message
    assert "expected" in message


def test_empty_required_cell_is_named() -> None:
    errors = rejected("runs.csv", GOOD_HEADER + b"a,1e8,,2.5\n")
    assert errors.summary().startswith('runs.csv, row 2 (header = row 1), column "tokens"')
    assert "empty" in errors.summary()


def test_missing_required_columns_are_listed() -> None:
    errors = rejected("runs.csv", b"run,loss\na,2.5\n")
    text = "\n".join(errors.messages())
    assert "parameter count" in text
    assert "training tokens or training FLOPs" in text
    assert '"run", "loss"' in text


def test_optional_columns_may_be_empty_but_not_garbage() -> None:
    ok = parsed_ok("o.csv", b"params,tokens,loss,lr\n1e8,2e9,2.5,\n2e8,4e9,2.4,3e-4\n")
    assert np.isnan(ok.points["learning_rate"].iloc[0])
    errors = rejected("o.csv", b"params,tokens,loss,lr\n1e8,2e9,2.5,fast\n")
    assert 'column "lr": "fast" is not a number' in errors.summary()


def test_error_list_is_capped_with_a_count_of_the_rest() -> None:
    data = b"params,tokens,loss\n" + b"x,2e9,2.5\n" * 30
    errors = rejected("many.csv", data)
    assert errors.total == 30
    lines = errors.messages()
    assert len(lines) == 21
    assert lines[-1] == "… and 10 more problems in many.csv"
    assert "(and 29 more problems)" in errors.summary()


def test_same_run_with_different_params_is_an_error_naming_the_run() -> None:
    data = b"run,params,tokens,loss,step\nr1,1e8,1e9,3.0,1\nr1,2e8,2e9,2.8,2\nr2,1e8,1e9,3,1\n"
    errors = rejected("runs.csv", data)
    message = errors.summary()
    assert '"r1"' in message
    assert "row 3" in message
    assert 'column "params"' in message
    assert errors.total == 1


def test_flops_only_file_derives_tokens_and_checks_units() -> None:
    bad = rejected("f.csv", b"N,C,loss\n1e9,6e9,2.5\n")  # D = C/(6N) = 1 token
    assert 'column "C"' in bad.summary()
    assert "wrong unit" in bad.summary()


# -- reduction ----------------------------------------------------------------------------------

STEP_LOG = (
    b"run,params,tokens,step,loss\n"
    b"a,1e8,1e9,100,3.0\n"
    b"a,1e8,3e9,300,2.9\n"  # best of a
    b"a,1e8,2e9,200,2.95\n"  # logged out of order: final of a is step 300
    b"b,2e8,1e9,100,2.8\n"
    b"b,2e8,2e9,200,2.85\n"  # final of b (loss went up: best is step 100)
)


def test_final_reduction_takes_the_largest_step() -> None:
    parsed = parsed_ok("log.csv", STEP_LOG)
    assert parsed.has_step_logs
    runs = parsed.run_table("final")
    assert runs.run.tolist() == ["a", "b"]
    assert runs.tokens.tolist() == [3e9, 2e9]
    assert runs.loss.tolist() == [2.9, 2.85]
    assert runs.compute.tolist() == pytest.approx([6 * 1e8 * 3e9, 6 * 2e8 * 2e9])


def test_best_reduction_takes_the_lowest_loss_row() -> None:
    runs = parsed_ok("log.csv", STEP_LOG).run_table("best")
    assert runs.loss.tolist() == [2.9, 2.8]
    assert runs.tokens.tolist() == [3e9, 1e9]


def test_final_without_step_column_takes_the_last_row() -> None:
    data = b"run,params,tokens,loss\na,1e8,1e9,3.0\na,1e8,2e9,3.1\n"
    runs = parsed_ok("nostep.csv", data).run_table("final")
    assert runs.loss.tolist() == [3.1]


def test_without_run_column_each_row_is_a_run_named_by_its_row() -> None:
    parsed = parsed_ok("r.csv", b"params,tokens,loss\n1e8,2e9,2.5\n2e8,4e9,2.4\n")
    assert not parsed.has_step_logs
    assert parsed.run_table().run.tolist() == ["row 2", "row 3"]


def test_group_column_reaches_the_run_table() -> None:
    data = b"run,arch,params,tokens,loss\na,dense,1e8,2e9,2.5\nb,moe,1e8,2e9,2.3\n"
    assert parsed_ok("g.csv", data).run_table().group.tolist() == ["dense", "moe"]


# -- the CLI helper and the bundled files -------------------------------------------------------


def test_load_runs_from_file_chinchilla() -> None:
    runs = load_runs_from_file(str(CHINCHILLA))
    assert runs.n == 245
    assert runs.params.min() == pytest.approx(5.73e7, rel=1e-2)
    assert runs.loss.max() == pytest.approx(5.006, rel=1e-3)
    np.testing.assert_allclose(runs.tokens, runs.compute / (6 * runs.params))
    assert runs.tokens.min() == pytest.approx(2.45e8, rel=1e-2)


def test_load_runs_from_file_example_runs() -> None:
    final = load_runs_from_file(str(EXAMPLE), "final")
    best = load_runs_from_file(str(EXAMPLE), "best")
    assert final.n == best.n == 26
    assert np.unique(final.params).size == 8
    assert (best.loss <= final.loss).all()


def test_load_runs_from_file_raises_one_line_ingest_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"params,tokens,loss\n1e8,abc,2.5\n1e8,x,2.5\n")
    with pytest.raises(IngestError) as info:
        load_runs_from_file(str(bad))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith('bad.csv, row 2 (header = row 1), column "tokens": "abc"')
    assert message.endswith("(and 1 more problem)")
    with pytest.raises(IngestError, match="cannot be read"):
        load_runs_from_file(str(tmp_path / "missing.csv"))


def test_duplicate_and_blank_headers_get_unique_names() -> None:
    raw = read_table("h.csv", b"loss,loss,,params,tokens\n2.5,9,1,1e8,2e9\n")
    assert isinstance(raw, RawTable)
    assert raw.headers == ("loss", "loss (2)", "column 3", "params", "tokens")
    parsed = validate_table(raw)
    assert isinstance(parsed, ParsedTable)
    assert parsed.points["loss"].tolist() == [2.5]


def test_control_characters_in_values_are_escaped_in_messages() -> None:
    errors = rejected("c.csv", b'params,tokens,loss\n"1e8\x1b[31m",2e9,2.5\n')
    assert "\x1b" not in errors.summary()


def test_example_runs_file_is_reproduced_by_its_generator_and_follows_the_law() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_example_runs", REPO / "scripts" / "make_example_runs.py"
    )
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.render_csv(generator.generate_rows()) == EXAMPLE.read_text(encoding="utf-8")
    parsed = parsed_ok("example_runs.csv", EXAMPLE.read_bytes())
    points = parsed.points
    assert parsed.n_rows < 1000
    clean = generator.law_loss(points["params"].to_numpy(), points["tokens"].to_numpy())
    # sigma = 0.005 lognormal noise: every point within 5 sigma of the law
    assert np.abs(np.log(points["val_loss"].to_numpy() / clean)).max() < 0.025


# -- robustness: untrusted bytes never raise ------------------------------------------------------

_CSV_ALPHABET = "params,tokens,loss;run\t\n\r\"' 0123456789.eE+-MBKT_,nainf\x00é\ufeff"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(_CSV_ALPHABET, max_size=300).map(str.encode)))
def test_any_bytes_give_a_table_or_errors_never_an_exception(data: bytes) -> None:
    result = parse_table("fuzz.csv", data)
    assert isinstance(result, ParsedTable | IngestErrors)
    if isinstance(result, IngestErrors):
        assert result.total >= 1
        assert result.summary().startswith("fuzz.csv")
    else:
        runs = result.run_table("final")
        assert np.isfinite(runs.params).all() and (runs.params > 0).all()
        assert np.isfinite(runs.loss).all() and (runs.loss > 0).all()


def _parquet_prefix() -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table({"params": [1e8, 2e8], "tokens": [2e9, 4e9], "loss": [2.5, 2.4]}), sink)
    return sink.getvalue()


_PARQUET = _parquet_prefix()
_JSON_ALPHABET = '{}[]":,. 0123456789eE+-truefalsnul\\n\xe9paramstokensloss_/'


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        # damaged Parquet: a real file cut, overwritten or extended at random places
        st.tuples(st.integers(0, len(_PARQUET)), st.binary(max_size=40)).map(
            lambda cut: _PARQUET[: cut[0]] + cut[1]
        ),
        st.tuples(st.integers(0, len(_PARQUET) - 1), st.binary(min_size=1, max_size=8)).map(
            lambda hit: _PARQUET[: hit[0]] + hit[1] + _PARQUET[hit[0] + len(hit[1]) :]
        ),
        st.binary(max_size=200).map(lambda tail: b"PAR1" + tail),
    ),
)
def test_damaged_parquet_gives_a_table_or_errors_never_an_exception(data: bytes) -> None:
    result = parse_table("fuzz.parquet", data)
    assert isinstance(result, ParsedTable | IngestErrors)
    if isinstance(result, IngestErrors):
        assert result.summary().startswith("fuzz.parquet")


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        st.text(_JSON_ALPHABET, max_size=300),
        st.lists(
            st.dictionaries(
                st.sampled_from(["params", "tokens", "loss", "run", "step", "eval/loss", "a.b"]),
                st.recursive(
                    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                    lambda inner: (
                        st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
                    ),
                    max_leaves=6,
                ),
                max_size=6,
            ),
            max_size=6,
        ).map(lambda records: "\n".join(json.dumps(r) for r in records)),
    ).map(str.encode)
)
def test_any_json_lines_give_a_table_or_errors_never_an_exception(data: bytes) -> None:
    result = parse_table("fuzz.jsonl", data)
    assert isinstance(result, ParsedTable | IngestErrors)
    if isinstance(result, IngestErrors):
        assert result.total >= 1
        assert result.summary().startswith("fuzz.jsonl")
    else:
        runs = result.run_table("final")
        assert np.isfinite(runs.params).all() and (runs.params > 0).all()
        assert np.isfinite(runs.loss).all() and (runs.loss > 0).all()


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-12, max_value=1e25, allow_nan=False))
def test_parse_number_roundtrips_python_float_text(value: float) -> None:
    assert parse_number(repr(value)) == value
    assert parse_number(f"{value:e}") == pytest.approx(value, rel=1e-6)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    data=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.one_of(st.none(), st.integers(0, 5)),
            st.sampled_from([2.0, 2.5, 3.0, 3.5]),
        ),
        min_size=1,
        max_size=25,
    ),
    reduction=st.sampled_from(["final", "best"]),
    at_step=st.one_of(st.none(), st.integers(0, 5)),
)
def test_numpy_reduction_matches_the_pandas_one(data, reduction, at_step) -> None:
    """run_table_from_columns (numpy: the CLI path) and reduce_points (pandas: the page) pick
    the same rows, ties and empty steps included, with and without an at-step cut."""
    import pandas as pd

    from scaling_core.ingest import (
        POINT_COLUMNS,
        ReductionError,
        reduce_points,
        run_table_from_columns,
        run_table_from_reduced,
    )

    params = {"a": 1e7, "b": 2e7, "c": 4e7, "d": 8e7}
    n = len(data)
    columns = {name: np.full(n, np.nan) for name in POINT_COLUMNS}
    columns["row_number"] = np.arange(2, n + 2)
    columns["run"] = np.array([run for run, _, _ in data], dtype=object)
    columns["group"] = np.full(n, None, dtype=object)
    columns["params"] = np.array([params[run] for run, _, _ in data])
    columns["tokens"] = (np.arange(n) + 1) * 1e9
    columns["step"] = np.array([np.nan if s is None else float(s) for _, s, _ in data])
    columns["loss"] = np.array([loss for _, _, loss in data])
    try:
        fast = run_table_from_columns(columns, reduction, at_step)
    except ReductionError:
        with pytest.raises(ReductionError):
            reduce_points(pd.DataFrame(columns), reduction, at_step)
        return
    slow = run_table_from_reduced(reduce_points(pd.DataFrame(columns), reduction, at_step))
    assert fast.run.tolist() == slow.run.tolist()
    np.testing.assert_array_equal(fast.tokens, slow.tokens)
    np.testing.assert_array_equal(fast.loss, slow.loss)


def test_a_sweep_of_tiny_parameter_counts_warns_about_units() -> None:
    """70, 140, 280 "parameters" with tokens in the same unit pass the tokens/params ratio
    check; only the counts themselves reveal sizes written in millions."""
    parsed = parse_table("r.csv", b"run,params,tokens,loss\na,70,1.4,3.1\nb,140,2.8,2.9\n")
    assert isinstance(parsed, ParsedTable)
    (warning,) = parsed.warnings
    assert warning.column == "params"
    assert "fewer than 10,000 parameters (the largest has 140)" in warning.message()
    in_millions = parse_table("r.csv", b"run,params,tokens,loss\na,70M,1.4B,3.1\nb,140M,2.8B,2.9\n")
    assert isinstance(in_millions, ParsedTable) and in_millions.warnings == ()


def test_an_exact_parameter_count_wins_over_a_size_label() -> None:
    """Tracker configs often hold both ``model_size: "10M"`` (a label, ~2% off) and
    ``n_params: 10223616``: the earlier synonym wins whatever the column order."""
    mapping = suggest_mapping(["run", "model_size", "n_params", "loss", "tokens"])
    assert mapping["params"] == "n_params"
    assert suggest_mapping(["run", "model_size", "loss", "tokens"])["params"] == "model_size"
