"""pyarrow's float64 read of plain-number columns gives exactly what the all-text read gives.

Large delimited files read the columns whose sampled cells are plain numbers as float64
(``RawColumn`` kind ``"parsed"``), fall back to text when a later cell is not one, and re-read
a column's text only when names or a cell's text are asked for. Here any choice of float
columns, on any mix of cells, must give the same raw table, the same parse and the same
messages as reading every column as text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_core import ingest_read
from scaling_core.ingest import (
    IngestErrors,
    ParsedTable,
    RawTable,
    parse_table,
    suggest_mapping,
    validate_table,
)
from scaling_core.ingest_numbers import NOT_FINITE

HEADERS = ("run", "params", "tokens", "step", "loss", "val_loss")


@contextmanager
def float_columns(choose: Callable[[tuple[str, ...]], tuple[str, ...]]) -> Iterator[None]:
    """Large-file reads that take ``choose(headers)`` as their float64 columns."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest_read, "ARROW_MIN_BYTES", 0)
        patch.setattr(ingest_read, "ARROW_MIN_BYTES_LOADED", 0)
        patch.setattr(
            ingest_read,
            "_plain_number_columns",
            lambda sample, delimiter, headers: choose(headers),
        )
        yield


def text_read(name: str, data: bytes) -> RawTable | IngestErrors | None:
    """The pyarrow reader with every column read as text (the reference)."""
    with float_columns(lambda headers: ()):
        return ingest_read._arrow_delimited(name, data)


def typed_read(name: str, data: bytes, floats: set[str]) -> RawTable | IngestErrors | None:
    with float_columns(lambda headers: tuple(h for h in headers if h in floats)):
        return ingest_read._arrow_delimited(name, data)


def raw_view(raw: RawTable | IngestErrors | None) -> object:
    """Everything a reader decides, exactly (values by their bits)."""
    if raw is None or isinstance(raw, IngestErrors):
        return raw if raw is None else raw.messages(1000)
    columns = {}
    for header in raw.headers:
        column = raw.columns[header]
        values, verdicts = column.numbers()
        codes, names = column.texts()
        cells = [column.cell(i) for i in range(raw.n_rows)]
        columns[header] = (
            values.tobytes(),
            verdicts.tolist(),
            codes.tolist(),
            names.tolist(),
            cells,
        )
    return (raw.headers, raw.row_numbers.tolist(), raw.delimiter, raw.encoding, columns)


def parsed_view(result: ParsedTable | IngestErrors) -> object:
    """A parse or its messages, exactly."""
    if isinstance(result, IngestErrors):
        return ("errors", result.total, result.messages(1000))
    columns = {
        name: values.tolist() if values.dtype == object else (values.dtype.str, values.tobytes())
        for name, values in result.columns.items()
    }
    warnings = [issue.message() for issue in result.warnings]
    run_index = None if result.run_index is None else result.run_index.tolist()
    return (result.mapping, result.units, columns, warnings, run_index, result.n_runs)


def assert_same_as_text(data: bytes, floats: set[str], name: str = "t.csv") -> None:
    """Raw tables, previews and parses agree (default mapping; numeric columns as group, run)."""
    reference, typed = text_read(name, data), typed_read(name, data, floats)
    if isinstance(reference, RawTable):  # first, while the float columns' text is unread
        assert isinstance(typed, RawTable) and typed.preview(5) == reference.preview(5)
    assert raw_view(typed) == raw_view(reference)
    if not isinstance(reference, RawTable):
        return
    assert isinstance(typed, RawTable)
    mapping = suggest_mapping(reference.headers)
    for choice in (mapping, {**mapping, "group": "tokens"}, {**mapping, "run": "params"}):
        expected = parsed_view(validate_table(text_read(name, data), choice))  # type: ignore[arg-type]
        assert parsed_view(validate_table(typed_read(name, data, floats), choice)) == expected  # type: ignore[arg-type]


# -- random files -------------------------------------------------------------------------------

