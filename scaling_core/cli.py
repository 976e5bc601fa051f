"""``python -m scaling_core``: the scripting face of the fitting core.

Commands print one JSON object with ``--json`` (keys are a public contract: add, never rename) or
a short human summary otherwise. Bad input exits with status 2 and one line on stderr naming the
problem — never a traceback.

Commands: ``fit``, ``plan`` and ``diagnose`` read a FILE or a stored ``--dataset NAME``;
``ingest FILE --dataset NAME`` validates a file like the upload page and stores it;
``datasets`` lists what is stored; ``laws`` lists the law families. Imports are lazy so that
start-up stays fast (no pandas on the fit path).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np

from scaling_core.laws import LAWS, Law, get_law, is_joint
from scaling_core.objectives import DEFAULT_DELTA, OBJECTIVES
from scaling_core.schema import RESOURCES, RunTable

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A problem with the user's input; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(message)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


STORE_HELP = (
    "store location: a DuckDB file, :memory: or ducklake:postgres:... "
    "(default: SCALESCOPE_STORE or data/scalescope.duckdb)"
)


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help=STORE_HELP)
    p.add_argument(
        "--workspace", default="default", help="workspace of the dataset (default: default)"
    )


def _add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="CSV of runs (columns auto-mapped, see README)")
    p.add_argument("--dataset", help="a stored dataset's name, in place of FILE")
    _add_store(p)
    p.add_argument(
        "--reduction",
        choices=("final", "best"),
        default=None,
        help="per-run reduction of step-level logs (default: final for files, "
        "the upload's choice for datasets)",
    )
    p.add_argument(
        "--at-step",
        type=float,
        default=None,
        metavar="S",
        help="reduce each run to its evaluations at or before step S (runs with none are "
        "left out), then apply --reduction",
    )
    p.add_argument(
        "--drop-highest-loss",
        type=_non_negative_int,
        default=0,
        metavar="K",
        help="leave out the K highest-loss runs (Epoch AI left out 5 of Chinchilla's)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _add_fit_options(p: argparse.ArgumentParser, default_law: str) -> None:
    p.add_argument("--law", default=default_law, choices=sorted(LAWS), help="law family")
    p.add_argument(
        "--x", choices=RESOURCES, default="compute", help="scale variable for single-resource laws"
    )
    p.add_argument(
        "--objective",
        choices=sorted(OBJECTIVES),
        default=None,
        help="fitting objective (default: the law's own)",
    )
    p.add_argument("--delta", type=_positive_float, default=DEFAULT_DELTA, help="Huber δ")
    p.add_argument(
        "--bootstrap",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="bootstrap resamples over runs for 95%% intervals (0 = none)",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m scaling_core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fit = sub.add_parser("fit", help="fit a scaling law")
    _add_source(fit)
    _add_fit_options(fit, "chinchilla")
    plan = sub.add_parser("plan", help="compute-optimal N and D at a budget")
    _add_source(plan)
    _add_fit_options(plan, "chinchilla")
    plan.add_argument("--compute", type=_positive_float, required=True, help="budget in FLOPs")
    plan.add_argument(
        "--inference-tokens",
        type=_positive_float,
        default=None,
        metavar="T",
        help="lifetime inference tokens: adds the inference-aware model (6ND + 2N·T minimised)",
    )
    plan.add_argument(
        "--unique-tokens",
        type=_positive_float,
        default=None,
        metavar="U",
        help="unique training tokens available: adds epochs, effective data and loss penalty",
    )
    plan.add_argument(
        "--method",
        choices=("1", "2", "3"),
        default="3",
        help="1 = minimum envelope of training curves, 2 = isoFLOP parabolas, "
        "3 = joint parametric fit (default)",
    )
    plan.add_argument(
        "--target-loss",
        type=_positive_float,
        default=None,
        metavar="L",
        help="also answer: which budget reaches loss L (with --bootstrap, an interval)",
    )
    diag = sub.add_parser("diagnose", help="regimes and flags per series, with evidence")
    _add_source(diag)
    diag.add_argument(
        "--metric", default=None, help="column to diagnose (default: the loss-like column)"
    )
    diag.add_argument("--x", choices=RESOURCES, default="compute", help="scale variable")
    diag.add_argument(
        "--direction",
        choices=("lower", "higher"),
        default=None,
        help="whether lower or higher is better (default: from the metric's name)",
    )
    laws = sub.add_parser("laws", help="list the law families")
    laws.add_argument("--json", action="store_true", help="print one JSON object")
    ingest = sub.add_parser(
        "ingest",
        help="validate a file (or a tracking export) and store it as a dataset",
        description="Reads FILE through the same validation as the upload page and stores it. "
        "FILE may be a CSV/TSV/Parquet/JSON Lines file, a W&B/TensorBoard/MLflow export or "
        "an export directory. Prints the dataset's totals after the write.",
    )
    ingest.add_argument("file", help="file or export directory to ingest")
    ingest.add_argument("--dataset", required=True, help="name to store it under")
    _add_store(ingest)
    ingest.add_argument(
        "--mode",
        choices=("create", "append", "replace"),
        default="create",
        help="create a new dataset (default), append the file's rows, or replace its content",
    )
    ingest.add_argument(
        "--reduction",
        choices=("final", "best"),
        default="final",
        help="the dataset's default per-run reduction (default: final)",
    )
    ingest.add_argument(
        "--strict", action="store_true", help="treat ingest warnings as errors (exit 2)"
    )
    ingest.add_argument("--json", action="store_true", help="print one JSON object")
    datasets = sub.add_parser("datasets", help="list the stored datasets")
    _add_store(datasets)
    datasets.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _runs_with_metric(args: argparse.Namespace) -> RunTable:
    """FILE's runs with the loss column mapped to ``--metric`` (diagnose)."""
    from pathlib import Path

    from scaling_core.ingest import IngestErrors, read_table, suggest_mapping, validate_table

    try:
        data = Path(args.file).read_bytes()
    except OSError as err:
        raise CliError(f"{args.file}: cannot be read ({err.strerror or err})") from None
    raw = read_table(Path(args.file).name, data)
    if isinstance(raw, IngestErrors):
        raise CliError(raw.summary())
    if args.metric not in raw.headers:
        raise CliError(
            f"{args.file}: no column {args.metric!r}; the columns are "
            + ", ".join(repr(h) for h in raw.headers)
        )
    mapping = dict(suggest_mapping(raw.headers))
    mapping = {k: v for k, v in mapping.items() if v != args.metric}
    mapping["loss"] = args.metric
    parsed = validate_table(raw, mapping)
    if isinstance(parsed, IngestErrors):
        raise CliError(parsed.summary())
    try:
        return parsed.run_table(args.reduction or "final", args.at_step)
    except ValueError as err:  # ingest's ReductionError: no run reaches the step
        raise CliError(f"{args.file}: {err}") from None


