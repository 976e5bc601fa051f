"""Bytes → :class:`RawTable`: format detection, decoding, and one reader per format.

Formats: delimited text (CSV, TSV, ``;`` and ``|``; UTF-8 with or without BOM, UTF-16 with
BOM, Latin-1), Parquet, JSON Lines, and tracking exports (W&B, TensorBoard, MLflow) through
``scaling_core.importers``, imported lazily so a missing or broken importer never breaks CSV.

Delimited text has two readers with one result. Small files are split by Python's ``csv``
module (no pyarrow import: the CLI stays quick). Large ones go to pyarrow's multi-threaded CSV
reader with every column read as text, so the number grammar stays ours — except columns
whose sampled cells are all plain numbers, which pyarrow reads as float64 to the grammar's
own values (far cheaper than text plus a cast; a later cell it cannot read sends the whole
file back to the all-text read, and the text of such a column is re-read only if asked for).
Whenever pyarrow cannot give exact spreadsheet row numbers (ragged rows, quoted line breaks
with blank lines…) or fails, the Python reader runs instead and reports precisely.
``tests/test_ingest_read.py`` and ``tests/test_ingest_typed.py`` check that the readers give
the same table.

Nothing here writes anything; every failure is an :class:`IngestErrors`, never an exception.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import PurePath
from typing import Any

import numpy as np

from scaling_core.ingest_arrow import to_numpy
from scaling_core.ingest_model import (
    Collector,
    IngestErrors,
    IngestIssue,
    RawColumn,
    RawTable,
    quote,
    reject,
)
from scaling_core.ingest_numbers import WHITESPACE, is_plain_number

__all__ = [
    "ARROW_MIN_BYTES",
    "MAX_COLUMNS",
    "MAX_FIELD_CHARS",
    "read_table",
]

ARROW_MIN_BYTES = 2_000_000
"""Delimited files at least this large are read with pyarrow (importing it costs ~0.3 s; the
Python reader handles smaller files faster than that)."""

ARROW_MIN_BYTES_LOADED = 100_000
"""The threshold when pyarrow is already imported (the dashboard imports it anyway)."""

MAX_COLUMNS = 10_000
"""More columns than this is not a run log (W&B exports have a few hundred at most)."""

MAX_FIELD_CHARS = 131_072
"""Longest cell accepted (the ``csv`` module's default limit): guards memory and messages."""

MAX_PARQUET_BYTES = 4 * 1024**3
"""Uncompressed size a Parquet file may declare before it is refused (decompression bombs)."""

_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_LINES = 50
_JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
_TEXT_HINT = "a CSV/TSV text file, a Parquet file, JSON Lines or a W&B/TensorBoard/MLflow export"
_EMPTY_HINT = "a CSV file with a header row and one row per run (or per evaluation step)"


def read_table(filename: str, data: bytes) -> RawTable | IngestErrors:
    """Decode and split an uploaded file of any supported format.

    Rejects empty, binary, undecodable, header-only and structurally broken files with the
    place and reason; cell values are judged later by :func:`ingest.validate_table`.
    """
    if not data or data.isspace():
        return reject(filename, "the file is empty", _EMPTY_HINT)
    exported = _read_export(filename, data)
    if exported is not None:
        return exported
    suffix = PurePath(filename).suffix.lower()
    if data.startswith(b"PAR1") or suffix == ".parquet":
        return _read_parquet(filename, data)
    binary = _binary_kind(data)
    if binary is not None:
        return reject(filename, binary[0], binary[1])
    if _looks_like_json(suffix, data):
        decoded = _decode(filename, data)
        if isinstance(decoded, IngestErrors):
            return decoded
        return _read_json_lines(filename, *decoded)
    return _read_delimited(filename, data)


# --------------------------------------------------------------------------------------------
# Sniffing and decoding
# --------------------------------------------------------------------------------------------


def _binary_kind(data: bytes) -> tuple[str, str] | None:
    """(problem, expected) for recognisably non-text bytes, else ``None``."""
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if b"[Content_Types].xml" in data[:4096] and b"xl/" in data[:65536]:
            return (
                "is an Excel workbook (.xlsx), not a text table",
                "a CSV export of it (in Excel: File → Save As → CSV UTF-8)",
            )
        return (
            "is a binary zip archive but not a recognised tracking export",
            "a zip of a W&B, TensorBoard or MLflow run folder, or " + _TEXT_HINT,
        )
    if data.startswith(b"\x1f\x8b"):
        return ("is gzip-compressed", "the decompressed file (gunzip it first)")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    head = data[:8192]
    if b"\x00" in head:
        odd, even = head[1::2].count(0), head[0::2].count(0)
        half = len(head) / 2  # UTF-16 of ASCII: NUL in every other byte and only there
        if max(odd, even) > 0.4 * half and min(odd, even) < 0.05 * half:
            return (
                "looks like UTF-16 text without a byte-order mark",
                "UTF-8 text (save the file as CSV UTF-8)",
            )
        return (
            "looks binary (for example an Excel .xls or an image), not text",
            _TEXT_HINT + "; in Excel use File → Save As → CSV",
        )
    return None


def _looks_like_json(suffix: str, data: bytes) -> bool:
    """JSON Lines by name, or text whose first character opens a JSON object."""
    if suffix in _JSON_SUFFIXES:
        return True
    start = data[3:] if data.startswith(codecs.BOM_UTF8) else data
    return start.lstrip()[:1] == b"{"


def _decode(filename: str, data: bytes) -> tuple[str, str] | IngestErrors:
    """Text and encoding: UTF-16 (by BOM), UTF-8 (BOM stripped), else Latin-1."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            return reject(
                filename,
                f"starts with a UTF-16 byte-order mark but is not valid UTF-16 "
                f"(byte {exc.start:,}: {exc.reason})",
                "UTF-8 or valid UTF-16 text",
            )
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            return reject(
                filename,
                f"starts with a UTF-8 byte-order mark but is not valid UTF-8 "
                f"(byte {exc.start + 3:,}: {exc.reason})",
                "UTF-8 text (save the file as CSV UTF-8)",
            )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _sniff_delimiter(text: str) -> str:
    """The delimiter among , ; tab | that splits the first lines into the most, steady, fields.

    A hand-rolled score instead of ``csv.Sniffer``, which guesses letters as delimiters on
    short files. Score = (share of sampled records with the header's field count, field count).
    """
    sample = "\n".join(text[:65536].splitlines()[:_SNIFF_LINES])
    best, best_score = ",", (-1.0, 0)
    for delimiter in _DELIMITERS:
        try:
            records = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        steady = sum(len(r) == width for r in records) / len(records)
        score = (steady, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _unique_headers(raw_headers: list[str]) -> tuple[str, ...]:
    """Headers stripped, blanks named "column 3", repeats suffixed " (2)" so each is a key."""
    headers: list[str] = []
    taken: set[str] = set()
    for index, header in enumerate(raw_headers, start=1):
        name = header.strip(WHITESPACE) or f"column {index}"
        candidate, copy = name, 2
        while candidate in taken:
            candidate, copy = f"{name} ({copy})", copy + 1
        headers.append(candidate)
        taken.add(candidate)
    return tuple(headers)


def _too_many_columns(filename: str, count: int, what: str = "columns") -> IngestErrors:
    return reject(
        filename,
        f"has {count:,} {what}",
        f"at most {MAX_COLUMNS:,} (a run log has a few dozen; is this the right file?)",
        row=1 if what == "columns" else None,
    )


def _long_field(filename: str, row: int) -> IngestErrors:
    return reject(
        filename,
        f"has a field longer than {MAX_FIELD_CHARS:,} characters",
        "cells of ordinary length (names and numbers); is a quote left open?",
        row=row,
    )


# --------------------------------------------------------------------------------------------
# Delimited text
# --------------------------------------------------------------------------------------------


def _use_arrow(size: int) -> bool:
    limit = ARROW_MIN_BYTES_LOADED if "pyarrow" in sys.modules else ARROW_MIN_BYTES
    return size >= limit


def _read_delimited(filename: str, data: bytes) -> RawTable | IngestErrors:
    """CSV/TSV/…: pyarrow for large files when it gives an exact result, else Python."""
    if _use_arrow(len(data)):
        fast = _arrow_delimited(filename, data)
        if fast is not None:
            return fast
    decoded = _decode(filename, data)
    if isinstance(decoded, IngestErrors):
        return decoded
    return _python_delimited(filename, *decoded)


def _python_delimited(filename: str, text: str, encoding: str) -> RawTable | IngestErrors:
    """Split with the ``csv`` module: exact row numbers, ragged rows named one by one."""
    delimiter = _sniff_delimiter(text)
    records: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for record in reader:
            records.append(record)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            return _long_field(filename, len(records) + 1)
        return reject(
            filename,
            f"could not be split into columns ({exc})",
            "a well-formed CSV",
            row=len(records) + 1,
        )
    first = next((i for i, r in enumerate(records) if any(c.strip() for c in r)), None)
    if first is None:
        return reject(filename, "the file is empty", _EMPTY_HINT)
    if len(records[first]) > MAX_COLUMNS:
        return _too_many_columns(filename, len(records[first]))
    headers = _unique_headers(records[first])
    width = len(headers)
    numbers: list[int] = []
    body: list[list[str]] = []
    errors = Collector(filename)
    trailing_empty = 0
    for index in range(first + 1, len(records)):
        record = records[index]
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > width:
            if any(cell.strip() for cell in record[width:]):
                hint = (
                    "; numbers with a thousands separator like 1,000 must be quoted in a "
                    "comma-separated file"
                    if delimiter == ","
                    else ""
                )
                errors.add(
                    f"has {len(record)} fields but the header has {width}{hint}",
                    f"{width} fields per row",
                    row=index + 1,
                )
                continue
            trailing_empty += 1
            record = record[:width]
        elif len(record) < width:
            record = record + [""] * (width - len(record))
        numbers.append(index + 1)
        body.append(record)
    if errors.total:
        return errors.result()
    if not body:
        return reject(
            filename,
            "the file has a header row but no data rows",
            "one row per run (or per evaluation step) below the header",
            row=first + 1,
        )
    cells = [np.array(column, dtype=object) for column in zip(*body, strict=True)]
    warnings: tuple[IngestIssue, ...] = ()
    if trailing_empty:
        warnings = (
            IngestIssue(
                filename,
                f"{trailing_empty:,} rows end with extra empty fields beyond the "
                f"{width} columns of the header; they were ignored",
            ),
        )
    return RawTable(
        filename,
        headers,
        {h: RawColumn("cells", c) for h, c in zip(headers, cells, strict=True)},
        np.array(numbers, dtype=np.int64),
        delimiter=delimiter,
        encoding=encoding,
        warnings=warnings,
    )


def _arrow_delimited(filename: str, data: bytes) -> RawTable | IngestErrors | None:
    """pyarrow's reader, or ``None`` when only the Python reader can be exact."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return _arrow_utf8(filename, data.decode("utf-16").encode("utf-8"), "utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data[:8192]:
        return None
    if data.startswith(codecs.BOM_UTF8):
        return _arrow_utf8(filename, data[len(codecs.BOM_UTF8) :], "utf-8-sig")
    result = _arrow_utf8(filename, data, "utf-8")
    if result == "latin-1":
        result = _arrow_utf8(filename, data.decode("latin-1").encode("utf-8"), "latin-1")
    return result if not isinstance(result, str) else None


def _arrow_utf8(
    filename: str, buffer: bytes, encoding: str
) -> RawTable | IngestErrors | str | None:
    """Read UTF-8 ``buffer``; ``"latin-1"`` when it is not valid UTF-8, ``None`` to decline."""
    import pyarrow as pa

    raw = buffer[:65536]
    end = raw.find(b"\n")
    header_line = raw if end < 0 else raw[:end]
    if end < 0 or not header_line.strip() or header_line.count(b'"') % 2:
        return None  # no line break, a blank first line, or a header cell spanning lines
    try:
        header_text = header_line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return "latin-1" if encoding == "utf-8" else None
    sample = raw.decode("utf-8", errors="replace")
    delimiter = _sniff_delimiter(sample)
    raw_headers = next(csv.reader([header_text], delimiter=delimiter))  # R quotes headers
    if len(raw_headers) > MAX_COLUMNS or len(raw_headers) < 2:
        return None
    headers = _unique_headers(raw_headers)
    # Quotes below the header (only there can a record span lines; pyarrow splits faster
    # when told none does).
    reader = _ArrowCsv(buffer, headers, delimiter, quoted=buffer.find(b'"', end) >= 0)
    lines = _scan_lines(buffer)
    floats = () if lines.long else _plain_number_columns(sample, delimiter, headers)
    table = None
    if floats:  # a later cell that is no plain number (70M, 1,000 …): every column as text
        with contextlib.suppress(pa.ArrowInvalid):
            table = reader.read(floats)
    if table is None:
        try:
            table = reader.read()
        except pa.ArrowInvalid as exc:
            invalid_utf8 = "utf8" in str(exc).lower() or "utf-8" in str(exc).lower()
            return "latin-1" if invalid_utf8 and encoding == "utf-8" else None
    if table.num_rows == 0:
        return None
    rows = _row_numbers(buffer, table.num_rows, reader.quoted, lines.newlines)
    if rows is None:
        return None
    long_cell = _first_long_cell(table, rows)
    if long_cell is not None:
        return _long_field(filename, long_cell)  # as the csv module says
    columns = {h: reader.column(h, table.column(i)) for i, h in enumerate(headers)}
    return RawTable(filename, headers, columns, rows, delimiter=delimiter, encoding=encoding)


def _first_long_cell(table: Any, rows: np.ndarray) -> int | None:
    """The row of the first text cell longer than :data:`MAX_FIELD_CHARS`, if any (float
    columns hold none: no line is that long when any is read, see :class:`_Lines`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for column in table.columns:
        if not pa.types.is_string(column.type):
            continue
        if (pc.max(pc.binary_length(column)).as_py() or 0) > MAX_FIELD_CHARS:
            lengths = to_numpy(pc.utf8_length(column))
            long = np.flatnonzero(lengths > MAX_FIELD_CHARS)
            if long.size:
                return int(rows[long[0]])
    return None


@dataclass(frozen=True, eq=False)
class _ArrowCsv:
    """pyarrow's CSV reader set up for one UTF-8 buffer (its first line is the header).

    Kept by the float64 columns it reads (:meth:`column`) so that each can re-read its
    original text with the same options, and so the same records, when asked for it.
    """

    buffer: bytes = field(repr=False)
    headers: tuple[str, ...]
    delimiter: str
    quoted: bool

    def read(self, floats: tuple[str, ...] = ()) -> Any:
        """The table: ``floats`` as float64, the other columns as text.

        Unquoted empty cells are nulls (cheap to find); a float column refuses any other cell
        that is not a number (raises ``ArrowInvalid``).
        """
        import pyarrow as pa
        from pyarrow import csv as pacsv

        return pacsv.read_csv(pa.py_buffer(self.buffer), **self._options(self.headers, floats))

    def text(self, header: str, head: int | None = None) -> Any:
        """One column's cells as text, as the all-text read gives them (for a float column);
        with ``head``, only the first blocks that hold that many records (for a preview)."""
        import pyarrow as pa
        from pyarrow import csv as pacsv

        options = self._options((header,))
        if head is None:
            return pacsv.read_csv(pa.py_buffer(self.buffer), **options).column(0)
        chunks, count = [], 0
        for batch in pacsv.open_csv(pa.py_buffer(self.buffer), **options):
            chunks.append(batch.column(0))
            count += batch.num_rows
            if count >= head:
                break
        return pa.chunked_array(chunks, pa.string())

    def column(self, header: str, data: Any) -> RawColumn:
        """The raw column of ``data`` as read: text, or float64 that can re-read its text."""
        import pyarrow as pa

        if pa.types.is_floating(data.type):
            return RawColumn("parsed", data, text=partial(self.text, header))
        return RawColumn("arrow", data)

    def _options(self, names: tuple[str, ...], floats: tuple[str, ...] = ()) -> dict[str, Any]:
        """Reader options for the columns ``names`` (the same records whichever are read)."""
        import pyarrow as pa
        from pyarrow import csv as pacsv

        return {
            "read_options": pacsv.ReadOptions(column_names=list(self.headers), skip_rows=1),
            "parse_options": pacsv.ParseOptions(
                delimiter=self.delimiter, newlines_in_values=self.quoted, ignore_empty_lines=True
            ),
            "convert_options": pacsv.ConvertOptions(
                column_types={h: pa.float64() if h in floats else pa.string() for h in names},
                include_columns=None if names == self.headers else list(names),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        }


def _plain_number_columns(sample: str, delimiter: str, headers: tuple[str, ...]) -> tuple[str, ...]:
    """Headers whose cells in the sample's complete records are all plain numbers (at least
    one) or empty: worth reading as float64.

    Only a guess: pyarrow reads a cell to the grammar's value or refuses it (then the file is
    read as text), so a column that turns out otherwise costs time, never a difference. Strict
    because refusals are costly: no whitespace, ``_``, separators or suffixes (which pyarrow
    refuses or, for spaces, trims), no ``nan``/``inf`` (re-read as text to be judged).
    """
    complete = sample[: sample.rfind("\n") + 1]
    try:
        records = list(csv.reader(io.StringIO(complete, newline=""), delimiter=delimiter))[1:]
    except csv.Error:
        return ()
    records = [record for record in records if len(record) == len(headers)]
    chosen = []
    for index, header in enumerate(headers):
        cells = {record[index] for record in records}
        cells.discard("")
        if cells and all(is_plain_number(cell) for cell in cells):
            chosen.append(header)
    return tuple(chosen)


_LINE_WINDOW = MAX_FIELD_CHARS // 2
"""A line longer than :data:`MAX_FIELD_CHARS` bytes covers at least one whole aligned window of
this many bytes, so a file where every such window holds a line break has no longer cell."""


@dataclass(frozen=True)
class _Lines:
    """What one pass over the bytes tells: ``newlines``, the number of line feeds, and
    ``long``, whether some line may be longer than :data:`MAX_FIELD_CHARS` (a float column
    could then hide a cell the text read rejects as too long, so every column is read as
    text)."""

    newlines: int
    long: bool


def _scan_lines(data: bytes) -> _Lines:
    """Count line breaks a megabyte at a time with numpy (``bytes.count`` checks one byte at a
    time: four times slower on a 50 MB file) and look for windows without one."""
    view = np.frombuffer(data, dtype=np.uint8)
    whole = view.size - view.size % _LINE_WINDOW
    block = 16 * _LINE_WINDOW
    newlines, long = 0, False
    for start in range(0, whole, block):
        breaks = view[start : min(start + block, whole)].reshape(-1, _LINE_WINDOW) == 10
        newlines += int(np.count_nonzero(breaks))
        long = long or not breaks.any(axis=1).all()
    newlines += int(np.count_nonzero(view[whole:] == 10))
    return _Lines(newlines, long)


def _row_numbers(data: bytes, n_rows: int, quoted: bool, newlines: int) -> np.ndarray | None:
    """Spreadsheet row of each record pyarrow returned, or ``None`` when it cannot be exact.

    Exact when every record is one line: then either no line is blank (rows 2…n+1) or the
    blank lines (which pyarrow skips) can be found by position. Quoted line breaks or lone
    carriage returns make line and record numbers differ: the Python reader then counts.
    ``newlines`` is the number of line feeds in ``data`` (from :func:`_scan_lines`).
    """
    carriage = data.count(b"\r") if b"\r" in data else 0
    if carriage and carriage != data.count(b"\r\n"):
        return None
    lines = newlines + (0 if data.endswith(b"\n") else 1)
    if lines == n_rows + 1:
        return np.arange(2, n_rows + 2, dtype=np.int64)
    if quoted:
        return None
    view = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(view == 10)
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    if carriage:
        lengths = lengths - 1  # every line ends with \r\n
    nonblank = np.flatnonzero(lengths > 0) + 1
    if nonblank.size != n_rows + 1 or nonblank[0] != 1:
        return None
    return nonblank[1:].astype(np.int64)


# --------------------------------------------------------------------------------------------
# JSON Lines
# --------------------------------------------------------------------------------------------


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """Nested objects flattened with "." keys (``{"eval": {"loss": 2}}`` → ``eval.loss``)."""
    flat: dict[str, Any] = {}
    stack: list[tuple[str, dict[str, Any]]] = [("", record)]
    while stack:
        prefix, current = stack.pop()
        for key, value in current.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                stack.append((name + ".", value))
            else:
                flat[name] = value if not isinstance(value, dict) else None
    return flat


def _read_json_lines(filename: str, text: str, encoding: str) -> RawTable | IngestErrors:
    """One JSON object per line; a bad line is reported with its line number."""
    lines = text.split("\n")
    errors = Collector(filename)
    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    warnings: list[IngestIssue] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip(WHITESPACE):
            continue
        if len(line) > MAX_FIELD_CHARS * 8:
            where = f"line {number}"
            errors.add(
                f"is {len(line):,} characters long",
                f"records of ordinary length (at most {MAX_FIELD_CHARS * 8:,} characters)",
                row=number,
                location=where,
            )
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            detail = detail if len(detail) <= 80 else detail[:79] + "…"
            if number == len(lines) and records:  # the writer stopped mid-record
                warnings.append(
                    IngestIssue(
                        filename,
                        "is cut off (the file ends in the middle of a record); it was left out",
                        row=number,
                        location=f"line {number}",
                    )
                )
                continue
            column = f" (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            errors.add(
                f"is not valid JSON: {detail}{column}",
                'one JSON object per line, like {"run": "a", "params": 7e7, "loss": 3.1}',
                row=number,
                value=line.strip(WHITESPACE),
                location=f"line {number}",
            )
            continue
        if not isinstance(value, dict):
            kind = {list: "an array", str: "a string"}.get(type(value), "a single value")
            errors.add(
                f"is {kind}, not a JSON object",
                "one JSON object per line",
                row=number,
                value=line.strip(WHITESPACE),
                location=f"line {number}",
            )
            continue
        records.append(_flatten(value))
        numbers.append(number)
    if errors.total:
        return errors.result()
    if not records:
        return reject(filename, "has no JSON objects", "one JSON object per line (JSON Lines)")
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
        if len(keys) > MAX_COLUMNS:
            return _too_many_columns(filename, len(keys), "distinct keys")
    names = list(keys)
    headers = _unique_headers([str(k) for k in names])
    columns: dict[str, RawColumn] = {}
    for key, header in zip(names, headers, strict=True):
        cells = np.empty(len(records), dtype=object)
        cells[:] = [record.get(key) for record in records]
        columns[header] = RawColumn("cells", cells, "json")
    return RawTable(
        filename,
        headers,
        columns,
        np.array(numbers, dtype=np.int64),
        delimiter="",
        encoding=encoding,
        format="jsonl",
        sparse=True,
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------


def _parquet_problem(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "magic bytes" in text.lower():
        return "is not a readable Parquet file: its footer is missing (truncated or not Parquet)"
    return f"is not a readable Parquet file ({quote(text)[1:-1]})"


def _read_parquet(filename: str, data: bytes) -> RawTable | IngestErrors:
    """Flat columns of a Parquet file; structs flattened with "." names, other nested or
    non-numeric types kept and reported precisely if mapped to a numeric column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    expected = "a complete Parquet file (.parquet) written by pandas, pyarrow, polars or Spark"
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        meta = parquet.metadata
        declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    except Exception as exc:  # any parser failure on untrusted bytes is a message
        return reject(filename, _parquet_problem(exc), expected)
    if meta.num_columns > MAX_COLUMNS:
        return _too_many_columns(filename, meta.num_columns)
    if declared > MAX_PARQUET_BYTES:
        return reject(
            filename,
            f"declares {declared / 1024**3:.1f} GiB of uncompressed data",
            f"at most {MAX_PARQUET_BYTES / 1024**3:.0f} GiB",
        )
    try:
        table = parquet.read()
        while any(pa.types.is_struct(f.type) for f in table.schema):
            table = table.flatten()
    except Exception as exc:  # corrupt pages, unsupported encodings …
        return reject(filename, _parquet_problem(exc), expected)
    if table.num_rows == 0:
        return reject(filename, "has no rows", "one row per run (or per evaluation step)")
    headers = _unique_headers([str(name) for name in table.column_names])
    columns = {h: _parquet_column(table.column(i)) for i, h in enumerate(headers)}
    return RawTable(
        filename,
        headers,
        columns,
        np.arange(1, table.num_rows + 1, dtype=np.int64),
        delimiter="",
        encoding="",
        format="parquet",
    )