_PLAIN = st.one_of(
    st.integers(-(10**15), 10**15).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(min_value=1e-3, max_value=1e12).map(lambda v: f"{v:.6g}"),
    st.sampled_from(["0", "-0", "-5", "1.50", "+.5e+3", "5.", ".5", "1E5", "00012", "2e-324"]),
)
_READ_ODDLY = st.sampled_from(
    ["", " 5", "5 ", "\t7", '" 8 "', '"5"', "nan", "NaN", "-inf", "Infinity", "1e400", "-1e400",
     "nan(1)"]
)  # fmt: skip
"""Cells pyarrow's float reader takes (trimmed, or as NaN/infinity the grammar must judge)."""
_REFUSED = st.sampled_from(["70M", '"1,000"', "1_000", "abc", '""', "1e", "é", '"2,5"'])
"""Cells it refuses: the whole file is then read as text."""
_COLUMNS = st.sampled_from(
    [
        _PLAIN,  # what a float column usually holds
        st.one_of(_PLAIN, _PLAIN, _READ_ODDLY),  # read as floats, some judged on their text
        st.one_of(_PLAIN, _PLAIN, _PLAIN, _READ_ODDLY, _REFUSED),  # often back to text
    ]
)
_RUN = st.one_of(st.sampled_from(["a", "b", "17", "1.50", " 17", "017", "1e3", ""]), _PLAIN)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A small CSV (or TSV, or ;-separated) of runs and numbers, plain mostly, with every kind
    of awkward cell."""
    n_rows = draw(st.integers(1, 12))
    cells = [_RUN] + [draw(_COLUMNS) for _ in HEADERS[1:]]  # a kind of cells per column
    rows = [[draw(column) for column in cells] for _ in range(n_rows)]
    delimiter = draw(st.sampled_from([",", ",", ";", "\t"]))
    lines = [delimiter.join(f'"{h}"' if draw(st.booleans()) else h for h in HEADERS)]
    for row in rows:
        lines.append(delimiter.join(row))
        if draw(st.integers(0, 9)) == 0:
            lines.append("")  # a blank line: rows keep their spreadsheet numbers
    end = "\r\n" if draw(st.booleans()) else "\n"
    return (end.join(lines) + end).encode()


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=csv_files(), floats=st.sets(st.sampled_from(HEADERS)))
def test_any_float_columns_give_what_the_text_read_gives(data: bytes, floats: set[str]) -> None:
    assert_same_as_text(data, floats)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True), min_size=1
    )
)
def test_float_text_is_read_bit_for_bit(values: list[float]) -> None:
    lines = ["run,params,tokens,loss"] + [
        f"r{i},{v!r},{v:.17g},{v:e}" for i, v in enumerate(values)
    ]
    assert_same_as_text(("\n".join(lines) + "\n").encode(), {"params", "tokens", "loss"})


# -- the sample's choice and the fallbacks ---------------------------------------------------


def test_sample_chooses_columns_of_plain_numbers_only() -> None:
    sample = (
        "run,params,tokens,loss,note,empty,spaced,size\n"
        "17,1e8,2000,2.5,x,,1,70M\n"
        "a,-3.5E+2,,.5,,, 2,1\n"
        "b,+5.,1,0,1,,3,2\n"
        "c,1e8,2000,2.5,x"  # cut off: not a complete record
    )
    headers = tuple(sample.split("\n")[0].split(","))
    chosen = ingest_read._plain_number_columns(sample, ",", headers)
    assert chosen == ("params", "tokens", "loss")  # "run": names; "spaced": " 2"


def big_file(last_rows: list[str]) -> bytes:
    """A file larger than the sample (and the pyarrow threshold), clean until ``last_rows``."""
    rows = [f"run-{i // 100},{(i // 100 + 1) * 1e7:g},{(i + 1) * 1e6:g},{i},{3 + 1 / (i + 1):.6f}"
            for i in range(60_000)]  # fmt: skip
    text = "run,params,tokens,step,loss\n" + "\n".join(rows + last_rows) + "\n"
    data = text.encode()
    assert len(data) > max(ingest_read.ARROW_MIN_BYTES, 65536)
    return data


def count_text_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int | None]]:
    """(header, head) of every re-read of a float column's text from now on, in order."""
    reread: list[tuple[str, int | None]] = []
    original = ingest_read._ArrowCsv.text

    def text(self: ingest_read._ArrowCsv, header: str, head: int | None = None) -> object:
        reread.append((header, head))
        return original(self, header, head)

    monkeypatch.setattr(ingest_read._ArrowCsv, "text", text)
    return reread


def read_as_floats(data: bytes) -> tuple[RawTable, set[str]]:
    raw = ingest_read.read_table("big.csv", data)
    assert isinstance(raw, RawTable)
    return raw, {h for h, column in raw.columns.items() if column.kind == "parsed"}


def test_a_later_cell_that_is_no_plain_number_sends_the_file_back_to_text() -> None:
    data = big_file(["run-x,70M,1e9,60000,2.5"])
    raw, floats = read_as_floats(data)
    assert floats == set()  # "70M" refused by pyarrow's float reader: every column is text
    assert raw.columns["params"].numbers()[0][-1] == 70e6
    assert raw_view(raw) == raw_view(text_read("big.csv", data))


