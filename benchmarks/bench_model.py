"""Checkpoint load time and single-window inference latency (T=20 steps, 6 emotions) on this CPU.

Usage: python benchmarks/bench_model.py [--steps 20] [--iters 200] [--threads 1 2] [--checkpoint PATH]

Checkpoint load: Checkpoint.load of the safetensors file and of the same
checkpoint in the old torch-zip format, in this process (warm) and in a fresh
interpreter (cold: imports included, i.e. what `livemer run` pays), plus a
cold "load + Predictor + one window" on the numpy backend.

Two model sizes, random weights (latency does not depend on the values):
  paper    Table 3: GloVe 840B 300-d text, hidden 300/200/100, 2 layers
  default  GloVe 6B 50-d text, hidden 50/200/100, 2 layers (ModelConfig())
For each and for both backends (numpy: model/runtime.py, the default; torch:
EmotionEmbeddingNet): the bare network forward and the full
Predictor.predict(window) path (normalisation, masks, typed result).
Wall-clock and process CPU time per call are both shown; on a shared, loaded
machine the CPU figure is the steadier one.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from feature_adapters.spaces import FeatureSpace  # noqa: E402
from feature_adapters.windows import Window  # noqa: E402
from model.checkpoint import Checkpoint  # noqa: E402
from model.config import ModelConfig  # noqa: E402
from model.inference import Predictor  # noqa: E402
from model.network import EmotionEmbeddingNet  # noqa: E402
from model.normalize import NormStats  # noqa: E402

EMOTIONS = ["anger", "disgust", "fear", "happy", "sad", "surprise"]


def _checkpoint(cfg: ModelConfig) -> Checkpoint:
    torch.manual_seed(0)
    net = EmotionEmbeddingNet(cfg).eval()
    d = cfg.input_dims
    spaces = {
        "text": FeatureSpace(f"glove-{d['text']}d", d["text"]),
        "acoustic": FeatureSpace("covarep-74", d["acoustic"]),
        "visual": FeatureSpace("facet-35", d["visual"]),
    }
    norm = {m: NormStats.identity(d[m]) for m in d}
    vecs = np.random.default_rng(0).normal(size=(len(EMOTIONS), cfg.emb_dim)).astype(np.float32)
    ck = Checkpoint.from_model(net, spaces, norm, EMOTIONS, vecs, spaces["text"].name)
    # a save/load round trip, so the weights are the fp16-stored ones a user runs
    data = ck.to_bytes()
    ck = Checkpoint.from_bytes(data)
    ck.provenance["bytes"] = len(data)
    return ck


def _legacy_bytes(ck: Checkpoint) -> bytes:
    """The same checkpoint as version 1 wrote it (torch.save zip)."""
    payload = ck.to_payload()
    payload["version"] = 1
    payload["state_dict"] = {k: torch.from_numpy(v) for k, v in payload["state_dict"].items()}
    payload["emotion_vectors"] = torch.from_numpy(payload["emotion_vectors"])
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


_COLD = """
import sys, time
t0 = time.perf_counter()
from model.checkpoint import Checkpoint
t1 = time.perf_counter()
ck = Checkpoint.load(sys.argv[1])
t2 = time.perf_counter()
if sys.argv[2] == "predict":
    import numpy as np
    from feature_adapters.windows import Window
    from model.inference import Predictor
    T = 20
    on = np.ones(T, bool)
    d = ck.config.input_dims
    w = Window(*(np.zeros((T, d[m]), np.float32) for m in ("text", "acoustic", "visual")), np.arange(T) * 0.3,
               np.arange(T) * 0.3 + 0.3, on, on, on, on)
    Predictor(ck).predict(w)
t3 = time.perf_counter()
print(f"{t1 - t0:.4f} {t2 - t1:.4f} {t3 - t2:.4f} {'torch' in sys.modules}")
"""


def _cold(path: Path, what: str, repeats: int = 3) -> tuple[float, float, float, bool]:
    """Best of ``repeats`` fresh interpreters: (import s, load s, predictor + first window s, torch imported)."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", _COLD, str(path), what],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            check=True,
        )
        a, b, c, t = out.stdout.split()
        runs.append((float(a), float(b), float(c), t == "True"))
    return min(runs, key=lambda r: r[0] + r[1] + r[2])


