"""Budgets in accelerator-hours ↔ FLOPs.

Planning meetings talk in GPU-hours; scaling laws talk in FLOPs. The conversion is
``FLOPs = peak FLOP/s × utilisation (MFU) × accelerators × hours × 3600``. Peaks are dense BF16
tensor throughput without sparsity, from the vendors' data sheets; MFU is what a real training
run achieves (typically 0.3–0.6) and is always the user's choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Accelerator:
    """An accelerator type and its peak dense BF16 throughput (FLOP/s)."""

    name: str
    peak_bf16_flops: float


ACCELERATORS: dict[str, Accelerator] = {
    a.name: a
    for a in (
        Accelerator("NVIDIA A100 (SXM)", 312e12),
        Accelerator("NVIDIA H100 (SXM)", 989e12),
        Accelerator("NVIDIA H200 (SXM)", 989e12),
        Accelerator("NVIDIA B200", 2.25e15),
        Accelerator("AMD MI300X", 1307e12),
        Accelerator("Google TPU v4", 275e12),
        Accelerator("Google TPU v5e", 197e12),
        Accelerator("Google TPU v5p", 459e12),
    )
}
"""Preset accelerators by display name."""


def _check(mfu: float, count: float) -> None:
    if not (0 < mfu <= 1):
        raise ValueError(f"utilisation (MFU) must be in (0, 1], got {mfu!r}")
    if not (np.isfinite(count) and count > 0):
        raise ValueError(f"the accelerator count must be positive, got {count!r}")


def flops_from_hours(peak_flops: float, mfu: float, count: float, hours: float) -> float:
    """Training FLOPs delivered by ``count`` accelerators for ``hours`` wall-clock hours."""
    _check(mfu, count)
    if not (np.isfinite(hours) and hours > 0):
        raise ValueError(f"hours must be positive, got {hours!r}")
    return peak_flops * mfu * count * hours * SECONDS_PER_HOUR


def hours_from_flops(peak_flops: float, mfu: float, count: float, flops: float) -> float:
    """Wall-clock hours ``count`` accelerators need to deliver ``flops`` FLOPs."""
    _check(mfu, count)
    if not (np.isfinite(flops) and flops > 0):
        raise ValueError(f"the budget must be a positive number of FLOPs, got {flops!r}")
    return flops / (peak_flops * mfu * count * SECONDS_PER_HOUR)
