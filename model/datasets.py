"""The one dataset type every loader returns and the trainer consumes.

An :class:`EmotionDataset` holds fixed-length, word-aligned sequences for the
three modalities (padding in front, as the SDK's ``get_tensors`` and the live
windows do), per-step observation masks, a per-sample modality mask, multi-hot
labels over a list of emotion *words* and a label mask saying which labels are
annotated for which sample. The label mask is what lets corpora with different
label sets (MOSEI's six, IEMOCAP's four, RAVDESS's eight, text-only corpora...)
be concatenated and trained together: the loss ignores unannotated entries.

Everything here is numpy; torch is not imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from feature_adapters.errors import LivemerError

from .config import MODALITIES
from .normalize import NormStats, apply_stats, fit_stats, sanitize


class DatasetShapeError(LivemerError, ValueError):
    """Arrays given to :class:`EmotionDataset` do not fit together."""


def observed_steps(x: np.ndarray) -> np.ndarray:
    """(N, T, d) features -> (N, T) bool: a step is observed when any feature is non-zero.

    This is how padding is recognised in the SDK's tensors, which pad with zeros.
    """
    return np.any(x != 0, axis=-1)


@dataclass
class EmotionDataset:
    """Aligned multimodal samples with multi-hot emotion labels.

    ``text`` (N, T, d_t), ``acoustic`` (N, T, d_a), ``visual`` (N, T, d_v) float32;
    ``labels`` (N, K) float32 in {0, 1}; ``emotions`` the K emotion words;
    ``ids`` N sample ids. ``step_masks`` maps each modality to (N, T) bool
    (default: non-zero steps); ``modality_mask`` (N, 3) bool (default: a modality
    with any observed step is present); ``label_mask`` (N, K) bool (default: all
    annotated). ``groups`` maps a grouping name (``"speaker"``, ``"corpus"``,
    ``"source"``...) to N per-sample string ids, for speaker-, corpus- or
    source-disjoint splits (default: none). Non-finite feature values are
    replaced by 0 (in place when the arrays are already float32).
    """

    text: np.ndarray
    acoustic: np.ndarray
    visual: np.ndarray
    labels: np.ndarray
    emotions: list[str]
    ids: list[str] = field(default_factory=list)
    step_masks: dict[str, np.ndarray] | None = None
    modality_mask: np.ndarray | None = None
    label_mask: np.ndarray | None = None
    name: str = ""
    groups: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        where = self.name or "dataset"
        for m in MODALITIES:
            x = getattr(self, m)
            x = np.asarray(x)
            if x.dtype != np.float32:
                x = x.astype(np.float32)
            if x.ndim != 3:
                raise DatasetShapeError(f"{where}: {m} features must be (N, T, d), got shape {x.shape}")
            if not np.isfinite(x).all():
                np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            setattr(self, m, x)
        n, t = self.text.shape[:2]
        for m in ("acoustic", "visual"):
            if getattr(self, m).shape[:2] != (n, t):
                raise DatasetShapeError(
                    f"{where}: {m} features are {getattr(self, m).shape[:2]} (N, T) but text is {(n, t)}"
                )
        self.emotions = [str(e) for e in self.emotions]
        if len(set(self.emotions)) != len(self.emotions):
            raise DatasetShapeError(f"{where}: duplicate emotion words in {self.emotions}")
        k = len(self.emotions)
        y = np.asarray(self.labels, dtype=np.float32)
        if y.ndim == 1 and k == 1:
            y = y[:, None]
        if y.shape != (n, k):
            raise DatasetShapeError(f"{where}: labels must be (N, K) = ({n}, {k}), got {y.shape}")
        self.labels = np.nan_to_num(y, nan=0.0)
        if not self.ids:
            self.ids = [str(i) for i in range(n)]
        self.ids = [str(i) for i in self.ids]
        if len(self.ids) != n:
            raise DatasetShapeError(f"{where}: {len(self.ids)} ids for {n} samples")
        if self.step_masks is None:
            self.step_masks = {m: observed_steps(getattr(self, m)) for m in MODALITIES}
        else:
            sm = {}
            for m in MODALITIES:
                s = self.step_masks.get(m)
                s = observed_steps(getattr(self, m)) if s is None else np.asarray(s, bool)
                if s.shape != (n, t):
                    raise DatasetShapeError(f"{where}: {m} step mask must be ({n}, {t}), got {s.shape}")
                sm[m] = s
            self.step_masks = sm
        if self.modality_mask is None:
            self.modality_mask = np.stack([self.step_masks[m].any(axis=1) for m in MODALITIES], axis=1)
        else:
            self.modality_mask = np.asarray(self.modality_mask, bool)
            if self.modality_mask.shape != (n, 3):
                raise DatasetShapeError(f"{where}: modality mask must be ({n}, 3), got {self.modality_mask.shape}")
        if self.label_mask is None:
            self.label_mask = np.ones((n, k), bool)
        else:
            self.label_mask = np.asarray(self.label_mask, bool)
            if self.label_mask.shape != (n, k):
                raise DatasetShapeError(f"{where}: label mask must be ({n}, {k}), got {self.label_mask.shape}")
        groups = {}
        for g, v in (self.groups or {}).items():
            v = np.asarray(v, dtype=str).reshape(-1)
            if v.shape != (n,):
                raise DatasetShapeError(f"{where}: group '{g}' has {v.shape[0]} ids for {n} samples")
            groups[str(g)] = v
        self.groups = groups

    # -- shape ----------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.text.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.text.shape[1])

    @property
    def dims(self) -> dict[str, int]:
        return {m: int(getattr(self, m).shape[2]) for m in MODALITIES}

    def features(self, modality: str) -> np.ndarray:
        return getattr(self, modality)

    # -- label queries ------------------------------------------------------------
    def column(self, emotion: str) -> int:
        try:
            return self.emotions.index(emotion)
        except ValueError:
            raise KeyError(
                f"{self.name or 'dataset'} has no emotion '{emotion}' (it has {', '.join(self.emotions)})"
            ) from None

    def positives(self, emotion: str) -> np.ndarray:
        """Indices of the samples annotated positive for ``emotion``."""
        k = self.column(emotion)
        return np.flatnonzero((self.labels[:, k] > 0.5) & self.label_mask[:, k])

    def negatives(self, emotion: str) -> np.ndarray:
        k = self.column(emotion)
        return np.flatnonzero((self.labels[:, k] <= 0.5) & self.label_mask[:, k])

    def label_counts(self) -> dict[str, tuple[int, int]]:
        """emotion -> (positives, annotated) counts."""
        pos = ((self.labels > 0.5) & self.label_mask).sum(axis=0)
        ann = self.label_mask.sum(axis=0)
        return {e: (int(p), int(a)) for e, p, a in zip(self.emotions, pos, ann)}

    def summary(self) -> str:
        counts = ", ".join(f"{e} {p}/{a}" for e, (p, a) in self.label_counts().items())
        present = self.modality_mask.mean(axis=0) if len(self) else np.zeros(3)
        mods = " ".join(f"{m[0]}={100 * p:.0f}%" for m, p in zip(MODALITIES, present))
        return f"{self.name or 'dataset'}: {len(self)} samples, T={self.seq_len}, dims {self.dims}; positives {counts}; present {mods}"

    # -- derived datasets -------------------------------------------------------------
    def subset(self, index: Sequence[int] | np.ndarray, name: str | None = None) -> EmotionDataset:
        """The samples at ``index`` (int indices or a boolean mask), in that order."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        return EmotionDataset(
            text=self.text[idx],
            acoustic=self.acoustic[idx],
            visual=self.visual[idx],
            labels=self.labels[idx],
            emotions=list(self.emotions),
            ids=[self.ids[i] for i in idx],
            step_masks={m: s[idx] for m, s in self.step_masks.items()},
            modality_mask=self.modality_mask[idx],
            label_mask=self.label_mask[idx],
            name=self.name if name is None else name,
            groups={g: v[idx] for g, v in self.groups.items()},
        )

    def group(self, key: str) -> np.ndarray:
        """(N,) str ids of grouping ``key`` (e.g. ``"speaker"``); KeyError naming the groupings it has."""
        try:
            return self.groups[key]
        except KeyError:
            have = ", ".join(self.groups) or "none"
            raise KeyError(f"{self.name or 'dataset'} has no '{key}' grouping (it has {have})") from None

    def select_emotions(self, emotions: Sequence[str]) -> EmotionDataset:
        """Re-index the label columns to ``emotions``; ones this dataset lacks are unannotated."""
        emotions = [str(e) for e in emotions]
        n = len(self)
        y = np.zeros((n, len(emotions)), np.float32)
        lm = np.zeros((n, len(emotions)), bool)
        for j, e in enumerate(emotions):
            if e in self.emotions:
                k = self.emotions.index(e)
                y[:, j] = self.labels[:, k]
                lm[:, j] = self.label_mask[:, k]
        return replace(self, labels=y, label_mask=lm, emotions=emotions)

    def rename_emotions(self, mapping: dict[str, str] | Sequence[str]) -> EmotionDataset:
        """New emotion words: a dict old -> new, or a list of K new words in column order."""
        if isinstance(mapping, dict):
            new = [mapping.get(e, e) for e in self.emotions]
        else:
            new = [str(w) for w in mapping]
            if len(new) != len(self.emotions):
                raise ValueError(
                    f"{self.name or 'dataset'}: {len(new)} emotion words given for {len(self.emotions)} label columns "
                    f"({', '.join(self.emotions)})"
                )
        return replace(self, emotions=new)

    def with_modalities(self, modalities: Sequence[str]) -> EmotionDataset:
        """The same samples with only ``modalities`` present (others masked, not deleted)."""
        keep = np.array([m in modalities for m in MODALITIES], bool)
        return replace(self, modality_mask=self.modality_mask & keep[None, :])

    def normalized(self, stats: dict[str, NormStats]) -> EmotionDataset:
        """Features normalised with ``stats`` on observed steps; modalities without stats are only masked."""
        out = {}
        for m in MODALITIES:
            x = getattr(self, m)
            sm = self.step_masks[m]
            if m in stats:
                out[m] = apply_stats(x, stats[m], sm)
            else:
                out[m] = x if _masked_already(x, sm) else sanitize(x) * sm[..., None]
        return replace(self, **out)


