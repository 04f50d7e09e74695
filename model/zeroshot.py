"""Zero-shot emotions by composition: an emotion a modality never saw is built from the ones it did.

The paper maps any word vector e into the acoustic and visual spaces with the
linear maps f_t->a, f_t->v. Those maps are trained only on the handful of
emotions labelled in that modality (seven here), so for a new word the part of
e outside their span goes through weights no data ever shaped. Composition
keeps a new word inside what the modality learned:

    e' = sum_k alpha_k e_k,   alpha = softmax_k(beta * sim_M(e, e_k))

over the modality's *anchors* e_k (the emotions trained in it), then f(e'),
which, f being affine and sum alpha = 1, is the same alpha-mix of the anchors'
learned embeddings f(e_k). An anchor itself keeps its own vector.

The similarity ``sim_M`` is a cosine under a metric M (d x d, symmetric PSD):
M = the covariance of the trained text encoder's representations r_t over
emotion-labelled sentences. Two emotion words are then alike when they score
the same sentences alike (E_t r_t is the text score), which separates the
antonyms GloVe puts side by side (happy/sad: cosine 0.69 in GloVe 6B-50d).
With M = I it is the plain cosine of the word vectors.

Rule v2 (method ``affect``) places a new word by affective dimensions instead:
valence, arousal and dominance coordinates of ANY word vector from antonym-pole
axes (SemAxis style, :data:`AFFECT_POLES`, fixed a priori, no evaluated emotion
word among the poles), then softmax over the negative squared distance to the
anchors' coordinates, optionally mixed with the metric cosine, optionally
followed by an affine least-squares fit of the coordinates (weights may be
negative and extrapolate, e.g. calm beyond neutral). The axes travel in the
checkpoint, so a word with no lexicon entry still gets coordinates.

Pure numpy; the torch network and the numpy runtime both call
:func:`compose_by_rule`.
"""

from __future__ import annotations

import numpy as np

#: Rows of E closer than this (cosine) to an anchor are that anchor (fp16 storage rounds vectors).
ANCHOR_MATCH = 0.9995


def metric_cosine(A: np.ndarray, B: np.ndarray, metric: np.ndarray | None = None) -> np.ndarray:
    """(K, d) x (J, d) -> (K, J) cosine similarities under ``metric`` (d, d; None = identity)."""
    A = np.asarray(A, np.float64)
    B = np.asarray(B, np.float64)
    M = np.eye(A.shape[1]) if metric is None else np.asarray(metric, np.float64)
    AM, BM = A @ M, B @ M
    num = AM @ B.T
    na = np.sqrt(np.clip(np.einsum("kd,kd->k", AM, A), 1e-18, None))
    nb = np.sqrt(np.clip(np.einsum("jd,jd->j", BM, B), 1e-18, None))
    return num / na[:, None] / nb[None, :]


def composition_weights(E: np.ndarray, anchors: np.ndarray, metric: np.ndarray | None, beta: float) -> np.ndarray:
    """(K, d) emotion vectors -> (K, J) softmax(beta * sim) weights over the J anchors; rows sum to 1."""
    s = beta * metric_cosine(E, anchors, metric)
    s -= s.max(axis=1, keepdims=True)
    w = np.exp(s)
    return w / w.sum(axis=1, keepdims=True)


