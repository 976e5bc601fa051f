"""Untrusted zip archives read in memory, and directories zipped deterministically.

Why in memory: an uploaded zip is hostile until proven otherwise. Members are never extracted,
so a name like ``../../etc/passwd`` cannot write anywhere — but such a name is still refused,
because no tracker writes one and it means the archive was made to attack. Sizes are capped
before anything is decompressed (a zip bomb declares small compressed sizes and huge
uncompressed ones; we trust neither: the declared total is capped, and every member is read
with a limit of its declared size + 1 byte, so a lying header is caught too).

Why deterministic: :func:`zip_directory` is the dataset's stored source for a folder upload;
the same folder must give the same bytes (and SHA-256) so a re-import is recognised as the same
upload. Names are sorted, timestamps and permissions fixed, members stored uncompressed (deflate
output may differ between zlib builds; stored bytes cannot), symlinks skipped (a link could
point anywhere on the machine), and only regular files are read.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from scaling_core.importers._common import fail, shown

MAX_TOTAL_BYTES = 200 * 1024 * 1024
"""Total uncompressed bytes one export may hold (the upload limit's order of magnitude)."""
MAX_MEMBERS = 100_000
"""Members of one archive (an MLflow store has ~20 small files per run)."""
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def is_zip(data: bytes) -> bool:
    """Local-file or empty-archive signature (the cheap test a sniffer can afford)."""
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def member_names(data: bytes) -> tuple[str, ...] | None:
    """Member names of a zip as stored (no size or path checks), or None if it is no zip.

    For sniffing only: an oversized or hostile archive of tracker files is still *recognised*,
    so that reading it reports the precise reason it is refused.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return tuple(name.replace("\\", "/") for name in archive.namelist())
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        ValueError,
        EOFError,
        struct.error,
        NotImplementedError,
    ):
        return None


class Archive:
    """The members of one zip, read lazily and under the size caps.

    ``names`` are the regular members' normalised POSIX paths (directories dropped);
    :meth:`read` returns one member's bytes and counts them against the total cap.
    """

    def __init__(self, filename: str, data: bytes) -> None:
        self.filename = filename
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            OSError,
            ValueError,
            EOFError,
            struct.error,
            NotImplementedError,
        ) as exc:
            raise fail(filename, f"is not a readable zip archive ({exc})", "a .zip file") from exc
        if len(infos) > MAX_MEMBERS:
            raise fail(filename, f"has {len(infos):,} members", f"at most {MAX_MEMBERS:,} files")
        declared = sum(info.file_size for info in infos)
        if declared > MAX_TOTAL_BYTES:
            raise fail(
                filename,
                f"would unpack to {declared / 1e6:,.0f} MB",
                f"at most {MAX_TOTAL_BYTES // (1024 * 1024)} MB of uncompressed files",
            )
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = _safe_name(filename, info.filename)
            if info.is_dir() or not name:
                continue
            if info.flag_bits & 0x1:
                raise fail(self.where(name), "is encrypted", "an archive without a password")
            self._infos.setdefault(name, info)
        self.names: tuple[str, ...] = tuple(sorted(self._infos))
        self._read_total = 0

    def where(self, name: str) -> str:
        """``"export.zip: member mlruns/1/abc/meta.yaml"`` — the location used in messages."""
        return f"{self.filename}: member {name}"

    def size(self, name: str) -> int:
        """Declared uncompressed size of a member."""
        return self._infos[name].file_size

    def read(self, name: str) -> bytes:
        """One member's bytes; a member that decompresses past its declared size is refused."""
        info = self._infos[name]
        try:
            with self._zip.open(info) as handle:
                data = handle.read(info.file_size + 1)
        except (
            zipfile.BadZipFile,
            NotImplementedError,
            RuntimeError,
            OSError,
            EOFError,
            ValueError,
            zlib.error,
            struct.error,
        ) as exc:
            raise fail(
                self.where(name), f"cannot be decompressed ({exc})", "an intact zip"
            ) from exc
        if len(data) != info.file_size:
            raise fail(
                self.where(name),
                f"decompresses to a different size than its header says ({info.file_size})",
                "an intact zip",
            )
        self._read_total += len(data)
        if self._read_total > MAX_TOTAL_BYTES:
            raise fail(self.filename, "unpacks to too many bytes", "a smaller archive")
        return data


def _safe_name(filename: str, raw: str) -> str:
    """Member name → normalised relative POSIX path; absolute or ``..`` names are refused."""
    name = raw.replace("\\", "/")
    if "\x00" in name:
        raise fail(filename, f"has a member name with a NUL byte ({shown(raw)})", "file names")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in path.parts:
        raise fail(
            filename,
            f"has a member {shown(raw)} whose path leaves the archive",
            "relative member paths without '..'",
        )
    parts = [part for part in path.parts if part not in ("", ".")]
    return "/".join(parts)


def zip_directory(path: Path) -> bytes:
    """The regular files under ``path`` as a deterministic zip (names relative to ``path``'s
    parent so the folder's own name is kept, e.g. ``mlruns/0/meta.yaml``).

    Symlinks and special files are skipped; the same caps as for uploads apply.
    """
    root = path.resolve()
    files: list[tuple[str, Path]] = []
    total = 0
    for directory, subdirs, names in os.walk(root, followlinks=False):
        subdirs.sort()
        for name in sorted(names):
            full = Path(directory) / name
            info = full.lstat()
            if not stat.S_ISREG(info.st_mode):
                continue
            total += info.st_size
            if total > MAX_TOTAL_BYTES or len(files) >= MAX_MEMBERS:
                raise fail(
                    str(path),
                    "is too large to import",
                    f"at most {MAX_MEMBERS:,} files and {MAX_TOTAL_BYTES // (1024 * 1024)} MB",
                )
            files.append((full.relative_to(root.parent).as_posix(), full))
    files.sort()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as out:
        for name, full in files:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            out.writestr(info, full.read_bytes())
    return buffer.getvalue()
