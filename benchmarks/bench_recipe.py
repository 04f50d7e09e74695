"""Cost of the default-checkpoint recipe: feature extraction per clip (cold cache) and training per epoch.

Run: .venv/bin/python benchmarks/bench_recipe.py [--shared ../shared] [--clips 8] [--epochs 1]

1. Extraction: ``--clips`` RAVDESS clips through the live acoustic extractor and
   the bundled recogniser, into an empty temporary cache (what the first run of
   the recipe pays per clip; later runs read the cache).
2. Training: ``--epochs`` epochs of the default settings on the full mixture,
   from the user's feature cache (run the recipe once first to fill it).

Prints wall-clock and CPU seconds and the load average (the box is shared,
so timings move with other work).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def bench_extraction(shared: Path, n: int) -> None:
    from recipes import corpora
    from recipes.feature_cache import FeatureCache
    from recipes.recipe_extract import extract_clips

    every = corpora.ravdess_clips(shared / "data" / "ravdess" / "audio16k")
    clips = every[1 : n + 1]
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(Path(tmp) / "cold")
        extract_clips([every[0].path], cache=FeatureCache(Path(tmp) / "warm"))  # load the models, compile numba
        t0, c0 = time.perf_counter(), time.process_time()
        extract_clips([c.path for c in clips], cache=cache, text=False)
        t1, c1 = time.perf_counter(), time.process_time()
        extract_clips([c.path for c in clips], cache=cache, text=True)  # acoustic now cached: ASR only
        t2, c2 = time.perf_counter(), time.process_time()
    print(f"extraction, {n} clips, load {_load()}:")
    print(f"  acoustic  {1000 * (t1 - t0) / n:7.0f} ms/clip wall, {1000 * (c1 - c0) / n:7.0f} ms/clip CPU")
    print(f"  ASR       {1000 * (t2 - t1) / n:7.0f} ms/clip wall, {1000 * (c2 - c1) / n:7.0f} ms/clip CPU")
    per = (t2 - t0) / n
    print(f"  -> 1200 RAVDESS clips: ~{1200 * per / 60:.0f} min wall at this load")


def bench_training(shared: Path, epochs: int) -> None:
    from recipes.recipe_default import Recipe, RecipeSettings, default_work_dir, forms_set, train_embedding_model

    s = replace(RecipeSettings(), epochs=epochs)
    rec = Recipe(shared, s, default_work_dir(), log_fn=lambda m: None)
    t0 = time.perf_counter()
    data = rec.load()
    t1 = time.perf_counter()
    run = train_embedding_model(data, forms_set(0), rec.provider, s, seed=0, epochs=epochs, monitor=False)
    print(f"training, load {_load()}:")
    print(f"  datasets from the cache  {t1 - t0:6.1f} s")
    print(
        f"  {epochs} epoch(s)              {run.seconds:6.1f} s  (-> {s.epochs} epochs ~{run.seconds / epochs * s.epochs / 60:.1f} min)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--skip-extraction", action="store_true")
    ap.add_argument("--skip-training", action="store_true")
    args = ap.parse_args()
    shared = Path(args.shared)
    if not (shared / "data").is_dir():
        print(f"{shared}: no shared data; nothing to measure")
        return 0
    if not args.skip_extraction:
        bench_extraction(shared, args.clips)
    if not args.skip_training:
        bench_training(shared, args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
