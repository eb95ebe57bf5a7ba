"""Optional packages in tests: skip with a reason locally, fail under CI (where nothing may skip)."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess  # nosec B404 # runs this interpreter on fixed code
import sys
from types import ModuleType

import pytest


def require(module: str) -> ModuleType:
    """Import ``module`` or skip (fail when the environment variable CI is set)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the Python package {module!r}: {exc}")
        pytest.skip(f"{module} is not installed ({exc}); `make test` installs it")


def imported_by(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported after running ``code`` (in the repository)."""
    from tests.conftest import ROOT

    probe = f"{code}\nimport sys; print(sorted(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])
