"""Speed of word-level alignment (feature_adapters.align): file mode and live windows.

Run: .venv/bin/python benchmarks/bench_align.py [--minutes 60]
Synthetic timeline: 100 Hz x 74-d acoustic, 30 Hz x 35-d visual, ~2.5 words/s of 50-d vectors. The window
figures are printed for plain step means (covarep-74) and with the dynamics step space, in the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from feature_adapters.align import (
    FrameSeries,
    StreamingAligner,
    WordInput,
    build_steps,
    frame_means,
    windows_at,
    windows_over,
)


def timeline(seconds: float, rng: np.random.Generator):
    words, t = [], 0.3
    while t < seconds - 1:
        length = float(rng.uniform(0.1, 0.6))
        words.append(WordInput("w", t, t + length, rng.normal(size=50).astype(np.float32)))
        t += length + float(rng.choice([rng.uniform(0, 0.2), rng.uniform(0.5, 3.0)], p=[0.85, 0.15]))
    at = np.arange(0, seconds, 0.01)
    vt = np.arange(0, seconds, 1 / 30)
    a = FrameSeries(at, rng.normal(size=(len(at), 74)).astype(np.float32), rng.random(len(at)) < 0.8)
    v = FrameSeries(vt, rng.normal(size=(len(vt), 35)).astype(np.float32), rng.random(len(vt)) < 0.9)
    return words, a, v


def clock(fn, repeat: int = 1) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the synthetic file")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    secs = args.minutes * 60
    words, a, v = timeline(secs, rng)
    iv = np.array([[w.start, w.end] for w in words])
    print(f"file: {args.minutes:g} min, {len(words)} words, {len(a)} acoustic, {len(v)} visual frames")
    s = clock(lambda: frame_means(a.times, a.features, a.valid, iv), 3)
    print(f"frame_means acoustic over all words: {s * 1e3:.1f} ms")
    steps = []
    s = clock(lambda: steps.extend(build_steps(words, a, v, 0.0, secs)), 1)
    print(f"build_steps whole file: {s * 1e3:.1f} ms ({len(steps)} steps)")
    s = clock(lambda: windows_over(steps, 20), 1)
    print(f"windows_over one window per step: {s * 1e3:.1f} ms ({s / len(steps) * 1e6:.1f} us/window)")
    # covarep-74 (step means) and covarep-74+dynamics-28 (+ std and mean |change| of 14 columns), in one run
    from feature_adapters.covarep import COVAREP74_DYNAMICS, step_dynamics

    for label, dyn in (("covarep-74", ()), (COVAREP74_DYNAMICS.name, step_dynamics(COVAREP74_DYNAMICS))):
        _windows(label, dyn, words, a, v, secs)


def _windows(label: str, dyn: tuple, words, a, v, secs: float) -> None:
    times = np.arange(1.0, min(secs, 600.0), 0.2)
    s = clock(lambda: windows_at(words, a, v, times, t_start=0.0, acoustic_dynamics=dyn), 1)
    print(f"[{label}] windows_at 5 Hz over {times[-1]:.0f} s: {s * 1e3:.1f} ms ({s / len(times) * 1e3:.2f} ms/window)")

    # live: steady state with a 60 s buffer, chunks every 0.2 s, a window per chunk
    al = StreamingAligner(50, 74, 35, t0=0.0, acoustic_dynamics=dyn)
    span = min(secs, 180.0)
    add_t, win_t, n = 0.0, 0.0, 0
    wi = 0
    for t in np.arange(0.2, span, 0.2):
        sa = slice(*np.searchsorted(a.times, [t - 0.2, t]))
        sv = slice(*np.searchsorted(v.times, [t - 0.2, t]))
        ta = time.perf_counter()
        al.add_acoustic(a.times[sa], a.features[sa], a.valid[sa])
        al.add_visual(v.times[sv], v.features[sv], v.valid[sv])
        new = []
        while wi < len(words) and words[wi].end < t:
            new.append(words[wi])
            wi += 1
        al.add_words(new)
        tb = time.perf_counter()
        al.window(t)
        tc = time.perf_counter()
        if t > 60:
            add_t += tb - ta
            win_t += tc - tb
            n += 1
    print(
        f"[{label}] StreamingAligner steady state ({al.buffered()}): add {add_t / n * 1e3:.3f} ms/tick, "
        f"window {win_t / n * 1e3:.3f} ms"
    )


if __name__ == "__main__":
    main()
