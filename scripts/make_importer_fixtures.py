"""Generate ``tests/fixtures/importers/``: one SYNTHETIC scaling-law sweep, logged by the real
tracking libraries.

Why: the importers (:mod:`scaling_core.importers`) read files that other programs write — a
W&B offline run's binary ``run-*.wandb`` datastore, TensorBoard event files, an MLflow file
store. Hand-made imitations would only test our own reading of our own guess; these fixtures
are written by the libraries themselves, so the tests check that we recover exactly what the
libraries were asked to log.

Made with (scratch venv OUTSIDE the repo, never a project dependency)::

    python3 -m venv /work/scratch/importers-venv
    /work/scratch/importers-venv/bin/pip install wandb==0.31.0 mlflow-skinny==3.17.2 \
        tensorboardX==2.6.5 tensorboard==2.21.0          # pulled protobuf==7.36.2
    /work/scratch/importers-venv/bin/python scripts/make_importer_fixtures.py

Library versions used for the committed fixtures: wandb 0.31.0 (wandb-core 0.31.0),
mlflow-skinny 3.17.2, tensorboardX 2.6.5, tensorboard 2.21.0, protobuf 7.36.2, Python 3.11.7.

The sweep (:func:`sweep`) is pure Python so the tests import this file to know what was logged:
five GPT-like model sizes, each logged at 20 steps (250 … 5000) with ``train/loss``,
``train/learning_rate`` and ``train/tokens_seen`` at every step and ``eval/loss`` every 1000
steps (so eval/loss is *not logged* at 15 of the 20 steps). Losses follow the Chinchilla law
L(N, D) = E + A/N^α + B/D^β (nats) with a small seeded wiggle, rounded to 5 decimals; config
holds ``n_params`` (int), ``model_size`` (text like "70M"), widths, batch size and peak LR.

What is library-made and what follows a documented layout: see the fixtures' README.md.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "importers"

E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
"""Chinchilla's published law (Hoffmann et al. 2022), loss in nats."""
BATCH_SIZE = 256
SEQ_LEN = 1024
STEPS = tuple(range(250, 5001, 250))
EVAL_EVERY = 1000
SEED = 20261126


@dataclass(frozen=True)
class RunSpec:
    """One model size of the sweep: its run name and the config it logs."""

    name: str
    config: dict[str, int | float | str]
    history: dict[int, dict[str, float]]
    """step → {metric key: value} exactly as passed to the logging call."""


def _lr(step: int, peak: float) -> float:
    """Cosine decay to 10% of peak (no warm-up at the logged steps), 6 significant digits."""
    value = peak * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * step / STEPS[-1])))
    return float(f"{value:.6g}")


def sweep() -> list[RunSpec]:
    """The five runs with every value they log (deterministic: seeded wiggle, rounded)."""
    rng = random.Random(SEED)
    sizes = (
        ("gpt-10M", 10_200_000, "10M", 256, 4, 1.0e-3),
        ("gpt-25M", 25_600_000, "25M", 384, 6, 8.0e-4),
        ("gpt-70M", 70_400_000, "70M", 512, 10, 6.0e-4),
        ("gpt-160M", 162_300_000, "160M", 768, 12, 4.0e-4),
        ("gpt-410M", 405_300_000, "410M", 1024, 24, 3.0e-4),
    )
    runs = []
    for name, n_params, label, d_model, n_layers, peak_lr in sizes:
        config: dict[str, int | float | str] = {
            "n_params": n_params,
            "model_size": label,
            "d_model": d_model,
            "n_layers": n_layers,
            "batch_size": BATCH_SIZE,
            "seq_len": SEQ_LEN,
            "peak_lr": peak_lr,
            "architecture": "gpt",
        }
        history: dict[int, dict[str, float]] = {}
        for step in STEPS:
            tokens = step * BATCH_SIZE * SEQ_LEN
            law = E + A / n_params**ALPHA + B / tokens**BETA
            row = {
                "train/loss": round(law * (1 + rng.gauss(0, 0.004)), 5),
                "train/learning_rate": _lr(step, peak_lr),
                "train/tokens_seen": float(tokens),
            }
            if step % EVAL_EVERY == 0:
                row["eval/loss"] = round(law * (1.012 + rng.gauss(0, 0.003)), 5)
            history[step] = row
        runs.append(RunSpec(name, config, history))
    return runs


def final_summary(run: RunSpec) -> dict[str, float]:
    """What a tracker's summary holds at the end: each metric's last logged value, and _step."""
    summary: dict[str, float] = {}
    for step in sorted(run.history):
        summary.update(run.history[step])
        summary["_step"] = step
    return summary


# ------------------------------------------------------------------------------------------
# Writers (each imports its library lazily so the tests can import sweep() without them)
# ------------------------------------------------------------------------------------------


