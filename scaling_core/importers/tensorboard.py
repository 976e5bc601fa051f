"""TensorBoard event files → runs of scalars.

Why our own reader and not ``tensorboard``'s ``EventFileLoader``: that package pulls grpcio,
werkzeug, markdown and a Rust data server, and its pure-Python fallback is the same CRC-checked
TFRecord loop as here. The format is small and stable (TFRecord frames since TF 0.x, Event
protos unchanged in the fields we read), so this module frames records itself, decodes them
with the installed ``protobuf`` runtime against the real field numbers (:mod:`._proto`), and
is tested on files written by tensorboardX and by the tensorboard package's own writer.

Format: a sequence of records ``uint64 length | uint32 masked_crc32c(length) | data |
uint32 masked_crc32c(data)`` (little-endian); ``data`` is an ``Event``. Scalars come as
``Summary.Value.simple_value`` (TF1, tensorboardX, PyTorch's default) or as a rank-0 tensor
whose summary metadata names the ``scalars`` plugin (TF2, Keras; PyTorch ``new_style``).
TF2 writes that metadata only on a tag's *first* event, so a tag's plugin is remembered per
run. Every record's CRCs are checked: a truncated or corrupted file is reported with the byte
offset of the bad record, never read partially.

Layout: the run of an event file is its directory relative to the deepest folder holding all
runs, as TensorBoard names runs. Hyperparameters come from the hparams plugin's session-start
summary; tensorboardX's ``add_hparams`` writes that into a time-named *child* folder of the run
together with copies of the chosen metrics — such a child is folded into its parent run (its
hparams become the run's config; the copied metrics are dropped, they duplicate the curves).
"""

from __future__ import annotations

import posixpath
import struct
from typing import TYPE_CHECKING

import numpy as np

from scaling_core.importers._common import (
    ExportFormatError,
    RunLog,
    TrackedRuns,
    assemble,
    fail,
)

if TYPE_CHECKING:  # protobuf loads only when a tracker file is actually decoded
    from google.protobuf.message import Message
from scaling_core.importers._crc32c import masked_crc32c, masked_crc32c_rows

EVENT_FILE_MARK = "tfevents"
_HPARAMS_PLUGIN = b"hparams"
_SCALARS_PLUGIN = b"scalars"
_DATA_CLASS_SCALAR = 1
_SESSION_START_TAG = b"_hparams_/session_start_info"

# TF DataType → numpy dtype of tensor_content, and the typed repeated field holding values.
_DTYPES: dict[int, tuple[str, str]] = {
    1: ("<f4", "float_val"),  # DT_FLOAT
    2: ("<f8", "double_val"),  # DT_DOUBLE
    3: ("<i4", "int_val"),  # DT_INT32
    4: ("<u1", "int_val"),  # DT_UINT8
    5: ("<i2", "int_val"),  # DT_INT16
    6: ("<i1", "int_val"),  # DT_INT8
    9: ("<i8", "int64_val"),  # DT_INT64
    14: ("bfloat16", "half_val"),  # DT_BFLOAT16
    17: ("<u2", "int_val"),  # DT_UINT16
    19: ("<f2", "half_val"),  # DT_HALF
    22: ("<u4", "uint32_val"),  # DT_UINT32
    23: ("<u8", "uint64_val"),  # DT_UINT64
}


def is_event_file_name(name: str) -> bool:
    """``events.out.tfevents.<time>.<host>…`` — the name every TensorBoard writer uses."""
    return EVENT_FILE_MARK in posixpath.basename(name)


def looks_like_event_file(data: bytes) -> bool:
    """Cheap sniff: a first TFRecord frame with a valid length CRC whose Event says
    ``brain.Event:`` (every writer's first record is the file-version event)."""
    if len(data) < 16:
        return False
    (length,) = struct.unpack_from("<Q", data, 0)
    if length > 4096 or len(data) < 16 + length:
        return False
    if masked_crc32c(data[:8]) != struct.unpack_from("<I", data, 8)[0]:
        return False
    return b"brain.Event:" in data[12 : 12 + length]


