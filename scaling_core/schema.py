"""Canonical columns, units and the ``RunTable`` every layer below ingest speaks.

Why a table of plain arrays: the math modules must not depend on pandas or on the store, and
arrays make the units explicit. One row of a ``RunTable`` is one *run* (a trained model), already
reduced from its step-level log by ingest/store.

Units (fixed, never guessed downstream):
- ``params``  — parameter count N (count, not millions)
- ``tokens``  — training tokens D (count)
- ``compute`` — training compute C in FLOPs; when a file has none, C = 6·N·D
- ``loss``    — the metric being fitted, nats for losses (lower is better)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FLOPS_PER_PARAM_TOKEN = 6.0
"""Dense-transformer training cost, C ≈ 6·N·D FLOPs (Kaplan et al. 2020; Hoffmann et al. 2022)."""

RESOURCES: tuple[str, ...] = ("params", "tokens", "compute")
"""The scale variables a single-resource law can be fitted against."""

RESOURCE_LABELS: dict[str, str] = {
    "params": "parameters N",
    "tokens": "training tokens D",
    "compute": "training compute C (FLOPs)",
}

CANONICAL_COLUMNS: dict[str, str] = {
    "run": "run identifier (text)",
    "params": "parameter count N",
    "tokens": "training tokens D",
    "flops": "training compute C in FLOPs",
    "loss": "the loss to fit (nats)",
    "train_loss": "training loss (nats)",
    "val_loss": "validation loss (nats)",
    "step": "optimizer step of this evaluation",
    "batch_size": "batch size (sequences or tokens, as logged)",
    "learning_rate": "peak learning rate",
    "group": "architecture / recipe / family label (text)",
    "metric": "a downstream metric such as accuracy, for the loss → metric map",
}
"""Every column ingest can map a user's header onto, with what it means."""


@dataclass(frozen=True)
class RunTable:
    """One row per trained run, float64 arrays of equal length ``n``.

    Build with :meth:`from_arrays`, which fills the missing one of tokens / compute from
    C = 6·N·D and checks shapes, so a ``RunTable`` is always complete and consistent.
    """

    run: np.ndarray
    """Run names, dtype object (str)."""
    params: np.ndarray
    """N, parameters (count)."""
    tokens: np.ndarray
    """D, training tokens (count)."""
    compute: np.ndarray
    """C, training FLOPs."""
    loss: np.ndarray
    """The metric being fitted (nats for a loss)."""
    group: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    """Optional architecture/recipe label per run (empty array when absent)."""
    metric: np.ndarray = field(default_factory=lambda: np.array([], dtype=float))
    """Optional downstream metric per run (accuracy…; NaN where a run has none; empty when the
    table has no such column)."""

    @staticmethod
    def from_arrays(
        *,
        params: np.ndarray,
        loss: np.ndarray,
        tokens: np.ndarray | None = None,
        compute: np.ndarray | None = None,
        run: np.ndarray | None = None,
        group: np.ndarray | None = None,
        metric: np.ndarray | None = None,
    ) -> RunTable:
        """Complete the table: derive D = C/(6N) or C = 6·N·D when only one is given."""
        params = np.asarray(params, dtype=float)
        loss = np.asarray(loss, dtype=float)
        if tokens is None and compute is None:
            raise ValueError("a run table needs tokens or compute (FLOPs) besides params")
        if tokens is None:
            compute = np.asarray(compute, dtype=float)
            tokens = compute / (FLOPS_PER_PARAM_TOKEN * params)
        else:
            tokens = np.asarray(tokens, dtype=float)
            if compute is None:
                compute = FLOPS_PER_PARAM_TOKEN * params * tokens
            compute = np.asarray(compute, dtype=float)
        n = params.shape[0]
        if run is None:
            run = np.array([f"run {i + 1}" for i in range(n)], dtype=object)
        run = np.asarray(run, dtype=object)
        group = np.array([], dtype=object) if group is None else np.asarray(group, dtype=object)
        for name, arr in (("tokens", tokens), ("compute", compute), ("loss", loss), ("run", run)):
            if arr.shape != (n,):
                raise ValueError(f"column {name!r} has shape {arr.shape}, expected ({n},)")
        if group.size and group.shape != (n,):
            raise ValueError(f"column 'group' has shape {group.shape}, expected ({n},)")
        metric = np.array([], dtype=float) if metric is None else np.asarray(metric, dtype=float)
        if metric.size and metric.shape != (n,):
            raise ValueError(f"column 'metric' has shape {metric.shape}, expected ({n},)")
        return RunTable(
            run=run,
            params=params,
            tokens=tokens,
            compute=compute,
            loss=loss,
            group=group,
            metric=metric,
        )

    @property
    def n(self) -> int:
        """Number of runs."""
        return int(self.params.shape[0])

    def resource(self, name: str) -> np.ndarray:
        """The scale column called ``name`` (one of :data:`RESOURCES`)."""
        if name not in RESOURCES:
            raise ValueError(f"unknown resource {name!r}; expected one of {', '.join(RESOURCES)}")
        return getattr(self, name)

    def subset(self, mask: np.ndarray) -> RunTable:
        """The runs where ``mask`` (bool, shape (n,)) is true."""
        mask = np.asarray(mask, dtype=bool)
        return RunTable(
            run=self.run[mask],
            params=self.params[mask],
            tokens=self.tokens[mask],
            compute=self.compute[mask],
            loss=self.loss[mask],
            group=self.group[mask] if self.group.size else self.group,
            metric=self.metric[mask] if self.metric.size else self.metric,
        )

    def without_highest_loss(self, k: int) -> RunTable:
        """Drop the ``k`` highest-loss runs (Epoch AI's filter: the worst 5 of Chinchilla's 245).

        Mirrors ``losses[i] < sorted(losses)[-k]``: ties with the k-th highest are dropped too.
        """
        if k <= 0 or k >= self.n:
            return self
        threshold = np.sort(self.loss)[-k]
        return self.subset(self.loss < threshold)
