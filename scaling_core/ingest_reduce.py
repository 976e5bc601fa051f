"""Step-level rows → one row per run: the reductions ``final``, ``best`` and ``at_step``.

One rule in three implementations that must pick the same rows: numpy here and in
:mod:`scaling_core.run_summary` (the CLI's path, ``ParsedTable.run_table`` and what the store
keeps per run), pandas in :func:`reduce_points` (the Data page's preview), and SQL in
``scaling_core.store`` (reductions at a chosen step, computed on request). The rule:

- ``at_step=S`` (optional) first keeps each run's rows with a step ≤ S (rows without a step
  cannot be placed and are dropped; runs left with no rows are left out; if no run has a row,
  :class:`ReductionError` says which steps exist);
- ``final`` then picks each run's row with the largest step (an empty step counts as the
  earliest; ties and files without steps take the last row);
- ``best`` picks each run's lowest-loss row (ties: the earliest row);
- runs come out in order of their first row in the file (all rows: a step cut that leaves
  out a run's early rows does not reorder the runs).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np

from scaling_core.run_summary import first_min, group_by_run, last_max
from scaling_core.schema import FLOPS_PER_PARAM_TOKEN, RunTable

if TYPE_CHECKING:  # pandas is imported only where a DataFrame is built (it costs ~0.4 s)
    import pandas as pd

__all__ = [
    "REDUCTIONS",
    "Reduction",
    "ReductionError",
    "curve_arrays",
    "factorize",
    "pick_rows",
    "reduce_points",
    "run_table_from_columns",
    "run_table_from_reduced",
]

Reduction = Literal["final", "best"]
REDUCTIONS: tuple[Reduction, ...] = ("final", "best")
"""How a run's step-level log becomes one row: its last evaluation, or its lowest loss."""


class ReductionError(ValueError):
    """The requested reduction cannot be made from these rows; ``str()`` says why and what
    would work (for example the earliest step logged)."""


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")


def factorize(names: np.ndarray) -> np.ndarray:
    """Run index per row (0, 1, … in order of first appearance in the array)."""
    index: dict[object, int] = {}
    values = names.tolist()
    return np.fromiter((index.setdefault(v, len(index)) for v in values), np.int64, len(values))


def _steps_at_or_before(step: np.ndarray, at_step: float) -> np.ndarray:
    """Rows with a step ≤ ``at_step``; :class:`ReductionError` when there are none."""
    if not math.isfinite(at_step):
        raise ReductionError(f"the step {at_step} is not a finite number; expected a step count")
    logged = np.isfinite(step)
    if not logged.any():
        raise ReductionError(
            "no row has a step number, so runs cannot be compared at a step; expected a step "
            "column (map one, or use the final or best reduction)"
        )
    keep = logged & (step <= at_step)
    if not keep.any():
        earliest = float(np.min(step[logged]))
        raise ReductionError(
            f"no run has an evaluation at or before step {at_step:g} (the earliest logged step "
            f"is {earliest:g}); expected a step of at least {earliest:g}"
        )
    return keep


def pick_rows(
    columns: dict[str, np.ndarray],
    reduction: Reduction = "final",
    at_step: float | None = None,
    run_index: np.ndarray | None = None,
) -> np.ndarray:
    """Positions of the chosen row of each run, runs in order of first appearance.

    ``run_index`` (a run number per row, as :class:`ParsedTable` keeps) saves factorising the
    run names again; ties go by row number. Vectorised (:mod:`scaling_core.run_summary`): a
    million rows grouped by run take milliseconds.
    """
    _check_reduction(reduction)
    codes = factorize(np.asarray(columns["run"], dtype=object)) if run_index is None else run_index
    row = np.asarray(columns["row_number"])
    step = np.asarray(columns["step"], dtype=float)
    candidates = np.arange(codes.size)
    if at_step is not None:
        candidates = np.flatnonzero(_steps_at_or_before(step, float(at_step)))
    if candidates.size == 0:
        return candidates
    groups = group_by_run(codes[candidates], row[candidates])
    if reduction == "final":  # the largest step, an empty one counting as the earliest
        chosen = last_max(groups, np.where(np.isnan(step[candidates]), -np.inf, step[candidates]))
    else:
        chosen = first_min(groups, np.asarray(columns["loss"], dtype=float)[candidates])
    picks = candidates[chosen]
    first_row = np.full(int(codes.max()) + 1, np.iinfo(np.int64).max)
    np.minimum.at(first_row, codes, row.astype(np.int64))
    return picks[np.argsort(first_row[codes[picks]], kind="stable")]


def run_table_from_columns(
    columns: dict[str, np.ndarray],
    reduction: Reduction = "final",
    at_step: float | None = None,
    run_index: np.ndarray | None = None,
) -> RunTable:
    """One row per run straight from the step-level columns, without pandas (see module doc)."""
    picks = pick_rows(columns, reduction, at_step, run_index)

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
        run=np.asarray(columns["run"], dtype=object)[picks],
        group=group if has_group else None,
        metric=optional("metric") if "metric" in columns else None,
    )


def reduce_points(
    points: pd.DataFrame, reduction: Reduction = "final", at_step: float | None = None
) -> pd.DataFrame:
    """One row per run of a points DataFrame (pandas; the same choice as :func:`pick_rows`)."""
    _check_reduction(reduction)
    first_row = points.groupby("run", sort=False)["row_number"].min()
    if at_step is not None:
        keep = _steps_at_or_before(points["step"].to_numpy(dtype=float), float(at_step))
        points = points[keep]
    if reduction == "final":
        order = points.sort_values(["step", "row_number"], na_position="first", kind="stable")
        chosen = order.groupby("run", sort=False).tail(1)
    else:
        order = points.sort_values(["loss", "row_number"], kind="stable")
        chosen = order.groupby("run", sort=False).head(1)
    chosen = chosen.assign(_first=chosen["run"].map(first_row))
    return chosen.sort_values("_first").drop(columns="_first").reset_index(drop=True)


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
