"""Fixtures for execution tests; the builders live in exec_kit.py (a unique module name)."""

from exec_kit import env_factory  # noqa: F401  (the fixture)
