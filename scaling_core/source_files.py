"""Uploaded files kept beside a local store: one compressed file per distinct content.

Why not in the DuckDB file: the original bytes are most of a store's size and are written once,
read rarely (re-parsing, downloads) and deleted with their datasets. DuckDB copies a blob
through its write-ahead log and again at the checkpoint (a 9 MB blob cost 0.12 s of a 1M-row
upload, about as much as hashing and compressing the file), and a DuckDB file never gives
deleted space back. Here each content is one file named by its SHA-256, written atomically
before the transaction that references it commits, and removed when no source references it.

The store (:mod:`scaling_core.store`) decides what is referenced; this module only keeps
files. Writes are atomic (temporary file, fsync, rename, fsync of the folder), so a file under
its final name is always complete.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

__all__ = ["FILE_CODEC", "SourceFiles"]

FILE_CODEC = "zstd-file"
"""``sources.codec`` of a source kept as a file: zstd (``store_arrow.compress_source``), in the
store's source folder under its SHA-256; the row's ``content`` is empty."""

_DIGEST = re.compile(r"[0-9a-f]{64}")
_SUFFIX = ".zst"
_TEMPORARY = ".tmp"


class SourceFiles:
    """The folder of kept source files (created on the first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, digest: str) -> Path:
        """Where the content with this SHA-256 (hex) is kept."""
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"not a SHA-256 hex digest: {digest!r}")
        return self.directory / f"{digest}{_SUFFIX}"

    def put(self, digest: str, content: bytes) -> None:
        """Keep ``content`` under ``digest`` durably (no-op when it is already kept: the name
        is the content's hash)."""
        final = self.path(digest)
        if final.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f".{digest}.{uuid.uuid4().hex}{_TEMPORARY}"
        try:
            with open(temporary, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
        self._sync_directory()

    def read(self, digest: str) -> bytes:
        """The kept content (``FileNotFoundError`` when there is none)."""
        return self.path(digest).read_bytes()

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def remove(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def digests(self) -> set[str]:
        """Every content kept (by digest)."""
        if not self.directory.is_dir():
            return set()
        names = (entry.name for entry in self.directory.iterdir())
        return {
            name[: -len(_SUFFIX)]
            for name in names
            if name.endswith(_SUFFIX) and _DIGEST.fullmatch(name[: -len(_SUFFIX)])
        }

    def remove_temporary(self) -> None:
        """Delete half-written files a killed process left (none is ever referenced)."""
        if self.directory.is_dir():
            for entry in self.directory.glob(f".*{_TEMPORARY}"):
                entry.unlink(missing_ok=True)

    def _sync_directory(self) -> None:
        """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
        try:
            descriptor = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(descriptor)
        except OSError:
            pass
        finally:
            os.close(descriptor)
