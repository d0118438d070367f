"""Build hook for the optional C accelerator of arbkit's order books (arbkit.core._book).

Everything else about the package lives in pyproject.toml. The extension is optional: when it
cannot be compiled (no compiler, no Python headers, an unusual platform) the build prints a warning
and carries on, and arbkit.core.book uses its pure-Python implementation. Installing never fails
because of it.
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that turns any compile/link failure into a warning."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - never break install over the accelerator
            self._warn(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._warn(exc)

    @staticmethod
    def _warn(exc: BaseException) -> None:
        print(
            f"WARNING: arbkit C order-book accelerator not built ({exc}); the pure-Python books will be used",
            file=sys.stderr,
        )


setup(
    ext_modules=[
        Extension(
            "arbkit.core._book",
            sources=["src/arbkit/core/_book.c"],
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
