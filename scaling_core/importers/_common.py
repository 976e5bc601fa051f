"""What every importer shares: the error type, the result table, and how runs become rows.

Why one assembly step: the three trackers disagree on everything (W&B keeps a step per logging
call, TensorBoard a step per event, MLflow a step per metric line) but the rest of Scalescope
wants one shape — one row per (run, step), metrics as float columns with NaN where a metric was
not logged at that step, and each run's config repeated on its rows. Readers only collect
:class:`RunLog` objects; :func:`assemble` does the rest identically for all of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

EXPORT_FORMATS: tuple[str, ...] = ("wandb", "tensorboard", "mlflow")
"""The tracking tools whose exports :mod:`scaling_core.importers` reads."""

RESERVED_COLUMNS = ("run", "step")

MAX_FLATTEN_NODES = 100_000
"""Nodes visited when flattening one nested config/summary (YAML aliases can make a small file
describe an exponentially large tree; past this the file is rejected, not walked)."""

MAX_ROWS = 20_000_000
"""(run, step) rows in one export: ~20 numeric columns of this many rows is a few GB."""


class ExportFormatError(ValueError):
    """An export could not be read; ``str()`` is one user-facing line: which file (and which
    member of a zip), what is wrong there, and what was expected."""


def fail(where: str, problem: str, expected: str = "") -> ExportFormatError:
    """The one-line error ``"<where>: <problem>; expected <expected>"`` (for ``raise``)."""
    text = f"{where}: {problem}"
    return ExportFormatError(f"{text}; expected {expected}" if expected else text)


def shown(value: object, limit: int = 60) -> str:
    """A value quoted for a message: repr-escaped (control characters visible), cut at limit."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


@dataclass(frozen=True, eq=False)
class TrackedRuns:
    """Runs read from a tracking tool's export, one row per (run, step) record.

    ``columns`` always has ``run`` (object array of str) and ``step`` (float64; NaN for a
    summary-only row). Every other column is a logged metric (by its logged name, e.g.
    ``"eval/loss"``; NaN where the metric was not logged at that step) or a config/hyperparameter
    (repeated on each row of its run): float64 where every value is a number, else an object
    array of str ("" where the run has no such key). ``record_labels`` names each row for
    messages, e.g. ``"run 'gpt-70M' step 1200"``.
    """

    source_format: str
    filename: str
    columns: dict[str, np.ndarray]
    record_labels: tuple[str, ...]
    metric_names: tuple[str, ...] = ()
    """Which columns are logged metrics (the rest besides run/step are config)."""

    @property
    def n_rows(self) -> int:
        """Number of (run, step) rows."""
        return len(self.record_labels)

    @property
    def run_names(self) -> tuple[str, ...]:
        """Distinct run names in order of first appearance."""
        return tuple(dict.fromkeys(self.columns["run"].tolist()))


@dataclass
class RunLog:
    """One run as a reader collects it: name, config and per-step metric values."""

    name: str
    config: dict[str, object] = field(default_factory=dict)
    history: dict[float, dict[str, float]] = field(default_factory=dict)
    """step → {metric name: value}; later values for the same (step, metric) win."""
    summary_step: float = math.nan
    """Step of a summary-only row (a run with no history): the run's ``_step`` or NaN."""

    def log(self, step: float, key: str, value: float) -> None:
        """Record one scalar (the tracker's own "last write wins" for repeated logs)."""
        self.history.setdefault(step, {})[key] = value


def as_number(value: object) -> float | None:
    """A finite-or-not float for ints, floats and plain numeric strings; None otherwise.

    Booleans are not numbers here (a config flag stays text "True"); suffixed sizes like "70M"
    stay text too — ingest owns suffix parsing, so there is one rule for it.
    """
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and _PLAIN_NUMBER.match(value.strip()):
            return float(value.strip())
    except OverflowError:  # an integer beyond float range: keep it as text
        return None
    return None


_PLAIN_NUMBER = re.compile(
    r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?:nan|inf|infinity)$", re.IGNORECASE
)


