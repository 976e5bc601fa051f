"""Generate ``data/example_runs.csv``: SYNTHETIC step-level training logs from a known law.

Why: the dashboard needs a small bundled dataset whose true parameters are known, so a fit on it
can be checked by eye (and by tests) and so step-level ingestion (many rows per run, reduced to
one row per run) has a realistic example.

The law is the Chinchilla form L(N, D) = E + A/N^alpha + B/D^beta with the constants in
:data:`TRUE_LAW` (loss in nats, N in parameters, D in tokens). Each model size gets 2–4 runs
with different token budgets (tokens per parameter from 5 to 80), so the joint fit over N and D
is identifiable. Each run is logged at 10 evaluation steps; ``tokens`` is the number of tokens
seen at that step, ``val_loss`` follows the law at those tokens times lognormal noise
(sigma = :data:`NOISE_SIGMA`), and ``train_loss`` is 1% lower than ``val_loss`` with its own
noise. ``accuracy`` is a synthetic downstream metric: :func:`accuracy_of` of the noise-free loss
plus Normal(0, :data:`ACCURACY_NOISE`) noise from its own seeded stream. The output is
deterministic (seeded) so the committed CSV can be regenerated
byte-for-byte::

    python scripts/make_example_runs.py            # writes data/example_runs.csv
    python scripts/make_example_runs.py --check    # exit 1 if the committed file differs
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

TRUE_LAW: dict[str, float] = {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.36}
"""The generating law: L = E + A/N^alpha + B/D^beta (nats; N params, D tokens)."""

NOISE_SIGMA = 0.005
"""Standard deviation of the multiplicative lognormal noise on each logged loss."""

SEED = 20240514
MODEL_SIZES: tuple[float, ...] = (2e7, 4e7, 7e7, 1.2e8, 2e8, 3.5e8, 6e8, 1e9)
"""Parameter counts N of the eight model sizes."""

TOKENS_PER_PARAM: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 80.0)
"""Candidate final token budgets D/N; each size uses a contiguous window of 2–4 of them."""

N_EVALS = 10
"""Evaluation steps logged per run."""

SEQUENCE_LENGTH = 2048
"""Tokens per sequence; ``batch_size`` is in sequences, so tokens per step = batch · 2048."""

COLUMNS: tuple[str, ...] = (
    "run",
    "params",
    "tokens",
    "steps",
    "batch_size",
    "learning_rate",
    "train_loss",
    "val_loss",
    "accuracy",
)

OUTPUT = Path(__file__).resolve().parent.parent / "data" / "example_runs.csv"


def law_loss(params: np.ndarray | float, tokens: np.ndarray | float) -> np.ndarray:
    """Noise-free loss (nats) of the generating law at N params and D tokens."""
    law = TRUE_LAW
    return (
        law["E"]
        + law["A"] / np.power(params, law["alpha"])
        + law["B"] / np.power(tokens, law["beta"])
    )


def _size_label(params: float) -> str:
    """A human label for a parameter count: 20M, 350M, 1B."""
    return f"{params / 1e9:g}B" if params >= 1e9 else f"{params / 1e6:g}M"


def _budgets_for(size_index: int, rng: np.random.Generator) -> tuple[float, ...]:
    """2–4 contiguous tokens-per-parameter ratios, shifted with size so budgets overlap."""
    n_runs = int(rng.integers(2, 5))
    start = min(size_index % 3, len(TOKENS_PER_PARAM) - n_runs)
    return TOKENS_PER_PARAM[start : start + n_runs]


ACCURACY_NOISE = 0.01
"""Absolute noise on the synthetic downstream accuracy."""


def accuracy_of(loss: np.ndarray | float) -> np.ndarray:
    """The generating loss → accuracy map: chance 0.25 rising to 0.9, midpoint at loss 3.6."""
    return 0.25 + 0.65 / (1.0 + np.exp(4.0 * (np.asarray(loss) - 3.6)))


def generate_rows(seed: int = SEED) -> list[dict[str, object]]:
    """All rows of the example file, one per (run, evaluation step)."""
    rng = np.random.default_rng(seed)
    # The accuracy has its own stream, so adding it left every loss in the file unchanged.
    accuracy_rng = np.random.default_rng(seed + 1)
    rows: list[dict[str, object]] = []
    for size_index, params in enumerate(MODEL_SIZES):
        # Smaller models conventionally get larger learning rates and smaller batches.
        learning_rate = float(f"{3e-4 * (1e9 / params) ** 0.25:.2e}")
        batch_size = 64 if params < 1e8 else 128 if params < 5e8 else 256
        tokens_per_step = batch_size * SEQUENCE_LENGTH
        for ratio in _budgets_for(size_index, rng):
            total_steps = int(np.ceil(ratio * params / tokens_per_step))
            run = f"{_size_label(params)}-{int(ratio)}tpp"
            eval_steps = np.unique(np.linspace(total_steps / N_EVALS, total_steps, N_EVALS))
            for step in np.round(eval_steps).astype(int):
                tokens = int(step) * tokens_per_step
                clean = float(law_loss(params, tokens))
                val_loss = clean * float(np.exp(rng.normal(0.0, NOISE_SIGMA)))
                train_loss = 0.99 * clean * float(np.exp(rng.normal(0.0, NOISE_SIGMA)))
                rows.append(
                    {
                        "run": run,
                        "params": int(params),
                        "tokens": tokens,
                        "steps": int(step),
                        "batch_size": batch_size,
                        "learning_rate": learning_rate,
                        "train_loss": round(train_loss, 5),
                        "val_loss": round(val_loss, 5),
                        "accuracy": round(
                            float(accuracy_of(clean)) + accuracy_rng.normal(0, ACCURACY_NOISE), 4
                        ),
                    }
                )
    return rows


def render_csv(rows: list[dict[str, object]]) -> str:
    """The CSV text (Unix newlines) for ``rows``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) the committed example file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render_csv(generate_rows())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; rerun scripts/make_example_runs.py")
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({text.count(chr(10)) - 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
