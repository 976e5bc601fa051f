"""Untrusted bytes → a validated step-level table, or a list of precise errors.

Why a separate layer: everything downstream (store, math, charts) may assume clean, positive,
finite numbers in fixed units (see :mod:`scaling_core.schema`). Ingest is where a user's file
meets those assumptions, so every problem is reported here in the user's own terms — file name,
row (or line, or record), the user's column header, the offending value and what was expected —
and nothing is ever written (ingest has no I/O besides :func:`load_runs_from_file` reading a
path).

The pipeline, each step usable on its own (the upload page edits the mapping in between)::

    check_size(filename, n_bytes, limit_mb)    -> IngestErrors | None
    read_table(filename, data)                 -> RawTable | IngestErrors   (ingest_read)
    suggest_mapping(raw.headers)               -> {canonical column: user header}
    validate_table(raw, mapping, units)        -> ParsedTable | IngestErrors
    ParsedTable.run_table("final"|"best", at_step=None) -> RunTable (one row per run)

:func:`parse_table` chains the middle three; :func:`load_runs_from_file` is the CLI entry point.
The work is split by job: ``ingest_numbers`` (the number grammar), ``ingest_model`` (issues,
raw columns), ``ingest_read`` (formats), ``ingest_checks`` (rules across rows, and which are
errors or warnings), ``ingest_reduce`` (one row per run); this module maps columns, applies
units and judges cells.

Row numbers follow the spreadsheet convention for text files: the header is row 1, the first
data row is row 2. JSON Lines are located by line, Parquet by record, exports by run and step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scaling_core.ingest_checks import (
    EXPECTED,
    MIN_TOKENS_PER_PARAM,
    Rows,
    check_compute,
    check_params_scale,
    check_repeats,
    check_run_params,
    check_scales,
    check_token_units,
    sparse_rows,
)
from scaling_core.ingest_model import (
    MAX_REPORTED_ERRORS,
    ROW_CONVENTION,
    Collector,
    IngestError,
    IngestErrors,
    IngestIssue,
    RawColumn,
    RawTable,
    quote,
    reject,
)
from scaling_core.ingest_numbers import EMPTY, NOT_FINITE, NOT_NUMBER, SUFFIXED, parse_number
from scaling_core.ingest_read import read_table
from scaling_core.ingest_reduce import (
    REDUCTIONS,
    Reduction,
    ReductionError,
    curve_arrays,
    reduce_points,
    run_table_from_columns,
    run_table_from_reduced,
)
from scaling_core.schema import CANONICAL_COLUMNS, RunTable

if TYPE_CHECKING:  # pandas is imported only where a DataFrame is built (it costs ~0.4 s)
    import pandas as pd

__all__ = [
    "DEFAULT_UNITS",
    "MAX_NAME_CHARS",
    "MAX_REPORTED_ERRORS",
    "MIN_TOKENS_PER_PARAM",
    "NONE_OPTION",
    "POINT_COLUMNS",
    "REDUCTIONS",
    "ROW_CONVENTION",
    "UNIT_CHOICES",
    "UNIT_FACTORS",
    "UNIT_LABELS",
    "IngestError",
    "IngestErrors",
    "IngestIssue",
    "ParsedTable",
    "RawColumn",
    "RawTable",
    "Reduction",
    "ReductionError",
    "check_size",
    "curve_arrays",
    "load_runs_from_file",
    "parse_number",
    "parse_table",
    "read_table",
    "reduce_points",
    "run_table_from_columns",
    "run_table_from_reduced",
    "suggest_mapping",
    "validate_table",
]

NONE_OPTION = "(none)"
"""What the upload page shows for an unmapped canonical column."""

MAX_NAME_CHARS = 1000
"""Longest run or group name accepted (names are shown in tables, legends and exports)."""

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
"""Columns of :attr:`ParsedTable.columns`: ``row_number`` (the record's number in the file's
convention: spreadsheet row, JSON line, Parquet/export record), then canonical ones."""

# -- units ------------------------------------------------------------------------------------

PF_DAY_FLOPS = 1e15 * 86_400
"""One petaFLOP/s-day: 8.64e19 FLOPs (the unit of OpenAI's and Kaplan et al.'s compute plots)."""

_SIZE_UNITS = ("count", "K", "M", "B", "T")
_LOSS_UNITS = ("nats", "bits")
UNIT_CHOICES: dict[str, tuple[str, ...]] = {
    "params": _SIZE_UNITS,
    "tokens": _SIZE_UNITS,
    "flops": ("FLOPs", "PF-days"),
    "loss": _LOSS_UNITS,
    "train_loss": _LOSS_UNITS,
    "val_loss": _LOSS_UNITS,
}
"""Unit names per canonical column, the first being the schema's own (factor 1). The mapping
editor offers these (labelled by :data:`UNIT_LABELS`); :func:`validate_table` converts."""

UNIT_LABELS: dict[str, str] = {
    "count": "count",
    "K": "thousands (K)",
    "M": "millions (M)",
    "B": "billions (B)",
    "T": "trillions (T)",
    "FLOPs": "FLOPs",
    "PF-days": "PF-days (8.64e19 FLOPs)",
    "nats": "nats",
    "bits": "bits (× ln 2 → nats)",
}
UNIT_FACTORS: dict[str, float] = {
    "count": 1.0,
    "K": 1e3,
    "M": 1e6,
    "B": 1e9,
    "T": 1e12,
    "FLOPs": 1.0,
    "PF-days": PF_DAY_FLOPS,
    "nats": 1.0,
    "bits": math.log(2.0),
}
"""Multiply a value in the unit by this to get the schema's unit (counts, FLOPs, nats)."""

