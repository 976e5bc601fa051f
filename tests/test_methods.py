"""Methods 1 (envelope) and 2 (isoFLOP): synthetic laws, Chinchilla, errors, reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scaling_core.allocation import allocation_exponents, exponent_samples
from scaling_core.fitting import fit_law
from scaling_core.laws import get_law
from scaling_core.methods import (
    MethodInputError,
    MethodResult,
    compare_methods,
    detect_isoflop_groups,
    envelope_method,
    isoflop_method,
)
from scaling_core.uncertainty import bootstrap_fit, percentile_interval

TRUE = {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.36}
A_TRUE = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])  # 0.514…
G_TRUE = (TRUE["alpha"] * TRUE["A"] / (TRUE["beta"] * TRUE["B"])) ** (
    1.0 / (TRUE["alpha"] + TRUE["beta"])
)
BUDGETS = np.geomspace(1e18, 1e21, 6)
"""Six isoFLOP budgets (FLOPs), a factor of ~4 apart."""


def law(n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The true Chinchilla loss (nats) at N parameters and D tokens."""
    return TRUE["E"] + TRUE["A"] * n ** -TRUE["alpha"] + TRUE["B"] * d ** -TRUE["beta"]


def true_params_opt(compute: float) -> float:
    """Closed-form N* (parameters) of the true law at ``compute`` FLOPs."""
    return G_TRUE * (compute / 6.0) ** A_TRUE


