"""Optional packages in tests: skip with a reason locally, fail under CI (where nothing may skip)."""

from __future__ import annotations

import importlib
import os
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
