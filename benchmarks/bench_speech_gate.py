"""The speech gate: speech kept on real speech, non-speech rejected on synthetic sounds, and its cost.

Usage: python benchmarks/bench_speech_gate.py [--per-corpus 150] [--per-category 20] [--seconds 4] [--seed 1]

Speech (from ../shared when present; each set skipped when absent): RAVDESS 16 kHz clips, the four
acted corpora of data/speech (Polish, Amharic, Urdu, Spanish), the six GRID clips, and espeak-ng
sentences in several English voices and speeds. Per set:

- *clips with speech*: clips where the gate finds any speech;
- *voiced kept*: of the frames the acoustic extractor calls voiced (what the acoustic modality read
  before the gate), the share the gate keeps. Some of those frames are the recording's background
  (hum, breath, room noise before and after the sentence), so also
- *loud voiced kept*: the same for voiced frames within 25 dB of the clip's loudest frames (the
  speech itself: the gate's recall where it matters);
- *onset*: of the loud voiced frames it drops, the share in the 100 ms before a speech segment;
- *speech share*: share of the audio the gate marks speech.

Non-speech: ``feature_adapters.synthetic_audio`` categories (``--per-category`` random examples of
``--seconds`` each, drawn from ``--seed``; the gate's rules were set on seed 0). Per category: the share
of frames voiced by the extractor (what reached the model before the gate), what remains after it,
clips with any speech window, and the speech share.

Cost: CPU seconds per second of audio on one thread (the Silero session runs on one), for the batch
function on 60 s of audio and for the streaming gate fed 100 ms chunks.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from feature_adapters.acoustic import extract_acoustic  # noqa: E402
from feature_adapters.speech_gate import StreamingSpeechGate, speech_mask  # noqa: E402
from feature_adapters.synthetic_audio import CATEGORIES, nonspeech_examples  # noqa: E402

SR = 16000
SHARED = Path(os.environ.get("LIVEMER_SHARED", REPO.parent / "shared"))
ESPEAK_TEXT = [
    "Kids are talking by the door.",
    "I cannot believe you did that to me, it is so unfair.",
    "Well, that is the best news I have heard all week!",
    "Please leave the package on the table and close the window.",
]
ESPEAK_VOICES = ["en", "en-us", "en-gb-scotland", "en-029", "en+f3", "en-us+m5"]


def _read(path: Path) -> np.ndarray:
    from feature_adapters.audio_io import load_audio

    return load_audio(path, SR)


def speech_sets(per_corpus: int, seed: int) -> dict[str, list[np.ndarray]]:
    rnd = random.Random(seed)
    sets: dict[str, list[np.ndarray]] = {}

    def sample(paths: list[Path]) -> list[Path]:
        paths = sorted(paths)
        return paths if len(paths) <= per_corpus else sorted(rnd.sample(paths, per_corpus))

    rav = list((SHARED / "data/ravdess/audio16k").glob("Actor_*/*.flac"))
    if rav:
        sets["RAVDESS"] = [_read(p) for p in sample(rav)]
    for corpus in ("nemo", "ased", "urdu", "spanish"):
        clips = list((SHARED / "data/speech" / corpus / "clips").glob("*.opus"))
        if clips:
            sets[corpus] = [_read(p) for p in sample(clips)]
    grid = sorted((SHARED / "media/grid").glob("*.mpg"))
    if grid:
        sets["GRID"] = [_read(p) for p in grid]
    if shutil.which("espeak-ng"):
        out = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, voice in enumerate(ESPEAK_VOICES):
                for j, text in enumerate(ESPEAK_TEXT):
                    wav = Path(tmp) / f"{i}_{j}.wav"
                    wpm = (140, 175, 220)[(i + j) % 3]
                    subprocess.run(
                        ["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text],
                        check=True,
                        capture_output=True,
                    )
                    out.append(_read(wav))
        sets["espeak-ng"] = out
    return sets


LOUD_DB = 25.0  # "loud" voiced frames: within this many dB of the clip's loudest (99th percentile) frame
ONSET_S = 0.1


def _measure(x: np.ndarray) -> np.ndarray:
    """[voiced, voiced kept, loud voiced, loud voiced kept, loud dropped at onsets, any speech, speech share]."""
    frames = extract_acoustic(x, SR)
    mask = speech_mask(x, SR)
    voiced = frames.is_voiced
    speech = mask.at(frames.times)
    e = frames.energy_db
    loud = voiced & (e > (np.percentile(e, 99) if e.size else 0.0) - LOUD_DB)
    starts = np.array([a for a, _b in mask.segments()])
    onset = np.zeros(len(frames), bool)
    for a in starts:
        onset |= (frames.times >= a - ONSET_S) & (frames.times < a)
    share = float(mask.speech.mean()) if len(mask) else 0.0
    return np.array(
        [
            voiced.sum(),
            (voiced & speech).sum(),
            loud.sum(),
            (loud & speech).sum(),
            (loud & ~speech & onset).sum(),
            bool(mask.speech.any()),
            share,
        ],
        np.float64,
    )


def _row(clips: list[np.ndarray]) -> dict[str, float]:
    res = np.array([_measure(x) for x in clips]).reshape(-1, 7)
    w = np.array([x.size for x in clips], np.float64)
    v, vk, lv, lvk, on, ws = res[:, :6].sum(axis=0)
    return {
        "clips": len(clips),
        "seconds": w.sum() / SR,
        "with_speech": ws / max(len(clips), 1),
        "voiced": v,
        "voiced_kept": vk,
        "loud": lv,
        "loud_kept": lvk,
        "onset": on,
        "share": float(np.average(res[:, 6], weights=w)) if len(clips) else 0.0,
        "frames": float(sum(max(0, int(np.ceil((x.size - 80) / 160))) for x in clips)),
    }


def _cost(seconds: float = 60.0) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    x = np.concatenate([ex for _c, ex in nonspeech_examples(1, seconds / len(CATEGORIES), seed=0)])
    x = np.concatenate([x, 0.05 * rng.standard_normal(int(seconds * SR) - x.size).astype(np.float32)])
    speech_mask(x[:SR], SR)  # load the session
    c0 = time.process_time()
    speech_mask(x, SR)
    batch = (time.process_time() - c0) / seconds
    gate = StreamingSpeechGate()
    c0 = time.process_time()
    for i in range(0, x.size, 1600):
        gate.push(x[i : i + 1600])
    gate.flush()
    stream = (time.process_time() - c0) / seconds
    return batch, stream


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-corpus", type=int, default=150, help="clips drawn from each speech corpus")
    ap.add_argument("--per-category", type=int, default=20, help="examples of each non-speech category")
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each non-speech example")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        t0 = time.perf_counter()
        sets = speech_sets(args.per_corpus, args.seed)
        print(f"speech (../shared at {SHARED}: {'present' if SHARED.exists() else 'absent'})")
        print(
            f"{'set':<12} {'clips':>5} {'seconds':>8} {'clips with speech':>18} {'voiced kept':>12} "
            f"{'loud voiced kept':>17} {'onset':>6} {'speech share':>13}"
        )
        tot = {"voiced": 0.0, "voiced_kept": 0.0, "loud": 0.0, "loud_kept": 0.0, "onset": 0.0}
        for name, clips in sets.items():
            r = _row(clips)
            for k in tot:
                tot[k] += r[k]
            dropped = max(r["loud"] - r["loud_kept"], 1)
            print(
                f"{name:<12} {r['clips']:>5} {r['seconds']:>8.0f} {r['with_speech']:>17.1%} "
                f"{r['voiced_kept'] / max(r['voiced'], 1):>12.1%} {r['loud_kept'] / max(r['loud'], 1):>17.1%} "
                f"{r['onset'] / dropped:>6.0%} {r['share']:>13.1%}"
            )
        print(
            f"{'all':<12} {'':>5} {'':>8} {'':>18} {tot['voiced_kept'] / max(tot['voiced'], 1):>12.1%} "
            f"{tot['loud_kept'] / max(tot['loud'], 1):>17.1%} "
            f"{tot['onset'] / max(tot['loud'] - tot['loud_kept'], 1):>6.0%}"
        )
        print()
        print(f"non-speech ({args.per_category} x {args.seconds:g} s per category, seed {args.seed})")
        print(
            f"{'category':<16} {'voiced before':>14} {'voiced after':>13} {'clips with speech':>18} "
            f"{'speech share':>13}"
        )
        by_cat: dict[str, list[np.ndarray]] = {}
        for cat, x in nonspeech_examples(args.per_category, args.seconds, seed=args.seed):
            by_cat.setdefault(cat, []).append(x)
        worst = 0.0
        for cat, clips in by_cat.items():
            r = _row(clips)
            worst = max(worst, r["share"])
            print(
                f"{cat:<16} {r['voiced'] / r['frames']:>14.1%} {r['voiced_kept'] / r['frames']:>13.2%} "
                f"{r['with_speech']:>17.1%} {r['share']:>13.2%}"
            )
        print(f"worst speech share on non-speech: {worst:.2%}")
        print()
        batch, stream = _cost()
        print(
            f"cost, one thread: batch {1000 * batch:.2f} ms CPU per s of audio (RTF {batch:.4f}); "
            f"streaming in 100 ms chunks {1000 * stream:.2f} ms per s (RTF {stream:.4f})"
        )
        print(f"(benchmark wall time {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
