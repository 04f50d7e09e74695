"""Labelled face photos (``shared/data/faces``) through livemer's live face path, as training windows.

Each photo goes through what a live frame goes through: ``cv2.imread`` (BGR,
as OpenCV capture gives) -> :class:`feature_adapters.face_mediapipe.MediaPipeFaceBackend`
(FaceLandmarker; ``still=True``, IMAGE mode: a fresh detection per photo, so
no photo rides on the tracking state of the previous, unrelated one) -> the
52 blendshapes -> :func:`~feature_adapters.face_mediapipe.blendshapes_to_aus`
-> :class:`feature_adapters.facet.FacetAdapter` ``("mediapipe")``, the adapter
and calibration ``livemer.engine.Engine.visual_row`` uses live.

The backend's raw output (found, 52 blendshape scores, head pose, box) is
cached per photo with :class:`recipes.feature_cache.FeatureCache`; the cheap
adapters (AUs, Facet-35) run on every build, as in the RAVDESS recipe. Photos
with no face are excluded and counted (:func:`extract_faces`' report).

A photo is a static face with no voice and no words: its visual row fills a
live window of ``n_steps`` pseudo-steps (:func:`photo_window`; text and
acoustic absent). Visual spaces: ``facet-35`` (the default model's, as
live), ``mediapipe-blendshapes-52`` (:mod:`feature_adapters.blendshapes`),
or both side by side (:func:`visual_space`).

``python -m recipes.faces`` extracts every photo into the cache (2 worker
processes) and prints the report.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.datasets import EmotionDataset
from recipes.feature_cache import Extractor, FeatureCache, source_digest
from recipes.recipe_data import WindowSettings, windows_to_arrays

from .extraction import (
    FAILED,
    NO_FACE,
    OK,
    ExtractionReport,
    ItemStatus,
    cached_table,
    first_per_class,
    label_sets,
    one_line,
    read_labels,
    run_pool,
)

log = logging.getLogger(__name__)

SOURCES = ("muxspace", "emilmrk")
EMOTIONS = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")
FACET = "facet-35"
BLENDSHAPES = "mediapipe-blendshapes-52"
BOTH = f"{FACET}+{BLENDSHAPES}"  # feature_adapters.blendshapes.FACET35_BLENDSHAPES52_NAME
VISUAL_SPACES = (FACET, BLENDSHAPES, BOTH)


class FaceDataError(ValueError):
    """A faces folder or labels file that cannot be read (one line naming it)."""


@dataclass(frozen=True)
class FacePhoto:
    path: Path
    emotion: str
    source: str  # muxspace / emilmrk
    labeller: str  # muxspace's labelling student ('' when the source has none)
    file: str  # as in labels.csv (images/...jpg)

    @property
    def key(self) -> str:
        return f"{self.source}/{self.file}"


def read_photos(faces_root: str | Path, sources: Sequence[str] = SOURCES) -> list[FacePhoto]:
    """Every labelled photo of ``sources`` under ``faces_root`` (``shared/data/faces``), in labels.csv order."""
    root = Path(faces_root)
    return [
        FacePhoto(root / src / row["file"], row["emotion"], src, (row.get("group") or "").strip(), row["file"])
        for src in sources
        for row in read_labels(root / src / "labels.csv", EMOTIONS, FaceDataError)
    ]


def source_emotions(photos: Sequence[FacePhoto]) -> dict[str, list[str]]:
    """source -> the emotions it labels (only these are annotated for its photos)."""
    return label_sets(photos, "source", EMOTIONS)


# ----------------------------------------------------------------------------- the live face path, cached


def read_image(path: str | Path) -> np.ndarray:
    """A photo as an OpenCV BGR uint8 frame (grey photos become 3 channels, as a capture frame)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image (missing, corrupt or unknown format)")
    return img