def records(where: str, data: bytes) -> list[tuple[int, bytes]]:
    """(offset, payload) of every TFRecord frame, all CRCs checked; precise errors otherwise.

    Frames are first walked by their lengths, then every length and data CRC is checked in
    batches (:func:`masked_crc32c_rows`); the first bad record in file order is reported, so a
    corrupt length is named as such rather than as the truncation it would seem to cause.
    """
    size = len(data)
    starts: list[int] = []
    lengths: list[int] = []
    offset = 0
    tail_problem: ExportFormatError | None = None
    while offset < size:
        if size - offset < 12:
            tail_problem = fail(
                where,
                f"is truncated: {size - offset} stray bytes at byte {offset} where a record "
                "header (12 bytes) should start",
                "complete records (copy event files after the writer has closed them)",
            )
            break
        (length,) = struct.unpack_from("<Q", data, offset)
        if offset + 16 + length > size:
            if (
                masked_crc32c(data[offset : offset + 8])
                == struct.unpack_from("<I", data, offset + 8)[0]
            ):
                tail_problem = fail(
                    where,
                    f"is truncated: the record at byte {offset} needs {length:,} bytes of data "
                    f"but the file ends at byte {size:,}",
                    "complete records (copy event files after the writer has closed them)",
                )
            else:
                tail_problem = _corrupt_length(where, offset)
            break
        starts.append(offset)
        lengths.append(length)
        offset += 16 + length
    first_bad = _first_bad_crc(data, starts, lengths)
    if first_bad is not None:
        index, what = first_bad
        if what == "length":
            raise _corrupt_length(where, starts[index])
        raise fail(
            where,
            f"the record at byte {starts[index]} is corrupt (data checksum mismatch)",
            "an intact TensorBoard event file",
        )
    if tail_problem is not None:
        raise tail_problem
    return [
        (start, data[start + 12 : start + 12 + n]) for start, n in zip(starts, lengths, strict=True)
    ]


def _corrupt_length(where: str, offset: int) -> ExportFormatError:
    return fail(
        where,
        f"the record at byte {offset} has a corrupt length (checksum mismatch)",
        "an intact TensorBoard event file (TFRecord frames)",
    )


def _first_bad_crc(data: bytes, starts: list[int], lengths: list[int]) -> tuple[int, str] | None:
    """Index of the first frame whose length CRC (checked first) or data CRC fails."""
    if not starts:
        return None
    first = np.array(starts, dtype=np.int64)
    sizes = np.array(lengths, dtype=np.int64)
    stored = np.frombuffer(data, dtype=np.uint8)
    bad_length = masked_crc32c_rows(data, first, 8) != _u32_at(stored, first + 8)
    bad_data = np.zeros(first.size, dtype=bool)
    for length in np.unique(sizes).tolist():
        rows = np.flatnonzero(sizes == length)
        crcs = masked_crc32c_rows(data, first[rows] + 12, int(length))
        bad_data[rows] = crcs != _u32_at(stored, first[rows] + 12 + length)
    bad = np.flatnonzero(bad_length | bad_data)
    if bad.size == 0:
        return None
    index = int(bad[0])
    return index, "length" if bad_length[index] else "data"


