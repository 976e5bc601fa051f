"""Numbers as people write them in run logs: one grammar, a per-cell and a vectorised reader.

Why two readers of one grammar: small files (and every error message) are read cell by cell in
Python, where the exact text of a bad cell is at hand; a million-row upload is read column by
column with pyarrow compute, which must give *bit-identical* values and the same verdict per
cell (``tests/test_ingest_numbers.py`` checks the two against each other on random text).

The grammar, after trimming :data:`WHITESPACE` and removing ``_`` digit separators:

- plain floats: ``2.35``, ``1.4e9``, ``+.5``, ``5.`` (ASCII digits only);
- thousands separators: ``1,000``, ``1,234,567.5`` (groups of three);
- size suffixes: ``70M``, ``1.4 B``, ``500k``, ``2T`` (K = 1e3, M = 1e6, B = G = 1e9, T = 1e12);
- ``nan``, ``inf``, ``infinity`` with an optional sign, any letter case: read, but flagged as
  not finite so the message can say so instead of "not a number".

pyarrow is imported only by :func:`arrow_numbers` and :func:`parsed_numbers` (it costs
~0.3 s to import; the CLI reads small files without it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from scaling_core.ingest_arrow import bool_array, int_array, to_numpy

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "EMPTY",
    "NOT_FINITE",
    "NOT_NUMBER",
    "OK",
    "SUFFIXED",
    "WHITESPACE",
    "arrow_numbers",
    "classify",
    "is_plain_number",
    "parse_number",
    "parsed_numbers",
    "python_numbers",
]

OK, SUFFIXED, EMPTY, NOT_NUMBER, NOT_FINITE = 0, 1, 2, 3, 4
"""Per-cell verdicts. ``OK`` and ``SUFFIXED`` carry a finite value (``SUFFIXED``: the cell had
its own size suffix such as ``70M``, which a column unit must not scale again)."""

WHITESPACE = " \t\r\n\x0b\x0c\xa0"
"""Trimmed from both ends of a cell (ASCII whitespace and the no-break space spreadsheets use)."""

SUFFIXES: dict[str, float] = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}

# ASCII classes only (no \d, \s, no ignore-case): Python's re and pyarrow's RE2 must agree.
_MANTISSA = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_PLAIN = _MANTISSA
_THOUSANDS = r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?"
_SUFFIXED = rf"(?P<num>{_MANTISSA})[ \t]*(?P<suf>[KkMmBbGgTt])"
_NON_FINITE = r"[+-]?(?:[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"

_PLAIN_RE = re.compile(_PLAIN)
_THOUSANDS_RE = re.compile(_THOUSANDS)
_SUFFIXED_RE = re.compile(_SUFFIXED)
_NON_FINITE_RE = re.compile(_NON_FINITE)


def is_plain_number(text: str) -> bool:
    """Whether ``text`` is a plain float exactly as written: no whitespace, ``_``, separator
    or suffix. pyarrow's CSV reader reads such cells as float64 to the same value as
    :func:`classify` (both round correctly), which lets a large file skip the text column."""
    return _PLAIN_RE.fullmatch(text) is not None


def classify(text: str) -> tuple[float, int]:
    """``(value, verdict)`` of one cell's text; value is NaN unless the verdict is OK/SUFFIXED."""
    text = text.strip(WHITESPACE)
    if "_" in text:
        text = text.replace("_", "")
    if not text:
        return np.nan, EMPTY
    if _NON_FINITE_RE.fullmatch(text):
        return np.nan, NOT_FINITE
    if _PLAIN_RE.fullmatch(text):
        value, verdict = float(text), OK
    elif _THOUSANDS_RE.fullmatch(text):
        value, verdict = float(text.replace(",", "")), OK
    else:
        match = _SUFFIXED_RE.fullmatch(text)
        if match is None:
            return np.nan, NOT_NUMBER
        value = float(match["num"]) * SUFFIXES[match["suf"].upper()]
        verdict = SUFFIXED
    if not np.isfinite(value):  # 1e400 or 1e308T overflow to inf
        return np.nan, NOT_FINITE
    return value, verdict


