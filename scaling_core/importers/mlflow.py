"""MLflow file store (``mlruns/``) → runs, read as the plain files it is.

Why no ``mlflow`` dependency: the file store is a documented directory of text files and
needs nothing but YAML; mlflow-skinny alone pulls ~40 packages. Layout (MLflow 1.x–3.x;
3.x writes it behind ``MLFLOW_ALLOW_FILE_STORE``)::

    mlruns/<experiment id>/meta.yaml                 name, lifecycle_stage
    mlruns/<experiment id>/<run id>/meta.yaml        run_id, run_name, lifecycle_stage
    mlruns/<experiment id>/<run id>/metrics/<key>    lines "timestamp value step"
    mlruns/<experiment id>/<run id>/params/<key>     the value as text
    mlruns/<experiment id>/<run id>/tags/<key>       e.g. mlflow.runName

Metric keys may contain "/" (``train/loss`` is ``metrics/train/loss``). Old MLflow (< 1.0)
wrote "timestamp value" without a step: those lines get step 0. A metric logged twice at one
step keeps the later line, as MLflow's own "latest" does. Deleted runs and experiments
(``lifecycle_stage: deleted``, or under ``.trash/``) are skipped; runs are ordered by start
time. Params become config
columns; user tags too (params win on a clash; ``mlflow.*`` system tags are dropped).
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable, Mapping

from scaling_core.importers._common import RunLog, TrackedRuns, assemble, fail, shown, unique_names

_MAX_META_BYTES = 1_000_000
_MAX_TEXT_BYTES = 1_000_000


_KINDS = re.compile(r"/(?:metrics|params|tags)/")


def _owner(name: str, present: set[str]) -> str | None:
    """The run folder a metrics/params/tags file belongs to: the leftmost prefix before
    ``/metrics/``, ``/params/`` or ``/tags/`` that has a ``meta.yaml`` (metric keys may
    themselves contain those words)."""
    for match in _KINDS.finditer(name):
        folder = name[: match.start()]
        if f"{folder}/meta.yaml" in present:
            return folder
    return None


def run_folders(names: tuple[str, ...] | list[str]) -> list[str]:
    """Run folders: a ``meta.yaml`` with ``metrics/``, ``params/`` or ``tags/`` beside it."""
    present = set(names)
    folders = {_owner(name, present) for name in names if _KINDS.search(name)}
    return sorted(
        folder for folder in folders if folder is not None and ".trash" not in folder.split("/")
    )


def _yaml(where: str, raw: bytes) -> dict[str, object]:
    import yaml

    if len(raw) > _MAX_META_BYTES:
        raise fail(where, "is too large for a meta.yaml", f"under {_MAX_META_BYTES:,} bytes")
    try:
        value = yaml.safe_load(raw)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise fail(where, f"is not valid YAML ({first})", "MLflow's meta.yaml") from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(where, "is not a YAML mapping", "MLflow's meta.yaml (key: value lines)")
    return value


def _text(where: str, raw: bytes) -> str:
    if len(raw) > _MAX_TEXT_BYTES:
        raise fail(where, "is too large", f"a value under {_MAX_TEXT_BYTES:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(where, "is not UTF-8 text", "a parameter or tag value") from exc


def _metric_lines(where: str, raw: bytes, key: str, log: RunLog) -> None:
    """``timestamp value step`` per line (step optional: pre-1.0 files)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(where, "is not UTF-8 text", "lines 'timestamp value step'") from exc
    latest: dict[float, tuple[int, float]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            timestamp = int(parts[0])
            value = float(parts[1])
            step = float(int(parts[2])) if len(parts) == 3 else 0.0
        except (ValueError, OverflowError):
            raise fail(
                f"{where} line {number}",
                f"{shown(line)} is not 'timestamp value step'",
                "lines like '1700000000000 2.35 1000' (milliseconds, value, integer step)",
            ) from None
        previous = latest.get(step)
        if previous is None or timestamp >= previous[0]:
            latest[step] = (timestamp, value)
    for step, (_, value) in latest.items():
        log.log(step, key, value)


def read_mlruns(
    filename: str,
    names: list[str] | tuple[str, ...],
    read: Callable[[str], bytes],
    where_of: Callable[[str], str],
) -> TrackedRuns:
    """Read every live run under the run folders found among ``names``.

    ``read(name) -> bytes`` and ``where_of(name) -> str`` abstract over zip members and single
    files so errors name the exact member.
    """
    folders = run_folders(names)
    if not folders:
        raise fail(
            filename,
            "holds no MLflow runs",
            "an mlruns/ folder with <experiment>/<run>/meta.yaml and metrics/ or params/",
        )
    present = set(names)
    by_folder: dict[str, list[str]] = {folder: [] for folder in folders}
    for name in names:
        owner = _owner(name, present) if _KINDS.search(name) else None
        if owner in by_folder:
            by_folder[owner].append(name)
    experiments: dict[str, Mapping[str, object]] = {}
    logs: list[RunLog] = []
    ids: list[str] = []
    experiment_of: list[str] = []
    started: list[float] = []
    for folder in folders:
        meta_name = f"{folder}/meta.yaml"
        meta = _yaml(where_of(meta_name), read(meta_name))
        if str(meta.get("lifecycle_stage", "active")) == "deleted":
            continue
        if "run_id" not in meta and "run_uuid" not in meta:
            continue  # a registered model's version folder (models/<name>/version-1/), not a run
        experiment_folder = posixpath.dirname(folder)
        if experiment_folder not in experiments:
            exp_meta_name = f"{experiment_folder}/meta.yaml" if experiment_folder else "meta.yaml"
            experiments[experiment_folder] = (
                _yaml(where_of(exp_meta_name), read(exp_meta_name))
                if exp_meta_name in present
                else {}
            )
        experiment = experiments[experiment_folder]
        if str(experiment.get("lifecycle_stage", "active")) == "deleted":
            continue
        run_id = str(meta.get("run_id") or meta.get("run_uuid"))
        log = RunLog(str(meta.get("run_name") or run_id))
        params: dict[str, object] = {}
        tags: dict[str, object] = {}
        for name in sorted(by_folder[folder]):
            relative = name[len(folder) + 1 :]
            kind, _, key = relative.partition("/")
            where = where_of(name)
            if kind == "metrics":
                _metric_lines(where, read(name), key, log)
            elif kind == "params":
                params[key] = _text(where, read(name)).strip()
            elif kind == "tags":
                value = _text(where, read(name)).strip()
                if key == "mlflow.runName" and value:
                    log.name = value
                elif not key.startswith("mlflow."):
                    tags[key] = value
        log.config.update(tags)
        log.config.update(params)
        logs.append(log)
        ids.append(run_id[:8])
        start = meta.get("start_time")
        started.append(float(start) if isinstance(start, int | float) else math.inf)
        experiment_of.append(str(experiment.get("name") or posixpath.basename(experiment_folder)))
    if not logs:
        raise fail(filename, "holds only deleted MLflow runs", "at least one active run")
    order = sorted(range(len(logs)), key=lambda i: (started[i], ids[i]))
    logs = [logs[i] for i in order]
    ids = [ids[i] for i in order]
    experiment_of = [experiment_of[i] for i in order]
    if len(set(experiment_of)) > 1:
        for log, experiment_name in zip(logs, experiment_of, strict=True):
            log.config.setdefault("experiment", experiment_name)
    unique_names(logs, ids)
    return assemble("mlflow", filename, logs)
