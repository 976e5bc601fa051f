"""Tests for scaling_core.laws: analytic Jacobians, batching, parameter conversions, formulas.

Parameters are drawn from each law's own initialisation grid (the region the fitter starts in),
perturbed and clipped to the law's bounds, so every check runs at admissible parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_core.laws import LAWS, Law, get_law, log_inputs

LAW_NAMES = list(LAWS)
DECREASING = [name for name, law in LAWS.items() if law.decreasing]
FAST = settings(max_examples=25, deadline=None, derandomize=True)


def sample_inputs(law: Law, rng: np.random.Generator, n: int = 12) -> dict[str, np.ndarray]:
    """Inputs in a realistic range: N 1e7..1e10, D 1e9..1e12, x 1e6..1e12."""
    if law.inputs == ("N", "D"):
        return {"N": 10 ** rng.uniform(7, 10, n), "D": 10 ** rng.uniform(9, 12, n)}
    return {"x": 10 ** rng.uniform(6, 12, n)}


def reference_data(law: Law) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A small decreasing data set from which the law builds its initialisation grid."""
    if law.inputs == ("N", "D"):
        N = np.geomspace(1e7, 1e10, 8)
        D = np.geomspace(1e9, 1e12, 8)[::-1]
        X = {"N": N, "D": D}
        y = 1.8 + 400 / N**0.34 + 2000 / D**0.37
    else:
        x = np.geomspace(1e6, 1e12, 10)
        X = {"x": x}
        y = 1.5 + 30 * x**-0.2
    return X, y


def bounds_arrays(law: Law) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in law.bounds()])
    hi = np.array([b[1] if b[1] is not None else np.inf for b in law.bounds()])
    return lo, hi


def admissible_theta(law: Law, rng: np.random.Generator) -> np.ndarray:
    """A random grid row, perturbed, clipped inside the bounds (away from the edges)."""
    X, y = reference_data(law)
    grid = law.initial_grid(X, y)
    row = grid[rng.integers(grid.shape[0])].astype(float)
    theta = row + rng.normal(0.0, 0.1, row.shape) * np.maximum(1.0, np.abs(row)) * 0.2
    lo, hi = bounds_arrays(law)
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    return np.clip(theta, lo + 1e-3 * span, hi - 1e-3 * span)


def finite_difference_jacobian(law: Law, theta: np.ndarray, U: dict) -> np.ndarray:
    """Central differences of log_predict, (n, p)."""
    cols = []
    for j in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        cols.append((law.log_predict(up, U) - law.log_predict(down, U)) / (2 * h))
    return np.stack(cols, axis=-1)


def assert_jacobian_close(analytic: np.ndarray, numeric: np.ndarray) -> None:
    scale = np.maximum(1.0, np.abs(numeric))
    err = np.abs(analytic - numeric) / scale
    assert np.all(np.isfinite(analytic))
    assert err.max() < 2e-5, f"max scaled Jacobian error {err.max():.3g}"


# ---------------------------------------------------------------------------------------------
# Jacobians
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAW_NAMES)
@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_log_jacobian_matches_central_differences(name: str, seed: int) -> None:
    law = LAWS[name]
    rng = np.random.default_rng(seed)
    theta = admissible_theta(law, rng)
    U = log_inputs(sample_inputs(law, rng))
    jac = law.log_jacobian(theta, U)
    assert jac.shape == (12, law.n_params)
    assert_jacobian_close(jac, finite_difference_jacobian(law, theta, U))


@pytest.mark.parametrize("name", LAW_NAMES)
@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_batched_jacobian_matches_rows(name: str, seed: int) -> None:
    """theta (B, p) with inputs (B, n) → (B, n, p), each row its own problem."""
    law = LAWS[name]
    rng = np.random.default_rng(seed)
    B, n = 4, 9
    thetas = np.stack([admissible_theta(law, rng) for _ in range(B)])
    rows = [sample_inputs(law, rng, n) for _ in range(B)]
    U_batch = {k: np.stack([log_inputs(r)[k] for r in rows]) for k in law.inputs}
    jac = law.log_jacobian(thetas, U_batch)
    pred = law.log_predict(thetas, U_batch)
    assert jac.shape == (B, n, law.n_params)
    assert pred.shape == (B, n)
    for i in range(B):
        U_i = log_inputs(rows[i])
        np.testing.assert_allclose(pred[i], law.log_predict(thetas[i], U_i), rtol=1e-12)
        np.testing.assert_allclose(jac[i], law.log_jacobian(thetas[i], U_i), rtol=1e-10, atol=1e-12)
        assert_jacobian_close(jac[i], finite_difference_jacobian(law, thetas[i], U_i))


