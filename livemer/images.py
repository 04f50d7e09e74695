"""Still images (jpg, png, tiff, webp, bmp): visual-only results per face.

A photo goes through the same face path as a video frame: the engine's face
backend kind (MediaPipe in IMAGE mode, up to ``max_faces`` faces), the same
Facet-35 adapter (:meth:`livemer.engine.Engine.visual_row`), and the window a
video would give for one frame (:func:`feature_adapters.align.windows_at`,
one pseudo step holding the face) through the same predictor, with the visual
modality only. Text and voice do not exist in a photo: both are masked and the
outputs say so.

:func:`write_outputs` writes ``<stem>.csv`` (one row per face: ``face_id``,
box, ``p_<emotion>``, ``visual_<emotion>``), ``<stem>.json`` and
``<stem>.annotated.png`` (a box per face with its top emotions; the bars for
the largest face, id 0).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LivemerError
from .loading import import_heavy
from .media import MediaError, check_file

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"})
#: Faces analysed per image by default (and at most, as in file mode).
DEFAULT_MAX_FACES = 5
MAX_FACES_LIMIT = 5
SCENE_NOTE = "a still image: text and voice are absent (masked); visual scores are per face"


def is_image(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a still image by its suffix."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


@dataclass
class FaceScores:
    """One face of an image: its id (0 = the largest), box and scores."""

    face_id: int
    box: tuple[float, float, float, float]
    probabilities: np.ndarray  # (K,) fused (visual only here); NaN when the face gave no usable features
    visual_scores: np.ndarray  # (K,)
    valid: bool
    aus: dict[str, float] = field(default_factory=dict)

    def top(self, emotions: Sequence[str]) -> tuple[str, float] | None:
        if not self.valid or not np.isfinite(self.probabilities).any():
            return None
        k = int(np.nanargmax(self.probabilities))
        return emotions[k], float(self.probabilities[k])


@dataclass
class ImageResult:
    """What one still image gave."""

    path: Path
    width: int
    height: int
    emotions: list[str]
    user_added: list[str]
    faces: list[FaceScores]
    backend: str = ""
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def masked(self) -> dict[str, str]:
        out = {"text": "a still image has no speech", "acoustic": "a still image has no audio"}
        if not any(f.valid for f in self.faces):
            out["visual"] = "no face found" if not self.faces else "no usable face features"
        return out

    def top_emotion(self) -> tuple[str, float] | None:
        """The top emotion of the largest face."""
        return self.faces[0].top(self.emotions) if self.faces else None

    def summary(self) -> dict[str, dict[str, float | None]]:
        """Per emotion: mean and max probability over the faces (None without a usable face)."""
        probs = np.array([f.probabilities for f in self.faces if f.valid], dtype=np.float64)
        out = {}
        for k, e in enumerate(self.emotions):
            col = probs[:, k] if probs.size else np.zeros(0)
            col = col[np.isfinite(col)]
            out[e] = {"mean": float(col.mean()) if col.size else None, "max": float(col.max()) if col.size else None}
        return out


# --------------------------------------------------------------------------- reading and analysing


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The image as BGR uint8, or :class:`MediaError` (one line) when it does not decode."""
    import cv2

    p = check_file(path)
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None or img.ndim != 3 or img.shape[0] < 2 or img.shape[1] < 2:
        raise MediaError(f"{p}: not an image or corrupt (expected {', '.join(sorted(IMAGE_SUFFIXES))})")
    return img


_SESSIONS: dict[tuple, Any] = {}
_SESSION_LOCK = threading.Lock()


def _still_backend(kind: str, max_faces: int):
    """MediaPipe in IMAGE mode with ``max_faces`` when the engine's kind resolves to MediaPipe, else None
    (py-feat, whose weights are on disk: the session builds it as for video; it finds one face)."""
    kind = (kind or "auto").lower()
    if kind in ("auto", "pyfeat"):
        from feature_adapters.face_pyfeat import pyfeat_weights_status

        if pyfeat_weights_status()[0]:
            return None
    import_heavy("face")
    from feature_adapters.face_mediapipe import MediaPipeFaceBackend

    return MediaPipeFaceBackend(num_faces=max_faces, still=True)


def close_sessions() -> None:
    """Close the image sessions of this process (their face backends)."""
    with _SESSION_LOCK:
        for ses in _SESSIONS.values():
            ses.close()
        _SESSIONS.clear()


@functools.cache
def _close_at_exit() -> None:
    from .batch import before_exit

    before_exit(close_sessions)


