"""Tests for scaling_core.fitting.fit_law: golden Chinchilla numbers, recovery of known laws,
FitResult contents, input validation, warnings, weights and objectives."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_core.fitting import N_POLISHED_STARTS, FitInputError, FitResult, fit_law
from scaling_core.laws import Law, get_law
from scaling_core.objectives import OBJECTIVES, FitData, get_objective
from scaling_core.schema import RunTable

CHINCHILLA = get_law("chinchilla")
EPOCH_GRID_OBJECTIVE = 0.00101827
"""Quoted to 6 significant figures; the optimum itself is 0.0010182740 (checked by re-polishing
with BFGS and Nelder-Mead), so the bound allows the quote's rounding (half its last digit)."""
EPOCH_GRID_OBJECTIVE_BOUND = (EPOCH_GRID_OBJECTIVE + 0.5e-8) * (1 + 1e-6)

# Epoch notebook, grid + L-BFGS-B on the plain Huber loss, 240 rows (B is 2143.2 in an
# independent check, hence the 0.5% tolerance).
EPOCH_GRID_FIT = {"E": 1.8172, "A": 477.84, "B": 2143.86, "alpha": 0.34731, "beta": 0.36718}
# Epoch 2024 final estimate: Huber likelihood MLE, 240 rows.
EPOCH_MLE_FIT = {"E": 1.81686, "A": 482.01, "B": 2085.43, "alpha": 0.34781, "beta": 0.36585}


def _inputs(table: RunTable) -> dict[str, np.ndarray]:
    return {"N": table.params, "D": table.tokens}


@pytest.fixture(scope="module")
def fit_240(chinchilla_240: RunTable) -> FitResult:
    return fit_law(CHINCHILLA, _inputs(chinchilla_240), chinchilla_240.loss)


# ---------------------------------------------------------------------------------------------
# Golden: the Epoch AI replication of Chinchilla Approach 3
# ---------------------------------------------------------------------------------------------


def test_chinchilla_240_reaches_epoch_grid_optimum(fit_240: FitResult) -> None:
    assert fit_240.n_points == 240
    assert fit_240.objective_name == "huber_log"
    assert fit_240.objective <= EPOCH_GRID_OBJECTIVE_BOUND
    assert round(fit_240.objective, 8) == EPOCH_GRID_OBJECTIVE
    for name, ref in EPOCH_GRID_FIT.items():
        assert fit_240.params[name] == pytest.approx(ref, rel=5e-3), name
    assert fit_240.converged
    assert fit_240.n_at_best >= 2, "the best basin should be reached from several starts"


def test_chinchilla_240_huber_likelihood_matches_epoch_mle(chinchilla_240: RunTable) -> None:
    fit = fit_law(
        CHINCHILLA, _inputs(chinchilla_240), chinchilla_240.loss, objective="huber_likelihood"
    )
    for name, ref in EPOCH_MLE_FIT.items():
        assert fit.params[name] == pytest.approx(ref, rel=1e-2), name
    assert fit.scale is not None and fit.scale > 0
    assert len(fit.theta) == CHINCHILLA.n_params + 1
    assert fit.law_theta.shape == (CHINCHILLA.n_params,)


def test_all_245_rows_give_a_different_data_term(
    chinchilla_all: RunTable, fit_240: FitResult
) -> None:
    """Why Epoch leaves out the 5 highest-loss runs: with them B and β move a lot."""
    assert chinchilla_all.n == 245
    fit = fit_law(CHINCHILLA, _inputs(chinchilla_all), chinchilla_all.loss)
    assert abs(fit.params["B"] / fit_240.params["B"] - 1) > 0.10
    assert abs(fit.params["beta"] - fit_240.params["beta"]) > 0.02
    # the parameter term barely moves
    assert fit.params["alpha"] == pytest.approx(fit_240.params["alpha"], abs=0.01)


def test_fit_is_deterministic(chinchilla_240: RunTable, fit_240: FitResult) -> None:
    again = fit_law(CHINCHILLA, _inputs(chinchilla_240), chinchilla_240.loss)
    assert again.params == fit_240.params
    assert again.objective == fit_240.objective


