"""Compute-optimal allocation: closed form vs brute force, published numbers, intervals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_core.allocation import (
    allocation_exponents,
    allocation_intervals,
    isoflop_curve,
    optimal_allocation,
)
from scaling_core.fitting import fit_law
from scaling_core.laws import get_law
from scaling_core.uncertainty import bootstrap_fit

CHINCHILLA = get_law("chinchilla")
KAPLAN = get_law("kaplan")
HOFFMANN_UNROUNDED = {
    "E": 1.6934,
    "A": 406.40,
    "B": 410.75,
    "alpha": 0.33917084,
    "beta": 0.2849083,
}


def brute_force_optimum(law, params: dict[str, float], compute: float) -> tuple[float, float]:
    """Dense search of the isoFLOP line: (N*, L*) to ~0.01% in N."""
    n_values = np.geomspace(1e3, compute / 6 / 1e3, 400_001)
    losses = isoflop_curve(law, params, compute, n_values)
    i = int(np.argmin(losses))
    return float(n_values[i]), float(losses[i])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    E=st.floats(1.0, 3.0),
    A=st.floats(50.0, 5000.0),
    B=st.floats(50.0, 5000.0),
    alpha=st.floats(0.15, 0.7),
    beta=st.floats(0.15, 0.7),
    log_c=st.floats(np.log(1e19), np.log(1e26)),
)
def test_closed_form_matches_brute_force_search(E, A, B, alpha, beta, log_c) -> None:
    params = {"E": E, "A": A, "B": B, "alpha": alpha, "beta": beta}
    compute = float(np.exp(log_c))
    alloc = optimal_allocation(CHINCHILLA, params, compute)
    n_brute, loss_brute = brute_force_optimum(CHINCHILLA, params, compute)
    assert alloc.params_opt == pytest.approx(n_brute, rel=2e-3)
    assert alloc.loss_opt <= loss_brute + 1e-12
    assert alloc.params_opt * alloc.tokens_opt * 6 == pytest.approx(compute, rel=1e-9)
    assert alloc.tokens_per_param == pytest.approx(alloc.tokens_opt / alloc.params_opt)


def test_numeric_optimum_for_kaplan_matches_brute_force() -> None:
    params = {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}
    for compute in (1e20, 1e23):
        alloc = optimal_allocation(KAPLAN, params, compute)
        n_brute, loss_brute = brute_force_optimum(KAPLAN, params, compute)
        assert alloc.params_opt == pytest.approx(n_brute, rel=2e-3)
        assert alloc.loss_opt == pytest.approx(loss_brute, rel=1e-9)


def test_exponents_are_the_slopes_of_the_frontier() -> None:
    params = HOFFMANN_UNROUNDED
    exps = allocation_exponents(params)
    lo, hi = (optimal_allocation(CHINCHILLA, params, c) for c in (1e20, 1e24))
    slope_n = np.log(hi.params_opt / lo.params_opt) / np.log(1e4)
    slope_d = np.log(hi.tokens_opt / lo.tokens_opt) / np.log(1e4)
    assert slope_n == pytest.approx(exps["a"], rel=1e-9)
    assert slope_d == pytest.approx(exps["b"], rel=1e-9)
    assert exps["a"] + exps["b"] == pytest.approx(1.0)


def test_hoffmann_approach_3_gopher_budget_gives_40b_parameters() -> None:
    # Hoffmann et al. 2022, Table 3: Approach 3 at the Gopher budget 5.76e23 FLOPs → 40B params.
    alloc = optimal_allocation(CHINCHILLA, HOFFMANN_UNROUNDED, 5.76e23)
    assert alloc.params_opt == pytest.approx(40e9, rel=0.03)


def test_epoch_fit_allocates_about_twenty_tokens_per_parameter(chinchilla_240) -> None:
    X = {"N": chinchilla_240.params, "D": chinchilla_240.tokens}
    fit = fit_law(CHINCHILLA, X, chinchilla_240.loss)
    exps = allocation_exponents(fit.params)
    # Epoch AI: the corrected fit agrees with Approaches 1 and 2 (a ≈ b ≈ 0.5).
    assert exps["a"] == pytest.approx(0.514, abs=0.01)
    for compute in (1e21, 5.76e23):
        alloc = optimal_allocation(CHINCHILLA, fit.params, compute)
        assert 12 < alloc.tokens_per_param < 30
    boot = bootstrap_fit(CHINCHILLA, X, chinchilla_240.loss, fit, n_resamples=200, seed=1)
    intervals = allocation_intervals(CHINCHILLA, boot, 5.76e23)
    alloc = optimal_allocation(CHINCHILLA, fit.params, 5.76e23)
    for key in ("params_opt", "tokens_opt", "tokens_per_param", "loss_opt"):
        low, high = intervals[key]
        assert low < getattr(alloc, key) < high
    assert intervals["a"][0] < exps["a"] < intervals["a"][1]


def test_intervals_widen_with_extrapolation(chinchilla_240) -> None:
    X = {"N": chinchilla_240.params, "D": chinchilla_240.tokens}
    fit = fit_law(CHINCHILLA, X, chinchilla_240.loss)
    boot = bootstrap_fit(CHINCHILLA, X, chinchilla_240.loss, fit, n_resamples=200, seed=2)

    def relative_width(compute: float) -> float:
        low, high = allocation_intervals(CHINCHILLA, boot, compute)["loss_opt"]
        return (high - low) / optimal_allocation(CHINCHILLA, fit.params, compute).loss_opt

    assert relative_width(1e21) < relative_width(1e24) < relative_width(1e27)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_budget_is_a_clear_error(bad: float) -> None:
    with pytest.raises(ValueError, match="compute budget"):
        optimal_allocation(CHINCHILLA, HOFFMANN_UNROUNDED, bad)


def test_one_resource_law_cannot_allocate() -> None:
    with pytest.raises(ValueError, match="joint law"):
        optimal_allocation(get_law("power"), {"a": 1.0, "b": 0.3, "c": 1.0}, 1e20)
