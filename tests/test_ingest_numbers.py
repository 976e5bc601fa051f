"""The number grammar: the per-cell reader and the vectorised pyarrow reader must agree exactly."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_core.ingest_numbers import (
    EMPTY,
    NOT_FINITE,
    NOT_NUMBER,
    OK,
    SUFFIXED,
    _classify_strings,
    arrow_numbers,
    classify,
    python_numbers,
)


def both(cells: list[str | None]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(python, arrow as one chunk, arrow in two chunks) readings of the same cells."""
    python = python_numbers(np.array(["" if c is None else c for c in cells], dtype=object))
    arrow = arrow_numbers(pa.array(cells, pa.string()))
    half = len(cells) // 2
    chunked = arrow_numbers(pa.chunked_array([cells[:half], cells[half:]], pa.string()))
    return python, arrow, chunked


def assert_same(cells: list[str | None]) -> None:
    python, *arrows = both(cells)
    for arrow in arrows:
        np.testing.assert_array_equal(arrow[1], python[1], err_msg=f"verdicts of {cells!r}")
        np.testing.assert_array_equal(arrow[0], python[0], err_msg=f"values of {cells!r}")


@pytest.mark.parametrize(
    ("text", "value", "verdict"),
    [
        ("2.35", 2.35, OK),
        (" +.5 ", 0.5, OK),
        ("5.", 5.0, OK),
        ("1_000", 1000.0, OK),
        ("1,234,567.5", 1234567.5, OK),
        ("70M", 70e6, SUFFIXED),
        ("1.4 B", 1.4e9, SUFFIXED),
        ("2t", 2e12, SUFFIXED),
        ("3G", 3e9, SUFFIXED),
        ("\xa012\xa0", 12.0, OK),
        ("", np.nan, EMPTY),
        ("  ", np.nan, EMPTY),
        ("nan", np.nan, NOT_FINITE),
        ("-Infinity", np.nan, NOT_FINITE),
        ("1e400", np.nan, NOT_FINITE),
        ("1e308T", np.nan, NOT_FINITE),
        ("1,5", np.nan, NOT_NUMBER),
        ("12,34", np.nan, NOT_NUMBER),
        ("٣", np.nan, NOT_NUMBER),  # non-ASCII digits are not numbers in either reader
        ("0x10", np.nan, NOT_NUMBER),
        ("1e", np.nan, NOT_NUMBER),
        ("70X", np.nan, NOT_NUMBER),
        ("KM", np.nan, NOT_NUMBER),
        ("İnf", np.nan, NOT_NUMBER),
        ("\u212a", np.nan, NOT_NUMBER),  # the Kelvin sign folds to K in some regex engines
    ],
)
def test_grammar_cases_agree_in_both_readers(text: str, value: float, verdict: int) -> None:
    got_value, got_verdict = classify(text)
    assert got_verdict == verdict
    np.testing.assert_equal(got_value, value)
    assert_same([text, "1.0"])  # with a plain neighbour: the cast fails or not per cell
    assert_same([text])


def test_empty_cells_and_nulls_are_empty() -> None:
    python, arrow, _ = both(["1", None, "", " "])
    assert arrow[1].tolist() == [OK, EMPTY, EMPTY, EMPTY]
    assert python[1].tolist() == [OK, EMPTY, EMPTY, EMPTY]


def test_json_values_in_cells() -> None:
    cells = np.empty(7, dtype=object)
    cells[:] = [3, 2.5, True, None, [1, 2], float("nan"), 10**400]
    values, verdicts = python_numbers(cells)
    assert verdicts.tolist() == [OK, OK, NOT_NUMBER, EMPTY, NOT_NUMBER, NOT_FINITE, NOT_FINITE]
    assert values[:2].tolist() == [3.0, 2.5]


_PIECES = st.sampled_from(
    ["0", "1", "7", "12", "999", ".", ",", "e", "E", "+", "-", "_", " ", "\t", "\xa0", "M", "k",
     "B", "t", "G", "x", "nan", "inf", "Infinity", "NaN", ",000", "1e5", "٣", "\u212a", "İ"]
)  # fmt: skip


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.lists(_PIECES, max_size=6).map("".join), min_size=1, max_size=12))
def test_python_and_arrow_readers_agree_on_random_cells(cells: list[str]) -> None:
    assert_same(cells)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
def test_readers_agree_on_float_text_bit_for_bit(values: list[float]) -> None:
    cells = [repr(v) for v in values] + [f"{v:.17g}" for v in values]
    assert_same(cells)
    assert_same([*cells, "70M"])  # forces the dictionary path


def test_dictionary_path_classifies_distinct_cells_once() -> None:
    cells = ["70M", "1.4B", "70M", "abc", "", "2,000", "nan"] * 1000
    values, verdicts = arrow_numbers(pa.array(cells))
    assert values[:7].tolist()[:2] == [70e6, 1.4e9]
    assert verdicts[:7].tolist() == [
        SUFFIXED,
        SUFFIXED,
        SUFFIXED,
        NOT_NUMBER,
        EMPTY,
        OK,
        NOT_FINITE,
    ]
    assert _classify_strings(pa.array([], pa.string()))[0].size == 0