def isoflop_design(
    seed: int, sigma: float = 0.002, sizes_per_budget: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Final losses of runs at 6 budgets, N spanning ×/÷ 4 around the true optimum of each."""
    rng = np.random.default_rng(seed)
    n = np.concatenate(
        [true_params_opt(c) * np.geomspace(0.25, 4.0, sizes_per_budget) for c in BUDGETS]
    )
    c = np.repeat(BUDGETS, sizes_per_budget)
    d = c / (6.0 * n)
    loss = law(n, d) * np.exp(rng.normal(0.0, sigma, n.size))
    return n, d, loss


def curve_design(
    seed: int, sigma: float = 0.002, n_sizes: int = 10, n_steps: int = 30
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Step-level training curves: ``n_sizes`` models from 1e7 to 1e10 parameters, each logged at
    ``n_steps`` points from D = N/2 to D = 300·N tokens, loss = law(N, D_step)·noise."""
    rng = np.random.default_rng(seed)
    sizes = np.geomspace(1e7, 1e10, n_sizes)
    run = np.repeat([f"run-{i}" for i in range(n_sizes)], n_steps)
    n = np.repeat(sizes, n_steps)
    d = np.concatenate([np.geomspace(0.5 * s, 300.0 * s, n_steps) for s in sizes])
    loss = law(n, d) * np.exp(rng.normal(0.0, sigma, n.size))
    return run, n, d, loss


# ---------------------------------------------------------------------------------------------
# Synthetic data from a known law
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_isoflop_recovers_the_true_exponent(seed: int) -> None:
    n, d, loss = isoflop_design(seed, sizes_per_budget=7 + seed)
    res = isoflop_method(n, d, loss, seed=seed)
    assert res.method == "isoflop"
    assert len(res.groups) == 6 and all(g.used for g in res.groups)
    assert res.a == pytest.approx(A_TRUE, abs=0.03)
    assert res.a_interval[0] <= A_TRUE <= res.a_interval[1]
    # D_opt = C/(6·N_opt) with compute exactly 6·N·D, so b = 1 − a.
    assert res.b == pytest.approx(1.0 - res.a, abs=1e-9)
    assert res.b_interval[0] <= 1.0 - A_TRUE <= res.b_interval[1]
    assert res.warnings == ()


def test_isoflop_without_noise_finds_each_budgets_optimum() -> None:
    n, d, loss = isoflop_design(0, sigma=0.0, sizes_per_budget=9)
    res = isoflop_method(n, d, loss, n_resamples=20)
    # A parabola in ln N is close to, not exactly, the true profile: vertices within 5%.
    for group in res.groups:
        assert group.params_opt == pytest.approx(true_params_opt(group.compute), rel=0.05)
        assert group.params_min < group.params_opt < group.params_max
    assert res.a == pytest.approx(A_TRUE, abs=0.005)


def test_envelope_recovers_the_true_exponent_from_training_curves() -> None:
    for seed in (0, 1, 2):
        run, n, d, loss = curve_design(seed)
        res = envelope_method(run, n, d, loss, seed=seed)
        assert res.method == "envelope"
        assert res.n_runs == 10
        assert res.a == pytest.approx(A_TRUE, abs=0.05)
        assert res.a_interval[0] <= A_TRUE <= res.a_interval[1]
        assert res.b == pytest.approx(1.0 - res.a, abs=1e-9)


def test_envelope_without_noise_is_close_and_reads_the_winning_run() -> None:
    run, n, d, loss = curve_design(0, sigma=0.0)
    res = envelope_method(run, n, d, loss, n_resamples=50)
    assert res.a == pytest.approx(A_TRUE, abs=0.02)
    sizes = np.unique(n)
    assert set(res.params_opt) <= set(sizes)
    # Each winner is within one size step (×2.15) of the true optimum at that compute.
    step = sizes[1] / sizes[0]
    ratio = res.params_opt / np.array([true_params_opt(c) for c in res.compute])
    assert np.all((ratio > 1.0 / step) & (ratio < step))
    np.testing.assert_allclose(res.tokens_opt * 6.0 * res.params_opt, res.compute, rtol=1e-12)


def test_envelope_leaves_out_levels_the_sizes_do_not_bracket() -> None:
    # Only the small models: above ~1e18 FLOPs the optimum is larger than any model trained.
    run, n, d, loss = curve_design(0, sigma=0.0, n_sizes=10)
    keep = n <= 1e9
    res = envelope_method(run[keep], n[keep], d[keep], loss[keep], n_resamples=20)
    assert res.params_opt.max() < 1e9  # the largest model never counts as an optimum
    assert any("left out of the fit" in w for w in res.warnings)


def test_envelope_warns_when_the_largest_model_wins_most_levels() -> None:
    # Six sizes up to 1e9 trained to 1e6 tokens per parameter: above ~4e19 FLOPs the optimum is
    # larger than any model trained, and the largest model wins most levels.
    sizes = np.geomspace(1e7, 1e9, 6)
    run = np.repeat([f"r{i}" for i in range(6)], 40)
    n = np.repeat(sizes, 40)
    d = np.concatenate([np.geomspace(5.0 * s, 1e6 * s, 40) for s in sizes])
    res = envelope_method(run, n, d, law(n, d), n_resamples=10)
    assert any(
        w.startswith("The largest model (1e+09 parameters)") and "do not bracket" in w
        for w in res.warnings
    )
    assert not any(w.startswith("The smallest model") for w in res.warnings)
    assert 1e9 not in set(res.params_opt)
    # Only the three smallest sizes: one interior winner is not enough for a slope.
    small = n < 1e8
    with pytest.raises(MethodInputError, match="uses only 1 distinct model size"):
        envelope_method(run[small], n[small], d[small], law(n[small], d[small]))


def test_methods_1_2_3_agree_on_synthetic_data() -> None:
    n, d, loss = isoflop_design(3)
    iso = isoflop_method(n, d, loss, seed=3)
    run, nc, dc, lc = curve_design(3)
    env = envelope_method(run, nc, dc, lc, seed=3)
    chinchilla = get_law("chinchilla")
    fit = fit_law(chinchilla, {"N": n, "D": d}, loss)
    boot = bootstrap_fit(chinchilla, {"N": n, "D": d}, loss, fit, n_resamples=100, seed=3)
    a_joint = allocation_exponents(fit.params)["a"]
    joint_interval = percentile_interval(exponent_samples(boot)["a"])
    assert a_joint == pytest.approx(A_TRUE, abs=0.03)
    results = {
        "envelope": (env.a, env.a_interval),
        "isoflop": (iso.a, iso.a_interval),
        "joint": (a_joint, joint_interval),
    }
    assert compare_methods(results) == []


# ---------------------------------------------------------------------------------------------
# Chinchilla (Epoch AI reconstruction of Hoffmann et al. Figure 4)
# ---------------------------------------------------------------------------------------------


def test_detect_isoflop_groups_finds_the_chinchilla_budgets(chinchilla_240) -> None:
    labels = detect_isoflop_groups(chinchilla_240.compute, rel_tolerance=0.1)
    assert labels.shape == (chinchilla_240.n,)
    found = np.unique(labels[labels >= 0])
    np.testing.assert_array_equal(found, np.arange(found.size))
    assert 7 <= found.size <= 11
    centres = []
    for label in found:
        c = chinchilla_240.compute[labels == label]
        centre = np.exp(np.mean(np.log(c)))
        centres.append(centre)
        assert np.all(np.abs(np.log(c / centre)) <= np.log(1.1) + 1e-9)
        assert np.unique(chinchilla_240.params[labels == label]).size >= 3
    centres = np.array(centres)
    assert np.all(np.diff(centres) > 0)  # labels follow compute
    assert centres.min() > 4e18 and centres.max() < 4e21
    # The figure's budgets 6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21 are each found.
    for budget in (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21):
        assert np.min(np.abs(np.log(centres / budget))) < np.log(1.25), budget


def test_isoflop_on_chinchilla_matches_the_published_approach_2(chinchilla_240) -> None:
    runs = chinchilla_240
    res = isoflop_method(runs.params, runs.tokens, runs.loss, compute=runs.compute, seed=0)
    assert res.a == pytest.approx(0.49, abs=0.05)
    assert res.b == pytest.approx(0.51, abs=0.05)
    assert res.a_interval[0] < res.a < res.a_interval[1]
    assert res.a_interval[1] - res.a_interval[0] < 0.15
    assert sum(g.used for g in res.groups) >= 7
    for budget in (1e19, 1e20, 1e21):
        assert 10.0 <= res.tokens_per_param_at(budget) <= 40.0
        interval = res.interval_at(budget)
        lo, hi = interval["params_opt"]
        assert lo < res.params_at(budget) < hi
        low, high = interval["tokens_per_param"]
        assert 10.0 <= low < res.tokens_per_param_at(budget) < high <= 40.0
    payload = json.loads(json.dumps(res.to_json()))
    assert set(payload) == {"method", "a", "b", "intervals", "points", "n_runs", "warnings"}
    assert payload["intervals"]["a"] == list(res.a_interval)
    assert len(payload["points"]) == res.compute.size
    assert set(payload["points"][0]) == {"compute", "params_opt", "tokens_opt"}


# ---------------------------------------------------------------------------------------------
# Error paths and warnings
# ---------------------------------------------------------------------------------------------


def test_envelope_rejects_single_point_runs(chinchilla_240) -> None:
    runs = chinchilla_240
    with pytest.raises(MethodInputError, match="every run has a single point"):
        envelope_method(runs.run, runs.params, runs.tokens, runs.loss)


def test_envelope_rejects_fewer_than_three_sizes() -> None:
    run, n, d, loss = curve_design(0, n_sizes=10)
    keep = n < 3e7  # two sizes
    with pytest.raises(MethodInputError, match="at least 3 model sizes, got 2"):
        envelope_method(run[keep], n[keep], d[keep], loss[keep])


def test_isoflop_needs_two_usable_groups() -> None:
    n, d, loss = isoflop_design(0)
    one_budget = np.isclose(6.0 * n * d, BUDGETS[2], rtol=1e-6)
    with pytest.raises(MethodInputError, match=r"at least 2 usable isoFLOP groups .*found 1 of 1"):
        isoflop_method(n[one_budget], d[one_budget], loss[one_budget])


def test_isoflop_skips_a_downward_parabola_with_a_warning() -> None:
    n, d, loss = isoflop_design(0)
    c = 6.0 * n * d
    bad = np.isclose(c, BUDGETS[-1], rtol=1e-6)
    x = np.log(n[bad])
    loss = loss.copy()
    loss[bad] = 3.0 - 0.05 * (x - x.mean()) ** 2  # a cap, not a cup
    res = isoflop_method(n, d, loss, n_resamples=50)
    skipped = [g for g in res.groups if not g.used]
    assert len(skipped) == 1 and skipped[0].compute == pytest.approx(BUDGETS[-1])
    assert np.isnan(skipped[0].params_opt)
    assert any("opens downward" in w and "1.0e21 FLOPs" in w for w in res.warnings)
    assert res.compute.size == 5
    assert res.a == pytest.approx(A_TRUE, abs=0.03)


def test_isoflop_skips_an_off_centre_profile_and_says_why() -> None:
    n, d, loss = isoflop_design(0)
    c = 6.0 * n * d
    # Budget 2 sampled only at sizes 4× to 16× its optimum: the vertex is outside that range.
    off = np.isclose(c, BUDGETS[2], rtol=1e-6)
    n = n.copy()
    n[off] = true_params_opt(BUDGETS[2]) * np.geomspace(4.0, 16.0, off.sum())
    d = np.where(off, BUDGETS[2] / (6.0 * n), d)
    loss = np.where(off, law(n, d), loss)
    res = isoflop_method(n, d, loss, n_resamples=50)
    assert sum(not g.used for g in res.groups) == 1
    message = next(w for w in res.warnings if "skipped" in w)
    assert "vertex outside the sampled range" in message
    assert "Approach 2 is biased when profiles are sampled off-centre" in message


def test_isoflop_accepts_an_edited_grouping() -> None:
    n, d, loss = isoflop_design(0)
    labels = detect_isoflop_groups(6.0 * n * d)
    assert np.unique(labels).size == 6 and (labels >= 0).all()
    edited = np.where(labels == 5, -1, labels)  # the user drops the largest budget
    res = isoflop_method(n, d, loss, groups=edited, n_resamples=50)
    assert res.compute.size == 5 and res.compute.max() < BUDGETS[-1] * 0.9
    with pytest.raises(MethodInputError, match="groups has shape"):
        isoflop_method(n, d, loss, groups=edited[:-1])


def test_compare_methods_flags_non_overlapping_intervals() -> None:
    warnings = compare_methods(
        {"isoflop": (0.49, (0.46, 0.52)), "joint": (0.46, (0.45, 0.455)), "mine": (0.5, (0.4, 0.6))}
    )
    assert warnings == [
        "Method 2 (isoFLOP) gives a = 0.49 [0.46, 0.52] but Method 3 (joint fit) gives "
        "a = 0.46 [0.45, 0.46]; their intervals do not overlap — the situation the Epoch AI "
        "replication found."
    ]
    assert compare_methods({"envelope": (0.5, (0.45, 0.55)), "isoflop": (0.49, (0.46, 0.52))}) == []
    assert "no finite interval" in compare_methods({"joint": (0.5, (np.nan, np.nan))})[0]


# ---------------------------------------------------------------------------------------------
# Reproducibility and the result object
# ---------------------------------------------------------------------------------------------


def test_bootstrap_is_reproducible_by_seed() -> None:
    n, d, loss = isoflop_design(0)
    first, again, other = (isoflop_method(n, d, loss, n_resamples=60, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(first.a_samples, again.a_samples)
    assert first.a_interval == again.a_interval
    assert not np.array_equal(first.a_samples, other.a_samples)
    run, nc, dc, lc = curve_design(0)
    e1, e2 = (envelope_method(run, nc, dc, lc, n_resamples=60, seed=5) for _ in range(2))
    np.testing.assert_array_equal(e1.a_samples, e2.a_samples)
    assert e1.b_interval == e2.b_interval


def test_result_helpers_are_consistent() -> None:
    n, d, loss = isoflop_design(1)
    res: MethodResult = isoflop_method(n, d, loss, n_resamples=80)
    compute = 1e23
    assert res.params_at(compute) * res.tokens_at(compute) * 6.0 == pytest.approx(compute)
    assert res.tokens_per_param_at(compute) == pytest.approx(
        res.tokens_at(compute) / res.params_at(compute)
    )
    near, far = res.interval_at(1e19), res.interval_at(1e25)
    width = {k: np.log(v[1] / v[0]) for k, v in near.items()}
    width_far = {k: np.log(v[1] / v[0]) for k, v in far.items()}
    assert all(width_far[k] > width[k] for k in width)  # extrapolation widens the interval
    assert res.a_samples.shape == res.log_k_samples.shape == (80,)