def _parquet_column(column: Any) -> RawColumn:
    """One Parquet column as numbers, text, or an "other" type described for messages."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        try:
            column, kind = column.cast(kind.value_type), kind.value_type
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return RawColumn("other", column, str(kind))
    if pa.types.is_null(kind):
        size = len(column)
        return RawColumn("floats", np.full(size, np.nan), "null", nulls=np.ones(size, bool))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        try:
            values = to_numpy(pc.cast(column, pa.float64()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return RawColumn("other", column, str(kind))
        nulls = to_numpy(pc.is_null(column))
        return RawColumn("floats", np.asarray(values, dtype=np.float64), str(kind), nulls=nulls)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return RawColumn("arrow", column, "string")
    return RawColumn("other", column, str(kind))


# --------------------------------------------------------------------------------------------
# Tracking exports (scaling_core.importers, helper C)
# --------------------------------------------------------------------------------------------


def _read_export(filename: str, data: bytes) -> RawTable | IngestErrors | None:
    """A W&B/TensorBoard/MLflow export as a sparse table, or ``None`` if it is not one.

    The importer package is optional: if it cannot be imported or its sniff fails, the file is
    read as an ordinary table.
    """
    try:
        from scaling_core import importers
    except Exception:  # a missing or broken importer must never break CSV uploads
        return None
    try:
        source_format = importers.detect_export(filename, data)
    except Exception:
        return None
    if source_format is None:
        return None
    try:
        runs = importers.read_export(filename, data)
    except importers.ExportFormatError as exc:
        return reject(filename, _without_filename(str(exc), filename))
    except Exception as exc:  # an importer bug is reported, not raised into a page
        return reject(
            filename,
            f"could not be read as a {source_format} export ({type(exc).__name__}: {exc})",
            "a complete export folder or zip",
        )
    return _raw_from_tracked(filename, runs)


def _without_filename(message: str, filename: str) -> str:
    """The importer's message names the file; the issue adds it again, so drop one."""
    for separator in (": ", ", "):
        if message.startswith(filename + separator):
            return message[len(filename) + len(separator) :]
    return message


