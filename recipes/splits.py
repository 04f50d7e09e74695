"""Deterministic, group-disjoint splits of an :class:`model.datasets.EmotionDataset` by its ``groups``.

* :func:`holdout` — hold out a fraction of the groups (speakers, photos...) of
  every stratum (e.g. every corpus, every photo source, optionally every label
  too), seeded; no group is ever on both sides.
* :func:`leave_one_out` — one fold per value of a grouping (train without
  corpus X, test on X).

The choice inside a stratum depends only on the seed and that stratum's own
groups, so adding a corpus does not reshuffle the split of another.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np


def sample_labels(ds) -> np.ndarray:
    """(N,) str: each sample's annotated positive emotion ('' when none; the first when several)."""
    pos = (ds.labels > 0.5) & ds.label_mask
    names = np.asarray(ds.emotions + [""], dtype=str)
    first = np.where(pos.any(axis=1), pos.argmax(axis=1), len(ds.emotions))
    return names[first]


def _rng(seed: int, stratum: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(stratum.encode("utf-8"))])


def holdout(
    ds, key: str, fraction: float = 0.2, *, seed: int = 0, within: Sequence[str] | str = (), by_label: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) sample indices: ``fraction`` of the ``key`` groups of each stratum go to test.

    A stratum is a combination of the ``within`` groupings (e.g. ``"corpus"``)
    and, with ``by_label``, the sample's label (for one-label groups such as
    photos, so each emotion of each source is held out in proportion). Every
    stratum with at least two groups sends at least one to test and keeps at
    least one for training. A group spanning strata (a speaker in two corpora)
    goes wholly to test if any of its strata picks it.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    within = (within,) if isinstance(within, str) else tuple(within)
    groups = ds.group(key)
    parts = [ds.group(w) for w in within] + ([sample_labels(ds)] if by_label else [])
    strata = np.array(["\x1f".join(v) for v in zip(*parts)], dtype=str) if parts else np.full(len(ds), "", str)
    test_groups: set[str] = set()
    for s in np.unique(strata):
        g = np.unique(groups[strata == s])
        if len(g) < 2:
            continue
        k = min(len(g) - 1, max(1, int(round(fraction * len(g)))))
        test_groups.update(g[_rng(seed, s).permutation(len(g))[:k]].tolist())
    is_test = np.isin(groups, list(test_groups))
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def leave_one_out(ds, key: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """[(value, train indices, test indices)] for each value of grouping ``key``, sorted by value."""
    groups = ds.group(key)
    return [(str(v), np.flatnonzero(groups != v), np.flatnonzero(groups == v)) for v in np.unique(groups)]


def assert_disjoint(ds, key: str, train: np.ndarray, test: np.ndarray) -> None:
    """Raise ValueError naming a ``key`` group found on both sides of a split."""
    g = ds.group(key)
    both = set(g[np.asarray(train, int)].tolist()) & set(g[np.asarray(test, int)].tolist())
    if both:
        raise ValueError(f"{len(both)} '{key}' group(s) on both sides of the split, e.g. {sorted(both)[0]}")
