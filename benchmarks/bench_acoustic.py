"""Real-time factor of the acoustic extractor (offline, and streaming in 100 ms hops).

Usage: python benchmarks/bench_acoustic.py [--seconds 45] [--hop-ms 100] [--repeats 3]

Speech: RAVDESS clips from ../shared when present, else espeak-ng sentences.
RTF = processing time / audio duration (lower is better; < 1 is faster than real time).
Both wall-clock and process CPU time are printed: on a shared, loaded machine the CPU
figure is the steadier one.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from feature_adapters.acoustic import AcousticFrames, StreamingAcousticExtractor, extract_acoustic  # noqa: E402
from feature_adapters.covarep import CovarepAdapter  # noqa: E402

SR = 16000


def _speech(seconds: float) -> tuple[np.ndarray, str]:
    import soundfile as sf

    root = REPO.parent / "shared/data/ravdess/audio16k"
    clips = sorted(root.glob("Actor_*/*.flac"))
    parts, total = [], 0
    if clips:
        for path in clips[::7]:
            y, _ = sf.read(path, dtype="float32")
            parts.append(y)
            total += y.size
            if total >= seconds * SR:
                break
        return np.concatenate(parts)[: int(seconds * SR)], f"RAVDESS ({len(parts)} clips)"
    if shutil.which("espeak-ng") is None:
        raise SystemExit("no ../shared RAVDESS audio and no espeak-ng: nothing to benchmark on")
    import librosa

    text = (
        "The quick brown fox jumps over the lazy dog. I did not expect to see you here today, "
        "and honestly I am rather pleased about it. "
    )
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
        y, sr = sf.read(wav, dtype="float32")
    y = librosa.resample(y, orig_sr=sr, target_sr=SR)
    reps = int(np.ceil(seconds * SR / y.size))
    return np.tile(y, reps)[: int(seconds * SR)], "espeak-ng"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=45.0, help="seconds of speech (default 45)")
    ap.add_argument("--hop-ms", type=float, default=100.0, help="streaming chunk length in ms (default 100)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is reported (default 3)")
    args = ap.parse_args()

    y, source = _speech(args.seconds)
    dur = y.size / SR
    print(f"speech: {source}, {dur:.1f} s at {SR} Hz")

    t = time.perf_counter()
    StreamingAcousticExtractor().warmup()
    print(f"warm-up (numba compile, first call): {time.perf_counter() - t:.2f} s")

    best, best_cpu = np.inf, np.inf
    for _ in range(args.repeats):
        t, c = time.perf_counter(), time.process_time()
        frames = extract_acoustic(y, SR)
        best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
    print(
        f"offline:   {len(frames)} frames in {best * 1000:.0f} ms wall -> RTF {best / dur:.4f} "
        f"({best / dur * 1000:.1f} ms per s of audio); CPU-time RTF {best_cpu / dur:.4f}"
    )

    hop = int(args.hop_ms / 1000 * SR)
    best, best_cpu, lat = np.inf, np.inf, np.zeros(0)
    for _ in range(args.repeats):
        ex = StreamingAcousticExtractor(SR)
        times, parts = [], []
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, y.size, hop):
            t = time.perf_counter()
            parts.append(ex.push(y[i : i + hop]))
            times.append(time.perf_counter() - t)
        parts.append(ex.flush())
        total = time.perf_counter() - t0
        best_cpu = min(best_cpu, time.process_time() - c0)
        if total < best:
            best, lat = total, np.array(times)
    streamed = AcousticFrames.concat([p for p in parts if len(p)])
    diff = float(np.max(np.abs(streamed.features - frames.features))) if len(streamed) == len(frames) else float("nan")
    print(
        f"streaming: {len(lat)} pushes of {args.hop_ms:.0f} ms -> RTF {best / dur:.4f} wall, "
        f"{best_cpu / dur:.4f} CPU; per push "
        f"mean {lat.mean() * 1000:.2f} ms, p95 {np.percentile(lat, 95) * 1000:.2f} ms, max {lat.max() * 1000:.2f} ms"
    )
    print(f"streaming vs offline: {len(streamed)} vs {len(frames)} frames, max |diff| {diff:.2e}")

    adapter = CovarepAdapter()
    t = time.perf_counter()
    x = adapter.adapt(frames)
    print(f"covarep-74 adapter: {x.shape} in {(time.perf_counter() - t) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
