"""Batch speed: many short clips and one 60 s talking video, the old `livemer file` path against the new, in one run.

Usage: python benchmarks/bench_batch.py [--clips 200] [--clip-seconds 1.7] [--old-rev 0ef82b9] [--checkpoint CKPT]
                                        [--skip-old] [--skip-video] [--clip-dir DIR] [--only new2,old,...]

Every figure is a fresh ``livemer file`` process (start-up included), as a user runs it:

* short clips: ``--clips`` RAVDESS speech clips (../shared, 16 kHz, 3.7 s each), cut to their middle
  ``--clip-seconds`` (default 1.7 s, the length of the clips the issue measured; 0 keeps them whole), the same
  clips for every run, with ``--no-video``: the old path (``--old-rev``, extracted with ``git archive``: one
  process, a timeline PNG per clip, as the issue's "today" figure was measured), and the new one with 1 and 2
  workers, with ``--no-plots`` and with plots. Printed: clips/s, x real time (media seconds / wall seconds),
  the clips/s of the first and of the last half of the clips (100 and 100 for 200 clips; from the times the
  per-input JSON files were written), and the peak memory of the process tree (RSS summed over processes).
* CPU seconds of the whole process tree, and what they would give with both cores to itself
  (2 x media seconds / CPU seconds): on a shared, loaded machine the wall figures mostly measure the others.
* the 60 s talking clip (``livemer.demo_media``) with all outputs (CSV, JSON, timeline PNG, annotated MP4):
  x real time from process start to exit, and from the input's own ``timings_s.wall`` (models loaded).

``--asr-loops`` only: each clip's speech recognition with the file preset with and without its token cap (in
this process, CPU seconds a clip, the worst clip, and the transcripts that differ).

The load average before and after each run is printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
#: The old path: the main commit the batch work (branch i12: 41098a4, 91cf682, ...) started from; it analyses
#: one input after the other in one process and draws a timeline PNG for each (no --workers, no --no-plots).
OLD_REV = "0ef82b9"
RUNNER = "import sys; from livemer.cli import entry; sys.argv[0] = 'livemer'; raise SystemExit(entry())"


def load_line() -> str:
    la = os.getloadavg()
    return f"load {la[0]:.1f} {la[1]:.1f} {la[2]:.1f}"


class PeakRSS(threading.Thread):
    """The largest summed RSS of a process and its children, polled every 0.25 s."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self._halt = pid, 0, threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            try:
                procs = [root] + root.children(recursive=True)
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
                self.peak = max(self.peak, total)
            except psutil.NoSuchProcess:
                return
            self._halt.wait(0.25)

    def stop(self) -> int:
        self._halt.set()
        self.join(2)
        return self.peak


def run_cli(code_dir: Path, args: list[str], out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code_dir), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    before = load_line()
    c0 = children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "file", *args, "--out", str(out)],
        cwd=code_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mem = PeakRSS(proc.pid)
    mem.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    peak = mem.stop()
    if proc.returncode not in (0, 2):
        tail = (stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"livemer file failed (exit {proc.returncode}): {tail}")
    return {
        "wall": wall,
        "cpu": children_cpu() - c0,
        "peak_mb": peak / 2**20,
        "load": f"{before} -> {load_line()}",
        "rc": proc.returncode,
    }