def image_session(engine, max_faces: int):
    """A face-only :class:`livemer.session.Session` for still images (built once per process and face count)."""
    from .session import Session, SessionOptions
    from .stages import FaceOptions

    key = (id(engine), int(max_faces))
    with _SESSION_LOCK:
        ses = _SESSIONS.get(key)
        if ses is None:
            for old in _SESSIONS.values():
                old.close()
            _SESSIONS.clear()
            backend = _still_backend(engine.config.face_backend, max_faces)
            ses = Session(
                SessionOptions(face=FaceOptions(backend=engine.config.face_backend, rate_hz=0.0), stages=("face",)),
                engine,
                {"face": backend} if backend else None,
            )
            _close_at_exit()
            ses.load(wait=("face",))
            if not ses.wait_stage("face"):
                raise LivemerError(f"face analysis unavailable: {'; '.join(ses.notices) or 'the backend did not load'}")
            _SESSIONS[key] = ses
        return ses


def check_max_faces(n: int) -> int:
    n = int(n)
    if not 1 <= n <= MAX_FACES_LIMIT:
        raise LivemerError(f"--max-faces must be between 1 and {MAX_FACES_LIMIT}, got {n}")
    return n


def analyse_image(engine, path: str | os.PathLike, max_faces: int = DEFAULT_MAX_FACES) -> ImageResult:
    """Every face in a still image, scored from the visual modality only (the video path for one frame)."""
    max_faces = check_max_faces(max_faces)
    if "visual" not in engine.modalities:
        raise LivemerError(f"{path}: a still image needs the visual modality (--modalities without 'v')")
    t0 = time.perf_counter()
    img = read_image(path)
    timings = {"decode": time.perf_counter() - t0}
    session = image_session(engine, max_faces)
    face = session.face
    t0 = time.perf_counter()
    face.reset()
    obs = face.push(0.0, img, force=True)
    faces = obs.result.faces()[:max_faces]
    timings["face"] = time.perf_counter() - t0
    emotions = list(engine.emotions)
    rows = [face.row(f) for f in faces]
    t0 = time.perf_counter()
    # the window a video gives one pseudo step after a frame: one step holding this face
    at = np.array([engine.config.pseudo_step])
    windows = [session.windows_at(at, [], None, (np.zeros(1), row[None, :], np.array([ok])))[0] for row, ok in rows]
    preds = engine.predict_windows(windows, emotions, ("visual",)) if windows else []
    timings["model"] = time.perf_counter() - t0
    out = []
    K = len(emotions)
    for i, (f, (_row, ok), p) in enumerate(zip(faces, rows, preds)):
        probs = np.asarray(p.probabilities, np.float64) if ok else np.full(K, np.nan)
        vis = np.asarray(p.modality_scores.get("visual", np.full(K, np.nan)), np.float64) if ok else np.full(K, np.nan)
        out.append(FaceScores(i, tuple(float(x) for x in f.box), probs, vis, bool(ok), dict(f.aus)))
    notices = [SCENE_NOTE]
    if not faces:
        notices.append("no face found: the visual modality is masked")
    elif obs.result.n_faces > max_faces:
        notices.append(f"{obs.result.n_faces} faces found; the {max_faces} largest are analysed (--max-faces)")
    return ImageResult(
        Path(path),
        int(img.shape[1]),
        int(img.shape[0]),
        emotions,
        sorted(e for e in engine.user_added if e in emotions),
        out,
        backend=getattr(face.backend, "name", ""),
        notices=notices,
        timings=timings,
    )


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class ImageOutputPaths:
    csv: Path
    json: Path
    image: Path

    def as_dict(self) -> dict[str, str]:
        return {"csv": str(self.csv), "json": str(self.json), "image": str(self.image)}


def output_paths(out_dir: str | os.PathLike, stem: str) -> ImageOutputPaths:
    d = Path(out_dir)
    return ImageOutputPaths(d / f"{stem}.csv", d / f"{stem}.json", d / f"{stem}.annotated.png")


def result_table(result: ImageResult):
    """One row per face: ``face_id``, box, ``face_present``, ``modalities_used``, ``p_*`` and ``visual_*``."""
    import pandas as pd

    rows = []
    for f in result.faces:
        r: dict[str, Any] = {
            "face_id": f.face_id,
            "x0": f.box[0],
            "y0": f.box[1],
            "x1": f.box[2],
            "y1": f.box[3],
            "face_present": 1,
            "voice_present": 0,
            "modalities_used": "v" if f.valid else "",
        }
        r.update({f"p_{e}": f.probabilities[k] for k, e in enumerate(result.emotions)})
        r.update({f"visual_{e}": f.visual_scores[k] for k, e in enumerate(result.emotions)})
        rows.append(r)
    cols = ["face_id", "x0", "y0", "x1", "y1", "face_present", "voice_present", "modalities_used"]
    cols += [f"p_{e}" for e in result.emotions] + [f"visual_{e}" for e in result.emotions]
    return pd.DataFrame(rows, columns=cols)


