"""ASR speed and streaming latency on real speech (espeak-ng, and the GRID clips when ../shared exists).

Prints:

* the GRID WER with each clip decoded alone (the figure tests/test_asr.py checks);
* offline real-time factor (decode wall time / audio duration, median of
  ``--repeats``) and WER, on a 26 s espeak-ng passage and on the six GRID clips
  joined with 0.5 s gaps (joined, tiny.en merges words across clips: "lay blue"
  -> "LABLU", so that WER is higher than per clip);
* streaming (LocalAgreement-2, ``--chunk`` s pushes) commit latency = stream
  time at which a word was committed − the word's end time, p50/p95/max, in two
  simulations:
  - *ideal*: each chunk is decoded the moment it arrives (decode time ignored:
    the latency of the policy alone);
  - *real-time*: a simulated clock in which audio arrives in real time and the
    worker decodes whatever has arrived as soon as its previous decode is done
    (decode time counted, as on this machine: on a shared, loaded box this
    figure is dominated by CPU contention; the load average is printed).

With ``--live`` the streaming runs use the live recogniser's options (greedy,
one thread, the encoder fitted to the buffer instead of a zero-padded 30 s
window, one temperature, a token cap). A full-window decode costs about
1.9 CPU-s for tiny.en int8 on this box whatever the buffer length; a fitted
one about 0.5 s for a 4.5 s buffer.

Usage: ``python benchmarks/bench_asr.py [--chunk 0.5] [--beam 5] [--threads N] [--asr-model M] [--live]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from feature_adapters.asr import SAMPLE_RATE, StreamingTranscriber, load_asr, word_error_rate  # noqa: E402
from feature_adapters.audio_io import load_audio  # noqa: E402

PASSAGE = (
    "I got the letter this morning and I could not believe it. After three years of waiting, they finally "
    "said yes. My hands were shaking when I opened it. I called my mother right away, and she started to cry. "
    "We are going to move in the spring, probably in April. I am a little scared, to be honest, because I "
    "don't know anyone there. But I think it's going to be the best thing that ever happened to us."
)


def espeak_audio(text: str, workdir: Path) -> np.ndarray:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is not installed")
    wav = workdir / "passage.wav"
    subprocess.run([espeak, "-s", "150", "-w", str(wav), text], check=True, capture_output=True)
    return load_audio(wav, sr=SAMPLE_RATE)


def grid_clips(shared: Path) -> list[tuple[np.ndarray, str]]:
    """(audio, reference) of each GRID clip; empty when ../shared is absent."""
    grid = shared / "media" / "grid"
    tsv = grid / "transcripts.tsv"
    if not tsv.exists():
        return []
    rows = [ln.split("\t") for ln in tsv.read_text().splitlines()[1:] if ln.strip()]
    return [(load_audio(grid / name, sr=SAMPLE_RATE), ref) for name, ref in rows]


def grid_per_clip(asr, clips: list[tuple[np.ndarray, str]]) -> None:
    from rapidfuzz.distance import Levenshtein

    from feature_adapters.asr import normalize_transcript

    errors = n = 0
    for audio, ref in clips:
        r = normalize_transcript(ref)
        h = normalize_transcript(" ".join(w.word for w in asr.transcribe_file_audio(audio)))
        errors += Levenshtein.distance(r, h)
        n += len(r)
    print(f"GRID, each clip decoded alone: WER {errors / n:.1%} ({errors}/{n} words)")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def offline(asr, audio: np.ndarray, ref: str, repeats: int) -> None:
    dur = audio.size / SAMPLE_RATE
    walls, cpus, text = [], [], ""
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        words = asr.transcribe_file_audio(audio)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        text = " ".join(w.word for w in words)
    wall = statistics.median(walls)
    print(
        f"  offline  {dur:5.1f} s audio: RTF {wall / dur:.3f} (wall {wall:.2f} s, CPU {statistics.median(cpus):.2f} s), "
        f"WER {word_error_rate(ref, text):.1%}, {len(words)} words"
    )


def stream_ideal(asr, audio: np.ndarray, chunk_s: float):
    st = StreamingTranscriber(asr)
    n = int(round(chunk_s * SAMPLE_RATE))
    lengths, decode_s = [], []
    for i in range(0, audio.size, n):
        piece = audio[i : i + n]
        st.push(piece, (i + piece.size) / SAMPLE_RATE)
        lengths.append(st.buffer_duration + piece.size / SAMPLE_RATE)
        t0 = time.perf_counter()
        st.process()
        decode_s.append(time.perf_counter() - t0)
    flushed = len(st.flush())
    return st, list(st.commit_times), flushed, lengths, decode_s


def stream_realtime(asr, audio: np.ndarray, chunk_s: float):
    """Audio arrives in real time in chunk_s pieces; the worker decodes back to back."""
    st = StreamingTranscriber(asr)
    n = int(round(chunk_s * SAMPLE_RATE))
    chunks = [(audio[i : i + n], (i + min(n, audio.size - i)) / SAMPLE_RATE) for i in range(0, audio.size, n)]
    clock, k, busy = 0.0, 0, 0.0
    commit_at: list[float] = []
    while k < len(chunks):
        if chunks[k][1] > clock:
            clock = chunks[k][1]  # idle until the next chunk arrives
        while k < len(chunks) and chunks[k][1] <= clock + 1e-9:
            st.push(*chunks[k])
            k += 1
        t0 = time.perf_counter()
        got = st.process()
        d = time.perf_counter() - t0
        busy += d
        clock += d
        commit_at += [clock] * len(got)
    t0 = time.perf_counter()
    flushed = st.flush()
    clock += time.perf_counter() - t0
    commit_at += [clock] * len(flushed)
    return st, commit_at, len(flushed), busy


def report_stream(label: str, st, commit_at: list[float], flushed: int, ref: str, extra: str) -> None:
    words = st.committed_words
    lat = [t - w.end for w, t in zip(words[: len(words) - flushed], commit_at)]
    text = " ".join(w.word for w in words)
    print(
        f"  {label:9s} commit latency p50 {pct(lat, 50):.2f} s, p95 {pct(lat, 95):.2f} s, max {max(lat, default=float('nan')):.2f} s "
        f"over {len(lat)} words (+{flushed} at flush), WER {word_error_rate(ref, text):.1%}, {st.decodes} decodes{extra}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunk", type=float, default=0.5, help="streaming chunk length, s (default 0.5)")
    ap.add_argument("--beam", type=int, default=5, help="beam size (default 5)")
    ap.add_argument("--threads", type=int, default=None, help="decoder CPU threads (default: cores up to 4)")
    ap.add_argument("--asr-model", default=None, help="bundled tiny.en unless given")
    ap.add_argument("--repeats", type=int, default=3, help="offline repeats, median reported")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument(
        "--live", action="store_true", help="streaming with the live options (beam 1, 1 thread, fitted encoder window)"
    )
    args = ap.parse_args(argv)
    if args.live:
        args.beam, args.threads = 1, 1

    t0 = time.perf_counter()
    asr = load_asr(args.asr_model, threads=args.threads).with_options(beam_size=args.beam)
    print(
        f"model {asr.name} ({asr.path}), int8 CPU, {asr.threads} threads, beam {args.beam}; "
        f"load {time.perf_counter() - t0:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    asr.transcribe_file_audio(np.zeros(SAMPLE_RATE, np.float32))  # warm the VAD

    with tempfile.TemporaryDirectory() as tmp:
        sets = [("espeak", espeak_audio(PASSAGE, Path(tmp)), PASSAGE)]
    clips = grid_clips(args.shared)
    if clips:
        grid_per_clip(asr, clips)
        gap = np.zeros(SAMPLE_RATE // 2, np.float32)
        joined = np.concatenate([x for a, _ in clips for x in (a, gap)])
        sets.append((f"GRID x{len(clips)} joined", joined, " ".join(r for _, r in clips)))
    from livemer.stages import SpeechOptions  # the live recogniser's own options

    live = asr.with_options(**SpeechOptions.live(beam_size=args.beam).decode_changes()) if args.live else asr
    for name, audio, ref in sets:
        print(f"{name}: {audio.size / SAMPLE_RATE:.1f} s")
        offline(asr, audio, ref, args.repeats)
        asr_offline, asr = asr, live
        st, at, fl, lengths, dec = stream_ideal(asr, audio, args.chunk)
        report_stream(
            "ideal",
            st,
            at,
            fl,
            ref,
            f", buffer mean {np.mean(lengths):.1f} s / max {max(lengths):.1f} s, "
            f"decode wall p50 {pct(dec, 50):.2f} s / p95 {pct(dec, 95):.2f} s",
        )
        st, at, fl, busy = stream_realtime(asr, audio, args.chunk)
        report_stream(
            "real-time", st, at, fl, ref, f", decoding busy {busy / (audio.size / SAMPLE_RATE):.0%} of stream time"
        )
        asr = asr_offline
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