def flatten(value: object, where: str, prefix: str = "") -> dict[str, object]:
    """Nested dicts → ``{"a.b": leaf}`` (W&B's UI spelling of nested config keys).

    Lists stay whole (their str() is the text value). Refuses trees above
    :data:`MAX_FLATTEN_NODES` nodes so an alias-laden YAML cannot make us walk forever.
    """
    out: dict[str, object] = {}
    budget = [MAX_FLATTEN_NODES]

    def walk(node: object, path: str) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise fail(where, "is nested too deeply or too large to read", "a plain config")
        if isinstance(node, Mapping):
            for key, child in node.items():
                walk(child, f"{path}.{key}" if path else str(key))
        elif path:
            out[path] = node

    walk(value, prefix)
    return out


def text_of(value: object) -> str:
    """A config value as text: None → "", everything else str()."""
    return "" if value is None else str(value)


def _step_label(step: float) -> str:
    if math.isnan(step):
        return ""
    return f" step {int(step)}" if step.is_integer() else f" step {step:g}"


def assemble(source_format: str, filename: str, runs: Iterable[RunLog]) -> TrackedRuns:
    """Runs → :class:`TrackedRuns` (see there for the column rules).

    Run names must be unique: readers disambiguate first (a duplicate here is a reader bug).
    Metric and config names that collide with each other or with ``run``/``step`` are kept
    apart: the config column becomes ``"config:<key>"``.
    """
    runs = list(runs)
    if not runs:
        raise fail(filename, "contains no runs", "at least one run with logged metrics")
    metric_names: dict[str, None] = {}
    for run in runs:
        for values in run.history.values():
            metric_names.update(dict.fromkeys(values))
    config_keys: dict[str, None] = {}
    for run in runs:
        config_keys.update(dict.fromkeys(run.config))

    names, steps, labels, owners = [], [], [], []
    for index, run in enumerate(runs):
        run_steps = sorted(run.history) or [run.summary_step]
        for step in run_steps:
            names.append(run.name)
            steps.append(step)
            labels.append(f"run {run.name!r}{_step_label(step)}")
            owners.append(index)
    n = len(names)
    if n > MAX_ROWS:
        raise fail(filename, f"has {n:,} (run, step) records", f"at most {MAX_ROWS:,}")

    columns: dict[str, np.ndarray] = {
        "run": np.array(names, dtype=object),
        "step": np.array(steps, dtype=float),
    }
    metric_renamed: dict[str, str] = {}
    for key in metric_names:
        column = key if key not in RESERVED_COLUMNS else f"metric:{key}"
        metric_renamed[key] = column
        columns[column] = np.full(n, np.nan)
    row = 0
    for run in runs:
        if not run.history:
            row += 1
            continue
        for step in sorted(run.history):
            for key, value in run.history[step].items():
                columns[metric_renamed[key]][row] = value
            row += 1

    owner_index = np.array(owners, dtype=int)
    for key in config_keys:
        column = key if key not in columns else f"config:{key}"
        values = [run.config.get(key) for run in runs]
        numbers = [as_number(v) for v in values]
        if all(num is not None or v is None for num, v in zip(numbers, values, strict=True)):
            per_run = np.array([np.nan if num is None else num for num in numbers], dtype=float)
        else:
            per_run = np.array([text_of(v) for v in values], dtype=object)
        columns[column] = per_run[owner_index] if n else per_run[:0]
    return TrackedRuns(
        source_format=source_format,
        filename=filename,
        columns=columns,
        record_labels=tuple(labels),
        metric_names=tuple(metric_renamed.values()),
    )


def unique_names(runs: list[RunLog], ids: list[str]) -> None:
    """Make run names unique in place: a repeated name gets its tracker id appended,
    ``"gpt-70M (3f2a9c1b)"``, so two restarts of one config stay two runs."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
    seen: set[str] = set()
    for run, run_id in zip(runs, ids, strict=True):
        if counts[run.name] > 1:
            candidate = f"{run.name} ({run_id})"
            suffix = 2
            while candidate in seen:
                candidate, suffix = f"{run.name} ({run_id}) {suffix}", suffix + 1
            run.name = candidate
        seen.add(run.name)
