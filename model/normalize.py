"""Per-modality feature normalisation, fitted on training data and stored in checkpoints.

Only observed steps are normalised; unobserved steps (padding, masked) stay zero,
so "absent" looks the same before and after normalisation.

Optionally (``NormStats.per_window``) each window is first standardised over its
own observed steps (``"mean"``: centred; ``"meanstd"``: centred and scaled per
feature), which is what a single file or a live utterance can do on its own (no
statistics of other clips or of the speaker); the fitted mean/std then apply to
those values. The mode is saved with the statistics, so a checkpoint's runtime
applies exactly what its training did; statistics without it (every older
checkpoint) mean no per-window step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

#: Per-window standardisation modes ("" = none, the paper's global statistics only).
PER_WINDOW = ("", "mean", "meanstd")


@dataclass
class NormStats:
    mean: np.ndarray  # (d,)
    std: np.ndarray  # (d,)
    per_window: str = ""  # one of PER_WINDOW: applied to each window before mean/std
    window_columns: tuple[int, ...] | None = None  # the columns per_window applies to (None: all)

    def __post_init__(self) -> None:
        if self.per_window not in PER_WINDOW:
            raise ValueError(f"unknown per-window normalisation '{self.per_window}' (known: mean, meanstd)")
        if self.window_columns is not None:
            self.window_columns = tuple(int(c) for c in self.window_columns)

    def to_dict(self) -> dict:
        d = {"mean": np.asarray(self.mean, np.float32).tolist(), "std": np.asarray(self.std, np.float32).tolist()}
        if self.per_window:  # absent = none (what every older checkpoint holds)
            d["per_window"] = self.per_window
            if self.window_columns is not None:
                d["window_columns"] = list(self.window_columns)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> NormStats:
        cols = d.get("window_columns")
        return cls(
            np.asarray(d["mean"], np.float32),
            np.asarray(d["std"], np.float32),
            str(d.get("per_window") or ""),
            None if cols is None else tuple(cols),
        )

    def windowed(self, x: np.ndarray, step_mask: np.ndarray | None) -> np.ndarray:
        """``x`` sanitised, after this statistics' per-window step (none: as it is)."""
        return window_standardize(x, step_mask, self.per_window, columns=self.window_columns)

    @classmethod
    def identity(cls, dim: int) -> NormStats:
        return cls(np.zeros(dim, np.float32), np.ones(dim, np.float32))


def sanitize(x: np.ndarray) -> np.ndarray:
    """NaN and +-inf become 0, as the paper's code does for COVAREP's -inf."""
    return np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def window_standardize(
    x: np.ndarray,
    step_mask: np.ndarray | None,
    mode: str,
    min_std: float = 1e-3,
    columns: Sequence[int] | None = None,
) -> np.ndarray:
    """(..., T, d) features with each window centred (``"mean"``) or also scaled (``"meanstd"``) over its own
    observed steps (only ``columns``, when given; the others as they are); unobserved steps become 0. A feature
    constant within a window (or a window of one step) is only centred."""
    x = sanitize(x)
    if not mode:
        return x
    if columns is not None:
        cols = np.asarray(list(columns), np.int64)
        out = x.copy()
        out[..., cols] = window_standardize(x[..., cols], step_mask, mode, min_std)
        if step_mask is not None:
            out = out * np.asarray(step_mask, bool)[..., None]
        return out
    if x.ndim < 2:
        raise ValueError("per-window normalisation needs (..., T, d) features")
    m = np.ones(x.shape[:-1], bool) if step_mask is None else np.asarray(step_mask, bool)
    w = m[..., None].astype(np.float32)
    n = np.maximum(w.sum(axis=-2, keepdims=True), 1.0)
    mu = (x * w).sum(axis=-2, keepdims=True) / n
    y = (x - mu) * w
    if mode == "meanstd":
        sd = np.sqrt((y * y).sum(axis=-2, keepdims=True) / n)
        y = y / np.where(sd < min_std, 1.0, sd)
    return y.astype(np.float32)


def fit_stats(
    x: np.ndarray,
    step_mask: np.ndarray | None = None,
    min_std: float = 1e-3,
    per_window: str = "",
    window_columns: Sequence[int] | None = None,
) -> NormStats:
    """Mean/std over the observed steps of (N, T, d) or (N, d) features (after ``per_window``, if given)."""
    x = window_standardize(x, step_mask, per_window, columns=window_columns) if per_window else sanitize(x)
    flat = x.reshape(-1, x.shape[-1])
    if step_mask is not None:
        flat = flat[np.asarray(step_mask, bool).reshape(-1)]
    if flat.shape[0] == 0:
        return replace(NormStats.identity(x.shape[-1]), per_window=per_window, window_columns=window_columns)
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    std = np.where(std < min_std, 1.0, std)  # constant (filled) columns pass through centred
    return NormStats(mean.astype(np.float32), std.astype(np.float32), per_window, window_columns)


def apply_stats(x: np.ndarray, stats: NormStats, step_mask: np.ndarray | None = None, clip: float = 10.0) -> np.ndarray:
    """Normalise observed steps of (..., T, d) features; unobserved steps become exactly 0."""
    x = stats.windowed(x, step_mask)
    y = np.clip((x - stats.mean) / stats.std, -clip, clip).astype(np.float32)
    if step_mask is not None:
        y = y * np.asarray(step_mask, bool)[..., None]
    return y