def write_wandb(root: Path) -> None:
    """W&B offline runs: ``wandb/offline-run-*/run-<id>.wandb`` (no network, no login).

    Logs and tmp/ folders (debug logs with local paths, a symlink into ~/.cache) are removed;
    system metrics, code and git capture are off so the run folder holds only what was logged.
    """
    import wandb

    os.environ["WANDB_SILENT"] = "true"
    work = Path(tempfile.mkdtemp())
    for run_spec in sweep():
        settings = wandb.Settings(
            mode="offline",
            x_disable_stats=True,
            x_disable_meta=True,
            disable_git=True,
            save_code=False,
            console="off",
            x_save_requirements=False,
        )
        run = wandb.init(
            project="scaling-sweep",
            name=run_spec.name,
            group="gpt",
            config=run_spec.config,
            dir=str(work),
            settings=settings,
        )
        for step, values in run_spec.history.items():
            run.log(values, step=step)
        run.finish()
    target = root / "wandb"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(work / "wandb", target, symlinks=True)
    for run_dir in target.glob("offline-run-*"):
        for junk in ("logs", "tmp"):
            shutil.rmtree(run_dir / junk, ignore_errors=True)
    for link in [p for p in target.rglob("*") if p.is_symlink()]:
        link.unlink()
    shutil.rmtree(work)


EDGE_RUNS = {
    "nested-auto-step": {
        "config": {"model": {"n_params": 1.2e8, "width": 768}},
        "config_update": {"tokens_budget": 2.4e9},
        "logs": [
            {"train": {"loss": 3.0 - i / 10}, "flag": True, "note": "text", "lr": 1e-3}
            for i in range(3)
        ],
        "summary": {"best/loss": 2.5},
    },
    "summary-only": {"config": {"n_params": 5e7}, "summary": {"eval/loss": 3.3}},
}
"""Edge cases for ``wandb_edge/``: nested dicts in config and in logged values, automatic
steps, a config update after init, non-numeric logged values (a bool, a string), and a run that
only sets its summary."""


def write_wandb_edge(root: Path) -> None:
    """``wandb_edge/``: two offline runs exercising :data:`EDGE_RUNS` (same settings as
    :func:`write_wandb`)."""
    import wandb

    os.environ["WANDB_SILENT"] = "true"
    work = Path(tempfile.mkdtemp())
    for name, spec in EDGE_RUNS.items():
        settings = wandb.Settings(
            mode="offline",
            x_disable_stats=True,
            x_disable_meta=True,
            disable_git=True,
            save_code=False,
            console="off",
            x_save_requirements=False,
        )
        run = wandb.init(
            project="edge", name=name, config=spec["config"], dir=str(work), settings=settings
        )
        if "config_update" in spec:
            run.config.update(spec["config_update"])
        for values in spec.get("logs", []):
            run.log(values)
        for key, value in spec["summary"].items():
            run.summary[key] = value
        run.finish()
    target = root / "wandb_edge"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(work / "wandb", target, symlinks=True)
    for run_dir in target.glob("offline-run-*"):
        for junk in ("logs", "tmp"):
            shutil.rmtree(run_dir / junk, ignore_errors=True)
    for link in [p for p in target.rglob("*") if p.is_symlink()]:
        link.unlink()
    shutil.rmtree(work)


def write_tensorboard(root: Path) -> None:
    """TensorBoard logdir, one subdirectory per run.

    Four runs by tensorboardX (scalars as ``simple_value``; hparams by ``add_hparams``, which
    writes them into a time-named child directory of the run, as it does for its users). The
    largest run is written the way TF2/Keras write: scalars as rank-0 float tensors with the
    ``scalars`` plugin metadata, hparams as a session-start summary in the run's own directory —
    through the ``tensorboard`` package's own ``EventFileWriter`` and protos (TensorFlow itself is
    not installed).
    """
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.plugins.hparams import metadata as hparams_metadata
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboardX import SummaryWriter

    target = root / "tensorboard"
    shutil.rmtree(target, ignore_errors=True)
    runs = sweep()
    for run_spec in runs[:-1]:
        with SummaryWriter(logdir=str(target / run_spec.name)) as writer:
            for step, values in run_spec.history.items():
                for key, value in values.items():
                    writer.add_scalar(key, value, global_step=step)
            final = final_summary(run_spec)
            writer.add_hparams(
                dict(run_spec.config), {"hparam/final_train_loss": final["train/loss"]}
            )
    run_spec = runs[-1]
    writer = EventFileWriter(str(target / run_spec.name))
    # What tensorboard.plugins.hparams.summary.session_start_pb builds, minus its TF import.
    start = plugin_data_pb2.SessionStartInfo(start_time_secs=1_795_000_000.0)
    for key, value in run_spec.config.items():
        if isinstance(value, str):
            start.hparams[key].string_value = value
        else:
            start.hparams[key].number_value = value
    hparams = summary_pb2.Summary()
    hparams.value.add(
        tag=hparams_metadata.SESSION_START_INFO_TAG,
        metadata=hparams_metadata.create_summary_metadata(
            plugin_data_pb2.HParamsPluginData(session_start_info=start)
        ),
        tensor=tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=0)]
            ),
        ),
    )
    writer.add_event(Event(summary=hparams))
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )
    described: set[str] = set()
    for step, values in run_spec.history.items():
        summary = summary_pb2.Summary()
        for key, value in values.items():
            tensor = tensor_pb2.TensorProto(
                dtype=types_pb2.DT_FLOAT,
                tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                float_val=[value],
            )
            # TF2 sends a tag's metadata with its first value only; later values are bare.
            if key in described:
                summary.value.add(tag=key, tensor=tensor)
            else:
                summary.value.add(tag=key, tensor=tensor, metadata=metadata)
                described.add(key)
        writer.add_event(Event(step=step, summary=summary))
    writer.close()


