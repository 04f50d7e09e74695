"""Zero-shot rules, re-scored on the kept leave-one-emotion-out sub-models (no retraining).

Usage: nice python benchmarks/zeroshot_probe.py [--work DIR] [--shared ../shared] [--split dev|test|both]
       [--rules all|NAME,...] [--text-limit 10000] [--json OUT]

The ``loo`` stage of ``recipes.recipe_default`` keeps its seven sub-models (one per left-out emotion) in
its work folder. A new emotion's score in a mapped modality is a weighted mix of the anchors' scores
(f_t->m is affine and the weights sum to 1), so every rule here is scored from each sub-model's anchor
scores, computed once per data set. Calm is scored on the main checkpoint (trained on all seven; calm never).

Data (the recipe's own splits):
* dev (selection only): training-split voices (``speech_train``, A), training photos (``faces_train``, V),
  RAVDESS actors 1-16 (training windows; calm: their calm clips, clip end), GoEmotions train (the first
  ``--text-limit``), MELD train. The left-out emotion never trained, so this is still zero-shot;
* test (report only): held-out speakers, held-out photos, RAVDESS 17-20, GoEmotions dev, MELD dev.

Prints, per rule, the per-modality means over the seven emotions and calm; the rule with the best dev mean
(voices, faces, GoEmotions, MELD, RAVDESS T+A+V, calm T+A+V) is named, overall and among the affect rules
(the default's family; "glove-ls" is least squares on the raw word vector, a comparison); then the held-out
tables of those, of the paper's plain maps and of rule v1 (compose b=5). ``--oracle`` adds an upper bound
for any rule (fitted with the left-out emotion's labels: not zero-shot).
Deterministic: no seed.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.runtime import effective_weights
from model.zeroshot import affect_axes, rule_weights

MODS = ("text", "acoustic", "visual")
SUBSETS = {"a": ("acoustic",), "v": ("visual",), "t": ("text",), "av": ("acoustic", "visual"), "tav": MODS}
HEADLINE = ("voices_a", "faces_v", "goemotions_t", "meld_t", "ravdess_tav", "calm_tav")


def rules(dim_metric: bool = True) -> dict[str, dict]:
    """The grid: every rule is a config.zero_shot dict (without anchors)."""
    out = {}
    for b in (0.0, 2.0, 5.0, 10.0, 20.0):
        out[f"compose b={b:g}"] = {"method": "compose", "beta": b if b else 1e-9}
    for ba in (3.0, 10.0, 30.0, 100.0):
        out[f"affect ba={ba:g}"] = {"method": "affect", "beta_affect": ba, "beta": 0.0}
        for bt in (2.0, 5.0):
            out[f"affect ba={ba:g} bt={bt:g}"] = {"method": "affect", "beta_affect": ba, "beta": bt}
    for ridge in (0.003, 0.03, 0.3):
        for ba in (0.0, 10.0, 30.0):
            out[f"interp ridge={ridge:g} prior ba={ba:g}"] = {
                "method": "affect",
                "beta_affect": ba,
                "beta": 0.0,
                "ridge": ridge,
            }
    for wts in ((1.0, 1.0, 0.0), (1.0, 2.0, 1.0), (2.0, 1.0, 1.0), (1.0, 2.0, 0.0)):
        tag = "w=" + "/".join(f"{w:g}" for w in wts)
        for ba in (10.0, 30.0, 100.0):
            out[f"affect ba={ba:g} {tag}"] = {"method": "affect", "beta_affect": ba, "beta": 0.0, "_weights": wts}
        out[f"interp ridge=0.03 prior ba=10 {tag}"] = {
            "method": "affect",
            "beta_affect": 10.0,
            "beta": 0.0,
            "ridge": 0.03,
            "_weights": wts,
        }
    # the word's own vector kept beside the composition (share ``keep``; probe only: not chosen, not in the library)
    for keep in (0.25, 0.5):
        out[f"interp ridge=0.03 prior ba=30 keep={keep:g}"] = {
            "method": "affect",
            "beta_affect": 30.0,
            "beta": 0.0,
            "ridge": 0.03,
            "keep": keep,
        }
        out[f"affect ba=10 keep={keep:g}"] = {"method": "affect", "beta_affect": 10.0, "beta": 0.0, "keep": keep}
        out[f"compose b=5 keep={keep:g}"] = {"method": "compose", "beta": 5.0, "keep": keep}
    # least squares in the whole word space (axes = the identity): the affine mix of anchors nearest the word
    for ridge in (0.01, 0.1, 1.0):
        out[f"glove-ls ridge={ridge:g}"] = {
            "method": "affect",
            "beta_affect": 0.0,
            "beta": 0.0,
            "ridge": ridge,
            "_axes": "identity",
        }
    return out


def rule_axes_for(rule: dict, axes: np.ndarray) -> np.ndarray:
    """The axes a probe rule uses: the affect axes, weighted (``_weights``), or the identity (``_axes``)."""
    if rule.get("_axes") == "identity":
        return np.eye(axes.shape[1], dtype=np.float32)
    if "_weights" in rule:
        return (axes * np.asarray(rule["_weights"], np.float32)[:, None]).astype(np.float32)
    return axes


def auc(y: np.ndarray, s: np.ndarray) -> float:
    from scipy.stats import rankdata

    y = np.asarray(y, bool)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


class Scored:
    """One (checkpoint, data set, emotion): per-modality representations' scores against the anchors."""

    def __init__(self, ck, ds, emotion: str, word_vec: np.ndarray, text_anchor_names, limit: int | None = None):
        import torch

        from model.inference import Predictor, dataset_batch

        if limit and len(ds) > limit:
            ds = ds.subset(np.arange(limit))
        j = ds.emotions.index(emotion)
        self.y = ds.labels[:, j] > 0.5
        self.lm = ds.label_mask[:, j].copy()
        pred = Predictor(ck)
        net = ck.build_model()
        names = ck.provenance.get("zero_shot_anchors", {})
        self.anchor_vecs = {m: np.stack([ck.vector_of(n) for n in names[m]]) for m in ("acoustic", "visual")}
        self.anchor_vecs["text"] = np.stack([ck.vector_of(n) for n in text_anchor_names])
        self.word = np.asarray(word_vec, np.float32)[None]
        reps = {m: [] for m in MODS}
        masks = []
        with torch.inference_mode():
            for i in range(0, len(ds), 1024):
                sl = slice(i, i + 1024)
                b = dataset_batch(ds, sl)
                xs, mask = pred.prepare(b, MODS)
                r = net.encode(*(torch.from_numpy(xs[m]) for m in MODS))
                for m in MODS:
                    reps[m].append(r[m].numpy())
                masks.append(mask)
            self.mask = np.concatenate(masks)
            self.S, self.plain, self.R = {}, {}, {}
            for m in MODS:
                R = np.concatenate(reps[m]).astype(np.float64)
                if m != "text":
                    self.R[m] = R.astype(np.float32)  # for the representation bound (--oracle)
                if m == "text":
                    EA, EW = self.anchor_vecs[m], self.word
                else:
                    lin = net.map_t2a if m == "acoustic" else net.map_t2v
                    EA = lin(torch.from_numpy(self.anchor_vecs[m])).numpy()
                    EW = lin(torch.from_numpy(self.word)).numpy()
                self.S[m] = R @ EA.T.astype(np.float64)  # (N, J_m)
                self.plain[m] = (R @ EW.T.astype(np.float64))[:, 0]
        self.w = np.asarray(net.fusion_weights.detach().numpy(), np.float64)
        self.metric = ck.state_dict.get("zsl_metric")
        self.metric = None if self.metric is None else np.asarray(self.metric, np.float64)

    def modality_scores(self, rule: dict | None, axes, compose_text: bool) -> dict[str, np.ndarray]:
        out = {}
        for m in MODS:
            if rule is None or (m == "text" and not compose_text):
                out[m] = self.plain[m]
            else:
                alpha = rule_weights(self.word, self.anchor_vecs[m], rule, self.metric, rule_axes_for(rule, axes))[0]
                keep = float(rule.get("keep", 0.0))
                out[m] = keep * self.plain[m] + (1.0 - keep) * (self.S[m] @ alpha)
        return out

    def aucs(self, rule: dict | None, axes, compose_text: bool, subsets) -> dict[str, float]:
        s = self.modality_scores(rule, axes, compose_text)
        out = {}
        for code in subsets:
            want = np.array([m in SUBSETS[code] for m in MODS])
            mask = self.mask & want[None, :]
            weff = effective_weights(self.w.astype(np.float32), mask).astype(np.float64)
            fused = sum(weff[:, i] * s[m] for i, m in enumerate(MODS))
            keep = self.lm & mask.any(axis=1)
            out[code] = auc(self.y[keep], fused[keep])
        return out