# ---------------------------------------------------------------------------------------------
# FitResult contents
# ---------------------------------------------------------------------------------------------


def test_fit_result_fields_on_chinchilla(fit_240: FitResult) -> None:
    assert fit_240.residuals.shape == (240,)
    assert np.all(np.isfinite(fit_240.residuals))
    assert fit_240.residual_mean == pytest.approx(float(fit_240.residuals.mean()))
    assert fit_240.residual_std == pytest.approx(float(fit_240.residuals.std(ddof=1)))
    assert 0.9 < fit_240.r2_log <= 1.0
    h = fit_240.heteroscedasticity
    assert -1.0 <= h.rho <= 1.0 and 0.0 <= h.p_value <= 1.0
    assert isinstance(h.detected, bool)
    assert fit_240.n_grid == 4500
    # One start per (alpha, beta) cell of the 5x5 Epoch exponent grid reaches the first pass.
    assert 1 <= fit_240.n_at_best <= fit_240.n_polished == 25 >= N_POLISHED_STARTS
    optima = fit_240.local_optima
    assert optima, "at least the best optimum is reported"
    objectives = [o.objective for o in optima]
    assert objectives == sorted(objectives)
    assert optima[0].objective == pytest.approx(fit_240.objective, rel=1e-12)
    assert optima[0].params == pytest.approx(fit_240.params, rel=1e-9)
    assert optima[0].n_starts == fit_240.n_at_best
    assert sum(o.n_starts for o in optima) + fit_240.n_elsewhere == fit_240.n_polished
    assert all(np.isfinite(o.extrapolation) and o.extrapolation > 0 for o in optima)
    assert fit_240.covariance is not None and fit_240.covariance.shape == (5, 5)
    assert np.all(np.diag(fit_240.covariance) > 0)
    assert fit_240.scale is None


def test_fit_result_json(fit_240: FitResult) -> None:
    out = fit_240.to_json()
    for key in (
        "law",
        "objective_name",
        "params",
        "n_points",
        "objective",
        "converged",
        "r2_log",
        "residual_mean",
        "residual_std",
        "heteroscedasticity",
        "starts",
        "local_optima",
        "scale",
        "warnings",
    ):
        assert key in out, key
    assert out["law"] == "chinchilla" and out["n_points"] == 240
    assert set(out["starts"]) == {"grid", "polished", "reached_best", "in_unpolished_basins"}
    assert out["starts"]["reached_best"] == fit_240.n_at_best
    assert set(out["heteroscedasticity"]) == {"spearman_rho", "p_value", "detected"}
    text = json.dumps(out)
    back = json.loads(text)
    assert back["params"] == pytest.approx(fit_240.params)
    assert back["warnings"] == list(fit_240.warnings)
    assert back["local_optima"][0]["extrapolation_10x"] > 0


def test_fit_result_on_clean_synthetic_data() -> None:
    law = get_law("power")
    x = np.geomspace(1e6, 1e11, 30)
    y = 300 * x**-0.35 + 1.7
    fit = fit_law(law, {"x": x}, y)
    assert fit.r2_log == pytest.approx(1.0, abs=1e-9)
    assert fit.residuals.shape == (30,)
    assert np.max(np.abs(fit.residuals)) < 1e-8
    assert abs(fit.residual_mean) < 1e-9
    assert fit.n_at_best >= 1
    assert fit.params == pytest.approx({"a": 300.0, "b": 0.35, "c": 1.7}, rel=1e-6)
    json.dumps(fit.to_json())


# ---------------------------------------------------------------------------------------------
# Recovery of known laws from synthetic data
# ---------------------------------------------------------------------------------------------


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(10 ** rng.uniform(np.log10(lo), np.log10(hi)))


def _joint_design(rng: np.random.Generator, k: int = 10) -> dict[str, np.ndarray]:
    """k×k grid over N 1e7..1e10 and D 1e9..1e12, jittered ±10%, so N and D vary independently."""
    jitter = np.exp(rng.uniform(-0.1, 0.1, (2, k * k)))
    N = np.repeat(np.geomspace(1e7, 1e10, k), k) * jitter[0]
    D = np.tile(np.geomspace(1e9, 1e12, k), k) * jitter[1]
    return {"N": N, "D": D}