def parse_number(text: str) -> float | None:
    """Read a number as people write it in run logs; ``None`` when it is not one.

    Accepts plain floats (``2.35``, ``1.4e9``), size suffixes (``70M``, ``1.4B``, ``2T``,
    ``500K``; ``G`` = ``B``), thousands separators (``1,000,000`` — in a comma-separated file
    such a value must be quoted) and ``nan``/``inf`` (returned as such so the caller can say
    "not finite" rather than "not a number").
    """
    stripped = text.strip(WHITESPACE).replace("_", "")
    if _NON_FINITE_RE.fullmatch(stripped):
        return float(stripped)
    value, verdict = classify(text)
    if verdict == NOT_FINITE:  # overflow: report it as the infinity it is
        return float("inf") if not stripped.startswith("-") else float("-inf")
    return value if verdict in (OK, SUFFIXED) else None


def _scalar(value: Any) -> tuple[float, int]:
    """Verdict for one JSON-like cell: text is parsed; booleans and containers are not numbers."""
    if value is None:
        return np.nan, EMPTY
    if isinstance(value, str):
        return classify(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return np.nan, NOT_NUMBER
    try:
        number = float(value)
    except OverflowError:  # a JSON integer beyond float range
        return np.nan, NOT_FINITE
    return (number, OK) if np.isfinite(number) else (np.nan, NOT_FINITE)


_FLOAT_ONLY_WHITESPACE = re.compile("[\x1c-\x1f]")
"""ASCII characters ``float()`` strips as whitespace but the grammar does not."""


def _float_texts(texts: list[object]) -> tuple[np.ndarray, np.ndarray] | None:
    """All cells at C speed when they are ASCII text ``float()`` reads exactly as the grammar
    does (no ``_``, no \\x1c-\\x1f); ``None`` when any cell needs the grammar itself."""
    if not texts or not all(type(text) is str for text in texts):
        return None
    joined = "".join(texts)  # type: ignore[arg-type]
    if not joined.isascii() or "_" in joined or _FLOAT_ONLY_WHITESPACE.search(joined):
        return None
    try:
        values = np.array([text or "nan" for text in texts], dtype=np.float64)
    except ValueError:  # some cell is not a plain number: suffixes, separators, words …
        return None
    verdicts = np.zeros(values.size, dtype=np.int8)
    for position in np.flatnonzero(~np.isfinite(values)).tolist():
        values[position], verdicts[position] = classify(texts[position])  # type: ignore[arg-type]
    return values, verdicts


def python_numbers(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values (float64) and verdicts (int8) of an object array of cells: numpy's float parser
    when it reads them as the grammar would, else one Python call per *distinct* cell (step
    logs repeat sizes and names thousands of times)."""
    texts = cells.tolist()
    fast = _float_texts(texts)
    if fast is not None:
        return fast
    values = np.full(cells.size, np.nan)
    verdicts = np.empty(cells.size, dtype=np.int8)
    seen: dict[tuple[type, object], tuple[float, int]] = {}
    for position, cell in enumerate(texts):
        key = (cell.__class__, cell)  # the class too: True == 1 but is not a number
        try:
            known = seen.get(key)
        except TypeError:  # unhashable (a JSON list): not a number
            known = (np.nan, NOT_NUMBER)
        if known is None:
            known = seen[key] = _scalar(cell)
        values[position], verdicts[position] = known
    return values, verdicts


def arrow_numbers(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The same as :func:`python_numbers` for a pyarrow string column (nulls = empty cells),
    vectorised.

    First the column is cast as it is (fast_float, correctly rounded like ``float()``): clean
    numeric columns, the bulk of a big log, cost one pass. Otherwise the trimmed column is
    cast, and if a cell is still not a plain number the distinct cells are classified with the
    grammar's regular expressions (RE2) and the verdicts spread back through the dictionary.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return _cast_plain(column)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    trimmed = pc.utf8_trim(column, WHITESPACE)
    if pc.any(pc.match_substring(trimmed, "_")).as_py():
        trimmed = pc.replace_substring(trimmed, "_", "")
    try:  # empty cells as "nan": the grammar then calls them empty (see _cast_plain)
        return _cast_plain(pc.replace_substring_regex(trimmed, "^$", "nan"), trimmed)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    encoded = pc.dictionary_encode(trimmed, null_encoding="encode")
    unique_values, unique_verdicts = _classify_strings(encoded.dictionary)
    indices = to_numpy(encoded.indices)
    return unique_values[indices], unique_verdicts[indices]


def _cast_plain(
    column: pa.Array | pa.ChunkedArray, texts: pa.Array | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every cell cast as a plain float (raises ArrowInvalid if one is not); nulls are empty
    cells, and cells that came out NaN or infinite are judged by the grammar on ``texts``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cast = pc.cast(column, pa.float64())
    return parsed_numbers(cast, lambda: column if texts is None else texts)


def parsed_numbers(
    floats: pa.Array | pa.ChunkedArray,
    texts: Callable[[], pa.Array | pa.ChunkedArray],
) -> tuple[np.ndarray, np.ndarray]:
    """Values and verdicts of a float64 column pyarrow parsed from text cells (a cast, or the
    CSV reader's own float columns): nulls are empty cells; cells that came out NaN or
    infinite (``nan``, ``inf``, ``1e400``, ``nan(1)``) are judged by the grammar on their text,
    which ``texts()`` gives — called only then, since re-reading text can be costly."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(floats, pa.ChunkedArray):
        floats = floats.combine_chunks()
    values = to_numpy(floats)  # NaN at nulls
    verdicts = np.zeros(values.size, dtype=np.int8)
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf, overflow: checked below
        finite = not floats.null_count and bool(np.isfinite(values.sum()))
    if finite:
        return values, verdicts  # no NaN or infinity: every cell a number
    if floats.null_count:
        verdicts[to_numpy(pc.is_null(floats))] = EMPTY
    odd = np.flatnonzero(~np.isfinite(values) & (verdicts != EMPTY))
    if not odd.size:
        return values, verdicts  # NaN exactly at the empty cells already
    values = values.copy()  # a zero-copy view of arrow memory is read-only
    source = texts()  # nan/inf spellings (and overflow, and "" in texts): the grammar decides
    if isinstance(source, pa.ChunkedArray):
        source = source.combine_chunks()
    picked = source.take(int_array(odd)).to_pylist()
    for position, text in zip(odd.tolist(), picked, strict=True):
        values[position], verdicts[position] = classify(text or "")
    values[verdicts >= EMPTY] = np.nan
    return values, verdicts


def _classify_strings(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`classify` of already trimmed, underscore-free strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(strings)
    values = np.full(n, np.nan)
    verdicts = np.full(n, NOT_NUMBER, dtype=np.int8)
    if n == 0:
        return values, verdicts

    def matches(pattern: str) -> np.ndarray:
        return to_numpy(pc.match_substring_regex(strings, f"^(?:{pattern})$"))

    def cast(where: np.ndarray, source: pa.Array) -> np.ndarray:
        return to_numpy(pc.cast(source.filter(bool_array(where)), pa.float64()))

    lengths = to_numpy(pc.binary_length(strings))  # NaN for the null (empty) entry
    empty = ~(lengths > 0)
    non_finite = matches(_NON_FINITE) & ~empty
    plain = matches(_PLAIN) & ~non_finite
    thousands = matches(_THOUSANDS) & ~plain
    verdicts[empty] = EMPTY
    verdicts[non_finite] = NOT_FINITE
    if plain.any():
        values[plain] = cast(plain, strings)
        verdicts[plain] = OK
    if thousands.any():
        values[thousands] = cast(thousands, pc.replace_substring(strings, ",", ""))
        verdicts[thousands] = OK
    parts = pc.extract_regex(strings, f"^(?:{_SUFFIXED})$")
    suffixed = to_numpy(parts.is_valid()) & ~plain & ~thousands
    if suffixed.any():
        numbers = cast(suffixed, pc.struct_field(parts, "num"))
        letters = pc.struct_field(parts, "suf").filter(bool_array(suffixed)).to_pylist()
        factors = np.array([SUFFIXES[letter.upper()] for letter in letters])
        with np.errstate(over="ignore"):  # 1e308T: overflow, judged below as not finite
            values[suffixed] = numbers * factors
        verdicts[suffixed] = SUFFIXED
    overflow = np.isin(verdicts, (OK, SUFFIXED)) & ~np.isfinite(values)
    verdicts[overflow] = NOT_FINITE
    values[verdicts >= EMPTY] = np.nan
    return values, verdicts
