"""Rules across rows of a validated table: units, repeated rows, duplicated runs, mixed metrics.

The line between an error and a warning follows one principle. **Error**: the data would
silently change a fit, or mean two different things (a run with two parameter counts, the
same steps logged twice as two different curves, a loss column that mixes metrics, a units
mistake). **Warning**: a recognisable benign pattern with one sensible resolution, which the
warning states (a row repeated exactly → counted once; a resumed run re-logging its steps →
the later value kept; runs of a sparse log without the chosen loss → left out).

Every rule is vectorised over the rows (a million-row log is checked in well under a second)
and locates what it reports: file, row (or line/record), column, value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from scaling_core.ingest_model import Collector, RawTable, quote
from scaling_core.ingest_numbers import EMPTY, NOT_NUMBER
from scaling_core.schema import FLOPS_PER_PARAM_TOKEN

__all__ = [
    "EXPECTED",
    "MIN_TOKENS_PER_PARAM",
    "Rows",
    "check_compute",
    "check_repeats",
    "check_run_params",
    "check_scales",
    "check_token_units",
    "sparse_rows",
]

MIN_TOKENS_PER_PARAM = 1e-3
MIN_PLAUSIBLE_PARAMS = 1e4
"""Below this, a whole sweep's parameter counts are more likely written in millions or billions
(70 for 70M) than real: language-model scaling studies start around 1e5–1e6 parameters."""
"""Fewer training tokens than this per parameter is taken as a units mistake (e.g. tokens in B)."""

COMPUTE_TOLERANCE = 100.0
"""Training FLOPs more than this factor away from 6·N·D mean a units mistake (MoE models with
few active parameters stay well inside it)."""

SCALE_GAP = 2.0
"""Mixed metrics: values ≤ 1 and values > 1 at least this factor apart, nothing between."""

MAX_NAME_VALUES = 50
"""A column that tells metrics apart (long format) has at most this many distinct names."""

EXPECTED: dict[str, str] = {
    "params": "a positive parameter count like 1.4e9 or 70M",
    "tokens": "a positive token count like 2.8e10 or 20B",
    "flops": "a positive FLOP count like 1.2e21",
    "loss": "a positive loss in nats like 2.35",
    "train_loss": "a positive loss in nats like 2.35",
    "val_loss": "a positive loss in nats like 2.35",
    "step": "a step number of 0 or more, like 1000",
    "batch_size": "a positive batch size like 256",
    "learning_rate": "a learning rate of 0 or more, like 3e-4",
    "metric": "a downstream metric like an accuracy of 0.62",
}
"""What a good value looks like, per canonical column, in the words shown to the user."""


@dataclass(frozen=True, eq=False)
class Rows:
    """The rows being validated: canonical columns plus where each row came from.

    ``positions[i]`` is row ``i``'s record index in ``raw``; ``codes`` numbers runs in order
    of first appearance (every row its own run when no run column is mapped).
    """

    raw: RawTable
    mapping: dict[str, str]
    positions: np.ndarray
    columns: dict[str, np.ndarray]
    codes: np.ndarray

    @property
    def n(self) -> int:
        return int(self.positions.size)

    def place(self, i: int) -> str:
        """How row ``i`` is named inside a sentence ("row 7", "line 7", "run 'a' step 3")."""
        row, location = self.raw.where(int(self.positions[i]))
        return location or f"row {row}"

    def cell(self, canonical: str, i: int) -> str:
        """The user's text in row ``i`` of the column mapped to ``canonical``."""
        return self.raw.columns[self.mapping[canonical]].cell(int(self.positions[i]))

    def report(
        self,
        collector: Collector,
        i: int,
        problem: str,
        expected: str = "",
        canonical: str | None = None,
    ) -> None:
        """An issue at row ``i``, in the column mapped to ``canonical`` (with its value)."""
        header = self.mapping.get(canonical) if canonical else None
        value = self.cell(canonical, i) if header is not None and canonical else None
        collector.at(int(self.positions[i]), problem, expected, column=header, value=value)

    def run_name(self, i: int) -> str:
        return str(self.columns["run"][i])

    @cached_property
    def final_rows(self) -> np.ndarray:
        """Each run's row with the largest step (its last row in the file when steps tie or
        are absent), in order of the runs' first appearance."""
        k = int(self.codes.max()) + 1 if self.n else 0
        last = np.full(k, -1, dtype=np.int64)
        if "step" not in self.mapping:
            np.maximum.at(last, self.codes, np.arange(self.n))
            return last
        step = self.columns["step"]  # finite or NaN (no step logged)
        top = np.full(k, -np.inf)
        np.fmax.at(top, self.codes, step)  # fmax: a NaN step never wins
        at_top = step == top[self.codes]
        stepless = top == -np.inf  # runs without any step: all their rows tie
        if stepless.any():
            at_top |= stepless[self.codes]
        rows = np.flatnonzero(at_top)
        np.maximum.at(last, self.codes[rows], rows)
        return last