def draw(name: str, rng: np.random.Generator, identifiable: bool):
    """(law, X, true params, exponent names) for a synthetic problem.

    ``identifiable=False`` draws from the wide ranges; ``True`` restricts to ranges where each
    exponent's term is large against 1% noise over the design (otherwise an exponent whose term
    is a fraction of the noise cannot be recovered by any method).
    """
    law = get_law(name)
    if name == "power":
        b, c = rng.uniform(0.1, 0.6), rng.uniform(0.5, 3.0)
        if identifiable:
            b = rng.uniform(0.2, 0.6)
            a = rng.uniform(2.0, 10.0) * c * 1e6**b  # reducible part 2–10× the floor at x_min
        else:
            a = _log_uniform(rng, 10, 1000)
        return law, {"x": np.geomspace(1e6, 1e12, 40)}, {"a": a, "b": b, "c": c}, ["b"]
    if name == "power_nofloor":
        p = {"a": _log_uniform(rng, 10, 1000), "b": rng.uniform(0.05, 0.6)}
        return law, {"x": np.geomspace(1e6, 1e12, 30)}, p, ["b"]
    if name == "chinchilla":
        if identifiable:
            p = {
                "E": rng.uniform(1, 3),
                "A": rng.uniform(300, 2000),
                "B": rng.uniform(1000, 5000),
                "alpha": rng.uniform(0.25, 0.4),
                "beta": rng.uniform(0.25, 0.4),
            }
        else:
            p = {
                "E": rng.uniform(1, 3),
                "A": rng.uniform(100, 2000),
                "B": rng.uniform(100, 5000),
                "alpha": rng.uniform(0.2, 0.6),
                "beta": rng.uniform(0.2, 0.6),
            }
        return law, _joint_design(rng, 10 if not identifiable else 8), p, ["alpha", "beta"]
    if name == "kaplan":
        p = {
            "N_c": _log_uniform(rng, 1e13, 1e15),
            "D_c": _log_uniform(rng, 1e12, 1e14),
            "alpha_N": rng.uniform(0.05, 0.12),
            "alpha_D": rng.uniform(0.06, 0.15),
        }
        return law, _joint_design(rng, 8), p, ["alpha_N", "alpha_D"]
    if name == "bnsl":
        p = {
            "a": _log_uniform(rng, 10, 100),
            "b0": rng.uniform(0.05, 0.3),
            "b1": rng.uniform(0.1, 0.5),
            "d1": _log_uniform(rng, 1e7, 1e9),
            "f1": rng.uniform(0.5, 2.0),
            "c": rng.uniform(0.5, 2.0),
        }
        if identifiable:
            # four or more decades before the break, reducible part well above the floor:
            # otherwise a floor-free fit with a negative b1 matches 1%-noisy data as well
            p.update(a=_log_uniform(rng, 30, 100), d1=_log_uniform(rng, 1e8, 1e9))
            p.update(c=rng.uniform(0.5, 1.0))
        return law, {"x": np.geomspace(1e4, 1e12, 60)}, p, ["b0"]
    if name == "sigmoid":
        p = {
            "lo": rng.uniform(0.2, 0.3),
            "hi": rng.uniform(0.7, 0.95),
            "k": rng.uniform(0.5, 2.0) * rng.choice([-1.0, 1.0]),
            "x0": _log_uniform(rng, 1e20, 1e22),
        }
        return law, {"x": np.geomspace(1e18, 1e24, 50)}, p, ["k"]
    raise AssertionError(name)


def canonical(name: str, params: dict[str, float]) -> dict[str, float]:
    """The sigmoid is symmetric under (lo, hi, k) → (hi, lo, −k); pick lo < hi."""
    if name == "sigmoid" and params["lo"] > params["hi"]:
        return {**params, "lo": params["hi"], "hi": params["lo"], "k": -params["k"]}
    return params


