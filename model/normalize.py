"""Per-modality feature normalisation, fitted on training data and stored in checkpoints.

Only observed steps are normalised; unobserved steps (padding, masked) stay zero,
so "absent" looks the same before and after normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class NormStats:
    mean: np.ndarray  # (d,)
    std: np.ndarray  # (d,)

    def to_dict(self) -> dict:
        return {"mean": np.asarray(self.mean, np.float32).tolist(), "std": np.asarray(self.std, np.float32).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> NormStats:
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))

    @classmethod
    def identity(cls, dim: int) -> NormStats:
        return cls(np.zeros(dim, np.float32), np.ones(dim, np.float32))


def sanitize(x: np.ndarray) -> np.ndarray:
    """NaN and +-inf become 0, as the paper's code does for COVAREP's -inf."""
    return np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def fit_stats(x: np.ndarray, step_mask: np.ndarray | None = None, min_std: float = 1e-3) -> NormStats:
    """Mean/std over the observed steps of (N, T, d) or (N, d) features."""
    x = sanitize(x)
    flat = x.reshape(-1, x.shape[-1])
    if step_mask is not None:
        flat = flat[np.asarray(step_mask, bool).reshape(-1)]
    if flat.shape[0] == 0:
        return NormStats.identity(x.shape[-1])
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    std = np.where(std < min_std, 1.0, std)  # constant (filled) columns pass through centred
    return NormStats(mean.astype(np.float32), std.astype(np.float32))


def apply_stats(x: np.ndarray, stats: NormStats, step_mask: np.ndarray | None = None, clip: float = 10.0) -> np.ndarray:
    """Normalise observed steps of (..., T, d) features; unobserved steps become exactly 0."""
    x = sanitize(x)
    y = np.clip((x - stats.mean) / stats.std, -clip, clip).astype(np.float32)
    if step_mask is not None:
        y = y * np.asarray(step_mask, bool)[..., None]
    return y
