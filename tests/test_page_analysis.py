"""AppTest tests of the Regimes and Compare pages (through app.py's navigation)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from scaling_core.ingest import ParsedTable, parse_table
from scaling_core.store import STORE_ENV_VAR, Store, ensure_default_datasets

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
ARCHITECTURES = "Synthetic architectures"
SWEEP = "batch and LR sweep"
S_MIN, E_MIN = 1000.0, 2.56e5  # McCandlish: B_crit = E_min / S_min = 256


def sweep_csv() -> bytes:
    """Step-level logs of a batch-size sweep (reaching loss 5 takes S_min + E_min/B steps) and,
    in the same runs, an LR grid per model size whose optimum does not move (μP-like)."""
    rows = ["run,params,tokens,step,batch_size,learning_rate,loss"]
    sizes = (1e7, 4e7, 1.6e8)
    lrs = (1e-3, 3e-3, 1e-2, 3e-2)
    for k, batch in enumerate((32, 64, 128, 256, 512, 1024, 2048)):
        s_target = S_MIN + E_MIN / batch
        n = sizes[k % 3]
        for i, lr in enumerate(lrs):
            if k >= 3 and i > 0:
                continue
            penalty = 1 + 0.05 * np.log(lr / 3e-3) ** 2
            for step in np.geomspace(50, 20 * s_target, 25):
                loss = (2 + 3 * (s_target / step) ** 0.5) * (penalty if k < 3 else 1)
                rows.append(f"b{batch}-lr{lr:g},{n:g},{step * batch * 512:.6g},{step:.6g},"
                            f"{batch},{lr:g},{loss:.6f}")  # fmt: skip
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture(scope="module", autouse=True)
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("analysis") / "analysis.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(REPO))
        mp.setenv(STORE_ENV_VAR, str(path))
        seeded = Store.open(str(path))
        try:
            ensure_default_datasets(seeded)
            data = sweep_csv()
            parsed = parse_table("sweep.csv", data)
            assert isinstance(parsed, ParsedTable), parsed
            seeded.add_dataset(SWEEP, parsed, data)
        finally:
            seeded.close()
        st.cache_resource.clear()
        st.cache_data.clear()
        yield path
        st.cache_resource.clear()
        st.cache_data.clear()


def open_page(page: str, dataset: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    if dataset:
        at.query_params["dataset"] = dataset
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_regimes_page_flags_and_exclusion_carry_to_the_fit_page() -> None:
    at = open_page("pages/regimes.py")
    at.selectbox(key="reg_x").set_value("params").run()
    assert not at.exception
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert any("Saturated" in b and "32 of 240" in b for b in badges), badges
    exponent = next(m for m in at.metric if m.label.startswith("Exponent"))
    before = float(exponent.value)
    at.toggle(key="reg_excl_saturated").set_value(True).run()
    after = next(m for m in at.metric if m.label.startswith("Exponent"))
    assert float(after.value) != before
    assert "vs all points" in after.delta
    assert at.query_params["rx"] == ["params"] or at.query_params["rx"] == "params"


def test_regimes_page_backtest_table() -> None:
    at = open_page("pages/regimes.py")
    tables = [df.value for df in at.dataframe]
    backtest = next(t for t in tables if "mean |error|" in t.columns)
    assert len(backtest) >= 3
    errors = [float(v.rstrip("%")) for v in backtest["mean |error|"]]
    assert all(0 <= e < 10 for e in errors)


def test_fit_page_honours_regime_exclusion_from_the_url() -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["excl"] = "saturated"
    at.query_params["law"] = "power"
    at.query_params["x"] = "params"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    caption = next(c.value for c in at.caption if "runs of" in c.value)
    assert caption.startswith("208 runs")  # 240 less the 32 saturated in N


def _multiplier(sentence: str) -> tuple[float, float, float]:
    """(k, low, high) from "… with 2.4× [2.3, 2.7] …"."""
    k, rest = sentence.split("× [", 1)
    low, high = rest.split("]", 1)[0].split(", ")
    return float(k.rsplit(" ", 1)[1]), float(low), float(high)


def test_compare_page_recovers_the_known_multiplier() -> None:
    # The bundled data were generated with improved = baseline at 2.5x compute, plus noise.
    at = open_page("pages/compare.py", ARCHITECTURES)
    at.toggle(key="cmp_shared").set_value(True).run()
    sentence = at.success[0].value
    assert sentence.startswith("improved reaches baseline's loss with")
    k, low, high = _multiplier(sentence)
    assert low <= 2.5 <= high and k == pytest.approx(2.5, rel=0.1)
    at.selectbox(key="cmp_reference").set_value("improved").run()
    k, low, high = _multiplier(at.success[0].value)
    assert "baseline needs" in at.success[0].value
    assert low <= 2.5 <= high and k == pytest.approx(2.5, rel=0.1)


def test_compare_page_explains_missing_groups_and_sweeps() -> None:
    at = open_page("pages/compare.py")
    infos = " ".join(i.value for i in at.info)
    assert "no group column" in infos
    assert "batch-size sweep" in infos and "LR sweep" in infos


def test_sweeps_tab_reads_critical_batch_size_and_lr_transfer() -> None:
    at = open_page("pages/compare.py", SWEEP)
    text = " ".join(m.value for m in at.markdown)
    assert "B_crit = **" in text
    b_crit = float(text.split("B_crit = **")[1].split("**")[0])
    assert b_crit == pytest.approx(E_MIN / S_MIN, rel=0.1)
    assert any("transfer" in s.value.lower() for s in [*at.success, *at.warning])


def test_planner_forecasts_the_downstream_metric_with_its_caveat() -> None:
    at = open_page("pages/planner.py", "Synthetic example runs")
    forecast = next(m for m in at.metric if m.label == "Forecast metric")
    assert 0.25 <= float(forecast.value) <= 0.95
    assert any("less predictably" in w.value for w in at.warning)


def test_planner_refuses_a_joint_fit_on_a_fixed_ratio_design() -> None:
    at = open_page("pages/planner.py", ARCHITECTURES)
    assert any("same tokens per parameter" in e.value for e in at.error)
