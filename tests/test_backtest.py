"""Backtests: known laws forecast their own held-out runs; a slope change does not; trust labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_core.backtest import (
    TRUST_LABELS,
    BacktestError,
    backtest,
    backtest_error_at,
    compute_equivalent_factor,
    leave_largest_out_curve,
    trust_label,
    trust_level,
    trust_sentence,
)
from scaling_core.laws import get_law
from scaling_core.schema import RunTable

POWER = {"a": 300.0, "b": 0.15, "c": 1.7}
"""L = 300·C^-0.15 + 1.7: about 2.55 nats at 1e17 FLOPs, 1.85 at 1e22."""
CHIN = {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.36}
COMPUTE = np.geomspace(1e17, 1e22, 16)


def power_runs(sigma: float, seed: int = 0) -> RunTable:
    """16 runs, compute 1e17…1e22 FLOPs, loss from the power law with log-normal noise σ."""
    rng = np.random.default_rng(seed)
    loss = get_law("power").predict(POWER, {"x": COMPUTE}) * np.exp(rng.normal(0, sigma, 16))
    return RunTable.from_arrays(params=np.sqrt(COMPUTE / 120.0), compute=COMPUTE, loss=loss)


def broken_runs(seed: int = 0) -> RunTable:
    """A curve whose slope flattens past 1e19 FLOPs (exponent 0.15 → 0.03): a power law fitted
    below the break forecasts far too optimistically above it."""
    rng = np.random.default_rng(seed)
    p = {"a": 300.0, "b0": 0.15, "b1": -0.12, "d1": 1e19, "f1": 0.5, "c": 1.7}
    loss = get_law("bnsl").predict(p, {"x": COMPUTE}) * np.exp(rng.normal(0, 0.001, 16))
    return RunTable.from_arrays(params=np.sqrt(COMPUTE / 120.0), compute=COMPUTE, loss=loss)


def test_power_law_backtest_is_accurate():
    b = backtest("power", power_runs(0.001), cutoff=1e20)
    assert b.n_train == 10 and b.n_test == 6
    assert b.max_extrapolation_ratio == pytest.approx(100.0)
    assert b.mape_pct < 1.0 and b.max_abs_error_pct < 1.0
    assert 0.5 < b.median_compute_factor < 2.0
    for h in b.held_out:
        assert h.extrapolation_ratio > 1.0
        assert h.error == pytest.approx(h.predicted - h.observed)
        assert h.relative_error_pct == pytest.approx(100 * h.error / h.observed)
        # Sign convention: k > 1 exactly when the run did better (lower loss) than forecast.
        assert h.factor_out_of_range == 0
        assert (h.compute_factor > 1.0) == (h.observed < h.predicted)
    ratios = [h.extrapolation_ratio for h in b.held_out]
    assert ratios == sorted(ratios)
    json.dumps(b.to_json())


def test_compute_factor_inverts_the_law():
    """The law at k× the run's compute predicts exactly the observed loss."""
    law = get_law("power")
    X = {"x": np.array([1e20])}
    observed = float(law.predict(POWER, {"x": np.array([3e20])})[0])
    k, out = compute_equivalent_factor(law, POWER, X, observed)
    assert out == 0 and k == pytest.approx(3.0, rel=1e-8)
    # Below the floor no amount of compute gets there: out of range on the "better" side.
    assert compute_equivalent_factor(law, POWER, X, 1.6) == (None, 1)


def test_compute_factor_joint_law_scales_n_and_d_by_root_k():
    law = get_law("chinchilla")
    X = {"N": np.array([1e9]), "D": np.array([2e10])}
    observed = float(law.predict(CHIN, {"N": np.array([2e9]), "D": np.array([4e10])})[0])
    k, out = compute_equivalent_factor(law, CHIN, X, observed)
    assert out == 0 and k == pytest.approx(4.0, rel=1e-8)