def children_cpu() -> float:
    """CPU seconds of the finished child processes (and theirs: worker processes are waited for)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def batch_figures(out: Path, run: dict) -> str:
    import pandas as pd

    idx = pd.read_csv(out / "index.csv")
    ok = idx[idx["status"] == "ok"]
    media = float(ok["duration"].sum())
    n = len(ok)
    stamps = sorted(p.stat().st_mtime for p in out.glob("*.json"))
    half = len(stamps) // 2
    rates = ""
    if half >= 2:
        first = (half - 1) / max(stamps[half - 1] - stamps[0], 1e-6)
        second = (len(stamps) - half) / max(stamps[-1] - stamps[half - 1], 1e-6)
        rates = f"; first {half} clips {first:.2f} clips/s, last {len(stamps) - half} clips {second:.2f} clips/s"
    return (
        f"{n} clips ({media:.0f} s of audio) in {run['wall']:.1f} s: {n / run['wall']:.2f} clips/s, "
        f"{media / run['wall']:.1f}x real time{rates}; {run['cpu']:.0f} CPU-s ({run['cpu'] / max(n, 1):.2f} per "
        f"clip: {2 * media / run['cpu']:.1f}x real time if it had both cores); peak RSS {run['peak_mb']:.0f} MB; "
        f"{run['load']}" + ("" if n == len(idx) else f"; {len(idx) - n} FAILED")
    )


def extract(rev: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    arch = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=arch, check=True)
    return dest


def clip_folder(args, tmp: Path) -> Path:
    if args.clip_dir:
        return Path(args.clip_dir)
    src = Path(os.environ.get("LIVEMER_SHARED", REPO.parent / "shared")) / "data" / "ravdess" / "audio16k"
    files = sorted(src.glob("Actor_*/*.flac"))[: args.clips]
    if len(files) < args.clips:
        raise SystemExit(f"need {args.clips} clips under {src} (found {len(files)}); pass --clip-dir")
    d = tmp / "clips"
    d.mkdir()
    for f in files:
        if args.clip_seconds > 0:
            cut_middle(f, d / f.name, args.clip_seconds)
        else:
            (d / f.name).symlink_to(f)
    return d


def cut_middle(src: Path, dest: Path, seconds: float) -> None:
    """The middle ``seconds`` of an audio file (RAVDESS: the sentence; its silences are at both ends)."""
    import soundfile as sf

    x, sr = sf.read(str(src), dtype="float32")
    n = min(len(x), int(round(seconds * sr)))
    a = (len(x) - n) // 2
    sf.write(str(dest), x[a : a + n], sr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--clip-dir", help="a folder of short clips instead of RAVDESS")
    ap.add_argument(
        "--clip-seconds", type=float, default=1.7, help="cut each RAVDESS clip to its middle (default 1.7; 0: whole)"
    )
    ap.add_argument(
        "--only",
        help="comma-separated runs: new2, old, video-new, video-old, new1, new2p (default: all, in that order)",
    )
    ap.add_argument("--old-rev", default=OLD_REV, help=f"git revision of the old path (default {OLD_REV})")
    ap.add_argument("--checkpoint", help="default: the embedded one")
    ap.add_argument("--skip-old", action="store_true")
    ap.add_argument("--skip-video", action="store_true")
    ap.add_argument("--video-seconds", type=float, default=60.0)
    ap.add_argument(
        "--flatness",
        action="store_true",
        help="only: the clips in this process, one warm driver; CPU seconds and RSS per quarter",
    )
    ap.add_argument(
        "--asr-loops",
        action="store_true",
        help="only: speech recognition per clip, the file preset with and without its token cap",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="livemer-bench-batch-") as d:
        if args.asr_loops:
            return asr_loops(args, Path(d))
        return flatness(args, Path(d)) if args.flatness else bench(args, Path(d))


def asr_loops(args, tmp: Path) -> int:
    """CPU seconds of the file preset's recognition per clip, with the token cap and without it."""
    import numpy as np
    import soundfile as sf

    from livemer.batch import BatchOptions, warm_driver

    clips = sorted(clip_folder(args, tmp).iterdir())
    drv = warm_driver(BatchOptions(out_dir=str(tmp / "out"), checkpoint=args.checkpoint, modalities="t"))
    drv.session.load(wait=("speech",))
    capped = drv.session.speech.recogniser
    uncapped = capped.with_options(max_tokens_per_s=None)
    print(f"{load_line()}; {len(clips)} clips; recogniser options {drv.session.options.speech.decode_changes()}")
    cpu: dict[str, list[float]] = {"capped": [], "uncapped": []}
    differ = []
    for p in clips:
        x = sf.read(str(p), dtype="float32")[0]
        text = {}
        for name, rec in (("capped", capped), ("uncapped", uncapped)):
            c0 = time.process_time()
            text[name] = " ".join(w.word.strip() for w in rec.transcribe_file_audio(x))
            cpu[name].append(time.process_time() - c0)
        if text["capped"] != text["uncapped"]:
            differ.append(f"{p.name}: capped {text['capped']!r} / uncapped {text['uncapped']!r}")
    for name, v in cpu.items():
        a = np.array(v)
        print(f"{name}: {a.mean():.3f} CPU-s a clip (median {np.median(a):.3f}, worst {a.max():.2f}); {load_line()}")
    print(f"{len(differ)} of {len(clips)} transcripts differ" + "".join(f"\n  {d}" for d in differ))
    return 0


