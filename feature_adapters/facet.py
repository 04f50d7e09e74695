"""Facet-35: the CMU-MOSEI FACET 4.2 visual feature space, and adapters into it.

Layout (35 columns, in order; the ``CMU_MOSEI_VisualFacet42`` computational
sequence and the 35-d ``video`` features of MulT / the paper's code):

* 0-9   emotion evidences: Anger, Contempt, Disgust, Joy, Fear, Baseline
  (FACET's "neutral"), Sadness, Surprise, Confusion, Frustration;
* 10-29 action-unit evidences: AU1 AU2 AU4 AU5 AU6 AU7 AU9 AU10 AU12 AU14 AU15
  AU17 AU18 AU20 AU23 AU24 AU25 AU26 AU28 AU43;
* 30-31 Has_Glasses, Is_Male;
* 32-34 head pose Pitch, Yaw, Roll (degrees).

Source: the ``dimension names`` in the metadata of the CMU-MultimodalSDK
``.csd`` (quoted in yaohungt/Multimodal-Transformer issue #29) and the
maintainer's list of the raw ``FACET_4_2`` CSV columns (A2Zadeh,
CMU-MultimodalSDK issue #239: ``frame, timestamp`` then these 35). The two
agree; confidence in the order is high. See ``docs/facet35.md``.

FACET "evidence" is the log10 odds that an expression is present (real FACET
exports run from about -7 to +4; a neutral face sits well below 0 for most
AUs). :class:`FacetAdapter` puts AU intensities of any source — MediaPipe
blendshape AUs (0..1), py-feat AU probabilities (0..1), OpenFace ``AUxx_r``
intensities (0..5) / ``AUxx_c`` presences — on that one scale, so a model
trained on features from one source runs on features from another:

1. **Per source, per AU: an activation ``u``.** ``u = scale * x + offset``
   with ``scale = 1 / (expressive - neutral)`` and ``offset = -neutral *
   scale``: ``u = 0`` at the source's *neutral talking face* level and ``u =
   1`` at its *typical posed expression* level (happy / angry / disgust /
   surprise). The two levels per source come from real data
   (:data:`OPENFACE_ANCHORS`, :data:`MEDIAPIPE_ANCHORS`; derivation in
   :mod:`feature_adapters.face_calibrate`); py-feat's are nominal
   (:data:`PYFEAT_ANCHORS`). ``u`` is clipped to :data:`U_RANGE`; a missing
   or NaN AU counts as ``u = 0``.
2. **Common map from ``u`` to evidence.** ``evidence = n + u * (E_EXPRESSIVE
   - n)`` where ``n`` is the column's FACET evidence on a neutral face
   (:data:`FACET_NEUTRAL`, medians of the real FACET export bundled with
   py-feat) and ``E_EXPRESSIVE = 2.0`` (odds 100:1).
3. **Emotion evidences** have no direct source: each is derived from the mean
   ``u`` of its EMFACS prototype AUs (:data:`EMOTION_PROTOTYPES`) through the
   same map; Baseline falls from its neutral level to :data:`E_NOT_NEUTRAL` as
   the strongest prototype activation goes from 0 to 1.
4. **Filled columns**: Has_Glasses and Is_Male are constant 0.0. With
   ``common_only=True`` (default) only the AUs that *every* source measures
   (:data:`COMMON_AUS`) are used and the head-pose columns are 0, because the
   RAVDESS OpenFace training features carry no pose; other AU columns stay at
   their FACET neutral level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import LivemerError
from .spaces import FeatureSpace

EMOTION_COLUMNS: tuple[str, ...] = (
    "Anger",
    "Contempt",
    "Disgust",
    "Joy",
    "Fear",
    "Baseline",
    "Sadness",
    "Surprise",
    "Confusion",
    "Frustration",
)
#: FACET's 20 AUs in FACET-35 column order, as our ``AUxx`` names.
FACET_AUS: tuple[str, ...] = (
    "AU01",
    "AU02",
    "AU04",
    "AU05",
    "AU06",
    "AU07",
    "AU09",
    "AU10",
    "AU12",
    "AU14",
    "AU15",
    "AU17",
    "AU18",
    "AU20",
    "AU23",
    "AU24",
    "AU25",
    "AU26",
    "AU28",
    "AU43",
)
AU_COLUMNS: tuple[str, ...] = tuple(f"AU{int(a[2:])}" for a in FACET_AUS)
OTHER_COLUMNS: tuple[str, ...] = ("Has_Glasses", "Is_Male", "Pitch", "Yaw", "Roll")
FACET35_COLUMNS: tuple[str, ...] = EMOTION_COLUMNS + AU_COLUMNS + OTHER_COLUMNS

_EMO = {c: i for i, c in enumerate(EMOTION_COLUMNS)}
_AU0 = len(EMOTION_COLUMNS)
_PITCH, _YAW, _ROLL = (FACET35_COLUMNS.index(c) for c in ("Pitch", "Yaw", "Roll"))

SOURCES: tuple[str, ...] = ("mediapipe", "pyfeat", "openface")

#: OpenFace 2 columns of the RAVDESS clip-level file (columns 0-34), in order.
OPENFACE_COLUMNS: tuple[str, ...] = tuple(
    f"AU{n}_r" for n in "01 02 04 05 06 07 09 10 12 14 15 17 20 23 25 26 45".split()
) + tuple(f"AU{n}_c" for n in "01 02 04 05 06 07 09 10 12 14 15 17 20 23 25 26 28 45".split())

#: Which input key each source's FACET AU is read from. AU43 (eyes closed) is
#: read from blink AU45 for MediaPipe (eyeBlink) and OpenFace; OpenFace has no
#: AU28 intensity, so its presence ``AU28_c`` is used.
SOURCE_INPUTS: dict[str, dict[str, str]] = {
    "mediapipe": {a: a for a in FACET_AUS},
    "pyfeat": {a: a for a in FACET_AUS},
    "openface": {**{a: f"{a}_r" for a in FACET_AUS}, "AU28": "AU28_c", "AU43": "AU45_r"},
}

#: AUs each source really measures. MediaPipe: ``noseSneer`` (AU09) is inert
#: in the shipped model. py-feat: no AU18. OpenFace (RAVDESS columns): no AU18,
#: no AU24.
MEASURED_AUS: dict[str, frozenset[str]] = {
    "mediapipe": frozenset(FACET_AUS) - {"AU09"},
    "pyfeat": frozenset(FACET_AUS) - {"AU18"},
    "openface": frozenset(FACET_AUS) - {"AU18", "AU24"},
}
#: AUs measured by every source: the only ones used with ``common_only=True``.
COMMON_AUS: tuple[str, ...] = tuple(a for a in FACET_AUS if all(a in m for m in MEASURED_AUS.values()))

#: Median FACET evidence on a neutral face, per FACET-35 column: the real
#: Emotient FACET export ``iMotions_Test_v6.txt`` shipped with py-feat
#: (304 frames with a face; "Baseline" is its "Neutral Evidence"). Derived by
#: :func:`feature_adapters.face_calibrate.facet_neutral_levels`.
FACET_NEUTRAL: dict[str, float] = {
    "Anger": -3.94,
    "Contempt": -0.6,
    "Disgust": -4.13,
    "Joy": -5.1,
    "Fear": -3.25,
    "Baseline": 2.72,
    "Sadness": -1.74,
    "Surprise": -2.3,
    "Confusion": -1.69,
    "Frustration": -1.96,
    "AU1": -0.36,
    "AU2": -0.29,
    "AU4": -1.58,
    "AU5": -2.2,
    "AU6": -2.49,
    "AU7": -1.75,
    "AU9": -4.62,
    "AU10": -1.58,
    "AU12": -2.41,
    "AU14": -1.09,
    "AU15": -2.09,
    "AU17": -0.98,
    "AU18": -0.93,
    "AU20": -1.65,
    "AU23": -1.17,
    "AU24": -0.94,
    "AU25": -1.66,
    "AU26": -1.0,
    "AU28": -2.94,
    "AU43": -1.54,
}

#: ``(neutral, expressive)`` per OpenFace column, RAVDESS clip means: median of
#: the neutral clips / largest mean over the strong happy, angry, disgust and
#: surprised clips (:func:`feature_adapters.face_calibrate.openface_anchors`).
OPENFACE_ANCHORS: dict[str, tuple[float, float]] = {
    "AU01_r": (0.255, 0.75),
    "AU02_r": (0.289, 1.079),
    "AU04_r": (0.019, 1.677),
    "AU05_r": (0.254, 1.242),
    "AU06_r": (0.0, 1.453),
    "AU07_r": (0.132, 2.072),
    "AU09_r": (0.062, 1.628),
    "AU10_r": (0.0, 1.717),
    "AU12_r": (0.072, 2.186),
    "AU14_r": (0.07, 1.236),
    "AU15_r": (0.246, 1.096),
    "AU17_r": (0.039, 0.538),
    "AU20_r": (0.218, 0.607),
    "AU23_r": (0.051, 0.084),
    "AU25_r": (0.678, 2.463),
    "AU26_r": (0.735, 1.391),
    "AU45_r": (0.439, 0.887),
    "AU01_c": (0.0, 0.449),
    "AU02_c": (0.0, 0.421),
    "AU04_c": (0.0, 0.877),
    "AU05_c": (0.634, 0.643),
    "AU06_c": (0.0, 0.834),
    "AU07_c": (0.0, 0.824),
    "AU09_c": (0.0, 0.733),
    "AU10_c": (0.0, 0.902),
    "AU12_c": (0.0, 0.957),
    "AU14_c": (0.19, 0.844),
    "AU15_c": (0.356, 0.824),
    "AU17_c": (0.0, 0.296),
    "AU20_c": (0.0, 0.428),
    "AU23_c": (0.0, 0.162),
    "AU25_c": (0.509, 0.913),
    "AU26_c": (0.783, 0.907),
    "AU28_c": (0.0, 0.047),
    "AU45_c": (0.373, 0.666),
}

#: ``(neutral, expressive)`` per AU of the MediaPipe backend: median over the
#: GRID clips' frames / largest value over py-feat's happy, angry, disgust and
#: surprise photos (:func:`feature_adapters.face_calibrate.mediapipe_anchors`).
MEDIAPIPE_ANCHORS: dict[str, tuple[float, float]] = {
    "AU01": (0.008, 0.479),
    "AU02": (0.043, 0.255),
    "AU04": (0.054, 0.405),
    "AU05": (0.006, 0.048),
    "AU06": (0.019, 0.671),
    "AU07": (0.323, 0.558),
    "AU09": (0.0, 0.0),
    "AU10": (0.0, 0.714),
    "AU12": (0.001, 0.808),
    "AU14": (0.012, 0.053),
    "AU15": (0.0, 0.133),
    "AU16": (0.002, 0.285),
    "AU17": (0.007, 0.3),
    "AU18": (0.015, 0.186),
    "AU20": (0.0, 0.167),
    "AU22": (0.004, 0.082),
    "AU23": (0.06, 0.114),
    "AU24": (0.06, 0.114),
    "AU25": (0.068, 0.52),
    "AU26": (0.101, 0.524),
    "AU28": (0.047, 0.329),
    "AU43": (0.103, 0.23),
    "AU45": (0.103, 0.23),
}

#: py-feat AU probabilities: nominal levels, NOT measured (py-feat's weights
#: cannot be obtained here). Re-derive with face_calibrate once they can.
PYFEAT_ANCHORS: dict[str, tuple[float, float]] = {a: (0.2, 0.8) for a in FACET_AUS}

#: Smallest ``expressive - neutral`` span per input scale; a smaller measured
#: span (an AU the reference expressions barely move) is widened to this so
#: noise is not blown up. MediaPipe/py-feat are 0..1; OpenFace ``_r`` 0..5,
#: ``_c`` 0..1 (fraction of frames).
MIN_SPAN: dict[str, float] = {"mediapipe": 0.05, "pyfeat": 0.1, "openface_r": 0.25, "openface_c": 0.1}

E_EXPRESSIVE = 2.0
E_NOT_NEUTRAL = -2.0
U_RANGE = (-1.0, 2.0)

#: EMFACS-style prototypes (Ekman & Friesen; Friesen & Ekman 1983) restricted
#: to FACET's AUs. Contempt is unilateral R12+R14 in EMFACS; sides are not
#: told apart here, so AU14 alone. Confusion and Frustration are FACET's own
#: classifiers with no published AU recipe: brow lowering with lid tightening
#: (Confusion) and with chin raise / lip press (Frustration) are our
#: approximations (low confidence).
EMOTION_PROTOTYPES: dict[str, tuple[str, ...]] = {
    "Anger": ("AU04", "AU05", "AU07", "AU23"),
    "Contempt": ("AU14",),
    "Disgust": ("AU09", "AU10", "AU15", "AU17"),
    "Joy": ("AU06", "AU12"),
    "Fear": ("AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"),
    "Sadness": ("AU01", "AU04", "AU15"),
    "Surprise": ("AU01", "AU02", "AU05", "AU26"),
    "Confusion": ("AU04", "AU07"),
    "Frustration": ("AU04", "AU17", "AU23", "AU24"),
}

#: Constant fills of the columns no source measures.
FILL_CONSTANT: dict[str, float] = {"Has_Glasses": 0.0, "Is_Male": 0.0}
_FILL_IDX = np.array([FACET35_COLUMNS.index(c) for c in FILL_CONSTANT])
_FILL_VALUES = np.array(list(FILL_CONSTANT.values()))


def _filled_description(measured: frozenset[str], use_pose: bool, source: str) -> dict[str, str]:
    filled: dict[str, str] = {}
    for emo, aus in EMOTION_PROTOTYPES.items():
        used = [f"AU{int(a[2:])}" for a in aus if a in measured]
        filled[emo] = (
            f"derived: mean activation of {'+'.join(used) or 'no AU'} (EMFACS prototype) on the evidence scale"
        )
    filled["Baseline"] = "derived: neutral level minus the strongest emotion-prototype activation"
    for a, col in zip(FACET_AUS, AU_COLUMNS):
        if a not in measured:
            level = FACET_NEUTRAL.get(col, 0.0)
            filled[col] = f"constant {level:+.2f} (FACET neutral level; not measured by every source)"
    filled["Has_Glasses"] = "constant 0.0 (no glasses detector)"
    filled["Is_Male"] = "constant 0.0 (no gender estimate)"
    if not use_pose:
        for c in ("Pitch", "Yaw", "Roll"):
            filled[c] = "constant 0.0 (common_only: the RAVDESS OpenFace features carry no head pose)"
    return filled


class FacetInputError(LivemerError, ValueError):
    """Input of the wrong shape or kind for the Facet adapter (one-line message)."""


@dataclass(frozen=True)
class AUCalibration:
    """How one source's AU becomes a FACET AU evidence column.

    ``u = clip(scale * x + offset, *U_RANGE)`` and ``evidence = facet_neutral +
    u * (E_EXPRESSIVE - facet_neutral)``; ``used`` is False when the column is
    held at ``facet_neutral``.
    """

    au: str
    input_key: str
    neutral: float
    expressive: float
    scale: float
    offset: float
    facet_neutral: float
    used: bool


class FacetAdapter:
    """Map one source's AU intensities (and head pose) into the Facet-35 space.

    ``source`` is ``"mediapipe"``, ``"pyfeat"`` or ``"openface"`` (a face
    backend's ``name`` works). ``common_only=True`` (default) keeps the
    features of all sources identical in kind: only :data:`COMMON_AUS` are
    used and head pose is 0 — use it for a checkpoint trained on the RAVDESS
    OpenFace features. ``common_only=False`` uses everything the source
    measures, head pose included (e.g. a model trained on real FACET features).
    """

    def __init__(self, source: str, *, common_only: bool = True) -> None:
        source = str(source).strip().lower()
        if source not in SOURCES:
            raise FacetInputError(f"facet adapter: unknown source '{source}', expected one of {', '.join(SOURCES)}")
        self.source = source
        self.common_only = bool(common_only)
        self.use_head_pose = not self.common_only
        measured = MEASURED_AUS[source]
        if self.common_only:
            measured = measured & frozenset(COMMON_AUS)
        self.measured = frozenset(measured)
        self.calibrations: dict[str, AUCalibration] = {}
        for a, col in zip(FACET_AUS, AU_COLUMNS):
            key = SOURCE_INPUTS[source][a]
            neutral, expressive, min_span = self._anchor(key)
            span = max(expressive - neutral, min_span)
            scale = 1.0 / span
            self.calibrations[a] = AUCalibration(
                au=a,
                input_key=key,
                neutral=neutral,
                expressive=neutral + span,
                scale=scale,
                offset=-neutral * scale,
                facet_neutral=FACET_NEUTRAL[col],
                used=a in self.measured,
            )
        cal = [self.calibrations[a] for a in FACET_AUS]
        self._keys = [c.input_key for c in cal]
        self._alt_keys = [a if source == "openface" else None for a in FACET_AUS]
        self._scale = np.array([c.scale for c in cal])
        self._offset = np.array([c.offset for c in cal])
        self._used = np.array([c.used for c in cal])
        self._au_neutral = np.array([c.facet_neutral for c in cal])
        proto = np.zeros((len(FACET_AUS), len(EMOTION_PROTOTYPES)))
        for j, aus in enumerate(EMOTION_PROTOTYPES.values()):
            idx = [FACET_AUS.index(a) for a in aus if a in self.measured]
            if idx:
                proto[idx, j] = 1.0 / len(idx)
        self._proto = proto
        self._emo_names = tuple(EMOTION_PROTOTYPES)
        self._emo_idx = np.array([_EMO[e] for e in self._emo_names])
        self._emo_neutral = np.array([FACET_NEUTRAL[e] for e in self._emo_names])
        self.filled = _filled_description(self.measured, self.use_head_pose, source)

    def _anchor(self, key: str) -> tuple[float, float, float]:
        """(neutral, expressive, min span) of an input; (0, 1) for an input the source lacks."""
        if self.source == "openface":
            table, min_span = OPENFACE_ANCHORS, MIN_SPAN["openface_c" if key.endswith("_c") else "openface_r"]
        else:
            table = MEDIAPIPE_ANCHORS if self.source == "mediapipe" else PYFEAT_ANCHORS
            min_span = MIN_SPAN[self.source]
        n, e = table.get(key, (0.0, 1.0))
        return float(n), float(e), min_span

    # -- core (vectorised) -------------------------------------------------
    def _from_inputs(self, x: np.ndarray, poses: np.ndarray | None) -> np.ndarray:
        """(N, 20) raw AU inputs (NaN = missing) and (N, 3) yaw/pitch/roll -> (N, 35)."""
        x = np.asarray(x, dtype=np.float64)
        ok = np.isfinite(x) & self._used
        u = np.where(ok, np.clip(np.where(ok, x, 0.0) * self._scale + self._offset, *U_RANGE), 0.0)
        out = np.zeros((x.shape[0], len(FACET35_COLUMNS)), dtype=np.float64)
        out[:, _AU0 : _AU0 + len(FACET_AUS)] = self._au_neutral + u * (E_EXPRESSIVE - self._au_neutral)
        emo_u = u @ self._proto
        out[:, self._emo_idx] = self._emo_neutral + emo_u * (E_EXPRESSIVE - self._emo_neutral)
        strongest = np.clip(emo_u.max(axis=1), 0.0, 1.0)
        base = FACET_NEUTRAL["Baseline"]
        out[:, _EMO["Baseline"]] = base - strongest * (base - E_NOT_NEUTRAL)
        out[:, _FILL_IDX] = _FILL_VALUES
        if self.use_head_pose and poses is not None:
            p = np.nan_to_num(np.asarray(poses, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            out[:, _YAW], out[:, _PITCH], out[:, _ROLL] = p[:, 0], p[:, 1], p[:, 2]
        return out.astype(np.float32)

    def _row(self, aus: Mapping[str, Any]) -> list[float]:
        if not isinstance(aus, Mapping):
            raise FacetInputError(f"facet adapter: expected a dict of AU name -> value, got {type(aus).__name__}")
        row = []
        for key, alt in zip(self._keys, self._alt_keys):
            v = aus.get(key)
            if v is None and alt is not None:
                v = aus.get(alt)
            try:
                row.append(float(v) if v is not None else math.nan)
            except (TypeError, ValueError):
                row.append(math.nan)
        return row

    @staticmethod
    def _pose(head_pose: Sequence[float] | None) -> list[float]:
        if head_pose is None:
            return [0.0, 0.0, 0.0]
        p = list(head_pose)
        if len(p) != 3:
            raise FacetInputError(f"facet adapter: head_pose must be (yaw, pitch, roll), got {len(p)} values")
        return [float(v) for v in p]

    # -- public ------------------------------------------------------------
    def adapt(self, aus: Mapping[str, Any], head_pose: Sequence[float] | None = None) -> np.ndarray:
        """(35,) float32 Facet-35 vector from ``{AU name: value}`` and optional (yaw, pitch, roll).

        Unknown names are ignored; a missing or NaN AU counts as neutral.
        """
        return self._from_inputs(np.array([self._row(aus)]), np.array([self._pose(head_pose)]))[0]

    def adapt_batch(
        self, aus_rows: Sequence[Mapping[str, Any]], head_poses: Sequence[Sequence[float] | None] | None = None
    ) -> np.ndarray:
        """(N, 35) float32 for N AU dicts (and optionally N head poses)."""
        rows = list(aus_rows)
        if head_poses is not None and len(head_poses) != len(rows):
            raise FacetInputError(f"facet adapter: {len(rows)} AU rows but {len(head_poses)} head poses")
        x = np.array([self._row(r) for r in rows]).reshape(len(rows), len(FACET_AUS))
        poses = np.array([self._pose(p) for p in (head_poses or [None] * len(rows))]).reshape(len(rows), 3)
        return self._from_inputs(x, poses)

    def adapt_face(self, result: Any) -> np.ndarray:
        """(35,) from a :class:`feature_adapters.face.FaceResult`; no face gives :meth:`neutral`."""
        if not getattr(result, "face_found", False):
            return self.neutral()
        return self.adapt(result.aus, result.head_pose)

    def neutral(self) -> np.ndarray:
        """The (35,) vector of a face at its neutral level (also used for missing AUs)."""
        return self.adapt({})

    def scale_offset(self) -> dict[str, tuple[float, float]]:
        """Per FACET AU column the affine map ``evidence = a * x + b`` (before clipping).

        Columns held constant have ``a = 0``.
        """
        out = {}
        for a, col in zip(FACET_AUS, AU_COLUMNS):
            c = self.calibrations[a]
            k = (E_EXPRESSIVE - c.facet_neutral) if c.used else 0.0
            out[col] = (k * c.scale, c.facet_neutral + k * c.offset)
        return out


def openface_columns() -> tuple[str, ...]:
    """The 35 OpenFace AU column names of the RAVDESS clip file, in order."""
    return OPENFACE_COLUMNS


_OPENFACE_ADAPTERS: dict[bool, FacetAdapter] = {}


def _openface_adapter(common_only: bool) -> FacetAdapter:
    if common_only not in _OPENFACE_ADAPTERS:
        _OPENFACE_ADAPTERS[common_only] = FacetAdapter("openface", common_only=common_only)
    return _OPENFACE_ADAPTERS[common_only]


def adapt_openface_rows(rows: np.ndarray, *, common_only: bool = True) -> np.ndarray:
    """(N, 35) OpenFace AU rows (:func:`openface_columns` order) -> (N, 35) Facet-35."""
    arr = np.asarray(rows, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(OPENFACE_COLUMNS):
        raise FacetInputError(
            f"openface rows: expected shape (N, {len(OPENFACE_COLUMNS)}) in openface_columns() order, got {arr.shape}"
        )
    adapter = _openface_adapter(common_only)
    x = np.full((arr.shape[0], len(FACET_AUS)), np.nan)
    for j, key in enumerate(adapter._keys):
        if key in OPENFACE_COLUMNS:
            x[:, j] = arr[:, OPENFACE_COLUMNS.index(key)]
    return adapter._from_inputs(x, None)


def adapt_openface_row(row35: np.ndarray, *, common_only: bool = True) -> np.ndarray:
    """(35,) OpenFace AU row (:func:`openface_columns` order) -> (35,) Facet-35."""
    arr = np.asarray(row35, dtype=np.float64)
    if arr.shape != (len(OPENFACE_COLUMNS),):
        raise FacetInputError(
            f"openface row: expected shape ({len(OPENFACE_COLUMNS)},) in openface_columns() order, got {arr.shape}"
        )
    return adapt_openface_rows(arr[None], common_only=common_only)[0]


FACET35 = FeatureSpace(
    name="facet-35",
    dim=35,
    columns=FACET35_COLUMNS,
    filled=_filled_description(MEASURED_AUS["mediapipe"] & frozenset(COMMON_AUS), False, "mediapipe"),
    description=(
        "CMU-MOSEI FACET 4.2 layout (CMU_MOSEI_VisualFacet42): 10 emotion evidences, 20 AU evidences, "
        "Has_Glasses, Is_Male, Pitch/Yaw/Roll. Live values: per-source calibrated AU activations mapped onto "
        "FACET log10-odds evidence (neutral face = FACET neutral level, posed expression = +2); emotions "
        "derived from EMFACS AU prototypes; AU43 from blink (AU45). See feature_adapters/facet.py."
    ),
)
