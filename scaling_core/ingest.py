"""Untrusted bytes → a validated step-level table, or a list of precise errors.

Why a separate layer: everything downstream (store, math, charts) may assume clean, positive,
finite numbers in fixed units (see :mod:`scaling_core.schema`). Ingest is where a user's file
meets those assumptions, so every problem is reported here in the user's own terms — file name,
spreadsheet row, the user's column header, the offending value and what was expected — and
nothing is ever written (ingest has no I/O besides :func:`load_runs_from_file` reading a path).

The pipeline, each step usable on its own (the upload page edits the mapping in between)::

    read_table(filename, data)            -> RawTable | IngestErrors   (decode, sniff, split)
    suggest_mapping(raw.headers)          -> {canonical column: user header}
    validate_table(raw, mapping)          -> ParsedTable | IngestErrors
    ParsedTable.run_table("final"|"best") -> RunTable (one row per run)

:func:`parse_table` chains the first three; :func:`load_runs_from_file` is the CLI entry point.

Row numbers follow the spreadsheet convention: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # pandas is imported only where a DataFrame is built (it costs ~0.4 s)
    import pandas as pd

from scaling_core.schema import CANONICAL_COLUMNS, FLOPS_PER_PARAM_TOKEN, RunTable

__all__ = [
    "NONE_OPTION",
    "POINT_COLUMNS",
    "REDUCTIONS",
    "IngestError",
    "IngestErrors",
    "IngestIssue",
    "ParsedTable",
    "RawTable",
    "Reduction",
    "load_runs_from_file",
    "parse_number",
    "parse_table",
    "read_table",
    "reduce_points",
    "run_table_from_reduced",
    "suggest_mapping",
    "validate_table",
]

Reduction = Literal["final", "best"]
REDUCTIONS: tuple[Reduction, ...] = ("final", "best")
"""How a run's step-level log becomes one row: its last evaluation, or its lowest loss."""

NONE_OPTION = "(none)"
"""What the upload page shows for an unmapped canonical column."""

MAX_REPORTED_ERRORS = 20
"""Errors listed one by one before the rest are summarised as "and N more"."""

_MAX_KEPT_ERRORS = 1000
"""Errors kept in memory; beyond this only the count grows (a 1M-row bad file stays cheap)."""

MIN_TOKENS_PER_PARAM = 1e-3
"""Fewer training tokens than this per parameter is taken as a units mistake (e.g. tokens in B)."""

ROW_CONVENTION = "header = row 1"

POINT_COLUMNS: tuple[str, ...] = (
    "row_number",
    "run",
    "params",
    "tokens",
    "flops",
    "loss",
    "train_loss",
    "val_loss",
    "step",
    "batch_size",
    "learning_rate",
    "group",
    "metric",
)
"""Columns of :attr:`ParsedTable.points`: ``row_number`` (spreadsheet row), then canonical ones."""

_TEXT_COLUMNS = frozenset({"run", "group"})
_POSITIVE_REQUIRED = ("params", "tokens", "flops", "loss")

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "run": ("run", "run_name", "name", "run_id", "model", "model_name", "id"),
    "params": (
        "params",
        "n_params",
        "num_params",
        "N",
        "Model Size",
        "parameters",
        "model_size",
        "num_parameters",
        "n_parameters",
        "param_count",
        "parameter_count",
        "non_embedding_params",
    ),
    "tokens": (
        "tokens",
        "D",
        "n_tokens",
        "Training Tokens",
        "data",
        "num_tokens",
        "tokens_seen",
        "train_tokens",
        "dataset_size",
    ),
    "flops": (
        "flops",
        "compute",
        "C",
        "Training FLOP",
        "training_flops",
        "flop",
        "train_flops",
        "compute_flops",
    ),
    "loss": ("loss", "final_loss"),
    "val_loss": ("val_loss", "eval_loss", "validation_loss", "valid_loss", "test_loss"),
    "train_loss": ("train_loss", "training_loss"),
    "step": ("step", "steps", "iteration", "iter", "global_step", "iterations"),
    "batch_size": ("batch_size", "bs", "batch"),
    "learning_rate": ("learning_rate", "lr", "peak_lr", "max_lr"),
    "group": ("group", "architecture", "arch", "family", "model_family", "recipe"),
    "metric": ("metric", "accuracy", "acc", "score", "downstream", "eval_accuracy", "task_acc"),
}
"""User header spellings per canonical column, compared after :func:`_normalise_header`."""

