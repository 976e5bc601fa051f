"""Team mode: DuckLake with a PostgreSQL catalog, written by two processes at once.

A real PostgreSQL server is started by the ``postgres`` fixture (initdb + pg_ctl from Debian's
``postgresql`` package, in a private temporary directory, on a Unix socket only). PostgreSQL
refuses to run as root, so under root the fixture runs it as the ``postgres`` system user.
Where that is impossible the tests are skipped with the reason.

What is checked: two processes using the store code, started together on a fresh catalog,
each create datasets, race for the same names with different files and append to one shared
dataset; afterwards every dataset is complete, each raced name holds exactly one winner's
file, and no row is orphaned. Without the store's write-lock row the name races end with
duplicates (seen while building this; see ``scaling_core/store.py``).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scaling_core.lake import LAKE_DATA_ENV_VAR, redact
from scaling_core.store import Store, StoreError

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 2
"""Per process: one own dataset, one raced name and one append per round."""


@dataclass(frozen=True)
class PgServer:
    socket_dir: str
    port: int
    bin_dir: str

    def createdb(self, name: str) -> str:
        """A fresh database; returns its DuckLake location."""
        subprocess.run(
            [os.path.join(self.bin_dir, "createdb"), "-h", self.socket_dir, "-p", str(self.port),
             "-U", "postgres", name],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return (
            f"ducklake:postgres:dbname={name} host={self.socket_dir} port={self.port} user=postgres"
        )


def _postgres_bin() -> str | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding initdb and pg_ctl."""
    candidates = [
        path
        for path in glob.glob("/usr/lib/postgresql/*/bin")
        if all(os.access(os.path.join(path, tool), os.X_OK) for tool in ("initdb", "pg_ctl"))
    ]

    def version(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    return max(candidates, key=version) if candidates else None


def _as_server_user(command: list[str]) -> list[str]:
    """Run as ``postgres`` when we are root (PostgreSQL refuses root), else as ourselves."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def postgres() -> Iterator[PgServer]:
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql), no team-mode test")
    if os.geteuid() == 0:
        import pwd

        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
    base = tempfile.mkdtemp(prefix="scalescope-pg-")
    if os.geteuid() == 0:
        os.chown(base, account.pw_uid, account.pw_gid)
    os.chmod(base, 0o700)
    data, log, port = os.path.join(base, "data"), os.path.join(base, "server.log"), _free_port()
    started = False
    try:
        init = subprocess.run(
            _as_server_user([os.path.join(bin_dir, "initdb"), "-D", data, "--auth=trust",
                             "-U", "postgres", "-E", "UTF8"]),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if init.returncode != 0:
            pytest.skip(f"initdb failed, no team-mode test: {init.stderr.strip()[-300:]}")
        start = subprocess.run(
            _as_server_user([os.path.join(bin_dir, "pg_ctl"), "-D", data, "-l", log, "-w",
                             "-t", "60", "-o", f"-p {port} -k {base} -c listen_addresses=''",
                             "start"]),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if start.returncode != 0:
            tail = Path(log).read_text()[-300:] if os.path.exists(log) else start.stderr
            pytest.skip(f"PostgreSQL did not start, no team-mode test: {tail.strip()}")
        started = True
        yield PgServer(socket_dir=base, port=port, bin_dir=bin_dir)
    finally:
        if started:
            subprocess.run(
                _as_server_user([os.path.join(bin_dir, "pg_ctl"), "-D", data, "-m", "immediate",
                                 "-w", "stop"]),
                capture_output=True, timeout=120,
            )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def step_log(tag: str, rows: int = 40) -> bytes:
    lines = ["run,params,tokens,step,loss"]
    for i in range(rows):
        run, step = i % 4, i // 4 + 1
        lines.append(f"{tag}-r{run},{(run + 1) * 1e8:g},{step * 1e8:g},{step},{3 + 1 / step:.6f}")
    return ("\n".join(lines) + "\n").encode()


WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, {repo!r})
    from scaling_core.ingest import parse_table
    from scaling_core.store import DatasetExistsError, Store

    location, me, go = sys.argv[1], sys.argv[2], sys.argv[3]

    def log(tag, rows=40):
        lines = ["run,params,tokens,step,loss"]
        for i in range(rows):
            run, step = i % 4, i // 4 + 1
            lines.append(f"{{tag}}-r{{run}},{{(run + 1) * 1e8:g}},{{step * 1e8:g}},{{step}},"
                         f"{{3 + 1 / step:.6f}}")
        return ("\\n".join(lines) + "\\n").encode()

    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    store = Store.open(location)  # both processes attach the fresh catalog at once
    out = {{"own": [], "won": [], "lost": [], "appended": []}}
    for i in range(int(sys.argv[4])):
        data = log(f"{{me}}-own{{i}}")
        store.add_dataset(f"own {{me}} {{i}}", parse_table("own.csv", data), data)
        out["own"].append(i)
        data = log(f"{{me}}-race{{i}}")
        try:
            store.add_dataset(f"race {{i}}", parse_table("race.csv", data), data)
            out["won"].append(i)
        except DatasetExistsError:
            out["lost"].append(i)
        data = log(f"{{me}}-more{{i}}", rows=8)
        store.add_dataset("shared log", parse_table(f"{{me}}{{i}}.csv", data), data,
                          mode="append")
        out["appended"].append(i)
    out["retries"] = store.write_retries
    store.close()
    print(json.dumps(out), flush=True)
    """
)