def load_runs(args: argparse.Namespace) -> RunTable:
    """The run table named by FILE or --dataset, with the --drop-highest-loss filter applied."""
    if bool(args.file) == bool(args.dataset):
        raise CliError("give either FILE or --dataset NAME (exactly one)")
    metric = getattr(args, "metric", None)
    if metric and args.dataset:
        raise CliError("--metric works with FILE; a stored dataset keeps its mapped loss column")
    if metric and args.file:
        runs = _runs_with_metric(args)
    elif args.file:
        from scaling_core.ingest import IngestError, load_runs_from_file

        try:
            runs = load_runs_from_file(
                args.file, reduction=args.reduction or "final", at_step=args.at_step
            )
        except FileNotFoundError:
            raise CliError(f"{args.file}: no such file") from None
        except IsADirectoryError:
            raise CliError(f"{args.file}: is a directory, expected a CSV file") from None
        except PermissionError:
            raise CliError(f"{args.file}: permission denied") from None
        except (IngestError, ValueError) as err:  # ValueError: no run reaches --at-step
            raise CliError(str(err)) from None
    else:
        from scaling_core.store import Store, StoreError

        try:
            with Store.open(args.store) as store:
                runs = store.load_runs(
                    args.dataset,
                    reduction=args.reduction,
                    at_step=args.at_step,
                    workspace=args.workspace,
                )
        except (StoreError, KeyError) as err:
            raise CliError(_store_message(err)) from None
    if args.drop_highest_loss >= runs.n:
        raise CliError(f"--drop-highest-loss {args.drop_highest_loss} would leave no runs")
    return runs.without_highest_loss(args.drop_highest_loss)


