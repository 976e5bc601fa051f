"""The loss → metric map and the two-step downstream forecast."""

from __future__ import annotations

import numpy as np
import pytest

from scaling_core.allocation import optimal_allocation
from scaling_core.downstream import MIN_POINTS, fit_loss_to_metric, two_step_forecast
from scaling_core.fitting import FitInputError, fit_law
from scaling_core.laws import get_law
from scaling_core.uncertainty import bootstrap_fit

CHINCHILLA = get_law("chinchilla")
TRUE = {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.36}


def accuracy_of(loss: np.ndarray) -> np.ndarray:
    return 0.25 + 0.65 / (1.0 + np.exp(4.0 * (loss - 2.6)))


def synthetic(seed: int = 0, noise: float = 0.01):
    """Runs on a grid of N and tokens-per-parameter, with loss and accuracy from known maps."""
    rng = np.random.default_rng(seed)
    n = np.repeat(np.geomspace(2e7, 2e9, 8), 3)
    d = n * np.tile([8.0, 20.0, 50.0], 8)
    loss = CHINCHILLA.predict(TRUE, {"N": n, "D": d}) * np.exp(rng.normal(0, 0.003, n.size))
    accuracy = accuracy_of(loss) + rng.normal(0, noise, n.size)
    return n, d, loss, accuracy


def test_the_map_recovers_a_known_sigmoid() -> None:
    _, _, loss, accuracy = synthetic()
    mapping = fit_loss_to_metric(loss, accuracy)
    grid = np.linspace(loss.min(), loss.max(), 20)
    np.testing.assert_allclose(mapping.predict(grid), accuracy_of(grid), atol=0.03)
    low, high = mapping.band(grid)
    assert np.all(low <= mapping.predict(grid) + 1e-12) and np.all(mapping.predict(grid) <= high)


def test_two_step_forecast_brackets_the_truth_and_is_wider_than_the_map_alone() -> None:
    n, d, loss, accuracy = synthetic(seed=3)
    X = {"N": n, "D": d}
    fit = fit_law(CHINCHILLA, X, loss)
    boot = bootstrap_fit(CHINCHILLA, X, loss, fit, n_resamples=200, seed=1)
    mapping = fit_loss_to_metric(loss, accuracy, seed=2)
    compute = 1e21
    forecast = two_step_forecast(CHINCHILLA, fit.params, boot, mapping, compute)
    true_loss = optimal_allocation(CHINCHILLA, TRUE, compute).loss_opt
    low, high = forecast.metric_interval
    assert low <= accuracy_of(np.array(true_loss)) <= high
    map_low, map_high = mapping.band(np.array([forecast.loss]))
    assert high - low > float(map_high[0] - map_low[0])  # two uncertain steps, a wider band
    assert forecast.loss_interval[0] < forecast.loss < forecast.loss_interval[1]
    assert "less predictably" in forecast.caveat
    assert set(forecast.to_json()) >= {"metric", "metric_interval", "loss", "caveat"}


def test_too_few_metric_values_is_a_clear_error() -> None:
    loss = np.linspace(2.0, 4.0, 10)
    metric = np.full(10, np.nan)
    metric[: MIN_POINTS - 1] = 0.5
    with pytest.raises(FitInputError, match="downstream metric"):
        fit_loss_to_metric(loss, metric)


def test_zero_metric_values_are_left_out_and_counted() -> None:
    _, _, loss, accuracy = synthetic(seed=4)
    accuracy[:2] = 0.0
    mapping = fit_loss_to_metric(loss, accuracy, n_resamples=50)
    assert mapping.n_left_out == 2
    assert mapping.loss.size == loss.size - 2


def test_constant_tokens_per_parameter_cannot_identify_the_joint_law() -> None:
    n = np.geomspace(1e7, 1e9, 8)
    with pytest.raises(FitInputError, match="same tokens per parameter"):
        fit_law(CHINCHILLA, {"N": n, "D": 20 * n}, 2 + 100 * n**-0.3)
