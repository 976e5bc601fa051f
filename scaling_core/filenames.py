"""File names from clients and users, made safe to store, show and offer as downloads.

Why one module: an upload's file name is client data (a forged request can send
``../../etc/passwd`` or ANSI escapes), and it travels to the store, the Data page's listing,
the CLI's output and download names. The store and the pages apply the same two rules here, so
no path can hold a name the other would have refused. Nothing here touches the file system.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath

__all__ = ["download_name", "printable", "upload_name"]

_FILE_NAME_UNSAFE = re.compile(r'[<>:"/\\|?*]')
"""Characters Windows forbids in file names (and both path separators)."""


def printable(text: str) -> str:
    """``text`` without control or format characters (NUL, newlines, ANSI, bidi overrides)."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))


def upload_name(name: str) -> str:
    """An uploaded file's name as stored and shown: its last path part in either path syntax,
    without control characters (``"upload"`` when nothing is left)."""
    base = PureWindowsPath(PurePosixPath(name).name).name
    cleaned = printable(base).strip()
    return cleaned if cleaned not in ("", ".", "..") else "upload"


def download_name(dataset: str, suffix: str) -> str:
    """A download's file name from a dataset name: no path separators, no characters Windows
    forbids, no control characters, no leading dot, at most 100 characters before ``suffix``."""
    cleaned = _FILE_NAME_UNSAFE.sub("_", printable(dataset))
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" .")[:100].strip(" .")
    return f"{cleaned or 'dataset'}{suffix}"