def summary_doc(result: ImageResult, engine=None, outputs: ImageOutputPaths | None = None) -> dict:
    from .outputs import _jsonable, versions

    top = result.top_emotion()
    return _jsonable(
        {
            "input": str(result.path),
            "media": {"kind": "image", "width": result.width, "height": result.height},
            "modalities": {
                "requested": "v",
                "present": "" if "visual" in result.masked else "v",
                "masked": result.masked,
            },
            "scene": {"text": None, "voice": None, "note": SCENE_NOTE},
            "notices": list(result.notices),
            "emotions": list(result.emotions),
            "user_added": list(result.user_added),
            "faces": [
                {
                    "face_id": f.face_id,
                    "box": list(f.box),
                    "valid": f.valid,
                    "top": (lambda t: {"emotion": t[0], "probability": t[1]} if t else None)(f.top(result.emotions)),
                    "probabilities": dict(zip(result.emotions, f.probabilities)),
                    "visual_scores": dict(zip(result.emotions, f.visual_scores)),
                }
                for f in result.faces
            ],
            "summary": result.summary(),
            "top_emotion": {"emotion": top[0], "probability": top[1], "face_id": 0} if top else None,
            "face": {"backend": result.backend, "faces_found": len(result.faces)},
            "settings": dict(engine.describe()) if engine is not None else {},
            "versions": versions(),
            "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
            "outputs": outputs.as_dict() if outputs is not None else {},
        }
    )


def annotate(img: np.ndarray, result: ImageResult) -> np.ndarray:
    """A box and the top emotions on every face; the overlay's bars for the largest (face 0)."""
    import cv2

    from .overlay import OverlayState, render

    out = img.copy()
    if result.faces:
        f0 = result.faces[0]
        st = OverlayState(
            emotions=list(result.emotions),
            probabilities=f0.probabilities,
            user_added=set(result.user_added),
            modalities_requested=("visual",),
            modalities_used=("visual",) if f0.valid else (),
            face_box=f0.box,
            aus=f0.aus,
            face_present=True,
            mic_on=False,
        )
        render(out, st)
    else:
        render(
            out,
            OverlayState(
                emotions=list(result.emotions),
                probabilities=np.full(len(result.emotions), np.nan),
                face_present=False,
                mic_on=False,
                modalities_requested=("visual",),
                message="no face found",
            ),
        )
    scale = max(0.5, min(out.shape[:2]) / 500)
    for f in result.faces:
        x0, y0, x1, y1 = (int(round(v)) for v in f.box)
        colour = (80, 220, 80) if f.face_id == 0 else (255, 200, 60)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, max(1, int(2 * scale)), cv2.LINE_AA)
        top = f.top(result.emotions)
        label = f"#{f.face_id} " + (f"{top[0]} {top[1]:.2f}" if top else "no features")
        cv2.putText(
            out,
            label,
            (x0, max(12, y0 - 6)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            colour,
            max(1, int(1.5 * scale)),
            cv2.LINE_AA,
        )
    return out


def write_outputs(result: ImageResult, img: np.ndarray | None, paths: ImageOutputPaths, engine=None) -> list[Path]:
    """``<stem>.csv``, ``<stem>.json`` and ``<stem>.annotated.png``, each written atomically."""
    import cv2

    from .outputs import OutputError, atomic_path, write_json

    with atomic_path(paths.csv) as tmp:
        result_table(result).to_csv(tmp, index=False, float_format="%.6g")
    write_json(summary_doc(result, engine, paths), paths.json)
    img = read_image(result.path) if img is None else img
    with atomic_path(paths.image) as tmp:
        if not cv2.imwrite(str(tmp), annotate(img, result)):
            raise OutputError(f"{paths.image}: could not write the annotated image")
    return [paths.csv, paths.json, paths.image]


def index_row(result: ImageResult, paths: ImageOutputPaths | None = None) -> dict[str, Any]:
    """The ``index.csv`` row of an image (the same columns as a video's)."""
    top = result.top_emotion()
    row: dict[str, Any] = {
        "input": str(result.path),
        "status": "ok",
        "message": "; ".join(result.notices),
        "duration": 0.0,
        "has_video": 1,
        "has_audio": 0,
        "modalities": "" if "visual" in result.masked else "v",
        "masked": "; ".join(f"{m}: {why}" for m, why in result.masked.items()),
        "windows": len(result.faces),
        "top_emotion": top[0] if top else "",
        "top_mean": top[1] if top else None,
    }
    for e, s in result.summary().items():
        row[f"mean_{e}"] = s["mean"]
    if paths is not None:
        row["csv"], row["json"] = paths.csv.name, paths.json.name
    return row


__all__ = [
    "IMAGE_SUFFIXES",
    "DEFAULT_MAX_FACES",
    "FaceScores",
    "ImageResult",
    "ImageOutputPaths",
    "is_image",
    "read_image",
    "analyse_image",
    "output_paths",
    "result_table",
    "summary_doc",
    "annotate",
    "write_outputs",
    "index_row",
    "image_session",
    "check_max_faces",
]
