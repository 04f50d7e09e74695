"""Face backends: one BGR frame in, one typed :class:`FaceResult` out.

A backend tracks (at most) one face per frame and reports its box, landmarks,
head pose and named action-unit (AU) estimates. Two backends exist:

``mediapipe`` (default, offline)
    MediaPipe Tasks FaceLandmarker with blendshapes; AUs derived from the 52
    blendshapes (0..1). See :mod:`feature_adapters.face_mediapipe`.
``pyfeat``
    py-feat ``Detector`` (AU probabilities 0..1). Only used when its weights
    are already on disk; see :mod:`feature_adapters.face_pyfeat`.

:func:`make_face_backend` picks one. ``"auto"`` prefers py-feat when its
weights are cached locally and otherwise falls back to MediaPipe; the reason of
a fallback is kept in ``backend.notice`` and logged as one line.

Heavy libraries (mediapipe, torch, feat) are imported only when a backend is
built.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import LivemerError

log = logging.getLogger(__name__)

FACE_KINDS = ("auto", "mediapipe", "pyfeat")


class FaceError(LivemerError, RuntimeError):
    """Base class of face-backend errors (one-line messages)."""


class FaceInputError(FaceError, ValueError):
    """A frame that is not an image (wrong dtype, shape or type)."""


class FaceBackendUnavailable(FaceError):
    """A backend cannot be built here (library or weights missing)."""


@dataclass
class FaceResult:
    """What a face backend reports for one frame.

    ``box`` is ``(x0, y0, x1, y1)`` in pixels of the input frame.
    ``landmarks`` is ``(N, 3)`` (MediaPipe: 478 points, x/y in pixels, z in
    the same pixel scale as x) or ``(N, 2)`` (py-feat: 68 points).
    ``head_pose`` is ``(yaw, pitch, roll)`` in degrees; see
    :func:`feature_adapters.face_mediapipe.head_pose_from_matrix` for the
    sign convention. ``aus`` maps FACS names (``"AU01"``, ``"AU12"``...) to
    intensities on the backend's own scale (0..1 for both backends here);
    put them on a common scale with :class:`feature_adapters.facet.FacetAdapter`.
    """

    face_found: bool
    timestamp_ms: int = 0
    box: tuple[float, float, float, float] | None = None
    landmarks: np.ndarray | None = None
    head_pose: tuple[float, float, float] | None = None
    aus: dict[str, float] = field(default_factory=dict)
    blendshapes: dict[str, float] = field(default_factory=dict)
    n_faces: int = 0
    backend: str = ""
    #: The other faces found in the frame (a backend asked for several), largest first; this result is the
    #: largest face. Each is a FaceResult of its own (``others`` empty).
    others: list[FaceResult] = field(default_factory=list)

    def faces(self) -> list[FaceResult]:
        """Every face found in the frame, largest first (empty when none)."""
        return [self, *self.others] if self.face_found else []

    @property
    def yaw(self) -> float:
        return float("nan") if self.head_pose is None else float(self.head_pose[0])

    @property
    def pitch(self) -> float:
        return float("nan") if self.head_pose is None else float(self.head_pose[1])

    @property
    def roll(self) -> float:
        return float("nan") if self.head_pose is None else float(self.head_pose[2])


def bgr_to_rgb(frame_bgr: object) -> np.ndarray:
    """Validate an OpenCV frame and return a C-contiguous RGB uint8 copy.

    Accepts ``(H, W, 3)`` BGR, ``(H, W, 4)`` BGRA (alpha dropped) and
    ``(H, W)`` grey frames. Anything else raises :class:`FaceInputError`.
    """
    if not isinstance(frame_bgr, np.ndarray):
        raise FaceInputError(f"face frame: expected a numpy BGR uint8 image, got {type(frame_bgr).__name__}")
    if frame_bgr.dtype != np.uint8:
        raise FaceInputError(f"face frame: expected dtype uint8 (BGR from OpenCV), got {frame_bgr.dtype}")
    if frame_bgr.ndim == 2:
        frame_bgr = frame_bgr[:, :, None].repeat(3, axis=2)
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] not in (3, 4):
        raise FaceInputError(f"face frame: expected shape (H, W, 3) BGR, got {tuple(frame_bgr.shape)}")
    if frame_bgr.shape[0] < 2 or frame_bgr.shape[1] < 2:
        raise FaceInputError(f"face frame: image too small {tuple(frame_bgr.shape[:2])}")
    try:  # OpenCV's SIMD swap is ~20x faster than a strided numpy copy
        import cv2

        code = cv2.COLOR_BGRA2RGB if frame_bgr.shape[2] == 4 else cv2.COLOR_BGR2RGB
        return cv2.cvtColor(np.ascontiguousarray(frame_bgr), code)
    except ImportError:  # pragma: no cover - opencv is a dependency
        return np.ascontiguousarray(frame_bgr[:, :, 2::-1])


class FaceBackend(ABC):
    """A face tracker. Use as a context manager or call :meth:`close`.

    ``name`` is the backend kind (``"mediapipe"``, ``"pyfeat"``) and doubles as
    the calibration source of :class:`feature_adapters.facet.FacetAdapter`.
    ``notice`` is a one-line reason when the factory fell back to this backend.
    """

    name: str = "base"

    def __init__(self) -> None:
        self.notice: str | None = None
        self._last_ts: int | None = None
        self._closed = False

    def _monotonic_ts(self, timestamp_ms: float) -> int:
        """Integer timestamp, bumped so it strictly increases across calls."""
        try:
            ts_f = float(timestamp_ms)
        except (TypeError, ValueError):
            ts_f = math.nan
        if not math.isfinite(ts_f):
            raise FaceInputError(f"face frame: timestamp must be a finite number of ms, got {timestamp_ms!r}")
        ts = int(round(ts_f))
        if self._last_ts is not None and ts <= self._last_ts:
            ts = self._last_ts + 1
        self._last_ts = ts
        return ts

    def process(self, frame_bgr: np.ndarray, timestamp_ms: float) -> FaceResult:
        """Analyse one BGR uint8 frame taken at ``timestamp_ms``."""
        if self._closed:
            raise FaceError(f"face backend '{self.name}' is closed")
        rgb = bgr_to_rgb(frame_bgr)
        ts = self._monotonic_ts(timestamp_ms)
        result = self._process_rgb(rgb, ts)
        result.timestamp_ms = int(round(float(timestamp_ms)))
        result.backend = self.name
        return result

    def process_many(self, frames_bgr: Iterable[np.ndarray], timestamps_ms: Sequence[float]) -> list[FaceResult]:
        """Analyse frames in order; ``timestamps_ms`` gives one time per frame."""
        frames = list(frames_bgr)
        if len(frames) != len(timestamps_ms):
            raise FaceInputError(f"face frames: {len(frames)} frames but {len(timestamps_ms)} timestamps")
        return [self.process(f, t) for f, t in zip(frames, timestamps_ms)]

    @abstractmethod
    def _process_rgb(self, rgb: np.ndarray, timestamp_ms: int) -> FaceResult:
        """Backend work on a validated RGB frame with a strictly increasing time."""

    def _close(self) -> None:  # pragma: no cover - overridden
        pass

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> FaceBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # No __del__ closing the backend: MediaPipe's close() joins its graph threads, which deadlocked
    # when a garbage collection ran it on one of those threads. Callers close explicitly (or use
    # ``with``); the native objects free their own resources when the process ends.


def make_face_backend(kind: str = "auto", **kwargs: object) -> FaceBackend:
    """Build a face backend: ``"auto"``, ``"mediapipe"`` or ``"pyfeat"``.

    ``"auto"`` and ``"pyfeat"`` use py-feat only when its weights are already
    on disk (checked offline, never downloads); otherwise they fall back to
    MediaPipe, set ``backend.notice`` to a one-line reason and log it
    (warning for an explicit ``"pyfeat"``, info for ``"auto"``). Extra keyword
    arguments go to the backend's constructor.
    """
    kind = (kind or "auto").strip().lower()
    mp_kwargs = {"num_faces": int(kwargs.pop("num_faces"))} if "num_faces" in kwargs else {}  # MediaPipe only
    if kind not in FACE_KINDS:
        raise ValueError(f"face backend: unknown kind '{kind}', expected one of {', '.join(FACE_KINDS)}")
    from .face_mediapipe import MediaPipeFaceBackend

    if kind == "mediapipe":
        return MediaPipeFaceBackend(**kwargs, **mp_kwargs)  # type: ignore[arg-type]

    from .face_pyfeat import PyFeatFaceBackend, pyfeat_weights_status

    ok, detail = pyfeat_weights_status()
    reason = detail
    if ok:
        try:
            return PyFeatFaceBackend(**kwargs)  # type: ignore[arg-type]
        except FaceBackendUnavailable as exc:
            reason = str(exc)
    notice = f"face backend: py-feat unavailable ({reason}); using mediapipe"
    (log.warning if kind == "pyfeat" else log.info)(notice)
    backend = MediaPipeFaceBackend(**mp_kwargs)
    backend.notice = notice
    return backend
