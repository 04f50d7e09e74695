"""How separable are the 7 emotions from the live visual features? A quick, honest linear probe.

``python -m recipes.visual_study [--shared ../shared] [--seeds 0,1,2]``

Every face photo goes through the live face path (:mod:`recipes.faces`, from the
feature cache). Three visual spaces are compared: (a) Facet-35 as the live
adapter outputs it, (b) the 52 raw MediaPipe blendshapes, (c) both side by side.
For each, a multinomial logistic regression (scikit-learn, standardised
inputs, balanced class weights) is fitted and scored by one-vs-rest AUC per
emotion:

* **held-out photos**: 20 % of the photos of every (source, emotion), seeded,
  never seen in training (train and test on both sources); the mean and spread
  over the seeds;
* **leave-one-source-out**: train on one photo source, test on the other
  (an emotion the training source lacks, emilmrk's disgust, is not scored).

It also lists the columns that never vary over all photos (dead columns), and, as a
diagnostic, probes the 23 raw AUs before the Facet calibration (what the calibration loses).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FACET_SLICE, BLEND_SLICE = slice(0, 35), slice(35, 87)
SPACES = {"facet-35": FACET_SLICE, "blendshapes-52": BLEND_SLICE, "both-87": slice(0, 87)}
#: Diagnostic: the 23 AUs the backend derives (``blendshapes_to_aus``) before the Facet calibration and clipping.
AUS = "aus-23 (before Facet)"


def au_columns(blendshape_rows: np.ndarray) -> np.ndarray:
    """(N, 23) raw AU intensities of (N, 52) blendshape rows, as the face backend derives them."""
    from feature_adapters.blendshapes import BLENDSHAPE_NAMES
    from feature_adapters.face_mediapipe import BLENDSHAPE_TO_AU, blendshapes_to_aus

    return np.array(
        [
            [a[k] for k in BLENDSHAPE_TO_AU]
            for a in (blendshapes_to_aus(dict(zip(BLENDSHAPE_NAMES, r))) for r in blendshape_rows.tolist())
        ]
    )


def fit_predict(
    x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, seed: int = 0, model: str = "logreg"
) -> tuple[np.ndarray, np.ndarray]:
    """(classes, (n_test, n_classes) probabilities) of a standardised classifier: ``logreg`` (class-balanced
    logistic regression) or ``mlp`` (one hidden layer of 128, early stopping; a nonlinear reference)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "mlp":
        est = MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-3, early_stopping=True, max_iter=300, random_state=seed)
    elif model == "logreg":
        est = LogisticRegression(max_iter=3000, class_weight="balanced", C=1.0, random_state=seed)
    else:
        raise ValueError(f"unknown probe model '{model}' (logreg or mlp)")
    clf = make_pipeline(StandardScaler(), est)
    clf.fit(x_tr, y_tr)
    return clf.classes_, clf.predict_proba(x_te)


def ovr_auc(classes: np.ndarray, proba: np.ndarray, y_te: np.ndarray, emotions: Sequence[str]) -> dict[str, float]:
    """emotion -> one-vs-rest AUC on the test set (NaN when it was not trained or has no positive/negative)."""
    from sklearn.metrics import roc_auc_score

    out = {}
    for e in emotions:
        pos = y_te == e
        if e not in classes or pos.all() or not pos.any():
            out[e] = float("nan")
            continue
        out[e] = float(roc_auc_score(pos, proba[:, list(classes).index(e)]))
    return out


def dead_columns(x: np.ndarray, names: Sequence[str], tol: float = 1e-6) -> list[str]:
    return [n for n, s in zip(names, x.std(axis=0)) if s <= tol]


def _row(label: str, aucs: dict[str, float], emotions: Sequence[str], spread: float | None = None) -> str:
    vals = [aucs[e] for e in emotions]
    mean = np.nanmean(vals)
    low = min((v, e) for v, e in zip(vals, emotions) if np.isfinite(v))
    cells = " | ".join("  n/a" if not np.isfinite(v) else f"{v:.3f}" for v in vals)
    sp = f" ± {spread:.3f}" if spread is not None else ""
    return f"| {label} | {cells} | **{mean:.3f}**{sp} | {low[1]} {low[0]:.2f} |"


def main(argv: Sequence[str] | None = None) -> int:
    from recipes import faces
    from recipes.splits import holdout, sample_labels

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument(
        "--border",
        type=float,
        default=0.0,
        help="photos analysed inside a grey border of this fraction of their size (recipes.faces)",
    )
    ap.add_argument(
        "--model",
        choices=("logreg", "mlp"),
        default="logreg",
        help="the probe: logistic regression (default) or a one-hidden-layer MLP as a nonlinear reference",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    t0 = time.perf_counter()
    ds = faces.load_faces(args.shared, space=faces.BOTH, border=args.border)
    x = ds.visual[:, -1, :].astype(np.float64)  # a photo's row fills its window: the last step is the row
    x = np.concatenate([x, au_columns(x[:, BLEND_SLICE])], axis=1)
    spaces = {**SPACES, AUS: slice(87, 87 + 23)}
    y = sample_labels(ds)
    src = ds.group("source")
    emotions = list(faces.EMOTIONS)
    cols = faces.visual_space(faces.BOTH).columns
    print(
        f"{len(ds)} photos with a face ({', '.join(f'{s} {int((src == s).sum())}' for s in faces.SOURCES)}); "
        f"loaded in {time.perf_counter() - t0:.1f} s"
    )
    print("photos per emotion:", ", ".join(f"{e} {int((y == e).sum())}" for e in emotions))
    print("dead columns (no variance over all photos):", ", ".join(dead_columns(x[:, :87], cols)) or "none")
    head = "| space | " + " | ".join(emotions) + " | mean | lowest |"
    sep = "|---" * (len(emotions) + 3) + "|"
    print(f"\nprobe: {args.model}; photo border: {args.border:g}")
    print(
        f"\n### Held-out photos ({int(args.fraction * 100)} % of each source x emotion; mean over seeds "
        f"{','.join(map(str, seeds))}; ± = sd of the mean AUC over seeds)\n"
    )
    print(head)
    print(sep)
    for name, sl in spaces.items():
        per_seed = []
        for seed in seeds:
            tr, te = holdout(ds, "photo", args.fraction, seed=seed, within="source", by_label=True)
            classes, proba = fit_predict(x[tr][:, sl], y[tr], x[te][:, sl], seed, args.model)
            per_seed.append(ovr_auc(classes, proba, y[te], emotions))
        mean = {e: float(np.nanmean([a[e] for a in per_seed])) for e in emotions}
        spread = float(np.std([np.nanmean(list(a.values())) for a in per_seed]))
        print(_row(name, mean, emotions, spread))
    print("\n### Leave-one-source-out (train on one source, test on the other; n/a = not in the training source)\n")
    print(head)
    print(sep)
    for train_src, test_src in (("muxspace", "emilmrk"), ("emilmrk", "muxspace")):
        tr, te = np.flatnonzero(src == train_src), np.flatnonzero(src == test_src)
        for name, sl in spaces.items():
            classes, proba = fit_predict(x[tr][:, sl], y[tr], x[te][:, sl], 0, args.model)
            print(_row(f"{train_src} → {test_src}, {name}", ovr_auc(classes, proba, y[te], emotions), emotions))
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
