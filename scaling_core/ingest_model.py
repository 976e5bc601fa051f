"""The shapes ingest speaks: issues and error lists, and the columnar raw table readers produce.

Why columnar: a step-level log of a million rows must be validated with array operations, not
a Python loop per cell. A :class:`RawTable` keeps each column in the form its reader produced
(:class:`RawColumn`: Python cells for small text files and JSON Lines, a pyarrow string array
for large text files — or a float64 array where pyarrow read a column of plain numbers, with
its text re-read on demand — float64 for typed Parquet/export columns), with one row number
per record, so every check can name the exact row, column and value.

No I/O here and no pyarrow import at module level (the CLI reads small files without it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

from scaling_core.ingest_arrow import to_numpy
from scaling_core.ingest_numbers import (
    EMPTY,
    NOT_FINITE,
    NOT_NUMBER,
    OK,
    WHITESPACE,
    arrow_numbers,
    parsed_numbers,
    python_numbers,
)

__all__ = [
    "MAX_REPORTED_ERRORS",
    "PARALLEL_PARSE_ROWS",
    "ROW_CONVENTION",
    "Collector",
    "IngestError",
    "IngestErrors",
    "IngestIssue",
    "RawColumn",
    "RawTable",
    "quote",
    "reject",
]

MAX_REPORTED_ERRORS = 20
"""Errors listed one by one before the rest are summarised as "and N more"."""

MAX_KEPT_ISSUES = 1000
"""Issues kept in memory; beyond this only the count grows (a 1M-row bad file stays cheap)."""

ROW_CONVENTION = "header = row 1"

ColumnKind = Literal["cells", "arrow", "parsed", "floats", "other"]


def quote(value: str) -> str:
    """Double-quoted, control characters escaped, long values cut at 60 characters."""
    text = value if len(value) <= 60 else value[:57] + "…"
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return f'"{text}"'


# --------------------------------------------------------------------------------------------
# Issues
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestIssue:
    """One problem (or warning) found in a file, located as precisely as it can be.

    ``row`` is the record's number in the file's own convention (spreadsheet row with the
    header as row 1, JSON Lines line, Parquet/export record) or ``None`` for file-level
    problems; ``location`` spells it out ("line 7", "run 'gpt-70M' step 1200") when it is not a
    spreadsheet row; ``column`` is the user's header; ``value`` the text found there.
    """

    filename: str
    problem: str
    expected: str = ""
    row: int | None = None
    column: str | None = None
    value: str | None = None
    location: str | None = None

    def message(self) -> str:
        """One line: ``runs.csv, row 7 (header = row 1), column "N": "abc" is not a number; …``."""
        where = [self.filename]
        if self.location:
            where.append(self.location)
        elif self.row is not None:
            where.append(f"row {self.row} ({ROW_CONVENTION})")
        if self.column is not None:
            where.append(f"column {quote(self.column)}")
        subject = f"{quote(self.value)} " if self.value is not None else ""
        text = f"{', '.join(where)}: {subject}{self.problem}"
        return f"{text}; expected {self.expected}" if self.expected else text


@dataclass(frozen=True)
class IngestErrors:
    """Why a file was rejected: the first problems found (at most 1000 kept) and their total."""

    filename: str
    issues: tuple[IngestIssue, ...]
    total: int

    def messages(self, limit: int = MAX_REPORTED_ERRORS) -> list[str]:
        """The first ``limit`` messages, plus "… and N more problems" when there are more."""
        lines = [issue.message() for issue in self.issues[:limit]]
        if self.total > limit:
            lines.append(f"… and {self.total - limit} more problems in {self.filename}")
        return lines

    def summary(self) -> str:
        """The first message plus a count of the others: the one line a CLI prints."""
        first = self.issues[0].message() if self.issues else f"{self.filename}: rejected"
        others = self.total - 1
        if others > 0:
            first += f" (and {others} more problem{'s' if others > 1 else ''})"
        return first


class IngestError(Exception):
    """A file could not be turned into runs; ``str()`` is the one-line precise reason."""

    def __init__(self, errors: IngestErrors) -> None:
        super().__init__(errors.summary())
        self.errors = errors


def reject(
    filename: str, problem: str, expected: str = "", row: int | None = None, **where: Any
) -> IngestErrors:
    """A one-issue rejection (file-level problems: empty, binary, undecodable …)."""
    return IngestErrors(filename, (IngestIssue(filename, problem, expected, row, **where),), 1)


# --------------------------------------------------------------------------------------------
# Columns and tables
# --------------------------------------------------------------------------------------------


def _json_text(value: object) -> str:
    """A JSON/Parquet scalar as the text a user would recognise (``true``, ``1200``, ``2.5``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


@dataclass(frozen=True, eq=False)
class RawColumn:
    """One column of a source file, kept as its reader produced it (never copied per cell).

    ``kind``: ``"cells"`` — numpy object array of Python values (text cells of a small
    delimited file, or JSON scalars/lists with ``None`` for absent keys); ``"arrow"`` — a
    pyarrow string array (large delimited files, Parquet text); ``"parsed"`` — a pyarrow
    float64 array that pyarrow's CSV reader parsed from a large delimited file's text cells,
    with ``text()`` giving that column's original text as a string array (``text(head=n)``:
    at least its first ``n`` records); ``"floats"`` — float64 with ``nulls`` marking absent
    values (``nan_is_missing``: NaN itself means "not logged", as in tracking exports);
    ``"other"`` — a pyarrow array of a type that holds no numbers (booleans, dates, lists …),
    described by ``source_type``.

    Why ``"parsed"``: reading a million-row column of plain numbers as float64 directly costs
    far less time and memory than reading it as text and casting it, and such a column's
    numbers are all most uploads need. It must still behave exactly like the text column it
    replaces — names (a run column of ``17``, ``18``), quoted cells (``"1.50" is not
    positive``) and the grammar's verdict on ``nan`` or ``inf`` need the cell as written — so
    ``text`` (a callable: it re-reads the file's bytes) is called the first time any of these
    is asked for, and its result kept.
    """

    kind: ColumnKind
    data: Any
    source_type: str = "text"
    nulls: np.ndarray | None = None
    nan_is_missing: bool = False
    text: Callable[..., Any] | None = None

    def __len__(self) -> int:
        return len(self.data)

    def numbers_problem(self) -> str | None:
        """Why this column cannot hold numbers at all (its type), or ``None``."""
        if self.kind == "other":
            return f"holds {self.source_type} values, not numbers"
        return None

    def text_problem(self) -> str | None:
        """Why this column cannot serve as names (run, group), or ``None``."""
        if self.kind == "other" and not _castable_to_text(self.source_type):
            return f"holds {self.source_type} values, not names"
        return None

    @cached_property
    def _numbers(self) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "cells":
            return python_numbers(self.data)
        if self.kind == "arrow":
            return arrow_numbers(self.data)
        if self.kind == "parsed":
            return parsed_numbers(self.data, lambda: self._text)
        values = np.asarray(self.data, dtype=np.float64)
        if self.kind == "other":
            return np.full(values.size, np.nan), np.full(values.size, NOT_NUMBER, np.int8)
        missing = np.zeros(values.size, bool) if self.nulls is None else self.nulls.copy()
        nan = np.isnan(values) & ~missing
        if self.nan_is_missing:
            missing |= nan
        verdicts = np.full(values.size, OK, dtype=np.int8)
        verdicts[~np.isfinite(values)] = NOT_FINITE
        verdicts[missing] = EMPTY
        return np.where(verdicts == OK, values, np.nan), verdicts

    def numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """float64 values (NaN unless valid) and per-cell verdicts (``ingest_numbers`` codes)."""
        return self._numbers

    @cached_property
    def _text(self) -> Any:
        """A ``"parsed"`` column's original cells as a pyarrow string array (read once)."""
        assert self.text is not None, "a parsed column carries its text reader"
        return self.text()

    @cached_property
    def _texts(self) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "arrow" or self.kind == "parsed":
            return _arrow_texts(self.data if self.kind == "arrow" else self._text)
        if self.kind == "other":
            import pyarrow as pa
            import pyarrow.compute as pc

            return _arrow_texts(pc.cast(self.data, pa.string()))
        if self.kind == "floats":
            cells = [_json_text(v) for v in np.asarray(self.data, dtype=float).tolist()]
            if self.nulls is not None:
                cells = ["" if null else cell for cell, null in zip(cells, self.nulls, strict=True)]
            cells = ["" if cell == "NaN" and self.nan_is_missing else cell for cell in cells]
        else:
            cells = [_json_text(v).strip(WHITESPACE) for v in self.data.tolist()]
        index: dict[str, int] = {}
        codes = np.fromiter((index.setdefault(c, len(index)) for c in cells), np.int64, len(cells))
        return codes, np.array(list(index), dtype=object)

    def texts(self) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, names)``: per row an index into the distinct trimmed texts, numbered in
        order of first appearance; ``names[codes]`` is the column as text (``""`` = empty)."""
        return self._texts

    def head(self, count: int) -> list[str]:
        """The first ``count`` cells as :meth:`cell` gives them (a ``"parsed"`` column reads
        only the start of its text, unless all of it is at hand)."""
        if self.kind == "parsed" and "_text" not in self.__dict__:
            assert self.text is not None
            column = self.text(head=count)
            return [_json_text(v).strip(WHITESPACE) for v in column.slice(0, count).to_pylist()]
        return [self.cell(i) for i in range(min(count, len(self)))]

    def cell(self, position: int) -> str:
        """The text of one cell, trimmed, as it should be quoted in a message."""
        if self.kind == "cells":
            return _json_text(self.data[position]).strip(WHITESPACE)
        if self.kind == "floats":
            if self.nulls is not None and self.nulls[position]:
                return ""
            return _json_text(float(self.data[position]))
        column = self._text if self.kind == "parsed" else self.data
        value = column[position].as_py()
        return _json_text(value).strip(WHITESPACE) if value is not None else ""


def _arrow_texts(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`RawColumn.texts` of a pyarrow string column (plain or chunked).

    Encoded as written, then only the distinct values are trimmed and merged (``" a"`` and
    ``"a"``; null and ``""``, both an empty cell): the same codes and names as trimming every
    cell first, without a trimmed copy of a million-row column. Merging keeps the order of
    first appearance because the dictionary lists values in that order.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column, null_encoding="encode")
    if isinstance(encoded, pa.ChunkedArray):  # chunks share one dictionary: cheap to join
        encoded = encoded.combine_chunks()
    codes = to_numpy(encoded.indices).astype(np.int64)
    index: dict[str, int] = {}
    trimmed = pc.utf8_trim(encoded.dictionary, WHITESPACE).to_pylist()
    remap = [index.setdefault(name or "", len(index)) for name in trimmed]
    if len(index) < len(remap):
        codes = np.array(remap, dtype=np.int64)[codes]
    return codes, np.array(list(index), dtype=object)


def _castable_to_text(source_type: str) -> bool:
    """Parquet types whose values read naturally as names (``true``, ``2024-05-01``)."""
    return source_type.startswith(("bool", "date", "timestamp", "time", "decimal", "duration"))


PARALLEL_PARSE_ROWS = 100_000
"""From this many records, :meth:`RawTable.parse_numbers` parses columns in two threads."""


@dataclass(frozen=True, eq=False)
class RawTable:
    """A decoded file before any column meaning is assumed: headers, columns, row numbers.

    ``row_numbers[i]`` is record ``i``'s number in the file's convention (``format``):
    spreadsheet rows for delimited text (header = row 1; blank lines are skipped but counted),
    lines for JSON Lines, records (from 1) for Parquet and tracking exports, whose
    ``record_labels`` name each record ("run 'gpt-70M' step 1200"). ``sparse`` formats log
    only some keys per record, so a record without the loss is skipped rather than an error.
    ``warnings`` are benign things the reader resolved (stated in each warning).
    """

    filename: str
    headers: tuple[str, ...]
    columns: dict[str, RawColumn]
    row_numbers: np.ndarray
    delimiter: str = ","
    encoding: str = "utf-8"
    format: str = "csv"
    record_labels: tuple[str, ...] | None = None
    sparse: bool = False
    warnings: tuple[IngestIssue, ...] = ()

    @property
    def n_rows(self) -> int:
        """Number of data records."""
        return int(self.row_numbers.size)

    def where(self, position: int) -> tuple[int, str | None]:
        """Record ``position``'s number and, outside spreadsheet rows, how to name it."""
        row = int(self.row_numbers[position])
        if self.record_labels is not None:
            return row, self.record_labels[position]
        if self.format == "jsonl":
            return row, f"line {row}"
        if self.format != "csv":
            return row, f"record {row}"
        return row, None

    def parse_numbers(self, headers: Iterable[str]) -> None:
        """Parse several pyarrow columns' numbers side by side (a big file's casts release the
        GIL, so two cores halve their time); each column then answers ``numbers()`` from its
        cache. Small tables and other column kinds are left to ``numbers()`` itself."""
        todo = [
            column
            for column in (self.columns[h] for h in dict.fromkeys(headers))
            if column.kind == "arrow" and "_numbers" not in column.__dict__
        ]
        if len(todo) < 2 or self.n_rows < PARALLEL_PARSE_ROWS:
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="scalescope-parse") as pool:
            results = list(pool.map(lambda column: arrow_numbers(column.data), todo))
        for column, result in zip(todo, results, strict=True):
            # what the cached property would store (it locks per class in Python 3.11,
            # which would run the columns one after another)
            column.__dict__["_numbers"] = result

    def preview(self, limit: int = 20) -> dict[str, list[str]]:
        """The first ``limit`` records as text, per header (for showing an unmapped file)."""
        count = min(limit, self.n_rows)
        return {h: self.columns[h].head(count) for h in self.headers}


