"""COVAREP-74 adapter: live acoustic frames -> CMU-MOSEI's 74-column COVAREP layout.

Column order (high confidence). It is the ``names`` cell and the
``features=[F0 VUV NAQ QOQ H1H2 PSP MDQ PS Rd Rd_conf creak_pp MCEP_int HMPDM HMPDD]``
concatenation of COVAREP's ``feature_extraction/COVAREP_feature_extraction.m``
(github covarep/covarep, the version with creak and HMPD, ``MCEP_ord=24``,
``pdm_order=24``, ``pdd_order=12``: 11 + 25 + 25 + 13 = 74 columns, 10 ms
sampling), and the CMU Multimodal SDK maintainer lists the same 74 names for
the ``CMU_MOSEI_COVAREP`` computational sequence (A2Zadeh/CMU-MultimodalSDK
issue #208; also issue #333). NaNs are set to 0 there, as here.

What each column holds here (the model normalises each column with training-set
mean/std, so consistent scaling matters more than equality with COVAREP):

* ``F0``: YIN F0 in Hz in voiced frames, 0 in unvoiced frames (``unvoiced_f0="zero"``,
  the default). COVAREP's script itself keeps the SRH tracker's estimate in
  unvoiced frames; ``unvoiced_f0="keep"`` does the same with YIN's.
* ``VUV``: 0/1 voicing (periodicity and energy, see :mod:`feature_adapters.acoustic`).
* ``peakSlope``: the same quantity as COVAREP's (slope per octave of log10
  octave-band peak amplitudes, 125 Hz ... 8 kHz), with band amplitudes taken
  from an STFT instead of wavelet maxima: a sound analogue, not a fill.
* ``MCEP_0..24``: mel-cepstrum in ``hspec2fwcep``'s convention (natural-log
  amplitude on a mel-warped axis, c0 = mean, c_k = 2/N sum ... cos), scale 1,
  computed from mel-band mean power rather than COVAREP's true envelope of the
  harmonic spectrum.
* ``H1H2``: a proxy (listed in ``filled``): H1-H2 of the speech spectrum in dB,
  not of the inverse-filtered glottal flow; 0 when unvoiced.
* Glottal-source and phase-distortion columns (``NAQ QOQ PSP MDQ Rd Rd_conf
  creak HMPDM_* HMPDD_*``) have no cheap live analogue: constant 0 (listed in
  ``filled``), which is also what COVAREP writes where its analysis fails.
"""

from __future__ import annotations

import numpy as np

from feature_adapters.acoustic import AcousticFrames
from feature_adapters.spaces import FeatureSpace

from .errors import LivemerError

_GLOTTAL = ("F0", "VUV", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "peakSlope", "Rd", "Rd_conf", "creak")
COVAREP_COLUMNS: tuple[str, ...] = (
    _GLOTTAL
    + tuple(f"MCEP_{i}" for i in range(25))
    + tuple(f"HMPDM_{i}" for i in range(25))
    + tuple(f"HMPDD_{i}" for i in range(13))
)

#: COVAREP column -> native acoustic feature it is copied from (after the F0 rule).
COLUMN_SOURCES: dict[str, str] = {
    "F0": "f0",
    "VUV": "vuv",
    "H1H2": "h1h2",
    "peakSlope": "peak_slope",
    **{f"MCEP_{i}": f"mcep_{i}" for i in range(25)},
}

_ZERO_NO_GLOTTAL = "constant 0 (no glottal inverse filtering / GCI analysis live)"
_FILLED: dict[str, str] = {
    "NAQ": _ZERO_NO_GLOTTAL,
    "QOQ": _ZERO_NO_GLOTTAL,
    "H1H2": "proxy: H1-H2 (dB) of the speech spectrum, not formant-corrected; 0 when unvoiced",
    "PSP": _ZERO_NO_GLOTTAL,
    "MDQ": "constant 0 (no wavelet maxima-dispersion analysis live)",
    "Rd": "constant 0 (no LF-model Rd fitting live)",
    "Rd_conf": "constant 0 (no LF-model Rd fitting live)",
    "creak": "constant 0 (no creaky-voice detector live)",
    **{f"HMPDM_{i}": "constant 0 (no harmonic-model phase distortion live)" for i in range(25)},
    **{f"HMPDD_{i}": "constant 0 (no harmonic-model phase distortion live)" for i in range(13)},
}

COVAREP74 = FeatureSpace(
    name="covarep-74",
    dim=74,
    columns=COVAREP_COLUMNS,
    filled=_FILLED,
    description=(
        "CMU-MOSEI COVAREP layout (COVAREP_feature_extraction.m order), 100 frames/s, built live with "
        "librosa: F0 (YIN, Hz, 0 when unvoiced), VUV, peakSlope (STFT octave bands), MCEP_0-24 "
        "(mel-cepstrum, natural-log amplitude, hspec2fwcep scaling); H1H2 is a speech-spectrum proxy; "
        "glottal and HMPD columns are constant 0"
    ),
)