def oracle_bound(scored: dict, features: str = "anchors") -> dict[str, dict[str, float]]:
    """Upper bound of ANY rule that scores a new emotion from the anchors' scores (``features`` "anchors"), or
    of ANY emotion embedding in the modality's space (``features`` "representation": a new word's score is
    r_m . f(e), linear in r_m, so no word vector and no map does better than the best linear reading of r_m):
    per left-out emotion, a logistic regression fitted WITH that emotion's dev labels (not zero-shot), then
    its held-out AUC. Voices (A) and faces (V)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    dev = {(k, e): sc for k, _, e, sc in scored["dev"]}
    out: dict[str, dict[str, float]] = {}
    for key, m in (("voices_a", "acoustic"), ("faces_v", "visual")):
        j = MODS.index(m)
        for k, _, e, sc in scored["test"]:
            if k != key or (k, e) not in dev:
                continue
            d = dev[(k, e)]
            X, Xt = (d.S[m], sc.S[m]) if features == "anchors" else (d.R[m], sc.R[m])
            keep = d.lm & d.mask[:, j]
            lr = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(X[keep], d.y[keep])
            kt = sc.lm & sc.mask[:, j]
            out.setdefault(key, {})[e] = auc(sc.y[kt], lr.decision_function(Xt[kt]))
    return out


def _score_all(run, settings, paths, main_path, text_limit):
    """Every (split, data set, emotion): its Scored (anchor scores of the sub-model that left it out)."""
    from model.checkpoint import Checkpoint
    from recipes import recipe_default as rd
    from recipes.recipe_data import load_ravdess

    data = run.load()
    prov = run.provider
    while not all(p.exists() for p in paths.values()):  # --wait: the loo stage is still training them
        time.sleep(20)
    axes = affect_axes(lambda w: prov.vector(w) if w in prov else None)
    calm_dev = load_ravdess(
        run.shared,
        prov,
        [a for a in range(1, 25) if a not in settings.valid_actors],
        (1.0,),
        include_calm=True,
        settings=settings.window,  # the recipe's acoustic step space
        name="ravdess-dev-calm",
        visual_space=settings.visual_space,
    )
    splits = {
        "dev": {
            "voices_a": (data.speech_train, ("a",), None),
            "faces_v": (data.faces_train, ("v",), None),
            "goemotions_t": (data.goemotions_train, ("t",), text_limit),
            "meld_t": (data.meld_train, ("t",), text_limit),
            "ravdess": (data.ravdess_train, ("a", "v", "av", "tav"), None),
            "calm": (calm_dev, ("a", "v", "av", "tav"), None),
        },
        "test": {
            "voices_a": (data.speech_valid, ("a",), None),
            "faces_v": (data.faces_valid, ("v",), None),
            "goemotions_t": (data.goemotions_dev, ("t",), None),
            "meld_t": (data.meld_dev, ("t",), None),
            "ravdess": (data.ravdess_valid, ("a", "v", "av", "tav"), None),
            "calm": (data.ravdess_valid, ("a", "v", "av", "tav"), None),
        },
    }
    main_ck = Checkpoint.load(main_path)
    cks = {e: Checkpoint.load(paths[e]) for e in rd.SEEN}
    out: dict = {}
    for split, sets in splits.items():
        out[split] = []
        for key, (ds, codes, limit) in sets.items():
            targets = [("calm", main_ck)] if key == "calm" else list(cks.items())
            for e, ck in targets:
                if not rd.annotates(ds, e):
                    continue
                sc = Scored(ck, ds, e, prov.vector(rd.word_of(e)), list(ck.emotion_words), limit)
                out[split].append((key, codes, e, sc))
                print(f"[{split}] {key} {e} scored", file=sys.stderr, flush=True)
    return out, axes


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default=None, help="the recipe's work folder (default: the recipe's)")
    ap.add_argument("--shared", default=None)
    ap.add_argument("--split", choices=("dev", "test", "both"), default="both")
    ap.add_argument("--rules", default="all", help="comma-separated rule names of the grid, or 'all'")
    ap.add_argument("--text-limit", type=int, default=10000, help="GoEmotions/MELD train sentences scored (dev)")
    ap.add_argument("--main", default=None, help="the main checkpoint (calm); default: the work folder's main")
    ap.add_argument("--json", default=None, help="write every figure here")
    ap.add_argument("--wait", action="store_true", help="load the data, then wait for the loo stage's sub-models")
    ap.add_argument(
        "--oracle", action="store_true", help="also print the oracle bound (labels of the left-out emotion)"
    )
    ap.add_argument("--quick", action="store_true", help="the recipe's quick settings (tests of this script)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from recipes import recipe_default as rd

    settings = rd.RecipeSettings.quick() if args.quick else rd.RecipeSettings()
    work = Path(args.work) if args.work else rd.default_work_dir()
    run = rd.Recipe(Path(args.shared or rd.DEFAULT_SHARED), settings, work, log_fn=lambda m: print(m, file=sys.stderr))
    paths = {e: run.loo_model_path(e) for e in rd.SEEN}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing and not args.wait:
        print(
            f"error: no kept sub-model {missing[0]} (run: python -m recipes.recipe_default --only loo)", file=sys.stderr
        )
        return 2
    main_path = (
        Path(args.main)
        if args.main
        else work / f"main-seed{settings.seed}-{settings.digest('main', settings.seed)}.ckpt"
    )
    if not main_path.exists():
        print(f"error: no main checkpoint {main_path} (give --main)", file=sys.stderr)
        return 2
    cache = work / f"probe-scores-{settings.training_digest('probe', args.text_limit, str(main_path))}.pkl"
    scored, axes = pickle.loads(cache.read_bytes()) if cache.exists() else (None, None)
    if scored is None:
        scored, axes = _score_all(run, settings, paths, main_path, args.text_limit)
        cache.write_bytes(pickle.dumps((scored, axes)))
    else:
        print(f"reusing {cache}", file=sys.stderr)

    grid = rules()
    chosen = list(grid) if args.rules == "all" else [r.strip() for r in args.rules.split(",")]
    variants = [("plain", None, False)] + [(n, grid[n], ct) for n in chosen for ct in (False, True)]
    results: dict = {}
    for split in ("dev", "test") if args.split == "both" else (args.split,):
        table: dict = {}  # variant -> key -> emotion -> auc
        for key, codes, e, sc in scored[split]:
            for vname, rule, ct in variants:
                name = vname + (" +text" if ct else "")
                for code, a in sc.aucs(rule, axes, ct, codes).items():
                    k = f"{key}_{code}" if key in ("ravdess", "calm") else key
                    table.setdefault(name, {}).setdefault(k, {})[e] = a
        results[split] = table
    summary = {}
    for split, table in results.items():
        print(f"\n== {split}: mean AUC over the seven left-out emotions (calm: the main checkpoint)")
        cols = sorted({k for t in table.values() for k in t})
        print(f"{'rule':<42}" + "".join(f"{c[:13]:>14}" for c in cols) + f"{'headline':>10}")
        for name, t in table.items():
            means = {c: float(np.nanmean(list(t[c].values()))) if c in t else float("nan") for c in cols}
            head = float(np.nanmean([means.get(c, np.nan) for c in HEADLINE]))
            summary.setdefault(split, {})[name] = {**means, "headline": head}
            print(f"{name:<42}" + "".join(f"{100 * means[c]:>14.1f}" for c in cols) + f"{100 * head:>10.1f}")
    if "dev" in summary:
        best = max(summary["dev"], key=lambda n: summary["dev"][n]["headline"])
        family = [n for n in summary["dev"] if n.startswith(("affect", "interp"))]
        best_affect = max(family, key=lambda n: summary["dev"][n]["headline"]) if family else best
        print(f"\nbest on dev (headline mean of {', '.join(HEADLINE)}): {best}")
        print(f"best on dev among the affect rules (affect / interp): {best_affect}")
        if "test" in results:
            for name in dict.fromkeys((best, best_affect, "plain", "compose b=5")):
                if name not in results["test"]:
                    continue
                print(f"held-out table of '{name}':")
                for k, row in sorted(results["test"][name].items()):
                    mean = 100 * float(np.nanmean(list(row.values())))
                    print(f"  {k:<14} mean {mean:5.1f}: " + " ".join(f"{e} {100 * v:.1f}" for e, v in row.items()))
    if args.oracle and "test" in scored:
        bounds = {"anchors": "a logistic regression on the anchors' scores: any composition rule"}
        if all(hasattr(sc, "R") for split in scored.values() for *_, sc in split):  # older score caches lack r_m
            bounds["representation"] = "a logistic regression on r_m: any word vector, any map f_t->m"
        for features, what in bounds.items():
            print(
                f"\noracle bound ({what}; fitted with the left-out emotion's dev labels, not zero-shot), held-out AUC:"
            )
            for k, row in oracle_bound(scored, features).items():
                print(
                    f"  {k:<14} mean {100 * np.mean(list(row.values())):.1f}: "
                    + " ".join(f"{e} {100 * v:.1f}" for e, v in row.items())
                )
    if args.json:
        Path(args.json).write_text(json.dumps({"per_emotion": results, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