def write_mlflow(root: Path) -> None:
    """MLflow file store: ``mlruns/`` written through tracking URI ``file:<dir>``.

    MLflow 3.x keeps the file store in "maintenance mode" behind ``MLFLOW_ALLOW_FILE_STORE``;
    it is still what every ``mlruns/`` folder written by MLflow 1.x/2.x (and by 3.x users who opt
    in) looks like, and the layout we read.
    """
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import mlflow

    target = root / "mlruns"
    shutil.rmtree(target, ignore_errors=True)
    mlflow.set_tracking_uri(target.as_uri())
    mlflow.set_experiment("scaling-sweep")
    for run_spec in sweep():
        with mlflow.start_run(run_name=run_spec.name):
            mlflow.log_params(run_spec.config)
            mlflow.set_tag("architecture", "gpt")
            for step, values in run_spec.history.items():
                mlflow.log_metrics(values, step=step)


RUNS_TABLE_HEADER = ("Name", "State", "Notes", "User", "Tags", "Created", "Runtime", "Sweep")
"""The fixed leading columns of the W&B web UI's runs-table CSV export."""


def write_wandb_csv_exports(root: Path) -> None:
    """W&B exports that need the W&B server, written here in their documented layouts.

    ``wandb_runs_table.csv``: the runs table's "Export as CSV" — fixed columns, then config
    columns, then summary metrics (every field quoted). ``wandb_api_project.csv``: the W&B
    docs' public-API example (``pd.DataFrame({"summary": …, "config": …, "name": …})``
    ``.to_csv("project.csv")``), whose cells are Python dict reprs, written with pandas exactly
    as that example does.
    """
    runs = sweep()
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    config_keys = list(runs[0].config)
    summary_keys = ["train/loss", "train/learning_rate", "train/tokens_seen", "eval/loss"]
    writer.writerow([*RUNS_TABLE_HEADER, *config_keys, *summary_keys])
    for index, run in enumerate(runs):
        final = final_summary(run)
        writer.writerow(
            [
                run.name,
                "finished",
                "-",
                "scalescope-fixtures",
                "sweep, chinchilla",
                f"2026-11-26T0{index}:00:00.000Z",
                1800 + 600 * index,
                "",
                *(run.config[key] for key in config_keys),
                *(final[key] for key in summary_keys),
            ]
        )
    (root / "wandb_runs_table.csv").write_text(buffer.getvalue(), encoding="utf-8")

    import pandas as pd

    summary_list = [final_summary(run) for run in runs]
    config_list = [dict(run.config) for run in runs]
    name_list = [run.name for run in runs]
    runs_df = pd.DataFrame({"summary": summary_list, "config": config_list, "name": name_list})
    runs_df.to_csv(root / "wandb_api_project.csv")


def write_wandb_json(root: Path) -> None:
    """``wandb_api_runs.json``: what a user gets from ``json.dump`` of the public API's run
    objects — ``{"id", "name", "config": run.config, "summary": run.summary._json_dict,
    "history": run.history(pandas=False)}`` per run (history rows carry ``_step``, ``_runtime``
    and ``_timestamp`` as the API returns them). Written here in that shape, not by wandb."""
    payload = []
    for index, run in enumerate(sweep()):
        history = [
            {"_step": step, "_runtime": 1.5 * i, "_timestamp": 1_795_000_000.0 + i, **values}
            for i, (step, values) in enumerate(run.history.items())
        ]
        payload.append(
            {
                "id": f"run{index:04d}",
                "name": run.name,
                "state": "finished",
                "config": dict(run.config),
                "summary": final_summary(run),
                "history": history,
            }
        )
    (root / "wandb_api_runs.json").write_text(json.dumps(payload, indent=1) + "\n", "utf-8")


def write_expected(root: Path) -> None:
    """``expected.json``: the sweep as logged, for readers of the fixtures without Python."""
    payload = [
        {"name": r.name, "config": r.config, "history": {str(k): v for k, v in r.history.items()}}
        for r in sweep()
    ]
    (root / "expected.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def main() -> int:
    """Write every fixture (needs the scratch venv's wandb, mlflow, tensorboard, tensorboardX)."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    write_wandb(FIXTURES)
    write_wandb_edge(FIXTURES)
    write_tensorboard(FIXTURES)
    write_mlflow(FIXTURES)
    write_wandb_csv_exports(FIXTURES)
    write_wandb_json(FIXTURES)
    write_expected(FIXTURES)
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    print(f"wrote {FIXTURES} ({total / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