@pytest.mark.parametrize("name", LAW_NAMES)
@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_predict_and_jacobian_agrees_with_separate_methods(name: str, seed: int) -> None:
    law = LAWS[name]
    rng = np.random.default_rng(seed)
    theta = admissible_theta(law, rng)
    U = log_inputs(sample_inputs(law, rng))
    pred, jac = law.log_predict_and_jacobian(theta, U)
    np.testing.assert_allclose(pred, law.log_predict(theta, U), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jac, law.log_jacobian(theta, U), rtol=1e-10, atol=1e-12)
    # batched form too
    thetas = np.stack([theta, admissible_theta(law, rng)])
    rows = [sample_inputs(law, rng, 7) for _ in range(2)]
    U_batch = {k: np.stack([log_inputs(r)[k] for r in rows]) for k in law.inputs}
    pred_b, jac_b = law.log_predict_and_jacobian(thetas, U_batch)
    np.testing.assert_allclose(pred_b, law.log_predict(thetas, U_batch), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jac_b, law.log_jacobian(thetas, U_batch), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", LAW_NAMES)
def test_batch_log_predict_of_grid_equals_row_by_row(name: str) -> None:
    """A (k, p) grid against shared (n,) inputs → (k, n), row i = log_predict(grid[i])."""
    law = LAWS[name]
    X, y = reference_data(law)
    grid = law.initial_grid(X, y)
    U = log_inputs(X)
    batch = law.log_predict(grid, U)
    assert batch.shape == (grid.shape[0], y.size)
    rows = np.stack([law.log_predict(t, U) for t in grid])
    np.testing.assert_allclose(batch, rows, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Conversions and formulas
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAW_NAMES)
@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_public_round_trip(name: str, seed: int) -> None:
    law = LAWS[name]
    theta = admissible_theta(law, np.random.default_rng(seed))
    public = law.to_public(theta)
    assert list(public) == list(law.param_names)
    assert all(isinstance(v, float) and np.isfinite(v) for v in public.values())
    np.testing.assert_allclose(law.from_public(public), theta, rtol=1e-12, atol=1e-12)
    again = law.to_public(law.from_public(public))
    for k, v in public.items():
        assert again[k] == pytest.approx(v, rel=1e-12)


def _shown(value: float) -> str:
    """How a number is expected to appear in a formula (sign dropped: exponents flip it)."""
    magnitude = abs(value)
    text = f"{magnitude:.4g}" if 1e-3 <= magnitude < 1e4 else f"{magnitude:.3e}"
    return text


@pytest.mark.parametrize("name", LAW_NAMES)
@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_formula_is_latex_and_contains_fitted_numbers(name: str, seed: int) -> None:
    law = LAWS[name]
    generic = law.formula()
    assert isinstance(generic, str) and generic.strip()
    assert "=" in generic and "{" in generic and "}" in generic
    params = law.to_public(admissible_theta(law, np.random.default_rng(seed)))
    text = law.formula(params)
    assert isinstance(text, str) and text.strip()
    assert text != generic
    assert text.count("{") == text.count("}"), "unbalanced LaTeX braces"
    for key, value in params.items():
        assert _shown(value) in text, f"{key}={value} not shown in {text!r}"


def test_chinchilla_formula_shows_epoch_numbers() -> None:
    law = get_law("chinchilla")
    text = law.formula({"E": 1.8172, "A": 477.84, "B": 2143.86, "alpha": 0.34731, "beta": 0.36718})
    for shown in ("1.817", "477.8", "2144", "0.3473", "0.3672"):
        assert shown in text
    assert r"\frac" in text


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("sigmoid", {"lo": 0.25, "hi": 0.9, "k": -1.0, "x0": 3.0}),
        ("bnsl", {"a": 10.0, "b0": 0.3, "b1": -0.3, "d1": 1e8, "f1": 1.0, "c": 1.5}),
    ],
)
def test_formula_has_no_double_minus(name: str, params: dict[str, float]) -> None:
    assert "--" not in LAWS[name].formula(params)


# ---------------------------------------------------------------------------------------------
# Shape of the functions
# ---------------------------------------------------------------------------------------------


def _params_within_bounds(law: Law, fractions: list[float]) -> np.ndarray:
    lo, hi = bounds_arrays(law)
    lo = np.where(np.isfinite(lo), lo, -10.0)
    hi = np.where(np.isfinite(hi), hi, 10.0)
    return lo + np.asarray(fractions) * (hi - lo)


