"""Generate ``data/example_architectures.csv``: SYNTHETIC runs of two architectures.

Why: the Compare view needs a bundled dataset with a ``group`` column whose answer is known.
Both architectures follow a power law in compute with a floor, L(C) = c + a·C^(-b) (loss in nats,
C = 6·N·D FLOPs with 20 tokens per parameter); the "improved" one reaches any loss with
:data:`TRUE_MULTIPLIER`× less compute than the "baseline" one: L_improved(C) = L_baseline(k·C).
Each run's loss carries multiplicative lognormal noise (sigma :data:`NOISE_SIGMA`). An
``accuracy`` column follows the loss through a known sigmoid (:func:`accuracy_of`) plus
Normal(0, :data:`ACCURACY_NOISE`) noise, for the loss → downstream-metric forecast. Deterministic::

    python scripts/make_example_architectures.py          # writes the CSV
    python scripts/make_example_architectures.py --check  # exit 1 if the committed file differs
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

BASELINE_LAW: dict[str, float] = {"a": 852.0, "b": 0.15, "c": 1.8}
"""L(C) = c + a·C^(-b) for the baseline (nats, C in FLOPs)."""
TRUE_MULTIPLIER = 2.5
"""The improved architecture matches the baseline's loss with 2.5× less compute."""
NOISE_SIGMA = 0.004
ACCURACY_NOISE = 0.01
"""Absolute noise on the synthetic accuracy."""
SEED = 20261125
MODEL_SIZES: tuple[float, ...] = (2e7, 5e7, 1e8, 2e8, 4e8, 8e8, 1.5e9, 3e9)
TOKENS_PER_PARAM = 20.0
OUTPUT = Path(__file__).resolve().parents[1] / "data" / "example_architectures.csv"


def baseline_loss(compute: np.ndarray) -> np.ndarray:
    """The baseline law at ``compute`` FLOPs (nats)."""
    law = BASELINE_LAW
    return law["c"] + law["a"] * compute ** -law["b"]


def accuracy_of(loss: np.ndarray) -> np.ndarray:
    """The generating loss → accuracy map: chance 0.25 rising to 0.9, midpoint at loss 2.6."""
    return 0.25 + 0.65 / (1.0 + np.exp(4.0 * (loss - 2.6)))


def render() -> str:
    """The CSV text (deterministic)."""
    rng = np.random.default_rng(SEED)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", "params", "tokens", "architecture", "loss", "accuracy"])
    for architecture, multiplier in (("baseline", 1.0), ("improved", TRUE_MULTIPLIER)):
        for n in MODEL_SIZES:
            tokens = TOKENS_PER_PARAM * n
            compute = 6.0 * n * tokens
            loss = baseline_loss(np.array(multiplier * compute)) * np.exp(
                rng.normal(0.0, NOISE_SIGMA)
            )
            accuracy = accuracy_of(loss) + rng.normal(0.0, ACCURACY_NOISE)
            writer.writerow([f"{architecture}-{n:.0e}", f"{n:.6g}", f"{tokens:.6g}", architecture,
                             f"{float(loss):.5f}", f"{float(accuracy):.4f}"])  # fmt: skip
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        same = OUTPUT.exists() and OUTPUT.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{OUTPUT} differs from the generator's output")
        return 0 if same else 1
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
