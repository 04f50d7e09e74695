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

Pure numpy; the torch network and the numpy runtime both call
:func:`compose_vectors`.
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
    E = np.asarray(E, np.float32)
    anchors = np.asarray(anchors, np.float32)
    if anchors.ndim != 2 or len(anchors) == 0:
        return E
    if anchors.shape[1] != E.shape[1]:
        raise ValueError(f"zero-shot anchors are {anchors.shape[1]}-d, the emotion vectors {E.shape[1]}-d")
    idx = anchor_index(E, anchors)
    new = idx < 0
    out = E.copy()
    if new.any():
        out[new] = (composition_weights(E[new], anchors, metric, beta) @ anchors.astype(np.float64)).astype(np.float32)
    return out


def text_metric(reps: np.ndarray, shrink: float = 0.05) -> np.ndarray:
    """(N, d) text representations -> (d, d) metric: their covariance, scaled to unit mean variance and
    shrunk towards the identity by ``shrink`` (so no direction is weighed exactly 0)."""
    R = np.asarray(reps, np.float64)
    if R.ndim != 2 or len(R) < 2:
        raise ValueError(f"text_metric needs (N >= 2, d) representations, got {R.shape}")
    C = np.cov(R, rowvar=False)
    C /= max(np.trace(C) / C.shape[0], 1e-12)
    return ((1.0 - shrink) * C + shrink * np.eye(C.shape[0])).astype(np.float32)
