"""Few-shot adapters: a new emotion learned from a handful of examples, the trained network untouched.

The paper's few-shot protocols (§4.2: FT, JT, GEM) update the shared weights
with the source data at hand. An installed livemer has no source corpus, and any
change to the shared weights moves the scores of every trained emotion. The
adapter here keeps the whole network frozen and learns only the new emotion's
own embedding in the acoustic and visual spaces (the rows that ``f_t->a`` and
``f_t->v`` give its word vector zero-shot), jointly on

* the user's examples (positives), and
* a replay of stored windows of the seen emotions (negatives): the replay set a
  checkpoint carries (:func:`replay_of`), plus whatever other windows of the
  user are at hand (earlier taught emotions, the neutral calibration).

Because only the new emotion's rows change, the seen emotions keep their scores
exactly (the JT goal, here by construction), and removing the adapter restores
the zero-shot emotion. The text embedding stays the word vector itself: what a
handful of clips *say* is not what the word means.

With the encoders frozen the fused logit of a window is linear in the adapted
rows, ``sum_m w_eff,m r_m . e_m``, so fitting is an L2-regularised logistic
regression (pulled toward the zero-shot rows) on the windows' representations:
milliseconds, numpy and scipy, no torch. The regression has an intercept, which
the trained emotions do not need but a row fitted from a handful of clips does:
it is stored as a score offset ``o`` (:data:`OFFSET_KEY`) that the Predictor adds
to the emotion's score in every present modality, so the fused logit gains
``o * sum_m w_eff,m = o * sum(w)``, the same constant whatever modalities are
present, and the per-modality contributions still sum to the logit.

One speaker's clips teach their voice as much as the emotion: the default l2 is
one per modality, strong on the acoustic row (it stays near the zero-shot row)
and weak on the visual one, as chosen on development actors
(``benchmarks/fewshot_eval.py``). :func:`recentre` (the positives moved by the
population's minus the teacher's neutral representation) is one of the methods
that benchmark measures; on the v2 checkpoint it did not help over calibration,
on v2.1 development actors pick it (README, few-shot section), but teaching does
not use it yet: it needs the teacher's neutral windows, not only calibration means.

Everything here is pure: arrays in, arrays out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from feature_adapters.errors import LivemerError

from .config import MODALITIES
from .metrics import roc_auc
from .runtime import effective_weights

METHOD = "frozen-net embedding adapter (acoustic, visual), logistic with offset, L2 to zero-shot"
ADAPTED_MODALITIES = ("acoustic", "visual")
# Chosen on development actors (training actors other than the teacher), never on the reported
# held-out actors: benchmarks/fewshot_eval.py --calibrate (README, few-shot section).
DEFAULT_L2 = {"acoustic": 0.1, "visual": 0.003}
#: A checkpoint's provenance may carry the l2 its own development actors chose (``few_shot: {"l2": {...}}``):
#: the right pull toward the zero-shot rows depends on the encoders (v2.3's richer acoustic steps want a
#: weaker acoustic and a stronger visual one). :func:`checkpoint_l2` reads it; others get DEFAULT_L2.
FEW_SHOT_KEY = "few_shot"


def checkpoint_l2(checkpoint) -> dict[str, float]:
    """The per-modality l2 to fit an adapter of ``checkpoint`` with: its provenance's ``few_shot.l2`` when it
    names one for every adapted modality, else :data:`DEFAULT_L2`."""
    fs = (getattr(checkpoint, "provenance", None) or {}).get(FEW_SHOT_KEY) or {}
    l2 = fs.get("l2") if isinstance(fs, Mapping) else None
    if isinstance(l2, Mapping) and all(m in l2 for m in ADAPTED_MODALITIES):
        out = {m: float(l2[m]) for m in ADAPTED_MODALITIES}
        if all(np.isfinite(v) and v >= 0 for v in out.values()):
            return out
    return dict(DEFAULT_L2)


def checkpoint_recentres(checkpoint) -> bool:
    """Whether ``checkpoint``'s development actors chose re-centring the examples of a calibrated user on
    their own neutral representation (provenance ``few_shot.recentre``; :func:`recentre`)."""
    fs = (getattr(checkpoint, "provenance", None) or {}).get(FEW_SHOT_KEY) or {}
    return bool(fs.get("recentre")) if isinstance(fs, Mapping) else False


OFFSET_KEY = "offset"  # the adapter's score offset: the regression's intercept / the sum of the fusion weights
MIN_POSITIVE_WINDOWS = 3
REPLAY_KEYS = ("text", "acoustic", "visual", "text_mask", "acoustic_mask", "visual_mask", "modality_mask", "labels")


class AdaptError(LivemerError, ValueError):
    """An adapter cannot be fitted from what was given (too few examples, no negatives...)."""


# ----------------------------------------------------------------------------- identity


def checkpoint_fingerprint(checkpoint) -> str:
    """A short digest of a checkpoint's config and weights (as stored, fp16): adapters fit only it."""
    h = hashlib.sha256(json.dumps(checkpoint.config.to_dict(), sort_keys=True).encode())
    for k in sorted(checkpoint.state_dict):
        v = checkpoint.state_dict[k]
        a = v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
        h.update(k.encode())
        h.update(np.ascontiguousarray(a.astype(np.float16) if a.dtype.kind == "f" else a).tobytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- the fit


@dataclass
class Examples:
    """Encoder outputs of some windows: ``reps`` modality -> (N, d_m), ``mask`` (N, 3), ``weights`` (N,)."""

    reps: dict[str, np.ndarray]
    mask: np.ndarray
    weights: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.mask.shape[0])

    @staticmethod
    def concat(parts: Sequence[Examples]) -> Examples:
        parts = [p for p in parts if len(p)]
        if not parts:
            raise AdaptError("no windows to fit on")
        return Examples(
            reps={m: np.concatenate([p.reps[m] for p in parts]) for m in MODALITIES},
            mask=np.concatenate([p.mask for p in parts]),
            weights=np.concatenate([p.sample_weights() for p in parts]),
        )

    def sample_weights(self) -> np.ndarray:
        return np.ones(len(self), np.float64) if self.weights is None else np.asarray(self.weights, np.float64)


