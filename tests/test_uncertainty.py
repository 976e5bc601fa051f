"""Tests for scaling_core.uncertainty: the bootstrap over runs and the delta-method band."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scaling_core.fitting import FitResult, fit_law
from scaling_core.laws import get_law
from scaling_core.schema import RunTable
from scaling_core.uncertainty import (
    BootstrapResult,
    bootstrap_band,
    bootstrap_fit,
    delta_method_band,
    percentile_interval,
)

CHINCHILLA = get_law("chinchilla")

# Epoch AI (Besiroglu et al. 2024), 95% bootstrap intervals from 4000 resamples, 240 rows.
EPOCH_INTERVALS = {
    "A": (285.2, 743.6),
    "B": (1042.4, 5810.3),
    "E": (1.769, 1.871),
    "alpha": (0.317, 0.373),
    "beta": (0.331, 0.415),
}


def _inputs(table: RunTable) -> dict[str, np.ndarray]:
    return {"N": table.params, "D": table.tokens}


@pytest.fixture(scope="module")
def chinchilla_fit(chinchilla_240: RunTable) -> FitResult:
    return fit_law(CHINCHILLA, _inputs(chinchilla_240), chinchilla_240.loss)


@pytest.fixture(scope="module")
def chinchilla_boot(chinchilla_240: RunTable, chinchilla_fit: FitResult) -> BootstrapResult:
    return bootstrap_fit(
        CHINCHILLA,
        _inputs(chinchilla_240),
        chinchilla_240.loss,
        chinchilla_fit,
        n_resamples=400,
        seed=0,
    )


def test_chinchilla_bootstrap_intervals_match_epoch_widths(
    chinchilla_boot: BootstrapResult, chinchilla_fit: FitResult
) -> None:
    assert chinchilla_boot.n_resamples == 400
    assert chinchilla_boot.n_failed <= 4  # ≤ 1% of resamples may fail to converge
    assert chinchilla_boot.thetas.shape == (400 - chinchilla_boot.n_failed, 5)
    intervals = chinchilla_boot.intervals(0.95)
    assert set(intervals) == set(EPOCH_INTERVALS)
    for name, (lo, hi) in EPOCH_INTERVALS.items():
        ours_lo, ours_hi = intervals[name]
        ratio = (ours_hi - ours_lo) / (hi - lo)
        assert 1 / 1.5 <= ratio <= 1.5, f"{name}: width ratio {ratio:.2f} vs Epoch"
        assert ours_lo < chinchilla_fit.params[name] < ours_hi
        assert ours_lo < hi and lo < ours_hi, f"{name}: no overlap with Epoch's interval"


def test_bootstrap_interval_levels_nest(chinchilla_boot: BootstrapResult) -> None:
    wide = chinchilla_boot.intervals(0.95)
    narrow = chinchilla_boot.intervals(0.5)
    for name in wide:
        assert wide[name][0] <= narrow[name][0] <= narrow[name][1] <= wide[name][1]


def test_bootstrap_band_contains_point_fit_curve(
    chinchilla_240: RunTable, chinchilla_fit: FitResult, chinchilla_boot: BootstrapResult
) -> None:
    # along the compute-optimal-ish diagonal D = 20 N, through and beyond the observed range
    N = np.geomspace(1e8, 1e11, 25)
    grid = {"N": N, "D": 20 * N}
    low, high = bootstrap_band(CHINCHILLA, chinchilla_boot, grid)
    point = CHINCHILLA.predict(chinchilla_fit.params, grid)
    assert low.shape == high.shape == (25,)
    assert np.all(low <= point) and np.all(point <= high)
    assert np.all(high - low > 0)
    # and on the observed runs
    obs = _inputs(chinchilla_240)
    low_o, high_o = bootstrap_band(CHINCHILLA, chinchilla_boot, obs)
    point_o = CHINCHILLA.predict(chinchilla_fit.params, obs)
    assert np.all(low_o <= point_o) and np.all(point_o <= high_o)


def _small_power_problem(seed: int, noise: float = 0.05, n: int = 20):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e6, 1e10, n)
    y = 200 * x**-0.3 * np.exp(noise * rng.standard_normal(n))
    return {"x": x}, y


def test_bootstrap_is_reproducible_per_seed() -> None:
    law = get_law("power_nofloor")
    X, y = _small_power_problem(0)
    fit = fit_law(law, X, y)
    a = bootstrap_fit(law, X, y, fit, n_resamples=60, seed=7)
    b = bootstrap_fit(law, X, y, fit, n_resamples=60, seed=7)
    c = bootstrap_fit(law, X, y, fit, n_resamples=60, seed=8)
    np.testing.assert_array_equal(a.thetas, b.thetas)
    assert a.intervals() == b.intervals()
    assert a.seed == 7 and c.seed == 8
    assert not np.array_equal(a.thetas, c.thetas)
    assert a.intervals() != c.intervals()


def test_bootstrap_coverage_on_synthetic_power_laws() -> None:
    """The true exponent lies in the 95% interval in ≥ 80% of 40 replicate data sets."""
    law = get_law("power_nofloor")
    replicates, hits = 40, 0
    for rep in range(replicates):
        X, y = _small_power_problem(1000 + rep)
        fit = fit_law(law, X, y)
        boot = bootstrap_fit(law, X, y, fit, n_resamples=100, seed=rep)
        lo, hi = boot.intervals()["b"]
        assert lo < hi
        hits += lo <= 0.3 <= hi
    assert hits >= 0.8 * replicates, f"coverage {hits}/{replicates}"


def test_progress_callback_reports_increasing_fractions_ending_at_one() -> None:
    law = get_law("power_nofloor")
    X, y = _small_power_problem(1)
    fit = fit_law(law, X, y)
    seen: list[float] = []
    boot = bootstrap_fit(law, X, y, fit, n_resamples=600, seed=0, progress=seen.append)
    assert len(seen) >= 2
    assert all(0.0 < f <= 1.0 for f in seen)
    assert all(a < b for a, b in itertools.pairwise(seen))
    assert seen[-1] == 1.0
    assert boot.thetas.shape[0] + boot.n_failed == 600


def test_bootstrap_rejects_zero_resamples() -> None:
    law = get_law("power_nofloor")
    X, y = _small_power_problem(2)
    fit = fit_law(law, X, y)
    with pytest.raises(ValueError, match="at least 1"):
        bootstrap_fit(law, X, y, fit, n_resamples=0)


def test_percentile_interval_ignores_non_finite() -> None:
    samples = np.concatenate([np.linspace(0, 1, 101), [np.nan, np.inf]])
    lo, hi = percentile_interval(samples, 0.9)
    assert lo == pytest.approx(0.05) and hi == pytest.approx(0.95)
    assert all(np.isnan(v) for v in percentile_interval(np.array([np.nan])))


def test_delta_method_band_brackets_and_is_narrower_where_data_are_dense() -> None:
    law = get_law("power_nofloor")
    rng = np.random.default_rng(4)
    # dense data between 1e6 and 1e8, nothing beyond
    x = np.geomspace(1e6, 1e8, 40)
    y = 50 * x**-0.25 * np.exp(0.02 * rng.standard_normal(x.size))
    fit = fit_law(law, {"x": x}, y)
    assert fit.covariance is not None
    grid = np.geomspace(1e6, 1e12, 60)
    band = delta_method_band(law, fit, {"x": grid})
    assert band is not None
    low, high = band
    point = law.predict(fit.params, {"x": grid})
    assert np.all(low < point) and np.all(point < high)
    rel_width = (high - low) / point
    centre = np.argmin(np.abs(np.log(grid) - np.log(1e7)))
    assert rel_width[centre] < rel_width[-1] / 3
    # beyond the data the band only widens
    beyond = grid > 1e8
    assert np.all(np.diff(rel_width[beyond]) > 0)
    # a wider level gives a wider band
    low99, high99 = delta_method_band(law, fit, {"x": grid}, level=0.99)
    assert np.all(low99 < low) and np.all(high99 > high)


def test_delta_method_band_for_chinchilla(chinchilla_fit: FitResult) -> None:
    N = np.geomspace(1e8, 1e12, 10)
    grid = {"N": N, "D": 20 * N}
    band = delta_method_band(CHINCHILLA, chinchilla_fit, grid)
    assert band is not None
    low, high = band
    point = CHINCHILLA.predict(chinchilla_fit.params, grid)
    assert np.all(low < point) and np.all(point < high)
    rel = (high - low) / point
    assert rel[-1] > rel[0]