def _store_message(err: Exception) -> str:
    """A store error's message; a bare KeyError's quotes removed (``str(KeyError)`` adds them)."""
    from scaling_core.store import StoreError

    return str(err) if isinstance(err, StoreError) else str(err).strip("'\"")


def _fit(args: argparse.Namespace) -> tuple[Law, RunTable, Any, Any]:
    from scaling_core.fitting import FitInputError, fit_law, law_inputs
    from scaling_core.uncertainty import bootstrap_fit

    law = get_law(args.law)
    runs = load_runs(args)
    X = law_inputs(law, runs, args.x)
    try:
        fit = fit_law(
            law, X, runs.loss, objective=args.objective or law.default_objective, delta=args.delta
        )
    except FitInputError as err:
        raise CliError(str(err)) from None
    boot = None
    if args.bootstrap:
        boot = bootstrap_fit(law, X, runs.loss, fit, n_resamples=args.bootstrap, seed=args.seed)
    return law, runs, fit, boot


def cmd_fit(args: argparse.Namespace) -> dict[str, Any]:
    law, _runs, fit, boot = _fit(args)
    out = fit.to_json()
    out["x"] = None if is_joint(law) else args.x
    out["formula"] = law.formula(fit.params)
    if is_joint(law) and law.name == "chinchilla":
        from scaling_core.allocation import allocation_exponents

        out["allocation_exponents"] = allocation_exponents(fit.params)
    if boot is not None:
        out["intervals"] = {k: list(v) for k, v in boot.intervals().items()}
        out["bootstrap"] = {
            "resamples": boot.n_resamples,
            "seed": boot.seed,
            "failed": boot.n_failed,
        }
        if law.name == "chinchilla":
            from scaling_core.allocation import exponent_samples
            from scaling_core.uncertainty import percentile_interval

            for name, samples in exponent_samples(boot).items():
                out["intervals"][f"allocation_{name}"] = list(percentile_interval(samples))
    return out


METHOD_NAMES = {"1": "envelope", "2": "isoflop", "3": "joint_fit"}


