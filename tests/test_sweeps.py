"""Sweeps: critical batch size from McCandlish's relation; LR transfer across widths."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scaling_core.sweeps import SweepError, critical_batch_size, lr_transfer

S_MIN, B_CRIT = 1000.0, 256.0
BATCHES = np.geomspace(16, 4096, 9)
WIDTHS = np.array([256.0, 512.0, 1024.0, 2048.0, 4096.0])
LR_GRID = np.geomspace(1e-4, 1e-1, 13)


def batch_sweep(sigma: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Steps to the target loss from S = S_min·(1 + B_crit/B), with relative noise σ."""
    rng = np.random.default_rng(seed)
    steps = S_MIN * (1 + B_CRIT / BATCHES) * np.exp(rng.normal(0, sigma, BATCHES.size))
    return BATCHES, steps


def test_exact_relation_is_recovered():
    b, s = batch_sweep(0.0)
    e = b * s
    r = critical_batch_size(b, s, e, n_resamples=20)
    assert r.b_crit == pytest.approx(B_CRIT, rel=1e-8)
    assert r.s_min == pytest.approx(S_MIN, rel=1e-8)
    assert r.e_min == pytest.approx(S_MIN * B_CRIT, rel=1e-8)
    # McCandlish's relation holds at every sweep point.
    np.testing.assert_allclose((s / r.s_min - 1) * (e / r.e_min - 1), 1.0, rtol=1e-7)
    # At B = B_crit both steps and examples are twice their minima.
    assert r.steps_at(B_CRIT) == pytest.approx(2 * S_MIN)
    assert r.examples_at(B_CRIT) == pytest.approx(2 * S_MIN * B_CRIT)


def test_noisy_sweep_interval_contains_truth():
    b, s = batch_sweep(0.03, seed=0)
    r = critical_batch_size(b, s, n_resamples=200, seed=0)
    assert r.b_crit == pytest.approx(B_CRIT, rel=0.15)
    lo, hi = r.b_crit_interval
    assert lo < B_CRIT < hi and lo <= r.b_crit <= hi
    assert r.n_resamples_used == 200
    assert 0.005 < r.residual_std < 0.06
    out = r.to_json()
    json.dumps(out)
    assert out["n_points"] == 9


def test_critical_batch_errors():
    b, s = batch_sweep(0.0)
    with pytest.raises(SweepError, match="examples must equal"):
        critical_batch_size(b, s, examples=b * s * 2048)  # tokens vs sequences
    with pytest.raises(SweepError, match="at least 3 points"):
        critical_batch_size([64, 64, 64], [10, 11, 12])
    with pytest.raises(SweepError, match="positive"):
        critical_batch_size([64, -1, 128], [10, 11, 12])
    with pytest.raises(SweepError, match="steps has"):
        critical_batch_size(b, s[:-1])
    assert issubclass(SweepError, ValueError)


def lr_sweep(star: np.ndarray, sigma: float = 0.002, seed: int = 0):
    """Loss = L0(width) + 0.05·(log LR − log LR*(width))² + noise, on a 13-point LR grid."""
    rng = np.random.default_rng(seed)
    w = np.repeat(WIDTHS, LR_GRID.size)
    lr = np.tile(LR_GRID, WIDTHS.size)
    lr_star = np.repeat(star, LR_GRID.size)
    loss = 2.0 + 1.0 / np.log(w) + 0.05 * (np.log(lr) - np.log(lr_star)) ** 2
    return w, lr, loss + rng.normal(0, sigma, w.size)


def test_mup_like_sweep_transfers():
    r = lr_transfer(*lr_sweep(np.full(WIDTHS.size, 3e-3)))
    assert r.verdict == "transfers" and r.transfers is True
    assert abs(r.slope) < 0.05
    for o in r.optima:
        assert o.method == "parabola" and not o.at_edge
        assert o.lr_star == pytest.approx(3e-3, rel=0.1)
    assert "transfers" in r.sentence()
    json.dumps(r.to_json())


def test_sp_like_sweep_drifts_as_one_over_width():
    r = lr_transfer(*lr_sweep(3e-3 * 1024 / WIDTHS))
    assert r.verdict == "drifts" and r.transfers is False
    assert r.slope == pytest.approx(-1.0, abs=0.05)
    lo, hi = r.slope_interval
    assert hi < 0 and lo < -1.0 < hi + 0.05
    assert "drifts" in r.sentence()


def test_edge_optimum_is_flagged_and_left_out():
    star = 3e-3 * 1024 / WIDTHS
    star[0] = 1.0  # far above the grid for the narrowest width
    r = lr_transfer(*lr_sweep(star))
    assert r.optima[0].at_edge and r.optima[0].method == "grid"
    assert r.optima[0].lr_star == LR_GRID.max()
    assert r.n_widths_used == 4
    assert r.slope == pytest.approx(-1.0, abs=0.05)


def test_two_widths_is_inconclusive():
    w, lr, loss = lr_sweep(np.full(WIDTHS.size, 3e-3))
    keep = w <= 512
    r = lr_transfer(w[keep], lr[keep], loss[keep])
    assert r.slope is not None and r.slope_interval is None
    assert r.verdict == "inconclusive" and r.transfers is None


def test_lr_transfer_errors():
    with pytest.raises(SweepError, match="at least 3"):
        lr_transfer([256, 256], [1e-3, 2e-3], [2.0, 1.9])
    with pytest.raises(SweepError, match="same length"):
        lr_transfer([256, 256, 256], [1e-3, 2e-3], [2.0, 1.9, 2.1])
    with pytest.raises(SweepError, match="finite"):
        lr_transfer([256] * 3, [1e-3, 2e-3, 4e-3], [2.0, np.nan, 2.1])


def test_steps_to_target_reads_each_batch_sizes_fastest_run() -> None:
    from scaling_core.sweeps import steps_to_target

    s_min, e_min = 1000.0, 2.56e5
    run, batch, step, loss = [], [], [], []
    for b in (32, 128, 512, 2048):
        s_target = s_min + e_min / b
        for slowdown in (1.0, 1.7):  # a second, under-tuned run at the same batch size
            for s in np.geomspace(50, 20 * s_target * slowdown, 30):
                run.append(f"b{b}-x{slowdown}")
                batch.append(b)
                step.append(s)
                loss.append(2 + 3 * (s_target * slowdown / s) ** 0.5)
    sizes, steps, target = steps_to_target(np.array(run), np.array(batch), np.array(step),
                                           np.array(loss), target=5.0)  # fmt: skip
    assert target == 5.0
    np.testing.assert_allclose(sizes, [32, 128, 512, 2048])
    np.testing.assert_allclose(steps, s_min + e_min / sizes, rtol=0.02)