DEFAULT_UNITS: dict[str, str] = {column: units[0] for column, units in UNIT_CHOICES.items()}

# -- column roles -----------------------------------------------------------------------------

_TEXT_COLUMNS = frozenset({"run", "group"})
_REQUIRED = frozenset({"params", "tokens", "flops", "loss"})
_POSITIVE = frozenset({"params", "tokens", "flops", "loss", "train_loss", "val_loss", "batch_size"})
_NON_NEGATIVE = frozenset({"step", "learning_rate"})

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "run": ("run", "run_name", "name", "run_id", "model", "model_name", "id", "experiment"),
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
        "model.n_params",
        "n_params_total",
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
        "num_tokens_seen",
        "consumed_tokens",
        "tokens_processed",
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
        "total_flops",
    ),
    "loss": ("loss", "final_loss", "lm_loss"),
    "val_loss": (
        "val_loss",
        "eval_loss",
        "validation_loss",
        "valid_loss",
        "test_loss",
        "eval/loss",
        "val/loss",
        "validation/loss",
        "valid/loss",
    ),
    "train_loss": ("train_loss", "training_loss", "train/loss", "training/loss"),
    "step": (
        "step",
        "steps",
        "iteration",
        "iter",
        "global_step",
        "iterations",
        "trainer/global_step",
        "train/global_step",
        "_step",
    ),
    "batch_size": ("batch_size", "bs", "batch", "global_batch_size"),
    "learning_rate": ("learning_rate", "lr", "peak_lr", "max_lr", "train/lr", "optimizer/lr"),
    "group": ("group", "architecture", "arch", "family", "model_family", "recipe"),
    "metric": ("metric", "accuracy", "acc", "score", "downstream", "eval_accuracy", "task_acc"),
}
"""User header spellings per canonical column, compared after :func:`_normalise_header`.
Logged names with a path (``train/loss``, ``config.model.n_params``) also map by their last
part when it is unambiguous (see :func:`_path_role`)."""

_TRAIN_PREFIXES = frozenset({"train", "training", "trn"})
_EVAL_PREFIXES = frozenset({"eval", "val", "valid", "validation", "test", "evaluation", "dev"})
_GENERIC_PARTS = frozenset(
    {"n", "d", "c", "name", "id", "model", "data", "batch", "bs", "score", "metric", "run",
     "group", "iter", "compute", "experiment", "acc", "downstream"}
)  # fmt: skip
"""Last parts too generic to map on their own (``config.data``, ``timing/compute``)."""