# --------------------------------------------------------------------------------------------
# Collecting issues
# --------------------------------------------------------------------------------------------


class Collector:
    """Accumulates issues about one table, keeping the first 1000 and counting all."""

    def __init__(self, filename: str, raw: RawTable | None = None) -> None:
        self.filename = filename
        self.raw = raw
        self.issues: list[IngestIssue] = []
        self.total = 0

    def add(
        self,
        problem: str,
        expected: str = "",
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
        location: str | None = None,
    ) -> None:
        """One issue at a known place."""
        self.total += 1
        if len(self.issues) < MAX_KEPT_ISSUES:
            issue = IngestIssue(self.filename, problem, expected, row, column, value, location)
            self.issues.append(issue)

    def at(self, position: int, problem: str, expected: str = "", **kwargs: Any) -> None:
        """One issue at record ``position`` of the table (row and location filled in)."""
        assert self.raw is not None
        row, location = self.raw.where(position)
        self.add(problem, expected, row=row, location=location, **kwargs)

    def cells(
        self,
        positions: np.ndarray,
        problem: str | Callable[[int], str],
        expected: str,
        header: str,
        value: Callable[[int], str | None] | None = None,
    ) -> None:
        """Issues at many records of one column; only the first are materialised."""
        room = max(0, MAX_KEPT_ISSUES - len(self.issues))
        for position in positions[:room].tolist():
            text = problem(position) if callable(problem) else problem
            shown = value(position) if value is not None else None
            self.at(position, text, expected, column=header, value=shown)
        self.total += max(0, positions.size - room)

    def result(self) -> IngestErrors:
        """The issues in file order (file-level ones first)."""
        ordered = sorted(self.issues, key=lambda i: -1 if i.row is None else i.row)
        return IngestErrors(self.filename, tuple(ordered), self.total)
