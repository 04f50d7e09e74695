"""How much emotion do the cached acoustic frames carry beyond the step means? (a ceiling check, no bi-LSTM)

Usage:
    python benchmarks/acoustic_functionals.py [--shared ../shared] [--trees]

For every clip of the four speech corpora (``shared/data/speech``; native frames from the feature cache, extracted
on a miss), three per-clip summaries of the voiced frames, each scored by a one-vs-rest logistic regression per
emotion (trained on the recipe's training speakers, scored on its held-out speakers, each corpus on its own
emotions; mean AUC):

* ``stepmeans``: the 0.5 s pseudo-steps' means (what covarep-74 gives the model), then their mean and std over the clip;
* ``stepdynamics``: the same with each step's std and mean |change| (covarep-74+dynamics-*'s idea);
* ``functionals``: whole-clip mean, std, 10th / 90th percentiles and mean |change| of every native feature, plus
  the voicing rate, the share of loud frames and the duration.

``--trees`` also scores the functionals with gradient-boosted trees (scikit-learn), a nonlinear ceiling. Figures
of 2026-12-03 (issue 10, docs/live_training_data.md): 68.4, 73.5, 76.8; trees 81.1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STEP = 50  # frames per 0.5 s pseudo-step (100 frames/s)
SKIP = ("vuv", "periodicity", "rms", "energy_db")  # not averaged per step (VUV is 1 on voiced frames)


def _live(names) -> list[int]:
    return [i for i, n in enumerate(names) if n not in SKIP]


def stepmeans(fr: np.ndarray, names, dynamics: bool = False) -> np.ndarray:
    idx = {n: i for i, n in enumerate(names)}
    voiced = fr[:, idx["vuv"]] > 0.5
    cols = _live(names)
    rows = []
    for s in range(0, len(fr), STEP):
        m = voiced[s : s + STEP]
        if m.sum() < (2 if dynamics else 1):
            continue
        seg = fr[s : s + STEP][m][:, cols]
        parts = [seg.mean(0)]
        if dynamics:
            parts += [seg.std(0), np.abs(np.diff(seg, axis=0)).mean(0), [m.mean()]]
        rows.append(np.concatenate([np.ravel(p) for p in parts]))
    width = len(cols) * (3 if dynamics else 1) + (1 if dynamics else 0)
    x = np.array(rows) if rows else np.zeros((1, width))
    return np.concatenate([x.mean(0), x.std(0)])


def functionals(fr: np.ndarray, names) -> np.ndarray:
    idx = {n: i for i, n in enumerate(names)}
    voiced = fr[:, idx["vuv"]] > 0.5
    cols = [i for n, i in idx.items() if n != "vuv"]
    x = fr[voiced][:, cols] if voiced.sum() > 2 else fr[:, cols]
    d = np.abs(np.diff(x, axis=0)).mean(0) if len(x) > 2 else np.zeros(len(cols))
    e = fr[:, idx["energy_db"]]
    extra = [voiced.mean(), (e > e.max() - 30).mean(), len(fr) / 100.0]
    return np.concatenate([x.mean(0), x.std(0), np.percentile(x, 10, 0), np.percentile(x, 90, 0), d, extra])


KINDS = {
    "stepmeans": stepmeans,
    "stepdynamics": lambda fr, names: stepmeans(fr, names, dynamics=True),
    "functionals": functionals,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--trees", action="store_true", help="also gradient-boosted trees on the functionals")
    args = ap.parse_args(argv)
    shared = Path(args.shared)
    if not (shared / "data" / "speech").is_dir():
        print(f"error: no speech corpora under {shared / 'data' / 'speech'}", file=sys.stderr)
        return 2
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    from recipes.feature_cache import FeatureCache
    from recipes.recipe_default import RecipeSettings, heldout_speakers
    from recipes.recipe_extract import extract_clip
    from recipes.speech import EMOTIONS, _acoustic_x, corpus_emotions, read_clips

    t0 = time.perf_counter()
    clips = read_clips(shared / "data" / "speech")
    labels = corpus_emotions(clips)
    held = heldout_speakers(shared, RecipeSettings())
    cache, aco = FeatureCache(), _acoustic_x()
    feats: dict[str, list] = {k: [] for k in KINDS}
    keep = []
    for i, c in enumerate(clips):
        a = extract_clip(c.path, cache, aco)
        if len(a.acoustic_native) < 5:
            continue
        keep.append(i)
        for k, f in KINDS.items():
            feats[k].append(f(a.acoustic_native, a.acoustic_names))
    sel = [clips[i] for i in keep]
    corpus = np.array([c.corpus for c in sel])
    emotion = np.array([c.emotion for c in sel])
    test = np.isin([c.speaker_id for c in sel], sorted(held))
    print(f"{len(sel)} clips ({int(test.sum())} of held-out speakers) in {time.perf_counter() - t0:.0f} s")

    def score(x, make) -> dict[str, float]:
        out = {}
        for e in EMOTIONS:
            ann = np.array([e in labels[c] for c in corpus])
            y = (emotion == e).astype(int)
            m = make().fit(x[~test & ann], y[~test & ann])
            p = m.predict_proba(x[test & ann])[:, 1]
            out[e] = roc_auc_score(y[test & ann], p)
        return out

    runs = [(k, "logistic", lambda: LogisticRegression(C=0.1, max_iter=2000)) for k in KINDS]
    if args.trees:
        runs.append(("functionals", "trees", lambda: HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05)))
    for kind, how, make in runs:
        x = np.nan_to_num(np.array(feats[kind], np.float64))
        x = StandardScaler().fit(x[~test]).transform(x)
        r = score(x, make)
        table = " ".join(f"{e} {100 * a:.1f}" for e, a in r.items())
        print(f"{kind:13s} {how:8s} {x.shape[1]:4d} columns: {table}; mean {100 * np.mean(list(r.values())):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
