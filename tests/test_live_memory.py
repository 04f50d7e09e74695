"""livemer.live_memory: glibc heap tuning and periodic trimming for long live runs."""

from __future__ import annotations

import numpy as np
import pytest

from livemer import live_memory
from livemer.live_memory import HeapTrimmer, trim_heap, tune_heap

glibc = pytest.mark.skipif(live_memory._LIBC is None, reason="not glibc")


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) / 1024 for ln in fh if ln.startswith("VmRSS:"))


@glibc
def test_trim_returns_freed_heap_pages():
    # many small blocks (below any mmap threshold) freed but for every 64th: without a trim the heap keeps them
    blocks = [np.ones(8000, np.uint8) for _ in range(20000)]  # ~160 MB of 8 kB heap chunks
    keep = blocks[::64]
    del blocks
    before = _rss_mb()
    assert trim_heap() is True
    assert _rss_mb() < before - 50
    del keep


@glibc
def test_tune_heap_succeeds():
    assert tune_heap() is True


def test_trimmer_period(monkeypatch):
    calls = []
    monkeypatch.setattr(live_memory, "trim_heap", lambda: calls.append(1) or True)
    monkeypatch.setattr(live_memory, "_LIBC", object())
    tr = HeapTrimmer(30.0)
    t = tr._next
    assert not tr.maybe(t - 1)
    assert tr.maybe(t) and not tr.maybe(t + 29) and tr.maybe(t + 30)
    assert tr.trims == 2 and len(calls) == 2
    assert not HeapTrimmer(None).maybe(t + 1e6)


def test_off_glibc_nothing_happens(monkeypatch):
    monkeypatch.setattr(live_memory, "_LIBC", None)
    assert tune_heap() is False and trim_heap() is False
    assert not HeapTrimmer(0.0).maybe()
