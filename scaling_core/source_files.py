"""Uploaded files kept beside a local store: one compressed file per distinct content.

Why not in the DuckDB file: the original bytes are most of a store's size and are written once,
read rarely (re-parsing, downloads) and deleted with their datasets. DuckDB copies a blob
through its write-ahead log and again at the checkpoint (a 9 MB blob cost 0.12 s of a 1M-row
upload, about as much as hashing and compressing the file), and a DuckDB file never gives
deleted space back. Here each content is one file named by its SHA-256.

The store (:mod:`scaling_core.store`) says which contents its rows reference; this module keeps
the files consistent with that under concurrency:

- :meth:`SourceFiles.keep` *pins* a content and writes it (atomically: temporary file, fsync,
  rename, fsync of the folder) before the transaction that references it commits;
- :meth:`SourceFiles.settle` runs after a transaction: it unpins the writer's content and
  removes contents no row references and no writer has pinned;
- :meth:`SourceFiles.sweep` (on open) moves unreferenced, unpinned files to ``unreferenced/``
  (what an upload killed before its commit leaves; or a folder from another store file, which
  must not be destroyed by opening the wrong file).

Pins and the lock are per folder and process-wide (two ``Store`` objects on one file share
them), so a delete can never remove a file an upload of the same bytes is about to commit. A
local store file is held by one process, so nothing else writes the folder.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

__all__ = ["FILE_CODEC", "UNREFERENCED", "SourceFiles"]

FILE_CODEC = "zstd-file"
"""``sources.codec`` of a source kept as a file: zstd (``store_arrow.compress_source``), in the
store's source folder under its SHA-256; the row's ``content`` is empty."""

UNREFERENCED = "unreferenced"
"""Subfolder where :meth:`SourceFiles.sweep` moves files no source references."""

_DIGEST = re.compile(r"[0-9a-f]{64}")
_SUFFIX = ".zst"
_TEMPORARY = ".tmp"

_REGISTRY = threading.Lock()
_LOCKS: dict[Path, threading.Lock] = {}
_PINS: dict[Path, Counter[str]] = {}


class SourceFiles:
    """The folder of kept source files (created on the first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        key = directory.resolve()
        with _REGISTRY:
            self._lock = _LOCKS.setdefault(key, threading.Lock())
            self._pins = _PINS.setdefault(key, Counter())

    def path(self, digest: str) -> Path:
        """Where the content with this SHA-256 (hex) is kept."""
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"not a SHA-256 hex digest: {digest!r}")
        return self.directory / f"{digest}{_SUFFIX}"

    def read(self, digest: str) -> bytes:
        """The kept content (``FileNotFoundError`` when there is none)."""
        return self.path(digest).read_bytes()

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

    def keep(self, digest: str, content: bytes) -> None:
        """Pin ``digest`` for a write about to commit and make sure its file exists durably
        (``OSError`` when it cannot be written; the pin is then released). Every ``keep`` must
        be followed by :meth:`settle` with ``digest`` in ``unpin``."""
        with self._lock:
            self._pins[digest] += 1
            try:
                self._write(digest, content)
            except BaseException:
                self._unpin(digest)
                raise

    def settle(
        self,
        digests: Iterable[str],
        referenced: Callable[[list[str]], set[str]],
        *,
        unpin: Iterable[str] = (),
        restore: Mapping[str, bytes] | None = None,
    ) -> None:
        """After a write committed or failed: release ``unpin``, then remove each of
        ``digests`` that ``referenced`` (the store's rows, read now) does not name and no
        writer has pinned. A referenced content whose file is missing is written again from
        ``restore`` (cannot happen while pins are kept; a safety net)."""
        wanted = list(dict.fromkeys(digests))
        with self._lock:
            for digest in unpin:
                self._unpin(digest)
            named = referenced(wanted) if wanted else set()
            for digest in wanted:
                if digest not in named and not self._pins[digest]:
                    self.path(digest).unlink(missing_ok=True)
                elif digest in named and restore and digest in restore:
                    self._write(digest, restore[digest])

    def sweep(self, referenced: Callable[[], set[str]]) -> list[str]:
        """Move every kept file ``referenced`` does not name (and no writer pins) to
        :data:`UNREFERENCED`, and delete half-written temporaries; returns the moved digests.
        Moved, not deleted: opening a store file with another file's folder must not destroy
        the only copy of its originals."""
        if not self.directory.is_dir():
            return []
        with self._lock:
            for entry in self.directory.glob(f".*{_TEMPORARY}"):
                entry.unlink(missing_ok=True)
            named = referenced()
            moved = sorted(d for d in self.digests() - named if not self._pins[d])
            if moved:
                aside = self.directory / UNREFERENCED
                aside.mkdir(exist_ok=True)
                for digest in moved:
                    os.replace(self.path(digest), aside / self.path(digest).name)
                _sync_directory(self.directory)
            return moved

    def _unpin(self, digest: str) -> None:
        self._pins[digest] -= 1
        if self._pins[digest] <= 0:
            del self._pins[digest]

    def _write(self, digest: str, content: bytes) -> None:
        """Write ``content`` under ``digest`` unless its file exists (the name is the hash)."""
        final = self.path(digest)
        if final.exists():
            return
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True, exist_ok=True)
            _sync_directory(self.directory.parent)
        temporary = self.directory / f".{digest}.{uuid.uuid4().hex}{_TEMPORARY}"
        try:
            with open(temporary, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
        _sync_directory(self.directory)


def _sync_directory(directory: Path) -> None:
    """Make renames and new entries in ``directory`` durable (POSIX; a no-op elsewhere)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