def _normalise_header(header: str) -> str:
    """Lower-case with spaces, underscores, hyphens and dots removed: "Model Size" → "modelsize"."""
    return re.sub(r"[\s_\-.]+", "", header).lower()


_SYNONYM_LOOKUP: dict[str, str] = {
    _normalise_header(spelling): canonical
    for canonical, spellings in _SYNONYMS.items()
    for spelling in spellings
}
_SYNONYM_RANK: dict[str, int] = {}
"""Position of a spelling in its column's synonym list: earlier spellings are preferred (an
exact count ``n_params`` over a size label ``model_size`` like "10M")."""
for _spellings in _SYNONYMS.values():
    for _rank, _spelling in enumerate(_spellings):
        _SYNONYM_RANK.setdefault(_normalise_header(_spelling), _rank)
_PART_LOOKUP: dict[str, str] = {
    key: canonical
    for key, canonical in _SYNONYM_LOOKUP.items()
    if key not in _GENERIC_PARTS and "/" not in key
}


def _path_role(header: str) -> str | None:
    """Canonical column of a logged path by its last part: ``train/loss`` → train_loss,
    ``eval/loss`` → val_loss, ``config.model.n_params`` → params."""
    parts = [part for part in re.split(r"[/.:]", header) if part.strip()]
    if len(parts) < 2:
        return None
    last, prefix = _normalise_header(parts[-1]), _normalise_header(parts[-2])
    if last == "loss" and prefix in _TRAIN_PREFIXES:
        return "train_loss"
    if last == "loss" and prefix in _EVAL_PREFIXES:
        return "val_loss"
    return _PART_LOOKUP.get(last)


def _role(header: str) -> str | None:
    """The canonical column a header means by its spelling alone (or ``None``)."""
    return _SYNONYM_LOOKUP.get(_normalise_header(header)) or _path_role(header)


