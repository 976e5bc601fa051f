"""Tests for scaling_core.regimes: saturation near the floor, inverse- and non-scaling flags."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_core.laws import get_law
from scaling_core.regimes import (
    SATURATION_FRACTION,
    reducible_fraction,
    saturated_mask,
    scaling_direction_flags,
    slope_evidence,
)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    a=st.floats(1.0, 1e3),
    b=st.floats(0.1, 1.0),
    c=st.floats(0.5, 3.0),
)
def test_saturated_only_near_the_floor(a: float, b: float, c: float) -> None:
    law = get_law("power")
    params = {"a": a, "b": b, "c": c}
    x = np.geomspace(1e2, 1e16, 80)
    mask = saturated_mask(law, params, {"x": x})
    reducible = a * x**-b
    expected = reducible / (reducible + c) < SATURATION_FRACTION
    np.testing.assert_array_equal(mask, expected)
    # saturation is a tail: once saturated, larger x stays saturated
    if mask.any():
        first = int(np.argmax(mask))
        assert mask[first:].all() and not mask[:first].any()
        # every saturated point is within 5% of the floor
        assert np.all(law.predict(params, {"x": x[mask]}) < c / (1 - SATURATION_FRACTION))


def test_saturation_on_a_concrete_curve() -> None:
    law = get_law("power")
    params = {"a": 10.0, "b": 0.5, "c": 2.0}
    # reducible part 10/sqrt(x): 10, 1, 0.1, 0.01 at x = 1, 100, 1e4, 1e6
    x = np.array([1.0, 100.0, 1e4, 1e6])
    np.testing.assert_array_equal(saturated_mask(law, params, {"x": x}), [False, False, True, True])
    frac = reducible_fraction(law, params, {"x": x})
    np.testing.assert_allclose(frac, [10 / 12, 1 / 3, 0.1 / 2.1, 0.01 / 2.01], rtol=1e-12)


def test_no_floor_means_never_saturated() -> None:
    law = get_law("power_nofloor")
    x = np.geomspace(1, 1e20, 10)
    assert reducible_fraction(law, {"a": 1.0, "b": 0.5}, {"x": x}) is None
    assert not saturated_mask(law, {"a": 1.0, "b": 0.5}, {"x": x}).any()


def test_chinchilla_saturation_uses_E() -> None:
    law = get_law("chinchilla")
    params = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}
    X = {"N": np.array([1e7, 1e14]), "D": np.array([1e9, 1e17])}
    np.testing.assert_array_equal(saturated_mask(law, params, X), [False, True])


# ---------------------------------------------------------------------------------------------
# Slope evidence and flags
# ---------------------------------------------------------------------------------------------


def _series(slope: float, noise: float, n: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e18, 1e22, n)
    metric = 3.0 * (x / 1e18) ** slope * np.exp(noise * rng.standard_normal(n))
    return x, metric


@settings(max_examples=20, deadline=None, derandomize=True)
@given(slope=st.floats(0.05, 0.5), seed=st.integers(0, 10_000))
def test_slope_evidence_detects_increasing_series(slope: float, seed: int) -> None:
    x, metric = _series(slope, noise=0.01, seed=seed)
    ev = slope_evidence(x, metric)
    assert ev is not None
    assert ev.slope == pytest.approx(slope, abs=0.01)
    assert ev.low > 0 and ev.low <= ev.slope <= ev.high
    assert ev.worsens(lower_is_better=True)
    assert not ev.worsens(lower_is_better=False)
    assert not ev.flat()
    assert ev.n_points == 12


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000))
def test_slope_evidence_flat_series_contains_zero(seed: int) -> None:
    """Chance-level noise without a trend: a palindrome over symmetric log-x has OLS slope 0.

    (With i.i.d. noise a 95% interval misses zero 5% of the time by construction, so the
    series is made trend-free exactly rather than in expectation.)
    """
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e18, 1e22, 15)
    half = 0.25 + 0.01 * rng.uniform(-1, 1, 8)
    metric = np.concatenate([half, half[-2::-1]])
    ev = slope_evidence(x, metric)
    assert ev is not None
    assert ev.slope == pytest.approx(0.0, abs=1e-9)
    assert ev.low < 0 < ev.high
    assert ev.flat()
    assert not ev.worsens(True) and not ev.worsens(False)


def test_slope_evidence_is_reproducible_and_needs_data() -> None:
    x, metric = _series(-0.1, noise=0.05)
    assert slope_evidence(x, metric, seed=3) == slope_evidence(x, metric, seed=3)
    assert slope_evidence(x[:2], metric[:2]) is None
    assert slope_evidence(np.full(5, 1e9), metric[:5]) is None


def _numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"[+-]?\d+\.\d+", text)]


def test_inverse_scaling_flag_carries_its_numbers() -> None:
    x, metric = _series(0.2, noise=0.01)
    flags = scaling_direction_flags({"truthfulqa": (x, metric)}, "compute")
    assert len(flags) == 1
    flag = flags[0]
    assert flag.series == "truthfulqa" and flag.kind == "inverse_scaling"
    ev = flag.evidence
    assert ev.low > 0
    assert "truthfulqa" in flag.sentence and "compute" in flag.sentence
    assert f"{ev.slope:+.3f}" in flag.sentence
    assert f"{ev.low:+.3f}" in flag.sentence and f"{ev.high:+.3f}" in flag.sentence
    assert str(ev.n_points) in flag.sentence
    assert _numbers(flag.sentence)[0] == pytest.approx(0.2, abs=0.01)


def test_non_scaling_flag_carries_its_numbers() -> None:
    rng = np.random.default_rng(1)
    x = np.geomspace(1e18, 1e22, 10)
    metric = 2.5 + 0.02 * rng.standard_normal(10)
    flags = scaling_direction_flags({"flat task": (x, metric)}, "params")
    assert [f.kind for f in flags] == ["non_scaling"]
    flag = flags[0]
    assert flag.evidence.flat()
    assert "flat task" in flag.sentence and "includes zero" in flag.sentence
    assert f"{flag.evidence.slope:+.3f}" in flag.sentence
    assert f"{flag.evidence.low:+.3f}" in flag.sentence
    assert "10 runs" in flag.sentence


def test_healthy_series_are_not_flagged() -> None:
    series = {
        name: _series(-s, noise=0.01, seed=i)
        for i, (name, s) in enumerate([("loss a", 0.05), ("loss b", 0.1), ("loss c", 0.3)])
    }
    assert scaling_direction_flags(series, "compute") == []


def test_higher_is_better_direction() -> None:
    """For accuracy, a falling series is inverse scaling and a rising one is healthy."""
    falling = _series(-0.2, noise=0.01)
    rising = _series(0.2, noise=0.01, seed=1)
    flags = scaling_direction_flags(
        {"acc falling": falling, "acc rising": rising}, "compute", lower_is_better=False
    )
    assert [(f.series, f.kind) for f in flags] == [("acc falling", "inverse_scaling")]


def test_mixed_series_flag_only_the_unhealthy_ones() -> None:
    series = {
        "good": _series(-0.2, noise=0.01),
        "worse": _series(0.15, noise=0.01, seed=2),
        "too short": _series(0.5, noise=0.0, n=2),
    }
    flags = scaling_direction_flags(series, "tokens")
    assert [(f.series, f.kind) for f in flags] == [("worse", "inverse_scaling")]