def load_points(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Step-level arrays (run, params, tokens, loss) of FILE or --dataset, for Method 1."""
    from scaling_core.ingest import curve_arrays

    if args.file:
        from pathlib import Path

        from scaling_core.ingest import IngestErrors, parse_table

        parsed = parse_table(Path(args.file).name, Path(args.file).read_bytes())
        if isinstance(parsed, IngestErrors):
            raise CliError(parsed.summary())
        points = parsed.points
    else:
        from scaling_core.store import Store, StoreError

        try:
            with Store.open(args.store) as store:
                points = store.load_points(args.dataset, workspace=args.workspace)
        except (StoreError, KeyError) as err:
            raise CliError(_store_message(err)) from None
    return curve_arrays(points)


def _data_method(args: argparse.Namespace, runs: RunTable) -> Any:
    """Method 1 or 2 on the runs (or their curves); a CliError when it does not apply."""
    from scaling_core.methods import MethodInputError, envelope_method, isoflop_method

    resamples = args.bootstrap or 200
    try:
        if args.method == "1":
            p = load_points(args)
            return envelope_method(
                p["run"], p["params"], p["tokens"], p["loss"], n_resamples=resamples, seed=args.seed
            )
        return isoflop_method(
            runs.params, runs.tokens, runs.loss, runs.compute, n_resamples=resamples, seed=args.seed
        )
    except MethodInputError as err:
        raise CliError(str(err)) from None


def cmd_plan(args: argparse.Namespace) -> dict[str, Any]:
    from scaling_core.allocation import allocation_intervals, optimal_allocation

    law = get_law(args.law)
    if not is_joint(law):
        raise CliError(
            f"plan needs a joint law of N and D (chinchilla or kaplan), not {law.name!r}"
        )
    law, runs, fit, boot = _fit(args)
    alloc = optimal_allocation(law, fit.params, args.compute)
    out: dict[str, Any] = alloc.to_json()
    out.update(
        method=METHOD_NAMES[args.method],
        law=law.name,
        params=fit.params,
        n_points=fit.n_points,
        objective=fit.objective,
        extrapolation=args.compute / float(np.max(runs.compute)),
        warnings=list(fit.warnings),
    )
    if args.method != "3":
        result = _data_method(args, runs)
        n, d = result.params_at(args.compute), result.tokens_at(args.compute)
        out.update(
            params_opt=n,
            tokens_opt=d,
            tokens_per_param=d / n,
            # Methods 1 and 2 give N* and D*, not a loss: read it off the joint fit there.
            loss_opt=float(law.predict(fit.params, {"N": np.array([n]), "D": np.array([d])})[0]),
            exponents={"a": result.a, "b": result.b},
            method_detail=result.to_json(),
            warnings=list(result.warnings) + list(fit.warnings),
        )
        out["intervals"] = {k: list(v) for k, v in result.interval_at(args.compute).items()}
        out["intervals"].update(a=list(result.a_interval), b=list(result.b_interval))
    elif boot is not None:
        out["intervals"] = {
            k: list(v) for k, v in allocation_intervals(law, boot, args.compute).items()
        }
    out.update(_constraints(args, law, fit.params, boot))
    return out


def _constraints(args: argparse.Namespace, law: Law, params: dict, boot: Any) -> dict[str, Any]:
    """The optional real-world answers of ``plan``: inference, repeated data, target loss."""
    from scaling_core.planning import (
        PlanningError,
        budget_for_loss,
        data_constrained,
        inference_aware,
        over_samples,
    )
    from scaling_core.uncertainty import percentile_interval

    out: dict[str, Any] = {}
    try:
        if args.inference_tokens is not None:
            out["inference"] = inference_aware(
                law, params, args.compute, args.inference_tokens
            ).to_json()
        if args.unique_tokens is not None:
            out["data_constrained"] = data_constrained(
                law, params, args.compute, args.unique_tokens
            ).to_json()
        if args.target_loss is not None:
            target = {
                "loss": args.target_loss,
                "compute": budget_for_loss(law, params, args.target_loss),
            }
            if boot is not None:
                samples = [
                    dict(zip(boot.params, v, strict=True))
                    for v in zip(*boot.params.values(), strict=True)
                ]
                needed = over_samples(
                    law, samples, lambda p: budget_for_loss(law, p, args.target_loss)
                )
                target["interval"] = list(percentile_interval(needed[np.isfinite(needed)]))
                target["reachable_fraction"] = float(np.isfinite(needed).mean())
            out["target"] = target
    except PlanningError as err:
        raise CliError(str(err)) from None
    return out


def cmd_diagnose(args: argparse.Namespace) -> dict[str, Any]:
    from scaling_core.diagnose import REGIME_RULE, diagnose, diagnosis_json, infer_direction

    runs = load_runs(args)
    metric = args.metric or "loss"
    if args.direction:
        direction, why = args.direction, "set with --direction"
    else:
        direction, why = infer_direction(metric)
    series = diagnose(runs, args.x, lower_is_better=direction == "lower")
    flags = [flag.to_json() for s in series for flag in s.flags]
    return {
        "metric": metric,
        "direction": direction,
        "direction_source": why,
        "x": args.x,
        "n_runs": runs.n,
        "rule": REGIME_RULE,
        "series": diagnosis_json(runs, series, args.x),
        "flags": flags,
        "backtest": _backtest_json(runs, args.x),
    }


def _backtest_json(runs: RunTable, x: str) -> dict[str, Any] | None:
    """Leave-largest-out backtests (None when too few runs): the Chinchilla joint law when the
    runs vary both N and D, else a power law with floor on ``x``; cutoffs move along ``x``."""
    from scaling_core.backtest import BacktestError, backtest_law, leave_largest_out_curve

    law = backtest_law(runs)
    try:
        curve = leave_largest_out_curve(law, runs, x=x)
    except (BacktestError, ValueError):
        return None
    return {"law": law.name, "cutoffs": [b.to_json() for b in curve]}


def cmd_laws(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "laws": [
            {
                "name": law.name,
                "title": law.title,
                "inputs": list(law.inputs),
                "params": list(law.param_names),
                "default_objective": law.default_objective,
            }
            for law in LAWS.values()
        ]
    }


def _read_input(path: str) -> tuple[str, bytes]:
    """(file name, bytes) to ingest: the file itself, or for an export directory (or a file
    the importers recognise) the bytes :func:`importers.read_export_path` stores as the source
    — a deterministic zip for a directory, so ingesting it again is idempotent."""
    import os
    from pathlib import Path

    name = Path(path).name or path
    if not os.path.isdir(path):
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise CliError(f"{path}: no such file") from None
        except OSError as err:
            raise CliError(f"{path}: cannot be read ({err.strerror or err})") from None
        if not _is_export(name, data):
            return name, data
    try:
        from scaling_core.importers import ExportFormatError, read_export_path
    except ImportError:
        raise CliError(f"{path}: reading tracking exports needs scaling_core.importers") from None
    try:
        _runs, data = read_export_path(path)
    except ExportFormatError as err:
        raise CliError(str(err)) from None
    except OSError as err:
        raise CliError(f"{path}: cannot be read ({err.strerror or err})") from None
    return (f"{name}.zip" if os.path.isdir(path) else name), data


def _is_export(name: str, data: bytes) -> bool:
    """True when the importers recognise a tracking export (False without the importers)."""
    try:
        from scaling_core.importers import detect_export
    except ImportError:
        return False
    return detect_export(name, data) is not None


def cmd_ingest(args: argparse.Namespace) -> dict[str, Any]:
    """Validate FILE like the upload page does, then store it in one transaction.

    Validation runs before the store is opened: a bad file leaves the store untouched.
    """
    import hashlib

    from scaling_core.ingest import IngestErrors, parse_table
    from scaling_core.store import Store, StoreError

    filename, data = _read_input(args.file)
    parsed = parse_table(filename, data)
    if isinstance(parsed, IngestErrors):
        raise CliError(parsed.summary())
    warnings = [issue.message() for issue in getattr(parsed, "warnings", ())]
    if args.strict and warnings:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise CliError(f"{warnings[0]}{more}; --strict treats warnings as errors")
    try:
        with Store.open(args.store) as store:
            info = store.add_dataset(
                args.dataset,
                parsed,
                data,
                args.reduction,
                workspace=args.workspace,
                mode=args.mode,
            )
    except (StoreError, KeyError) as err:
        raise CliError(_store_message(err)) from None
    return {
        "dataset": info.name,
        "runs": info.n_runs,
        "rows": info.n_rows,
        "sha256": hashlib.sha256(data).hexdigest(),
        "created": info.created,
        "warnings": warnings,
        "workspace": info.workspace,
        "mode": args.mode,
        "sources": info.n_sources,
        "content_sha256": info.sha256,
    }


def cmd_datasets(args: argparse.Namespace) -> dict[str, Any]:
    from scaling_core.store import Store, StoreError

    try:
        with Store.open(args.store) as store:
            infos = store.list_datasets(workspace=args.workspace)
            workspaces = store.list_workspaces()
    except (StoreError, KeyError) as err:
        raise CliError(_store_message(err)) from None
    return {
        "workspace": args.workspace,
        "workspaces": workspaces,
        "datasets": [
            {
                "dataset": info.name,  # the key `ingest` prints; "name" kept as its alias
                "name": info.name,
                "id": info.id,
                "source_filename": info.source_filename,
                "sha256": info.sha256,
                "reduction": info.reduction,
                "created_at": info.created_at.isoformat(),
                "runs": info.n_runs,
                "rows": info.n_rows,
                "sources": info.n_sources,
            }
            for info in infos
        ],
    }


def _human(command: str, out: dict[str, Any]) -> str:
    if command == "ingest":
        state = "stored" if out["created"] else "already stored, unchanged"
        lines = [
            f"{out['dataset']!r}: {out['runs']} runs, {out['rows']} rows ({state}; "
            f"sha256 {out['sha256'][:12]})"
        ]
        return "\n".join(lines + [f"warning: {w}" for w in out["warnings"]])
    if command == "datasets":
        if not out["datasets"]:
            return f"no datasets in workspace {out['workspace']!r}"
        return "\n".join(
            f"{d['name']}  ({d['runs']} runs, {d['rows']} rows, from {d['source_filename']})"
            for d in out["datasets"]
        )
    if command == "laws":
        return "\n".join(f"{law['name']:<14} {law['title']}" for law in out["laws"])
    if command == "diagnose":
        lines = [
            f"{out['metric']} vs {out['x']} ({out['direction']} is better: "
            f"{out['direction_source']})"
        ]
        for series in out["series"]:
            counts = {}
            for point in series["points"]:
                counts[point["regime"]] = counts.get(point["regime"], 0) + 1
            lines.append(f"  {series['name']}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        lines += [f"flag [{f['kind']}]: {f['sentence']}" for f in out["flags"]]
        return "\n".join(lines)
    lines = []
    if command == "plan":
        lines.append(f"budget C = {out['compute']:.3e} FLOPs ({out['law']} joint fit)")
        for key in ("params_opt", "tokens_opt", "tokens_per_param", "loss_opt"):
            interval = out.get("intervals", {}).get(key)
            ci = f"   95% CI [{interval[0]:.4g}, {interval[1]:.4g}]" if interval else ""
            lines.append(f"  {key:<17} {out[key]:.4g}{ci}")
    else:
        lines.append(
            f"{out['law']} fit on {out['n_points']} runs, objective "
            f"{out['objective_name']} = {out['objective']:.8g}"
        )
        for name, value in out["params"].items():
            interval = out.get("intervals", {}).get(name)
            ci = f"   95% CI [{interval[0]:.4g}, {interval[1]:.4g}]" if interval else ""
            lines.append(f"  {name:<8} {value:.6g}{ci}")
    lines += [f"warning: {w}" for w in out.get("warnings", [])]
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf
    return value


COMMANDS = {
    "fit": cmd_fit,
    "plan": cmd_plan,
    "diagnose": cmd_diagnose,
    "laws": cmd_laws,
    "ingest": cmd_ingest,
    "datasets": cmd_datasets,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    try:
        args = build_parser().parse_args(argv)
        out = _jsonable(COMMANDS[args.command](args))
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as err:  # a precise message from the core (unknown law, bad budget, ...)
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if getattr(args, "json", False):
        print(json.dumps(out))
    else:
        print(_human(args.command, out))
    return 0