_EXPECTED: dict[str, str] = {
    "params": "a positive parameter count like 1.4e9 or 70M",
    "tokens": "a positive token count like 2.8e10 or 20B",
    "flops": "a positive FLOP count like 1.2e21",
    "loss": "a positive loss in nats like 2.35",
    "train_loss": "a loss in nats like 2.35",
    "val_loss": "a loss in nats like 2.35",
    "step": "a step number like 1000",
    "batch_size": "a batch size like 256",
    "learning_rate": "a learning rate like 3e-4",
    "metric": "a downstream metric like an accuracy of 0.62",
}
"""What a good value looks like, per canonical column, in the words shown to the user."""

_SUFFIXES: dict[str, float] = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
_NUMBER_WITH_SUFFIX = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([KkMmBbGgTt])$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_NON_FINITE = re.compile(r"^[+-]?(?:nan|inf|infinity)$", re.IGNORECASE)
_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_LINES = 50


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestIssue:
    """One problem found in a file, located as precisely as it can be.

    ``row`` is the spreadsheet row (header = row 1) or ``None`` for file-level problems;
    ``column`` is the user's header or ``None``; ``value`` is the raw text found there.
    """

    filename: str
    problem: str
    expected: str = ""
    row: int | None = None
    column: str | None = None
    value: str | None = None

    def message(self) -> str:
        """One line: ``runs.csv, row 7 (header = row 1), column "N": "abc" is not a number; …``."""
        where = [self.filename]
        if self.row is not None:
            where.append(f"row {self.row} ({ROW_CONVENTION})")
        if self.column is not None:
            where.append(f"column {_quote(self.column)}")
        subject = f"{_quote(self.value)} " if self.value is not None else ""
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


@dataclass(frozen=True, eq=False)
class RawTable:
    """A decoded, split file before any column meaning is assumed.

    ``rows`` holds the data records as text with their spreadsheet row numbers (header = 1);
    blank lines are skipped but still counted, as a spreadsheet would show them.
    """

    filename: str
    headers: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]
    delimiter: str
    encoding: str

    @property
    def n_rows(self) -> int:
        """Number of (non-blank) data records."""
        return len(self.rows)


@dataclass(frozen=True, eq=False)
class ParsedTable:
    """A validated file: the canonical step-level table plus how it was read.

    ``points`` has the columns :data:`POINT_COLUMNS` (float64 for numbers with NaN for
    unmapped/empty optional cells; ``run``/``group`` as text), one row per data row of the file.
    Units are the schema's: params and tokens as counts, flops in FLOPs, losses in nats.
    ``loss`` holds the column chosen as the loss to fit (``mapping["loss"]``).
    """

    filename: str
    headers: tuple[str, ...]
    mapping: dict[str, str]
    columns: dict[str, np.ndarray]
    """The canonical columns as arrays (:data:`POINT_COLUMNS`), one entry per data row."""
    delimiter: str
    encoding: str
    has_run_column: bool = field(default=False)

    @cached_property
    def points(self) -> pd.DataFrame:
        """The columns as a DataFrame (built on first use: the CLI's fit path never needs it)."""
        import pandas as pd

        points = pd.DataFrame(self.columns)
        points["run"] = points["run"].astype(object)
        points["group"] = points["group"].astype(object)
        return points

    @property
    def n_rows(self) -> int:
        """Number of step-level rows."""
        return int(self.columns["row_number"].size)

    @property
    def n_runs(self) -> int:
        """Number of distinct runs."""
        return len(set(self.columns["run"].tolist()))

    @property
    def has_step_logs(self) -> bool:
        """True when some run has several rows, so the reduction choice matters."""
        return self.n_runs < self.n_rows

    def reduce(self, reduction: Reduction = "final") -> pd.DataFrame:
        """One row per run (see :func:`reduce_points`)."""
        return reduce_points(self.points, reduction)

    def run_table(self, reduction: Reduction = "final") -> RunTable:
        """The per-run table the math layer consumes (reduced with numpy, as
        :func:`reduce_points` does with pandas and the store with SQL)."""
        return run_table_from_columns(self.columns, reduction)


