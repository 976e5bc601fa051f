"""Weights & Biases: local run folders (the ``run-*.wandb`` datastore) and W&B's exports.

Why no ``wandb`` dependency: the package is ~100 MB with a Go binary, and reading a run needs
none of it. What each source holds and how it is read:

* **Run folder** (``wandb/offline-run-*/`` or ``wandb/run-*/``, zipped): the binary datastore
  ``run-<id>.wandb`` is the run's complete record — every ``wandb.log`` call with its step,
  the config and the summary — and it is written in online and offline mode alike. It is a
  LevelDB-style log: a 7-byte header (``":W&B"``, magic 0xBEE1, version 0), then 32 KiB blocks
  of fragments ``crc32 | uint16 length | type`` (type 1 full, 2 first, 3 middle, 4 last; the
  CRC is zlib's CRC-32 over the type byte then the data), each record a protobuf ``Record``
  (decoded with :mod:`._proto`). Verified on wandb 0.31.0 offline runs. A folder without a
  datastore but with ``files/config.yaml`` and ``files/wandb-summary.json`` gives one summary
  row per run.
* **Runs-table CSV** (web UI "Export as CSV"): ``Name, State, Notes, User, Tags, Created,
  Runtime, Sweep`` then the visible config columns, then summary metrics — one row per run,
  last values only. It cannot be produced offline; the fixture follows that documented layout.
* **Public-API exports**: the W&B docs' ``project.csv`` (columns ``summary``, ``config``,
  ``name`` holding Python dict reprs, from ``pd.DataFrame({...}).to_csv``; read with
  :func:`ast.literal_eval`, which evaluates literals only), and JSON / JSON Lines dumps of
  runs — objects with ``name`` (or ``display_name``/``id``), ``config``, and ``summary``
  and/or ``history`` (the list ``run.scan_history()``/``run.history(pandas=False)`` returns).

Keys starting with ``_`` (``_step``, ``_runtime``, ``_timestamp``, ``_wandb``) are W&B's own;
``_step`` is the step, the rest are dropped. Non-numeric history values (images, tables,
histograms, text) are skipped: only scalars make curves.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import posixpath
import re
import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from scaling_core.importers._common import (
    RunLog,
    TrackedRuns,
    as_number,
    assemble,
    fail,
    flatten,
    shown,
    unique_names,
)

if TYPE_CHECKING:  # protobuf loads only when a tracker file is actually decoded
    from google.protobuf.message import Message

DATASTORE_IDENT = b":W&B"
DATASTORE_MAGIC = 0xBEE1
_BLOCK = 32768
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_DATASTORE_NAME = re.compile(r"(?:^|/)run-([^/]+)\.wandb$")

RUNS_TABLE_COLUMNS = ("Name", "State", "Notes", "User", "Tags", "Created", "Runtime", "Sweep")
"""The fixed leading columns of the web UI's runs-table CSV export."""
_MAX_CELL = 1_000_000
_MAX_YAML_BYTES = 5_000_000


# --------------------------------------------------------------------------------------------
# The run-*.wandb datastore
# --------------------------------------------------------------------------------------------


def is_datastore(data: bytes) -> bool:
    """The datastore's 7-byte header."""
    return (
        len(data) >= _HEADER
        and data[:4] == DATASTORE_IDENT
        and struct.unpack_from("<H", data, 4)[0] == DATASTORE_MAGIC
    )


def is_datastore_name(name: str) -> bool:
    """``…/run-<id>.wandb``."""
    return _DATASTORE_NAME.search(name) is not None