def _load_times(ck: Checkpoint, iters: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        new, old = Path(tmp) / "new.ckpt", Path(tmp) / "old.ckpt"
        ck.save(new)
        old.write_bytes(_legacy_bytes(ck))
        for label, p in (("safetensors (v2)", new), ("torch zip (v1)", old)):
            w, c = _time(lambda: Checkpoint.load(p), max(10, iters // 10), warmup=2)
            imp, load, _, used = _cold(p, "load")
            print(
                f"  {label:17s} {p.stat().st_size / 1e6:5.2f} MB  warm load {_stats(w)} | "
                f"cold: import {imp * 1e3:6.1f} ms + load {load * 1e3:7.1f} ms (torch imported: {used})"
            )
        imp, load, first, used = _cold(new, "predict")
        print(
            f"  cold safetensors load + Predictor + first window (numpy): {(imp + load + first) * 1e3:.1f} ms "
            f"(torch imported: {used})"
        )


def _window(cfg: ModelConfig, T: int) -> Window:
    rng = np.random.default_rng(1)
    d = cfg.input_dims
    on = np.ones(T, bool)
    starts = np.arange(T) * 0.3
    return Window(
        rng.normal(size=(T, d["text"])).astype(np.float32),
        rng.normal(size=(T, d["acoustic"])).astype(np.float32),
        rng.normal(size=(T, d["visual"])).astype(np.float32),
        starts,
        starts + 0.3,
        on,
        on,
        on,
        on,
    )


def _time(fn, iters: int, warmup: int = 10) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(iters):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    return wall, cpu


def _stats(xs: list[float]) -> str:
    q = np.percentile(xs, [50, 90])
    return f"median {q[0]:6.2f} ms  p90 {q[1]:6.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts (torch backend)")
    ap.add_argument("--checkpoint", type=Path, help="also time loading this checkpoint file (e.g. assets/default.ckpt)")
    args = ap.parse_args()

    sizes = {
        "paper (300/200/100, 300-d text)": ModelConfig.paper(emb_dim=300),
        "default (50/200/100, 50-d text)": ModelConfig(),
    }
    print(
        f"T={args.steps}, K={len(EMOTIONS)} emotions, batch 1, {args.iters} calls after 10 warm-up; torch {torch.__version__}, "
        f"numpy {np.__version__}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    if args.checkpoint:
        t = time.perf_counter()
        Checkpoint.load(args.checkpoint)
        print(
            f"\n{args.checkpoint}: Checkpoint.load {(time.perf_counter() - t) * 1e3:.1f} ms in this process; "
            f"cold: import + load {sum(_cold(args.checkpoint, 'load')[:2]) * 1e3:.1f} ms"
        )
    for label, cfg in sizes.items():
        ck = _checkpoint(cfg)
        n = sum(v.size for v in ck.state_dict.values())
        print(f"\n{label}: {n:,} parameters, checkpoint {ck.provenance['bytes'] / 1e6:.2f} MB (fp16)")
        _load_times(ck, args.iters)
        win = _window(cfg, args.steps)
        fast, ref = Predictor(ck), Predictor(ck, backend="torch")
        arrays = [a[None] for a in (win.text, win.acoustic, win.visual)]
        xs = [torch.from_numpy(a) for a in arrays]
        E = torch.from_numpy(ck.emotion_vectors)

        def bare_torch():
            with torch.inference_mode():
                ref.net(*xs, E)

        def bare_numpy():
            with fast._blas_limit():  # as Predictor runs it: 1 BLAS thread
                fast.runtime.forward(*arrays, ck.emotion_vectors)

        w, c = _time(bare_numpy, args.iters)
        print(f"  numpy             network forward  wall {_stats(w)} | cpu {_stats(c)}")
        w, c = _time(lambda: fast.predict(win), args.iters)
        print(f"  numpy             Predictor.predict wall {_stats(w)} | cpu {_stats(c)}")
        for th in args.threads:
            torch.set_num_threads(th)
            w, c = _time(bare_torch, args.iters)
            print(f"  torch {th} thread{'s' if th > 1 else ' '}   network forward  wall {_stats(w)} | cpu {_stats(c)}")
            w, c = _time(lambda: ref.predict(win), args.iters)
            print(f"  torch {th} thread{'s' if th > 1 else ' '}   Predictor.predict wall {_stats(w)} | cpu {_stats(c)}")


if __name__ == "__main__":
    main()
