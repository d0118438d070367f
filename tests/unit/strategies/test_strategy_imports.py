"""Strategies read facts and emit intents: no strategy module may import the execution engine,
a backend, the risk engine or a venue client -- directly (any import statement, also inside a
function) or through what it imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import arbkit.strategies

PKG = Path(arbkit.strategies.__file__).parent
# pure parts of execution a strategy may use: the intent type and exact sizing helpers
ALLOWED_EXECUTION = {"arbkit.execution", "arbkit.execution.intent", "arbkit.execution.sizing"}
FORBIDDEN_PREFIXES = ("arbkit.venues", "arbkit.risk", "arbkit.sim", "arbkit.journal", "aiohttp", "websockets", "pynng")
# the typed config tables live in runtime.config (read lazily by the registry); nothing else of runtime
ALLOWED_RUNTIME = {"arbkit.runtime.config"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names if node.module == "arbkit.execution"]
    return out


def _bad(name: str) -> bool:
    if name.startswith("arbkit.execution"):
        return name not in ALLOWED_EXECUTION
    if name.startswith("arbkit.runtime"):
        return name not in ALLOWED_RUNTIME
    return name.startswith(FORBIDDEN_PREFIXES)


def test_no_strategy_module_imports_the_executor_or_a_venue_client() -> None:
    modules = sorted(PKG.glob("*.py"))
    assert {p.stem for p in modules} >= {"base", "host", "registry", "cross_venue", "triangular", "complete_set", "adapters"}
    offenders = {p.name: bad for p in modules if (bad := [n for n in _imports(p) if _bad(n)])}
    assert offenders == {}


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    p = tmp_path / "bad.py"
    p.write_text("def f():\n    from arbkit.execution.engine import ExecutionEngine\n    import arbkit.venues.kalshi.gateway\n")
    assert [n for n in _imports(p) if _bad(n)] == ["arbkit.execution.engine", "arbkit.venues.kalshi.gateway"]


def test_importing_every_strategy_loads_no_engine_or_venue_module() -> None:
    code = ("import sys\n"
            "import arbkit.strategies.host, arbkit.strategies.base, arbkit.strategies.adapters, arbkit.strategies.registry\n"
            "import arbkit.strategies.cross_venue, arbkit.strategies.triangular, arbkit.strategies.complete_set\n"
            "import arbkit.strategies.complete_set_mm\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('arbkit.', 'aiohttp')))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert [m for m in out if _bad(m)] == []
    assert "arbkit.execution.engine" not in out and not any(m.startswith("arbkit.venues") for m in out)
