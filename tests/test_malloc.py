"""The malloc arena cap a serving process sets on itself (glibc on Linux)."""

from __future__ import annotations

import sys

import pytest

from dailypapers import malloc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_the_cap_is_set_unless_the_operator_chose_one(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert malloc.limit_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert malloc.limit_arenas() is False
