"""Several faces in a video: each tracked face's own visual scores and fused scores.

With ``--max-faces N`` (N > 1) the face stage finds up to N faces in every
analysed frame and its tracker (:class:`feature_adapters.face_tracker.FaceTracker`)
gives each one an id that stays the same while the face stays in view. Ids
count from 0 in order of first appearance; a face that leaves for longer than
the tracker's gap and comes back gets a new id (an id's rows then end, and the
new id's rows begin).

For each face id, :func:`score_faces`

1. takes the face's own Facet-35 rows (:meth:`TrackedFaces.series`: the frames
   where that face was not found are masked, not faked);
2. cuts the windows the session gives at the result times where the face is
   present (the same word-aligned steps as the scene's windows, so its text and
   acoustic parts are the scene's) and runs the model's visual branch on them;
3. fuses that face's visual scores with the scene's text and acoustic scores by
   the model's own fusion (:func:`fuse_with_scene`, pure).

Text and voice belong to the scene, not to a face: they are scored once and the
same on every face's rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

MODALITIES = ("text", "acoustic", "visual")
SCENE_MODALITIES = ("text", "acoustic")


def fuse_with_scene(
    scene_scores: Mapping[str, np.ndarray], visual_scores: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One face's fused probabilities from the scene's text/acoustic scores and its own visual scores (pure).

    ``scene_scores``: ``{"text": (n, K), "acoustic": (n, K)}`` (either may be
    missing); ``visual_scores`` (n, K); NaN marks a modality that was not used
    in a window. ``weights``: the model's positive fusion weights (text,
    acoustic, visual). The fusion is the model's own
    (:func:`model.runtime.fuse`: absent modalities get no weight, present ones
    share the total). Returns ``(probabilities (n, K), contributions)``: NaN
    probabilities where no modality was used; contributions per modality (NaN
    where it was not used).
    """
    from model.runtime import fuse, sigmoid

    visual_scores = np.asarray(visual_scores, dtype=np.float32)
    n, k = visual_scores.shape
    by_mod = {m: np.asarray(scene_scores[m], np.float32) for m in SCENE_MODALITIES if m in scene_scores}
    by_mod["visual"] = visual_scores
    scores = np.stack([by_mod.get(m, np.full((n, k), np.nan, np.float32)) for m in MODALITIES], axis=1)
    mask = np.isfinite(scores).all(axis=2)  # (n, 3): a modality's scores exist where it was used
    logits, contrib = fuse(np.nan_to_num(scores), np.asarray(weights, np.float32), mask)
    probs = sigmoid(logits.astype(np.float64))
    probs[~mask.any(axis=1)] = np.nan
    contributions = {
        m: np.where(mask[:, j, None], contrib[:, j].astype(np.float64), np.nan) for j, m in enumerate(MODALITIES)
    }
    return probs, contributions


@dataclass
class FaceRows:
    """One tracked face's rows: the windows (result times) where it is present, and its scores there."""

    face_id: int
    index: np.ndarray  # (n_k,) indices into the file's windows
    probabilities: np.ndarray  # (n_k, K) fused: the scene's text + acoustic with this face's visual
    visual_scores: np.ndarray  # (n_k, K) NaN where the face gave no usable visual steps
    contributions: dict[str, np.ndarray]  # modality -> (n_k, K)
    modalities_used: list[str]  # per row, letters such as "tav"
    boxes: np.ndarray  # (n_k, 4) the face's box in the latest analysed frame where it was seen

    @property
    def n(self) -> int:
        return int(self.index.shape[0])