def test_two_processes_write_one_team_store_at_once(postgres: PgServer, tmp_path: Path) -> None:
    location = postgres.createdb("concurrent")
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(repo=str(REPO)))
    go = tmp_path / "go"
    env = {**os.environ, LAKE_DATA_ENV_VAR: str(tmp_path / "lake-data")}
    workers = {
        name: subprocess.Popen(
            [sys.executable, str(script), location, name, str(go), str(ROUNDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("A", "B")
    }
    results: dict[str, dict] = {}
    try:
        for process in workers.values():
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        go.touch()
        for name, process in workers.items():
            stdout, stderr = process.communicate(timeout=110)
            assert process.returncode == 0, stderr[-2000:]
            results[name] = json.loads(stdout.strip().splitlines()[-1])
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.kill()

    for i in range(ROUNDS):  # every raced name was won by exactly one process
        assert (i in results["A"]["won"]) != (i in results["B"]["won"]), results
    os.environ[LAKE_DATA_ENV_VAR] = str(tmp_path / "lake-data")
    try:
        store = Store.open(location)
    finally:
        del os.environ[LAKE_DATA_ENV_VAR]
    with store:
        assert store.is_team_store
        names = [d.name for d in store.list_datasets()]
        assert len(names) == len(set(names)) == 3 * ROUNDS + 1
        for me in ("A", "B"):
            for i in range(ROUNDS):
                info = store.get_dataset(f"own {me} {i}")
                assert (info.n_rows, info.n_runs) == (40, 4)
                assert store.load_source(f"own {me} {i}")[1] == step_log(f"{me}-own{i}")
        for i in range(ROUNDS):
            winner = "A" if i in results["A"]["won"] else "B"
            assert store.load_source(f"race {i}")[1] == step_log(f"{winner}-race{i}")
            assert store.load_runs(f"race {i}").run.tolist() == [
                f"{winner}-race{i}-r{r}" for r in range(4)
            ]
        shared = store.get_dataset("shared log")
        assert (shared.n_sources, shared.n_rows, shared.n_runs) == (
            2 * ROUNDS,
            16 * ROUNDS,
            8 * ROUNDS,
        )
        assert len(store.load_points("shared log")) == 16 * ROUNDS
        cursor = store._cursor()
        try:
            for table, column, key in (("points", "dataset_key", "key"),
                                       ("runs", "dataset_id", "id"),
                                       ("sources", "dataset_id", "id")):  # fmt: skip
                orphaned = cursor.execute(
                    f"SELECT count(*) FROM {table} "
                    f"WHERE {column} NOT IN (SELECT {key} FROM datasets)"
                ).fetchone()
                assert orphaned == (0,), table
        finally:
            cursor.close()


def test_team_store_round_trip_through_the_cli(postgres: PgServer, tmp_path: Path) -> None:
    location = postgres.createdb("cli")
    env = {**os.environ, LAKE_DATA_ENV_VAR: str(tmp_path / "lake-data")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scaling_core", *args, "--store", location, "--json"],
            capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
        )  # fmt: skip

    ingest = cli("ingest", str(REPO / "data" / "example_runs.csv"), "--dataset", "example")
    assert ingest.returncode == 0, ingest.stderr
    assert json.loads(ingest.stdout)["created"] is True
    listed = cli("datasets")
    assert [d["name"] for d in json.loads(listed.stdout)["datasets"]] == ["example"]
    fit = cli("fit", "--dataset", "example", "--law", "power")
    assert fit.returncode == 0, fit.stderr
    assert json.loads(fit.stdout)["n_points"] == 26


def test_an_unreachable_catalog_is_a_clear_store_error(tmp_path: Path) -> None:
    """No server needed: nothing listens in an empty directory."""
    empty = tmp_path / "no-server"
    empty.mkdir()
    location = f"ducklake:postgres:dbname=x host={empty} port=5 user=u password=hunter2"
    os.environ[LAKE_DATA_ENV_VAR] = str(tmp_path / "lake-data")
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            Store.open(location)
    finally:
        del os.environ[LAKE_DATA_ENV_VAR]
    message = str(info.value)
    assert message.startswith("cannot attach the team store ducklake:postgres:dbname=x")
    assert "hunter2" not in message and "password=***" in message
    assert time.monotonic() - started < 30
    proc = subprocess.run(
        [sys.executable, "-m", "scaling_core", "datasets", "--store", location, "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
        env={**os.environ, LAKE_DATA_ENV_VAR: str(tmp_path / "lake-data")},
    )  # fmt: skip
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "cannot attach the team store" in proc.stderr and "Traceback" not in proc.stderr


def test_redact_hides_passwords() -> None:
    assert redact("ducklake:postgres:dbname=x password=s3cr3t host=h") == (
        "ducklake:postgres:dbname=x password=*** host=h"
    )


def test_a_version_3_team_store_opens_in_the_current_layout(
    postgres: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version 4 and 5 migrations (drop a column, add columns with a default, number the
    datasets with UPDATE … FROM, replace tables) run on DuckLake too, with every dataset
    intact."""
    from old_store_layouts import assert_same, build_v3_store, fill, snapshot

    from scaling_core import lake
    from scaling_core.ingest import parse_table

    current = Store.in_memory()
    fill(current)
    expected = snapshot(current)
    location = postgres.createdb("migrate_v3")
    monkeypatch.setenv(LAKE_DATA_ENV_VAR, str(tmp_path / "lake") + os.sep)
    old = lake.connect_lake(location)
    try:
        old.execute(f"USE {lake.LAKE_ALIAS}")
        build_v3_store(old, current)
    finally:
        old.close()
    with Store.open(location) as store:
        assert_same(snapshot(store), expected)
        data = step_log("fresh")
        store.add_dataset("fresh", parse_table("fresh.csv", data), data)
        assert store.get_dataset("fresh").n_runs == 4
        assert sorted(info.key for info in store.list_datasets()) == [1, 2, 3]
        assert store.source_files is None  # a team keeps uploads in its tables
        assert store.load_sources("fresh") == [("fresh.csv", data)]