# --------------------------------------------------------------------------------------------
# Sparse logs (JSON Lines, tracking exports): records without the loss
# --------------------------------------------------------------------------------------------


def sparse_rows(
    raw: RawTable,
    mapping: dict[str, str],
    siblings: list[str],
    errors: Collector,
    warnings: Collector,
) -> np.ndarray:
    """Records that log the mapped loss (the others are steps where other keys were logged).

    ``siblings`` are unmapped headers that mean the same as the loss header (``eval_loss``
    beside ``eval/loss``). A run that logs its loss only under a sibling means the loss comes
    from different keys in different runs: an error. Runs without any loss are left out with
    a warning.
    """
    header = mapping["loss"]
    logged = raw.columns[header].numbers()[1] != EMPTY
    if logged.all():
        return logged
    sibling_logged = {h: raw.columns[h].numbers()[1] != EMPTY for h in siblings}
    if "run" in mapping:
        codes, names = raw.columns[mapping["run"]].texts()
        has_loss = np.zeros(names.size, bool)
        has_loss[codes[logged]] = True
        for sibling, other in sibling_logged.items():
            elsewhere = np.flatnonzero(other & ~has_loss[codes])
            if elsewhere.size and has_loss.any():
                position = int(elsewhere[0])
                errors.at(
                    position,
                    f"run {quote(str(names[codes[position]]))} logs its loss as "
                    f"{quote(sibling)}, other runs as {quote(header)}: the loss comes from "
                    "different logged keys",
                    f"one key for the loss in every run (rename {quote(sibling)} to "
                    f"{quote(header)} in the file, or fit the runs separately)",
                    column=sibling,
                    value=raw.columns[sibling].cell(position),
                )
                return logged
        missing = np.flatnonzero(~has_loss)
        if missing.size and has_loss.any():
            first = str(names[missing[0]])
            warnings.add(
                f"{missing.size:,} run{'s' if missing.size > 1 else ''} (first: {quote(first)}) "
                f"log no {quote(header)}; they were left out",
                column=header,
            )
        return logged
    for sibling, other in sibling_logged.items():
        elsewhere = np.flatnonzero(other & ~logged)
        if elsewhere.size and logged.any():
            position = int(elsewhere[0])
            errors.at(
                position,
                f"gives the loss as {quote(sibling)} where other records give {quote(header)}: "
                "the loss comes from different logged keys",
                f"one key for the loss in every record (rename {quote(sibling)} to "
                f"{quote(header)})",
                column=sibling,
                value=raw.columns[sibling].cell(position),
            )
            return logged
    dropped = int((~logged).sum())
    if logged.any():
        first = int(np.flatnonzero(~logged)[0])
        row, location = raw.where(first)
        warnings.add(
            f"{dropped:,} record{'s' if dropped > 1 else ''} (first: "
            f"{location or f'row {row}'}) log no {quote(header)}; they were left out",
            column=header,
        )
    return logged


# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------


def check_token_units(rows: Rows, errors: Collector) -> None:
    """Each run's final tokens far below its parameter count mean the tokens are in
    millions/billions (or the FLOPs in a larger unit, when tokens are derived from FLOPs)."""
    final = rows.final_rows
    params = rows.columns["params"][final]
    source = "tokens" if "tokens" in rows.mapping else "flops"
    if source == "tokens":
        tokens = rows.columns["tokens"][final]
    else:
        tokens = rows.columns["flops"][final] / (FLOPS_PER_PARAM_TOKEN * params)
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(tokens < params * MIN_TOKENS_PER_PARAM)
    for j in bad[:50].tolist():
        rows.report(
            errors,
            int(final[j]),
            f"gives {tokens[j]:.3g} training tokens for {params[j]:.3g} parameters, fewer than "
            "1 token per 1000 parameters, which suggests the wrong unit",
            f"{EXPECTED[source]} as a plain count (write 20B or 2e10, not 20 for 20 billion), "
            "or choose the column's unit in the mapping",
            source,
        )
    errors.total += max(0, bad.size - 50)