def _u32_at(buffer: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Little-endian uint32 at each position (unaligned), as uint64 for comparison."""
    value = np.zeros(positions.size, dtype=np.uint64)
    for byte in range(4):
        value |= buffer[positions + byte].astype(np.uint64) << np.uint64(8 * byte)
    return value


def _tensor_scalar(tensor: Message) -> float | None:
    """The single numeric value of a scalar tensor, or None (non-numeric, empty, or larger)."""
    kind = _DTYPES.get(tensor.dtype)
    if kind is None:
        return None
    dims = [dim.size for dim in tensor.tensor_shape.dim]
    if any(size != 1 for size in dims):
        return None
    numpy_dtype, field_name = kind
    if tensor.tensor_content:
        if numpy_dtype == "bfloat16":
            raw = np.frombuffer(tensor.tensor_content, dtype="<u2")
            values = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            width = np.dtype(numpy_dtype).itemsize
            if len(tensor.tensor_content) != width:
                return None
            values = np.frombuffer(tensor.tensor_content, dtype=numpy_dtype)
        return float(values[0]) if values.size == 1 else None
    typed = list(getattr(tensor, field_name))
    if len(typed) != 1:
        return None
    if numpy_dtype == "<f2":
        return float(np.array([typed[0] & 0xFFFF], dtype=np.uint16).view(np.float16)[0])
    if numpy_dtype == "bfloat16":
        bits = np.array([(typed[0] & 0xFFFF) << 16], dtype=np.uint32)
        return float(bits.view(np.float32)[0])
    return float(typed[0])


def _hparams(where: str, offset: int, content: bytes) -> dict[str, object] | None:
    """Hyperparameters of a session-start summary (None for other hparams summaries)."""
    from scaling_core.importers._proto import DecodeError, parse

    try:
        data = parse("HParamsPluginData", content)
    except DecodeError as exc:
        raise fail(
            where, f"the hparams summary at byte {offset} cannot be decoded", "valid hparams"
        ) from exc
    if not data.HasField("session_start_info"):
        return None
    config: dict[str, object] = {}
    for entry in data.session_start_info.hparams:
        key = entry.key.decode("utf-8", "replace")
        value = entry.value
        if value.HasField("number_value"):
            config[key] = value.number_value
        elif value.HasField("string_value"):
            config[key] = value.string_value.decode("utf-8", "replace")
        elif value.HasField("bool_value"):
            config[key] = str(value.bool_value)
    return config


class _EventRun:
    """What one run directory's event files hold."""

    def __init__(self, name: str) -> None:
        self.log = RunLog(name)
        self.plugins: dict[bytes, bytes] = {}
        self.has_hparams = False


def _read_events(where: str, data: bytes, run: _EventRun) -> None:
    """Add one event file's scalars and hparams to ``run``."""
    from scaling_core.importers._proto import DecodeError, parse

    for offset, payload in records(where, data):
        try:
            event = parse("Event", payload)
        except DecodeError as exc:
            raise fail(
                where,
                f"the record at byte {offset} is not a TensorBoard Event",
                "an event file written by TensorBoard, tensorboardX, PyTorch or TensorFlow",
            ) from exc
        if not event.HasField("summary"):
            continue
        step = float(event.step)
        for value in event.summary.value:
            tag = value.tag or value.node_name
            if value.HasField("metadata") and value.metadata.HasField("plugin_data"):
                run.plugins[tag] = value.metadata.plugin_data.plugin_name
            plugin = run.plugins.get(tag, b"")
            if plugin == _HPARAMS_PLUGIN:
                if tag == _SESSION_START_TAG or value.metadata.plugin_data.content:
                    config = _hparams(where, offset, value.metadata.plugin_data.content)
                    if config is not None:
                        run.log.config.update(config)
                        run.has_hparams = True
                continue
            if value.HasField("simple_value"):
                number: float | None = value.simple_value
            elif value.HasField("tensor") and (
                plugin == _SCALARS_PLUGIN
                or (value.HasField("metadata") and value.metadata.data_class == _DATA_CLASS_SCALAR)
            ):
                number = _tensor_scalar(value.tensor)
            else:
                continue
            if number is not None:
                run.log.log(step, tag.decode("utf-8", "replace"), number)


def _run_names(directories: list[str]) -> dict[str, str]:
    """Run name per event-file directory: the path below their deepest common folder."""
    if len(directories) == 1:
        only = directories[0]
        return {only: posixpath.basename(only) or only or "run"}
    common = posixpath.commonpath(directories) if all(directories) else ""
    names = {}
    for directory in directories:
        relative = posixpath.relpath(directory, common) if common else directory
        names[directory] = relative if relative not in (".", "") else "."
    return names


def read_event_files(filename: str, files: list[tuple[str, str, bytes]]) -> TrackedRuns:
    """``files`` = (directory, location for messages, bytes) per event file → TrackedRuns."""
    directories = sorted({directory for directory, _, _ in files})
    names = _run_names(directories)
    runs = {directory: _EventRun(names[directory]) for directory in directories}
    for directory, where, data in sorted(files, key=lambda item: item[1]):
        _read_events(where, data, runs[directory])
    # tensorboardX add_hparams: <run>/<time>/events… holds the run's hparams → fold into <run>.
    for directory in directories:
        parent = posixpath.dirname(directory)
        child = runs[directory]
        if child.has_hparams and parent in runs and parent != directory:
            host = runs[parent]
            for key, value in child.log.config.items():
                host.log.config.setdefault(key, value)
            del runs[directory]
    logs = [run.log for run in runs.values()]
    if not any(log.history for log in logs):
        raise fail(
            filename,
            "holds no scalar values",
            "event files with scalars (add_scalar / tf.summary.scalar)",
        )
    return assemble("tensorboard", filename, [log for log in logs if log.history or log.config])
