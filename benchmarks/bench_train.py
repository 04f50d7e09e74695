"""Training throughput of the paper-size model on this CPU.

Paper size (Table 3, CMU-MOSEI): text 300-d GloVe input with a 300-unit text
LSTM, COVAREP 74 -> 200, Facet 35 -> 100, two bi-LSTM layers, dropout 0.15,
T = 20 steps, six emotions, batch 512, Adam, clipping 10. Each timed step is the
trainer's real step (forward, masked BCE, backward, clipping, Adam update).

    .venv/bin/python benchmarks/bench_train.py [--steps 5] [--batch-size 512] [--threads N] [--gem]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5, help="timed training steps (after one warm-up step)")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--seq-len", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--gem", action="store_true", help="also time a GEM step (memory of 512 samples)")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from model.presets import get_preset
    from model.synthetic import planted_dataset
    from model.training import Trainer, build_config, to_tensors

    if args.threads:
        torch.set_num_threads(args.threads)
    hp = get_preset("mosei").with_overrides(batch_size=args.batch_size)
    rng = np.random.default_rng(0)
    E = rng.normal(size=(6, 300)).astype(np.float32)
    n = args.batch_size * 2
    ds = planted_dataset(n, E, seq_len=args.seq_len, seed=1)
    cfg = build_config(ds.dims, 300, hp)
    torch.manual_seed(0)
    from model.network import EmotionEmbeddingNet

    net = EmotionEmbeddingNet(cfg)
    n_params = sum(p.numel() for p in net.parameters())
    trainer = Trainer(net, E, hp, progress=False, log=lambda s: None, device=args.device)
    data = to_tensors(ds)
    batches = [data.batch(torch.arange(i * args.batch_size, (i + 1) * args.batch_size)) for i in range(2)]
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    print(
        f"device {trainer.device}; model: text {cfg.input_dims['text']}->{cfg.hidden['text']}, acoustic {cfg.input_dims['acoustic']}->"
        f"{cfg.hidden['acoustic']}, visual {cfg.input_dims['visual']}->{cfg.hidden['visual']}, {cfg.num_layers} bi-LSTM "
        f"layers, {n_params:,} parameters; batch {args.batch_size}, T={args.seq_len}, torch threads {torch.get_num_threads()}, "
        f"{os.cpu_count()} CPUs"
    )
    net.train()
    trainer.step(batches[0])  # warm-up
    times = []
    for s in range(args.steps):
        sync()
        t0 = time.perf_counter()
        trainer.step(batches[s % 2])
        sync()
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    print(
        f"train step: median {med:.3f} s over {args.steps} steps -> {args.batch_size / med:,.0f} samples/s "
        f"(best {args.batch_size / min(times):,.0f})"
    )
    epoch = 16326 / (args.batch_size / med)
    print(f"one CMU-MOSEI training epoch (16,326 samples) would take ~{epoch / 60:.1f} min at this rate")
    t0 = time.perf_counter()
    trainer.predict(data)
    dt = time.perf_counter() - t0
    print(f"evaluation: {len(data) / dt:,.0f} samples/s")
    if args.gem:
        mem = data.batch(torch.arange(0, 512))
        trainer.gem_step(batches[0], mem)
        t0 = time.perf_counter()
        for s in range(max(1, args.steps // 2)):
            trainer.gem_step(batches[s % 2], mem)
        dt = (time.perf_counter() - t0) / max(1, args.steps // 2)
        print(f"GEM step (memory 512): {dt:.3f} s -> {args.batch_size / dt:,.0f} samples/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