def _raw_from_tracked(filename: str, runs: Any) -> RawTable | IngestErrors:
    """``TrackedRuns`` (wide: one column per logged key, NaN where not logged) → RawTable."""
    columns = {str(name): np.asarray(values) for name, values in runs.columns.items()}
    sizes = {values.shape[0] for values in columns.values()}
    labels = tuple(runs.record_labels)
    if len(sizes) != 1 or (labels and len(labels) not in sizes):
        return reject(
            filename,
            "could not be read: the export's columns have different lengths",
            "a complete export",
        )
    size = sizes.pop()
    if size == 0:
        return reject(filename, "holds no logged values", "runs with logged metrics")
    if len(columns) > MAX_COLUMNS:
        return _too_many_columns(filename, len(columns), "logged keys")
    headers = _unique_headers(list(columns))
    raw_columns: dict[str, RawColumn] = {}
    for header, values in zip(headers, columns.values(), strict=True):
        if values.dtype.kind in "fiu":
            floats = values.astype(np.float64)
            raw_columns[header] = RawColumn("floats", floats, str(values.dtype), None, True)
        else:
            raw_columns[header] = RawColumn("cells", values.astype(object), "text")
    return RawTable(
        filename,
        headers,
        raw_columns,
        np.arange(1, size + 1, dtype=np.int64),
        delimiter="",
        encoding="",
        format=str(runs.source_format),
        record_labels=labels or None,
        sparse=True,
    )
