"""Test-wide helpers: where ../shared is, and a skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
DATA = SHARED / "data"

requires_shared = pytest.mark.skipif(
    not FIXTURES.is_dir(),
    reason=f"../shared is absent ({SHARED}): venue fixtures and recordings live there, not in the project",
)


@pytest.fixture
def shared_fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"../shared is absent ({SHARED}): venue fixtures live there, not in the project")
    return FIXTURES


@pytest.fixture
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"../shared is absent ({SHARED}): recordings live there, not in the project")
    return DATA
