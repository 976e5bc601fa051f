"""The CSV both security test files upload: Chinchilla-law runs whose names carry payloads.

Written with the csv module, so quotes and commas in the names are real CSV cells, not broken
rows. Shared by ``tests/test_security.py`` and ``tests/e2e/test_security_browser.py`` (both
find it on the path pytest gives the tests folder).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

SIZES = (20e6, 50e6, 100e6, 200e6, 500e6, 1e9, 2e9, 5e9)
"""Parameter counts of the runs (8 sizes × 5 token ratios = 40 runs)."""
TOKENS_PER_PARAM = (5, 10, 20, 40, 80)


def hostile_runs_csv(run_names: Sequence[str], groups: Sequence[str]) -> bytes:
    """40 runs on the Chinchilla law; the first runs are named ``run_names`` (the rest
    ``run <i>``) and the groups cycle through ``groups``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["run", "params", "tokens", "loss", "group"])
    index = 0
    for n in SIZES:
        for ratio in TOKENS_PER_PARAM:
            d = n * ratio
            loss = 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28
            run = run_names[index] if index < len(run_names) else f"run {index}"
            writer.writerow([run, n, d, loss, groups[index % len(groups)]])
            index += 1
    return buffer.getvalue().encode("utf-8")