EXPONENT_TOLERANCE = {
    # abs error allowed at noise σ (multiplicative, lognormal): base + slope·σ
    "power": (0.005, 1.0),
    "power_nofloor": (0.001, 0.5),
    "chinchilla": (0.02, 8.0),
    "bnsl": (0.01, 3.0),
    "sigmoid": (0.02, 8.0),
}
RECOVERY_LAWS = ["power", "power_nofloor", "chinchilla", "kaplan", "bnsl", "sigmoid"]


def _noisy(law: Law, X, p, sigma: float, rng: np.random.Generator):
    clean = law.predict(p, X)
    return clean, clean * np.exp(sigma * rng.standard_normal(clean.size))


@pytest.mark.parametrize("name", RECOVERY_LAWS)
@settings(max_examples=6, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_noise_free_data_is_recovered_precisely(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Chinchilla over the wide ranges is the xfail test below; here its identifiable ranges.
    law, X, p, exponents = draw(name, rng, identifiable=name == "chinchilla")
    clean = law.predict(p, X)
    fit = fit_law(law, X, clean)
    assert all(np.isfinite(v) for v in fit.params.values())
    rel = np.abs(law.predict(fit.params, X) / clean - 1)
    # Kaplan: when D_c/D is tiny over the design, its exponent sits in a flat valley where
    # L-BFGS-B's ftol (absolute for objectives < 1) stops with errors up to ~2e-5: still a
    # faithful curve, but not to 1e-6.
    # BNSL's floor/break trade-off is similar, with errors up to ~1.4e-6.
    pred_tol = {"kaplan": 1e-4, "bnsl": 1e-5}.get(name, 1e-6)
    assert rel.max() < pred_tol
    got = canonical(name, fit.params)
    for e in exponents:
        if name == "kaplan" and e == "alpha_D":
            continue  # see above: poorly identified when the data term is invisible
        assert got[e] == pytest.approx(p[e], abs=1e-3 if name in ("chinchilla", "kaplan") else 1e-4)


@pytest.mark.parametrize("sigma", [0.002, 0.01])
@pytest.mark.parametrize("name", RECOVERY_LAWS)
@settings(max_examples=5, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_noisy_data_recovery(name: str, sigma: float, seed: int) -> None:
    """Predictions on the observed range track the true curve; exponents within tolerance.

    Kaplan is checked only on predictions: over an 8×8 design with D_c ≈ 1e12–1e14 the data
    term D_c/D is often far below the noise, so α_D is not identified (errors up to ~0.17 at
    σ = 0.002 in exploration) although every curve through the data is right.
    """
    rng = np.random.default_rng(seed)
    law, X, p, exponents = draw(name, rng, identifiable=True)
    clean, y = _noisy(law, X, p, sigma, rng)
    fit = fit_law(law, X, y)
    log_err = np.log(law.predict(fit.params, X) / clean)
    assert np.sqrt(np.mean(log_err**2)) <= sigma
    assert np.max(np.abs(log_err)) <= 5 * sigma
    if name == "kaplan":
        return
    base, slope = EXPONENT_TOLERANCE[name]
    got = canonical(name, fit.params)
    for e in exponents:
        assert abs(got[e] - p[e]) <= base + slope * sigma, (e, got[e], p[e])


@pytest.mark.parametrize("sigma", [0.002, 0.01])
@settings(max_examples=5, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_chinchilla_wide_ranges_predict_well(sigma: float, seed: int) -> None:
    """Over the wide ranges (B down to 100, β up to 0.6) the data term can be smaller than the
    noise, so α/β are not identified (exponent errors up to ~0.5 seen); the fitted surface
    must still match the true one on the observed design. (Some seeds fail today because of
    the missed-basin bug, e.g. seed=214 at σ=0.002 — see the xfail test below.)"""
    rng = np.random.default_rng(seed)
    law, X, p, _ = draw("chinchilla", rng, identifiable=False)
    clean, y = _noisy(law, X, p, sigma, rng)
    fit = fit_law(law, X, y)
    log_err = np.log(law.predict(fit.params, X) / clean)
    assert np.sqrt(np.mean(log_err**2)) <= sigma
    assert np.max(np.abs(log_err)) <= 5 * sigma


MISSED_BASIN = (
    "core bug: on Chinchilla data whose data or parameter term is small over the design, "
    "fit_law returns a wrong basin, converged=True, often with no warning. Noise-free 8×8 grid "
    "(E=1.69, A=1163.6, B=205.4, α=0.425, β=0.543): β≈0.001, B≈0.3, E≈1.40, objective 1.1e-6 "
    "(truth: 0). Noise-free jittered 10×10 draw(seed=1078907): β=0.935 (true 0.583), B=3.1e6. "
    "Noisy draw(seed=214, σ=0.002): objective 1.8e-3 vs 1.2e-4 at the true parameters, "
    "R²=0.40, α=1.4998 next to its grid start 1.5 with A=e^5 exactly. The 16 polished starts "
    "are just the 16 best-scoring grid points; they can all sit in one wrong basin or on a "
    "plateau where a term is switched off (A/N^α ≈ 0, gradient ≈ 0). Start selection needs "
    "diversity (e.g. best start per (α, β) cell, or Epoch's L-BFGS from every grid point)."
)


def _eight_by_eight_case():
    p = {"E": 1.69, "A": 1163.6, "B": 205.4, "alpha": 0.425, "beta": 0.543}
    X = {"N": np.repeat(np.geomspace(1e7, 1e10, 8), 8), "D": np.tile(np.geomspace(1e9, 1e12, 8), 8)}
    return X, p, CHINCHILLA.predict(p, X)


def _wide_range_case():
    _, X, p, _ = draw("chinchilla", np.random.default_rng(1078907), identifiable=False)
    return X, p, CHINCHILLA.predict(p, X)


def _wide_range_noisy_case():
    rng = np.random.default_rng(214)
    _, X, p, _ = draw("chinchilla", rng, identifiable=False)
    _, y = _noisy(CHINCHILLA, X, p, 0.002, rng)
    return X, p, y


@pytest.mark.parametrize(
    "case",
    [_eight_by_eight_case, _wide_range_case, _wide_range_noisy_case],
    ids=["8x8", "wide", "wide-noisy"],
)
def test_chinchilla_fit_is_at_least_as_good_as_the_truth(case) -> None:
    X, p, y = case()
    fit = fit_law(CHINCHILLA, X, y)
    data = FitData.build(X, y)
    at_truth = float(
        get_objective("huber_log").batch_values(CHINCHILLA, CHINCHILLA.from_public(p)[None], data)[
            0
        ]
    )
    assert fit.objective <= at_truth * (1 + 1e-6) + 1e-15
    clean = CHINCHILLA.predict(p, X)
    assert np.max(np.abs(CHINCHILLA.predict(fit.params, X) / clean - 1)) < 0.01


# ---------------------------------------------------------------------------------------------
# Degenerate input
# ---------------------------------------------------------------------------------------------


def _power_data(n: int = 12) -> tuple[dict[str, np.ndarray], np.ndarray]:
    x = np.geomspace(1e6, 1e10, n)
    return {"x": x}, 100 * x**-0.3 + 1.5


def _joint_data(n: int = 12) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    X = {"N": 10 ** rng.uniform(7, 10, n), "D": 10 ** rng.uniform(9, 12, n)}
    return X, CHINCHILLA.predict(EPOCH_GRID_FIT, X)


def _with(arr: np.ndarray, rows: list[int], value: float) -> np.ndarray:
    out = np.array(arr, dtype=float)
    out[rows] = value
    return out


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("nan_loss", r"loss is NaN or infinite at runs 3, 5"),
        ("inf_loss", r"loss is NaN or infinite at run 4\b"),
        ("zero_loss", r"loss is zero or negative at run 1\b"),
        ("negative_loss", r"loss is zero or negative at runs 2, 7"),
        ("nan_params", r"params is NaN or infinite at run 6\b"),
        ("inf_tokens", r"tokens is NaN or infinite at run 2\b"),
        ("zero_tokens", r"tokens is zero or negative at run 9\b"),
        ("negative_params", r"params is zero or negative at run 12\b"),
        ("short_tokens", r"tokens has 11 values but loss has 12"),
        ("short_loss", r"params has 12 values but loss has 11"),
        ("constant_loss", r"every loss equals 2\.5"),
        ("one_model_size", r"one value of params"),
        ("one_token_count", r"one value of tokens"),
        ("too_few_points", r"5 points are too few .*chinchilla.* at least 6"),
        ("missing_input", r"needs inputs D"),
    ],
)
def test_degenerate_joint_input_raises_precise_error(case: str, expected: str) -> None:
    X, y = _joint_data()
    N, D = X["N"], X["D"]
    if case == "nan_loss":
        y = _with(y, [2, 4], np.nan)
    elif case == "inf_loss":
        y = _with(y, [3], np.inf)
    elif case == "zero_loss":
        y = _with(y, [0], 0.0)
    elif case == "negative_loss":
        y = _with(y, [1, 6], -1.0)
    elif case == "nan_params":
        N = _with(N, [5], np.nan)
    elif case == "inf_tokens":
        D = _with(D, [1], -np.inf)
    elif case == "zero_tokens":
        D = _with(D, [8], 0.0)
    elif case == "negative_params":
        N = _with(N, [11], -3e8)
    elif case == "short_tokens":
        D = D[:-1]
    elif case == "short_loss":
        y = y[:-1]
    elif case == "constant_loss":
        y = np.full_like(y, 2.5)
    elif case == "one_model_size":
        N = np.full_like(N, 4e8)
    elif case == "one_token_count":
        D = np.full_like(D, 8e9)
    elif case == "too_few_points":
        N, D, y = N[:5], D[:5], y[:5]
    X = {"N": N} if case == "missing_input" else {"N": N, "D": D}
    with pytest.raises(FitInputError, match=expected):
        fit_law(CHINCHILLA, X, y)


@pytest.mark.parametrize("name", ["power", "power_nofloor", "kaplan", "bnsl", "sigmoid"])
def test_too_few_points_for_each_law(name: str) -> None:
    law = get_law(name)
    n = law.n_params  # one fewer than needed
    if law.inputs == ("N", "D"):
        X = {"N": np.geomspace(1e7, 1e10, n), "D": np.geomspace(1e9, 1e12, n)[::-1]}
    else:
        X = {"x": np.geomspace(1e6, 1e10, n)}
    y = np.linspace(3.0, 2.0, n)
    with pytest.raises(FitInputError, match=rf"at least {n + 1} points"):
        fit_law(law, X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 0.0, -1.0])
def test_bad_scale_variable_raises(bad: float) -> None:
    X, y = _power_data()
    X = {"x": _with(X["x"], [10], bad)}
    with pytest.raises(FitInputError, match=r"the scale variable .* at run 11\b"):
        fit_law(get_law("power"), X, y)


def test_single_scale_value_and_row_list_truncation() -> None:
    with pytest.raises(FitInputError, match="one value of the scale variable"):
        fit_law(get_law("power"), {"x": np.full(10, 1e9)}, np.linspace(3, 2, 10))
    X, y = _power_data(20)
    y = _with(y, list(range(8)), np.nan)
    with pytest.raises(FitInputError, match=r"runs 1, 2, 3, 4, 5 and 3 more"):
        fit_law(get_law("power"), X, y)


def test_unknown_objective_and_bad_delta() -> None:
    X, y = _power_data()
    with pytest.raises(ValueError, match="huber_log"):
        fit_law(get_law("power"), X, y, objective="l1")
    with pytest.raises(ValueError, match="delta"):
        fit_law(get_law("power"), X, y, delta=-1.0)


WEIGHTS_BUG = (
    "core bug: fit_law does not validate weights. Negative or all-zero weights return a "
    "meaningless fit (e.g. power law a=1.3e52, b=0 with only a bound warning), a wrong-length "
    "array raises a raw numpy matmul ValueError, NaN weights give 'every start diverged' and "
    "inf weights a RuntimeWarning — none is a FitInputError naming the weights"
)


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param(-np.ones(12), id="negative"),
        pytest.param(np.zeros(12), id="all_zero"),
        pytest.param(np.ones(5), id="wrong_length"),
        pytest.param(np.full(12, np.nan), id="nan"),
    ],
)
def test_invalid_weights_raise_fit_input_error(weights: np.ndarray) -> None:
    X, y = _power_data()
    with pytest.raises(FitInputError, match="weight"):
        fit_law(get_law("power"), X, y, weights=weights)