@pytest.mark.parametrize("name", [n for n in DECREASING if n != "power_nofloor"])
@settings(max_examples=25, deadline=None, derandomize=True)
@given(data=st.data())
def test_decreasing_laws_are_monotone_in_each_input(name: str, data: st.DataObject) -> None:
    law = LAWS[name]
    fractions = data.draw(
        st.lists(st.floats(0.0, 1.0), min_size=law.n_params, max_size=law.n_params)
    )
    theta = _params_within_bounds(law, fractions)
    grid = np.geomspace(1e3, 1e14, 60)
    for varied in law.inputs:
        X = {k: (grid if k == varied else np.full(grid.size, 1e9)) for k in law.inputs}
        pred = law.log_predict(theta, log_inputs(X))
        assert np.all(np.isfinite(pred))
        diffs = np.diff(pred)
        assert np.all(diffs <= 1e-12 * np.maximum(1.0, np.abs(pred[1:]))), (varied, theta)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(a=st.floats(1e-3, 1e4), b=st.floats(0.0, 5.0))
def test_power_nofloor_is_monotone_for_non_negative_exponent(a: float, b: float) -> None:
    law = get_law("power_nofloor")
    x = np.geomspace(1e3, 1e14, 60)
    pred = law.predict({"a": a, "b": b}, {"x": x})
    assert np.all(np.diff(pred) <= 1e-12 * pred[1:])


def test_power_nofloor_decreasing_flag_holds_over_its_bounds() -> None:
    # b may be negative (the law must fit inverse scaling), so the law cannot claim to be
    # decreasing for every admissible parameter.
    law = get_law("power_nofloor")
    lo_b = law.bounds()[1][0]
    theta = np.array([0.0, 0.5 * lo_b])  # an admissible exponent
    pred = law.log_predict(theta, log_inputs({"x": np.geomspace(1e3, 1e9, 10)}))
    assert lo_b < 0 and np.all(np.diff(pred) > 0)
    assert not law.decreasing


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    E=st.floats(1.0, 3.0),
    A=st.floats(10.0, 5000.0),
    B=st.floats(10.0, 5000.0),
    alpha=st.floats(0.05, 1.0),
    beta=st.floats(0.05, 1.0),
)
def test_chinchilla_closed_form(E: float, A: float, B: float, alpha: float, beta: float) -> None:
    law = get_law("chinchilla")
    rng = np.random.default_rng(0)
    N = 10 ** rng.uniform(6, 11, 20)
    D = 10 ** rng.uniform(8, 13, 20)
    params = {"E": E, "A": A, "B": B, "alpha": alpha, "beta": beta}
    expected = E + A / N**alpha + B / D**beta
    np.testing.assert_allclose(law.predict(params, {"N": N, "D": D}), expected, rtol=1e-12)
    assert law.floor(params) == E


def test_power_law_closed_form() -> None:
    x = np.geomspace(1e5, 1e11, 7)
    pred = get_law("power").predict({"a": 50.0, "b": 0.3, "c": 1.7}, {"x": x})
    np.testing.assert_allclose(pred, 50.0 * x**-0.3 + 1.7, rtol=1e-12)
    pred = get_law("power_nofloor").predict({"a": 50.0, "b": 0.3}, {"x": x})
    np.testing.assert_allclose(pred, 50.0 * x**-0.3, rtol=1e-12)


def test_kaplan_closed_form() -> None:
    N = np.geomspace(1e7, 1e10, 5)
    D = np.geomspace(1e9, 1e12, 5)
    p = {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}
    expected = ((p["N_c"] / N) ** (p["alpha_N"] / p["alpha_D"]) + p["D_c"] / D) ** p["alpha_D"]
    np.testing.assert_allclose(get_law("kaplan").predict(p, {"N": N, "D": D}), expected, rtol=1e-10)


def test_sigmoid_closed_form() -> None:
    x = np.geomspace(1e18, 1e24, 9)
    p = {"lo": 0.25, "hi": 0.9, "k": 1.3, "x0": 1e21}
    expected = p["lo"] + (p["hi"] - p["lo"]) / (1 + (x / p["x0"]) ** -p["k"])
    np.testing.assert_allclose(get_law("sigmoid").predict(p, {"x": x}), expected, rtol=1e-10)


def test_bnsl_slopes_before_and_after_the_break() -> None:
    law = get_law("bnsl")
    p = {"a": 100.0, "b0": 0.1, "b1": 0.3, "d1": 1e8, "f1": 0.5, "c": 1e-9}
    x = np.array([1e3, 1e4, 1e13, 1e14])
    log_l = np.log(law.predict(p, {"x": x}))
    ln10 = np.log(10.0)
    assert (log_l[1] - log_l[0]) / ln10 == pytest.approx(-0.1, abs=1e-3)
    assert (log_l[3] - log_l[2]) / ln10 == pytest.approx(-0.4, abs=1e-3)


def test_get_law_returns_registered_laws_and_unknown_lists_names() -> None:
    for name, law in LAWS.items():
        assert get_law(name) is law
        assert law.name == name
        assert len(law.param_names) == law.n_params == len(law.bounds())
    with pytest.raises(ValueError, match="unknown law") as info:
        get_law("chinchila")
    message = str(info.value)
    assert "'chinchila'" in message
    for name in LAWS:
        assert name in message
