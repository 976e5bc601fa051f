"""Store speed at 10,000,000 step-level points: opening a dataset and drawing its curves.

Usage (from the repository root)::

    python bench/bench_store.py              # builds bench/results/store_10M.duckdb once, measures
    python bench/bench_store.py --write      # ... and updates the Store section of BENCHMARKS.md
    python bench/bench_store.py --rows 1000000 --path /tmp/store_1M.duckdb   # smaller, faster

What is measured, in one process against one store file (so ratios share machine and load):

(a) baselines on the same ``points`` table: ``SELECT count(*) FROM points`` (the plain count the
    issue names; DuckDB answers it from metadata) and ``SELECT sum(loss) FROM points WHERE
    dataset_key = ?`` (one pass over one column of the dataset's points: what touching them
    once costs. Until store version 5 this was the dataset's ``count(*)``, which had to compare
    a string key on every row; with integer keys DuckDB answers that count from the row
    groups' min/max statistics without reading a row, so it no longer measures a pass);
(b) ``list_datasets()``, ``get_dataset()``, ``load_runs()`` (final, best, at a step) and
    ``load_curves()`` (stored, 200 per run), ``load_curves(max_points_per_run=100)`` (thinned
    from the stored curves) and ``(…=1000)`` (from the points) on the 10M-point dataset:
    median of 5 after one warm-up, each as a ratio to both baselines;
(c) peak RSS of the measuring process (the build runs in a separate process so its Arrow
    buffers do not count), and the build itself: ``add_dataset`` of 10M rows straight from numpy
    columns (rows per second, peak RSS).

Targets (the issue: "opening a dataset and drawing its curves stays interactive; aggregation
happens in DuckDB, not pandas; target stated as a ratio to a plain SELECT count(*)"):
stored reads (``load_runs`` final/best ≤ 1×, ``load_curves`` at its default 200 points per
run or fewer ≤ 10× the dataset's ``count(*)``, and under 1 s); ``at_step``, computed on request,
≤ 50×; ``list_datasets``/``get_dataset`` ≤ 25× the plain ``count(*)`` (which DuckDB answers
from metadata). More curve points per run than stored is reported without a target. The
store file is generated, never committed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scaling_core.ingest import ParsedTable, parse_table  # noqa: E402
from scaling_core.store import Store  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BENCHMARKS = ROOT / "BENCHMARKS.md"
START, END = "<!-- bench_store:start -->", "<!-- bench_store:end -->"
BIG = "10M points"
REPEATS = 5

TARGETS: dict[str, tuple[str, float]] = {
    "list_datasets": ("plain", 25.0),
    "get_dataset": ("plain", 25.0),
    "load_runs": ("dataset", 1.0),
    "load_runs best": ("dataset", 1.0),
    "load_curves": ("dataset", 10.0),
    "load_runs at_step": ("dataset", 50.0),
    "load_curves 100/run": ("dataset", 10.0),
    "load_curves 1000/run": ("dataset", 0.0),
}
"""(baseline, ratio): ``plain`` = ``SELECT count(*) FROM points``; ``dataset`` = one pass over
the dataset's losses (``sum(loss)``). Stored reads (reductions, 200-point curves, and fewer
points per run thinned from them) should cost no more than touching the dataset's points once
(curves return ~190k rows, hence 10×); a chosen step aggregates the 10M points on request and
may cost 50×. Ratio 0 = no target, stated only (more curve points per run than stored go back
to the points).
"""
ABSOLUTE_TARGET_S = 1.0
"""``load_runs`` and ``load_curves`` at their defaults must also stay under one second."""


def big_table(rows: int, runs: int) -> ParsedTable:
    """A synthetic sweep: ``runs`` runs of ``rows / runs`` evaluations each, loss falling as a
    power law in the step with noise; columns built with numpy (no CSV parsing)."""
    steps = rows // runs
    template = parse_table("sweep.csv", b"run,params,tokens,step,loss\na,1e8,1e9,1,3.0\n")
    assert isinstance(template, ParsedTable)
    rng = np.random.default_rng(0)
    run_index = np.repeat(np.arange(runs), steps)
    step = np.tile(np.arange(1, steps + 1, dtype=float) * 10, runs)
    params = np.logspace(7, 10, runs)[run_index]
    names = np.array([f"sweep-{i:05d}" for i in range(runs)], dtype=object)
    n = run_index.size
    columns = dict(template.columns)
    columns.update(
        row_number=np.arange(2, n + 2, dtype=np.int64),
        run=names[run_index],
        params=params,
        tokens=step * 5e5,
        flops=np.full(n, np.nan),
        loss=1.7 + 400 / params**0.3 + 50 / step**0.35 + rng.normal(0, 0.01, n),
        step=step,
        group=np.full(n, None, dtype=object),
    )
    for name in ("train_loss", "val_loss", "batch_size", "learning_rate", "metric"):
        columns[name] = np.full(n, np.nan)
    return dataclasses.replace(template, filename="sweep.csv", columns=columns)


def build(path: Path, rows: int, runs: int) -> dict:
    """Create the store: the bundled samples under 20 names, then the big dataset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with Store.open(str(path)) as store:
        for name in ("example_runs.csv", "example_architectures.csv", "chinchilla_epoch.csv"):
            data = (ROOT / "data" / name).read_bytes()
            table = parse_table(name, data)
            for copy in range(7 if name != "chinchilla_epoch.csv" else 6):
                store.add_dataset(f"{name} #{copy}", table, data)
        table = big_table(rows, runs)
        source = b"generated by bench/bench_store.py\n"
        started = time.perf_counter()
        store.add_dataset(BIG, table, source)
        seconds = time.perf_counter() - started
    return {
        "rows": table.n_rows,
        "runs": runs,
        "seconds": seconds,
        "rows_per_second": table.n_rows / seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def timed(call, repeats: int = REPEATS) -> tuple[float, list[float], object]:
    """Median wall time of ``repeats`` calls after one warm-up, all times, last result."""
    result = call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def measure(path: Path) -> dict:
    store = Store.open(str(path))
    info = store.get_dataset(BIG)
    cursor = store._cursor()

    def count_all() -> int:
        return cursor.execute("SELECT count(*) FROM points").fetchone()[0]

    def count_dataset() -> int:
        return cursor.execute(
            "SELECT count(*) FROM points WHERE dataset_key = ?", [info.key]
        ).fetchone()[0]

    def scan_dataset() -> float:
        return cursor.execute(
            "SELECT sum(loss) FROM points WHERE dataset_key = ?", [info.key]
        ).fetchone()[0]

    out: dict = {"n_points_total": count_all(), "n_points_dataset": count_dataset()}
    calls = {
        "count(*)": count_all,
        "sum(loss) of the dataset": scan_dataset,
        "list_datasets": store.list_datasets,
        "get_dataset": lambda: store.get_dataset(BIG),
        "load_runs": lambda: store.load_runs(BIG),
        "load_runs best": lambda: store.load_runs(BIG, "best"),
        "load_runs at_step": lambda: store.load_runs(BIG, at_step=info.n_rows / info.n_runs * 5),
        "load_curves": lambda: store.load_curves(BIG),
        "load_curves 100/run": lambda: store.load_curves(BIG, max_points_per_run=100),
        "load_curves 1000/run": lambda: store.load_curves(BIG, max_points_per_run=1000),
    }
    timings = {}
    for name, call in calls.items():
        median, times, result = timed(call)
        timings[name] = {"median_s": median, "times_s": times}
        if name == "load_curves":
            out["curve_rows"] = len(result)
        if name == "load_runs":
            out["runs"] = result.n
    cursor.close()
    store.close()
    out["timings"] = timings
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def rows_for_table(result: dict) -> list[list[str]]:
    timings = result["load"]["timings"]
    plain = timings["count(*)"]["median_s"]
    per_dataset = timings["sum(loss) of the dataset"]["median_s"]
    rows = []
    for name, entry in timings.items():
        median = entry["median_s"]
        if name.startswith(("count", "sum")):
            verdict, target_text = "—", "baseline"
        elif TARGETS[name][1] == 0:
            verdict, target_text = "—", "stated"
        else:
            baseline, ratio = TARGETS[name]
            measured = median / (plain if baseline == "plain" else per_dataset)
            ok = measured <= ratio
            target_text = f"≤ {ratio:g}× {'plain count' if baseline == 'plain' else 'dataset pass'}"
            if name in ("load_runs", "load_curves"):
                ok = ok and median <= ABSOLUTE_TARGET_S
                target_text += f" and ≤ {ABSOLUTE_TARGET_S:g} s"
            verdict = "PASS" if ok else "FAIL"
        rows.append([
            f"`{name}`", f"{median * 1e3:,.1f} ms", f"{median / plain:,.1f}×",
            f"{median / per_dataset:,.2f}×", target_text, verdict,
        ])  # fmt: skip
    return rows


def markdown(result: dict) -> str:
    build_info, load = result["build"], result["load"]
    lines = [
        START,
        "## Store: 10M step-level points (`bench/bench_store.py`)",
        "",
        f"Run {result['date']} on {result['machine']}; load average (1 min) at start / end "
        f"{result['load_start']:.2f} / {result['load_end']:.2f} (2 CPUs: a load above 2 "
        "means other processes competed for them).",
        "",
        f"The store holds {load['n_points_total']:,} points; the measured dataset has "
        f"{load['n_points_dataset']:,} points in {load['runs']:,} runs. Median of {REPEATS} "
        "after a warm-up; ratios are against the two baselines measured in the same process.",
        "",
        "| Call | Median | ÷ `count(*)` | ÷ `sum(loss)` of the dataset | Target | Result |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows_for_table(result)]
    lines += [
        "",
        f"- `load_curves` returned {load['curve_rows']:,} rows (≤ 200 per run) for drawing.",
        "- `load_runs` (final/best) and `load_curves()` read what every write stores in `runs`"
        " and `curves`; `at_step` and other curve resolutions aggregate the points on request.",
        f"- Peak RSS of the measuring process: {load['peak_rss_mib']:,.0f} MiB.",
        f"- Build: `add_dataset` of {build_info['rows']:,} rows from numpy columns took "
        f"{build_info['seconds']:.1f} s ({build_info['rows_per_second']:,.0f} rows/s), peak RSS "
        f"{build_info['peak_rss_mib']:,.0f} MiB (Arrow table + DuckDB insert).",
        END,
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    current = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else "# Benchmarks\n"
    if START in current and END in current:
        head, rest = current.split(START, 1)
        tail = rest.split(END, 1)[1]
        updated = head + text + tail
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    BENCHMARKS.write_text(updated, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=2_000)
    parser.add_argument("--path", type=Path, default=RESULTS / "store_10M.duckdb")
    parser.add_argument("--rebuild", action="store_true", help="build the store again")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        print(json.dumps(build(args.path, args.rows, args.runs)))
        return
    load_start = os.getloadavg()[0]
    build_file = args.path.with_suffix(".build.json")
    if args.rebuild or not args.path.exists() or not build_file.exists():
        for stale in (args.path, Path(f"{args.path}.wal"), build_file):
            stale.unlink(missing_ok=True)
        print(f"building {args.path} ({args.rows:,} points) ...", flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--build-only", "--rows", str(args.rows),
             "--runs", str(args.runs), "--path", str(args.path)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        build_file.write_text(proc.stdout.strip().splitlines()[-1])
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.platform()}",
        "build": json.loads(build_file.read_text()),
        "load": measure(args.path),
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_store.json").write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(result)
    print(text)
    if args.write:
        write_section(text)
        print(f"updated {BENCHMARKS}")


if __name__ == "__main__":
    main()
