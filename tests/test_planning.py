"""Planning answers against hand computations and direct numerical minimisation."""

from __future__ import annotations

import numpy as np
import pytest

from scaling_core.allocation import optimal_allocation
from scaling_core.hardware import ACCELERATORS, flops_from_hours, hours_from_flops
from scaling_core.laws import get_law
from scaling_core.planning import (
    PlanningError,
    budget_for_loss,
    data_constrained,
    effective_data,
    inference_aware,
    tokens_for_loss,
)

CHINCHILLA = get_law("chinchilla")
KAPLAN = get_law("kaplan")
EPOCH = {"E": 1.8172, "A": 477.84, "B": 2143.86, "alpha": 0.34731, "beta": 0.36718}


@pytest.mark.parametrize(
    ("tokens", "unique", "expected"),
    [
        (5e8, 1e9, 5e8),  # less than one epoch: every token is new
        (1e9, 1e9, 1e9),  # exactly one epoch
        # 4 epochs → R = 3: 1e9 + 1e9·15.4·(1 − e^(−3/15.4)) = 3.725877…e9
        (4e9, 1e9, 1e9 + 15.4e9 * (1 - np.exp(-3 / 15.4))),
        # 101 epochs → R = 100: close to the asymptote U·(1 + R*) = 16.4e9
        (101e9, 1e9, 1e9 + 15.4e9 * (1 - np.exp(-100 / 15.4))),
    ],
)
def test_effective_data_matches_hand_computation(tokens, unique, expected) -> None:
    assert effective_data(tokens, unique) == pytest.approx(expected, rel=1e-12)


def test_effective_data_by_hand_numbers() -> None:
    assert effective_data(4e9, 1e9) == pytest.approx(3.7258775e9, rel=1e-7)
    assert effective_data(1e15, 1e9) <= 16.4e9  # never beyond U·(1 + R*)


def test_budget_for_loss_inverts_the_optimum() -> None:
    for compute in (1e19, 1e22, 5.76e23, 1e26):
        loss = optimal_allocation(CHINCHILLA, EPOCH, compute).loss_opt
        assert budget_for_loss(CHINCHILLA, EPOCH, loss) == pytest.approx(compute, rel=1e-8)


def test_budget_for_a_loss_below_the_floor_is_refused() -> None:
    with pytest.raises(PlanningError, match="irreducible"):
        budget_for_loss(CHINCHILLA, EPOCH, 1.5)


def test_tokens_for_loss_closed_form_matches_root_search() -> None:
    kaplan = {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}
    n = 1e9
    d = tokens_for_loss(KAPLAN, kaplan, n, 2.6)
    assert KAPLAN.predict(kaplan, {"N": np.array([n]), "D": np.array([d])})[0] == pytest.approx(
        2.6, rel=1e-10
    )
    d = tokens_for_loss(CHINCHILLA, EPOCH, 7e10, 2.0)
    assert CHINCHILLA.predict(EPOCH, {"N": np.array([7e10]), "D": np.array([d])})[0] == (
        pytest.approx(2.0, rel=1e-12)
    )
    assert tokens_for_loss(CHINCHILLA, EPOCH, 1e6, 2.0) == float("inf")  # too small ever


@pytest.mark.parametrize("inference_tokens", [0.0, 1e12, 1e13, 1e14])
def test_inference_aware_optimum_against_direct_minimisation(inference_tokens) -> None:
    compute = 5.76e23
    plan = inference_aware(CHINCHILLA, EPOCH, compute, inference_tokens)
    # Direct: scan N on a fine log grid, D from the loss constraint, total cost minimised.
    n = np.geomspace(1e8, 1e12, 200_001)
    room = plan.target_loss - EPOCH["E"] - EPOCH["A"] * n ** -EPOCH["alpha"]
    ok = room > 0
    d = (EPOCH["B"] / room[ok]) ** (1 / EPOCH["beta"])
    total = 6 * n[ok] * d + 2 * n[ok] * inference_tokens
    best = int(np.argmin(total))
    assert plan.params == pytest.approx(n[ok][best], rel=1e-3)
    assert plan.total_flops == pytest.approx(total[best], rel=1e-6)
    assert plan.total_flops <= total[best] * (1 + 1e-9)
    if inference_tokens == 0:
        base = optimal_allocation(CHINCHILLA, EPOCH, compute)
        assert plan.params == pytest.approx(base.params_opt, rel=1e-4)
        assert plan.saving == pytest.approx(0.0, abs=1e-8)
    else:
        assert plan.params < plan.compute_optimal_params
        assert (
            plan.tokens_per_param > optimal_allocation(CHINCHILLA, EPOCH, compute).tokens_per_param
        )
        assert plan.saving > 0


def test_data_constrained_penalty_and_best_size() -> None:
    compute = 5.76e23
    base = optimal_allocation(CHINCHILLA, EPOCH, compute)
    plenty = data_constrained(CHINCHILLA, EPOCH, compute, unique_tokens=1e14)
    assert not plenty.exceeds_unique
    assert plenty.loss_penalty == pytest.approx(0.0, abs=1e-12)
    scarce = data_constrained(CHINCHILLA, EPOCH, compute, unique_tokens=base.tokens_opt / 8)
    assert scarce.exceeds_unique
    assert scarce.epochs == pytest.approx(8.0)
    assert scarce.loss_penalty > 0
    # With scarce data the best model is larger (spend compute on parameters, not repeats)
    assert scarce.best_params > base.params_opt
    assert base.loss_opt <= scarce.best_loss <= scarce.loss_repeated + 1e-12


def test_accelerator_hours_round_trip() -> None:
    h100 = ACCELERATORS["NVIDIA H100 (SXM)"].peak_bf16_flops
    assert flops_from_hours(h100, 0.4, 1, 1) == pytest.approx(989e12 * 0.4 * 3600)
    flops = flops_from_hours(h100, 0.45, 1024, 24 * 30)
    assert hours_from_flops(h100, 0.45, 1024, flops) == pytest.approx(24 * 30)
    with pytest.raises(ValueError, match="MFU"):
        flops_from_hours(h100, 1.5, 8, 10)
    with pytest.raises(ValueError, match="positive"):
        hours_from_flops(h100, 0.4, 8, -1.0)