def _masked_already(x: np.ndarray, step_mask: np.ndarray) -> bool:
    """True when every unobserved step of ``x`` is already zero (no copy needed)."""
    if step_mask.all():
        return True
    return not np.any(x[~step_mask])


def fit_normalization(ds: EmotionDataset, modalities: Sequence[str] = ("acoustic", "visual")) -> dict[str, NormStats]:
    """Per-modality mean/std over the observed steps of ``ds`` (fit on the training split only).

    Text is left out by default: word vectors stay in the space of the emotion
    vectors, as in the paper (and the live app reads ``None`` as "do not normalise").
    """
    return {m: fit_stats(getattr(ds, m), ds.step_masks[m]) for m in modalities}


def concat(datasets: Sequence[EmotionDataset], name: str = "") -> EmotionDataset:
    """Stack datasets with the same T and feature dims; the label set is the ordered union.

    An emotion that one corpus does not annotate is masked out (``label_mask``
    False) for that corpus's samples, so the loss does not read it as negative.
    A grouping (``groups``) some datasets lack is the empty string for their samples.
    """
    if not datasets:
        raise ValueError("concat needs at least one dataset")
    first = datasets[0]
    for d in datasets[1:]:
        if d.seq_len != first.seq_len or d.dims != first.dims:
            raise DatasetShapeError(
                f"cannot concatenate {d.name or 'dataset'} (T={d.seq_len}, dims {d.dims}) with "
                f"{first.name or 'dataset'} (T={first.seq_len}, dims {first.dims})"
            )
    emotions: list[str] = []
    for d in datasets:
        emotions.extend(e for e in d.emotions if e not in emotions)
    parts = [d.select_emotions(emotions) for d in datasets]
    return EmotionDataset(
        text=np.concatenate([d.text for d in parts]),
        acoustic=np.concatenate([d.acoustic for d in parts]),
        visual=np.concatenate([d.visual for d in parts]),
        labels=np.concatenate([d.labels for d in parts]),
        emotions=emotions,
        ids=[i for d in parts for i in d.ids],
        step_masks={m: np.concatenate([d.step_masks[m] for d in parts]) for m in MODALITIES},
        modality_mask=np.concatenate([d.modality_mask for d in parts]),
        label_mask=np.concatenate([d.label_mask for d in parts]),
        name=name or "+".join(d.name or "dataset" for d in datasets),
        groups={
            g: np.concatenate([d.groups.get(g, np.full(len(d), "", dtype=str)) for d in parts])
            for g in dict.fromkeys(g for d in parts for g in d.groups)
        },
    )


def pad_or_crop(x: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(L, d) steps -> ((seq_len, d) float32, (seq_len,) bool mask): keep the last ``seq_len``, pad in front."""
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise ValueError(f"pad_or_crop expects (L, d), got {x.shape}")
    out = np.zeros((seq_len, x.shape[1]), np.float32)
    mask = np.zeros(seq_len, bool)
    tail = x[-seq_len:] if seq_len > 0 else x[:0]
    if len(tail):
        out[-len(tail) :] = tail
        mask[-len(tail) :] = True
    return out, mask