@dataclass
class TrackedFaces:
    """Every face of every analysed frame of a video, with its tracker id (largest face first per frame)."""

    ids: list[tuple[int, ...]] = field(default_factory=list)  # per analysed frame
    boxes: list[tuple] = field(default_factory=list)  # per frame: a box per face
    rows: list[np.ndarray] = field(default_factory=list)  # per frame: (n_faces, d_v)
    valid: list[np.ndarray] = field(default_factory=list)  # per frame: (n_faces,) bool

    def add(self, observation) -> None:
        """One analysed frame's :class:`livemer.stages.FaceObservation` (its ``faces``)."""
        faces = tuple(getattr(observation, "faces", ()) or ())
        found = observation.result.faces() if faces else []
        self.ids.append(tuple(int(f[0]) for f in faces))
        self.boxes.append(tuple(tuple(float(v) for v in f.box) for f in found))
        dim = int(np.asarray(observation.row).shape[-1])
        self.rows.append(np.asarray([f[1] for f in faces], np.float32).reshape(len(faces), dim))
        self.valid.append(np.asarray([f[2] for f in faces], bool))

    @property
    def face_ids(self) -> list[int]:
        """Every id seen, in order of first appearance."""
        return list(dict.fromkeys(i for ids in self.ids for i in ids))

    def largest_id(self, j: int) -> int | None:
        """The id of frame ``j``'s largest face (None when it had none)."""
        return self.ids[j][0] if self.ids[j] else None

    def series(self, face_id: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Face ``face_id``'s Facet rows on every analysed frame: ``(features (n, dim), valid (n,), found (n,))``;
        the frames where it was not found hold zeros and are not valid."""
        n = len(self.ids)
        feats = np.zeros((n, dim), np.float32)
        valid = np.zeros(n, bool)
        found = np.zeros(n, bool)
        for j, ids in enumerate(self.ids):
            if face_id in ids:
                k = ids.index(face_id)
                feats[j], valid[j], found[j] = self.rows[j][k], self.valid[j][k], True
        return feats, valid, found

    def found(self, face_id: int) -> np.ndarray:
        """(n,) bool: the analysed frames in which face ``face_id`` was found."""
        return np.array([face_id in ids for ids in self.ids], dtype=bool)

    def box(self, j: int, face_id: int) -> tuple | None:
        ids = self.ids[j]
        return self.boxes[j][ids.index(face_id)] if face_id in ids else None


def score_faces(
    session,
    engine,
    sample_times: np.ndarray,
    tracked: TrackedFaces,
    times: np.ndarray,
    tokens: Sequence,
    scene_scores: Mapping[str, np.ndarray],
    emotions: Sequence[str],
    hold: float,
    batch_size: int = 256,
) -> list[FaceRows]:
    """Each tracked face's rows (see the module docstring); ``scene_scores`` are the scene windows' text and
    acoustic scores ``(n, K)`` at ``times``."""
    from .engine import modality_letters
    from .stages import face_presence

    out = []
    d_v = engine.dims[2]
    weights = np.asarray(engine.predictor.fusion_weights, np.float32)
    K = len(emotions)
    for fid in tracked.face_ids:
        feats, valid, found = tracked.series(fid, d_v)
        idx = np.flatnonzero(face_presence(sample_times, found, times, hold))
        if not idx.size:
            continue
        # the visual branch only: the steps (from the words) are the scene's; the acoustic part is not needed
        windows = session.windows_at(times[idx], tokens, None, (sample_times, feats, valid))
        preds = engine.predict_windows(windows, emotions, ("visual",), batch_size=batch_size)
        vis = np.full((idx.size, K), np.nan)
        for r, p in enumerate(preds):
            if "visual" in p.modality_scores:
                vis[r] = np.asarray(p.modality_scores["visual"], np.float64)
        scene = {m: np.asarray(scene_scores[m])[idx] for m in SCENE_MODALITIES if m in scene_scores}
        probs, contrib = fuse_with_scene(scene, vis, weights)
        used = [modality_letters([m for m in MODALITIES if np.isfinite(contrib[m][r]).all()]) for r in range(idx.size)]
        seen = np.flatnonzero(found)
        last = np.searchsorted(sample_times[seen], times[idx] - 1e-9, "left") - 1  # its latest frame before
        boxes = np.full((idx.size, 4), np.nan)
        for r, pos in enumerate(last):
            if pos >= 0:
                boxes[r] = tracked.box(int(seen[pos]), fid)
        out.append(FaceRows(int(fid), idx, probs, vis, contrib, used, boxes))
    return out


def face_summaries(result) -> list[dict]:
    """Per tracked face of a :class:`livemer.offline.FileResult`: id, when it was first and last seen, its
    windows, its mean box, per-emotion summary (as the file's) and top emotion (JSON-ready values)."""
    from .offline import summarise

    tracked = result.face.tracked if result.face is not None else None
    if tracked is None:
        return []
    out = []
    for fr in result.face_rows:
        found = tracked.found(fr.face_id)
        seen = result.face.times[found]
        summary = summarise(result.emotions, fr.probabilities, result.hop)
        best = [(e, v["mean"]) for e, v in summary.items() if v["mean"] is not None]
        top = max(best, key=lambda x: x[1]) if best else None
        ok = np.isfinite(fr.boxes).all(axis=1)
        out.append(
            {
                "face_id": fr.face_id,
                "first_seen": float(seen[0]) if seen.size else None,
                "last_seen": float(seen[-1]) if seen.size else None,
                "frames": int(found.sum()),
                "windows": fr.n,
                "mean_box": fr.boxes[ok].mean(axis=0).round(1).tolist() if ok.any() else None,
                "summary": summary,
                "top_emotion": {"emotion": top[0], "mean": top[1]} if top else None,
            }
        )
    return out


__all__ = ["FaceRows", "TrackedFaces", "fuse_with_scene", "score_faces", "face_summaries"]
