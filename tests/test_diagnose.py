"""Regime classification and the diagnose contract on series with known regimes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scaling_core.cli import main
from scaling_core.diagnose import diagnose, infer_direction
from scaling_core.regimes import classify_points, emergence, too_small_for_data
from scaling_core.schema import RunTable


def three_phase_curve(x: np.ndarray) -> np.ndarray:
    """Flat near 10 nats at small x, a power law in the middle, a floor of 2 at large x."""
    return 2.0 + 8.0 / (1.0 + x / 1e8)


@pytest.mark.parametrize("noise", [0.0, 0.002, 0.01])
def test_three_phases_are_found_at_every_noise_level(noise: float) -> None:
    rng = np.random.default_rng(7)
    x = np.geomspace(1e5, 1e13, 41)
    loss = three_phase_curve(x) * np.exp(rng.normal(0.0, noise, x.size))
    regimes = classify_points(x, loss, floor=2.0)
    logx = np.log10(x)
    # Far from the bends, the labels are unambiguous.
    assert set(regimes.regime[logx <= 6.0]) == {"initial"}
    assert set(regimes.regime[(logx >= 8.3) & (logx <= 9.3)]) == {"power_law"}
    assert set(regimes.regime[logx >= 11.0]) == {"saturated"}
    # Initial points all come before power-law points, which come before saturated ones.
    order = {"initial": 0, "power_law": 1, "saturated": 2}
    ranks = [order[r] for r in regimes.regime[np.argsort(x)]]
    assert ranks == sorted(ranks)


def test_a_clean_power_law_is_power_law_throughout() -> None:
    x = np.geomspace(1e6, 1e10, 30)
    regimes = classify_points(x, 50 * x**-0.2)
    assert set(regimes.regime) == {"power_law"}
    assert regimes.slope == pytest.approx(np.full(30, -0.2), abs=1e-9)


def test_a_cloud_is_judged_by_its_envelope() -> None:
    # Many sizes per budget: the best loss per budget follows a clean power law.
    rng = np.random.default_rng(1)
    budgets = np.repeat(np.geomspace(1e18, 1e22, 9), 12)
    loss = 40 * budgets**-0.06 * (1 + rng.uniform(0.0, 0.3, budgets.size))
    loss[::12] = 40 * budgets[::12] ** -0.06  # the optimal size at each budget
    assert set(classify_points(budgets, loss).regime) == {"power_law"}


def test_emergence_needs_a_real_jump() -> None:
    rng = np.random.default_rng(0)
    x = np.geomspace(1e7, 1e11, 20)
    jump = np.where(x < 1e9, 0.25, 0.8) + rng.normal(0, 0.01, x.size)
    smooth = 0.25 + 0.55 * (np.log10(x) - 7) / 4 + rng.normal(0, 0.01, x.size)
    found = emergence(x, jump)
    assert found is not None and "Sudden jump" in found.sentence
    assert found.scale_from < 1e9 < found.scale_to
    assert found.share > 0.9 and found.rate_ratio > 3
    assert f"{found.jump:.3g}" in found.sentence
    assert emergence(x, smooth) is None
    # A steady climb over unevenly spaced sizes is not a jump.
    uneven = np.array([1e7, 1.2e7, 1.5e7, 1e9, 1.2e9, 1.5e9, 2e9, 3e9])
    assert emergence(uneven, 0.1 * np.log10(uneven)) is None


def test_too_small_model_is_named() -> None:
    tokens = np.tile(np.geomspace(1e8, 1e11, 8), 2)
    params = np.repeat([1e7, 1e9], 8)
    loss = np.where(params == 1e7, 4.0 + 30 / (1 + tokens / 1e8), 2.0 + 400 * tokens**-0.3)
    sentences = too_small_for_data(params, tokens, loss)
    assert len(sentences) == 1
    assert "N = 1e+07" in sentences[0]


@pytest.mark.parametrize(
    ("name", "direction"),
    [("val_loss", "lower"), ("perplexity", "lower"), ("accuracy", "higher"),
     ("mmlu_acc", "higher"), ("score", "higher"), ("mystery", "lower")],
)  # fmt: skip
def test_direction_is_inferred_from_the_name(name: str, direction: str) -> None:
    assert infer_direction(name)[0] == direction


def test_inverse_scaling_series_is_flagged_with_its_numbers() -> None:
    rng = np.random.default_rng(3)
    params = np.geomspace(1e7, 1e10, 12)
    runs = RunTable.from_arrays(
        params=params, tokens=20 * params,
        loss=0.5 * params**0.05 * np.exp(rng.normal(0, 0.01, 12)),
    )  # fmt: skip
    series = diagnose(runs, "params")
    kinds = {flag.kind for s in series for flag in s.flags}
    assert "inverse_scaling" in kinds
    flag = next(f for s in series for f in s.flags if f.kind == "inverse_scaling")
    assert flag.evidence["ci_low"] > 0
    assert f"{flag.evidence['slope']:+.3f}" in flag.sentence


def test_diagnose_cli_json_contract(tmp_path, capsys) -> None:
    params = np.geomspace(1e6, 1e12, 30)
    rows = ["run,params,tokens,accuracy"] + [
        f"r{i},{n:.6g},{20 * n:.6g},{0.25 if n < 1e9 else 0.8}" for i, n in enumerate(params)
    ]
    path = tmp_path / "downstream.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["diagnose", str(path), "--metric", "accuracy", "--x", "params", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "accuracy"
    assert out["direction"] == "higher"
    assert "inferred" in out["direction_source"]
    series = out["series"][0]
    assert len(series["points"]) == 30
    assert {p["regime"] for p in series["points"]} <= {"initial", "power_law", "saturated"}
    assert "emergence" in {f["kind"] for f in out["flags"]}
    assert main(["diagnose", str(path), "--metric", "accuracy", "--direction", "lower",
                 "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["direction_source"] == "set with --direction"