def check_params_scale(rows: Rows, warnings: Collector) -> None:
    """Every run below :data:`MIN_PLAUSIBLE_PARAMS` parameters: probably sizes in M or B.

    A warning, not an error: tiny models do exist (toy sweeps), so the user may accept it.
    Tokens in the same unit pass :func:`check_token_units` (their ratio looks right), which is
    why this looks at the parameter counts alone.
    """
    params = rows.columns["params"][rows.final_rows]
    if params.size == 0 or not np.all(params < MIN_PLAUSIBLE_PARAMS):
        return
    warnings.add(
        f"every run has fewer than {MIN_PLAUSIBLE_PARAMS:,.0f} parameters (the largest has "
        f"{float(params.max()):.4g}), which suggests sizes written in millions or billions",
        "parameter counts as plain counts (70M or 7e7), or the column's unit chosen in the "
        "mapping (M, B); accept the warning if these really are models this small",
        column=rows.mapping.get("params"),
    )


def check_compute(rows: Rows, errors: Collector) -> None:
    """With both tokens and FLOPs, each run's final FLOPs must be near 6·N·D."""
    if "tokens" not in rows.mapping or "flops" not in rows.mapping:
        return
    final = rows.final_rows
    params, tokens = rows.columns["params"][final], rows.columns["tokens"][final]
    flops = rows.columns["flops"][final]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = flops / (FLOPS_PER_PARAM_TOKEN * params * tokens)
        bad = np.flatnonzero((ratio > COMPUTE_TOLERANCE) | (ratio < 1 / COMPUTE_TOLERANCE))
    for j in bad[:50].tolist():
        rows.report(
            errors,
            int(final[j]),
            f"gives {flops[j]:.3g} FLOPs for {params[j]:.3g} parameters and {tokens[j]:.3g} "
            f"tokens, {ratio[j]:.3g} times 6·N·D, which suggests the wrong unit",
            "training FLOPs within a factor 100 of 6·N·D (choose FLOPs or PF-days as the "
            "column's unit)",
            "flops",
        )
    errors.total += max(0, bad.size - 50)


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


def check_run_params(rows: Rows, errors: Collector) -> None:
    """All rows of one run must agree on its parameter count."""
    params, codes = rows.columns["params"], rows.codes
    k = int(codes.max()) + 1
    low, high = np.full(k, np.inf), np.full(k, -np.inf)
    np.minimum.at(low, codes, params)
    np.maximum.at(high, codes, params)
    if np.array_equal(low, high):  # one count per run (NaN would differ): no row-sized arrays
        return
    index = np.arange(rows.n)
    first = np.full(k, rows.n, dtype=np.int64)
    np.minimum.at(first, codes, index)
    differs = params != params[first[codes]]
    if not differs.any():
        return
    first_other = np.full(k, rows.n, dtype=np.int64)
    np.minimum.at(first_other, codes[differs], index[differs])
    for code in np.flatnonzero(first_other < rows.n)[:50].tolist():
        i, j = int(first[code]), int(first_other[code])
        rows.report(
            errors,
            j,
            f"run {quote(rows.run_name(j))} has {params[i]:g} parameters on {rows.place(i)} but "
            f"{params[j]:g} here",
            "one parameter count per run (give different models different run names)",
            "params",
        )


