"""Load benchmark: N concurrent browser sessions (default 20) against one Scalescope server.

Each session uploads its own runs, saves them, fits them and changes two settings (the
workload is ``tests/e2e/load_harness.py``'s, the same code the load test asserts on). Reports
interaction latency (action → result visible: p50 / p95 / max, overall and per interaction),
the server's resident memory before and after (its process tree, from /proc) and so memory per
session, and the total time. Writes ``bench/results/load.json``; ``--write`` also replaces the
"Load" section of BENCHMARKS.md (between its markers).

Usage, from the repository root (needs /usr/bin/chromium and playwright):

    python bench/bench_load.py                # 20 sessions, prints the table
    python bench/bench_load.py --write        # ... and updates BENCHMARKS.md
    python bench/bench_load.py --sessions 5   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from load_harness import (  # noqa: E402
    CHROMIUM,
    INTERACTIONS,
    LoadReport,
    run_load,
    stored_dataset_names,
    streamlit_server,
)

RESULTS = ROOT / "bench" / "results" / "load.json"
BENCHMARKS = ROOT / "BENCHMARKS.md"
START, END = "<!-- bench_load:start -->", "<!-- bench_load:end -->"


def markdown(summary: dict, when: str) -> str:
    """The BENCHMARKS.md section for one run (between the markers)."""
    latency = summary["latency_s"]
    rss = summary["rss_mib"]
    rows = [
        f"| {name} | {s['n']} | {s['p50']:.2f} s | {s['p95']:.2f} s | {s['max']:.2f} s |"
        for name, s in latency.items()
    ]
    load = summary["load_avg_1min_start_end"]
    cpu = summary["cpu_s"]
    server_per_interaction = cpu["server"] / max(latency["all"]["n"], 1)
    browser_ratio = cpu["browser"] / max(cpu["server"], 1e-9)
    ignored = (
        ", ".join(f"{kind} {count}" for kind, count in summary["ignored_console_errors"].items())
        or "none"
    )
    return "\n".join(
        [
            START,
            f"## Load: {summary['sessions']} concurrent sessions ({when})",
            "",
            f"`python bench/bench_load.py --write`: {summary['sessions']} browser contexts in one "
            "headless Chromium drive one `streamlit run app.py` server on a fresh store at the "
            "same time. Each opens the Data page, uploads its own 40-run CSV (its own exponent "
            "α), saves it, opens the Fit page (fit + 200-resample bootstrap), leaves out its own "
            "number of runs (refit), waits for all others, then switches the objective (refit) "
            "and checks it still sees only its own dataset, run count and setting "
            "(`tests/e2e/test_load.py` asserts the same flow). Latency = action → result "
            "visible (script run over, no progress bar).",
            "",
            f"- Errors: **{len(summary['errors'])}** (error elements, exceptions, console "
            f"and page errors, wrong α or state). Console errors set aside as benign (see "
            f"`benign_console_error` in the harness): {ignored}.",
            f"- Datasets stored exactly once: {summary['stored_once']} of {summary['sessions']}.",
            f"- Total time for all sessions: {summary['wall_s']:.1f} s.",
            f"- Server memory (RSS of its process tree, after warm-up on the bundled data): "
            f"{rss['before']:.0f} MiB before, {rss['after']:.0f} MiB with all sessions "
            f"connected → **{rss['per_session']:.1f} MiB per session**; main process peak "
            f"{rss['peak_main_process']:.0f} MiB.",
            f"- CPU used during the sessions: server {summary['cpu_s']['server']:.0f} s, "
            f"Chromium + Playwright driver + harness {summary['cpu_s']['browser']:.0f} s "
            f"(the {summary['n_cpus']} cores offered {summary['n_cpus'] * summary['wall_s']:.0f} "
            "core-seconds in that time, shared with everything else on the machine). The server "
            f"spent {server_per_interaction:.2f} CPU-seconds per interaction; most of each "
            "latency is waiting for a core, and Chromium rendering the 20 pages needed "
            f"{browser_ratio:.1f}× the server's CPU on the same 2 cores.",
            "",
            "| interaction | n | p50 | p95 | max |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"Machine: {summary['n_cpus']} CPUs shared with the browser (Chromium renders all "
            f"{summary['sessions']} pages on the same cores); load average (1 min) "
            f"{load[0]:.2f} at start, {load[1]:.2f} at end (the load at the end is this run's own "
            "browser and server). The latencies are therefore upper bounds for a hosted server, "
            "whose users' browsers render on their own machines; the server's own CPU per "
            "interaction is given above.",
            END,
        ]
    )


def write_section(section: str) -> None:
    """Replace the marked section of BENCHMARKS.md, or append it."""
    text = BENCHMARKS.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--chromium", default=str(CHROMIUM))
    parser.add_argument(
        "--from-json",
        action="store_true",
        help=f"no run: render the section from {RESULTS.relative_to(ROOT)} (with --write, "
        "put it into BENCHMARKS.md)",
    )
    parser.add_argument(
        "--total-timeout",
        type=float,
        default=900.0,
        help="seconds before unfinished sessions "
        "are cancelled and reported (default 900: the bench reports, it does not judge speed)",
    )
    args = parser.parse_args()

    if args.from_json:
        summary = json.loads(RESULTS.read_text())
        section = markdown(summary, summary["date"])
        print(section)
        if args.write:
            write_section(section)
        return 0

    with tempfile.TemporaryDirectory(prefix="scalescope-load-") as workdir:
        store = Path(workdir) / "store.duckdb"
        with streamlit_server(store, Path(workdir) / "streamlit.log") as app:
            report: LoadReport = asyncio.run(
                run_load(
                    app,
                    args.sessions,
                    chromium=args.chromium,
                    timeout_s=240.0,
                    total_timeout_s=args.total_timeout,
                )
            )
        names = stored_dataset_names(store)
    summary = report.summary()
    summary["stored_once"] = sum(names.count(s.plan.dataset) == 1 for s in report.sessions)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    summary["date"] = when
    summary["python"] = platform.python_version()
    summary["interactions"] = list(INTERACTIONS)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    section = markdown(summary, when)
    print(section)
    for error in summary["errors"]:
        print("ERROR", error)
    if args.write:
        write_section(section)
        print(f"wrote {BENCHMARKS}")
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
