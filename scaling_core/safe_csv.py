"""CSV bytes that are safe to open in a spreadsheet: the one place cells get neutralised.

Why: a cell such as ``=HYPERLINK("http://evil", "x")`` in a run name becomes a live formula when
a teammate opens an exported CSV in Excel, LibreOffice or Google Sheets (CSV / formula
injection, OWASP). Every CSV Scalescope writes (dataset exports, prediction tables) goes through
:func:`csv_bytes`, which prefixes text cells that a spreadsheet would evaluate with a single
quote. Numbers are written as numbers: a negative value such as ``-0.5`` stays a number, because
only *text* cells are neutralised.

No SQL, no UI: plain Python over columns, so the store and the exporters share one rule.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["FORMULA_PREFIXES", "csv_bytes", "neutralise"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""First characters that make a spreadsheet read a cell as a formula (with full-width forms,
which some spreadsheets fold to ASCII, and the control characters OWASP lists)."""


def neutralise(text: str) -> str:
    """``text`` made inert for spreadsheets: a leading formula character gets a ``'`` prefix.

    Leading whitespace is looked through (``" =1+1"`` is also evaluated by some spreadsheets).
    """
    if text.lstrip(" ").startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _cell(value: object) -> str:
    """One value as CSV text: numbers via ``repr`` (round-trip exact), missing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(float(value))
    try:  # numpy scalars without importing numpy here
        item = value.item()  # type: ignore[attr-defined]
    except AttributeError:
        return neutralise(str(value))
    return _cell(item) if not isinstance(item, str) else neutralise(item)


def csv_bytes(columns: Mapping[str, Sequence[object] | Iterable[object]]) -> bytes:
    """UTF-8 CSV (with header, ``\\n`` line ends) of equal-length columns, text neutralised.

    Headers are neutralised too: a column named ``=cmd`` is as dangerous as a cell.
    """
    names = list(columns)
    values = [list(columns[name]) for name in names]
    lengths = {len(column) for column in values}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lengths)}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([neutralise(str(name)) for name in names])
    for row in zip(*values, strict=True):
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8")
