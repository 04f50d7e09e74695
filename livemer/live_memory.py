"""The C heap of a long live run: freed memory goes back to the operating system.

A live run frees and reallocates large buffers all the time (video frames, the
recogniser's audio buffer and its encoder input, whose length follows the
buffer). glibc's malloc raises its mmap threshold after the first large buffer
is freed, so later ones come from the heaps, and memory freed there stays in the
process: RSS creeps up while the memory in use does not (``bench_soak.py``
prints both). :func:`tune_heap` pins the threshold, so large buffers are
mapped and unmapped, and :class:`HeapTrimmer` hands the heaps' free pages back
every ``period`` seconds (``malloc_trim``). Both do nothing off glibc.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import time

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt parameters (malloc.h)
MMAP_THRESHOLD = 256 * 1024  # bytes: allocations at least this big are mapped, and unmapped when freed


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return None


_LIBC = _glibc()


def tune_heap(threshold: int = MMAP_THRESHOLD) -> bool:
    """Pin glibc's mmap threshold at ``threshold`` bytes (no dynamic raise); False where there is no glibc."""
    return _LIBC is not None and bool(_LIBC.mallopt(M_MMAP_THRESHOLD, int(threshold)))


def trim_heap() -> bool:
    """Return the heaps' free pages to the operating system now; False where there is no glibc."""
    return _LIBC is not None and bool(_LIBC.malloc_trim(0))


class HeapTrimmer:
    """Calls :func:`trim_heap` at most every ``period`` seconds from :meth:`maybe` (None: never)."""

    def __init__(self, period: float | None = 30.0) -> None:
        self.period = period
        self.trims = 0
        self.seconds = 0.0  # wall time spent trimming
        self._next = time.monotonic() + (period or 0.0)

    def maybe(self, now: float | None = None) -> bool:
        if self.period is None or _LIBC is None:
            return False
        now = time.monotonic() if now is None else now
        if now < self._next:
            return False
        self._next = now + self.period
        t0 = time.perf_counter()
        trim_heap()
        self.seconds += time.perf_counter() - t0
        self.trims += 1
        return True


__all__ = ["HeapTrimmer", "tune_heap", "trim_heap"]
