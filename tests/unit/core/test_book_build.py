"""The C accelerator is optional: a failed compile never breaks the build, and the pure-Python books
are selected at import when the extension is missing or ARBKIT_BOOK_IMPL=python is set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _python(code: str, **env: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **env}, check=True)
    return out.stdout.strip()


def test_env_var_forces_the_pure_python_books():
    code = ("from arbkit.core import book as B; "
            "print(B.IMPLEMENTATION, B.PredictionBook is B.PyPredictionBook, B.CryptoBook is B.PyCryptoBook)")
    assert _python(code, ARBKIT_BOOK_IMPL="python") == "python True True"


def _setup_tree(tmp_path: Path) -> Path:
    """setup.py and the C source in a scratch tree (the build must not touch the real one)."""
    (tmp_path / "src" / "arbkit" / "core").mkdir(parents=True)
    shutil.copy(ROOT / "setup.py", tmp_path / "setup.py")
    shutil.copy(ROOT / "src" / "arbkit" / "core" / "_book.c", tmp_path / "src" / "arbkit" / "core" / "_book.c")
    return tmp_path


def _build(tree: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", "out", "--build-temp", "tmp"],
        cwd=tree, capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )


def test_failed_compile_is_a_warning_not_a_broken_build(tmp_path):
    tree = _setup_tree(tmp_path)
    res = _build(tree, CC="false", LDSHARED="false")
    assert res.returncode == 0, res.stderr
    assert "accelerator not built" in res.stderr
    assert not list((tree / "out").rglob("_book*.so"))
    # and without the extension the package falls back to pure Python
    code = ("import sys, importlib.abc\n"
            "class Block(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'arbkit.core._book': raise ImportError('not built')\n"
            "sys.meta_path.insert(0, Block())\n"
            "from arbkit.core import book as B\n"
            "b = B.PredictionBook(__import__('decimal').Decimal('0.01'), 2)\n"
            "b.apply_delta(True, 5, 1)\n"
            "print(B.IMPLEMENTATION, B.C_AVAILABLE, type(b).__name__, b.best_bid())")
    assert _python(code) == "python False PyPredictionBook (5, 1)"


@pytest.mark.skipif(
    shutil.which(os.environ.get("CC", "gcc")) is None
    or not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists(),
    reason="no C compiler or Python headers here (the books then run pure Python)",
)
def test_extension_compiles_cleanly(tmp_path):
    tree = _setup_tree(tmp_path)
    res = _build(tree, CFLAGS="-Werror=implicit-function-declaration")
    assert res.returncode == 0, res.stderr
    assert "accelerator not built" not in res.stderr, res.stderr
    assert "warning:" not in res.stderr, res.stderr  # the source compiles without warnings (-Wall)
    assert list((tree / "out").rglob("_book*.so"))