def datastore_records(where: str, data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, payload) of each record, fragments joined and CRCs checked."""
    if not is_datastore(data):
        raise fail(
            where,
            "does not start with the W&B datastore header",
            "a run-<id>.wandb file written by wandb",
        )
    version = data[6]
    if version != 0:
        raise fail(where, f"is W&B datastore version {version}", "version 0 (wandb ≤ 0.31)")
    size = len(data)
    offset = _HEADER
    pending: bytearray | None = None
    pending_start = 0
    while offset < size:
        left_in_block = _BLOCK - offset % _BLOCK
        if left_in_block < _HEADER:  # block trailer: zero padding
            offset += left_in_block
            continue
        if size - offset < _HEADER:
            if not any(data[offset:]):
                break
            raise fail(
                where,
                f"is truncated: {size - offset} stray bytes at byte {offset}",
                "complete records (copy the run folder after the run has finished)",
            )
        checksum, length, kind = struct.unpack_from("<IHB", data, offset)
        if checksum == 0 and length == 0 and kind == 0:  # zero fill to the block's end
            offset += left_in_block
            continue
        start = offset + _HEADER
        if length > left_in_block - _HEADER or start + length > size:
            raise fail(
                where,
                f"is truncated or corrupt: the record at byte {offset} claims {length:,} bytes",
                "complete records (copy the run folder after the run has finished)",
            )
        fragment = data[start : start + length]
        if zlib.crc32(fragment, zlib.crc32(bytes([kind]))) != checksum:
            raise fail(
                where,
                f"the record at byte {offset} is corrupt (checksum mismatch)",
                "an intact run-<id>.wandb datastore",
            )
        if kind == _FULL and pending is None:
            yield offset, fragment
        elif kind == _FIRST and pending is None:
            pending, pending_start = bytearray(fragment), offset
        elif kind in (_MIDDLE, _LAST) and pending is not None:
            pending += fragment
            if kind == _LAST:
                yield pending_start, bytes(pending)
                pending = None
        else:
            raise fail(
                where,
                f"the record at byte {offset} has fragment type {kind} out of order",
                "an intact run-<id>.wandb datastore",
            )
        offset = start + length
    if pending is not None:
        raise fail(
            where,
            f"is truncated: the record starting at byte {pending_start} never ends",
            "complete records (copy the run folder after the run has finished)",
        )


def _item_key(item: Message) -> str:
    """``key`` or the nested path joined with "." (W&B's spelling of nested keys)."""
    if item.nested_key:
        return ".".join(part.decode("utf-8", "replace") for part in item.nested_key)
    return item.key.decode("utf-8", "replace")


def _json_value(where: str, offset: int, raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise fail(
            where, f"the record at byte {offset} holds invalid JSON {shown(raw)}", "JSON values"
        ) from exc


class _WandbRun:
    """A run being read from one or more datastores (a resumed run has several)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.log = RunLog(run_id)
        self.summary: dict[str, object] = {}
        self.group = ""


def _apply_items(
    where: str, offset: int, record: Message, target: dict[str, object], nested: bool
) -> None:
    """Config/summary updates and removals; nested dict values are flattened."""
    for item in record.update:
        key = _item_key(item)
        if key.startswith("_wandb"):
            continue
        value = _json_value(where, offset, item.value_json)
        if nested and isinstance(value, Mapping):
            target.update(flatten(value, where, key))
        else:
            target[key] = value
    for item in record.remove:
        target.pop(_item_key(item), None)


def _history_value(where: str, offset: int, item: Message) -> float | None:
    if item.HasField("number"):
        return item.number
    if item.HasField("integer"):
        return float(item.integer)
    if item.HasField("value_json"):
        number = _json_value(where, offset, item.value_json)
        if isinstance(number, int | float) and not isinstance(number, bool):
            return float(number)
    return None


def read_datastore(where: str, data: bytes, runs: dict[str, _WandbRun], fallback_id: str) -> None:
    """Add one ``run-<id>.wandb`` file's config, history and summary to ``runs``."""
    from scaling_core.importers._proto import DecodeError, parse

    run: _WandbRun | None = None
    for offset, payload in datastore_records(where, data):
        try:
            record = parse("Record", payload)
        except DecodeError as exc:
            raise fail(
                where, f"the record at byte {offset} is not a W&B record", "a wandb datastore"
            ) from exc
        if record.HasField("run"):
            run_id = record.run.run_id.decode("utf-8", "replace") or fallback_id
            run = runs.setdefault(run_id, _WandbRun(run_id))
            name = record.run.display_name.decode("utf-8", "replace")
            if name:
                run.log.name = name
            if record.run.run_group:
                run.group = record.run.run_group.decode("utf-8", "replace")
            _apply_items(where, offset, record.run.config, run.log.config, nested=True)
            _apply_items(where, offset, record.run.summary, run.summary, nested=True)
            continue
        if run is None:
            run = runs.setdefault(fallback_id, _WandbRun(fallback_id))
        if record.HasField("config"):
            _apply_items(where, offset, record.config, run.log.config, nested=True)
        elif record.HasField("summary"):
            _apply_items(where, offset, record.summary, run.summary, nested=True)
        elif record.HasField("history"):
            _history(where, offset, record.history, run.log)


def _history(where: str, offset: int, history: Message, log: RunLog) -> None:
    values: dict[str, float] = {}
    step: float | None = float(history.step.num) if history.HasField("step") else None
    for item in history.item:
        key = _item_key(item)
        number = _history_value(where, offset, item)
        if key == "_step":
            if step is None and number is not None:
                step = number
            continue
        if key.startswith("_") or number is None:
            continue
        values[key] = number
    if step is None:
        step = float(len(log.history))
    for key, number in values.items():
        log.log(step, key, number)


def _finish(runs: Iterable[_WandbRun]) -> list[RunLog]:
    """Group into config; summary-only runs get their summary as a single row."""
    logs = []
    for run in runs:
        if run.group and "group" not in run.log.config:
            run.log.config["group"] = run.group
        if not run.log.history:
            _summary_row(run.log, run.summary)
        logs.append(run.log)
    unique_names(logs, [run.run_id for run in runs])
    return logs


def _summary_row(log: RunLog, summary: Mapping[str, object]) -> None:
    """A run known only by its summary: one row at its ``_step`` (or step NaN, values as
    per-run columns)."""
    step = as_number(summary.get("_step"))
    values = {k: v for k, v in summary.items() if not k.startswith("_")}
    if step is not None and math.isfinite(step):
        for key, value in values.items():
            number = as_number(value)
            if number is not None:
                log.log(step, key, number)
    else:
        for key, value in values.items():
            log.config.setdefault(key, value)


# --------------------------------------------------------------------------------------------
# Run folders (a zip of wandb/ or of one run folder, or a single .wandb file)
# --------------------------------------------------------------------------------------------


def _unwrap_config(config: Mapping[str, object]) -> dict[str, object]:
    """``files/config.yaml`` stores ``{key: {desc: …, value: v}}``; API configs store ``v``."""
    out: dict[str, object] = {}
    for key, value in config.items():
        key = str(key)
        if key.startswith("_wandb"):
            continue
        if isinstance(value, Mapping) and "value" in value and set(value) <= {"value", "desc"}:
            value = value["value"]
        out[key] = value
    return out


def read_run_folders(filename: str, members: Mapping[str, tuple[str, bytes]]) -> TrackedRuns:
    """``members`` = path → (location for messages, bytes) of the relevant files."""
    runs: dict[str, _WandbRun] = {}
    datastores = sorted(name for name in members if is_datastore_name(name))
    for name in datastores:
        where, data = members[name]
        match = _DATASTORE_NAME.search(name)
        read_datastore(where, data, runs, match.group(1) if match else name)
    folders_done = {posixpath.dirname(name) for name in datastores}
    for name in sorted(members):
        if not name.endswith("files/wandb-summary.json"):
            continue
        folder = posixpath.dirname(posixpath.dirname(name))
        if folder in folders_done:
            continue
        _read_files_folder(folder, members, runs)
    if not runs:
        raise fail(filename, "holds no W&B runs", "a wandb/ run folder with run-<id>.wandb")
    return assemble("wandb", filename, _finish(runs.values()))


def _read_files_folder(
    folder: str, members: Mapping[str, tuple[str, bytes]], runs: dict[str, _WandbRun]
) -> None:
    """A run folder with only ``files/config.yaml`` + ``files/wandb-summary.json``."""
    import yaml

    where, raw = members[posixpath.join(folder, "files", "wandb-summary.json")]
    summary = _load_json_object(where, raw)
    run_id = posixpath.basename(folder).rsplit("-", 1)[-1] or folder
    run = runs.setdefault(run_id, _WandbRun(run_id))
    run.summary.update(flatten(summary, where))
    config_name = posixpath.join(folder, "files", "config.yaml")
    if config_name in members:
        where, raw = members[config_name]
        if len(raw) > _MAX_YAML_BYTES:
            raise fail(where, "is too large", f"a config.yaml under {_MAX_YAML_BYTES:,} bytes")
        try:
            config = yaml.safe_load(raw)
        except (yaml.YAMLError, RecursionError, ValueError) as exc:
            raise fail(where, f"is not valid YAML ({_first_line(exc)})", "W&B's config") from exc
        if config is not None and not isinstance(config, Mapping):
            raise fail(where, "is not a mapping of config keys", "key: {value: …} entries")
        run.log.config.update(flatten(_unwrap_config(config or {}), where))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _load_json_object(where: str, raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise fail(where, f"is not valid JSON ({_first_line(exc)})", "a JSON object") from exc
    if not isinstance(value, dict):
        raise fail(where, "is not a JSON object", "an object of summary metrics")
    return value


# --------------------------------------------------------------------------------------------
# CSV exports
# --------------------------------------------------------------------------------------------


def _decode_text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _first_csv_row(data: bytes) -> list[str]:
    """The header of a CSV (first 64 KiB only: a sniff must stay cheap)."""
    head = _decode_text(data[:65536])
    first = head.split("\n", 1)[0].rstrip("\r")
    try:
        return next(csv.reader([first]), [])
    except csv.Error:
        return []


def csv_kind(data: bytes) -> str | None:
    """``"runs_table"``, ``"api_project"`` or None, from the header alone."""
    header = [cell.strip() for cell in _first_csv_row(data)]
    fixed = sum(column in header for column in RUNS_TABLE_COLUMNS[2:])
    if len(header) >= 2 and header[0] == "Name" and "State" in header[:3] and fixed >= 3:
        return "runs_table"
    names = {cell for cell in header if cell}
    if {"summary", "config"} <= names and names <= {"summary", "config", "name", "id"}:
        return "api_project"
    return None


def _csv_rows(filename: str, data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    text = _decode_text(data)
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise fail(filename, f"cannot be split into CSV columns ({exc})", "a CSV file") from exc
    if not records:
        raise fail(filename, "is empty", "a W&B CSV export")
    header = [cell.strip() for cell in records[0]]
    rows = [(i + 1, r) for i, r in enumerate(records) if i > 0 and any(c.strip() for c in r)]
    if not rows:
        raise fail(filename, "has a header but no runs", "one row per run")
    return header, rows


def read_runs_table(filename: str, data: bytes) -> TrackedRuns:
    """The web UI's runs-table CSV: one summary row per run."""
    header, rows = _csv_rows(filename, data)
    name_index = header.index("Name")
    logs, ids = [], []
    for row_number, record in rows:
        if len(record) > len(header):
            raise fail(
                f"{filename}: row {row_number}",
                f"has {len(record)} fields but the header has {len(header)}",
                f"{len(header)} fields per row",
            )
        cells = dict(zip(header, (cell.strip() for cell in record), strict=False))
        name = cells.get(header[name_index], "")
        if not name:
            raise fail(f"{filename}: row {row_number}", "has an empty Name", "a run name")
        log = RunLog(name)
        summary = {k: v for k, v in cells.items() if k != "Name" and v != ""}
        _summary_row(log, summary)
        logs.append(log)
        ids.append(f"row {row_number}")
    unique_names(logs, ids)
    return assemble("wandb", filename, logs)


def _literal(where: str, cell: str) -> dict[str, object]:
    if len(cell) > _MAX_CELL:
        raise fail(where, "is too long", f"a dict of at most {_MAX_CELL:,} characters")
    if not cell.strip():
        return {}
    try:
        value = ast.literal_eval(cell.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise fail(
            where,
            f"{shown(cell)} is not a Python dict",
            "the str() of run.summary / run.config",
        ) from exc
    if not isinstance(value, dict):
        raise fail(where, f"{shown(cell)} is not a dict", "the str() of run.summary / run.config")
    return value


def read_api_project(filename: str, data: bytes) -> TrackedRuns:
    """The W&B docs' ``project.csv``: summary/config dict reprs per run."""
    header, rows = _csv_rows(filename, data)
    logs, ids = [], []
    for row_number, record in rows:
        cells = dict(zip(header, record, strict=False))
        where = f"{filename}: row {row_number}"
        name = (cells.get("name") or cells.get("id") or "").strip() or f"row {row_number}"
        log = RunLog(name)
        config = _literal(f"{where}, column 'config'", cells.get("config", ""))
        log.config.update(flatten(_unwrap_config(config), where))
        summary = _literal(f"{where}, column 'summary'", cells.get("summary", ""))
        _summary_row(log, flatten(summary, where))
        logs.append(log)
        ids.append(f"row {row_number}")
    unique_names(logs, ids)
    return assemble("wandb", filename, logs)


# --------------------------------------------------------------------------------------------
# JSON / JSON Lines run dumps
# --------------------------------------------------------------------------------------------

_JSON_RUN_KEYS = re.compile(rb'"config"\s*:')
_JSON_DATA_KEYS = re.compile(rb'"(?:summary|history)"\s*:')


def looks_like_json_runs(data: bytes) -> bool:
    """Starts like JSON and names ``config`` plus ``summary``/``history`` early on."""
    head = data[:65536].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith((b"[", b"{")):
        return False
    return bool(_JSON_RUN_KEYS.search(head) and _JSON_DATA_KEYS.search(head))


def read_json_runs(filename: str, data: bytes) -> TrackedRuns:
    """A JSON array (or JSON Lines) of run objects → rows."""
    text = _decode_text(data).strip()
    objects: list[tuple[str, object]] = []
    try:
        whole = json.loads(text)
        items = whole if isinstance(whole, list) else [whole]
        objects = [(f"{filename}: run {i + 1}", item) for i, item in enumerate(items)]
    except ValueError:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                objects.append((f"{filename}: line {number}", json.loads(line)))
            except (ValueError, RecursionError) as exc:
                raise fail(
                    f"{filename}: line {number}",
                    f"is not valid JSON ({_first_line(exc)})",
                    "one run object per line",
                ) from exc
    except RecursionError as exc:
        raise fail(filename, "is nested too deeply", "a list of run objects") from exc
    logs, ids = [], []
    for where, item in objects:
        if not isinstance(item, dict) or not isinstance(item.get("config", {}), dict):
            raise fail(where, "is not a run object", '{"name": …, "config": {…}, "summary": {…}}')
        run_id = str(item.get("id") or "")
        name = str(item.get("name") or item.get("display_name") or run_id or where)
        log = RunLog(name)
        log.config.update(flatten(_unwrap_config(item.get("config") or {}), where))
        history = item.get("history")
        if history:
            if not isinstance(history, list):
                raise fail(where, "has a history that is not a list", "a list of step rows")
            for index, row in enumerate(history):
                if not isinstance(row, dict):
                    raise fail(where, f"history row {index + 1} is not an object", "rows")
                _history_row(log, flatten(row, where), index)
        else:
            summary = item.get("summary") or {}
            if not isinstance(summary, dict):
                raise fail(where, "has a summary that is not an object", "summary metrics")
            _summary_row(log, flatten(summary, where))
        logs.append(log)
        ids.append(run_id or where)
    unique_names(logs, ids)
    return assemble("wandb", filename, logs)


def _history_row(log: RunLog, row: Mapping[str, object], index: int) -> None:
    step = as_number(row.get("_step"))
    if step is None or not math.isfinite(step):
        step = float(index)
    for key, value in row.items():
        if key.startswith("_"):
            continue
        number = as_number(value) if not isinstance(value, str) else None
        if number is not None:
            log.log(step, key, number)


def read_single_datastore(filename: str, data: bytes) -> TrackedRuns:
    """One ``run-<id>.wandb`` uploaded on its own (the run id from its name when it has one)."""
    runs: dict[str, _WandbRun] = {}
    match = _DATASTORE_NAME.search(posixpath.basename(filename))
    read_datastore(filename, data, runs, match.group(1) if match else filename)
    if not runs:
        raise fail(filename, "holds no W&B run records", "a run-<id>.wandb datastore")
    return assemble("wandb", filename, _finish(runs.values()))