def anchor_index(E: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(K,) index of the anchor each row of E *is* (plain cosine >= ANCHOR_MATCH), -1 for new words."""
    if len(anchors) == 0 or len(E) == 0:
        return np.full(len(E), -1, np.int64)
    c = metric_cosine(E, anchors)
    best = c.argmax(axis=1)
    return np.where(c[np.arange(len(E)), best] >= ANCHOR_MATCH, best, -1)


def compose_vectors(E: np.ndarray, anchors: np.ndarray, metric: np.ndarray | None, beta: float) -> np.ndarray:
    """(K, d) word vectors -> (K, d) vectors to map into a modality: anchors unchanged, new words composed.

    ``anchors`` (J, d) are the word vectors of the emotions that modality was
    trained on; with no anchors E is returned unchanged (the paper's map).
    """
    return compose_by_rule(E, anchors, {"method": "compose", "beta": float(beta)}, metric)


def text_metric(reps: np.ndarray, shrink: float = 0.05) -> np.ndarray:
    """(N, d) text representations -> (d, d) metric: their covariance, scaled to unit mean variance and
    shrunk towards the identity by ``shrink`` (so no direction is weighed exactly 0)."""
    R = np.asarray(reps, np.float64)
    if R.ndim != 2 or len(R) < 2:
        raise ValueError(f"text_metric needs (N >= 2, d) representations, got {R.shape}")
    C = np.cov(R, rowvar=False)
    C /= max(np.trace(C) / C.shape[0], 1e-12)
    return ((1.0 - shrink) * C + shrink * np.eye(C.shape[0])).astype(np.float32)


# ----------------------------------------------------------------------------- affect rule (zero_shot method "affect")

#: Antonym pole pairs of the affective axes (SemAxis style: axis = mean of the unit pole differences).
#: Fixed a priori; no pole is an evaluated emotion word (anger, disgust, fear, happy, neutral, sad, surprise,
#: calm) or an inflection of one.
AFFECT_POLES: dict[str, tuple[tuple[str, str], ...]] = {
    "valence": (
        ("pleasant", "unpleasant"),
        ("good", "bad"),
        ("positive", "negative"),
        ("pleasure", "pain"),
        ("love", "hate"),
        ("wonderful", "terrible"),
        ("nice", "nasty"),
        ("beautiful", "ugly"),
    ),
    "arousal": (
        ("active", "passive"),
        ("energetic", "sluggish"),
        ("intense", "mild"),
        ("loud", "quiet"),
        ("frantic", "sleepy"),
        ("wild", "tame"),
        ("agitated", "idle"),
        ("fast", "slow"),
    ),
    "dominance": (
        ("powerful", "weak"),
        ("dominant", "submissive"),
        ("strong", "helpless"),
        ("control", "vulnerable"),
        ("confident", "insecure"),
        ("superior", "inferior"),
    ),
}


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, np.float64)
    return X / np.clip(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12, None)


def affect_axes(vector_of, poles: dict[str, tuple[tuple[str, str], ...]] | None = None) -> np.ndarray:
    """(A, d) unit axes, one per entry of ``poles`` (default :data:`AFFECT_POLES`): the mean of the unit
    differences (positive pole - negative pole) over the pairs. ``vector_of(word)`` returns a word's vector
    or None; pairs with a missing word are skipped (ValueError if an axis has none left)."""
    out = []
    for name, pairs in (poles or AFFECT_POLES).items():
        diffs = []
        for a, b in pairs:
            va, vb = vector_of(a), vector_of(b)
            if va is not None and vb is not None:
                diffs.append(_unit(va) - _unit(vb))
        if not diffs:
            raise ValueError(f"affect axis '{name}': no pole pair has word vectors")
        out.append(_unit(np.mean(diffs, axis=0)))
    return np.stack(out).astype(np.float32)


def affect_coordinates(E: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """(K, d) word vectors -> (K, A) coordinates: the cosine of each word with each axis, times the axis's
    length (unit axes: plain cosines; a longer axis weighs more in distances)."""
    return _unit(E) @ np.asarray(axes, np.float64).T


def affect_weights(
    E: np.ndarray,
    anchors: np.ndarray,
    axes: np.ndarray,
    beta_affect: float,
    metric: np.ndarray | None = None,
    beta_text: float = 0.0,
) -> np.ndarray:
    """(K, J) weights softmax_k(beta_text * cos_M(e, e_k) - beta_affect * |c(e) - c(e_k)|^2) over the J
    anchors, c the affect coordinates (:func:`affect_coordinates`); rows sum to 1."""
    ce, ca = affect_coordinates(E, axes), affect_coordinates(anchors, axes)
    d2 = ((ce[:, None, :] - ca[None, :, :]) ** 2).sum(axis=-1)
    s = -float(beta_affect) * d2
    if beta_text:
        s = s + float(beta_text) * metric_cosine(E, anchors, metric)
    s -= s.max(axis=1, keepdims=True)
    w = np.exp(s)
    return w / w.sum(axis=1, keepdims=True)


def interpolation_weights(
    E: np.ndarray, anchors: np.ndarray, axes: np.ndarray, prior: np.ndarray, ridge: float
) -> np.ndarray:
    """(K, J) affine weights closest to ``prior`` (K, J) whose mix of the anchors' affect coordinates
    reproduces each word's (least squares, ``ridge`` > 0 softens the fit): weights may be negative and
    extrapolate beyond the anchors; rows sum to 1."""
    ce, ca = affect_coordinates(E, axes), affect_coordinates(anchors, axes)
    J = len(ca)
    B = np.vstack([ca.T, np.ones((1, J))])  # (A+1, J)
    G = B @ B.T + float(ridge) * np.eye(len(B))
    G[-1, -1] -= float(ridge)  # the sum-to-one row stays exact
    out = np.empty((len(ce), J))
    for i in range(len(ce)):
        t = np.concatenate([ce[i], [1.0]])
        w0 = np.asarray(prior[i], np.float64)
        out[i] = w0 + B.T @ np.linalg.solve(G, t - B @ w0)
    return out


def rule_weights(
    E: np.ndarray, anchors: np.ndarray, rule: dict, metric: np.ndarray | None, axes: np.ndarray | None
) -> np.ndarray:
    """(K, J) composition weights of new words under a checkpoint's zero-shot ``rule`` (config.zero_shot):
    ``compose`` (v1: softmax(beta * cos_M)) or ``affect`` (v2: :func:`affect_weights`, then optionally
    :func:`interpolation_weights` when ``ridge`` is set)."""
    method = rule.get("method")
    if method == "compose":
        return composition_weights(E, anchors, metric, float(rule["beta"]))
    if method == "affect":
        if axes is None:
            raise ValueError("zero-shot rule 'affect' needs the affect axes")
        w = affect_weights(E, anchors, axes, float(rule["beta_affect"]), metric, float(rule.get("beta", 0.0)))
        if rule.get("ridge") is not None:
            w = interpolation_weights(E, anchors, axes, w, float(rule["ridge"]))
        return w
    raise ValueError(f"unknown zero-shot method {method!r} (known: compose, affect)")


def compose_by_rule(
    E: np.ndarray, anchors: np.ndarray, rule: dict, metric: np.ndarray | None, axes: np.ndarray | None = None
) -> np.ndarray:
    """As :func:`compose_vectors`, with the weights of ``rule`` (:func:`rule_weights`)."""
    E = np.asarray(E, np.float32)
    anchors = np.asarray(anchors, np.float32)
    if anchors.ndim != 2 or len(anchors) == 0:
        return E
    if anchors.shape[1] != E.shape[1]:
        raise ValueError(f"zero-shot anchors are {anchors.shape[1]}-d, the emotion vectors {E.shape[1]}-d")
    new = anchor_index(E, anchors) < 0
    out = E.copy()
    if new.any():
        w = rule_weights(E[new], anchors, rule, metric, axes)
        out[new] = (w @ anchors.astype(np.float64)).astype(np.float32)
    return out
