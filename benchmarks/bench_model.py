"""Single-window inference latency (T=20 steps, 6 emotions) on this CPU.

Usage: python benchmarks/bench_model.py [--steps 20] [--iters 200] [--threads 1 2]

Two model sizes, random weights (latency does not depend on the values):
  paper    Table 3: GloVe 840B 300-d text, hidden 300/200/100, 2 layers
  default  GloVe 6B 50-d text, hidden 50/200/100, 2 layers (ModelConfig())
For each: the bare network forward (torch.inference_mode) and the full
Predictor.predict(window) path (normalisation, masks, typed result).
Wall-clock and process CPU time per call are both shown; on a shared, loaded
machine the CPU figure is the steadier one.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
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
    spaces = {"text": FeatureSpace(f"glove-{d['text']}d", d["text"]), "acoustic": FeatureSpace("covarep-74", d["acoustic"]),
              "visual": FeatureSpace("facet-35", d["visual"])}
    norm = {m: NormStats.identity(d[m]) for m in d}
    vecs = np.random.default_rng(0).normal(size=(len(EMOTIONS), cfg.emb_dim)).astype(np.float32)
    ck = Checkpoint.from_model(net, spaces, norm, EMOTIONS, vecs, spaces["text"].name)
    # a save/load round trip, so the weights are the fp16-stored ones a user runs
    buf = io.BytesIO()
    torch.save(ck.to_payload(), buf)
    size = buf.tell()
    buf.seek(0)
    ck = Checkpoint.from_payload(torch.load(buf, weights_only=True))
    ck.provenance["bytes"] = size
    return ck


def _window(cfg: ModelConfig, T: int) -> Window:
    rng = np.random.default_rng(1)
    d = cfg.input_dims
    on = np.ones(T, bool)
    starts = np.arange(T) * 0.3
    return Window(rng.normal(size=(T, d["text"])).astype(np.float32), rng.normal(size=(T, d["acoustic"])).astype(np.float32),
                  rng.normal(size=(T, d["visual"])).astype(np.float32), starts, starts + 0.3, on, on, on, on)


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
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    sizes = {"paper (300/200/100, 300-d text)": ModelConfig.paper(emb_dim=300),
             "default (50/200/100, 50-d text)": ModelConfig()}
    print(f"T={args.steps}, K={len(EMOTIONS)} emotions, batch 1, {args.iters} calls after 10 warm-up; torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for label, cfg in sizes.items():
        ck = _checkpoint(cfg)
        n = sum(v.numel() for v in ck.state_dict.values())
        print(f"\n{label}: {n:,} parameters, checkpoint {ck.provenance['bytes'] / 1e6:.2f} MB (fp16)")
        pred = Predictor(ck)
        win = _window(cfg, args.steps)
        xs = [torch.from_numpy(a[None]) for a in (win.text, win.acoustic, win.visual)]
        E = torch.from_numpy(ck.emotion_vectors)

        def bare():
            with torch.inference_mode():
                pred.net(*xs, E)

        for th in args.threads:
            torch.set_num_threads(th)
            w, c = _time(bare, args.iters)
            print(f"  {th} thread{'s' if th > 1 else ' '} network forward  wall {_stats(w)} | cpu {_stats(c)}")
            w, c = _time(lambda: pred.predict(win), args.iters)
            print(f"  {th} thread{'s' if th > 1 else ' '} Predictor.predict wall {_stats(w)} | cpu {_stats(c)}")


if __name__ == "__main__":
    main()
