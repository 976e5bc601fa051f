"""CRC-32C (Castagnoli) and TFRecord's masked form, without a compiled extension.

Why here: TensorBoard event files protect every record with a masked CRC-32C, and checking it
is how a corrupt or half-copied file is told apart from a valid one. The standard library has
only CRC-32 (zlib), and a compiled ``crc32c`` package would be one more binary dependency for a
few hundred lines of scalars. A byte-at-a-time table loop is fine for the tiny records scalars
live in (tens of bytes) but does ~5 MB/s, so large records (images, histograms) use
:func:`_crc_chunked`: the CRC is affine in its input, so the record is split into K equal
chunks whose raw CRCs are computed side by side with numpy (one vector step per byte
*position*) and then combined with a precomputed "advance by m zero bytes" operator.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_POLY = 0x82F63B78  # reflected Castagnoli polynomial
_MASK_DELTA = 0xA282EAD8
_FAST_PATH_BYTES = 16_384


def _make_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (_POLY if crc & 1 else 0)
        table.append(crc)
    return table


_TABLE = _make_table()
_TABLE_NP = np.array(_TABLE, dtype=np.uint32)


def _update(state: int, data: bytes | memoryview) -> int:
    """Raw CRC register update (no initial/final inversion), one byte at a time."""
    table = _TABLE
    for byte in data:
        state = table[(state ^ byte) & 0xFF] ^ (state >> 8)
    return state


@lru_cache(maxsize=32)
def _advance_tables(m: int) -> tuple[np.ndarray, ...]:
    """Four 256-entry tables applying the linear map "feed m zero bytes" to a 32-bit state."""
    basis = np.array([1 << bit for bit in range(32)], dtype=np.uint32)
    for _ in range(m):
        basis = _TABLE_NP[basis & 0xFF] ^ (basis >> 8)
    tables = []
    values = np.arange(256, dtype=np.uint32)
    for byte in range(4):
        table = np.zeros(256, dtype=np.uint32)
        for bit in range(8):
            table ^= np.where((values >> bit) & 1 == 1, basis[8 * byte + bit], 0).astype(np.uint32)
        tables.append(table)
    return tuple(tables)


def _crc_chunked(data: bytes) -> int:
    """CRC-32C of a large buffer: K chunks of m bytes in parallel, then combined."""
    n = len(data)
    m = 1 << max(8, (n.bit_length() + 1) // 2)  # ≈ √n, a power of two (cached operators)
    k = n // m
    chunks = np.frombuffer(data, dtype=np.uint8, count=k * m).reshape(k, m)
    state = np.zeros(k, dtype=np.uint32)
    for j in range(m):
        state = _TABLE_NP[(state ^ chunks[:, j]) & 0xFF] ^ (state >> 8)
    t0, t1, t2, t3 = _advance_tables(m)
    crc = 0xFFFFFFFF
    for raw in state.tolist():
        crc = (
            int(t0[crc & 0xFF])
            ^ int(t1[(crc >> 8) & 0xFF])
            ^ int(t2[(crc >> 16) & 0xFF])
            ^ int(t3[crc >> 24])
        ) ^ raw
    crc = _update(crc, memoryview(data)[k * m :])
    return crc ^ 0xFFFFFFFF


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (``crc32c(b"123456789") == 0xE3069283``)."""
    if len(data) >= _FAST_PATH_BYTES:
        return _crc_chunked(data)
    return _update(0xFFFFFFFF, data) ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 and add a constant (so CRCs of CRCs differ)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


_ROWS_MIN = 32
"""Rows of one length below which the byte loop beats one numpy step per byte position."""


def masked_crc32c_rows(data: bytes, starts: np.ndarray, length: int) -> np.ndarray:
    """Masked CRC-32C of many equal-length slices ``data[start:start + length]`` at once.

    Why: a scalar log is hundreds of thousands of ~50-byte records; one Python loop per byte
    per record is most of the reading time. Records of equal length are stacked and the CRC
    registers of all of them advance in one vector step per byte position.
    """
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size < _ROWS_MIN or length >= _FAST_PATH_BYTES:
        return np.array(
            [masked_crc32c(data[start : start + length]) for start in starts.tolist()],
            dtype=np.uint64,
        )
    buffer = np.frombuffer(data, dtype=np.uint8)
    state = np.full(starts.size, 0xFFFFFFFF, dtype=np.uint32)
    for j in range(length):
        state = _TABLE_NP[(state ^ buffer[starts + j]) & 0xFF] ^ (state >> 8)
    crc = (state ^ np.uint32(0xFFFFFFFF)).astype(np.uint64)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF
