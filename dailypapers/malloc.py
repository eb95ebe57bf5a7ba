"""Fewer malloc arenas for a serving process: less memory kept and never given back.

glibc gives each thread that contends for the allocator an arena of its own, up to eight per CPU core.
A web worker runs its requests' database work and rendering on a pool of threads, so it ends up with
many arenas, each holding freed memory that the others cannot reuse; the resident size then grows well
beyond what the process uses. :func:`limit_arenas` caps them (as ``MALLOC_ARENA_MAX`` would) for the
arenas not made yet; an operator's own ``MALLOC_ARENA_MAX`` is left as it is. Elsewhere than glibc it
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter, from glibc's malloc.h


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - musl and others have no mallopt: not glibc
    except (OSError, AttributeError):
        return None
    return libc


def trim() -> bool:
    """Give the memory glibc's heap holds free back to the system (``malloc_trim``): after a burst of
    short-lived allocations, such as loading the vector index batch by batch. Whether any was given."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc.malloc_trim(0) == 1


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap this process's malloc arenas at ``arenas``; whether the cap was set."""
    libc = _glibc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(_M_ARENA_MAX, arenas) == 1
