"""Shared fixtures: the repo root on sys.path, bundled data paths, and the Chinchilla runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scaling_core.ingest import load_runs_from_file  # noqa: E402
from scaling_core.schema import RunTable  # noqa: E402

DATA = ROOT / "data"
CHINCHILLA_CSV = DATA / "chinchilla_epoch.csv"
EXAMPLE_CSV = DATA / "example_runs.csv"


@pytest.fixture(scope="session")
def chinchilla_all() -> RunTable:
    """All 245 reconstructed Chinchilla runs (Epoch AI), tokens derived as C/(6N)."""
    return load_runs_from_file(str(CHINCHILLA_CSV))


@pytest.fixture(scope="session")
def chinchilla_240(chinchilla_all: RunTable) -> RunTable:
    """Epoch AI's fitting set: the 5 highest-loss runs left out (240 runs)."""
    return chinchilla_all.without_highest_loss(5)