def _photo_arrays(path: Path, backend) -> dict[str, np.ndarray]:
    """The backend's raw result for one photo: found, raw blendshape scores, head pose, box, image size."""
    img = read_image(path)
    r = backend.process(img, 0)
    names = list(r.blendshapes)
    return {
        "found": np.bool_(r.face_found),
        "n_faces": np.int32(r.n_faces),
        "blendshape_names": np.asarray(names, dtype=str).reshape(-1),
        "blendshape_scores": np.asarray([r.blendshapes[n] for n in names], np.float64).reshape(-1),
        "head_pose": np.asarray(r.head_pose if r.head_pose is not None else (np.nan,) * 3, np.float64),
        "box": np.asarray(r.box if r.box is not None else (np.nan,) * 4, np.float64),
        "size": np.asarray(img.shape[:2], np.int32),
    }


@functools.lru_cache(maxsize=1)
def face_extractor() -> Extractor:
    """Cache identity: the still-image MediaPipe backend's code, its model file, mediapipe/OpenCV versions."""
    import cv2
    import mediapipe

    from feature_adapters import face, face_mediapipe

    model = face_mediapipe.model_path()
    version = source_digest(
        face_mediapipe.MediaPipeFaceBackend,
        face.FaceBackend,
        face.bgr_to_rgb,
        face_mediapipe.head_pose_from_matrix,
        model.stat().st_size,
        mediapipe.__version__,
        cv2.__version__,
        _photo_arrays,
        read_image,
    )
    return Extractor("face-mediapipe-still", version)


class PaddingBackend:
    """A face backend that first puts a grey border of ``border`` x the photo's size on every side.

    Tight face crops (emilmrk's, some of muxspace's) leave the face detector no
    margin, as a live camera frame always has; the border gives it one. The
    reported box is moved back into the photo's own coordinates.
    """

    def __init__(self, backend, border: float, value: int = 128) -> None:
        if not 0.0 < float(border) <= 2.0:
            raise ValueError(f"photo border must be in (0, 2] of the photo's size, got {border}")
        self.backend, self.border, self.value = backend, float(border), int(value)

    def process(self, frame, timestamp_ms: float):
        import cv2

        h, w = frame.shape[:2]
        dy, dx = int(round(h * self.border)), int(round(w * self.border))
        padded = cv2.copyMakeBorder(frame, dy, dy, dx, dx, cv2.BORDER_CONSTANT, value=(self.value,) * 3)
        r = self.backend.process(padded, timestamp_ms)
        if r.box is not None:
            x0, y0, x1, y1 = r.box
            r.box = (x0 - dx, y0 - dy, x1 - dx, y1 - dy)
        if r.landmarks is not None:
            r.landmarks = r.landmarks - np.array([dx, dy, 0.0][: r.landmarks.shape[1]], np.float32)
        return r


def photo_extractor(border: float = 0.0) -> Extractor:
    """:func:`face_extractor`, or with a border (:class:`PaddingBackend`) its own entries."""
    if not border:
        return face_extractor()
    return Extractor(
        f"face-mediapipe-still-border{round(float(border) * 100):d}",
        source_digest(face_extractor().version, PaddingBackend, float(border)),
    )


_BACKEND = None


def _backend():
    """One still-image backend per process (built on first use)."""
    global _BACKEND
    if _BACKEND is None:
        from feature_adapters.face import make_face_backend

        _BACKEND = make_face_backend("mediapipe", still=True)
    return _BACKEND


def extract_photo(path: str, cache_root: str | None = None, border: float = 0.0) -> ItemStatus:
    """Cache one photo's face analysis; never raises (a failure is an ``ItemStatus`` with the reason)."""
    t0 = c0 = 0.0
    try:
        cache = FeatureCache(cache_root)
        ex = photo_extractor(border)
        got = cache.load(path, ex)
        if got is not None:
            return ItemStatus(path, OK if bool(got["found"]) else NO_FACE, cached=True)
        t0, c0 = time.perf_counter(), time.process_time()
        got = _photo_arrays(Path(path), PaddingBackend(_backend(), border) if border else _backend())
        cache.save(path, ex, got)
        status = OK if bool(got["found"]) else NO_FACE
        return ItemStatus(path, status, time.perf_counter() - t0, cpu_s=time.process_time() - c0)
    except Exception as exc:  # noqa: BLE001 - any failure of one photo is reported in one line and skipped
        t1, c1 = (time.perf_counter(), time.process_time()) if t0 else (0.0, 0.0)
        return ItemStatus(path, FAILED, t1 - t0, False, one_line(exc), c1 - c0)