# --------------------------------------------------------------------------------------------
# Numbers and headers
# --------------------------------------------------------------------------------------------


def parse_number(text: str) -> float | None:
    """Read a number as people write it in run logs; ``None`` when it is not one.

    Accepts plain floats (``2.35``, ``1.4e9``), size suffixes (``70M``, ``1.4B``, ``2T``,
    ``500K``; ``G`` = ``B``), thousands separators (``1,000,000`` — in a comma-separated file
    such a value must be quoted, which the CSV reader has already resolved) and ``nan``/``inf``
    (returned as such so the caller can say "not finite" rather than "not a number").
    """
    text = text.strip().replace("_", "")
    if not text:
        return None
    if _PLAIN_NUMBER.match(text) or _NON_FINITE.match(text):
        return float(text)
    if _THOUSANDS.match(text):
        return float(text.replace(",", ""))
    match = _NUMBER_WITH_SUFFIX.match(text)
    if match:
        return float(match.group(1)) * _SUFFIXES[match.group(2).upper()]
    return None


def _normalise_header(header: str) -> str:
    """Lower-case with spaces, underscores, hyphens and dots removed: "Model Size" → "modelsize"."""
    return re.sub(r"[\s_\-.]+", "", header).lower()


_SYNONYM_LOOKUP: dict[str, str] = {
    _normalise_header(spelling): canonical
    for canonical, spellings in _SYNONYMS.items()
    for spelling in spellings
}


