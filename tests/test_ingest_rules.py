"""Validation rules: units, errors vs warnings, mixed metrics, at_step, size limit, bundled data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from scaling_core.ingest import (
    DEFAULT_UNITS,
    UNIT_CHOICES,
    UNIT_FACTORS,
    UNIT_LABELS,
    IngestError,
    IngestErrors,
    ParsedTable,
    ReductionError,
    check_size,
    load_runs_from_file,
    parse_table,
    suggest_mapping,
)

DATA = Path(__file__).resolve().parent.parent / "data"


def ok(data: bytes, mapping=None, units=None, name: str = "runs.csv") -> ParsedTable:
    result = parse_table(name, data, mapping, units)
    assert isinstance(result, ParsedTable), result.messages()
    return result


def bad(data: bytes, mapping=None, units=None, name: str = "runs.csv") -> IngestErrors:
    result = parse_table(name, data, mapping, units)
    assert isinstance(result, IngestErrors), "expected the file to be rejected"
    return result


def csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


# -- bundled data: no errors, no warnings --------------------------------------------------------

BUNDLED = {
    "chinchilla_epoch.csv": None,
    "example_runs.csv": None,
    "example_architectures.csv": None,
    "opt_downstream.csv": {"run": "run", "params": "params", "tokens": "tokens",
                           "group": "group", "loss": "accuracy"},
    "opt_perplexity.csv": {"run": "run", "params": "params", "tokens": "tokens",
                           "group": "group", "loss": "perplexity"},
}  # fmt: skip


def test_every_bundled_file_is_covered() -> None:
    assert sorted(BUNDLED) == sorted(p.name for p in DATA.glob("*.csv"))


@pytest.mark.parametrize(("name", "mapping"), BUNDLED.items())
def test_bundled_files_parse_without_errors_or_warnings(name: str, mapping) -> None:
    parsed = ok((DATA / name).read_bytes(), mapping, name=name)
    assert parsed.warnings == ()
    assert parsed.n_rows == len((DATA / name).read_text().splitlines()) - 1


# -- units --------------------------------------------------------------------------------------


def test_unit_choices_are_consistent() -> None:
    for column, units in UNIT_CHOICES.items():
        assert UNIT_FACTORS[units[0]] == 1.0, column
        assert DEFAULT_UNITS[column] == units[0]
        assert all(unit in UNIT_LABELS and unit in UNIT_FACTORS for unit in units)
    assert UNIT_FACTORS["PF-days"] == 8.64e19
    assert UNIT_FACTORS["bits"] == math.log(2)


def test_units_convert_to_the_schema_units() -> None:
    data = csv("run,N,D,C,loss_bits", "a,70,1.4,3.4e-1,3.0", "b,140,2.8,1.4,2.8")
    mapping = {"run": "run", "params": "N", "tokens": "D", "flops": "C", "loss": "loss_bits"}
    units = {"params": "M", "tokens": "B", "flops": "PF-days", "loss": "bits"}
    parsed = ok(data, mapping, units)
    assert parsed.columns["params"].tolist() == [70e6, 140e6]
    assert parsed.columns["tokens"].tolist() == [1.4e9, 2.8e9]
    np.testing.assert_allclose(parsed.columns["flops"], [0.34 * 8.64e19, 1.4 * 8.64e19])
    np.testing.assert_allclose(parsed.columns["loss"], [3.0 * math.log(2), 2.8 * math.log(2)])
    assert parsed.units == {"params": "M", "tokens": "B", "flops": "PF-days", "loss": "bits"}
    assert ok(csv("params,tokens,loss", "1e8,2e9,2.5")).units == {
        "params": "count",
        "tokens": "count",
        "loss": "nats",
    }


def test_unit_mistakes_are_caught() -> None:
    data = csv("params,tokens,loss", "70,1400,2.5")
    message = bad(data, units={"params": "M"}).summary()
    assert 'column "tokens": "1400" gives 1.4e+03 training tokens for 7e+07 parameters' in message
    assert "choose the column's unit" in message
    assert ok(data, units={"params": "M", "tokens": "M"}).columns["tokens"].tolist() == [1.4e9]


def test_a_suffix_in_a_column_with_a_unit_is_ambiguous() -> None:
    message = bad(csv("params,tokens,loss", "70M,2e9,2.5"), units={"params": "M"}).summary()
    assert message == (
        'runs.csv, row 2 (header = row 1), column "params": "70M" has its own size suffix but '
        "the column's unit is millions (M); expected a positive parameter count like 1.4e9 or 70M"
    )


def test_unknown_units_and_conflicting_units_are_errors() -> None:
    data = csv("params,tokens,val_loss", "1e8,2e9,2.5")
    assert '"parsecs" is not a unit of params' in bad(data, units={"params": "parsecs"}).summary()
    assert '"step" has no unit choice' in bad(data, units={"step": "count"}).summary()
    mapping = {"params": "params", "tokens": "tokens", "loss": "val_loss", "val_loss": "val_loss"}
    conflict = bad(data, mapping, {"loss": "bits", "val_loss": "nats"}).summary()
    assert 'column "val_loss": is used as loss in bits and as val_loss in nats' in conflict
    shared = ok(data, mapping, {"loss": "bits"})  # one unit given: the column's other role too
    assert shared.units["val_loss"] == "bits"
    assert shared.columns["val_loss"].tolist() == shared.columns["loss"].tolist()


def test_compute_far_from_6nd_is_a_units_error_but_budgets_in_step_logs_are_fine() -> None:
    message = bad(csv("params,tokens,flops,loss", "1e8,2e9,1.2,2.5")).summary()
    assert 'column "flops": "1.2"' in message and "times 6·N·D" in message
    budget = 6 * 1e8 * 4e9  # an isoFLOP run: the budget on every row, tokens growing
    steps = [f"a,1e8,{t:g},{budget:g},{s},{3 - s / 10}" for s, t in ((1, 1e6), (2, 2e9), (3, 4e9))]
    assert ok(csv("run,params,tokens,flops,step,loss", *steps)).warnings == ()


def test_early_steps_with_few_tokens_are_not_a_units_error() -> None:
    rows = [f"big,1e10,{s * 4e6:g},{s},{10 - s / 1000}" for s in (1, 10, 100, 1000)]
    parsed = ok(csv("run,params,tokens,step,loss", *rows))
    assert parsed.columns["tokens"][0] < 1e10 * 1e-3


# -- repeated rows: warnings or errors -----------------------------------------------------------


def test_an_exact_duplicate_row_is_a_warning_and_counted_once() -> None:
    parsed = ok(csv("params,tokens,loss", "1e8,2e9,2.5", "2e8,4e9,2.4", "1e8,2e9,2.5"))
    assert parsed.n_rows == 2
    assert parsed.columns["row_number"].tolist() == [3, 4]
    (warning,) = parsed.warnings
    assert warning.message() == (
        "runs.csv, row 4 (header = row 1): row 4 repeats row 2 exactly; it is counted once"
    )


def test_same_size_different_loss_without_runs_is_two_runs() -> None:
    parsed = ok(csv("params,tokens,loss", "1e8,2e9,2.5", "1e8,2e9,2.6"))
    assert parsed.n_runs == 2 and parsed.warnings == ()


def test_a_resumed_run_re_logging_steps_keeps_the_later_values() -> None:
    rows = [f"a,1e8,{s}e9,{s},{3 - s / 10}" for s in (1, 2, 3)]
    rows += [f"a,1e8,{s}e9,{s},{3 - s / 10 - 0.01}" for s in (2, 3, 4, 5)]  # resumed at 2
    parsed = ok(csv("run,params,tokens,step,loss", *rows))
    assert parsed.columns["step"].tolist() == [1, 2, 3, 4, 5]
    assert parsed.columns["row_number"].tolist() == [2, 5, 6, 7, 8]
    (warning,) = parsed.warnings
    assert 'run "a" logs step 2 again on row 5 (first on row 3)' in warning.message()
    assert "the later value is kept (2 re-logged steps in 1 runs)" in warning.message()
    assert parsed.run_table().loss.tolist() == [2.49]


def test_two_runs_under_one_name_are_an_error() -> None:
    rows = [f"a,1e8,{s}e9,{s},{3 - s / 10}" for s in (1, 2, 3)]
    rows += [f"a,1e8,{s}e9,{s},{3.1 - s / 10}" for s in (1, 2, 3)]  # a second seed, same name
    message = bad(csv("run,params,tokens,step,loss", *rows)).summary()
    assert message.startswith('runs.csv, row 5 (header = row 1), column "step": "1" run "a" logs')
    assert "looks like two runs under one name" in message


def test_same_run_same_tokens_different_loss_without_steps_is_an_error() -> None:
    message = bad(csv("run,params,tokens,loss", "a,1e8,2e9,2.5", "a,1e8,2e9,2.6")).summary()
    assert 'column "loss": "2.6" run "a" has the same tokens and compute as on row 2' in message


def test_long_format_metrics_in_one_value_column_are_mixed_metrics() -> None:
    rows = []
    for step in (1, 2, 3):
        rows.append(f"a,1e8,{step}e9,{step},loss,{3 - step / 10}")
        rows.append(f"a,1e8,{step}e9,{step},accuracy,{0.3 + step / 10}")
    data = csv("run,params,tokens,step,metric_name,value", *rows)
    mapping = {"run": "run", "params": "params", "tokens": "tokens", "step": "step",
               "loss": "value"}  # fmt: skip
    message = bad(data, mapping).summary()
    assert 'column "metric_name" tells them apart ("accuracy", "loss")' in message
    assert "the loss column mixes metrics" in message


def test_accuracies_among_losses_are_mixed_metrics() -> None:
    rows = [f"r{i},{1e8 * (i + 1):g},2e9,{v}" for i, v in enumerate([2.5, 2.4, 0.61, 2.3, 0.64])]
    message = bad(csv("run,params,tokens,loss", *rows)).summary()
    assert message.startswith('runs.csv, row 4 (header = row 1), column "loss": "0.61" is one of 2')
    assert "accuracies or probabilities look mixed with losses" in message


def test_fractions_and_percentages_in_the_metric_column_are_mixed() -> None:
    rows = [
        f"r{i},{1e8 * (i + 1):g},2e9,{2.5 - i / 10},{v}" for i, v in enumerate([0.4, 45, 0.5, 55])
    ]
    message = bad(csv("run,params,tokens,loss,accuracy", *rows)).summary()
    assert "fractions look mixed with percentages" in message


def test_curves_through_one_spikes_and_task_groups_are_not_mixed_metrics() -> None:
    falling = [f"a,1e8,{s}e9,{s},{v}" for s, v in enumerate([3.0, 1.5, 0.9, 2.4, 0.6, 0.5], 1)]
    ok(csv("run,params,tokens,step,loss", *falling))
    tasks = [f"{t}{i},{1e8 * (i + 1):g},2e9,{t},{v}" for t, base in (("easy", 0.3), ("hard", 2.5))
             for i, v in enumerate([base, base * 0.9, base * 0.8])]  # fmt: skip
    mapping = {
        "run": "run",
        "params": "params",
        "tokens": "tokens",
        "group": "task",
        "loss": "loss",
    }
    ok(csv("run,params,tokens,task,loss", *tasks), mapping)


def test_every_error_names_file_row_column_value_and_expectation() -> None:
    message = bad(csv("run,params,tokens,loss,lr", "a,1e8,2e9,2.5,-3e-4")).summary()
    assert message == (
        'runs.csv, row 2 (header = row 1), column "lr": "-3e-4" is negative; expected a '
        "learning rate of 0 or more, like 3e-4"
    )
    assert "is not positive" in bad(csv("params,tokens,loss,val_loss", "1e8,2e9,2.5,0")).summary()
    assert "is negative" in bad(csv("run,params,tokens,loss,step", "a,1e8,2e9,2.5,-1")).summary()


def test_huge_run_names_and_many_columns_are_refused_politely() -> None:
    long_name = "x" * 2000
    message = bad(csv("run,params,tokens,loss", f"{long_name},1e8,2e9,2.5")).summary()
    assert 'column "run": "xxx' in message and "is a name of 2,000 characters" in message
    headers = ",".join(f"c{i}" for i in range(300))
    message = bad(csv(headers, ",".join("1" for _ in range(300)))).summary()
    assert '"c19", … (300 columns in all)' in message


# -- at a chosen step ---------------------------------------------------------------------------

STEPS = csv(
    "run,params,tokens,step,loss",
    "a,1e8,1e9,100,3.0",
    "a,1e8,2e9,200,2.9",
    "a,1e8,3e9,300,2.95",
    "b,2e8,1e9,200,2.8",
    "b,2e8,2e9,400,2.7",
)


def test_at_step_takes_each_runs_last_evaluation_at_or_before_the_step() -> None:
    parsed = ok(STEPS)
    at_250 = parsed.run_table("final", at_step=250)
    assert at_250.run.tolist() == ["a", "b"]
    assert at_250.loss.tolist() == [2.9, 2.8]
    assert parsed.run_table("final", at_step=150).run.tolist() == ["a"]  # b has no step ≤ 150
    assert parsed.run_table("best", at_step=300).loss.tolist() == [2.9, 2.8]
    pandas = parsed.reduce("final", at_step=250)
    assert pandas["loss"].tolist() == [2.9, 2.8]


def test_at_step_errors_say_what_would_work(tmp_path: Path) -> None:
    parsed = ok(STEPS)
    with pytest.raises(ReductionError, match=r"at or before step 50 .*earliest logged step is 100"):
        parsed.run_table(at_step=50)
    flat = ok(csv("params,tokens,loss", "1e8,2e9,2.5"))
    with pytest.raises(ReductionError, match="no row has a step number"):
        flat.run_table(at_step=10)
    path = tmp_path / "steps.csv"
    path.write_bytes(STEPS)
    assert load_runs_from_file(str(path), at_step=250).loss.tolist() == [2.9, 2.8]
    with pytest.raises(IngestError, match=r"^steps\.csv: no run has an evaluation"):
        load_runs_from_file(str(path), at_step=1)


# -- size limit and logged names ----------------------------------------------------------------


def test_check_size_gives_the_limit_and_where_it_is_set() -> None:
    assert check_size("runs.csv", 50 * 1024 * 1024, 50) is None
    errors = check_size("runs.csv", int(73.2 * 1024 * 1024), 50)
    assert isinstance(errors, IngestErrors)
    assert errors.summary().startswith(
        "runs.csv: is 73.2 MB; the upload limit is 50 MB "
        "(server.maxUploadSize in .streamlit/config.toml); expected a smaller file"
    )


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("train/loss", "train_loss"),
        ("eval/loss", "val_loss"),
        ("val/loss", "val_loss"),
        ("validation/loss", "val_loss"),
        ("trainer/global_step", "step"),
        ("_step", "step"),
        ("n_params", "params"),
        ("num_params", "params"),
        ("model.n_params", "params"),
        ("config.model.num_parameters", "params"),
        ("tokens_seen", "tokens"),
        ("train/tokens_seen", "tokens"),
        ("lr", "learning_rate"),
        ("optimizer/lr", "learning_rate"),
        ("eval/accuracy", "metric"),
    ],
)
def test_logged_names_map_automatically(header: str, canonical: str) -> None:
    assert suggest_mapping(["_runtime", "config.data", header]).get(canonical) == header


def test_exact_names_win_over_paths_and_tracker_internals() -> None:
    mapping = suggest_mapping(["_step", "trainer/global_step", "step"])
    assert mapping["step"] == "step"
    assert suggest_mapping(["_step", "trainer/global_step"])["step"] == "trainer/global_step"
    assert "tokens" not in suggest_mapping(["config.data", "timing/compute"])