def flatness(args, tmp: Path) -> int:
    """Per-clip CPU time (this process: the clips run here, one at a time) and RSS, quarter by quarter."""
    import psutil

    from livemer.batch import BatchOptions, run_batch

    clips = clip_folder(args, tmp)
    me = psutil.Process()
    marks: list[tuple[float, float, int]] = []  # (cpu s, media s, rss) after each clip

    def mark(o) -> None:
        marks.append((time.process_time(), o.duration, me.memory_info().rss))

    opts = BatchOptions(out_dir=str(tmp / "out"), checkpoint=args.checkpoint, video=False, plots=False)
    c0 = time.process_time()
    print(f"{load_line()}; {len(list(clips.iterdir()))} clips in this process, --no-video --no-plots", flush=True)
    res = run_batch([clips], opts, workers=1, on_outcome=mark, progress_bar=False)
    q = max(1, len(marks) // 4)
    prev = marks[0][0]  # the first clip pays the model load: left out
    for k in range(0, len(marks) - 1, q):
        part = marks[k + 1 : k + 1 + q]
        if not part:
            break
        cpu = part[-1][0] - prev
        prev = part[-1][0]
        media = sum(m[1] for m in part)
        print(
            f"clips {k + 2}-{k + 1 + len(part)}: {cpu / len(part):.3f} CPU-s per clip "
            f"({media / cpu:.1f}x real time per core); RSS {part[-1][2] / 2**20:.0f} MB",
            flush=True,
        )
    print(f"total {time.process_time() - c0:.0f} CPU-s, {res.failures} failed; {load_line()}")
    return 0


def bench(args, tmp: Path) -> int:
    ck = ["--checkpoint", args.checkpoint] if args.checkpoint else []
    clips = clip_folder(args, tmp)
    old = None if args.skip_old else extract(args.old_rev, tmp / "old")
    import soundfile as sf

    lengths = [sf.info(str(p)).duration for p in sorted(clips.iterdir())]
    print(
        f"{os.cpu_count()} CPUs; {load_line()}; {len(lengths)} clips of {sum(lengths) / max(len(lengths), 1):.2f} s "
        f"on average ({clips}); old path: {args.old_rev}",
        flush=True,
    )

    clip_runs = {
        "new2": ("new, 2 workers, --no-plots", REPO, ["--no-video", "--no-plots", "--workers", "2"]),
        "old": ("old path (1 process, timeline PNG per clip)", old, ["--no-video"]),
        "new1": ("new, 1 worker, --no-plots", REPO, ["--no-video", "--no-plots", "--workers", "1"]),
        "new2p": ("new, 2 workers, with timeline PNGs", REPO, ["--no-video", "--workers", "2"]),
    }
    # the goal figures first: on a shared machine a long run may be cut short
    order = ["new2", "old", "video-new", "video-old", "new1", "new2p"]
    if args.only:
        wanted = [j.strip() for j in args.only.split(",") if j.strip()]
        unknown = sorted(set(wanted) - set(order))
        if unknown:
            raise SystemExit(f"--only: unknown run(s) {', '.join(unknown)}; choose from {', '.join(order)}")
        order = [j for j in order if j in wanted]
    clip = None
    for k, job in enumerate(order):  # noqa: B007
        if job.startswith("video"):
            code = REPO if job == "video-new" else old
            if args.skip_video or code is None:
                continue
            if clip is None:
                from livemer.demo_media import demo_clip

                clip = demo_clip(duration=args.video_seconds)
            out = tmp / f"out-{job}"
            r = run_cli(code, [str(clip), *ck], out)
            doc = json.loads((out / f"{clip.stem}.json").read_text())
            dur, inner = float(doc["duration"]), float(doc["timings_s"]["wall"])
            print(
                f"{dur:.0f} s talking video, all outputs (CSV, JSON, PNG, annotated MP4), {job[6:]} path: "
                f"{dur / r['wall']:.2f}x real time process start to exit ({r['wall']:.1f} s), "
                f"{dur / inner:.2f}x with the models loaded ({inner:.1f} s); {r['cpu']:.0f} CPU-s; "
                f"peak RSS {r['peak_mb']:.0f} MB; "
                f"{r['load']}",
                flush=True,
            )
            continue
        name, code, extra = clip_runs[job]
        if code is None:
            continue
        out = tmp / f"out-{job}"
        r = run_cli(code, [str(clips), *extra, *ck], out)
        print(f"short clips, {name}: {batch_figures(out, r)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
