"""pyarrow arrays ↔ numpy for the few primitive types ingest uses, without importing pandas.

Why: pyarrow's own ``to_numpy()``, ``pa.array(numpy)`` and ``pa.scalar()`` go through its
pandas shim, which imports pandas (0.4 s or more) on first use. The CLI reads large CSVs with
pyarrow and has no other use for pandas, so conversions go through the arrays' buffers here:
numbers and booleans only, nulls as NaN (numbers) or False (booleans).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["bool_array", "float_array", "int_array", "to_numpy"]

_DTYPES = {
    "double": np.float64,
    "float": np.float32,
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "int8": np.int8,
    "uint64": np.uint64,
    "uint32": np.uint32,
    "uint16": np.uint16,
    "uint8": np.uint8,
}


def _bits(buffer: Any, offset: int, size: int) -> np.ndarray:
    """A validity or boolean bitmap (least significant bit first) as a bool array."""
    packed = np.frombuffer(buffer, dtype=np.uint8)
    return np.unpackbits(packed, bitorder="little")[offset : offset + size].astype(bool)


def to_numpy(array: Any) -> np.ndarray:
    """A numeric or boolean pyarrow (chunked) array as numpy: nulls become NaN (the result is
    then float64) or False. Zero-copy, hence read-only, when there are no nulls."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    size, offset = len(array), array.offset
    validity, data = array.buffers()[:2]
    if pa.types.is_boolean(array.type):
        if size == 0:
            return np.zeros(0, dtype=bool)
        values = _bits(data, offset, size)
        return values & _bits(validity, offset, size) if array.null_count else values
    dtype = np.dtype(_DTYPES[str(array.type)])
    if size == 0:
        return np.zeros(0, dtype=dtype)
    values = np.frombuffer(data, dtype=dtype, count=size, offset=offset * dtype.itemsize)
    if array.null_count:
        values = values.astype(np.float64)
        values[~_bits(validity, offset, size)] = np.nan
    return values


def int_array(values: np.ndarray) -> Any:
    """An int64 pyarrow array of ``values`` (indices for ``take``)."""
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), values.size, [None, pa.py_buffer(values)])


def bool_array(values: np.ndarray) -> Any:
    """A boolean pyarrow array of ``values`` (masks for ``filter``)."""
    import pyarrow as pa

    bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), int(values.size), [None, pa.py_buffer(bits)])


def float_array(values: np.ndarray) -> Any:
    """A float64 pyarrow array of ``values`` with NaN as null (the data buffer is shared, not
    copied; several times faster than ``pa.array(values, from_pandas=True)``)."""
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.float64)
    missing = np.isnan(values)
    if not missing.any():
        return pa.Array.from_buffers(pa.float64(), values.size, [None, pa.py_buffer(values)])
    if missing.all():
        return pa.nulls(values.size, pa.float64())
    valid = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    return pa.Array.from_buffers(
        pa.float64(), values.size, [valid, pa.py_buffer(values)], null_count=int(missing.sum())
    )