def suggest_mapping(headers: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Guess ``{canonical column: user header}`` from header spellings.

    Each header maps to at most one canonical column; plain spellings win over logged paths
    (``train/loss``, ``trainer/global_step``), which win over tracker-internal names starting
    with ``_`` (W&B's ``_step``); within a pass the spelling earlier in the synonym list wins
    (``n_params`` over ``model_size``), then the first header. If no header means
    ``loss`` the validation loss is fitted, else the training loss.
    """
    mapping: dict[str, str] = {}
    passes = (
        lambda h: (
            None if h.startswith("_") or "/" in h else _SYNONYM_LOOKUP.get(_normalise_header(h))
        ),
        lambda h: None if h.startswith("_") else _role(h),
        _role,
    )
    # Stable sort: the preferred spelling first, then the file's order among equals.
    ordered = sorted(headers, key=lambda h: _SYNONYM_RANK.get(_normalise_header(h), 1 << 20))
    for guess in passes:
        taken = set(mapping.values())
        for header in ordered:
            canonical = guess(header) if header not in taken else None
            if canonical is not None and canonical not in mapping:
                mapping[canonical] = header
                taken.add(header)
    if "loss" not in mapping:
        for fallback in ("val_loss", "train_loss"):
            if fallback in mapping:
                mapping["loss"] = mapping[fallback]
                break
    return {column: mapping[column] for column in CANONICAL_COLUMNS if column in mapping}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ParsedTable:
    """A validated file: the canonical step-level table plus how it was read.

    ``columns`` holds :data:`POINT_COLUMNS` as arrays (float64 with NaN for unmapped/empty
    optional cells; ``run``/``group`` as object arrays of text), one entry per kept record.
    Units are the schema's (params and tokens as counts, flops in FLOPs, losses in nats);
    ``units`` records the unit each mapped column was given in. ``loss`` holds the column
    chosen as the loss to fit (``mapping["loss"]``). ``warnings`` are benign patterns that
    were resolved as each warning says (the page asks the user to accept them).
    ``run_index`` numbers each row's run (0, 1, … in order of first appearance).
    """

    filename: str
    headers: tuple[str, ...]
    mapping: dict[str, str]
    columns: dict[str, np.ndarray]
    delimiter: str
    encoding: str
    has_run_column: bool = False
    warnings: tuple[IngestIssue, ...] = ()
    units: dict[str, str] = field(default_factory=dict)
    format: str = "csv"
    run_index: np.ndarray | None = field(default=None, repr=False)

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

    @cached_property
    def n_runs(self) -> int:
        """Number of distinct runs."""
        if self.run_index is not None:
            return int(self.run_index.max()) + 1 if self.run_index.size else 0
        return len(set(self.columns["run"].tolist()))

    @property
    def has_step_logs(self) -> bool:
        """True when some run has several rows, so the reduction choice matters."""
        return self.n_runs < self.n_rows

    def reduce(self, reduction: Reduction = "final", at_step: float | None = None) -> pd.DataFrame:
        """One row per run (see :func:`reduce_points`)."""
        return reduce_points(self.points, reduction, at_step)

    def run_table(self, reduction: Reduction = "final", at_step: float | None = None) -> RunTable:
        """The per-run table the math layer consumes (numpy; the same rows as
        :func:`reduce_points` and the store's SQL). ``at_step``: see :mod:`ingest_reduce`."""
        return run_table_from_columns(self.columns, reduction, at_step, self.run_index)


# --------------------------------------------------------------------------------------------
# Size limit
# --------------------------------------------------------------------------------------------


def check_size(filename: str, n_bytes: int, limit_mb: float) -> IngestErrors | None:
    """The upload-limit message, or ``None`` when ``n_bytes`` is within ``limit_mb``.

    Megabytes are Streamlit's (``server.maxUploadSize`` × 1024 × 1024 bytes).
    """
    if n_bytes <= limit_mb * 1024 * 1024:
        return None
    return reject(
        filename,
        f"is {n_bytes / 1024**2:.1f} MB; the upload limit is {limit_mb:g} MB "
        "(server.maxUploadSize in .streamlit/config.toml)",
        "a smaller file: split it by run, save it as Parquet (several times smaller), or "
        "raise the limit",
    )


# --------------------------------------------------------------------------------------------
# RawTable + mapping + units → ParsedTable
# --------------------------------------------------------------------------------------------


def _listing(headers: tuple[str, ...], limit: int = 20) -> str:
    shown = ", ".join(quote(h) for h in headers[:limit])
    return shown + (f", … ({len(headers):,} columns in all)" if len(headers) > limit else "")


def _check_mapping(raw: RawTable, mapping: dict[str, str], errors: Collector) -> None:
    """Unknown canonical names, absent headers, unusable column types, missing columns."""
    header_row = 1 if raw.format == "csv" else None
    for canonical, header in mapping.items():
        if canonical not in CANONICAL_COLUMNS:
            errors.add(
                f"{quote(canonical)} is not a column Scalescope knows",
                f"one of {', '.join(CANONICAL_COLUMNS)}",
            )
        elif header not in raw.columns:
            errors.add(
                f"the column {quote(header)} chosen for {canonical} is not in the file",
                f"one of {_listing(raw.headers)}",
                row=header_row,
            )
        else:
            column = raw.columns[header]
            problem = (
                column.text_problem() if canonical in _TEXT_COLUMNS else column.numbers_problem()
            )
            if problem:
                expected = EXPECTED.get(canonical, "names as text")
                errors.add(f"{problem} (chosen for {canonical})", expected, column=header)
    found = _listing(raw.headers)
    for canonical, hint in (
        ("params", "a parameter-count column such as params, n_params, N or Model Size"),
        ("loss", "a loss column such as loss, val_loss or train_loss"),
    ):
        if canonical not in mapping:
            errors.add(
                f"no column gives {CANONICAL_COLUMNS[canonical]} (found {found})", hint, header_row
            )
    if "tokens" not in mapping and "flops" not in mapping:
        errors.add(
            f"no column gives training tokens or training FLOPs (found {found})",
            "a tokens column (tokens, D, n_tokens) or a compute column (flops, C, Training FLOP)",
            header_row,
        )


def _resolve_units(
    mapping: dict[str, str], units: dict[str, str] | None, errors: Collector
) -> dict[str, str]:
    """The unit of every mapped column that has units. A unit given for one role of a header
    serves its other roles too (``loss`` and ``val_loss`` mapped to one column); unknown units
    and two different units given for one header are errors."""
    given = dict(units or {})
    for canonical, unit in given.items():
        if canonical not in UNIT_CHOICES:
            errors.add(
                f"{quote(canonical)} has no unit choice",
                f"units only for {', '.join(UNIT_CHOICES)}",
            )
        elif unit not in UNIT_CHOICES[canonical]:
            errors.add(
                f"{quote(str(unit))} is not a unit of {canonical}",
                f"one of {', '.join(UNIT_CHOICES[canonical])}",
            )
    valid = {c: u for c, u in given.items() if u in UNIT_CHOICES.get(c, ())}
    explicit: dict[str, tuple[str, str]] = {}  # header → (canonical, unit) first given
    for canonical, unit in valid.items():
        header = mapping.get(canonical)
        if header is None:
            continue
        if header in explicit and UNIT_FACTORS[explicit[header][1]] != UNIT_FACTORS[unit]:
            first, first_unit = explicit[header]
            errors.add(
                f"is used as {first} in {first_unit} and as {canonical} in {unit}",
                "one unit per column",
                column=header,
            )
        explicit.setdefault(header, (canonical, unit))
    resolved = {}
    for canonical in UNIT_CHOICES:
        if canonical not in mapping:
            continue
        shared = explicit.get(mapping[canonical])  # a header's unit serves all its roles
        unit = valid.get(canonical) or (shared[1] if shared else DEFAULT_UNITS[canonical])
        resolved[canonical] = unit if unit in UNIT_CHOICES[canonical] else DEFAULT_UNITS[canonical]
    return resolved


def _renumber(codes: np.ndarray) -> np.ndarray:
    """Codes renumbered 0, 1, … in order of first appearance (after rows were removed)."""
    if codes.size == 0:
        return codes
    unique, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    rank = np.empty(unique.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(unique.size)
    return rank[inverse.reshape(-1)]


def _numeric_cells(
    raw: RawTable,
    header: str,
    roles: list[str],
    positions: np.ndarray,
    units: dict[str, str],
    errors: Collector,
) -> dict[str, np.ndarray]:
    """Parse one user column once for all the roles it plays; report every bad cell."""
    column = raw.columns[header]
    values, verdicts = column.numbers()
    if positions.size < values.size:  # some records were skipped (sparse logs)
        values, verdicts = values[positions], verdicts[positions]
    expected = EXPECTED[roles[0]]

    def cell(position: int) -> str:
        return column.cell(position)

    def report(mask: np.ndarray, problem: str | object, value: bool = True) -> None:
        if not mask.any():
            return
        bad = positions[np.flatnonzero(mask)]
        errors.cells(bad, problem, expected, header, cell if value else None)  # type: ignore[arg-type]

    if verdicts.any():  # a column of plain numbers only (the bulk of a big log) skips these
        _report_verdicts(raw, roles, verdicts, units, report, cell)
    # Values are NaN wherever the verdict is not OK or SUFFIXED (RawColumn.numbers) and NaN
    # compares False: only usable cells can be out of range.
    if any(role in _POSITIVE for role in roles):
        report(values <= 0, "is not positive")
    elif any(role in _NON_NEGATIVE for role in roles):
        report(values < 0, "is negative")
    result = {}
    for role in roles:
        factor = UNIT_FACTORS.get(units.get(role, ""), 1.0)
        result[role] = values * factor if factor != 1.0 else values
    return result


def _report_verdicts(
    raw: RawTable,
    roles: list[str],
    verdicts: np.ndarray,
    units: dict[str, str],
    report: Callable[..., None],
    cell: Callable[[int], str],
) -> None:
    """Report a numeric column's empty, non-numeric, non-finite and (in a scaled unit)
    self-suffixed cells, in that order."""
    if any(role in _REQUIRED for role in roles):
        report(
            verdicts == EMPTY,
            "no value is logged here" if raw.sparse else "the cell is empty",
            value=False,
        )

    def not_a_number(position: int) -> str:
        if re.fullmatch(r"[+-]?[0-9]+,[0-9]+", cell(position)):
            return "is not a number (use a dot as the decimal separator)"
        return "is not a number"

    report(verdicts == NOT_NUMBER, not_a_number)
    report(verdicts == NOT_FINITE, "is not a finite number")
    scaled = [role for role in roles if units.get(role, DEFAULT_UNITS.get(role)) not in (
        None, "count", "FLOPs", "nats")]  # fmt: skip
    if scaled:
        unit = units[scaled[0]]
        report(
            verdicts == SUFFIXED,
            f"has its own size suffix but the column's unit is {UNIT_LABELS[unit]}",
        )


def _text_cells(
    raw: RawTable, header: str, canonical: str, positions: np.ndarray, errors: Collector
) -> tuple[np.ndarray, np.ndarray]:
    """(codes, names) of a run or group column; empty run names and huge names are errors."""
    column = raw.columns[header]
    codes, names = column.texts()
    if positions.size < codes.size:
        codes = codes[positions]
    lengths = np.fromiter((len(name) for name in names.tolist()), np.int64, names.size)
    if (lengths > MAX_NAME_CHARS).any():  # judged on the distinct names, then located
        too_long = np.flatnonzero(lengths[codes] > MAX_NAME_CHARS)
        errors.cells(
            positions[too_long],
            lambda p: f"is a name of {len(column.cell(p)):,} characters",
            f"a {canonical} name of at most {MAX_NAME_CHARS:,} characters",
            header,
            column.cell,
        )
    if canonical == "run" and (lengths == 0).any():
        empty = np.flatnonzero(lengths[codes] == 0)
        errors.cells(positions[empty], "the run name is empty", "a run name on every row", header)
    return codes, names


def validate_table(
    raw: RawTable,
    mapping: dict[str, str] | None = None,
    units: dict[str, str] | None = None,
) -> ParsedTable | IngestErrors:
    """Check every mapped cell and the rows together; build the canonical step-level table.

    ``mapping`` is ``{canonical column: user header}`` (default :func:`suggest_mapping`);
    ``units`` is ``{canonical column: unit}`` from :data:`UNIT_CHOICES` (default: the schema's
    units). Required: params, loss, and tokens or flops — every cell positive and finite.
    Optional numeric columns may have empty cells but no non-numbers. Then the rules of
    :mod:`scaling_core.ingest_checks` run (units, run consistency, repeats, mixed metrics).
    Returns every error found, never a partial table; warnings travel in the ParsedTable.
    """
    mapping = dict(suggest_mapping(raw.headers) if mapping is None else mapping)
    mapping = {c: h for c, h in mapping.items() if h and h != NONE_OPTION}
    errors = Collector(raw.filename, raw)
    warnings = Collector(raw.filename, raw)
    for issue in raw.warnings:
        warnings.add(issue.problem, issue.expected, issue.row, issue.column, issue.value,
                     issue.location)  # fmt: skip
    resolved_units = _resolve_units(mapping, units, errors)
    _check_mapping(raw, mapping, errors)
    if errors.total:
        return errors.result()

    positions = np.arange(raw.n_rows)  # the records kept: all but a sparse log's loss-less ones
    if raw.sparse:
        mapped = set(mapping.values())
        loss_role = _role(mapping["loss"])
        siblings = [
            h for h in raw.headers if h not in mapped and loss_role and _role(h) == loss_role
        ]
        keep = sparse_rows(raw, mapping, siblings, errors, warnings)
        if errors.total:
            return errors.result()
        if not keep.any():
            errors.add(
                f"no record logs {quote(mapping['loss'])}, the column chosen as the loss",
                "a loss column that has values (choose another in the mapping)",
                column=mapping["loss"],
            )
            return errors.result()
        positions = np.flatnonzero(keep)
    n = positions.size

    roles: dict[str, list[str]] = {}
    for canonical in POINT_COLUMNS[1:]:
        if canonical in mapping and canonical not in _TEXT_COLUMNS:
            roles.setdefault(mapping[canonical], []).append(canonical)
    row_numbers = raw.row_numbers.copy() if n == raw.n_rows else raw.row_numbers[positions]
    columns: dict[str, np.ndarray] = {"row_number": row_numbers}
    raw.parse_numbers(roles)
    for header, header_roles in roles.items():
        columns.update(_numeric_cells(raw, header, header_roles, positions, resolved_units, errors))
    texts = {
        canonical: _text_cells(raw, mapping[canonical], canonical, positions, errors)
        for canonical in ("run", "group")
        if canonical in mapping
    }
    if errors.total:
        return errors.result()

    unmapped = np.full(n, np.nan)  # one read-only array shared by every unmapped column
    unmapped.flags.writeable = False
    for canonical in POINT_COLUMNS[1:]:
        if canonical not in columns and canonical not in _TEXT_COLUMNS:
            columns[canonical] = unmapped
    if "run" in texts:
        codes, names = texts["run"]
        columns["run"] = names[codes]
        codes = codes if n == raw.n_rows else _renumber(codes)
    else:
        labels = [raw.where(int(p)) for p in positions.tolist()]
        columns["run"] = np.array([loc or f"row {row}" for row, loc in labels], dtype=object)
        codes = np.arange(n, dtype=np.int64)
    if "group" in texts:
        group_codes, group_names = texts["group"]
        columns["group"] = group_names[group_codes]
    else:
        columns["group"] = np.full(n, None, dtype=object)
    columns = {name: columns[name] for name in POINT_COLUMNS}

    rows = Rows(raw, mapping, positions, columns, codes)
    check_token_units(rows, errors)
    check_compute(rows, errors)
    if "run" in mapping:
        check_run_params(rows, errors)
    if errors.total:
        return errors.result()
    drop = check_repeats(rows, errors, warnings)
    check_params_scale(rows, warnings)
    if not errors.total:
        check_scales(rows, errors)
    if errors.total:
        return errors.result()
    if drop.any():
        columns = {name: values[~drop] for name, values in columns.items()}
        codes = _renumber(codes[~drop])
    return ParsedTable(
        filename=raw.filename,
        headers=raw.headers,
        mapping={c: mapping[c] for c in CANONICAL_COLUMNS if c in mapping},
        columns=columns,
        delimiter=raw.delimiter,
        encoding=raw.encoding,
        has_run_column="run" in mapping,
        warnings=tuple(warnings.result().issues),
        units=resolved_units,
        format=raw.format,
        run_index=codes,
    )


def parse_table(
    filename: str,
    data: bytes,
    mapping: dict[str, str] | None = None,
    units: dict[str, str] | None = None,
) -> ParsedTable | IngestErrors:
    """Bytes of an uploaded file → validated table, or every problem with it."""
    raw = read_table(filename, data)
    if isinstance(raw, IngestErrors):
        return raw
    return validate_table(raw, mapping, units)


def load_runs_from_file(
    path: str, reduction: Reduction = "final", at_step: float | None = None
) -> RunTable:
    """Read a run log from disk with automatic column mapping → one row per run.

    Raises :class:`IngestError` (one-line message: first problem + count of others) when the
    file is missing, unreadable or invalid, or the reduction cannot be made.
    """
    name = Path(path).name
    if reduction not in REDUCTIONS:
        raise IngestError(reject(name, f"unknown reduction {reduction!r}", " or ".join(REDUCTIONS)))
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        issue = reject(name, f"cannot be read ({exc.strerror or exc})", "a readable file")
        raise IngestError(issue) from exc
    parsed = parse_table(name, data)
    if isinstance(parsed, IngestErrors):
        raise IngestError(parsed)
    try:
        return parsed.run_table(reduction, at_step)
    except ReductionError as exc:
        raise IngestError(reject(name, str(exc))) from None