def test_a_later_nan_is_judged_by_the_grammar_on_its_text(monkeypatch) -> None:
    reread = count_text_reads(monkeypatch)
    data = big_file(["run-x,1e8,nan(1),60000,-Infinity"])
    raw, floats = read_as_floats(data)
    assert floats == {"params", "tokens", "step", "loss"}
    errors = validate_table(raw)
    assert isinstance(errors, IngestErrors)
    assert errors.messages() == [
        'big.csv, row 60002 (header = row 1), column "tokens": "nan(1)" is not a number; '
        "expected a positive token count like 2.8e10 or 20B",
        'big.csv, row 60002 (header = row 1), column "loss": "-Infinity" is not a finite '
        "number; expected a positive loss in nats like 2.35",
    ]
    assert sorted(reread) == [("loss", None), ("tokens", None)]  # only where needed
    assert raw.columns["loss"].numbers()[1][-1] == NOT_FINITE
    assert parsed_view(errors) == parsed_view(validate_table(text_read("big.csv", data)))  # type: ignore[arg-type]


def test_cells_are_quoted_as_written_and_text_is_read_only_when_needed(monkeypatch) -> None:
    clean = big_file([])
    reread = count_text_reads(monkeypatch)
    assert isinstance(parse_table("big.csv", clean), ParsedTable)
    assert reread == []  # a clean file never needs its numbers' text
    errors = parse_table("big.csv", big_file(["run-x,1e8,1e9,60000,-0.50"]))
    assert isinstance(errors, IngestErrors)
    assert errors.summary() == (
        'big.csv, row 60002 (header = row 1), column "loss": "-0.50" is not positive; '
        "expected a positive loss in nats like 2.35"
    )
    assert reread == [("loss", None)]


def test_a_preview_reads_only_the_start_of_the_text(monkeypatch) -> None:
    reread = count_text_reads(monkeypatch)
    data = big_file(["run-x,1e8,1e9,60000,2.50"])
    raw, floats = read_as_floats(data)
    reference = text_read("big.csv", data)
    assert isinstance(reference, RawTable)
    assert raw.preview(20) == reference.preview(20)
    assert sorted(reread) == [(header, 20) for header in sorted(floats)]
    many = raw.n_rows - 1  # more records than the first block holds
    assert raw.columns["loss"].head(many) == reference.columns["loss"].head(many)
    assert raw.columns["loss"].head(many)[-1] == "3.000017"


def test_numeric_run_names_keep_their_text() -> None:
    rows = [f"{1 + i // 100}.50,{(i // 100 + 1) * 1e7:g},{(i + 1) * 1e6:g},{i},3.5"
            for i in range(60_000)]  # fmt: skip
    data = ("run,params,tokens,step,loss\n" + "\n".join(rows) + "\n").encode()
    raw, floats = read_as_floats(data)
    assert "run" in floats
    parsed = validate_table(raw)
    assert isinstance(parsed, ParsedTable)
    assert parsed.columns["run"][:2].tolist() == ["1.50", "1.50"]
    assert parsed.columns["run"][-1] == "600.50"
    assert parsed_view(parsed) == parsed_view(validate_table(text_read("t.csv", data)))  # type: ignore[arg-type]


def test_a_long_line_keeps_every_column_as_text() -> None:
    """A float column could hide a cell longer than the limit, which the text read rejects."""
    data = big_file(["run-x,1" + "0" * 140_000 + ",1e9,60000,2.5"])
    assert ingest_read._scan_lines(data).long
    for result in (ingest_read.read_table("big.csv", data), text_read("big.csv", data)):
        assert isinstance(result, IngestErrors)
        assert "row 60002 (header = row 1)" in result.summary()
        assert "longer than 131,072 characters" in result.summary()


def test_line_scan_counts_breaks_and_finds_long_lines() -> None:
    window = ingest_read._LINE_WINDOW
    long_line = b"x" * (ingest_read.MAX_FIELD_CHARS + 1)
    for data in (b"", b"a\n", b"a\nb", b"ab\n" * window, b"a\n" + long_line, long_line + b"\n" * 5):
        lines = ingest_read._scan_lines(data)
        assert lines.newlines == data.count(b"\n")
        longest = max(len(line) for line in data.split(b"\n"))
        if longest > ingest_read.MAX_FIELD_CHARS:
            assert lines.long  # a float column might hide a cell that long
        if longest < window:
            assert not lines.long
