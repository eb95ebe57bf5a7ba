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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_trim_hands_freed_heap_back():
    chunks = [bytearray(64 * 1024) for _ in range(2000)]  # ~128 MiB in blocks below mmap's threshold
    del chunks
    assert malloc.trim() is True