def test_chinchilla_backtest_on_compute_cutoff():
    rng = np.random.default_rng(1)
    n = np.repeat(np.geomspace(1e7, 3e9, 6), 5)
    d = np.tile(np.geomspace(2e8, 2e11, 5), 6)
    loss = get_law("chinchilla").predict(CHIN, {"N": n, "D": d})
    loss = loss * np.exp(rng.normal(0, 0.001, n.size))
    runs = RunTable.from_arrays(params=n, tokens=d, loss=loss)
    b = backtest("chinchilla", runs, cutoff=float(np.quantile(runs.compute, 0.7)))
    assert b.n_test >= 5
    assert b.mape_pct < 1.0
    assert 0.5 < b.median_compute_factor < 2.0
    json.dumps(b.to_json())


def test_slope_change_is_caught_and_grows_with_distance():
    b = backtest("power", broken_runs(), cutoff=2.2e19)
    # The law flattens above the break: runs do worse than the forecast (pred < obs, k < 1).
    assert b.mape_pct > 2.0
    assert b.mean_error_pct < 0 and b.median_compute_factor < 0.5
    abs_err = np.array([abs(h.relative_error_pct) for h in b.held_out])
    assert np.all(np.diff(abs_err) > 0)  # ordered by distance, the error only grows
    assert abs_err[-1] > 2 * abs_err[0]


def test_leave_largest_out_curve():
    curve = leave_largest_out_curve("power", broken_runs(), n_cutoffs=4)
    assert 2 <= len(curve) <= 4
    cutoffs = [b.cutoff for b in curve]
    assert cutoffs == sorted(cutoffs) and len(set(cutoffs)) == len(cutoffs)
    assert curve[0].n_train >= 8  # starts at the median run
    assert all(b.n_test >= 1 for b in curve)
    # The earliest cutoff extrapolates furthest across the break and misses most.
    assert curve[0].mape_pct == max(b.mape_pct for b in curve)
    err = backtest_error_at(curve, 10.0)
    assert err is not None and err > 0
    assert backtest_error_at(curve, 1e6) is None


def test_error_paths():
    runs = power_runs(0.001)
    with pytest.raises(BacktestError, match="at least 4 runs below"):
        backtest("power", runs, cutoff=2e17)
    with pytest.raises(BacktestError, match="nothing is held out"):
        backtest("power", runs, cutoff=1e23)
    with pytest.raises(BacktestError, match="finite"):
        backtest("power", runs, cutoff=float("nan"))
    with pytest.raises(ValueError, match="unknown resource"):
        backtest("power", runs, x="flops", cutoff=1e20)
    with pytest.raises(BacktestError, match="no usable cutoff"):
        leave_largest_out_curve("power", runs.subset(np.arange(16) < 4))
    with pytest.raises(BacktestError):
        leave_largest_out_curve("power", runs, min_train_fraction=1.5)
    assert issubclass(BacktestError, ValueError)


def test_trust_labels_by_distance():
    assert trust_label(0.5) == "interpolation"
    assert trust_label(1.0) == "interpolation"
    assert trust_label(2.0) == "near extrapolation (≤3×)"
    assert trust_label(20.0) == "far extrapolation (≤30×)"
    assert trust_label(100.0) == "speculative (>30×)"
    # A bad backtest at that distance tightens one step; a good one does not loosen.
    assert trust_label(2.0, 5.0) == "far extrapolation (≤30×)"
    assert trust_label(2.0, 0.5) == "near extrapolation (≤3×)"
    assert trust_label(100.0, 9.0) == "speculative (>30×)"
    with pytest.raises(ValueError):
        trust_label(0.0)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(1e-3, 1e6),
    st.floats(1e-3, 1e6),
    st.one_of(st.none(), st.floats(0.0, 50.0)),
)
def test_trust_level_monotone_in_distance_and_error(r1, r2, err):
    lo, hi = sorted((r1, r2))
    assert trust_level(lo, err) <= trust_level(hi, err)
    assert trust_level(hi, None) <= trust_level(hi, err)
    assert trust_label(hi, err) in TRUST_LABELS


def test_trust_sentence_has_the_numbers():
    s = trust_sentence(12.0, 3.1)
    assert "12×" in s and "3.1%" in s and "speculative" in s
    assert "distance alone" in trust_sentence(12.0)
    assert "within the fitted compute range" in trust_sentence(0.8, 0.2)
