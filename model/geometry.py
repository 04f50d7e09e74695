"""The emotion space, measured: distances between emotion embeddings and 2-D maps, per modality.

The paper's Fig. 3 shows the distance matrices of the emotion embeddings in the
text, acoustic and visual spaces. These pure functions give them (cosine
distance), the nearest trained emotions of any row, and a 2-D map (the first two
principal axes of the rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cosine_similarity(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """(K, d) x (L, d) -> (K, L) cosine similarities; a zero row is similar to nothing (0)."""
    A = np.asarray(A, np.float64)
    B = np.asarray(B, np.float64)
    na = np.linalg.norm(A, axis=1, keepdims=True)
    nb = np.linalg.norm(B, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        S = (A @ B.T) / (na * nb.T)
    return np.nan_to_num(S, nan=0.0)


def distance_matrix(E: np.ndarray) -> np.ndarray:
    """(K, d) rows -> (K, K) cosine distances (1 - cosine), symmetric, zero diagonal for non-zero rows."""
    D = 1.0 - cosine_similarity(E, E)
    D = 0.5 * (D + D.T)
    np.fill_diagonal(D, 0.0)
    return np.clip(D, 0.0, 2.0)


def nearest(
    row: np.ndarray, names: Sequence[str], E: np.ndarray, k: int = 2, exclude: Sequence[str] = ()
) -> list[tuple[str, float]]:
    """The ``k`` rows of ``E`` (named ``names``) most cosine-similar to ``row``, best first."""
    s = cosine_similarity(np.asarray(row).reshape(1, -1), E)[0]
    order = [i for i in np.argsort(-s, kind="stable") if names[i] not in set(exclude)]
    return [(names[i], float(s[i])) for i in order[:k]]


def map_2d(E: np.ndarray) -> np.ndarray:
    """(K, d) rows -> (K, 2): the rows, unit-normalised, on their first two principal axes (signs fixed)."""
    E = np.asarray(E, np.float64)
    n = np.linalg.norm(E, axis=1, keepdims=True)
    X = np.divide(E, n, out=np.zeros_like(E), where=n > 0)
    X = X - X.mean(axis=0, keepdims=True)
    if X.shape[0] < 2 or not np.any(X):
        return np.zeros((X.shape[0], 2))
    _, _, Vt = np.linalg.svd(X, full_matrices=False)
    P = X @ Vt[:2].T
    if P.shape[1] < 2:
        P = np.pad(P, ((0, 0), (0, 2 - P.shape[1])))
    for j in range(2):  # deterministic orientation: the largest coordinate is positive
        if P[np.argmax(np.abs(P[:, j])), j] < 0:
            P[:, j] = -P[:, j]
    return P