def extract_faces(
    photos: Sequence[FacePhoto],
    *,
    cache: FeatureCache | None = None,
    workers: int = 1,
    progress: bool = False,
    border: float = 0.0,
    name: str = "faces",
) -> ExtractionReport:
    """Fill the cache for ``photos`` (``workers`` processes); the report names no-face and failed photos.

    ``border`` > 0 analyses each photo inside a grey border of that fraction of its size (:class:`PaddingBackend`).
    """
    root = str((cache or FeatureCache()).root)
    task = functools.partial(extract_photo, cache_root=root, border=float(border))
    return run_pool(task, [str(p.path) for p in photos], name=name, workers=workers, progress=progress)


# ----------------------------------------------------------------------------- visual rows and windows


def no_face_by_class(photos: Sequence[FacePhoto], report: ExtractionReport) -> dict[tuple[str, str], tuple[int, int]]:
    """(source, emotion) -> (photos excluded: no face or unreadable, photos) of one extraction report."""
    bad = {i.key for i in report.items if i.status != OK}
    out: dict[tuple[str, str], list[int]] = {}
    for p in photos:
        c = out.setdefault((p.source, p.emotion), [0, 0])
        c[0] += str(p.path) in bad
        c[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def photo_table(
    photos: Sequence[FacePhoto],
    *,
    cache: FeatureCache | None = None,
    workers: int = 1,
    progress: bool = False,
    border: float = 0.0,
    name: str = "faces",
) -> tuple[dict[str, np.ndarray], ExtractionReport]:
    """The cached face analyses of ``photos`` stacked in one table, and the extraction report.

    Rows follow ``photos``: ``status`` (ok / no_face / failed), ``message``, ``scores``
    (N, 52) raw blendshape scores in :data:`feature_adapters.blendshapes.BLENDSHAPE_NAMES`
    order (0 where absent), ``head_pose`` (N, 3; NaN without a face), ``box``, ``size``,
    ``n_faces``. The table itself is cached under the digest of all the photos'
    contents, so a second load reads one file instead of one per photo.
    """
    from feature_adapters.blendshapes import BLENDSHAPE_NAMES

    cache = cache or FeatureCache()

    def compute() -> tuple[dict[str, np.ndarray], ExtractionReport]:
        rep = extract_faces(photos, cache=cache, workers=workers, progress=progress, border=border, name=name)
        ex = photo_extractor(border)
        n = len(photos)
        t = {
            "scores": np.zeros((n, len(BLENDSHAPE_NAMES))),
            "head_pose": np.full((n, 3), np.nan),
            "box": np.full((n, 4), np.nan),
            "size": np.zeros((n, 2), np.int32),
            "n_faces": np.zeros(n, np.int32),
        }
        col = {b: j for j, b in enumerate(BLENDSHAPE_NAMES)}
        for i, (p, st) in enumerate(zip(photos, rep.items)):
            if st.status == FAILED:
                continue
            e = cache.load(p.path, ex)
            if e is None:  # written a moment ago; unreadable now only if the disk failed
                raise RuntimeError(f"{p.path}: face analysis missing from the cache after extraction")
            for b, v in zip(e["blendshape_names"].tolist(), e["blendshape_scores"].tolist()):
                if b in col:
                    t["scores"][i, col[b]] = v
            t["head_pose"][i], t["box"][i], t["size"][i], t["n_faces"][i] = (
                e["head_pose"],
                e["box"],
                e["size"],
                e["n_faces"],
            )
        return t, rep

    ex_p = photo_extractor(border)
    ex_t = Extractor(f"{ex_p.name}-table", ex_p.version)
    return cached_table(cache, [p.path for p in photos], ex_t, compute, name)


def visual_space(name: str = FACET):
    """The :class:`feature_adapters.spaces.FeatureSpace` of a visual space name (:data:`VISUAL_SPACES`)."""
    from feature_adapters.blendshapes import visual_space as space_of

    return space_of(name)


def visual_rows(table: dict[str, np.ndarray], space: str = FACET) -> np.ndarray:
    """(N, d) visual rows of stacked face analyses (:func:`photo_table` rows, all with a face), in ``space``.

    Facet-35 is computed exactly as live (``Engine.visual_row``): the backend's
    blendshapes -> ``blendshapes_to_aus`` -> ``FacetAdapter("mediapipe")`` with the head pose.
    """
    from feature_adapters.blendshapes import BLENDSHAPE_NAMES, blendshape_row
    from feature_adapters.face_mediapipe import blendshapes_to_aus
    from feature_adapters.facet import FacetAdapter

    scores = np.asarray(table["scores"], np.float64).reshape(-1, len(BLENDSHAPE_NAMES))
    shapes = [dict(zip(BLENDSHAPE_NAMES, r)) for r in scores.tolist()]
    parts = []
    if space in (FACET, BOTH):
        poses = [tuple(p) if np.isfinite(p).all() else None for p in np.asarray(table["head_pose"], np.float64)]
        parts.append(FacetAdapter("mediapipe").adapt_batch([blendshapes_to_aus(b) for b in shapes], poses))
    if space in (BLENDSHAPES, BOTH):
        parts.append(np.stack([blendshape_row(b) for b in shapes]) if shapes else np.zeros((0, 52), np.float32))
    if not parts:
        visual_space(space)  # raises for an unknown name
    return np.concatenate(parts, axis=1).astype(np.float32)


def photo_window(row: np.ndarray, settings: WindowSettings = WindowSettings(), duration: float | None = None):  # noqa: B008
    """The live window of a static face shown for ``duration`` seconds with no voice and no words.

    The default duration (``n_steps * pseudo_step``) fills the window: every step
    is a pseudo-step whose visual value is the photo's row.
    """
    from feature_adapters.align import windows_at

    row = np.asarray(row, np.float32).reshape(-1)
    dur = float(settings.n_steps * settings.pseudo_step if duration is None else duration)
    v_times = np.arange(0.0, dur, 1.0 / settings.face_fps)
    visual = (v_times, np.repeat(row[None, :], len(v_times), axis=0), None)
    from recipes.recipe_data import DIMS

    return windows_at(
        [],
        None,
        visual,
        [dur],
        t_start=0.0,
        n=settings.n_steps,
        pseudo_step=settings.pseudo_step,
        tolerance=settings.tolerance,
        text_dim=DIMS[0],
        acoustic_dim=DIMS[1],
        visual_dim=row.size,
    )[0]


def build_faces(
    photos: Sequence[FacePhoto],
    table: dict[str, np.ndarray],
    *,
    space: str = FACET,
    settings: WindowSettings = WindowSettings(),  # noqa: B008
    duration: float | None = None,
    source_labels: dict[str, Sequence[str]] | None = None,
    name: str = "faces",
) -> EmotionDataset:
    """One window per photo (all with a face; ``table``: their :func:`photo_table` rows). Labels: each
    source annotates only its own emotions (``source_labels``, default :func:`source_emotions` of ``photos``).

    Groups: ``source``, ``labeller`` (muxspace's student; '' for emilmrk), ``photo`` (its key).
    """
    if len(photos) != len(table["scores"]):
        raise ValueError(f"{len(photos)} photos but {len(table['scores'])} face analyses")
    rows = visual_rows(table, space)
    d_v = visual_space(space).dim
    per_source = {k: list(v) for k, v in (source_labels or source_emotions(photos)).items()}
    names = [e for e in EMOTIONS if any(e in v for v in per_source.values())]
    if not photos:
        names = list(EMOTIONS)
    # every photo gets the same steps (pseudo-steps over a static face): build them once with the live aligner,
    # then put each photo's row on the observed steps (equal to photo_window(row) for every row, see the tests)
    template = photo_window(np.ones(d_v, np.float32), settings, duration)
    arr = windows_to_arrays([template])
    n = len(photos)
    vis = (arr["visual_mask"][0][None, :, None] * rows[:, None, :]).astype(np.float32)
    y = np.zeros((n, len(names)), np.float32)
    lm = np.zeros((n, len(names)), bool)
    for i, p in enumerate(photos):
        y[i, names.index(p.emotion)] = 1.0
        lm[i] = [e in per_source[p.source] for e in names]
    d_t, d_a = arr["text"].shape[2], arr["acoustic"].shape[2]
    rep = lambda k: np.broadcast_to(arr[k][0][None], (n,) + arr[k].shape[1:])  # noqa: E731
    return EmotionDataset(
        text=np.broadcast_to(np.zeros((1, 1, 1), np.float32), (n, settings.n_steps, d_t)),
        acoustic=np.broadcast_to(np.zeros((1, 1, 1), np.float32), (n, settings.n_steps, d_a)),
        visual=vis,
        labels=y,
        emotions=names,
        ids=[p.key for p in photos],
        step_masks={"text": rep("text_mask"), "acoustic": rep("acoustic_mask"), "visual": rep("visual_mask")},
        modality_mask=rep("modality_mask"),
        label_mask=lm,
        name=name,
        groups={
            "source": [p.source for p in photos],
            "labeller": [p.labeller for p in photos],
            "photo": [p.key for p in photos],
        },
    )


def load_faces(
    shared: str | Path,
    *,
    sources: Sequence[str] = SOURCES,
    space: str = FACET,
    settings: WindowSettings = WindowSettings(),  # noqa: B008
    duration: float | None = None,
    cache: FeatureCache | None = None,
    workers: int = 1,
    limit: int | None = None,
    border: float = 0.0,
    report: list | None = None,
    name: str = "faces",
) -> EmotionDataset:
    """Face-photo windows of ``sources`` from ``shared`` (``../shared``); features from the cache, extracted on a miss.

    Photos with no face or that cannot be read are excluded (one warning line with
    the counts; ``report``, when given, receives the :class:`ExtractionReport`).
    ``limit`` keeps the first N photos of each (source, emotion) (quick runs). ``border`` > 0
    analyses each photo inside a grey border of that fraction of its size (:class:`PaddingBackend`;
    its own cache entries).
    """
    cache = cache or FeatureCache()
    photos = read_photos(Path(shared) / "data" / "faces", sources)
    labels = source_emotions(photos)
    if limit:
        photos = first_per_class(photos, limit, lambda p: (p.source, p.emotion))
    table, rep = photo_table(photos, cache=cache, workers=workers, border=border, name=name)
    if report is not None:
        report.append(rep)
    c = rep.counts()
    if c[NO_FACE] or c[FAILED]:
        log.warning(
            "%s: %d of %d photos excluded (%d with no face found, %d unreadable)",
            name,
            c[NO_FACE] + c[FAILED],
            len(photos),
            c[NO_FACE],
            c[FAILED],
        )
    ok = np.flatnonzero(table["status"] == OK)
    keep = [photos[i] for i in ok]
    table = {k: v[ok] for k, v in table.items()}
    return build_faces(keep, table, space=space, settings=settings, duration=duration, source_labels=labels, name=name)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m recipes.faces``: run every photo through the live face path into the feature cache."""
    import argparse
    import sys

    from .extraction import extract_by_group

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sources", default=",".join(SOURCES))
    ap.add_argument(
        "--border",
        type=float,
        default=0.0,
        help="analyse each photo inside a grey border of this fraction of its size (default 0: the photo as it is)",
    )
    ap.add_argument("--report", type=Path, default=None, help="write the report as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        photos = read_photos(args.shared / "data" / "faces", [s for s in args.sources.split(",") if s])
    except FaceDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    extract = functools.partial(extract_faces, border=args.border)
    reports = extract_by_group(photos, lambda p: p.source, extract, "faces", workers=args.workers, report=args.report)
    for rep in reports:
        counts = no_face_by_class(photos, rep)
        print(
            f"{rep.name} excluded per emotion:",
            ", ".join(f"{e} {n}/{t}" for (s, e), (n, t) in counts.items() if f"faces/{s}" == rep.name and t),
        )
    if set(args.sources.split(",")) == set(SOURCES):  # build the one-file table the default loader reads
        t0 = time.perf_counter()
        ds = load_faces(args.shared, border=args.border)
        print(f"{ds.summary()}\nload_faces (table built): {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