@dataclass
class AdapterFit:
    embeddings: dict[str, np.ndarray]  # adapted modality -> learned row (d_m,)
    init: dict[str, np.ndarray]  # the zero-shot rows it started from
    loss: float
    train_auc: float  # on the fitting windows (optimistic; a sanity check only)
    positives: int
    negatives: int
    l2: dict[str, float]  # per adapted modality
    offset: float = 0.0  # added to the emotion's score in every present modality (intercept / sum of fusion weights)

    def rows(self) -> dict[str, np.ndarray]:
        """What :meth:`model.inference.Predictor.set_adaptation` takes: the rows and, when fitted, the offset."""
        out = dict(self.embeddings)
        if self.offset:
            out[OFFSET_KEY] = np.asarray([self.offset], np.float32)
        return out

    def shift(self) -> dict[str, float]:
        """Cosine similarity of each learned row to its zero-shot row."""
        out = {}
        for m, v in self.embeddings.items():
            z = self.init[m]
            n = float(np.linalg.norm(v) * np.linalg.norm(z))
            out[m] = float(v @ z / n) if n > 0 else float("nan")
        return out


def design(
    ex: Examples, init: Mapping[str, np.ndarray], fusion_weights: np.ndarray, modalities: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(X, c): the fused logit of each window is ``X @ theta + c``, theta the adapted rows concatenated.

    ``X`` holds ``w_eff,m * r_m`` for the adapted modalities; ``c`` the fixed
    contribution of the others (their zero-shot rows).
    """
    weff = effective_weights(fusion_weights, ex.mask).astype(np.float64)  # (N, 3)
    cols, c = [], np.zeros(len(ex), np.float64)
    for j, m in enumerate(MODALITIES):
        r = np.asarray(ex.reps[m], np.float64)
        if m in modalities:
            cols.append(weff[:, j : j + 1] * r)
        else:
            c += weff[:, j] * (r @ np.asarray(init[m], np.float64))
    return np.concatenate(cols, axis=1), c


def adapted_logits(
    ex: Examples, rows: Mapping[str, np.ndarray], init: Mapping[str, np.ndarray], fusion_weights: np.ndarray
) -> np.ndarray:
    """(N,) fused logits of one emotion scored with ``rows`` (adapted rows, maybe an offset) on ``ex``;
    modalities ``rows`` lacks use ``init`` (the zero-shot rows). As the Predictor scores it."""
    mods = [m for m in MODALITIES if m in rows]
    full = {**{m: np.asarray(v) for m, v in init.items()}, **{m: np.asarray(rows[m]) for m in mods}}
    X, c = design(ex, full, fusion_weights, mods)
    theta = np.concatenate([np.asarray(rows[m], np.float64).reshape(-1) for m in mods])
    offset = float(np.asarray(rows.get(OFFSET_KEY, 0.0)).reshape(-1)[0]) if OFFSET_KEY in rows else 0.0
    present = np.asarray(ex.mask, bool).any(axis=1)
    return X @ theta + c + offset * float(np.sum(fusion_weights)) * present


def fit_adapter(
    positives: Examples,
    negatives: Examples,
    init: Mapping[str, np.ndarray],
    fusion_weights: np.ndarray,
    *,
    modalities: Sequence[str] = ADAPTED_MODALITIES,
    l2: float | Mapping[str, float] = DEFAULT_L2,
    intercept: bool = True,
    max_iter: int = 2000,
) -> AdapterFit:
    """Learn the new emotion's rows for ``modalities`` from positive and negative windows.

    Loss: BCE with the positives and the negatives each weighing one half (their
    sample weights normalised within each side), plus ``l2_m/2 * ||theta_m - theta_0,m||^2``
    per adapted modality ``m`` with ``theta_0`` the zero-shot rows (``l2`` one number for
    all, or one per modality); with ``intercept`` a free bias ``b``
    (unpenalised), returned as the score offset ``b / sum(fusion_weights)``.
    Raises :class:`AdaptError` when a side is empty or no positive window has an
    adapted modality.
    """
    from scipy.optimize import minimize

    mods = [m for m in MODALITIES if m in modalities]
    if len(positives) < 1 or len(negatives) < 1:
        raise AdaptError(f"need positive and negative windows (got {len(positives)} and {len(negatives)})")
    j = [MODALITIES.index(m) for m in mods]
    if not np.asarray(positives.mask)[:, j].any():
        raise AdaptError(f"no example window has {' or '.join(mods)} features (no face and no voice found)")
    Xp, cp = design(positives, init, fusion_weights, mods)
    Xn, cn = design(negatives, init, fusion_weights, mods)
    X = np.concatenate([Xp, Xn])
    c = np.concatenate([cp, cn])
    y = np.concatenate([np.ones(len(Xp)), np.zeros(len(Xn))])
    wp, wn = positives.sample_weights(), negatives.sample_weights()
    w = np.concatenate([0.5 * wp / wp.sum(), 0.5 * wn / wn.sum()])
    theta0 = np.concatenate([np.asarray(init[m], np.float64).reshape(-1) for m in mods])
    k_theta = theta0.size
    l2s = l2_per_modality(l2, mods)
    lam = np.concatenate([np.full(np.asarray(init[m]).size, l2s[m], np.float64) for m in mods])

    def objective(t: np.ndarray) -> tuple[float, np.ndarray]:
        theta, b = t[:k_theta], (t[k_theta] if intercept else 0.0)
        z = X @ theta + c + b
        # BCE with logits, stable: log(1 + e^z) - y z
        loss = np.logaddexp(0.0, z) - y * z
        p = 0.5 * np.tanh(0.5 * z) + 0.5
        d = theta - theta0
        f = float(w @ loss) + 0.5 * float(d @ (lam * d))
        r = w * (p - y)
        g = X.T @ r + lam * d
        return f, (np.append(g, r.sum()) if intercept else g)

    start = np.append(theta0, 0.0) if intercept else theta0.copy()
    res = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": int(max_iter)})
    theta, bias = res.x[:k_theta], (float(res.x[k_theta]) if intercept else 0.0)
    out, k = {}, 0
    for m in mods:
        n = int(np.asarray(init[m]).size)
        out[m] = theta[k : k + n].astype(np.float32)
        k += n
    z = X @ theta + c + bias
    return AdapterFit(
        embeddings=out,
        init={m: np.asarray(init[m], np.float32) for m in mods},
        loss=float(res.fun),
        train_auc=roc_auc(y, z),
        positives=len(Xp),
        negatives=len(Xn),
        l2=l2s,
        offset=bias / float(np.sum(fusion_weights)),
    )


def l2_per_modality(l2: float | Mapping[str, float], modalities: Sequence[str]) -> dict[str, float]:
    """``l2`` (one number, or modality -> number) as one non-negative number per modality."""
    if isinstance(l2, Mapping):
        missing = [m for m in modalities if m not in l2]
        if missing:
            raise AdaptError(f"no l2 for {', '.join(missing)}")
        out = {m: float(l2[m]) for m in modalities}
    else:
        out = {m: float(l2) for m in modalities}
    if not all(np.isfinite(v) and v >= 0 for v in out.values()):
        raise AdaptError(f"l2 must be finite and >= 0, got {out}")
    return out


def recentre(
    positives: Examples,
    own_neutral: Examples,
    population_neutral: Examples,
    modalities: Sequence[str] = ADAPTED_MODALITIES,
) -> Examples:
    """The positives moved by (population neutral - teacher's neutral) mean representation, per modality.

    Means are over the windows where the modality is present (weighted by the
    sample weights); a modality either side lacks is left as it is. Only present
    steps move: an absent modality's representation is never scored.
    """
    reps = {m: np.asarray(v, np.float32).copy() for m, v in positives.reps.items()}
    for m in modalities:
        j = MODALITIES.index(m)
        means = []
        for ex in (population_neutral, own_neutral):
            sel = np.asarray(ex.mask, bool)[:, j]
            wts = ex.sample_weights()[sel]
            means.append(None if not sel.any() or wts.sum() <= 0 else (wts @ np.asarray(ex.reps[m])[sel]) / wts.sum())
        if means[0] is None or means[1] is None:
            continue
        here = np.asarray(positives.mask, bool)[:, j]
        reps[m][here] += (means[0] - means[1]).astype(np.float32)
    return Examples(reps, positives.mask, positives.weights)


def labelled(ex: Examples, labels: np.ndarray, words: Sequence[str], word: str) -> Examples | None:
    """The windows of ``ex`` labelled ``word`` (``labels`` (N, K) over ``words``), or None when there are none."""
    if word not in words:
        return None
    sel = np.asarray(labels)[:, list(words).index(word)] > 0.5
    if not sel.any():
        return None
    return Examples({m: np.asarray(v)[sel] for m, v in ex.reps.items()}, np.asarray(ex.mask)[sel])


def clip_weights(groups: Sequence[str]) -> np.ndarray:
    """Per-window weights so that every clip (group id) weighs the same, however many windows it gave."""
    groups = list(groups)
    counts: dict[str, int] = {}
    for g in groups:
        counts[g] = counts.get(g, 0) + 1
    return np.asarray([1.0 / counts[g] for g in groups], np.float64)


# ----------------------------------------------------------------------------- the replay set


def replay_indices(
    labels: np.ndarray, label_mask: np.ndarray | None, modality_mask: np.ndarray, per_emotion: int, seed: int = 0
) -> np.ndarray:
    """Up to ``per_emotion`` windows positive for each emotion column, with acoustic or visual features.

    Sorted unique indices, drawn with a fixed seed.
    """
    y = np.asarray(labels) > 0.5
    if label_mask is not None:
        y &= np.asarray(label_mask, bool)
    av = np.asarray(modality_mask, bool)[:, 1:].any(axis=1)
    rng = np.random.default_rng([seed, 2029])
    pick: set[int] = set()
    for k in range(y.shape[1]):
        idx = np.flatnonzero(y[:, k] & av)
        if len(idx):
            pick.update(rng.choice(idx, size=min(per_emotion, len(idx)), replace=False).tolist())
    return np.asarray(sorted(pick), np.int64)


def replay_arrays(ds, per_emotion: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    """The replay set of an :class:`~model.datasets.EmotionDataset` as checkpoint extras (features fp16)."""
    idx = replay_indices(ds.labels, ds.label_mask, ds.modality_mask, per_emotion, seed)
    if not len(idx):
        raise AdaptError(f"{ds.name or 'the data'} has no acoustic or visual windows for a replay set")
    out = {m: np.asarray(getattr(ds, m)[idx], np.float16) for m in MODALITIES}
    out.update({f"{m}_mask": np.asarray(ds.step_masks[m][idx], bool) for m in MODALITIES})
    out["modality_mask"] = np.asarray(ds.modality_mask[idx], bool)
    out["labels"] = np.asarray(ds.labels[idx], np.float16)
    return {f"replay/{k}": v for k, v in out.items()}


def attach_replay(checkpoint, ds, per_emotion: int = 16, seed: int = 0) -> int:
    """Store a replay set of ``ds`` in ``checkpoint.extras`` (in place); returns its size."""
    arrays = replay_arrays(ds, per_emotion, seed)
    checkpoint.extras = {k: v for k, v in checkpoint.extras.items() if not k.startswith("replay/")}
    checkpoint.extras.update(arrays)
    checkpoint.provenance = dict(checkpoint.provenance)
    checkpoint.provenance["replay"] = {
        "emotions": list(ds.emotions),
        "per_emotion": int(per_emotion),
        "windows": int(arrays["replay/modality_mask"].shape[0]),
        "source": ds.name,
        "seed": int(seed),
    }
    return int(arrays["replay/modality_mask"].shape[0])


def replay_labels(checkpoint) -> tuple[np.ndarray, list[str]] | None:
    """(labels (N, K), words) of the checkpoint's replay windows, or None when it carries no labels."""
    labels = checkpoint.extras.get("replay/labels")
    if labels is None:
        return None
    words = list((checkpoint.provenance.get("replay") or {}).get("emotions") or checkpoint.display_emotions)
    labels = np.asarray(labels)
    return (labels, words) if labels.ndim == 2 and labels.shape[1] == len(words) else None


def replay_of(checkpoint):
    """The checkpoint's replay set as a :class:`~model.inference.WindowBatch`, or None when it carries none."""
    from .inference import WindowBatch

    ex = checkpoint.extras
    if not all(f"replay/{k}" in ex for k in REPLAY_KEYS):
        return None
    return WindowBatch(
        text=np.asarray(ex["replay/text"], np.float32),
        acoustic=np.asarray(ex["replay/acoustic"], np.float32),
        visual=np.asarray(ex["replay/visual"], np.float32),
        step_masks={m: np.asarray(ex[f"replay/{m}_mask"], bool) for m in MODALITIES},
        modality_mask=np.asarray(ex["replay/modality_mask"], bool),
    )


def encode_batch(
    predictor,
    batch,
    modalities: str | Sequence[str] | None = None,
    weights: np.ndarray | None = None,
    calibrated: bool = True,
) -> Examples:
    """Encoder outputs of a :class:`~model.inference.WindowBatch` through a Predictor
    (``calibrated=False``: without the user's baseline shift, as for the replay set)."""
    reps, mask = predictor.representations(batch, modalities, calibrated)
    return Examples(reps, mask, weights)


def zero_shot_rows(predictor, vector: np.ndarray) -> dict[str, np.ndarray]:
    """The rows a word vector gets in every modality without adaptation (f_t->m)."""
    E = np.asarray(vector, np.float32).reshape(1, -1)
    if predictor.runtime is not None:
        embs = predictor.runtime.emotion_embeddings(E)
    else:  # pragma: no cover - the torch backend gives the same rows
        import torch

        with torch.inference_mode():
            embs = {m: v.numpy() for m, v in predictor.net.emotion_embeddings(torch.from_numpy(E)).items()}
    return {m: np.asarray(v[0], np.float32) for m, v in embs.items()}