def test_two_dimensional_loss_message_is_meaningful() -> None:
    X, y = _power_data()
    with pytest.raises(FitInputError) as info:
        fit_law(get_law("power"), X, y[:, None])
    assert "12 values but loss has 12" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# Warnings, weights, objectives
# ---------------------------------------------------------------------------------------------


def test_parameter_on_its_bound_warns() -> None:
    """Data without a floor drive the floor to its lower bound (log c = −30)."""
    X, _ = _power_data(20)
    y = 100 * X["x"] ** -0.3
    fit = fit_law(get_law("power"), X, y)
    assert fit.params["c"] < 1e-10
    bound = [w for w in fit.warnings if "bound" in w]
    assert bound and "log_c" in bound[0]


def test_healthy_fit_has_no_bound_or_size_warning(fit_240: FitResult) -> None:
    assert not any("bound" in w or "points for" in w for w in fit_240.warnings)


def test_too_few_points_warns() -> None:
    X, y = _power_data(6)  # 6 < 3 × 3 parameters
    fit = fit_law(get_law("power"), X, y)
    assert any("Only 6 points for 3 parameters" in w for w in fit.warnings)
    X, y = _power_data(12)
    assert not any("Only" in w for w in fit_law(get_law("power"), X, y).warnings)


def test_zero_weight_equals_leaving_the_point_out() -> None:
    law = get_law("power")
    rng = np.random.default_rng(11)
    x = np.geomspace(1e6, 1e11, 25)
    y = (300 * x**-0.35 + 1.7) * np.exp(0.01 * rng.standard_normal(x.size))
    y[5] *= 1.5  # an outlier
    weights = np.ones(x.size)
    weights[5] = 0.0
    weighted = fit_law(law, {"x": x}, y, weights=weights)
    keep = np.arange(x.size) != 5
    dropped = fit_law(law, {"x": x[keep]}, y[keep])
    plain = fit_law(law, {"x": x}, y)
    for k in ("a", "b", "c"):
        assert weighted.params[k] == pytest.approx(dropped.params[k], rel=1e-4)
    assert weighted.objective == pytest.approx(dropped.objective, rel=1e-6)
    assert plain.objective > weighted.objective
    assert any(abs(plain.params[k] / weighted.params[k] - 1) > 1e-3 for k in ("a", "b", "c"))


