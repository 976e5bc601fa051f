"""Training-run exports of tracking tools → one row per (run, step): W&B, TensorBoard, MLflow.

Why a package of its own: people log scaling sweeps with a tracker, not into a CSV. This
package turns what those tools leave on disk (or let you download) into plain columns that
:mod:`scaling_core.ingest` maps and validates like any table. It does not import ingest (ingest
calls it), reads everything in memory (nothing is extracted), and depends on no tracker
package: only numpy, PyYAML and the ``protobuf`` runtime Streamlit already installs.

Accepted inputs (see each module for the format details):

=================  =======================================================================
``wandb``          a .zip of a ``wandb/`` folder or of run folders (``run-<id>.wandb``
                   datastores; or ``files/wandb-summary.json`` + ``config.yaml``); a single
                   ``run-<id>.wandb``; the web UI's runs-table CSV; the W&B docs'
                   public-API ``project.csv``; a JSON/JSON Lines dump of runs
``tensorboard``    a .zip of a log directory (one sub-folder per run); a single
                   ``events.out.tfevents.*`` file
``mlflow``         a .zip of an ``mlruns/`` file store (or of one experiment folder)
=================  =======================================================================

Errors are :class:`ExportFormatError` with one line naming the file (and zip member), what is
wrong and what was expected; hostile archives (bombs, ``..`` names, corrupt CRCs, truncated
records) are refused with that same error type, never another exception.
"""

from __future__ import annotations

import posixpath
import struct
from pathlib import Path

from scaling_core.importers import mlflow as _mlflow
from scaling_core.importers import tensorboard as _tensorboard
from scaling_core.importers import wandb as _wandb
from scaling_core.importers._common import (
    EXPORT_FORMATS,
    ExportFormatError,
    TrackedRuns,
    fail,
)
from scaling_core.importers._zip import (
    MAX_TOTAL_BYTES,
    Archive,
    is_zip,
    member_names,
    zip_directory,
)

__all__ = [
    "EXPORT_FORMATS",
    "ExportFormatError",
    "TrackedRuns",
    "detect_export",
    "read_export",
    "read_export_path",
]

_EXPECTED = (
    "a .zip of a wandb/ run folder, a TensorBoard log directory or an MLflow mlruns/ folder; "
    "a single events.out.tfevents.* or run-<id>.wandb file; or a W&B runs CSV/JSON export"
)


def _archive_format(names: tuple[str, ...]) -> str | None:
    """Which tracker wrote the files in an archive (W&B first: its run folders may also hold
    synced TensorBoard files; MLflow before TensorBoard for the same reason)."""
    if any(
        _wandb.is_datastore_name(name) or name.endswith("files/wandb-summary.json")
        for name in names
    ):
        return "wandb"
    if _mlflow.run_folders(names):
        return "mlflow"
    if any(_tensorboard.is_event_file_name(name) for name in names):
        return "tensorboard"
    return None


def _single_file_format(filename: str, data: bytes) -> tuple[str, str] | None:
    """(format, reader) for a lone file, or None."""
    if _wandb.is_datastore(data):
        return "wandb", "datastore"
    if _tensorboard.is_event_file_name(filename) or _tensorboard.looks_like_event_file(data):
        return "tensorboard", "events"
    kind = _wandb.csv_kind(data)
    if kind is not None:
        return "wandb", kind
    if _wandb.looks_like_json_runs(data):
        return "wandb", "json"
    return None


def detect_export(filename: str, data: bytes) -> str | None:
    """Which tracker's export ``data`` is (one of :data:`EXPORT_FORMATS`), or None.

    Cheap: reads a zip's directory (not its members) or a single file's first bytes/header
    line. Never raises: anything unreadable is simply "not an export". A zip of tracker files
    is recognised even when it is too large or has hostile member names, so that
    :func:`read_export` can say precisely why it refuses it.
    """
    try:
        if is_zip(data):
            names = member_names(data)
            return _archive_format(names) if names is not None else None
        found = _single_file_format(filename, data)
    except (ExportFormatError, ValueError, OverflowError, MemoryError, RecursionError):
        return None
    return found[0] if found else None


def read_export(filename: str, data: bytes) -> TrackedRuns:
    """Read a tracker export (a .zip of a folder, or a single file) into :class:`TrackedRuns`.

    Raises :class:`ExportFormatError` with a one-line reason on anything it cannot read.
    """
    if len(data) > MAX_TOTAL_BYTES:
        raise fail(filename, f"is {len(data) / 1e6:,.0f} MB", "an export under 200 MB")
    try:
        if is_zip(data):
            return _read_archive(filename, Archive(filename, data))
        found = _single_file_format(filename, data)
        if found is None:
            raise fail(filename, "is not a W&B, TensorBoard or MLflow export", _EXPECTED)
        _, kind = found
        if kind == "events":
            return _tensorboard.read_event_files(filename, [(filename, filename, data)])
        if kind == "datastore":
            return _wandb.read_single_datastore(filename, data)
        if kind == "runs_table":
            return _wandb.read_runs_table(filename, data)
        if kind == "api_project":
            return _wandb.read_api_project(filename, data)
        return _wandb.read_json_runs(filename, data)
    except ExportFormatError:
        raise
    except (MemoryError, RecursionError) as exc:
        raise fail(filename, "is too large or too deeply nested to read", _EXPECTED) from exc
    except (ValueError, ArithmeticError, LookupError, TypeError, struct.error) as exc:
        # Safety net for hostile bytes no check above anticipated: still one precise-as-we-can
        # line, never a traceback (the fuzz tests aim to keep this path unused).
        raise fail(filename, f"could not be read ({type(exc).__name__}: {exc})", _EXPECTED) from exc


def _read_archive(filename: str, archive: Archive) -> TrackedRuns:
    kind = _archive_format(archive.names)
    if kind is None:
        raise fail(filename, "is a zip with no tracker files in it", _EXPECTED)
    if kind == "wandb":
        wanted = [
            name
            for name in archive.names
            if _wandb.is_datastore_name(name)
            or name.endswith(("files/wandb-summary.json", "files/config.yaml"))
        ]
        members = {name: (archive.where(name), archive.read(name)) for name in wanted}
        return _wandb.read_run_folders(filename, members)
    if kind == "mlflow":
        return _mlflow.read_mlruns(filename, archive.names, archive.read, archive.where)
    files = [
        (posixpath.dirname(name), archive.where(name), archive.read(name))
        for name in archive.names
        if _tensorboard.is_event_file_name(name)
    ]
    return _tensorboard.read_event_files(filename, files)


def read_export_path(path: str) -> tuple[TrackedRuns, bytes]:
    """Read an export from disk: a file as it is, a directory as a deterministic zip.

    Returns the runs and the bytes to store as the dataset's source (the file's bytes, or the
    zip — same folder contents, same bytes and SHA-256, so a re-import is recognised).
    """
    target = Path(path)
    try:
        if target.is_dir():
            data = zip_directory(target)
            return read_export(f"{target.resolve().name}.zip", data), data
        size = target.stat().st_size
        if size > MAX_TOTAL_BYTES:
            raise fail(target.name, f"is {size / 1e6:,.0f} MB", "an export under 200 MB")
        data = target.read_bytes()
    except OSError as exc:
        raise fail(
            target.name or str(target), f"cannot be read ({exc.strerror or exc})", _EXPECTED
        ) from exc
    return read_export(target.name, data), data