def suggest_mapping(headers: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Guess ``{canonical column: user header}`` from header spellings.

    Each header maps to at most one canonical column (the first header wins on duplicates).
    If no header means ``loss`` the validation loss is fitted, else the training loss.
    """
    mapping: dict[str, str] = {}
    for header in headers:
        canonical = _SYNONYM_LOOKUP.get(_normalise_header(header))
        if canonical is not None and canonical not in mapping:
            mapping[canonical] = header
    if "loss" not in mapping:
        for fallback in ("val_loss", "train_loss"):
            if fallback in mapping:
                mapping["loss"] = mapping[fallback]
                break
    return {column: mapping[column] for column in CANONICAL_COLUMNS if column in mapping}


# --------------------------------------------------------------------------------------------
# Bytes → RawTable
# --------------------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str] | None:
    """Text and encoding name; ``None`` when the bytes look binary.

    UTF-16 is recognised only by its BOM (Excel's "Unicode text" export). Otherwise UTF-8
    (BOM stripped) is tried and Latin-1, which decodes any byte, is the fallback.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None
    if b"\x00" in data[:8192]:
        return None
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            return None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _sniff_delimiter(text: str) -> str:
    """The delimiter among , ; tab | that splits the first lines into the most, steady, fields.

    A hand-rolled score instead of ``csv.Sniffer``, which guesses letters as delimiters on
    short files. Score = (share of sampled records with the header's field count, field count).
    """
    sample = "\n".join(text.splitlines()[:_SNIFF_LINES])
    best, best_score = ",", (-1.0, 0)
    for delimiter in _DELIMITERS:
        records = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
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
    for index, header in enumerate(raw_headers, start=1):
        name = header.strip() or f"column {index}"
        candidate, copy = name, 2
        while candidate in headers:
            candidate, copy = f"{name} ({copy})", copy + 1
        headers.append(candidate)
    return tuple(headers)


def read_table(filename: str, data: bytes) -> RawTable | IngestErrors:
    """Decode and split a delimited text file; reject empty, binary and header-only files."""

    def reject(problem: str, expected: str = "", row: int | None = None) -> IngestErrors:
        return IngestErrors(filename, (IngestIssue(filename, problem, expected, row),), 1)

    if not data.strip():
        return reject("the file is empty", "a CSV file with a header row and one row per run")
    decoded = _decode(data)
    if decoded is None:
        return reject(
            "the file looks binary (for example an Excel .xlsx or a Parquet file), not text",
            "a CSV/TSV text file; in Excel use File → Save As → CSV",
        )
    text, encoding = decoded
    delimiter = _sniff_delimiter(text)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        return reject(f"the file could not be split into columns ({exc})", "a well-formed CSV")
    first = next((i for i, record in enumerate(records) if any(c.strip() for c in record)), None)
    if first is None:
        return reject("the file is empty", "a CSV file with a header row and one row per run")
    headers = _unique_headers(records[first])
    rows = tuple(
        (index + 1, tuple(record))
        for index, record in enumerate(records)
        if index > first and any(cell.strip() for cell in record)
    )
    if not rows:
        return reject(
            "the file has a header row but no data rows",
            "one row per run (or per evaluation step) below the header",
            row=first + 1,
        )
    return RawTable(filename, headers, rows, delimiter, encoding)


# --------------------------------------------------------------------------------------------
# RawTable + mapping → ParsedTable
# --------------------------------------------------------------------------------------------


class _Collector:
    """Accumulates issues, keeping the first :data:`_MAX_KEPT_ERRORS` and counting all."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.issues: list[IngestIssue] = []
        self.total = 0
        self._seen: set[tuple[object, ...]] = set()

    def add(
        self,
        problem: str,
        expected: str = "",
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        key = (problem, row, column, value)
        if key in self._seen:  # the same header can serve two roles (loss and val_loss)
            return
        self._seen.add(key)
        self.total += 1
        if len(self.issues) < _MAX_KEPT_ERRORS:
            self.issues.append(IngestIssue(self.filename, problem, expected, row, column, value))

    def result(self) -> IngestErrors:
        return IngestErrors(self.filename, tuple(self.issues), self.total)


def _check_mapping(raw: RawTable, mapping: dict[str, str], errors: _Collector) -> None:
    """Unknown canonical names, headers that do not exist, and missing required columns."""
    for canonical, header in mapping.items():
        if canonical not in CANONICAL_COLUMNS:
            errors.add(
                f"{_quote(canonical)} is not a column Scalescope knows",
                f"one of {', '.join(CANONICAL_COLUMNS)}",
            )
        elif header not in raw.headers:
            errors.add(
                f"the column {_quote(header)} chosen for {canonical} is not in the header",
                f"one of {', '.join(_quote(h) for h in raw.headers)}",
                row=1,
            )
    found = ", ".join(_quote(h) for h in raw.headers)
    for canonical, hint in (
        ("params", "a parameter-count column such as params, n_params, N or Model Size"),
        ("loss", "a loss column such as loss, val_loss or train_loss"),
    ):
        if canonical not in mapping:
            errors.add(f"no column gives {CANONICAL_COLUMNS[canonical]} (found {found})", hint, 1)
    if "tokens" not in mapping and "flops" not in mapping:
        errors.add(
            f"no column gives training tokens or training FLOPs (found {found})",
            "a tokens column (tokens, D, n_tokens) or a compute column (flops, C, Training FLOP)",
            1,
        )


def _numeric_column(
    raw: RawTable, header: str, canonical: str, required: bool, errors: _Collector
) -> np.ndarray:
    """Parse one user column to float64 (NaN where empty), reporting every bad cell."""
    index = raw.headers.index(header)
    expected = _EXPECTED[canonical]
    values = np.full(raw.n_rows, np.nan)
    for position, (row, record) in enumerate(raw.rows):
        cell = record[index].strip() if index < len(record) else ""
        if not cell:
            if required:
                errors.add("the cell is empty", expected, row, header)
            continue
        number = parse_number(cell)
        if number is None:
            problem = "is not a number"
            if re.fullmatch(r"[+-]?\d+,\d+", cell):
                problem += " (use a dot as the decimal separator)"
            errors.add(problem, expected, row, header, cell)
        elif not math.isfinite(number):
            errors.add("is not a finite number", expected, row, header, cell)
        elif canonical in _POSITIVE_REQUIRED and number <= 0:
            errors.add("is not positive", expected, row, header, cell)
        else:
            values[position] = number
    return values


def _text_column(raw: RawTable, header: str, canonical: str, errors: _Collector) -> np.ndarray:
    """One user column as stripped text; an empty run name is an error (it identifies rows)."""
    index = raw.headers.index(header)
    values = np.empty(raw.n_rows, dtype=object)
    for position, (row, record) in enumerate(raw.rows):
        cell = record[index].strip() if index < len(record) else ""
        if canonical == "run" and not cell:
            errors.add("the run name is empty", "a run name on every row", row, header)
        values[position] = cell
    return values


def _check_widths(raw: RawTable, errors: _Collector) -> None:
    """Rows with more fields than the header usually hide an unquoted 1,000 in a comma CSV."""
    width = len(raw.headers)
    for row, record in raw.rows:
        if len(record) > width:
            hint = (
                "; numbers with a thousands separator like 1,000 must be quoted in a "
                "comma-separated file"
                if raw.delimiter == ","
                else ""
            )
            errors.add(
                f"has {len(record)} fields but the header has {width}{hint}",
                f"{width} fields per row",
                row,
            )


def _check_units(
    points: dict[str, np.ndarray], mapping: dict[str, str], rows: np.ndarray, errors: _Collector
) -> None:
    """Tokens far below the parameter count mean the tokens are in millions/billions."""
    params = points["params"]
    if "tokens" in mapping:
        tokens, column = points["tokens"], mapping["tokens"]
    else:
        tokens, column = points["flops"] / (6.0 * params), mapping["flops"]
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(tokens < params * MIN_TOKENS_PER_PARAM)
    source = "tokens" if "tokens" in mapping else "flops"
    for position in bad:
        value = points[source][position]
        errors.add(
            f"gives {tokens[position]:.3g} training tokens for {params[position]:.3g} parameters,"
            " fewer than 1 token per 1000 parameters, which suggests the wrong unit",
            f"{_EXPECTED[source]} as a plain count (write 20B or 2e10, not 20 for 20 billion)",
            int(rows[position]),
            column,
            f"{value:g}",
        )


def _check_run_params(points: dict[str, np.ndarray], header: str, errors: _Collector) -> None:
    """All rows of one run must agree on its parameter count."""
    run, params, rows = points["run"], points["params"], points["row_number"]
    for name in dict.fromkeys(run.tolist()):
        mine = np.flatnonzero(run == name)
        values = params[mine]
        if np.unique(values[np.isfinite(values)]).size > 1:
            first = mine[0]
            other = mine[np.flatnonzero(values != values[0])[0]]
            errors.add(
                f"run {_quote(str(name))} has {params[first]:g} parameters on row "
                f"{int(rows[first])} but {params[other]:g} here",
                "one parameter count per run (give different models different run names)",
                int(rows[other]),
                header,
                f"{params[other]:g}",
            )


def validate_table(
    raw: RawTable, mapping: dict[str, str] | None = None
) -> ParsedTable | IngestErrors:
    """Check every mapped cell and build the canonical step-level table.

    ``mapping`` is ``{canonical column: user header}`` (default :func:`suggest_mapping`).
    Required: params, loss, and tokens or flops — every cell positive and finite. Optional
    numeric columns may have empty cells but no non-numbers. Returns all problems found,
    never a partial table.
    """
    mapping = dict(suggest_mapping(raw.headers) if mapping is None else mapping)
    mapping = {c: h for c, h in mapping.items() if h and h != NONE_OPTION}
    errors = _Collector(raw.filename)
    _check_mapping(raw, mapping, errors)
    if errors.total:
        return errors.result()
    _check_widths(raw, errors)

    rows = np.array([row for row, _ in raw.rows], dtype=np.int64)
    columns: dict[str, np.ndarray] = {"row_number": rows}
    for canonical in POINT_COLUMNS[1:]:
        header = mapping.get(canonical)
        if header is None:
            columns[canonical] = np.full(raw.n_rows, None if canonical in _TEXT_COLUMNS else np.nan)
        elif canonical in _TEXT_COLUMNS:
            columns[canonical] = _text_column(raw, header, canonical, errors)
        else:
            required = canonical in _POSITIVE_REQUIRED
            columns[canonical] = _numeric_column(raw, header, canonical, required, errors)
    if "run" not in mapping:
        columns["run"] = np.array([f"row {row}" for row in rows], dtype=object)
    columns["run"] = np.asarray(columns["run"], dtype=object)
    columns["group"] = np.asarray(columns["group"], dtype=object)

    if not errors.total:
        _check_units(columns, mapping, rows, errors)
        if "run" in mapping:
            _check_run_params(columns, mapping["params"], errors)
    if errors.total:
        return errors.result()
    return ParsedTable(
        filename=raw.filename,
        headers=raw.headers,
        mapping={c: mapping[c] for c in CANONICAL_COLUMNS if c in mapping},
        columns=columns,
        delimiter=raw.delimiter,
        encoding=raw.encoding,
        has_run_column="run" in mapping,
    )


def parse_table(
    filename: str, data: bytes, mapping: dict[str, str] | None = None
) -> ParsedTable | IngestErrors:
    """Bytes of an uploaded file → validated table, or every problem with it."""
    raw = read_table(filename, data)
    if isinstance(raw, IngestErrors):
        return raw
    return validate_table(raw, mapping)


# --------------------------------------------------------------------------------------------
# Reduction and the CLI helper
# --------------------------------------------------------------------------------------------


def reduce_points(points: pd.DataFrame, reduction: Reduction = "final") -> pd.DataFrame:
    """One row per run, in order of each run's first appearance.

    ``final``: the row with the largest step (empty steps count as earliest; ties and files
    without steps take the last row). ``best``: the row with the lowest loss (ties: the
    earliest row). Tokens/FLOPs come from the chosen row. Mirrors the SQL in ``store``.
    """
    if reduction == "final":
        order = points.sort_values(["step", "row_number"], na_position="first", kind="stable")
        chosen = order.groupby("run", sort=False).tail(1)
    elif reduction == "best":
        order = points.sort_values(["loss", "row_number"], kind="stable")
        chosen = order.groupby("run", sort=False).head(1)
    else:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    first_row = points.groupby("run", sort=False)["row_number"].min()
    chosen = chosen.assign(_first=chosen["run"].map(first_row))
    return chosen.sort_values("_first").drop(columns="_first").reset_index(drop=True)


def run_table_from_columns(columns: dict[str, np.ndarray], reduction: Reduction = "final"
                           ) -> RunTable:  # fmt: skip
    """One row per run straight from the columns, without pandas.

    The same choice as :func:`reduce_points`: ``final`` is each run's row with the largest step
    (empty steps count as earliest; ties take the last row), ``best`` its lowest-loss row
    (ties: the earliest); runs in order of first appearance.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    run = np.asarray(columns["run"], dtype=object)
    row = np.asarray(columns["row_number"])
    if reduction == "final":
        step = np.asarray(columns["step"], dtype=float)
        order = np.lexsort((row, np.where(np.isnan(step), -np.inf, step)))
        pick_last = True
    else:
        order = np.lexsort((row, np.asarray(columns["loss"], dtype=float)))
        pick_last = False
    chosen: dict[object, int] = {}
    for index in order:
        if pick_last or run[index] not in chosen:
            chosen[run[index]] = int(index)
    first_row = {}
    for index in np.argsort(row, kind="stable"):
        first_row.setdefault(run[index], row[index])
    picks = np.array(sorted(chosen.values(), key=lambda i: first_row[run[i]]), dtype=int)

    def optional(name: str) -> np.ndarray | None:
        values = np.asarray(columns[name], dtype=float)[picks]
        return None if np.isnan(values).all() else values

    group = np.asarray(columns["group"], dtype=object)[picks]
    has_group = any(g is not None and not (isinstance(g, float) and math.isnan(g)) for g in group)
    return RunTable.from_arrays(
        params=np.asarray(columns["params"], dtype=float)[picks],
        loss=np.asarray(columns["loss"], dtype=float)[picks],
        tokens=optional("tokens"),
        compute=optional("flops"),
        run=run[picks],
        group=group if has_group else None,
        metric=optional("metric") if "metric" in columns else None,
    )


def curve_arrays(points: pd.DataFrame) -> dict[str, np.ndarray]:
    """Step-level arrays ``run``, ``params``, ``tokens``, ``loss`` of a points table (a parsed
    file's or the store's), with tokens derived as D = C/(6N) on rows that log FLOPs only —
    the same rule as :meth:`RunTable.from_arrays`."""
    params = points["params"].to_numpy(dtype=float)
    tokens = points["tokens"].to_numpy(dtype=float)
    derived = points["flops"].to_numpy(dtype=float) / (FLOPS_PER_PARAM_TOKEN * params)
    return {
        "run": points["run"].astype(str).to_numpy(),
        "params": params,
        "tokens": np.where(np.isfinite(tokens), tokens, derived),
        "loss": points["loss"].to_numpy(dtype=float),
    }


def run_table_from_reduced(reduced: pd.DataFrame) -> RunTable:
    """``RunTable`` from one-row-per-run data; absent tokens/flops/group columns are all-null."""

    def optional(column: str) -> np.ndarray | None:
        values = reduced[column].to_numpy(dtype=float)
        return None if np.isnan(values).all() else values

    group = reduced["group"].to_numpy(dtype=object)
    has_group = any(g is not None and not (isinstance(g, float) and math.isnan(g)) for g in group)
    metric = optional("metric") if "metric" in reduced else None
    return RunTable.from_arrays(
        metric=metric,
        params=reduced["params"].to_numpy(dtype=float),
        loss=reduced["loss"].to_numpy(dtype=float),
        tokens=optional("tokens"),
        compute=optional("flops"),
        run=reduced["run"].to_numpy(dtype=object),
        group=group if has_group else None,
    )


def load_runs_from_file(path: str, reduction: Reduction = "final") -> RunTable:
    """Read a CSV/TSV run log from disk with automatic column mapping → one row per run.

    Raises :class:`IngestError` (one-line message: first problem + count of others) when the
    file is missing, unreadable or invalid.
    """
    name = Path(path).name
    if reduction not in REDUCTIONS:
        issue = IngestIssue(name, f"unknown reduction {reduction!r}", " or ".join(REDUCTIONS))
        raise IngestError(IngestErrors(name, (issue,), 1))
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        issue = IngestIssue(name, f"cannot be read ({exc.strerror or exc})", "a readable file")
        raise IngestError(IngestErrors(name, (issue,), 1)) from exc
    parsed = parse_table(name, data)
    if isinstance(parsed, IngestErrors):
        raise IngestError(parsed)
    return parsed.run_table(reduction)


def _quote(value: str) -> str:
    """Double-quoted, control characters escaped, long values cut at 60 characters."""
    text = value if len(value) <= 60 else value[:57] + "…"
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return f'"{text}"'