def _equal_rows(rows: Rows, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether rows ``a[k]`` and ``b[k]`` agree on every mapped column (NaN equals NaN)."""
    same = np.ones(a.size, bool)
    for canonical in rows.mapping:
        if canonical == "loss":
            continue
        values = rows.columns[canonical]
        if values.dtype == object:
            same &= values[a] == values[b]
        else:
            same &= (values[a] == values[b]) | (np.isnan(values[a]) & np.isnan(values[b]))
    loss = rows.columns["loss"]
    return same & (loss[a] == loss[b])


def _repeat_pairs(rows: Rows, keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(earlier, later) row pairs with equal ``keys``, each later row paired with the row
    just before it in file order. Cheap when the keys already increase through the file."""
    if rows.n < 2:
        empty = np.array([], dtype=np.int64)
        return empty, empty
    order = np.lexsort((np.arange(rows.n), *reversed(keys)))
    same = np.ones(rows.n - 1, bool)
    for key in keys:
        ordered = key[order]
        same &= ordered[1:] == ordered[:-1]
    hits = np.flatnonzero(same)
    return order[hits], order[hits + 1]


def _name_column(
    rows: Rows, earlier: np.ndarray, later: np.ndarray
) -> tuple[str, list[str]] | None:
    """An unmapped text column that tells every repeated pair apart (long format: a column
    of metric names such as "loss"/"accuracy" beside one value column)."""
    mapped = set(rows.mapping.values())
    for header in rows.raw.headers:
        column = rows.raw.columns[header]
        if header in mapped or column.kind == "floats":
            continue
        a, b = rows.positions[earlier], rows.positions[later]
        verdicts = column.numbers()[1]
        if not ((verdicts[a] == NOT_NUMBER) & (verdicts[b] == NOT_NUMBER)).all():
            continue
        codes, names = column.texts()
        if names.size > MAX_NAME_VALUES or not (codes[a] != codes[b]).all():
            continue
        values = sorted({str(names[c]) for c in np.concatenate((codes[a], codes[b])).tolist()})
        return header, values
    return None


def _increasing(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether (first, second) strictly increases lexicographically through the rows."""
    if first.size < 2:
        return True
    up = first[1:] > first[:-1]
    tie = first[1:] == first[:-1]
    return bool(np.all(up | (tie & (second[1:] > second[:-1]))))


def check_repeats(rows: Rows, errors: Collector, warnings: Collector) -> np.ndarray:
    """Rows to drop because they repeat another, after reporting what the repeats mean.

    With runs and steps, the key is (run, step); with runs only, (run, tokens, FLOPs); with
    neither, the whole row. Exact repeats are warnings (counted once). Differing repeats are
    an error when an unmapped name column tells them apart (mixed metrics, long format) or
    when a run logs the same steps twice without continuing further (two runs under one
    name, or seeds); a run that restarts from a checkpoint and logs past its earlier end is a
    resumed run: a warning, the later values kept.
    """
    drop = np.zeros(rows.n, bool)
    has_run, has_step = "run" in rows.mapping, "step" in rows.mapping
    if has_run and has_step:
        step = rows.columns["step"]
        placed = np.isfinite(step)
        if placed.all():  # no copies when every row has a step
            increasing = _increasing(rows.codes, step)
        else:
            increasing = _increasing(rows.codes[placed], step[placed])
        if increasing:
            return drop
        keys = [rows.codes, np.where(placed, step, -np.arange(rows.n) - 1.0)]
    elif has_run:
        sizes = [c for c in ("tokens", "flops") if c in rows.mapping]
        keys = [rows.codes] + [np.nan_to_num(rows.columns[c], nan=-1.0) for c in sizes]
    else:
        keys = [
            np.nan_to_num(rows.columns[c], nan=-1.0)
            for c in rows.mapping
            if rows.columns[c].dtype != object
        ]
        if "group" in rows.mapping:
            keys.append(rows.raw.columns[rows.mapping["group"]].texts()[0][rows.positions])
    earlier, later = _repeat_pairs(rows, keys)
    if earlier.size == 0:
        return drop
    exact = _equal_rows(rows, earlier, later)
    if exact.any():
        drop[earlier[exact]] = True
        e, l_ = int(earlier[exact][0]), int(later[exact][0])
        count = int(exact.sum())
        others = f" ({count:,} repeated rows in all)" if count > 1 else ""
        warnings.add(
            f"{rows.place(l_)} repeats {rows.place(e)} exactly; it is counted once{others}",
            row=int(rows.raw.row_numbers[rows.positions[l_]]),
        )
    earlier, later = earlier[~exact], later[~exact]
    if earlier.size == 0:
        return drop
    if not has_run:  # separate runs with the same size and data: legitimate (seeds, sweeps)
        return drop
    names = _name_column(rows, earlier, later)
    if names is not None:
        header, values = names
        e, l_ = int(earlier[0]), int(later[0])
        shown = ", ".join(quote(v) for v in values[:6])
        rows.report(
            errors,
            l_,
            f"run {quote(rows.run_name(l_))} has a second, different loss for the same "
            f"{'step' if has_step else 'tokens'} as {rows.place(e)}, and column {quote(header)} "
            f"tells them apart ({shown}): the loss column mixes metrics",
            f"one metric in the loss column (keep only the rows of one {quote(header)})",
            "loss",
        )
        return drop
    if not has_step:
        e, l_ = int(earlier[0]), int(later[0])
        rows.report(
            errors,
            l_,
            f"run {quote(rows.run_name(l_))} has the same tokens and compute as on "
            f"{rows.place(e)} but a different loss: it looks like two runs under one name",
            "one row per run and amount of training (add a step column, or give each seed "
            "its own run name)",
            "loss",
        )
        return drop
    return _resumed_or_duplicated(rows, earlier, later, drop, errors, warnings)


def _resumed_or_duplicated(
    rows: Rows,
    earlier: np.ndarray,
    later: np.ndarray,
    drop: np.ndarray,
    errors: Collector,
    warnings: Collector,
) -> np.ndarray:
    """Tell resumed runs (later series reaches past the earlier end) from duplicated runs."""
    step = rows.columns["step"]
    affected = np.unique(rows.codes[later])
    by_run = np.argsort(rows.codes, kind="stable")
    bounds = np.searchsorted(rows.codes[by_run], np.arange(int(rows.codes.max()) + 2))
    duplicated: list[int] = []
    for code in affected.tolist():
        members = by_run[bounds[code] : bounds[code + 1]]
        steps = np.where(np.isfinite(step[members]), step[members], -np.inf)
        reach = np.maximum.accumulate(steps)
        restarts = np.flatnonzero(steps[1:] <= steps[:-1]) + 1  # the step goes back
        segment_ends = np.append(restarts[1:], steps.size)
        for start, end in zip(restarts.tolist(), segment_ends.tolist(), strict=True):
            if steps[start:end].max() <= reach[start - 1]:
                duplicated.append(code)
                break
    if duplicated:
        code = duplicated[0]
        k = int(np.flatnonzero(rows.codes[later] == code)[0])
        e, l_ = int(earlier[k]), int(later[k])
        rows.report(
            errors,
            l_,
            f"run {quote(rows.run_name(l_))} logs step {step[l_]:g} again with different values "
            f"(first on {rows.place(e)}) and does not continue past the steps it already "
            "logged: it looks like two runs under one name",
            "one curve per run name (give each seed or repeat its own run name)",
            "step",
        )
        return drop
    drop[earlier] = True
    e, l_ = int(earlier[0]), int(later[0])
    count = int(earlier.size)
    others = f" ({count:,} re-logged steps in {affected.size:,} runs)" if count > 1 else ""
    warnings.add(
        f"run {quote(rows.run_name(l_))} logs step {step[l_]:g} again on {rows.place(l_)} "
        f"(first on {rows.place(e)}) after restarting from a checkpoint; the later value is "
        f"kept{others}",
        row=int(rows.raw.row_numbers[rows.positions[l_]]),
        column=rows.mapping["step"],
    )
    return drop


# --------------------------------------------------------------------------------------------
# Mixed metrics by scale
# --------------------------------------------------------------------------------------------


def _two_scales(values: np.ndarray, ceiling: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(low, high) index sets when values split into ≤ 1 and (1, ceiling] with a gap ≥ 2×."""
    finite = np.isfinite(values)
    low = np.flatnonzero(finite & (values <= 1))
    high = np.flatnonzero(finite & (values > 1) & (values <= ceiling))
    if low.size < 2 or high.size < 2 or (finite & (values > ceiling)).any():
        return None
    if values[high].min() / max(values[low].max(), 1e-300) < SCALE_GAP:
        return None
    return low, high


def check_scales(rows: Rows, errors: Collector) -> None:
    """Per group, each run's final loss (and metric) must be on one scale.

    Losses ≤ 1 beside losses > 1 with a gap of 2× or more look like accuracies or
    probabilities mixed into the loss column; a metric with fractions ≤ 1 beside values up to
    100 mixes fractions and percentages. Judged on one value per run so that a curve falling
    through 1 or a loss spike is never mistaken for a second metric.
    """
    final = rows.final_rows
    if "group" in rows.mapping:
        groups = rows.raw.columns[rows.mapping["group"]].texts()[0][rows.positions[final]]
    else:
        groups = np.zeros(final.size, dtype=np.int64)
    checks = [("loss", np.inf)]
    if "metric" in rows.mapping:
        checks.append(("metric", 100.0))
    for canonical, ceiling in checks:
        values = rows.columns[canonical][final]
        for group in np.unique(groups).tolist():
            members = np.flatnonzero(groups == group)
            split = _two_scales(values[members], ceiling)
            if split is None:
                continue
            low, high = members[split[0]], members[split[1]]
            first = int(final[low.min()])
            lo, hi = values[low].max(), values[high].min()
            if canonical == "loss":
                problem = (
                    f"is one of {low.size} runs' losses of at most {lo:g} beside {high.size} "
                    f"runs' losses of at least {hi:g}, with nothing between: accuracies or "
                    "probabilities look mixed with losses"
                )
                expected = "one metric in the loss column, in nats (map accuracies to metric)"
            else:
                problem = (
                    f"is one of {low.size} runs' values of at most {lo:g} beside {high.size} "
                    f"runs' values from {hi:g} to 100: fractions look mixed with percentages"
                )
                expected = "one scale in the metric column (fractions 0–1 or percentages)"
            rows.report(errors, first, problem, expected, canonical)
            return
