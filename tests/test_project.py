"""House rules that keep the project honest: README ↔ CI, docs ↔ registry, layering."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from scaling_core.laws import LAWS
from scaling_core.objectives import OBJECTIVES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

MATH_MODULES = (
    "laws", "objectives", "fitting", "batch_optimize", "uncertainty", "allocation", "regimes",
    "methods", "planning", "hardware", "diagnose", "backtest", "compare", "sweeps", "downstream",
)  # fmt: skip
FORBIDDEN_IN_MATH = {"pandas", "duckdb", "streamlit", "plotly"}


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_readme_opens_with_exactly_two_one_line_commands() -> None:
    first_screen = README.split("![", 1)[0]
    blocks = _code_blocks(first_screen)
    assert len(blocks) == 2
    assert all(len(block.strip().splitlines()) == 1 for block in blocks)
    assert "streamlit run app.py" in blocks[0]
    assert "pytest" in blocks[1] and "chromium" in blocks[1]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = _code_blocks(README)[1].strip()
    ci_lines = [
        line
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))
    ]
    assert ci_lines == [test_command]


def test_every_law_and_objective_is_documented_in_the_readme() -> None:
    for name in LAWS:
        assert f"| `{name}` |" in README, f"law {name!r} missing from the README's law table"
    for name in OBJECTIVES:
        assert f"`{name}`" in README, f"objective {name!r} missing from the README"


def test_math_modules_import_no_io_or_ui_libraries() -> None:
    for module in MATH_MODULES:
        bad = _imports(ROOT / "scaling_core" / f"{module}.py") & FORBIDDEN_IN_MATH
        assert not bad, f"scaling_core/{module}.py imports {sorted(bad)}"


def test_pages_never_touch_duckdb_and_sql_lives_only_in_the_store() -> None:
    sql = re.compile(r"\b(SELECT|INSERT INTO|CREATE TABLE|DELETE FROM)\b")
    for path in [*ROOT.glob("pages/*.py"), ROOT / "app.py"]:
        assert "duckdb" not in _imports(path), f"{path.name} imports duckdb"
        assert not sql.search(path.read_text(encoding="utf-8")), f"SQL in {path.name}"
    for path in (ROOT / "scaling_core").glob("*.py"):
        if path.name not in ("store.py", "lake.py"):  # lake.py: ATTACH/INSTALL for the store
            assert not sql.search(path.read_text(encoding="utf-8")), f"SQL in {path.name}"


def test_requirements_are_pinned() -> None:
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-r"):
                assert "==" in line, f"{name}: {line!r} is not pinned"


def test_bundled_chinchilla_data_is_the_published_file() -> None:
    import hashlib

    digest = hashlib.sha256((ROOT / "data" / "chinchilla_epoch.csv").read_bytes()).hexdigest()
    assert digest == "193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30"
