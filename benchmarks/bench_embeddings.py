"""GloVe 6B 50-d load times: cold (first build from the wheel into an empty cache dir) and warm (from cache).

Usage: python benchmarks/bench_embeddings.py [--repeats 3]

Each measurement runs in a fresh Python process, so it includes what a CLI start pays
(imports of gensim/pyarrow, reading the wheel or memory-mapping the cache) up to the
first vector lookup. The in-process split (imports / load / first lookup / first
spelling suggestion) is printed too. Wall-clock and process CPU time are both shown:
on a shared, loaded machine the CPU figure is the steadier one.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs in the child process; prints one JSON line of timings.
CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
w0, c0 = time.perf_counter(), time.process_time()
def lap():
    return time.perf_counter() - w0, time.process_time() - c0
import gensim.models, pyarrow.parquet, numpy  # what the provider imports
from feature_adapters.embeddings import KumoGloveProvider
t_imp = lap()
prov = KumoGloveProvider()
existed = prov.cache_path.exists()
prov.keyed_vectors
t_load = lap()
v = prov.vector("happy")
t_vec = lap()
prov.suggest("hapyness")
t_sug = lap()
print(json.dumps({"cache_existed": existed, "imports": t_imp, "loaded": t_load, "first_vector": t_vec,
                  "first_suggest": t_sug, "words": len(prov.keyed_vectors.index_to_key)}))
"""


def _child(cache: Path) -> dict:
    env = {**os.environ, "LIVEMER_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(REPO)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(xs: list[float]) -> str:
    return f"median {statistics.median(xs):6.2f} s  (min {min(xs):5.2f}, max {max(xs):5.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="livemer-bench-glove-") as d:
            cold = _child(Path(d))
            assert not cold["cache_existed"]
            runs["cold"].append(cold)
            warm = _child(Path(d))
            assert warm["cache_existed"]
            runs["warm"].append(warm)
            size = sum(p.stat().st_size for p in Path(d).rglob("*") if p.is_file())

    print(f"GloVe 6B 50-d ({runs['cold'][0]['words']:,} words); cache size {size / 1e6:.1f} MB; "
          f"{args.repeats} repeats, fresh process each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for kind in ("cold", "warm"):
        r = runs[kind]
        print(f"\n{kind}: process start -> first vector (imports + {'build from wheel + write cache' if kind == 'cold' else 'mmap cache'})")
        print(f"  wall {_fmt([x['first_vector'][0] for x in r])}")
        print(f"  cpu  {_fmt([x['first_vector'][1] for x in r])}")
        for i, clock in enumerate(("wall", "cpu")):
            imp = statistics.median(x["imports"][i] for x in r)
            load = statistics.median(x["loaded"][i] - x["imports"][i] for x in r)
            sug = statistics.median(x["first_suggest"][i] - x["first_vector"][i] for x in r)
            print(f"  split ({clock}, median): imports {imp:.2f} s, load {load:.2f} s, "
                  f"first spelling suggestion {sug:.2f} s")


if __name__ == "__main__":
    main()
