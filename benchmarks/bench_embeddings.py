"""GloVe 6B 50-d load times: cold (first build from the wheel into an empty cache dir) and warm (from cache).

Usage: python benchmarks/bench_embeddings.py [--repeats 3] [--no-alternatives]

Each measurement runs in a fresh Python process, so it includes what a CLI start pays
(importing the runtime module, reading the wheel or opening the cache) up to the first
vector lookup. The in-process split (import / load / first lookup / first spelling
suggestion / first nearest words) is printed too, with whether gensim or scipy got
imported (they must not be at runtime) and, for comparison, what ``import gensim.models``
alone costs in a fresh process (the old cache format needed it). Wall-clock and process
CPU time are both shown: on a shared, loaded machine the CPU figure is the steadier one.

Then, on one warm cache, the format alternatives the cache was chosen from (memory-mapped
vs fully read vectors, a words text file vs an .npy of strings, a word->row dict vs
bisection of the sorted word list).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs in the child process; prints one JSON line of timings.
CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
w0, c0 = time.perf_counter(), time.process_time()
def lap():
    return time.perf_counter() - w0, time.process_time() - c0
from feature_adapters.embeddings import get_provider  # the runtime module path (numpy included)
t_imp = lap()
prov = get_provider()
existed = prov.cache_path.exists()
prov.keyed_vectors
t_load = lap()
v = prov.vector("happy")
t_vec = lap()
prov.suggest("hapyness")
t_sug = lap()
prov.nearest("happy", 5)
t_near = lap()
mods = sorted({m.split(".")[0] for m in sys.modules} & {"gensim", "scipy", "pyarrow", "pandas"})
print(json.dumps({"cache_existed": existed, "imports": t_imp, "loaded": t_load, "first_vector": t_vec,
                  "first_suggest": t_sug, "first_nearest": t_near, "words": len(prov.keyed_vectors),
                  "heavy_modules": mods}))
"""

IMPORT_ONLY = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import numpy
t0 = time.perf_counter()
__import__(sys.argv[2])
print(time.perf_counter() - t0)
"""


def _env(cache: Path | None = None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if cache is not None:
        env["LIVEMER_CACHE_DIR"] = str(cache)
    return env


def _child(cache: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(REPO)], env=_env(cache), capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _import_time(module: str) -> float:
    """Seconds to import ``module`` in a fresh process after numpy (which every variant needs)."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_ONLY, str(REPO), module], env=_env(), capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def _fmt(xs: list[float]) -> str:
    return f"median {statistics.median(xs):6.3f} s  (min {min(xs):6.3f}, max {max(xs):6.3f})"


def _best(fn, n: int = 3) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def alternatives(cache: Path) -> None:
    """Time the format choices on one warm cache directory (in this process, best of 3)."""
    import bisect

    import numpy as np

    d = cache / "glove" / "glove-6B-50d.v2"
    words = (d / "words.txt").read_text(encoding="utf-8").split("\n")
    rows = np.load(d / "rows.npy")
    np.save(cache / "words-as-npy.npy", np.array(words))
    probe = ["happy", "sad", "angry", "the", "qzxqzxq"] * 20

    def first_lookups(mmap):
        vecs = np.load(d / "vectors.npy", mmap_mode="r" if mmap else None)
        return [np.array(vecs[int(rows[bisect.bisect_left(words, w)])]) for w in probe[:4]]

    def with_dict():
        index = dict(zip(words, rows.tolist()))
        return [w in index for w in probe]

    def with_bisect():
        return [(i := bisect.bisect_left(words, w)) < len(words) and words[i] == w for w in probe]

    print(f"\nformat alternatives (one warm cache, in-process, best of 3; {len(words):,} words):")
    print(
        f"  vectors: np.load(mmap_mode='r') + 4 lookups {_best(lambda: first_lookups(True)) * 1e3:7.1f} ms   "
        f"full np.load + 4 lookups {_best(lambda: first_lookups(False)) * 1e3:7.1f} ms"
    )
    print(
        f"  words:   words.txt read+split {_best(lambda: (d / 'words.txt').read_bytes().decode('utf-8').split(chr(10))) * 1e3:7.1f} ms "
        f"({(d / 'words.txt').stat().st_size / 1e6:.1f} MB)   .npy of str load+tolist "
        f"{_best(lambda: np.load(cache / 'words-as-npy.npy').tolist()) * 1e3:7.1f} ms "
        f"({(cache / 'words-as-npy.npy').stat().st_size / 1e6:.1f} MB)"
    )
    print(
        f"  index:   build word->row dict + {len(probe)} lookups {_best(with_dict) * 1e3:7.1f} ms   "
        f"bisect sorted list, {len(probe)} lookups {_best(with_bisect) * 1e3:7.3f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-alternatives", action="store_true", help="skip the format-alternatives timings")
    args = ap.parse_args()

    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="livemer-bench-glove-") as keep:
        for r in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="livemer-bench-glove-") as d:
                cold = _child(Path(d))
                assert not cold["cache_existed"]
                runs["cold"].append(cold)
                warm = _child(Path(d))
                assert warm["cache_existed"]
                runs["warm"].append(warm)
                size = sum(p.stat().st_size for p in Path(d).rglob("*") if p.is_file())
                if r == 0:
                    import shutil

                    shutil.copytree(d, keep, dirs_exist_ok=True)
        imp_ours = [_import_time("feature_adapters.embeddings") for _ in range(args.repeats)]
        imp_gensim = [_import_time("gensim.models") for _ in range(args.repeats)]

        print(
            f"GloVe 6B 50-d ({runs['cold'][0]['words']:,} words); cache size {size / 1e6:.1f} MB; "
            f"{args.repeats} repeats, fresh process each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        print(f"\nimport after numpy, fresh process (wall): feature_adapters.embeddings {_fmt(imp_ours)}")
        print(f"                                          gensim.models (old runtime)  {_fmt(imp_gensim)}")
        for kind in ("cold", "warm"):
            r = runs[kind]
            what = "build from wheel + write cache" if kind == "cold" else "open cache"
            print(
                f"\n{kind}: process start -> first vector (imports incl. numpy + {what}); "
                f"gensim/scipy/pyarrow/pandas imported: {sorted({m for x in r for m in x['heavy_modules']}) or 'none'}"
            )
            print(f"  wall {_fmt([x['first_vector'][0] for x in r])}")
            print(f"  cpu  {_fmt([x['first_vector'][1] for x in r])}")
            for i, clock in enumerate(("wall", "cpu")):
                imp = statistics.median(x["imports"][i] for x in r)
                load = statistics.median(x["loaded"][i] - x["imports"][i] for x in r)
                vec = statistics.median(x["first_vector"][i] - x["loaded"][i] for x in r)
                sug = statistics.median(x["first_suggest"][i] - x["first_vector"][i] for x in r)
                near = statistics.median(x["first_nearest"][i] - x["first_suggest"][i] for x in r)
                print(
                    f"  split ({clock}, median): imports {imp:.3f} s, load {load:.3f} s, first vector {vec * 1e3:.2f} ms, "
                    f"first spelling suggestion {sug:.3f} s, first nearest words {near:.3f} s"
                )
        if not args.no_alternatives:
            alternatives(Path(keep))


if __name__ == "__main__":
    main()