#: The COVAREP columns whose within-step dynamics :data:`COVAREP74_DYNAMICS` adds: pitch and the low mel-cepstrum
#: (energy and spectral envelope). Chosen on development speakers and leave-one-corpus-out among the training
#: speakers (benchmarks/recipe_probes.py acoustic --acoustic-space): all 28 live columns (+ H1H2, peakSlope,
#: MCEP_13-24) gained as much on dev speakers but lost 12 points on the one corpus recorded off the air (URDU).
DYNAMICS_SOURCES: tuple[str, ...] = ("F0",) + tuple(f"MCEP_{i}" for i in range(13))

#: COVAREP-74 step means followed, for each of :data:`DYNAMICS_SOURCES`, by the standard deviation and then the
#: mean absolute frame-to-frame change of the step's observed (voiced) frames: a named step space (102 columns)
#: that keeps COVAREP-74 as its first 74, built from the same frames by :func:`feature_adapters.align`.
COVAREP74_DYNAMICS = FeatureSpace(
    name=f"covarep-74+dynamics-{2 * len(DYNAMICS_SOURCES)}",
    dim=COVAREP74.dim + 2 * len(DYNAMICS_SOURCES),
    columns=COVAREP_COLUMNS
    + tuple(f"{c}_std" for c in DYNAMICS_SOURCES)
    + tuple(f"{c}_absdelta" for c in DYNAMICS_SOURCES),
    filled=_FILLED,
    description=(
        "COVAREP-74 step means (as covarep-74) + per step, for F0 and MCEP_0-12: the standard deviation and the "
        "mean |frame-to-frame change| of the voiced 10 ms frames in the step"
    ),
)

ACOUSTIC_SPACES: dict[str, FeatureSpace] = {s.name: s for s in (COVAREP74, COVAREP74_DYNAMICS)}


def acoustic_space(name: str) -> FeatureSpace:
    """The acoustic step space called ``name`` (:data:`ACOUSTIC_SPACES`); one-line error for another name."""
    try:
        return ACOUSTIC_SPACES[name]
    except KeyError:
        raise CovarepAdapterError(f"unknown acoustic space '{name}' (known: {', '.join(ACOUSTIC_SPACES)})") from None


def step_dynamics(space: FeatureSpace | str) -> tuple[int, ...]:
    """Frame columns (COVAREP-74 indices) whose within-step dynamics the step space adds; () for covarep-74
    and any space this module does not define (the SDK's: plain step means)."""
    name = space if isinstance(space, str) else space.name
    if name != COVAREP74_DYNAMICS.name:
        return ()
    return tuple(COVAREP_COLUMNS.index(c) for c in DYNAMICS_SOURCES)


class CovarepAdapterError(LivemerError, ValueError):
    """Frames that cannot be mapped to COVAREP-74 (missing native features); one-line message."""


class CovarepAdapter:
    """Maps :class:`~feature_adapters.acoustic.AcousticFrames` into COVAREP-74 columns.

    ``unvoiced_f0``: ``"zero"`` (default) writes F0 = 0 in unvoiced frames;
    ``"keep"`` keeps the tracker's estimate there, as COVAREP's script does.
    """

    space = COVAREP74

    def __init__(self, unvoiced_f0: str = "zero") -> None:
        if unvoiced_f0 not in ("zero", "keep"):
            raise ValueError(f"unvoiced_f0 must be 'zero' or 'keep', got {unvoiced_f0!r}")
        self.unvoiced_f0 = unvoiced_f0
        self._targets = np.array([COVAREP_COLUMNS.index(c) for c in COLUMN_SOURCES], dtype=np.int64)

    def adapt(self, frames: AcousticFrames) -> np.ndarray:
        """(n, 74) float32 in COVAREP column order; NaN/inf become 0."""
        names = tuple(frames.names)
        missing = [s for s in COLUMN_SOURCES.values() if s not in names]
        if missing:
            raise CovarepAdapterError(
                f"acoustic frames lack feature(s) {', '.join(missing[:5])} needed for covarep-74 "
                f"(expected the native features of feature_adapters.acoustic)"
            )
        feats = np.asarray(frames.features, dtype=np.float32)
        n = feats.shape[0]
        out = np.zeros((n, COVAREP74.dim), np.float32)
        if n == 0:
            return out
        src = np.array([names.index(s) for s in COLUMN_SOURCES.values()], dtype=np.int64)
        out[:, self._targets] = feats[:, src]
        voiced = feats[:, names.index("vuv")] > 0.5
        out[:, 1] = voiced.astype(np.float32)
        if self.unvoiced_f0 == "zero":
            out[~voiced, 0] = 0.0
        out[~voiced, COVAREP_COLUMNS.index("H1H2")] = 0.0
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)

    __call__ = adapt
