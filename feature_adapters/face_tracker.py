"""Stable ids for several faces across frames (pure; no image work).

A face backend reports, for each analysed frame, the boxes of up to N faces in
no particular order. :class:`FaceTracker` gives each face an id that stays the
same while the face stays in view:

* boxes are matched to the tracks of the previous frames by overlap (IoU),
  greedily, best pair first; a pair needs ``min_iou`` (or, for a face that
  moved fast between sparsely sampled frames, centres closer than
  ``max_shift`` box sizes);
* an unmatched box starts a new track with the next unused id (ids are never
  reused, so a face that leaves and comes back gets a new one);
* a track not seen for ``max_gap`` seconds is dropped.

:func:`order_by_size` puts the largest face first: the overlay draws the bars
for it and single-face consumers take it. :func:`tile_grid` and
:func:`merge_detections` serve a detector run on overlapping tiles of a photo
(small faces), where one face can be found in two tiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


def area(b: Box) -> float:
    return max(0.0, float(b[2]) - float(b[0])) * max(0.0, float(b[3]) - float(b[1]))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def centre_shift(a: Box, b: Box) -> float:
    """Distance between the centres, in units of the mean box size (side of the square of equal area)."""
    ca = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2)
    cb = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    size = 0.5 * (math.sqrt(area(a)) + math.sqrt(area(b)))
    return math.hypot(ca[0] - cb[0], ca[1] - cb[1]) / size if size > 0 else math.inf


def order_by_size(boxes: Sequence[Box]) -> list[int]:
    """Indices of ``boxes``, largest area first (ties: in the given order)."""
    return sorted(range(len(boxes)), key=lambda i: -area(boxes[i]))


def overlap_of_smaller(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area: near 1 when one box (a face cut by a tile edge) lies
    inside the other (0 when either is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min(area(a), area(b))
    return ix * iy / small if small > 0 else 0.0


def tile_grid(height: int, width: int, n: int = 2, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """``n x n`` overlapping tiles ``(x0, y0, x1, y1)`` covering a ``height x width`` image; neighbours share
    ``overlap`` of a tile, so a face on a seam lies whole in one tile when it is smaller than that share."""
    n = max(1, int(n))
    th = int(math.ceil(height / (n - (n - 1) * overlap)))
    tw = int(math.ceil(width / (n - (n - 1) * overlap)))
    ys = [round(k * (height - th) / (n - 1)) if n > 1 else 0 for k in range(n)]
    xs = [round(k * (width - tw) / (n - 1)) if n > 1 else 0 for k in range(n)]
    return [(x, y, min(width, x + tw), min(height, y + th)) for y in ys for x in xs]


def merge_detections(boxes: Sequence[Box], same: float = 0.4) -> list[int]:
    """Indices of ``boxes`` to keep when the same face may be found more than once (in overlapping tiles):
    largest first, a box is dropped when ``overlap_of_smaller`` with a kept one reaches ``same``."""
    kept: list[int] = []
    for i in order_by_size(boxes):
        if all(overlap_of_smaller(boxes[i], boxes[j]) < same for j in kept):
            kept.append(i)
    return kept


@dataclass
class _Track:
    id: int
    box: Box
    last_seen: float


@dataclass
class FaceTracker:
    """Assigns stable ids to the faces of successive frames (see the module docstring)."""

    min_iou: float = 0.2
    max_shift: float = 1.0
    max_gap: float = 1.5
    _tracks: list[_Track] = field(default_factory=list)
    _next_id: int = 0

    def reset(self) -> None:
        self._tracks.clear()
        self._next_id = 0

    @property
    def active_ids(self) -> list[int]:
        return [t.id for t in self._tracks]

    def update(self, t: float, boxes: Sequence[Box]) -> list[int]:
        """The ids of ``boxes`` (same order) seen at time ``t`` seconds."""
        t = float(t)
        self._tracks = [tr for tr in self._tracks if t - tr.last_seen <= self.max_gap]
        pairs = []
        for i, b in enumerate(boxes):
            for j, tr in enumerate(self._tracks):
                o = iou(b, tr.box)
                s = centre_shift(b, tr.box)
                if o >= self.min_iou or s <= self.max_shift:
                    pairs.append((-o, s, i, j))
        pairs.sort()
        ids: list[int | None] = [None] * len(boxes)
        used_tracks: set[int] = set()
        for _neg_iou, _s, i, j in pairs:
            if ids[i] is None and j not in used_tracks:
                ids[i] = self._tracks[j].id
                used_tracks.add(j)
                self._tracks[j].box = tuple(float(x) for x in boxes[i])  # type: ignore[assignment]
                self._tracks[j].last_seen = t
        for i, b in enumerate(boxes):
            if ids[i] is None:
                ids[i] = self._next_id
                self._tracks.append(_Track(self._next_id, tuple(float(x) for x in b), t))  # type: ignore[arg-type]
                self._next_id += 1
        return [int(x) for x in ids]  # type: ignore[arg-type]


__all__ = [
    "Box",
    "FaceTracker",
    "area",
    "iou",
    "centre_shift",
    "order_by_size",
    "overlap_of_smaller",
    "tile_grid",
    "merge_detections",
]