def test_weights_scale_the_objective() -> None:
    X, y = _power_data()
    y = y * np.exp(0.01 * np.random.default_rng(2).standard_normal(y.size))
    plain = fit_law(get_law("power"), X, y)
    doubled = fit_law(get_law("power"), X, y, weights=np.full(y.size, 2.0))
    assert doubled.objective == pytest.approx(2 * plain.objective, rel=1e-5)
    assert doubled.params == pytest.approx(plain.params, rel=1e-4)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_every_objective_recovers_clean_data(objective: str) -> None:
    law = get_law("power")
    x = np.geomspace(1e6, 1e11, 30)
    truth = {"a": 300.0, "b": 0.35, "c": 1.7}
    y = law.predict(truth, {"x": x}) * np.exp(
        1e-4 * np.random.default_rng(3).standard_normal(x.size)
    )
    fit = fit_law(law, {"x": x}, y, objective=objective)
    assert fit.objective_name == objective
    assert fit.params == pytest.approx(truth, rel=1e-2)
    assert (fit.scale is not None) == (objective == "huber_likelihood")


def test_objectives_agree_on_chinchilla_synthetic() -> None:
    rng = np.random.default_rng(8)
    X = _joint_design(rng, 8)
    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
    y = CHINCHILLA.predict(truth, X) * np.exp(1e-4 * rng.standard_normal(64))
    fits = {o: fit_law(CHINCHILLA, X, y, objective=o) for o in OBJECTIVES}
    for o, fit in fits.items():
        assert fit.params["alpha"] == pytest.approx(0.35, abs=2e-3), o
        assert fit.params["beta"] == pytest.approx(0.37, abs=2e-3), o
        assert fit.params["E"] == pytest.approx(1.8, rel=1e-2), o
