"""Planted-signal data in the CMU-MOSEI aligned format, for learnability checks and benchmarks.

Each emotion k has a known direction in every modality; a sample positive for k
carries that direction (plus noise) on some of its steps. With ``tied=True``
the directions are tied to the emotion word vectors: text uses e_k itself,
acoustic uses A e_k and visual B e_k for fixed random linear maps A and B, so a
model that learns f_t->a ~ A and f_t->v ~ B can recognise an emotion it never
saw from its word vector alone (the zero-shot path).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import EmotionDataset
from .sdk import COVAREP_DIM, FACET_DIM, MOSEI_ALIGNED_FILES, MOSEI_EMOTIONS, write_h5


@dataclass
class PlantedDirections:
    text: np.ndarray  # (K, d_t)
    acoustic: np.ndarray  # (K, d_a)
    visual: np.ndarray  # (K, d_v)


def planted_directions(
    emotion_vectors: np.ndarray, dims: tuple[int, int] = (COVAREP_DIM, FACET_DIM), tied: bool = True, seed: int = 0
) -> PlantedDirections:
    """Unit directions per emotion and modality (tied to the word vectors, or random)."""
    rng = np.random.default_rng([seed, 17])
    E = np.asarray(emotion_vectors, np.float64)
    K, d_t = E.shape

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-9)

    if tied:
        A = rng.standard_normal((dims[0], d_t)) / np.sqrt(d_t)
        B = rng.standard_normal((dims[1], d_t)) / np.sqrt(d_t)
        return PlantedDirections(
            unit(E).astype(np.float32), unit(E @ A.T).astype(np.float32), unit(E @ B.T).astype(np.float32)
        )
    return PlantedDirections(
        unit(rng.standard_normal((K, d_t))).astype(np.float32),
        unit(rng.standard_normal((K, dims[0]))).astype(np.float32),
        unit(rng.standard_normal((K, dims[1]))).astype(np.float32),
    )


def planted_arrays(
    n: int,
    directions: PlantedDirections,
    seq_len: int = 20,
    positive_rate: float = 0.3,
    signal: float = 2.0,
    noise: float = 1.0,
    step_rate: float = 0.6,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(text, acoustic, visual, intensities) arrays: (N, T, d) each, padded in front, and (N, K) intensities.

    Intensities are 0 for negatives and in (0, 3] for positives (MOSEI-like); a
    label is the intensity > 0.
    """
    rng = np.random.default_rng([seed, 23])
    K = directions.text.shape[0]
    y = rng.random((n, K)) < positive_rate
    intensity = np.where(y, rng.choice([0.33, 0.67, 1.0, 1.67, 2.0, 3.0], size=(n, K)), 0.0).astype(np.float32)
    lengths = rng.integers(max(1, seq_len // 2), seq_len + 1, size=n)
    out = []
    for D in (directions.text, directions.acoustic, directions.visual):
        d = D.shape[1]
        x = (noise * rng.standard_normal((n, seq_len, d))).astype(np.float32)
        carry = rng.random((n, seq_len, K)) < step_rate  # which steps express each emotion
        x += signal * np.einsum("ntk,kd->ntd", (carry & y[:, None, :]).astype(np.float32), D)
        pad = np.arange(seq_len)[None, :] < (seq_len - lengths)[:, None]
        x[pad] = 0.0
        out.append(x)
    return out[0], out[1], out[2], intensity


def planted_dataset(
    n: int,
    emotion_vectors: np.ndarray,
    emotions: Sequence[str] = MOSEI_EMOTIONS,
    directions: PlantedDirections | None = None,
    seed: int = 0,
    **kw,
) -> EmotionDataset:
    """An in-memory planted dataset over ``emotions``."""
    D = directions or planted_directions(emotion_vectors, seed=seed)
    t, a, v, inten = planted_arrays(n, D, seed=seed, **kw)
    return EmotionDataset(t, a, v, (inten > 0).astype(np.float32), list(emotions), name="planted")


def write_mosei_aligned(
    directory: str | os.PathLike,
    emotion_vectors: np.ndarray,
    sizes: dict[str, int] | None = None,
    tied: bool = True,
    seed: int = 0,
    **kw,
) -> PlantedDirections:
    """Write planted train/valid/test splits as ``text_{split}_emb.h5``, ``audio_*``, ``video_*``, ``ey_*`` (key ``d1``)."""
    sizes = sizes or {"train": 600, "valid": 200, "test": 300}
    E = np.asarray(emotion_vectors, np.float32)
    if E.shape[0] != len(MOSEI_EMOTIONS):
        raise ValueError(f"need {len(MOSEI_EMOTIONS)} emotion vectors ({', '.join(MOSEI_EMOTIONS)}), got {E.shape[0]}")
    D = planted_directions(E, tied=tied, seed=seed)
    d = Path(directory)
    for i, (split, n) in enumerate(sizes.items()):
        t, a, v, inten = planted_arrays(n, D, seed=seed * 1000 + i + 1, **kw)
        if split == "train" or split == "valid":
            # COVAREP writes -inf for unvoiced frames; the loaders must turn them into 0
            a[:, -1, 0] = np.where(np.arange(n) % 7 == 0, -np.inf, a[:, -1, 0])
        write_h5(d / MOSEI_ALIGNED_FILES["text"].format(split=split), t)
        write_h5(d / MOSEI_ALIGNED_FILES["acoustic"].format(split=split), a)
        write_h5(d / MOSEI_ALIGNED_FILES["visual"].format(split=split), v)
        write_h5(d / MOSEI_ALIGNED_FILES["labels"].format(split=split), inten)
    return D
